"""Treatment series and their sessions: the periods a trend is judged against."""

from __future__ import annotations

import marshmallow as ma
from flask import request
from flask_login import current_user, login_required
from sqlalchemy import select

from tracker.api.blueprint import ApiBlueprint
from tracker.api.fields import Id, Instant, StrictSchema
from tracker.api.pagination import PageArgs, page_schema
from tracker.api.patients import PATIENT_ID
from tracker.auth import access, audit
from tracker.models import TreatmentSeries, TreatmentSession
from tracker.models.series import SERIES_KINDS
from tracker.problems import READ_PROBLEMS, WRITE_PROBLEMS, documented_problems
from tracker.services import paging
from tracker.services import series as service

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
    plan_id = Id(
        allow_none=True,
        metadata={"description": "The measurement plan (not a retired one); null removes it"},
    )


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
    plan_id = Id(allow_none=True)
    sessions = ma.fields.List(ma.fields.Nested(SessionSchema))
    created_at = ma.fields.AwareDateTime()
    updated_at = ma.fields.AwareDateTime()


SeriesPageSchema = page_schema(SeriesSchema, "SeriesPageSchema")


@blp.route(f"/patients/{PATIENT_ID}/series", methods=["POST"])
@login_required
@documented_problems(blp, *WRITE_PROBLEMS)
@blp.arguments(SeriesCreateSchema)
@blp.response(201, SeriesSchema)
def create_series(data: dict, patient_id: int) -> TreatmentSeries:
    """Start (or record) a treatment series for a patient."""
    patient = access.patient_for(patient_id, access.CARERS)
    return service.start(current_user, patient, **data)


@blp.route(f"/patients/{PATIENT_ID}/series", methods=["GET"])
@login_required
@documented_problems(blp, *READ_PROBLEMS, notes={422: "Invalid query"})
@blp.arguments(PageArgs, location="query")
@blp.response(200, SeriesPageSchema)
def list_series(args: dict, patient_id: int) -> dict:
    """A patient's series, oldest first, each with its sessions."""
    patient = access.patient_for(patient_id)
    query = select(TreatmentSeries).where(TreatmentSeries.patient_id == patient.id)
    order = paging.Order((TreatmentSeries.started_at, TreatmentSeries.id))
    page = paging.page(query, order, args["limit"], args["cursor"])
    audit.record_now("read", resource_type="series", patient_id=patient.id)
    return page.as_dict()


@blp.route(f"/series/{SERIES_ID}", methods=["GET"])
@login_required
@documented_problems(blp, *READ_PROBLEMS)
@blp.response(200, SeriesSchema)
def get_series(series_id: int) -> tuple[TreatmentSeries, int, dict]:
    """One series with its sessions; its ETag goes back as If-Match on PATCH."""
    series = access.record_for(TreatmentSeries, series_id, "series")
    audit.record_now("read", "series", series.id, series.patient_id)
    return series, 200, {"ETag": service.etag(series)}


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
    series = service.change(series, data, request.headers.get("If-Match"))
    return series, 200, {"ETag": service.etag(series)}


@blp.route(f"/series/{SERIES_ID}/sessions", methods=["POST"])
@login_required
@documented_problems(blp, *WRITE_PROBLEMS)
@blp.arguments(SessionCreateSchema)
@blp.response(201, SessionSchema)
def add_session(data: dict, series_id: int) -> TreatmentSession:
    """Log one infusion or visit; it must fall inside the series."""
    series = access.record_for(TreatmentSeries, series_id, "series", access.CARERS)
    return service.log_session(current_user, series, **data)
