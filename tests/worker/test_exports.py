"""Bulk Data exports on real worker processes, on both databases.

The in-process app is one web instance: it kicks off, polls and downloads; a
second app object on the same database is another instance answering the poll
from the job row. The export itself runs in ``flask --app wsgi tracker worker``
processes (tracker.services.exports: a lease with a heartbeat on the job row).
TEST_ONLY_EXPORT_PAUSE_SECONDS slows a run down so a worker can be killed in the
middle of it.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path
from urllib.parse import urlsplit

import pytest
from sqlalchemy import func, select

from tests.conftest import make_app
from tests.fhir.conftest import Fhir, make_ehr, token_for
from tests.worker.conftest import wait_until
from tracker import tasks
from tracker.extensions import db
from tracker.models import AuditEvent, ExportJob, Patient, Response
from tracker.models.response import ResponseStatus
from tracker.models.types import utcnow
from tracker.services import exports
from tracker.synth import generate

ASYNC = {"Prefer": "respond-async", "Accept": "application/fhir+json"}
END = datetime(2026, 6, 1, tzinfo=UTC)
SLOW = "0.004"  # seconds per exported resource: a run of ~1,000 resources takes seconds


def local(url: str) -> str:
    parts = urlsplit(url)
    return parts.path + (f"?{parts.query}" if parts.query else "")


@pytest.fixture
def exports_dir(app, tmp_path) -> Path:  # type: ignore[no-untyped-def]
    """The web instance enqueues on the real queue (no inline runs) and shares EXPORT_DIR
    with the workers; its queue connections are closed afterwards."""
    directory = tmp_path / "exports"
    app.config["TASKS_IMMEDIATE"] = False
    app.config["EXPORT_DIR"] = str(directory)
    yield directory
    tasks.close_producer(app)


@pytest.fixture
def fhir(app, rsa_key, ec_key) -> Fhir:  # type: ignore[no-untyped-def]
    return Fhir(app, token_for(app, make_ehr(app, rsa_key, ec_key)))


@pytest.fixture
def clinic(app, world) -> dict[str, int]:  # type: ignore[no-untyped-def]
    """A synthetic clinic (about a thousand resources); how many of each type it exports."""
    with app.app_context():
        generate(40, seed=13, end=END)
        patients = db.session.scalar(select(func.count()).select_from(Patient))
        heads = db.session.scalar(
            select(func.count())
            .select_from(Response)
            .where(Response.status != ResponseStatus.AMENDED)
        )
    return {"Patient": patients, "Observation": heads, "QuestionnaireResponse": heads}


def worker_env(directory: Path, **settings: str) -> dict[str, str]:
    return {"EXPORT_DIR": str(directory), "EXPORT_LEASE_SECONDS": "2", **settings}


def job_row(app, job_id: str) -> ExportJob:  # type: ignore[no-untyped-def]
    with app.app_context():
        job = db.session.get(ExportJob, job_id)
        db.session.expunge(job)
        return job


def kick_off(fhir: Fhir) -> tuple[str, str]:
    kick = fhir.get("/fhir/$export", **ASYNC)
    assert kick.status_code == 202, kick.json
    status_url = local(kick.headers["Content-Location"])
    return status_url, status_url.rsplit("/", 1)[1]


def poll(fhir: Fhir, status_url: str, timeout: float = 90) -> dict:
    def done():  # type: ignore[no-untyped-def]
        response = fhir.get(status_url)
        if response.status_code == 202:
            assert response.headers["Retry-After"] and response.headers["X-Progress"]
            return None
        assert response.status_code == 200, response.json
        return response.json

    return wait_until(done, timeout=timeout, step=0.2)


def assert_every_resource_once(fhir: Fhir, manifest: dict, expected: dict[str, int]) -> None:
    """Each type's file holds each resource of that type exactly once, and nothing else."""
    assert {item["type"]: item["count"] for item in manifest["output"]} == expected
    for item in manifest["output"]:
        response = fhir.get(local(item["url"]))
        assert response.status_code == 200
        lines = response.get_data(as_text=True).splitlines()
        ids = [json.loads(line)["id"] for line in lines]
        assert len(ids) == item["count"] == len(set(ids))
        assert all(json.loads(line)["resourceType"] == item["type"] for line in lines)


def files_on_disk(directory: Path, job_id: str) -> list[str]:
    return sorted(p.name for p in (directory / job_id).iterdir())


