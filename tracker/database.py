"""Per-backend connection behaviour, so both databases give the same guarantees."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from typing import TypeVar

from flask import current_app, g, has_request_context, request
from sqlalchemy import event
from sqlalchemy.engine import Engine
from sqlalchemy.orm import Session

# None: decide by context (requests write, at least an audit row); True/False: forced.
_write_lock: ContextVar[bool | None] = ContextVar("sqlite_write_lock", default=None)
V = TypeVar("V", bound=Callable)


@contextmanager
def sqlite_write_lock() -> Iterator[None]:
    """Transactions begun inside take SQLite's write lock at BEGIN (no-op on PostgreSQL).

    For work outside a request (the export worker) that reads and then writes.
    """
    token = _write_lock.set(True)
    try:
        yield
    finally:
        _write_lock.reset(token)


def reads_first(view: V) -> V:
    """Mark a route whose request reads before it writes: on SQLite its first transaction
    is deferred, and :func:`begin_writing` takes the write lock when the writing starts.

    A request holds SQLite's single write lock from its first statement (the
    login, loaded before the view) to its commit; for a submission that is also
    the patient, the access check and the scoring, while every other writer
    waits (busy_timeout sleeps in steps of up to 100 ms: the latency's tail).
    Every write in such a request goes through ``begin_writing``
    (``audit.record`` calls it), so a write never upgrades a read transaction
    that another connection has written past ("database is locked").
    """
    view.sqlite_reads_first = True  # type: ignore[attr-defined]
    return view


def _reading() -> bool:
    """In a reads_first request that has not begun writing."""
    if not has_request_context() or g.get("sqlite_writing", False):
        return False
    view = current_app.view_functions.get(request.endpoint or "")
    return getattr(view, "sqlite_reads_first", False)


def begin_writing(session: Session) -> None:
    """In a :func:`reads_first` request, end its read transaction (keeping what it loaded)
    so that the next one takes SQLite's write lock at BEGIN. A no-op anywhere else, and
    on PostgreSQL (one transaction, no extra round trip)."""
    if not _reading():
        return
    if session.get_bind().dialect.name == "sqlite":
        commit_keeping_loaded(session)
    g.sqlite_writing = True


def commit_keeping_loaded(session: Session) -> None:
    """Commit without expiring what the session holds, for a caller that answers from it.

    Expiry on commit makes the next attribute read a SELECT in a new transaction;
    on SQLite inside a request that is a second ``BEGIN IMMEDIATE``, a write lock
    taken only to read back the row just written (and held to the request's end).
    Use it only when every attribute the caller reads was written by this
    transaction or loaded in it and cannot have changed since.
    """
    keep = session.expire_on_commit
    session.expire_on_commit = False
    try:
        session.commit()
    finally:
        session.expire_on_commit = keep


def configure_engine(engine: Engine) -> None:
    """SQLite: WAL, enforced foreign keys, and request transactions that take the lock first.

    Every request writes (an audit event at least). A deferred SQLite transaction
    that reads and then writes fails with "database is locked" at once when
    another connection wrote in between; taking the write lock at BEGIN makes
    concurrent requests queue (busy_timeout) instead. Work outside requests
    (CLI, the export worker's long read) keeps deferred transactions unless it
    asks for the lock with sqlite_write_lock().
    """
    if engine.dialect.name != "sqlite":
        return

    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection, _record) -> None:  # type: ignore[no-untyped-def]
        dbapi_connection.isolation_level = None  # we issue BEGIN ourselves
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute("PRAGMA busy_timeout=30000")
        if engine.url.database not in (None, "", ":memory:"):
            # WAL with synchronous=NORMAL: a commit is durable against a crash of the
            # application (or of any process); on power loss or an OS crash the last
            # transactions may be lost, never the database's consistency. Production
            # runs on PostgreSQL (README, "Production: gunicorn and PostgreSQL").
            cursor.execute("PRAGMA journal_mode=WAL")
            cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.close()

    @event.listens_for(engine, "begin")
    def _on_begin(connection) -> None:  # type: ignore[no-untyped-def]
        forced = _write_lock.get()
        immediate = (has_request_context() and not _reading()) if forced is None else forced
        connection.exec_driver_sql("BEGIN IMMEDIATE" if immediate else "BEGIN")
