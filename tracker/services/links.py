"""Questionnaire links: a password-free way into one due occurrence, and nothing else.

The token has 256 random bits and is shown once, in the message that carries
it; only its SHA-256 is stored. A link expires when its occurrence closes and
stops working once everything behind it is answered.
"""

from __future__ import annotations

import hashlib
import re
import secrets
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select

from tracker.extensions import db
from tracker.models import QuestionnaireLink, Response
from tracker.models.types import utcnow
from tracker.services import due, responses
from tracker.services.errors import Invalid, ServiceError

TOKEN_BYTES = 32  # 256 bits; the contract asks for at least 128


def token_hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def mint(
    *,
    patient_id: int,
    series_id: int,
    occurrence: str,
    expires_at: datetime,
    notification_id: int | None = None,
) -> str:
    """A new token for an occurrence, added to the current transaction (the caller commits).

    A message is minted its token when it is delivered, so the outbox never holds one;
    a retried delivery mints another token for the same occurrence, and both work.
    """
    token = secrets.token_urlsafe(TOKEN_BYTES)
    db.session.add(
        QuestionnaireLink(
            token_hash=token_hash(token),
            patient_id=patient_id,
            series_id=series_id,
            occurrence=occurrence,
            expires_at=expires_at,
            notification_id=notification_id,
        )
    )
    return token


# The shells' rate-limit counter (LINK_RATE_LIMIT): pages and API share it, one door.
RATE_LIMIT_SCOPE = "questionnaire-link"
# What a token from mint() looks like; anything else is unknown without a query.
TOKEN_SHAPE = re.compile(r"^[A-Za-z0-9_-]{16,128}$")


class LinkUnusable(ServiceError):
    """Unknown, expired or used up: one answer for all three, so a token cannot be probed."""

    status = 404

    def __init__(self) -> None:
        super().__init__("No questionnaire link with this token, or it has expired or been used.")


@dataclass(frozen=True)
class LinkGrant:
    """What a live token opens: the unanswered questionnaires of one occurrence, nothing else."""

    link_id: int
    patient_id: int
    series_id: int
    occurrence: str
    opens_at: datetime
    closes_at: datetime  # when the link stops working
    asked: tuple[str, ...]  # every instrument of the occurrence, in the plan's order
    pending: tuple[str, ...]  # those still unanswered, in the same order


def _unexpired(token: object, now: datetime) -> QuestionnaireLink | None:
    """The link row behind ``token`` if it has not expired (found by hash, never by token)."""
    if not isinstance(token, str) or not TOKEN_SHAPE.match(token):
        return None
    link = db.session.scalar(
        select(QuestionnaireLink).where(QuestionnaireLink.token_hash == token_hash(token))
    )
    if link is None or now > link.expires_at:
        return None
    return link


def _grant(link: QuestionnaireLink, now: datetime) -> LinkGrant | None:
    found = due.occurrence(link.series_id, link.occurrence, now)
    if found is None or not found.pending or found.occurrence.patient_id != link.patient_id:
        return None
    return LinkGrant(
        link_id=link.id,
        patient_id=link.patient_id,
        series_id=link.series_id,
        occurrence=link.occurrence,
        opens_at=found.occurrence.opens_at,
        closes_at=min(found.occurrence.closes_at, link.expires_at),
        asked=found.occurrence.instruments,
        pending=found.pending,
    )


def resolve(token: object, now: datetime | None = None) -> LinkGrant | None:
    """The grant of a live token; None when unknown, expired or with nothing left to answer.

    Computed from the schedule on every call, so an answer given any other way
    (the patient's own login, a clinician entering a paper form) uses the link up too.
    """
    now = now or utcnow()
    link = _unexpired(token, now)
    return None if link is None else _grant(link, now)


def require(token: object, now: datetime | None = None) -> LinkGrant:
    """:func:`resolve`, refusing with :class:`LinkUnusable` (404) instead of None."""
    grant = resolve(token, now)
    if grant is None:
        raise LinkUnusable()
    return grant


def _enterer(link_id: int) -> responses.Enterer:
    """The patient, answering through this link: not a login, so audited as the link."""
    return responses.Enterer(
        source="patient", key=f"link:{link_id}", audit_actor=("link", str(link_id))
    )


def audit_actor(grant: LinkGrant) -> tuple[str, str]:
    return ("link", str(grant.link_id))


def _earlier(link_id: int, idempotency_key: str | None) -> Response | None:
    """The response an Idempotency-Key already stored through this link (a retried request)."""
    if idempotency_key is None:
        return None
    return db.session.scalar(
        select(Response).where(
            Response.idempotency_actor == f"link:{link_id}",
            Response.idempotency_key == idempotency_key,
        )
    )


def check(token: object, idempotency_key: str | None = None, now: datetime | None = None) -> None:
    """Refuse (404) a token that can submit nothing, before its body is even read:
    the token is the credential, and a bad body must not tell a used-up link from none."""
    now = now or utcnow()
    link = _unexpired(token, now)
    if link is None or (_earlier(link.id, idempotency_key) is None and _grant(link, now) is None):
        raise LinkUnusable()


def submit(
    token: object,
    *,
    instrument: str,
    answers: list,
    completed_at: datetime | None = None,
    series_id: int | None = None,
    difficulty: int | None = None,
    instrument_version: str | None = None,
    idempotency_key: str | None = None,
    now: datetime | None = None,
) -> tuple[Response, bool]:
    """Submit one pending questionnaire of the link's occurrence; returns (row, created).

    Scored, alerting, idempotent and audited exactly as any submission
    (:func:`tracker.services.responses.submit`), stored with source "patient",
    audited with the link as the actor. Only a questionnaire still pending in
    the occurrence may be sent, inside the occurrence's window, for the link's
    series. A retry of an Idempotency-Key already used through this link is
    answered as a retry even once the link is used up (the last answer's retry).
    """
    now = now or utcnow()
    link = _unexpired(token, now)
    if link is None:
        raise LinkUnusable()
    earlier = _earlier(link.id, idempotency_key)
    if earlier is not None and completed_at is None:
        completed_at = earlier.completed_at  # "now" was then: a retry is the same request
    submission = responses.Submission(
        patient_id=link.patient_id,
        instrument=instrument,
        answers=answers,
        completed_at=completed_at or now,
        series_id=link.series_id if series_id is None else series_id,
        difficulty=difficulty,
        instrument_version=instrument_version,
    )
    enterer = _enterer(link.id)
    if earlier is not None:
        return responses.submit(submission, enterer, idempotency_key)
    grant = _grant(link, now)
    if grant is None:
        raise LinkUnusable()
    errors: dict[str, list[str]] = {}
    if instrument not in grant.pending:
        errors["instrument"] = [f"Not pending for this link; pending: {', '.join(grant.pending)}."]
    if series_id is not None and series_id != link.series_id:
        errors["series_id"] = ["Must be the link's treatment series (or left out)."]
    if completed_at is not None and not grant.opens_at <= completed_at <= grant.closes_at:
        errors["completed_at"] = ["Must be inside the questionnaire's window."]
    if errors:
        raise Invalid(errors)
    return responses.submit(submission, enterer, idempotency_key)
