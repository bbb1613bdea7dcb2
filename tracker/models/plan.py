"""Measurement plans: which questionnaires a patient answers when, relative to a series."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import JSON, ForeignKey, Integer, String, false
from sqlalchemy.orm import Mapped, mapped_column

from tracker.extensions import db
from tracker.models.types import UTCDateTime, utcnow


class MeasurementPlan(db.Model):
    """Never edited once stored (a series' schedule must not change under it): retire it."""

    __tablename__ = "measurement_plan"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(200))
    instruments: Mapped[list] = mapped_column(JSON)
    entries: Mapped[list] = mapped_column(JSON)
    retired: Mapped[bool] = mapped_column(default=False, server_default=false())
    retired_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    created_by: Mapped[int | None] = mapped_column(ForeignKey("user.id"))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
