"""Questionnaire links for apps: what a link still asks for, and answering it.

The token in the path is the only credential: no login, no session, no CSRF
header (a cross-site request cannot know the token). The rules are in
:mod:`tracker.services.links`; an unknown, expired or used-up token is one
and the same 404.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import wraps
from typing import Any

import marshmallow as ma
from flask import current_app, request

from tracker import instruments
from tracker.api.blueprint import ApiBlueprint
from tracker.api.fields import Instant
from tracker.api.openapi import PUBLIC
from tracker.api.responses import (
    IDEMPOTENCY_HEADER,
    IdempotencyHeader,
    SubmissionSchema,
    SubmittedResponseSchema,
)
from tracker.auth import audit
from tracker.extensions import limiter
from tracker.problems import documented_problems
from tracker.services import links as service

blp = ApiBlueprint(
    "links",
    __name__,
    url_prefix="/api/v1/links",
    description="Questionnaire links: a patient answers without a password",
)

TOKEN = "<token>"
UNUSABLE = "Unknown, expired or used-up token (one answer for all three)"


def link_rate_limit():  # type: ignore[no-untyped-def]
    """LINK_RATE_LIMIT per address, counted with the /q pages' requests."""
    return limiter.shared_limit(
        lambda: current_app.config["LINK_RATE_LIMIT"], scope=service.RATE_LIMIT_SCOPE
    )


def token_first(view: Callable[..., Any]) -> Callable[..., Any]:
    """An unusable token is a 404 whatever the body: checked before the body is parsed."""

    @wraps(view)
    def wrapped(*args: Any, **kwargs: Any) -> Any:
        service.check(kwargs.get("token"), request.headers.get(IDEMPOTENCY_HEADER))
        return view(*args, **kwargs)

    return wrapped


class LinkSchema(ma.Schema):
    closes_at = ma.fields.AwareDateTime(
        metadata={"description": "When the link stops working (the window closes)"}
    )
    pending = ma.fields.List(
        ma.fields.String(metadata={"enum": list(instruments.codes())}),
        metadata={"description": "Instrument codes still to answer, in the plan's order"},
    )


class LinkSubmissionSchema(SubmissionSchema):
    """The body of a normal submission; ``completed_at`` defaults to now."""

    completed_at = Instant(
        load_default=None,
        metadata={"description": "When the patient answered (default: now); inside the window"},
    )


@blp.route(f"/{TOKEN}", methods=["GET"], endpoint="Link")
@blp.doc(security=PUBLIC)
@link_rate_limit()
@documented_problems(blp, 503, notes={404: UNUSABLE, 429: "Rate limited (see Retry-After)"})
@blp.response(200, LinkSchema)
def read_link(token: str) -> dict:
    """What the link still asks for; no login (the token is the credential)."""
    grant = service.require(token)
    audit.record_now(
        "read",
        "questionnaire_link",
        grant.link_id,
        grant.patient_id,
        actor=service.audit_actor(grant),
    )
    return {"closes_at": grant.closes_at, "pending": list(grant.pending)}


@blp.route(f"/{TOKEN}/responses", methods=["POST"], endpoint="LinkResponses")
@blp.doc(security=PUBLIC)
@link_rate_limit()
@documented_problems(
    blp,
    400,
    413,
    415,
    422,
    503,
    notes={
        404: UNUSABLE,
        409: "Idempotency-Key reused with a different body",
        429: "Rate limited (see Retry-After)",
    },
)
@token_first
@blp.arguments(IdempotencyHeader, location="headers", as_kwargs=True)
@blp.arguments(LinkSubmissionSchema)
@blp.response(201, SubmittedResponseSchema)
@blp.alt_response(200, schema=SubmittedResponseSchema, description="A repeat of an Idempotency-Key")
def submit_link_response(data: dict, token: str, key: str | None = None):  # type: ignore[no-untyped-def]
    """Answer one questionnaire the link still asks for; scored like any submission.

    Stored with source "patient" and audited with the link as the actor; an
    instrument the link does not ask for (or no longer) is a 422 naming
    ``instrument``. ``crisis_message`` as in the normal submission.
    """
    row, created = service.submit(token, idempotency_key=key, **data)
    return row, 201 if created else 200
