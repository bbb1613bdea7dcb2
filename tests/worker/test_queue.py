"""The task queue's storage as the worker gets it: a SQLite file, or the queue_* tables on
PostgreSQL (tracker.queue), behaving the same through Huey's storage interface."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

from huey.constants import EmptyData

from tracker import tasks
from tracker.queue import DatabaseStorage


def test_storage_follows_the_database(app, backend, database_url):
    storage = tasks.storage_for(app).storage
    try:
        if backend == "postgresql":
            assert isinstance(storage, DatabaseStorage)
        else:
            assert Path(storage.filename) == Path(
                database_url.removeprefix("sqlite:///")
            ).with_name("queue.db")
        storage.flush_all()
        # The queue: priority first, then first in first out; each task taken once.
        storage.enqueue(b"first")
        storage.enqueue(b"urgent", priority=5)
        storage.enqueue(b"second")
        assert storage.queue_size() == 3
        assert storage.enqueued_items(limit=1) == [b"urgent"]
        assert [storage.dequeue() for _ in range(4)] == [b"urgent", b"first", b"second", None]
        # The schedule: due tasks come out once, in time order; later ones stay.
        now = datetime.now(UTC).replace(tzinfo=None)  # Huey hands naive UTC
        storage.add_to_schedule(b"later", now + timedelta(hours=1))
        storage.add_to_schedule(b"b", now - timedelta(seconds=1))
        storage.add_to_schedule(b"a", now - timedelta(seconds=2))
        assert storage.read_schedule(now) == [b"a", b"b"]
        assert storage.read_schedule(now) == []
        assert storage.schedule_size() == 1 and storage.scheduled_items() == [b"later"]
        # Values and locks.
        assert storage.put_if_empty("lock", b"1") is True
        assert storage.put_if_empty("lock", b"2") is False
        storage.put_data("result", b"x")
        storage.put_data("result", b"y")
        assert storage.peek_data("result") == b"y"
        assert storage.pop_data("result") == b"y"
        assert storage.pop_data("result") is EmptyData
        assert storage.has_data_for_key("lock") and not storage.has_data_for_key("result")
        assert storage.incr("count") == 1 and storage.incr("count", 4) == 5
        assert storage.result_items() == {"lock": b"1"} and storage.result_store_size() == 1
        storage.flush_all()
        assert storage.queue_size() == storage.schedule_size() == 0
        assert storage.incr("count") == 1
    finally:
        storage.flush_all()
        storage.close()