def test_a_worker_runs_the_export_and_any_instance_answers_the_poll(
    app, clinic, fhir, exports_dir, database_url, start_worker
):
    status_url, job_id = kick_off(fhir)
    # No worker yet: the job waits in the queue, and says so.
    waiting = fhir.get(status_url)
    assert waiting.status_code == 202
    assert waiting.headers["X-Progress"] == "waiting for a worker"
    worker = start_worker(database_url, "console", **worker_env(exports_dir))
    manifest = poll(fhir, status_url)
    assert_every_resource_once(fhir, manifest, clinic)
    assert files_on_disk(exports_dir, job_id) == [
        "Observation.ndjson",
        "Patient.ndjson",
        "QuestionnaireResponse.ndjson",
    ]
    # Another instance on the same database answers the same poll from the job row.
    other = make_app(database_url, EXPORT_DIR=str(exports_dir))
    again = Fhir(other, fhir.headers["Authorization"].removeprefix("Bearer "))
    assert again.get(status_url).json == manifest
    job = job_row(app, job_id)
    assert (job.state, job.attempts, job.lease_until) == ("completed", 1, None)
    assert manifest["transactionTime"] == job.transaction_time.isoformat()
    with app.app_context():
        [event] = db.session.scalars(select(AuditEvent).where(AuditEvent.action == "export"))
        assert event.detail == ",".join(f"{k}={v}" for k, v in clinic.items())
    assert f"export {job_id}: completed" in worker.log()
    assert worker.terminate() == 0


def test_a_killed_worker_s_export_is_finished_by_another(
    app, clinic, fhir, exports_dir, database_url, start_worker
):
    slow = worker_env(exports_dir, TEST_ONLY_EXPORT_PAUSE_SECONDS=SLOW)
    first = start_worker(database_url, "console", **slow)
    status_url, job_id = kick_off(fhir)

    def halfway() -> bool:  # the first run has written some resources, and is still going
        job = job_row(app, job_id)
        return job.state == "running" and any(c.isdigit() for c in job.progress or "")

    wait_until(halfway, timeout=60, step=0.1)
    progress = fhir.get(status_url)
    assert progress.status_code == 202 and "Patient" in progress.headers["X-Progress"]
    first.kill()  # SIGKILL: no clean-up, a half-written temporary file stays behind
    killed_at = utcnow()
    assert job_row(app, job_id).state == "running"
    assert any(p.name.endswith(".part") for p in (exports_dir / job_id).iterdir())
    assert fhir.get(status_url).status_code == 202  # never a half file, never a manifest

    second = start_worker(database_url, "console", **worker_env(exports_dir))
    manifest = poll(fhir, status_url)
    assert_every_resource_once(fhir, manifest, clinic)
    job = job_row(app, job_id)
    assert (job.state, job.attempts) == ("completed", 2)
    assert job.transaction_time > killed_at  # the second run's start: it queried after
    assert files_on_disk(exports_dir, job_id) == sorted(
        item["file"] for item in job.output
    )  # the killed run's temporary file is gone too
    assert f"export {job_id}: completed" in second.log()


def test_a_job_whose_lease_ran_out_is_picked_up_again(
    app, world, fhir, exports_dir, database_url, start_worker
):
    """Left by a dead worker (running, lease over) or lost by the queue (queued, lease over):
    the tick re-enqueues both. One interrupted MAX_ATTEMPTS times fails instead."""
    past = utcnow() - timedelta(minutes=5)
    with app.app_context():
        owner = world.admin_id
        for job_id, state, attempts in (
            ("00000000-0000-4000-8000-00000000000a", "running", 1),
            ("00000000-0000-4000-8000-00000000000b", "queued", 0),
            ("00000000-0000-4000-8000-00000000000c", "running", exports.MAX_ATTEMPTS),
        ):
            db.session.add(
                ExportJob(
                    id=job_id,
                    user_id=owner,
                    state=state,
                    attempts=attempts,
                    lease_until=past,
                    request_url="http://localhost/fhir/$export",
                    types=["Patient"],
                    transaction_time=past,
                )
            )
        db.session.commit()
    dead = exports_dir / "00000000-0000-4000-8000-00000000000a"
    dead.mkdir(parents=True)
    (dead / ".Patient.1.part").write_text('{"resourceType": "Pat')  # the dead run's half file
    start_worker(database_url, "console", **worker_env(exports_dir))

    def settled() -> bool:
        states = [job_row(app, f"00000000-0000-4000-8000-00000000000{c}").state for c in "abc"]
        return states == ["completed", "completed", "failed"]

    wait_until(settled, timeout=60)
    for suffix, attempts in (("a", 2), ("b", 1)):
        job = job_row(app, f"00000000-0000-4000-8000-00000000000{suffix}")
        assert job.attempts == attempts and job.output == [
            {"type": "Patient", "file": "Patient.ndjson", "count": 2}
        ]
        assert files_on_disk(exports_dir, job.id) == ["Patient.ndjson"]
    failed = job_row(app, "00000000-0000-4000-8000-00000000000c")
    assert failed.error == f"interrupted {exports.MAX_ATTEMPTS} times"


