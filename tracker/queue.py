"""The worker's task queue in PostgreSQL: a Huey storage on the queue_* tables (migration 0007).

With PostgreSQL already there, the queue needs no other server: tasks live in
``queue_task``, delayed ones in ``queue_schedule``, results, locks and counters
in ``queue_value``. Dequeuing is ``DELETE … WHERE id = (SELECT … FOR UPDATE SKIP
LOCKED) RETURNING data``: several consumers never take the same task and never
wait on each other. The storage has its own small engine (not Flask-SQLAlchemy's
session), so queue traffic never mixes with a task's own transaction.
"""

from __future__ import annotations

import struct
from datetime import UTC, datetime

from huey.constants import EmptyData
from huey.storage import BaseStorage
from sqlalchemy import create_engine, delete, func, select, update
from sqlalchemy.dialects.postgresql import insert

from tracker.models import QueueSchedule, QueueTask, QueueValue

task = QueueTask.__table__
schedule = QueueSchedule.__table__
value = QueueValue.__table__
COUNTER = "counter:"  # counters share queue_value, under keys of their own


def _key(key: str | bytes) -> str:
    return key.decode() if isinstance(key, bytes) else key


def _aware(ts: datetime) -> datetime:
    """Huey hands naive UTC times (utc=True); the column wants aware ones."""
    return ts.replace(tzinfo=UTC) if ts.tzinfo is None else ts


