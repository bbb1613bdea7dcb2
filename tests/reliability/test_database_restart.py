"""PostgreSQL restarts under load: 503 while it is down, recovery without a restart of the
app, and every acknowledged submission stored exactly once."""

from __future__ import annotations

import threading
import time

import psycopg
import pytest
from pytest_postgresql import factories

from tests.conftest import (
    PG_CTL,
    REQUIRE_POSTGRES,
    make_app,
    migrate_to_head,
    postgres_binaries_present,
)
from tests.helpers import build_world, count, login, submit
from tracker.extensions import db
from tracker.models import Response

# A server of its own: stopping it must not disturb the other tests' server.
restart_proc = factories.postgresql_proc(executable=PG_CTL, unixsocketdir="/tmp")

# An exception escaping a request in a worker thread is a failure, not a warning.
pytestmark = pytest.mark.filterwarnings("error::pytest.PytestUnhandledThreadExceptionWarning")

WORKERS = 6
PER_WORKER = 15


@pytest.fixture
def restartable_app(request):
    if not postgres_binaries_present():
        if REQUIRE_POSTGRES:
            pytest.fail("PostgreSQL binaries missing and TRACKER_REQUIRE_POSTGRES=1")
        pytest.skip("PostgreSQL binaries (pg_ctl) not found")
    proc = request.getfixturevalue("restart_proc")
    admin = f"host={proc.host} port={proc.port} user={proc.user} dbname=postgres"
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute("DROP DATABASE IF EXISTS tracker_restart")
        conn.execute("CREATE DATABASE tracker_restart")
    url = f"postgresql+psycopg://{proc.user}@{proc.host}:{proc.port}/tracker_restart"
    migrate_to_head(url)
    app = make_app(url)
    yield app, proc
    with app.app_context():
        db.session.remove()
        db.engine.dispose()


def test_restart_during_submissions(restartable_app):
    app, proc = restartable_app
    world = build_world(app)
    clients = [login(app, "clinician.a@example.test") for _ in range(WORKERS)]
    outcomes: dict[str, list[tuple[int, float, str | None]]] = {}
    lock = threading.Lock()
    stop_at = time.monotonic() + 120

    def worker(w: int) -> None:
        for n in range(PER_WORKER):
            key = f"w{w}-n{n}"
            body = {"answers": [n % 4] * 9, "completed_at": "2026-03-01T09:30:00Z"}
            while time.monotonic() < stop_at:  # retry the same key until it is acknowledged
                started = time.monotonic()
                response = submit(clients[w], world.patient_1, body, Idempotency_Key=key)
                took = time.monotonic() - started
                with lock:
                    outcomes.setdefault(key, []).append(
                        (response.status_code, took, response.headers.get("Retry-After"))
                    )
                if response.status_code in (200, 201):
                    break
                time.sleep(0.2)
            time.sleep(0.05)

    threads = [threading.Thread(target=worker, args=(w,)) for w in range(WORKERS)]
    for t in threads:
        t.start()
    time.sleep(0.5)
    proc.stop()  # the database goes down for an update...
    time.sleep(2.0)
    proc.start()  # ...and comes back
    for t in threads:
        t.join(180)

    calls = [c for attempts in outcomes.values() for c in attempts]
    statuses = {status for status, _took, _retry in calls}
    assert statuses <= {200, 201, 503}, statuses  # never a 500
    unavailable = [c for c in calls if c[0] == 503]
    assert unavailable, "the outage was not seen"
    assert all(retry == "5" for _status, _took, retry in unavailable)
    assert max(took for _status, took, _retry in calls) < 15  # no request hangs
    acknowledged = {k for k, attempts in outcomes.items() if attempts[-1][0] in (200, 201)}
    assert len(acknowledged) == WORKERS * PER_WORKER
    assert count(app, Response) == WORKERS * PER_WORKER  # each exactly once
    print(
        f"\nrestart test: {len(calls)} requests, {len(unavailable)} answered 503, "
        f"{len(acknowledged)} submissions acknowledged and found"
    )
