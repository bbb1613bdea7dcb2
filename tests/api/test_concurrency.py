"""Concurrent requests: the database's constraints decide, not check-then-insert."""

from __future__ import annotations

import threading

from tests.helpers import count, login, submit
from tracker.models import Alert, Response

THREADS = 10


def run_together(worker, n: int = THREADS) -> list:
    barrier = threading.Barrier(n)
    results: list = [None] * n

    def run(i: int) -> None:
        barrier.wait()
        results[i] = worker(i)

    threads = [threading.Thread(target=run, args=(i,)) for i in range(n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)
    return results


def test_ten_concurrent_submissions_with_one_key_store_one_row(world):
    clients = [login(world.app, "patient.one@example.test") for _ in range(THREADS)]
    results = run_together(
        lambda i: submit(clients[i], world.patient_1, Idempotency_Key="waiting-room-1")
    )
    statuses = sorted(r.status_code for r in results)
    assert statuses == [200] * (THREADS - 1) + [201]
    assert len({r.json["id"] for r in results}) == 1
    assert count(world.app, Response) == 1
    assert count(world.app, Alert) == 1


def test_concurrent_amendments_have_one_winner(world):
    original = submit(world.as_clinician_a(), world.patient_1).json
    clients = [login(world.app, "clinician.a@example.test") for _ in range(4)]
    results = run_together(
        lambda i: clients[i].post(
            f"/api/v1/responses/{original['id']}/amend",
            json={"answers": [i] * 9, "reason": f"correction {i}"},
        ),
        n=4,
    )
    assert sorted(r.status_code for r in results) == [201, 409, 409, 409]
    assert count(world.app, Response) == 2
