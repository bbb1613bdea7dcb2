"""People who log in: admins, clinicians and patients."""

from __future__ import annotations

from datetime import datetime

from flask_login import UserMixin
from sqlalchemy import CheckConstraint, ForeignKey, Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from tracker.extensions import db
from tracker.models.types import UTCDateTime, utcnow

ROLES = ("admin", "clinician", "patient")


class User(UserMixin, db.Model):
    __tablename__ = "user"
    __table_args__ = (
        CheckConstraint("role IN ('admin', 'clinician', 'patient')", name="role"),
        CheckConstraint("role = 'patient' OR patient_id IS NULL", name="patient_link"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    email: Mapped[str] = mapped_column(String(254), unique=True)
    password_hash: Mapped[str] = mapped_column(String(255))
    role: Mapped[str] = mapped_column(String(16))
    active: Mapped[bool] = mapped_column(default=True)
    patient_id: Mapped[int | None] = mapped_column(ForeignKey("patient.id"), unique=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    # Bumped when the password changes or the account is disabled: every login ends.
    session_version: Mapped[int] = mapped_column(Integer, default=1, server_default="1")

    @property
    def is_active(self) -> bool:  # Flask-Login refuses inactive users
        return self.active

    def get_id(self) -> str:
        """The cookie carries the version, so a password change ends every earlier login."""
        return f"{self.id}:{self.session_version}"
