"""The alerts inbox and acknowledging an alert, shared by the API and the pages."""

from __future__ import annotations

from sqlalchemy import Select, select, update

from tracker.auth import access, audit
from tracker.extensions import db
from tracker.models import Alert, Patient, User
from tracker.models.alert import AlertStatus
from tracker.models.types import utcnow
from tracker.services.paging import Order

# High priority first, then newest opened first; the id breaks ties between
# alerts opened by one response (docs/api.md, "Alerts").
INBOX_ORDER = Order((Alert.priority_rank, Alert.created_at, Alert.id), descending=True)


def inbox(viewer: User, status: str | None = None, patient_id: int | None = None) -> Select:
    """The alerts of the patients ``viewer`` may see, filtered; order with INBOX_ORDER."""
    visible = select(Patient.id).where(access.visible_patients_clause(viewer))
    query = select(Alert).where(Alert.patient_id.in_(visible))
    if status is not None:
        query = query.where(Alert.status == status)
    if patient_id is not None:
        query = query.where(Alert.patient_id == patient_id)
    return query


def acknowledge(alert: Alert, actor: User, note: str | None) -> bool:
    """Acknowledge an open alert; the first acknowledgement is kept. True if this one counted."""
    changed = db.session.execute(
        update(Alert)
        .where(Alert.id == alert.id, Alert.status == AlertStatus.OPEN)
        .values(
            status=AlertStatus.ACKNOWLEDGED,
            acknowledged_by=actor.id,
            acknowledged_at=utcnow(),
            note=note,
        )
    ).rowcount
    if changed:
        audit.record("update", "alert", alert.id, alert.patient_id)
    db.session.commit()
    return bool(changed)
