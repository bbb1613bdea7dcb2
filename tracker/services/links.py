"""Questionnaire links: a password-free way into one due occurrence, and nothing else.

The token has 256 random bits and is shown once, in the message that carries
it; only its SHA-256 is stored. A link expires when its occurrence closes and
stops working once everything behind it is answered.
"""

from __future__ import annotations

import hashlib
import secrets
from datetime import datetime

from tracker.extensions import db
from tracker.models import QuestionnaireLink

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
