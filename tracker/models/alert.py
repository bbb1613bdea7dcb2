"""Safety alerts raised by a response, kept until a clinician acknowledges them."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum

from sqlalchemy import CheckConstraint, ForeignKey, Index, Integer, String, case
from sqlalchemy.orm import Mapped, column_property, mapped_column

from tracker.extensions import db
from tracker.instruments import ALERT_PRIORITIES  # most urgent first
from tracker.models.types import UTCDateTime, utcnow


class AlertStatus(StrEnum):
    OPEN = "open"
    ACKNOWLEDGED = "acknowledged"


ALERT_STATUSES = tuple(status.value for status in AlertStatus)

# Higher is more urgent: {"high": 2, "routine": 1}.
PRIORITY_RANKS = {p: len(ALERT_PRIORITIES) - i for i, p in enumerate(ALERT_PRIORITIES)}


class Alert(db.Model):
    __tablename__ = "alert"
    __table_args__ = (
        CheckConstraint("status IN ('open', 'acknowledged')", name="status"),
        CheckConstraint("priority IN ('high', 'routine')", name="priority"),
        Index("ix_alert_status_patient", "status", "patient_id"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    patient_id: Mapped[int] = mapped_column(ForeignKey("patient.id"))
    response_id: Mapped[int] = mapped_column(ForeignKey("response.id"), index=True)
    kind: Mapped[str] = mapped_column(String(40))
    priority: Mapped[str] = mapped_column(String(16), default="routine")
    status: Mapped[str] = mapped_column(String(16), default=AlertStatus.OPEN.value)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    acknowledged_by: Mapped[int | None] = mapped_column(ForeignKey("user.id"))
    acknowledged_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    note: Mapped[str | None] = mapped_column(String(2000))

    # PRIORITY_RANKS of ``priority``. The inbox sorts on it descending, like
    # opened_at, so keyset paging keeps one direction and an integer cursor.
    priority_rank: Mapped[int] = column_property(case(PRIORITY_RANKS, value=priority, else_=0))
