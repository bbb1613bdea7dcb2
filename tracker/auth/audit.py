"""The one place that writes the audit trail. Never pass answers, scores or names here."""

from __future__ import annotations

from collections.abc import Iterable

from flask import g, has_request_context, request
from flask_login import current_user
from sqlalchemy import insert

from tracker.database import begin_writing
from tracker.extensions import db
from tracker.models import AuditEvent
from tracker.models.types import utcnow


def _actor() -> tuple[str, str | None]:
    if has_request_context() and current_user and current_user.is_authenticated:
        if getattr(current_user, "is_client", False):
            return "client", current_user.id
        return "user", str(current_user.id)
    if has_request_context():
        return "anonymous", None
    return "system", None


def _context(actor: tuple[str, str | None] | None = None) -> dict:
    """Who did it, from where, in which request, and when: the part every event shares."""
    actor_type, actor_id = actor or _actor()
    in_request = has_request_context()
    return {
        "at": utcnow(),
        "actor_type": actor_type,
        "actor_id": actor_id,
        "remote_addr": request.remote_addr if in_request else None,
        "request_id": g.get("request_id") if in_request else None,
    }


def record(
    action: str,
    resource_type: str | None = None,
    resource_id: object = None,
    patient_id: int | None = None,
    outcome: str = "success",
    actor: tuple[str, str | None] | None = None,
    detail: str | None = None,
) -> None:
    """Add an audit event to the current transaction: it commits or rolls back with the work.

    Sent at once as a plain table INSERT (no ORM object to flush), so the ids it names
    must already exist: record a new row's creation after the row's flush.
    """
    begin_writing(db.session())  # a reads-first request takes SQLite's write lock here
    event = {
        **_context(actor),
        "action": action,
        "resource_type": resource_type,
        "resource_id": None if resource_id is None else str(resource_id),
        "patient_id": patient_id,
        "outcome": outcome,
        "detail": detail,
    }
    db.session.execute(_INSERT, event)


def record_each(action: str, resource_type: str, patient_ids: Iterable[int]) -> None:
    """One event per patient in one statement, for a list that shows many patients at once.

    A list of 500 patients' items stays one INSERT instead of 500 (the ORM would
    batch them, but still send hundreds of statements on SQLite).
    """
    shared = {**_context(), "action": action, "resource_type": resource_type, "outcome": "success"}
    rows = [{**shared, "patient_id": patient_id} for patient_id in sorted(set(patient_ids))]
    if rows:
        db.session.execute(_INSERT, rows)


# A plain table INSERT: no ORM object or unit of work for an event nobody reads back.
_INSERT = insert(AuditEvent.__table__)


def record_now(
    action: str,
    resource_type: str | None = None,
    resource_id: object = None,
    patient_id: int | None = None,
    outcome: str = "success",
    actor: tuple[str, str | None] | None = None,
) -> None:
    """Record and commit at once, for a request whose only write is this event.

    Shells use it for reads, refusals and failed logins. A use case in
    tracker/services never does: it adds its events with :func:`record` and
    commits them with its own work, so an event never commits half a change.
    """
    record(action, resource_type, resource_id, patient_id, outcome, actor)
    db.session.commit()
