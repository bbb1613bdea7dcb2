"""Questionnaire submissions: submit, list, read, amend, retract."""

from __future__ import annotations

import marshmallow as ma
from flask import current_app
from flask_login import current_user, login_required
from sqlalchemy import select

from tracker import instruments
from tracker.api.blueprint import ApiBlueprint
from tracker.api.fields import Id, Instant, StrictSchema
from tracker.api.pagination import PageArgs, page_schema
from tracker.api.patients import PATIENT_ID
from tracker.auth import access, audit
from tracker.database import reads_first
from tracker.models import Response
from tracker.models.response import STATUSES
from tracker.problems import READ_PROBLEMS, WRITE_PROBLEMS, documented_problems
from tracker.services import paging
from tracker.services import responses as service

blp = ApiBlueprint(
    "responses", __name__, url_prefix="/api/v1", description="Questionnaire responses"
)

RESPONSE_ID = "<id:response_id>"
IDEMPOTENCY_HEADER = "Idempotency-Key"


class SubmissionSchema(StrictSchema):
    instrument = ma.fields.String(
        required=True,
        metadata={
            "description": "Instrument code (GET /api/v1/instruments lists them)",
            "example": instruments.codes()[0],
            "enum": list(instruments.codes()),
        },
    )
    answers = ma.fields.Raw(
        required=True,
        metadata={
            "description": "Item answers in item order; integers, null for a skipped item",
            "type": "array",
            "items": {"type": "integer", "nullable": True},
            "example": [2, 1, 3, 0, 1, 2, 1, 0, 1],
        },
    )
    completed_at = Instant(required=True, metadata={"description": "When the patient answered"})
    series_id = Id(load_default=None, allow_none=True)
    difficulty = ma.fields.Raw(
        load_default=None,
        metadata={
            "description": (
                "Only for an instrument with a difficulty question "
                f"({', '.join(i.name for i in instruments.all() if i.difficulty)}): "
                "the unscored difficulty item"
            ),
            "type": "integer",
            "nullable": True,
        },
    )


class AmendSchema(StrictSchema):
    answers = SubmissionSchema._declared_fields["answers"]
    completed_at = Instant(load_default=None)
    difficulty = SubmissionSchema._declared_fields["difficulty"]
    reason = ma.fields.String(required=True, validate=ma.validate.Length(min=1, max=1000))


class ReasonSchema(StrictSchema):
    reason = ma.fields.String(required=True, validate=ma.validate.Length(min=1, max=1000))


class SeveritySchema(ma.Schema):
    code = ma.fields.String()
    label = ma.fields.String()


class ResponseSchema(ma.Schema):
    id = Id()
    patient_id = Id()
    instrument = ma.fields.String()
    instrument_version = ma.fields.String()
    answers = ma.fields.List(ma.fields.Integer(allow_none=True))
    difficulty = ma.fields.Integer(allow_none=True)
    total = ma.fields.Integer()
    prorated = ma.fields.Boolean()
    severity = ma.fields.Method("_severity", metadata={"type": "object"})
    subscales = ma.fields.Dict(keys=ma.fields.String(), values=ma.fields.Integer())
    flags = ma.fields.List(ma.fields.String())
    screen_positive = ma.fields.Boolean()
    provisional_diagnosis = ma.fields.Boolean(allow_none=True)
    depressive_syndrome = ma.fields.Method(
        "_depressive_syndrome",
        allow_none=True,
        metadata={
            "type": "string",
            "nullable": True,
            "enum": ["major", "other", None],
            "description": (
                "PHQ-9 algorithm: major or other depressive syndrome, else null (and null for "
                "instruments without the algorithm); provisional_diagnosis is true exactly "
                "when it is major"
            ),
        },
    )
    completed_at = ma.fields.AwareDateTime()
    recorded_at = ma.fields.AwareDateTime()
    source = ma.fields.String()
    entered_by = Id(allow_none=True)
    status = ma.fields.String()
    status_reason = ma.fields.String(allow_none=True)
    series_id = Id(allow_none=True)
    supersedes = Id(attribute="supersedes_id", allow_none=True)
    superseded_by = Id(
        attribute="superseded_by_id",
        allow_none=True,
        metadata={"description": "The amendment that replaced this response, if any"},
    )

    def _depressive_syndrome(self, row: Response) -> str | None:
        # Read from the stored answers with the row's own instrument version: no stored copy
        # that could drift from the rule.
        rule = instruments.get(row.instrument, row.instrument_version).syndrome_rule
        return None if rule is None else rule(row.answers)

    def _severity(self, row: Response) -> dict:
        instrument = instruments.get(row.instrument, row.instrument_version)
        band = next(b for b in instrument.bands if b.code == row.severity)
        return {"code": band.code, "label": band.label}


class SubmittedResponseSchema(ResponseSchema):
    crisis_message = ma.fields.Method(
        "_crisis_message",
        allow_none=True,
        metadata={
            "type": "string",
            "nullable": True,
            "description": (
                "The clinic's crisis text (CRISIS_TEXT) when an answer raised a crisis flag "
                "(e.g. PHQ-9 item 9 above 0), for the app to show at once; null otherwise"
            ),
        },
    )

    def _crisis_message(self, row: Response) -> str | None:
        instrument = instruments.get(row.instrument, row.instrument_version)
        return current_app.config["CRISIS_TEXT"] if instrument.crisis(row.flags) else None


