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


def record(
    action: str,
    resource_type: str | None = None,
    resource_id: object = None,
    patient_id: int | None = None,
    outcome: str = "success",
    actor: tuple[str, str | None] | None = None,
    detail: str | None = None,
) -> AuditEvent:
    """Add an audit event to the current transaction: it commits or rolls back with the work."""
    begin_writing(db.session())  # a reads-first request takes SQLite's write lock here
    actor_type, actor_id = actor or _actor()
    event = AuditEvent(
        actor_type=actor_type,
        actor_id=actor_id,
        action=action,
        resource_type=resource_type,
        resource_id=None if resource_id is None else str(resource_id),
        patient_id=patient_id,
        outcome=outcome,
        remote_addr=request.remote_addr if has_request_context() else None,
        request_id=g.get("request_id") if has_request_context() else None,
        detail=detail,
    )
    db.session.add(event)
    return event


def record_each(action: str, resource_type: str, patient_ids: Iterable[int]) -> None:
    """One event per patient in one statement, for a list that shows many patients at once.

    A list of 500 patients' items stays one INSERT instead of 500 (the ORM would
    batch them, but still send hundreds of statements on SQLite).
    """
    actor_type, actor_id = _actor()
    remote_addr = request.remote_addr if has_request_context() else None
    request_id = g.get("request_id") if has_request_context() else None
    rows = [
        {
            "at": utcnow(),
            "actor_type": actor_type,
            "actor_id": actor_id,
            "action": action,
            "resource_type": resource_type,
            "patient_id": patient_id,
            "outcome": "success",
            "remote_addr": remote_addr,
            "request_id": request_id,
        }
        for patient_id in sorted(set(patient_ids))
    ]
    if rows:
        db.session.execute(insert(AuditEvent), rows)


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
