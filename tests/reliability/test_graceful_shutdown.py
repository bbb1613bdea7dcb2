"""SIGTERM to gunicorn under load: in-flight submissions finish or roll back, never half-written."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import requests
from sqlalchemy import func, select

from tests.helpers import PASSWORD, PHQ9_EXAMPLE
from tracker.extensions import db
from tracker.models import Alert, AuditEvent, Response

ROOT = Path(__file__).resolve().parents[2]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_sigterm_mid_load_leaves_no_half_written_submission(world, database_url, tmp_path):
    port = free_port()
    env = dict(os.environ, DATABASE_URL=database_url, TRACKER_ENV="test", SECRET_KEY="test-secret")
    gunicorn = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "gunicorn",
            "-w",
            "2",
            "-b",
            f"127.0.0.1:{port}",
            "--graceful-timeout",
            "20",
            "wsgi:app",
        ],
        cwd=ROOT,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:  # workers import the app first
            try:
                requests.get(f"{base}/fhir/metadata", timeout=5)
                break
            except requests.RequestException:
                time.sleep(0.2)
        acknowledged: list[str] = []
        errors: list[int] = []
        stop = threading.Event()

        def patient_app(n: int) -> None:
            session = requests.Session()
            session.post(
                f"{base}/api/v1/auth/login",
                json={"email": "clinician.a@example.test", "password": PASSWORD},
            )
            csrf = session.get(f"{base}/api/v1/auth/me").json()["csrf_token"]
            i = 0
            while not stop.is_set():
                i += 1
                try:
                    r = session.post(
                        f"{base}/api/v1/patients/{world.patient_1}/responses",
                        json={
                            "instrument": "phq9",
                            "answers": PHQ9_EXAMPLE,
                            "completed_at": "2026-03-01T09:30:00Z",
                        },
                        headers={"X-CSRF-Token": csrf, "Idempotency-Key": f"t{n}-{i}"},
                        timeout=30,
                    )
                except requests.ConnectionError:
                    break  # the server has stopped accepting
                if r.status_code == 201:
                    acknowledged.append(r.json()["id"])
                else:
                    errors.append(r.status_code)

        threads = [threading.Thread(target=patient_app, args=(n,)) for n in range(4)]
        for t in threads:
            t.start()
        time.sleep(1.5)
        gunicorn.send_signal(signal.SIGTERM)
        assert gunicorn.wait(30) == 0
        stop.set()
        for t in threads:
            t.join(30)
    finally:
        if gunicorn.poll() is None:
            gunicorn.kill()
    assert acknowledged, "no submission got through before the shutdown"
    assert all(status < 500 for status in errors), errors
    with world.app.app_context():
        ids = set(db.session.scalars(select(Response.id)))
        assert {int(i) for i in acknowledged} <= ids  # every 201 is stored
        # No half-written submission: each stored response has its alert and its audit event.
        alerts = db.session.scalar(select(func.count()).select_from(Alert))
        created = db.session.scalar(
            select(func.count())
            .select_from(AuditEvent)
            .where(AuditEvent.action == "create", AuditEvent.resource_type == "response")
        )
        assert alerts == created == len(ids)
        db.session.remove()
    print(f"\ngraceful shutdown: {len(acknowledged)} acknowledged, {len(ids)} stored")
