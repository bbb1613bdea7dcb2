"""Bulk Data export (Flat FHIR v2): kick-off, status, NDJSON files, cancel.

The export runs in a background thread of the process that accepted it and
streams rows from a server-side cursor, so memory does not grow with the
export. Files live under EXPORT_DIR/<job id>/ and are deleted when they
expire. To scale out, run the same `run_export(job_id)` from a queue worker
instead of a thread and put EXPORT_DIR on shared storage (README).
"""

from __future__ import annotations

import json
import shutil
import threading
import uuid
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

from flask import Flask, Response, current_app, request, send_file
from flask_login import current_user
from sqlalchemy import select

from tracker.auth import audit, smart
from tracker.database import sqlite_write_lock
from tracker.extensions import db
from tracker.fhir import mapping, search
from tracker.fhir.http import FhirError, fhir_response
from tracker.fhir.routes import HEADS, bp, canonical_base, fhir_base
from tracker.fhir.views import patient_view, response_view
from tracker.models import ApiClient, ExportJob, Patient
from tracker.models import Response as ResponseRow
from tracker.models.types import utcnow
from tracker.urls import public_base

EXPORT_TYPES = ("Patient", "Observation", "QuestionnaireResponse")
NDJSON_FORMATS = ("application/fhir+ndjson", "application/ndjson", "ndjson")
BATCH = 1000


def _owner_filter() -> dict:
    if getattr(current_user, "is_client", False):
        return {"client_id": current_user.client.id}
    return {"user_id": current_user.id}


def _may_export(types: list[str]) -> bool:
    if getattr(current_user, "is_client", False):
        return all(smart.permits(current_user.scopes, t, "r") for t in types)
    return current_user.role == "admin"


def _kick_off() -> Response:
    if not current_user.is_authenticated:
        raise FhirError(401, "A bearer token (or an admin session) is required.")
    if "respond-async" not in request.headers.get("Prefer", ""):
        raise FhirError(400, "Bulk export needs the header Prefer: respond-async.")
    output_format = request.args.get("_outputFormat", "application/fhir+ndjson")
    if output_format not in NDJSON_FORMATS:
        raise FhirError(
            400,
            f"_outputFormat {output_format!r} is not supported (ndjson only).",
            code="not-supported",
        )
    # Bulk Data: an unsupported _type is an error unless the client asked for leniency.
    lenient = "handling=lenient" in request.headers.get("Prefer", "").replace(" ", "")
    types = list(EXPORT_TYPES)
    if request.args.get("_type"):
        asked = [t.strip() for t in request.args["_type"].split(",") if t.strip()]
        unknown = [t for t in asked if t not in EXPORT_TYPES]
        types = [t for t in EXPORT_TYPES if t in asked]
        if (unknown and not lenient) or not types:
            raise FhirError(
                400,
                f"_type {', '.join(unknown)} is not exported by this server.",
                code="not-supported",
            )
    since = None
    if request.args.get("_since"):
        try:
            window = search.parse_date("ge" + request.args["_since"], "_since")
        except search.SearchError as error:
            raise FhirError(400, str(error), code=error.code) from None
        since = window.lower
    for unsupported in ("_elements", "_typeFilter", "includeAssociatedData", "patient"):
        if unsupported in request.args:
            raise FhirError(400, f"{unsupported} is not supported.", code="not-supported")
    if not _may_export(types):
        audit.record_now("access_denied", resource_type="export", outcome="forbidden")
        raise FhirError(403, "The token's scopes do not allow reading every exported type.")
    _remove_expired()
    busy = db.session.scalar(
        select(ExportJob.id).where(
            ExportJob.state.in_(("queued", "running")),
            *[getattr(ExportJob, k) == v for k, v in _owner_filter().items()],
        )
    )
    if busy:
        raise FhirError(
            429,
            "An export of yours is still running; poll it or cancel it.",
            headers={"Retry-After": "10"},
        )
    job = ExportJob(
        id=str(uuid.uuid4()),
        request_url=public_base() + request.full_path.rstrip("?"),
        types=types,
        since=since,
        transaction_time=utcnow(),  # the job's start (hapi-fhir#6841: not its end)
        **_owner_filter(),
    )
    db.session.add(job)
    db.session.commit()
    start_worker(current_app._get_current_object(), job.id)  # type: ignore[attr-defined]
    location = f"{fhir_base()}/$export-status/{job.id}"
    return fhir_response(
        mapping.operation_outcome([("information", "informational", "Export started.")]),
        202,
        {"Content-Location": location},
    )


