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


def test_concurrent_series_edits_with_if_match_lose_nothing(world):
    api = world.as_clinician_a()
    series = api.post(
        f"/api/v1/patients/{world.patient_1}/series",
        json={"label": "Induction", "started_at": "2026-01-01T00:00:00Z"},
    ).json
    url = f"/api/v1/series/{series['id']}"
    etag = api.get(url).headers["ETag"]
    clients = [login(world.app, "clinician.a@example.test") for _ in range(4)]
    results = run_together(
        lambda i: clients[i].patch(url, json={"notes": f"edit {i}"}, headers={"If-Match": etag}),
        n=4,
    )
    assert sorted(r.status_code for r in results) == [200, 412, 412, 412]
    winner = next(r for r in results if r.status_code == 200)
    assert api.get(url).json["notes"] == winner.json["notes"]
    assert api.patch(url, json={"notes": "late"}, headers={"If-Match": etag}).status_code == 412
    fresh = api.get(url).headers["ETag"]
    assert api.patch(url, json={"notes": "late"}, headers={"If-Match": fresh}).status_code == 200
    assert api.patch(url, json={"notes": "no precondition"}).status_code == 200


def test_fifty_threads_retrying_with_shared_keys_store_exactly_one_row_per_key(world):
    """A waiting room on flaky Wi-Fi: 10 patients' apps, each sending its submission 5 times."""
    keys = [f"tablet-{k}" for k in range(10)]
    clients = [login(world.app, "patient.one@example.test") for _ in range(5)]

    def send(i: int):  # type: ignore[no-untyped-def]
        key = keys[i % 10]
        body = {"answers": [i % 10 % 4] * 9, "completed_at": f"2026-03-01T09:{i % 10:02d}:00Z"}
        for _attempt in range(5):  # an app retries when the server is busy
            response = submit(clients[i % 5], world.patient_1, body, Idempotency_Key=key)
            if response.status_code != 503:
                return key, response
        return key, response

    results = run_together(send, n=50)
    by_key: dict[str, list] = {}
    for key, response in results:
        by_key.setdefault(key, []).append(response)
    for key, responses in by_key.items():
        statuses = sorted(r.status_code for r in responses)
        assert statuses == [200, 200, 200, 200, 201], (key, statuses)
        assert len({r.json["id"] for r in responses}) == 1
    assert count(world.app, Response) == 10
