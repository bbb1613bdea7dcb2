"""Treatment series (a ketamine induction, a TMS course…) and the sessions inside them."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import CheckConstraint, Float, ForeignKey, Index, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column, relationship

from tracker.extensions import db
from tracker.models.types import UTCDateTime, utcnow

SERIES_KINDS = ("induction", "maintenance", "booster", "other")


class TreatmentSeries(db.Model):
    __tablename__ = "treatment_series"
    __table_args__ = (
        CheckConstraint("kind IN ('induction', 'maintenance', 'booster', 'other')", name="kind"),
        CheckConstraint("ended_at IS NULL OR ended_at >= started_at", name="ends_after_start"),
        Index("ix_treatment_series_patient_started", "patient_id", "started_at", "id"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    patient_id: Mapped[int] = mapped_column(ForeignKey("patient.id"))
    label: Mapped[str] = mapped_column(String(200))
    kind: Mapped[str] = mapped_column(String(20), default="other")
    started_at: Mapped[datetime] = mapped_column(UTCDateTime)
    ended_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    notes: Mapped[str | None] = mapped_column(Text)
    # The measurement plan that says when the patient answers what (revision 2).
    plan_id: Mapped[int | None] = mapped_column(ForeignKey("measurement_plan.id"), index=True)
    created_by: Mapped[int | None] = mapped_column(ForeignKey("user.id"))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)

    sessions: Mapped[list[TreatmentSession]] = relationship(
        order_by="(TreatmentSession.administered_at, TreatmentSession.id)",
        lazy="selectin",
        back_populates="series",
    )


class TreatmentSession(db.Model):
    """One infusion or visit of a series."""

    __tablename__ = "treatment_session"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    series_id: Mapped[int] = mapped_column(ForeignKey("treatment_series.id"), index=True)
    administered_at: Mapped[datetime] = mapped_column(UTCDateTime)
    dose_mg: Mapped[float | None] = mapped_column(Float)
    notes: Mapped[str | None] = mapped_column(Text)
    created_by: Mapped[int | None] = mapped_column(ForeignKey("user.id"))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    series: Mapped[TreatmentSeries] = relationship(back_populates="sessions")