def test_expired_files_are_removed_by_the_worker(
    app, world, fhir, exports_dir, database_url, start_worker
):
    """No kick-off comes along to remove them lazily: the worker's tick does."""
    status_url, job_id = kick_off(fhir)
    worker = start_worker(database_url, "console", **worker_env(exports_dir))
    manifest = poll(fhir, status_url)
    file_url = local(manifest["output"][0]["url"])
    assert fhir.get(file_url).status_code == 200
    leftover = exports_dir / "00000000-0000-4000-8000-0000000000cc"
    with app.app_context():
        db.session.get(ExportJob, job_id).expires_at = utcnow() - timedelta(seconds=1)
        db.session.add(  # a cancelled job whose files were left behind
            ExportJob(
                id=leftover.name,
                user_id=world.admin_id,
                state="cancelled",
                request_url="x",
                types=["Patient"],
                transaction_time=utcnow(),
            )
        )
        db.session.commit()
    leftover.mkdir()
    (leftover / "Patient.ndjson").write_text("{}\n")
    wait_until(lambda: not (exports_dir / job_id).exists() and not leftover.exists(), timeout=30)
    assert job_row(app, job_id).state == "cancelled"
    assert fhir.get(status_url).status_code == 404
    assert fhir.get(file_url).status_code == 404
    assert worker.terminate() == 0


def test_cancel_while_a_worker_runs_the_export(
    app, clinic, fhir, exports_dir, database_url, start_worker
):
    worker = start_worker(
        database_url, "console", **worker_env(exports_dir, TEST_ONLY_EXPORT_PAUSE_SECONDS=SLOW)
    )
    status_url, job_id = kick_off(fhir)
    wait_until(lambda: job_row(app, job_id).state == "running", timeout=60, step=0.1)
    assert fhir.delete(status_url).status_code == 202
    assert fhir.get(status_url).status_code == 404
    # The worker notices at its next heartbeat, stops and leaves nothing behind.
    wait_until(lambda: f"export {job_id}: cancelled" in worker.log(), timeout=30)
    assert not (exports_dir / job_id).exists()
    job = job_row(app, job_id)
    assert job.state == "cancelled" and job.output == []
    with app.app_context():
        assert (
            db.session.scalars(select(AuditEvent).where(AuditEvent.action == "export")).all() == []
        )
    assert worker.terminate() == 0


def test_a_stopping_worker_hands_its_export_to_another(
    app, clinic, fhir, exports_dir, database_url, start_worker
):
    """SIGTERM (a rolling restart) does not wait for a long export: the job goes back to the
    queue at once, its run not counted, and the other worker exports everything."""
    slow = worker_env(exports_dir, TEST_ONLY_EXPORT_PAUSE_SECONDS=SLOW)
    first = start_worker(database_url, "console", **slow)
    status_url, job_id = kick_off(fhir)
    wait_until(lambda: job_row(app, job_id).state == "running", timeout=60, step=0.1)
    second = start_worker(database_url, "console", **worker_env(exports_dir))
    assert first.terminate(timeout=15) == 0  # the whole export would take far longer
    assert f"export {job_id}: handed back" in first.log()
    manifest = poll(fhir, status_url)
    assert_every_resource_once(fhir, manifest, clinic)
    job = job_row(app, job_id)
    assert (job.state, job.attempts) == ("completed", 1)
    assert f"export {job_id}: completed" in second.log()
    assert files_on_disk(exports_dir, job_id) == sorted(item["file"] for item in job.output)
