"""Treatment series and their sessions: the periods a trend is judged against."""

from __future__ import annotations

import marshmallow as ma
from flask import request
from flask_login import current_user, login_required
from sqlalchemy import and_, or_, select

from tracker.api.blueprint import ApiBlueprint
from tracker.api.fields import Id, Instant, StrictSchema
from tracker.api.pagination import (
    PageArgs,
    decode_instant_cursor,
    encode_instant_cursor,
    page_schema,
)
from tracker.api.patients import PATIENT_ID
from tracker.auth import access, audit
from tracker.extensions import db
from tracker.models import TreatmentSeries, TreatmentSession
from tracker.models.series import SERIES_KINDS
from tracker.models.types import utcnow
from tracker.problems import READ_PROBLEMS, WRITE_PROBLEMS, documented_problems, fail
from tracker.services import care

blp = ApiBlueprint("series", __name__, url_prefix="/api/v1", description="Treatment series")

SERIES_ID = "<id:series_id>"


class SessionCreateSchema(StrictSchema):
    administered_at = Instant(required=True)
    dose_mg = ma.fields.Float(
        load_default=None,
        allow_none=True,
        allow_nan=False,
        validate=ma.validate.Range(min=0, max=100_000, min_inclusive=False),
        metadata={"exclusiveMinimum": True},
    )
    notes = ma.fields.String(
        load_default=None, allow_none=True, validate=ma.validate.Length(max=4000)
    )


class SessionSchema(ma.Schema):
    id = Id()
    series_id = Id()
    administered_at = ma.fields.AwareDateTime()
    dose_mg = ma.fields.Float(allow_none=True)
    notes = ma.fields.String(allow_none=True)
    created_at = ma.fields.AwareDateTime()


class SeriesFields(StrictSchema):
    label = ma.fields.String(validate=ma.validate.Length(min=1, max=200))
    kind = ma.fields.String(validate=ma.validate.OneOf(SERIES_KINDS))
    started_at = Instant()
    ended_at = Instant(allow_none=True)
    notes = ma.fields.String(allow_none=True, validate=ma.validate.Length(max=4000))

    @ma.validates_schema
    def _ends_after_start(self, data: dict, **_kwargs: object) -> None:
        started, ended = data.get("started_at"), data.get("ended_at")
        if started and ended and ended < started:
            raise ma.ValidationError({"ended_at": ["Must not be before started_at."]})


class SeriesCreateSchema(SeriesFields):
    label = ma.fields.String(required=True, validate=ma.validate.Length(min=1, max=200))
    kind = ma.fields.String(load_default="other", validate=ma.validate.OneOf(SERIES_KINDS))
    started_at = Instant(required=True)


class SeriesSchema(ma.Schema):
    id = Id()
    patient_id = Id()
    label = ma.fields.String()
    kind = ma.fields.String()
    started_at = ma.fields.AwareDateTime()
    ended_at = ma.fields.AwareDateTime(allow_none=True)
    notes = ma.fields.String(allow_none=True)
    sessions = ma.fields.List(ma.fields.Nested(SessionSchema))
    created_at = ma.fields.AwareDateTime()
    updated_at = ma.fields.AwareDateTime()


SeriesPageSchema = page_schema(SeriesSchema, "SeriesPageSchema")


def _etag(series: TreatmentSeries) -> str:
    """A strong validator from the last change, for If-Match on PATCH (no lost updates)."""
    return f'"{round(series.updated_at.timestamp() * 1_000_000)}"'


@blp.route(f"/patients/{PATIENT_ID}/series", methods=["POST"])
@login_required
@documented_problems(blp, *WRITE_PROBLEMS)
@blp.arguments(SeriesCreateSchema)
@blp.response(201, SeriesSchema)
def create_series(data: dict, patient_id: int) -> TreatmentSeries:
    """Start (or record) a treatment series for a patient."""
    patient = access.patient_for(patient_id, access.CARERS)
    series = TreatmentSeries(patient_id=patient.id, created_by=current_user.id, **data)
    db.session.add(series)
    db.session.flush()
    audit.record("create", "series", series.id, patient.id)
    db.session.commit()
    return series


