"""Patients, their external identifiers and the clinicians who care for them."""

from __future__ import annotations

from datetime import date, datetime

from sqlalchemy import CheckConstraint, Date, ForeignKey, Integer, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from tracker.extensions import db
from tracker.models.types import UTCDateTime, utcnow

REMINDER_SETTINGS = ("on", "off")


class Patient(db.Model):
    __tablename__ = "patient"
    __table_args__ = (CheckConstraint("reminders IN ('on', 'off')", name="reminders"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    display_name: Mapped[str] = mapped_column(String(200))
    birth_date: Mapped[date | None] = mapped_column(Date)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)
    version: Mapped[int] = mapped_column(Integer, default=1, server_default="1")  # meta.versionId
    # "off": the patient gets no questionnaire reminders (alerts to clinicians still go).
    reminders: Mapped[str] = mapped_column(String(3), default="on", server_default="on")

    identifiers: Mapped[list[PatientIdentifier]] = relationship(
        back_populates="patient",
        order_by="PatientIdentifier.id",
        cascade="all, delete-orphan",
        lazy="selectin",
    )


class PatientIdentifier(db.Model):
    """An identifier such as an MRN, unique within its issuing system."""

    __tablename__ = "patient_identifier"
    __table_args__ = (UniqueConstraint("system", "value"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    patient_id: Mapped[int] = mapped_column(ForeignKey("patient.id"), index=True)
    system: Mapped[str] = mapped_column(String(255))
    value: Mapped[str] = mapped_column(String(255))

    patient: Mapped[Patient] = relationship(back_populates="identifiers")


class CareTeamMember(db.Model):
    """A clinician on a patient's care team: the only way a clinician sees a patient."""

    __tablename__ = "care_team"

    patient_id: Mapped[int] = mapped_column(ForeignKey("patient.id"), primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("user.id"), primary_key=True, index=True)
    added_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
