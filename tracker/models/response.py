"""Scored questionnaire responses: append-only, corrected only by superseding rows."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum

from sqlalchemy import (
    JSON,
    CheckConstraint,
    ForeignKey,
    Index,
    Integer,
    String,
    UniqueConstraint,
    select,
)
from sqlalchemy.orm import Mapped, aliased, column_property, mapped_column

from tracker.extensions import db
from tracker.models.types import UTCDateTime, utcnow


class ResponseStatus(StrEnum):
    """Where a response stands: only final ones count in trends, outcomes and due items."""

    FINAL = "final"
    AMENDED = "amended"  # superseded by a correction (a newer row)
    ENTERED_IN_ERROR = "entered-in-error"  # retracted; still readable


STATUSES = tuple(status.value for status in ResponseStatus)
SOURCES = ("patient", "clinician", "import")


class Response(db.Model):
    __tablename__ = "response"
    __table_args__ = (
        CheckConstraint("status IN ('final', 'amended', 'entered-in-error')", name="status"),
        CheckConstraint("source IN ('patient', 'clinician', 'import')", name="source"),
        # A retried submission finds its first row through this constraint.
        UniqueConstraint("idempotency_actor", "idempotency_key"),
        Index("ix_response_patient_completed", "patient_id", "completed_at", "id"),
        Index("ix_response_updated", "updated_at", "id"),
        Index("ix_response_completed", "completed_at", "id"),
        # An external identifier (e.g. a FHIR QuestionnaireResponse.identifier) names one
        # submission: a repeated create finds the first row through this constraint.
        UniqueConstraint("source_identifier_system", "source_identifier_value"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    patient_id: Mapped[int] = mapped_column(ForeignKey("patient.id"))
    instrument: Mapped[str] = mapped_column(String(32))
    instrument_version: Mapped[str] = mapped_column(String(16))
    answers: Mapped[list] = mapped_column(JSON)
    difficulty: Mapped[int | None] = mapped_column(Integer)
    total: Mapped[int] = mapped_column(Integer)
    prorated: Mapped[bool] = mapped_column(default=False)
    severity: Mapped[str] = mapped_column(String(32))
    subscales: Mapped[dict] = mapped_column(JSON)
    flags: Mapped[list] = mapped_column(JSON)
    screen_positive: Mapped[bool]
    provisional_diagnosis: Mapped[bool | None]
    completed_at: Mapped[datetime] = mapped_column(UTCDateTime)
    recorded_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    source: Mapped[str] = mapped_column(String(16))
    entered_by: Mapped[int | None] = mapped_column(ForeignKey("user.id"))
    status: Mapped[str] = mapped_column(String(20), default=ResponseStatus.FINAL.value)
    status_reason: Mapped[str | None] = mapped_column(String(1000))
    supersedes_id: Mapped[int | None] = mapped_column(ForeignKey("response.id"), unique=True)
    series_id: Mapped[int | None] = mapped_column(ForeignKey("treatment_series.id"), index=True)
    idempotency_actor: Mapped[str | None] = mapped_column(String(64))
    idempotency_key: Mapped[str | None] = mapped_column(String(200))
    # Fingerprint of the submitted body, to tell a retry from a different request.
    request_fingerprint: Mapped[str | None] = mapped_column(String(64))
    # FHIR view: one logical resource per chain of versions (the first row's id).
    chain_id: Mapped[int | None] = mapped_column(Integer, index=True)
    version: Mapped[int] = mapped_column(Integer, default=1, server_default="1")
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    entered_by_client: Mapped[int | None] = mapped_column(ForeignKey("api_client.id"))
    source_identifier_system: Mapped[str | None] = mapped_column(String(255))
    source_identifier_value: Mapped[str | None] = mapped_column(String(255))


# The newer version that replaced this response, if any (the unique supersedes_id makes it one).
_successor = aliased(Response)
Response.superseded_by_id = column_property(
    select(_successor.id)
    .where(_successor.supersedes_id == Response.id)
    .correlate_except(_successor)
    .scalar_subquery()
)
