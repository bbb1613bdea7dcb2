"""One row per browser or app login, so that logging out ends that login and no other."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import ForeignKey, String
from sqlalchemy.orm import Mapped, mapped_column

from tracker.extensions import db
from tracker.models.types import UTCDateTime, utcnow


class LoginSession(db.Model):
    """A login: its random id travels in the signed session cookie; logout sets revoked_at.

    Held in the database, not in a process, so any app instance behind a load
    balancer sees a logout at once.
    """

    __tablename__ = "login_session"

    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("user.id"), index=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    revoked_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
