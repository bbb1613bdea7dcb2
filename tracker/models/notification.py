"""The outbox: every message the clinic sends is a row first, delivered by the worker.

A row holds no clinical content and no link token: the text is rendered from
``kind`` at delivery, and a questionnaire link is minted then (only its hash is
stored, in ``questionnaire_link``).
"""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum

from sqlalchemy import CheckConstraint, ForeignKey, Index, Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from tracker.extensions import db
from tracker.models.types import UTCDateTime, utcnow


class NotificationStatus(StrEnum):
    PENDING = "pending"
    SENT = "sent"
    FAILED = "failed"


class NotificationKind(StrEnum):
    REMINDER = "reminder"  # a due occurrence opened
    LAST_REMINDER = "last_reminder"  # 24 h before it closes, something still due
    ALERT = "alert"  # to each care-team clinician when an alert opens
    ESCALATION = "escalation"  # to the admins: a high alert still unacknowledged


NOTIFICATION_CHANNELS = ("email", "webhook")


class Notification(db.Model):
    __tablename__ = "notification"
    __table_args__ = (
        CheckConstraint("status IN ('pending', 'sent', 'failed')", name="status"),
        CheckConstraint("channel IN ('email', 'webhook')", name="channel"),
        CheckConstraint(
            "kind IN ('reminder', 'last_reminder', 'alert', 'escalation')", name="kind"
        ),
        Index("ix_notification_status_next", "status", "next_attempt_at"),
        Index("ix_notification_created", "created_at", "id"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    kind: Mapped[str] = mapped_column(String(32))
    channel: Mapped[str] = mapped_column(String(16), default="email")
    recipient: Mapped[str] = mapped_column(String(320))
    user_id: Mapped[int | None] = mapped_column(ForeignKey("user.id"))
    patient_id: Mapped[int | None] = mapped_column(ForeignKey("patient.id"), index=True)
    alert_id: Mapped[int | None] = mapped_column(ForeignKey("alert.id"))
    # For reminders: the due occurrence (``s17.e2.r0``) the message's link opens.
    series_id: Mapped[int | None] = mapped_column(ForeignKey("treatment_series.id"))
    occurrence: Mapped[str | None] = mapped_column(String(64))
    link_expires_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # At most one row per event and recipient: ``reminder:s17.e2.r0:open:email``.
    dedupe_key: Mapped[str] = mapped_column(String(200), unique=True)
    # Stable across retries, so a receiver can drop a repeat.
    message_id: Mapped[str] = mapped_column(String(200), unique=True)
    status: Mapped[str] = mapped_column(String(16), default=NotificationStatus.PENDING.value)
    attempts: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    next_attempt_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    # A worker's claim on the row while it delivers; an expired lease may be taken again.
    lease_until: Mapped[datetime | None] = mapped_column(UTCDateTime)
    last_error: Mapped[str | None] = mapped_column(String(500))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    sent_at: Mapped[datetime | None] = mapped_column(UTCDateTime)


class QuestionnaireLink(db.Model):
    """A password-free link to one due occurrence; only the token's SHA-256 is stored."""

    __tablename__ = "questionnaire_link"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    patient_id: Mapped[int] = mapped_column(ForeignKey("patient.id"), index=True)
    series_id: Mapped[int] = mapped_column(ForeignKey("treatment_series.id"))
    occurrence: Mapped[str] = mapped_column(String(64))
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime)
    notification_id: Mapped[int | None] = mapped_column(ForeignKey("notification.id"))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class QueueTask(db.Model):
    """The worker's task queue when it lives in the database (PostgreSQL); see tracker.queue."""

    __tablename__ = "queue_task"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    queue: Mapped[str] = mapped_column(String(64), index=True)
    priority: Mapped[int] = mapped_column(Integer, default=0)
    data: Mapped[bytes] = mapped_column(db.LargeBinary)


class QueueSchedule(db.Model):
    __tablename__ = "queue_schedule"
    __table_args__ = (Index("ix_queue_schedule_queue_at", "queue", "run_at"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    queue: Mapped[str] = mapped_column(String(64))
    run_at: Mapped[datetime] = mapped_column(UTCDateTime)
    data: Mapped[bytes] = mapped_column(db.LargeBinary)


class QueueValue(db.Model):
    """Results and locks of the task queue."""

    __tablename__ = "queue_value"

    queue: Mapped[str] = mapped_column(String(64), primary_key=True)
    key: Mapped[str] = mapped_column(String(200), primary_key=True)
    value: Mapped[bytes] = mapped_column(db.LargeBinary)
