"""Bulk Data export jobs: one row per kick-off, files on private storage.

The row is also the job's claim: ``attempts`` counts the runs a worker started
(and is the fencing token of the current one), ``lease_until`` is how long the
current run, or the queue when none started yet, has before the worker's tick
hands the job to another worker (tracker.services.exports).
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import JSON, CheckConstraint, ForeignKey, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from tracker.extensions import db
from tracker.models.types import UTCDateTime, utcnow

EXPORT_STATES = ("queued", "running", "completed", "failed", "cancelled")


class ExportJob(db.Model):
    __tablename__ = "export_job"
    __table_args__ = (
        CheckConstraint(
            "state IN ('queued', 'running', 'completed', 'failed', 'cancelled')", name="state"
        ),
        CheckConstraint("client_id IS NOT NULL OR user_id IS NOT NULL", name="owner"),
    )

    id: Mapped[str] = mapped_column(String(36), primary_key=True)  # uuid4: unguessable
    client_id: Mapped[int | None] = mapped_column(ForeignKey("api_client.id"), index=True)
    user_id: Mapped[int | None] = mapped_column(ForeignKey("user.id"), index=True)
    state: Mapped[str] = mapped_column(String(16), default="queued")
    request_url: Mapped[str] = mapped_column(Text)
    types: Mapped[list] = mapped_column(JSON)
    since: Mapped[datetime | None] = mapped_column(UTCDateTime)
    transaction_time: Mapped[datetime] = mapped_column(UTCDateTime)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    finished_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    expires_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    progress: Mapped[str | None] = mapped_column(String(100))
    output: Mapped[list] = mapped_column(JSON, default=list)  # [{type, file, count}]
    error: Mapped[str | None] = mapped_column(Text)
    attempts: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    lease_until: Mapped[datetime | None] = mapped_column(UTCDateTime)