@bp.get("/$export")
def export_system() -> Response:
    """System-level export: every Patient, Observation and QuestionnaireResponse."""
    return _kick_off()


@bp.get("/Patient/$export")
def export_patients() -> Response:
    """Patient-level export: here the same as the system export (all patients)."""
    return _kick_off()


def _owned_job(job_id: str) -> ExportJob:
    if not current_user.is_authenticated:
        raise FhirError(401, "A bearer token (or an admin session) is required.")
    job = db.session.get(ExportJob, job_id) if len(job_id) == 36 else None
    owner = _owner_filter()
    if job is None or any(getattr(job, k) != v for k, v in owner.items()):
        raise FhirError(404, "No such export.")
    if job.state == "cancelled":
        raise FhirError(404, "This export was cancelled.")
    return job


@bp.get("/$export-status/<job_id>")
def export_status(job_id: str) -> Response:
    """202 with X-Progress while running; 200 with the manifest when done."""
    job = _owned_job(job_id)
    if job.state in ("queued", "running"):
        response = Response(status=202)
        response.headers["X-Progress"] = (job.progress or job.state)[:99]
        response.headers["Retry-After"] = "2"
        return response
    if job.state == "failed":
        raise FhirError(500, f"The export failed: {job.error or 'unknown error'}", code="exception")
    base = f"{fhir_base()}/$export-file/{job.id}"
    manifest = {
        "transactionTime": job.transaction_time.isoformat(),
        "request": job.request_url,
        "requiresAccessToken": True,
        "output": [
            {"type": item["type"], "url": f"{base}/{item['file']}", "count": item["count"]}
            for item in job.output
        ],
        "error": [],
    }
    response = current_app.response_class(json.dumps(manifest), mimetype="application/json")
    if job.expires_at is not None:
        from werkzeug.http import http_date

        response.headers["Expires"] = http_date(job.expires_at)
    return response


@bp.delete("/$export-status/<job_id>")
def cancel_export(job_id: str) -> Response:
    """Cancel a running export or delete a finished one's files; later polls get 404."""
    job = _owned_job(job_id)
    job.state = "cancelled"
    job.finished_at = job.finished_at or utcnow()
    db.session.commit()
    _delete_files(job.id)
    return fhir_response(
        mapping.operation_outcome([("information", "informational", "Export cancelled.")]), 202
    )


@bp.get("/$export-file/<job_id>/<name>")
def export_file(job_id: str, name: str) -> Response:
    """An NDJSON file, only for the client (or admin) that started the export."""
    job = _owned_job(job_id)
    if job.state != "completed" or name not in {item["file"] for item in job.output}:
        raise FhirError(404, "No such file.")
    path = _job_dir(job.id) / name
    if not path.is_file():
        raise FhirError(404, "The file has expired.")
    return send_file(
        path,
        mimetype="application/fhir+ndjson",
        as_attachment=False,
        max_age=0,
        conditional=False,
        etag=False,
    )


# --------------------------------------------------------------------------
# The worker
# --------------------------------------------------------------------------


def _job_dir(job_id: str) -> Path:
    return Path(current_app.config["EXPORT_DIR"]) / job_id


def _delete_files(job_id: str) -> None:
    shutil.rmtree(_job_dir(job_id), ignore_errors=True)


