"""Clinician actions shared by the API and the pages: series bounds, acknowledging alerts."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import func, select, update

from tracker.auth import audit
from tracker.extensions import db
from tracker.models import Alert, TreatmentSeries, TreatmentSession
from tracker.models.types import utcnow


def sessions_outside(series: TreatmentSeries, started: datetime, ended: datetime | None) -> bool:
    """Would these bounds leave one of the series' sessions outside it?"""
    first, last = db.session.execute(
        select(
            func.min(TreatmentSession.administered_at), func.max(TreatmentSession.administered_at)
        ).where(TreatmentSession.series_id == series.id)
    ).one()
    if first is None:
        return False
    return first < started or (ended is not None and last > ended)


def acknowledge(alert: Alert, user_id: int, note: str | None) -> bool:
    """Acknowledge an open alert; the first acknowledgement is kept. True if this one counted."""
    changed = db.session.execute(
        update(Alert)
        .where(Alert.id == alert.id, Alert.status == "open")
        .values(status="acknowledged", acknowledged_by=user_id, acknowledged_at=utcnow(), note=note)
    ).rowcount
    if changed:
        audit.record("update", "alert", alert.id, alert.patient_id)
    db.session.commit()
    return bool(changed)