ResponsePageSchema = page_schema(ResponseSchema, "ResponsePageSchema")


def _known_instrument(code: str) -> None:
    """Any registered code, checked when the request arrives (not at import)."""
    if code not in instruments.codes():
        raise ma.ValidationError(f"Must be one of: {', '.join(instruments.codes())}.")


class ResponseListArgs(PageArgs):
    instrument = ma.fields.String(
        validate=lambda code: _known_instrument(code),
        metadata={"enum": list(instruments.codes())},
    )
    since = Instant(metadata={"description": "completed_at ≥"})
    until = Instant(metadata={"description": "completed_at ≤"})
    status = ma.fields.String(validate=ma.validate.OneOf(STATUSES))


class IdempotencyHeader(ma.Schema):
    class Meta:
        unknown = ma.EXCLUDE

    key = ma.fields.String(
        data_key=IDEMPOTENCY_HEADER,
        load_default=None,
        validate=ma.validate.Regexp(
            r"^[\x21-\x7e]{1,200}$", error="1–200 visible ASCII characters."
        ),
        metadata={"description": "Retry-safe submission: a repeat returns the first result"},
    )


@blp.route(f"/patients/{PATIENT_ID}/responses", methods=["POST"])
@reads_first  # SQLite's write lock from the service's first write, not from the login
@login_required
@documented_problems(
    blp, *WRITE_PROBLEMS, notes={409: "Idempotency-Key reused with a different body"}
)
@blp.arguments(IdempotencyHeader, location="headers", as_kwargs=True)
@blp.arguments(SubmissionSchema)
@blp.response(201, SubmittedResponseSchema)
@blp.alt_response(200, schema=SubmittedResponseSchema, description="A repeat of an Idempotency-Key")
def submit_response(data: dict, patient_id: int, key: str | None = None):  # type: ignore[no-untyped-def]
    """Submit answers; the server scores them.

    A flag with an alert rule (e.g. PHQ-9 item 9 above 0) opens an alert, as
    does a reliable worsening since the previous score.
    """
    patient = access.patient_for(patient_id)
    submission = service.Submission(patient_id=patient.id, **data)
    row, created = service.submit(submission, current_user, key)
    return row, 201 if created else 200


@blp.route(f"/patients/{PATIENT_ID}/responses", methods=["GET"])
@login_required
@documented_problems(blp, *READ_PROBLEMS, notes={422: "Invalid query"})
@blp.arguments(ResponseListArgs, location="query")
@blp.response(200, ResponsePageSchema)
def list_responses(args: dict, patient_id: int) -> dict:
    """A patient's responses, newest first, every status unless filtered."""
    patient = access.patient_for(patient_id)
    query = select(Response).where(Response.patient_id == patient.id)
    if "instrument" in args:
        query = query.where(Response.instrument == args["instrument"])
    if "status" in args:
        query = query.where(Response.status == args["status"])
    if "since" in args:
        query = query.where(Response.completed_at >= args["since"])
    if "until" in args:
        query = query.where(Response.completed_at <= args["until"])
    order = paging.Order((Response.completed_at, Response.id), descending=True)
    page = paging.page(query, order, args["limit"], args["cursor"])
    audit.record_now("read", resource_type="response", patient_id=patient.id)
    return page.as_dict()


@blp.route(f"/responses/{RESPONSE_ID}", methods=["GET"])
@login_required
@documented_problems(blp, *READ_PROBLEMS)
@blp.response(200, ResponseSchema)
def get_response(response_id: int) -> Response:
    """One response, whatever its status."""
    row = access.record_for(Response, response_id, "response")
    audit.record_now(
        "read", resource_type="response", resource_id=row.id, patient_id=row.patient_id
    )
    return row


@blp.route(f"/responses/{RESPONSE_ID}/amend", methods=["POST"])
@login_required
@documented_problems(blp, *WRITE_PROBLEMS, notes={409: "The response is no longer final"})
@blp.arguments(AmendSchema)
@blp.response(201, ResponseSchema)
def amend_response(data: dict, response_id: int) -> Response:
    """Correct answers: a new response supersedes this one, which becomes amended."""
    original = access.record_for(Response, response_id, "response", access.CARERS)
    return service.amend(original, actor=current_user, **data)


@blp.route(f"/responses/{RESPONSE_ID}/entered-in-error", methods=["POST"])
@login_required
@documented_problems(blp, *WRITE_PROBLEMS, notes={409: "An amended response cannot be retracted"})
@blp.arguments(ReasonSchema)
@blp.response(200, ResponseSchema)
def retract_response(data: dict, response_id: int) -> Response:
    """Mark a mistaken entry: still readable, left out of trends."""
    row = access.record_for(Response, response_id, "response", access.CARERS)
    return service.mark_entered_in_error(row, data["reason"])