def _remove_expired() -> None:
    """Files are kept for EXPORT_RETENTION_SECONDS after the export finished."""
    expired = db.session.scalars(
        select(ExportJob).where(ExportJob.expires_at < utcnow(), ExportJob.state == "completed")
    ).all()
    for job in expired:
        _delete_files(job.id)
        job.state = "cancelled"
    db.session.commit()


def start_worker(app: Flask, job_id: str) -> threading.Thread:
    thread = threading.Thread(
        target=run_export, args=(app, job_id), daemon=True, name=f"export-{job_id[:8]}"
    )
    thread.start()
    return thread


def _resources(kind: str, job: ExportJob) -> Iterator[dict]:
    """Stream one type's resources from a server-side cursor, BATCH rows at a time."""
    if kind == "Patient":
        query = select(Patient).where(Patient.updated_at <= job.transaction_time)
        if job.since is not None:
            query = query.where(Patient.updated_at > job.since)
        rows = db.session.scalars(query.order_by(Patient.id).execution_options(yield_per=BATCH))
        for patient in rows:
            yield mapping.patient_resource(patient_view(patient))
        return
    query = HEADS.where(ResponseRow.updated_at <= job.transaction_time)
    if job.since is not None:
        query = query.where(ResponseRow.updated_at > job.since)
    rows = db.session.scalars(query.order_by(ResponseRow.id).execution_options(yield_per=BATCH))
    for row in rows:
        view = response_view(row)
        if kind == "Observation":
            yield mapping.observation_resource(view, canonical_base=canonical_base())
        else:
            yield mapping.questionnaire_response_resource(view, canonical_base())


def _update_job(job_id: str, **changes: object) -> ExportJob | None:
    """Change the job row unless it was cancelled meanwhile; None when cancelled."""
    db.session.commit()  # end any read snapshot before taking the write lock
    with sqlite_write_lock():
        job = db.session.get(ExportJob, job_id)
        if job is None or job.state == "cancelled":
            db.session.commit()
            return None
        for name, value in changes.items():
            setattr(job, name, value)
        db.session.commit()
        return job


def run_export(app: Flask, job_id: str) -> None:
    """Write one NDJSON file per type; mark the job completed, failed or leave it cancelled."""
    with app.app_context():
        try:
            job = _update_job(job_id, state="running")
            if job is None:
                return
            directory = _job_dir(job_id)
            directory.mkdir(parents=True, exist_ok=True)
            output = []
            for kind in job.types:
                name = f"{kind}.ndjson"
                written = 0
                with (directory / name).open("w", encoding="utf-8") as handle:
                    for resource in _resources(kind, job):
                        handle.write(json.dumps(resource, separators=(",", ":")))
                        handle.write("\n")
                        written += 1
                if written:
                    output.append({"type": kind, "file": name, "count": written})
                else:
                    # Nothing of this type (e.g. a _since after every change): no empty file,
                    # and the manifest's output stays [] (Bulk Data: SHOULD).
                    (directory / name).unlink()
                job = _update_job(job_id, progress=f"{kind} done ({written})")
                if job is None:
                    _delete_files(job_id)
                    return
            finished = utcnow()
            retention = timedelta(seconds=current_app.config["EXPORT_RETENTION_SECONDS"])
            db.session.commit()
            with sqlite_write_lock():
                job = db.session.get(ExportJob, job_id)
                if job.state == "cancelled":
                    db.session.commit()
                    _delete_files(job_id)
                    return
                job.output, job.state = output, "completed"
                job.finished_at, job.expires_at = finished, finished + retention
                counts = ",".join(f"{o['type']}={o['count']}" for o in output)
                if job.client_id:
                    actor = ("client", db.session.get(ApiClient, job.client_id).client_id)
                else:
                    actor = ("user", str(job.user_id))
                audit.record("export", "export", job.id, actor=actor, detail=counts)
                db.session.commit()
        except Exception as error:  # the job records the failure; the client polls it
            db.session.rollback()
            _update_job(job_id, state="failed", error=type(error).__name__, finished_at=utcnow())
            _delete_files(job_id)
            app.logger.exception("export %s failed", job_id)
        finally:
            db.session.remove()
