"""Bulk Data export (Flat FHIR v2): kick-off, status, NDJSON files, cancel.

The kick-off writes the job row and hands the job to the workers (an
``export`` task, tracker.tasks); a worker runs :func:`run_export`, which streams
rows from a server-side cursor, so memory does not grow with the export, and
writes its progress to the row. The status poll, the files and cancel read the
row, so any app instance answers them. Leases, restarts after a killed worker
and the upkeep of old files are tracker.services.exports. Files live under
EXPORT_DIR/<job id>/, which every instance and worker must see (shared storage
when they run on several hosts), and are deleted when they expire.
"""

from __future__ import annotations

import json
import logging
import time
import uuid
from collections.abc import Iterator

import orjson
from flask import Flask, Response, current_app, request, send_file
from flask_login import current_user
from sqlalchemy import select

from tracker import tasks
from tracker.auth import audit, smart
from tracker.extensions import db
from tracker.fhir import mapping, search
from tracker.fhir.http import FhirError, fhir_response
from tracker.fhir.routes import bp, canonical_base, fhir_base
from tracker.fhir.views import HEAD_VIEW_ROWS, patient_view, response_view
from tracker.models import ExportJob, Patient
from tracker.models import Response as ResponseRow
from tracker.models.types import utcnow
from tracker.services import exports
from tracker.urls import public_base

log = logging.getLogger("tracker.export")

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
    exports.remove_expired()
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
    job_id, now = str(uuid.uuid4()), utcnow()
    job = ExportJob(
        id=job_id,
        request_url=public_base() + request.full_path.rstrip("?"),
        types=types,
        since=since,
        # Replaced by the run's start when a worker claims it (hapi-fhir#6841: not its end).
        transaction_time=now,
        lease_until=now + exports.lease(),  # the queue's time to start it (then re-enqueued)
        progress=exports.WAITING,
        **_owner_filter(),
    )
    db.session.add(job)
    db.session.commit()
    try:
        tasks.enqueue_export(current_app._get_current_object(), job_id)  # type: ignore[attr-defined]
    except Exception as error:  # noqa: BLE001 - the row is kept; the tick enqueues it again
        log.warning("export %s not enqueued (%s): the tick retries", job_id, type(error).__name__)
    location = f"{fhir_base()}/$export-status/{job_id}"
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
    job.state, job.lease_until = "cancelled", None  # a worker running it stops at its next beat
    job.finished_at = job.finished_at or utcnow()
    db.session.commit()
    exports.delete_files(job_id)
    return fhir_response(
        mapping.operation_outcome([("information", "informational", "Export cancelled.")]), 202
    )


@bp.get("/$export-file/<job_id>/<name>")
def export_file(job_id: str, name: str) -> Response:
    """An NDJSON file, only for the client (or admin) that started the export."""
    job = _owned_job(job_id)
    if job.state != "completed" or name not in {item["file"] for item in job.output}:
        raise FhirError(404, "No such file.")
    path = exports.job_dir(job.id) / name
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
# The run (on a worker)
# --------------------------------------------------------------------------


@bp.record_once
def _register_runner(state) -> None:  # type: ignore[no-untyped-def]
    """The worker's ``export`` task finds this run here (tracker.tasks does not import the
    FHIR layer)."""
    state.app.extensions["tracker.run_export"] = run_export


def _resources(kind: str, claim: exports.Claim) -> Iterator[dict]:
    """Stream one type's resources from a server-side cursor, BATCH rows at a time."""
    if kind == "Patient":
        query = select(Patient).where(Patient.updated_at <= claim.transaction_time)
        if claim.since is not None:
            query = query.where(Patient.updated_at > claim.since)
        rows = db.session.scalars(query.order_by(Patient.id).execution_options(yield_per=BATCH))
        for patient in rows:
            yield mapping.patient_resource(patient_view(patient))
        return
    query = HEAD_VIEW_ROWS.where(ResponseRow.updated_at <= claim.transaction_time)
    if claim.since is not None:
        query = query.where(ResponseRow.updated_at > claim.since)
    # Core rows, not the ORM's: a million result rows skip the ORM's loading layer.
    rows = db.session.connection().execute(
        query.order_by(ResponseRow.id).execution_options(yield_per=BATCH)
    )
    base = canonical_base()
    if kind == "Observation":
        for row in rows:
            yield mapping.observation_resource(response_view(row), canonical_base=base)
    else:
        for row in rows:
            yield mapping.questionnaire_response_resource(response_view(row), base)


def _progress(done: list[dict], kind: str | None = None, written: int = 0) -> str:
    """What the status poll shows as X-Progress: counts per type, files done."""
    parts = [f"{item['type']} {item['count']} done" for item in done]
    if kind is not None:
        parts.append(f"{kind} {written}")
    return ", ".join(parts) or "started"


def run_export(app: Flask, job_id: str) -> str:
    """Claim the job if it is waiting and write one NDJSON file per type; returns what
    became of it (completed, failed, cancelled, taken over, handed back, or not waiting)."""
    with app.app_context():
        try:
            claim = exports.claim(job_id)
            if claim is None:
                return "not waiting"
            return _write(claim)
        finally:
            db.session.remove()


def _write(claim: exports.Claim) -> str:
    pause = current_app.config["TEST_ONLY_EXPORT_PAUSE_SECONDS"]
    heartbeat = exports.Heartbeat(claim)
    output: list[dict] = []
    files = {}
    try:
        exports.job_dir(claim.job_id).mkdir(parents=True, exist_ok=True)
        for kind in claim.types:
            temp, written = exports.temp_path(claim, kind), 0
            with temp.open("wb") as handle:
                for resource in _resources(kind, claim):
                    # orjson: compact UTF-8 JSON, a tenth of json.dumps's time per resource.
                    handle.write(orjson.dumps(resource))
                    handle.write(b"\n")
                    written += 1
                    if heartbeat.due():
                        heartbeat.renew(_progress(output, kind, written))
                    if pause:
                        time.sleep(pause)
            db.session.commit()  # end the read: the next type is a new snapshot
            if written:
                name = exports.file_name(kind)
                files[temp] = exports.job_dir(claim.job_id) / name
                output.append({"type": kind, "file": name, "count": written})
            else:
                # Nothing of this type (e.g. a _since after every change): no empty file,
                # and the manifest's output stays [] (Bulk Data: SHOULD).
                temp.unlink()
            heartbeat.renew(_progress(output))
        exports.finish(claim, output, files)
        return "completed"
    except exports.Lost:
        return exports.abandon(claim)
    except exports.Stopping:
        return exports.hand_back(claim)
    except Exception as error:  # the job records the failure; the client polls it
        exports.fail(claim, type(error).__name__)
        log.exception("export %s failed", claim.job_id)
        return "failed"
