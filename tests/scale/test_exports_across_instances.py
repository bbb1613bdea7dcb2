"""Bulk Data exports across two instances and two workers on Redis: kicked off on A, polled on
B, downloaded from A; the worker running it is killed (SIGKILL) and the other one finishes it,
every resource exactly once. An export asked for while Redis is down waits and then runs."""

from __future__ import annotations

import base64
import json
import os
from pathlib import Path
from urllib.parse import urlsplit

import pytest
import requests

from tests.fhir.conftest import make_ehr
from tests.scale.conftest import PUBLIC_BASE_URL, Instance, redis_url
from tests.worker.conftest import WorkerProcess, wait_until
from tracker.extensions import db
from tracker.models import ExportJob

ASYNC = {"Prefer": "respond-async", "Accept": "application/fhir+json"}
SLOW = "0.004"  # seconds per exported resource: a run of ~1,000 resources takes seconds


@pytest.fixture
def bearer(app, rsa_key, ec_key):  # type: ignore[no-untyped-def]
    """``bearer(instance)``: headers with a token that instance issued (any instance takes it)."""
    ehr = make_ehr(app, rsa_key, ec_key)

    def issue(instance: Instance) -> dict[str, str]:
        basic = base64.b64encode(f"{ehr.client_id}:{ehr.secret}".encode()).decode()
        answer = requests.post(
            instance.url("/api/v1/oauth/token"),
            data={"grant_type": "client_credentials", "scope": "system/*.rs"},
            headers={"Authorization": f"Basic {basic}"},
        )
        assert answer.status_code == 200, answer.text
        return {"Authorization": f"Bearer {answer.json()['access_token']}"}

    return issue


def on(instance: Instance, public_url: str) -> str:
    """The same path on one instance: links carry the load balancer's address."""
    assert public_url.startswith(PUBLIC_BASE_URL)
    parts = urlsplit(public_url)
    return instance.url(parts.path + (f"?{parts.query}" if parts.query else ""))


def kick_off(instance: Instance, headers: dict[str, str]) -> str:
    kick = requests.get(instance.url("/fhir/$export"), headers={**ASYNC, **headers})
    assert kick.status_code == 202, kick.text
    return kick.headers["Content-Location"]


def poll(instance: Instance, status_url: str, headers: dict[str, str], timeout: float = 90):  # type: ignore[no-untyped-def]
    def done():  # type: ignore[no-untyped-def]
        answer = requests.get(on(instance, status_url), headers=headers)
        if answer.status_code == 202:
            assert answer.headers["Retry-After"] and answer.headers["X-Progress"]
            return None
        assert answer.status_code == 200, answer.text
        return answer.json()

    return wait_until(done, timeout=timeout, step=0.2)


def assert_every_resource_once(
    instance: Instance, manifest: dict, headers: dict[str, str], expected: dict[str, int]
) -> None:
    assert {item["type"]: item["count"] for item in manifest["output"]} == expected
    for item in manifest["output"]:
        answer = requests.get(on(instance, item["url"]), headers=headers)
        assert answer.status_code == 200
        lines = answer.text.splitlines()
        ids = [json.loads(line)["id"] for line in lines]
        assert len(ids) == item["count"] == len(set(ids))
        assert {json.loads(line)["resourceType"] for line in lines} == {item["type"]}


def job_row(app, job_id: str) -> ExportJob:  # type: ignore[no-untyped-def]
    with app.app_context():
        job = db.session.get(ExportJob, job_id)
        db.session.expunge(job)
        return job


def writing(worker: WorkerProcess, job_dir: Path) -> bool:
    """Whether this worker process has one of the job's files open: it runs the export."""
    fds = Path(f"/proc/{worker.process.pid}/fd")
    for fd in fds.iterdir():
        try:
            if Path(os.readlink(fd)).parent == job_dir:
                return True
        except OSError:  # closed meanwhile
            continue
    return False


def test_an_export_moves_between_instances_and_survives_its_worker(
    app, clinic, bearer, database_url, redis_server, start_instances, start_worker, tmp_path
):
    exports = tmp_path / "exports"  # start_instances' EXPORT_DIR: shared by all of them
    settings = {"REDIS_URL": redis_url(redis_server), "EXPORT_LEASE_SECONDS": "2"}
    a, b = start_instances(**settings)
    slow = {**settings, "EXPORT_DIR": str(exports), "TEST_ONLY_EXPORT_PAUSE_SECONDS": SLOW}
    workers = [start_worker(database_url, "console", **slow) for _ in range(2)]
    token = bearer(a)

    status_url = kick_off(a, token)
    job_id = status_url.rsplit("/", 1)[1]

    def running_on():  # type: ignore[no-untyped-def]
        answer = requests.get(on(b, status_url), headers=token)
        assert answer.status_code == 202
        if not any(c.isdigit() for c in answer.headers["X-Progress"]):
            return None
        return next((w for w in workers if writing(w, exports / job_id)), None)

    first = wait_until(running_on, timeout=60, step=0.1)
    first.kill()  # SIGKILL, in the middle of writing
    (second,) = [w for w in workers if w is not first]

    manifest = poll(b, status_url, token)
    assert_every_resource_once(a, manifest, token, clinic)
    assert job_row(app, job_id).attempts == 2  # the killed run, then the other worker's
    assert f"export {job_id}: completed" in second.log()
    assert sorted(p.name for p in (exports / job_id).iterdir()) == sorted(
        f"{kind}.ndjson" for kind in clinic
    )  # no temporary file of the killed run is left


def test_an_export_asked_for_while_redis_is_down_runs_when_it_is_back(
    app, clinic, bearer, database_url, redis_server, start_instances, start_worker, tmp_path
):
    settings = {"REDIS_URL": redis_url(redis_server), "EXPORT_LEASE_SECONDS": "2"}
    a, b = start_instances(**settings)
    start_worker(database_url, "console", EXPORT_DIR=str(tmp_path / "exports"), **settings)
    token = bearer(b)
    redis_server.stop()
    try:
        # The job row is the truth, the queue only carries it: the kick-off is accepted and
        # the job waits (the workers' tick enqueues it once the queue is back).
        status_url = kick_off(a, token)
        waiting = requests.get(on(b, status_url), headers=token)
        assert waiting.status_code == 202 and int(waiting.headers["Retry-After"]) > 0
    finally:
        redis_server.start()
    manifest = poll(b, status_url, token)
    assert_every_resource_once(a, manifest, token, clinic)