@blp.route(f"/patients/{PATIENT_ID}/series", methods=["GET"])
@login_required
@documented_problems(blp, *READ_PROBLEMS, notes={422: "Invalid query"})
@blp.arguments(PageArgs, location="query")
@blp.response(200, SeriesPageSchema)
def list_series(args: dict, patient_id: int) -> dict:
    """A patient's series, oldest first, each with its sessions."""
    patient = access.patient_for(patient_id)
    query = select(TreatmentSeries).where(TreatmentSeries.patient_id == patient.id)
    if args["cursor"]:
        try:
            at, after_id = decode_instant_cursor(args["cursor"])
        except ma.ValidationError as error:
            fail(422, errors=error.messages)
        query = query.where(
            or_(
                TreatmentSeries.started_at > at,
                and_(TreatmentSeries.started_at == at, TreatmentSeries.id > after_id),
            )
        )
    limit = args["limit"]
    order = (TreatmentSeries.started_at, TreatmentSeries.id)
    rows = list(db.session.scalars(query.order_by(*order).limit(limit + 1)))
    page = rows[:limit]
    next_cursor = None
    if len(rows) > limit:
        next_cursor = encode_instant_cursor(page[-1].started_at, page[-1].id)
    audit.record_now("read", resource_type="series", patient_id=patient.id)
    return {"items": page, "next_cursor": next_cursor}


@blp.route(f"/series/{SERIES_ID}", methods=["GET"])
@login_required
@documented_problems(blp, *READ_PROBLEMS)
@blp.response(200, SeriesSchema)
def get_series(series_id: int) -> tuple[TreatmentSeries, int, dict]:
    """One series with its sessions; its ETag goes back as If-Match on PATCH."""
    series = access.record_for(TreatmentSeries, series_id, "series")
    audit.record_now("read", "series", series.id, series.patient_id)
    return series, 200, {"ETag": _etag(series)}


@blp.route(f"/series/{SERIES_ID}", methods=["PATCH"])
@login_required
@documented_problems(blp, *WRITE_PROBLEMS, notes={412: "If-Match does not match the ETag"})
@blp.arguments(SeriesFields, required=False)
@blp.response(200, SeriesSchema)
def patch_series(data: dict, series_id: int) -> tuple[TreatmentSeries, int, dict]:
    """Change a series; typically `{ended_at}` to end it (null reopens it).

    Send the ETag of your last read as If-Match: if someone changed the series
    since, the answer is 412 and nothing is overwritten.
    """
    series = access.record_for(TreatmentSeries, series_id, "series", access.CARERS)
    # Lock the row (PostgreSQL; SQLite requests already hold the write lock) and reread it.
    series = db.session.scalars(
        select(TreatmentSeries)
        .where(TreatmentSeries.id == series.id)
        .with_for_update()
        .execution_options(populate_existing=True)
    ).one()
    expected = request.headers.get("If-Match")
    if (
        expected
        and expected.strip() != "*"
        and _etag(series) not in (tag.strip() for tag in expected.split(","))
    ):
        fail(412, "The series changed since you read it; reload and try again.")
    started = data.get("started_at", series.started_at)
    ended = data.get("ended_at", series.ended_at)
    if ended is not None and ended < started:
        field = "ended_at" if "ended_at" in data else "started_at"
        fail(422, errors={field: ["ended_at must not be before started_at."]})
    if care.sessions_outside(series, started, ended):
        field = "ended_at" if "ended_at" in data else "started_at"
        fail(422, errors={field: ["A session of this series would fall outside it."]})
    for name, value in data.items():
        setattr(series, name, value)
    series.updated_at = utcnow()
    audit.record("update", "series", series.id, series.patient_id)
    db.session.commit()
    return series, 200, {"ETag": _etag(series)}


@blp.route(f"/series/{SERIES_ID}/sessions", methods=["POST"])
@login_required
@documented_problems(blp, *WRITE_PROBLEMS)
@blp.arguments(SessionCreateSchema)
@blp.response(201, SessionSchema)
def add_session(data: dict, series_id: int) -> TreatmentSession:
    """Log one infusion or visit; it must fall inside the series."""
    series = access.record_for(TreatmentSeries, series_id, "series", access.CARERS)
    at = data["administered_at"]
    if at < series.started_at or (series.ended_at is not None and at > series.ended_at):
        fail(422, errors={"administered_at": ["Must fall between the series' start and end."]})
    session = TreatmentSession(series_id=series.id, created_by=current_user.id, **data)
    db.session.add(session)
    db.session.flush()
    audit.record("create", "session", session.id, series.patient_id)
    db.session.commit()
    return session