class DatabaseStorage(BaseStorage):
    """Huey storage over SQLAlchemy Core on PostgreSQL; ``url`` is DATABASE_URL."""

    blocking = False  # the consumer polls, backing off while the queue is empty

    def __init__(self, name: str = "tracker", url: str = "", **kwargs: object) -> None:
        super().__init__(name)
        self.engine = create_engine(url, pool_size=2, max_overflow=2, pool_pre_ping=True)

    def close(self) -> bool:
        self.engine.dispose()
        return True

    # the queue

    def enqueue(self, data: bytes, priority: float | None = None) -> None:
        with self.engine.begin() as conn:
            conn.execute(
                task.insert().values(queue=self.name, priority=int(priority or 0), data=data)
            )

    def dequeue(self) -> bytes | None:
        first = (
            select(task.c.id)
            .where(task.c.queue == self.name)
            .order_by(task.c.priority.desc(), task.c.id)
            .limit(1)
            .with_for_update(skip_locked=True)
            .scalar_subquery()
        )
        with self.engine.begin() as conn:
            row = conn.execute(delete(task).where(task.c.id == first).returning(task.c.data))
            data = row.scalar()
        return bytes(data) if data is not None else None

    def queue_size(self) -> int:
        with self.engine.connect() as conn:
            return conn.scalar(
                select(func.count()).select_from(task).where(task.c.queue == self.name)
            )

    def enqueued_items(self, limit: int | None = None) -> list[bytes]:
        query = (
            select(task.c.data)
            .where(task.c.queue == self.name)
            .order_by(task.c.priority.desc(), task.c.id)
            .limit(limit)
        )
        with self.engine.connect() as conn:
            return [bytes(d) for d in conn.scalars(query)]

    def flush_queue(self) -> None:
        with self.engine.begin() as conn:
            conn.execute(delete(task).where(task.c.queue == self.name))

    # the schedule (tasks to run later)

    def add_to_schedule(self, data: bytes, ts: datetime) -> None:
        with self.engine.begin() as conn:
            conn.execute(schedule.insert().values(queue=self.name, run_at=_aware(ts), data=data))

    def read_schedule(self, ts: datetime) -> list[bytes]:
        ready = (
            select(schedule.c.id)
            .where(schedule.c.queue == self.name, schedule.c.run_at <= _aware(ts))
            .with_for_update(skip_locked=True)
        )
        with self.engine.begin() as conn:
            rows = conn.execute(
                delete(schedule)
                .where(schedule.c.id.in_(ready))
                .returning(schedule.c.run_at, schedule.c.id, schedule.c.data)
            ).all()
        return [bytes(row.data) for row in sorted(rows, key=lambda row: (row.run_at, row.id))]

    def schedule_size(self) -> int:
        with self.engine.connect() as conn:
            return conn.scalar(
                select(func.count()).select_from(schedule).where(schedule.c.queue == self.name)
            )

    def scheduled_items(self, limit: int | None = None) -> list[bytes]:
        query = (
            select(schedule.c.data)
            .where(schedule.c.queue == self.name)
            .order_by(schedule.c.run_at, schedule.c.id)
            .limit(limit)
        )
        with self.engine.connect() as conn:
            return [bytes(d) for d in conn.scalars(query)]

    def flush_schedule(self) -> None:
        with self.engine.begin() as conn:
            conn.execute(delete(schedule).where(schedule.c.queue == self.name))

    # results and locks

    def _where(self, key: str | bytes):  # type: ignore[no-untyped-def]
        return (value.c.queue == self.name) & (value.c.key == _key(key))

    def put_data(self, key: str | bytes, data: bytes, is_result: bool = False) -> None:
        statement = insert(value).values(queue=self.name, key=_key(key), value=data)
        statement = statement.on_conflict_do_update(
            index_elements=["queue", "key"], set_={"value": statement.excluded.value}
        )
        with self.engine.begin() as conn:
            conn.execute(statement)

    def peek_data(self, key: str | bytes) -> bytes | object:
        with self.engine.connect() as conn:
            found = conn.scalar(select(value.c.value).where(self._where(key)))
        return bytes(found) if found is not None else EmptyData

    def pop_data(self, key: str | bytes) -> bytes | object:
        with self.engine.begin() as conn:
            found = conn.scalar(delete(value).where(self._where(key)).returning(value.c.value))
        return bytes(found) if found is not None else EmptyData

    def has_data_for_key(self, key: str | bytes) -> bool:
        with self.engine.connect() as conn:
            return conn.scalar(select(value.c.key).where(self._where(key))) is not None

    def put_if_empty(self, key: str | bytes, data: bytes, ttl: int | None = None) -> bool:
        if ttl is not None:
            raise NotImplementedError("ttl is not supported by this storage.")
        statement = (
            insert(value)
            .values(queue=self.name, key=_key(key), value=data)
            .on_conflict_do_nothing(index_elements=["queue", "key"])
            .returning(value.c.key)
        )
        with self.engine.begin() as conn:
            return conn.execute(statement).first() is not None

    def incr(self, key: str | bytes, amount: int = 1) -> int:
        """Atomic: the row is locked by the upsert, so concurrent increments serialise."""
        name = COUNTER + _key(key)
        packed = struct.pack(">q", amount)
        statement = insert(value).values(queue=self.name, key=name, value=packed)
        statement = statement.on_conflict_do_nothing(index_elements=["queue", "key"]).returning(
            value.c.key
        )
        with self.engine.begin() as conn:
            if conn.execute(statement).first() is not None:
                return amount
            current = conn.scalar(
                select(value.c.value)
                .where((value.c.queue == self.name) & (value.c.key == name))
                .with_for_update()
            )
            total = struct.unpack(">q", bytes(current))[0] + amount
            conn.execute(
                update(value)
                .where((value.c.queue == self.name) & (value.c.key == name))
                .values(value=struct.pack(">q", total))
            )
            return total

    def delete_counter(self, key: str | bytes) -> None:
        with self.engine.begin() as conn:
            conn.execute(delete(value).where(self._where(COUNTER + _key(key))))

    def _results(self):  # type: ignore[no-untyped-def]
        return (value.c.queue == self.name) & ~value.c.key.startswith(COUNTER)

    def result_store_size(self) -> int:
        with self.engine.connect() as conn:
            return conn.scalar(select(func.count()).select_from(value).where(self._results()))

    def result_items(self) -> dict[str, bytes]:
        with self.engine.connect() as conn:
            rows = conn.execute(select(value.c.key, value.c.value).where(self._results()))
            return {row.key: bytes(row.value) for row in rows}

    def flush_results(self) -> None:
        with self.engine.begin() as conn:
            conn.execute(delete(value).where(self._results()))

    def flush_counters(self) -> None:
        with self.engine.begin() as conn:
            conn.execute(
                delete(value).where((value.c.queue == self.name) & value.c.key.startswith(COUNTER))
            )
