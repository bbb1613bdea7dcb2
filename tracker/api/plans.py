"""Measurement plans: which questionnaires a patient answers when, around a series."""

from __future__ import annotations

import marshmallow as ma
from flask_login import current_user, login_required

from tracker import instruments
from tracker.api.blueprint import ApiBlueprint
from tracker.api.fields import Id, StrictSchema
from tracker.api.pagination import PageArgs, page_schema
from tracker.auth import access
from tracker.extensions import db
from tracker.models import MeasurementPlan
from tracker.problems import READ_PROBLEMS, WRITE_PROBLEMS, documented_problems, fail
from tracker.scheduling import ANCHORS
from tracker.scheduling.plans import MAX_ENTRIES, OFFSET_DAYS, WINDOW_DAYS
from tracker.services import paging
from tracker.services import plans as service

blp = ApiBlueprint(
    "measurement_plans",
    __name__,
    url_prefix="/api/v1/measurement-plans",
    description="Measurement plans: when a patient answers which questionnaires",
)


def _instrument_list(description: str | None = None, **kwargs) -> ma.fields.List:
    metadata = {"uniqueItems": True, "minItems": 1}
    if description:
        metadata["description"] = description
    return ma.fields.List(
        ma.fields.String(metadata={"enum": list(instruments.codes())}),
        metadata=metadata,
        **kwargs,
    )


class EntrySchema(StrictSchema):
    """Types only; every rule (ranges, anchors, repeats) is tracker.scheduling.plan_errors."""

    label = ma.fields.String(required=True)
    anchor = ma.fields.String(required=True, metadata={"enum": list(ANCHORS)})
    offset_days = ma.fields.Integer(
        required=True,
        strict=True,
        metadata={"minimum": OFFSET_DAYS[0], "maximum": OFFSET_DAYS[1]},
    )
    window_days = ma.fields.Integer(
        required=True,
        strict=True,
        metadata={"minimum": WINDOW_DAYS[0], "maximum": WINDOW_DAYS[1]},
    )
    instruments = _instrument_list(
        "Default: the plan's instruments", load_default=None, allow_none=True
    )
    repeat_every_days = ma.fields.Integer(
        load_default=None,
        allow_none=True,
        strict=True,
        metadata={"minimum": 1, "description": "Only with anchor series_start"},
    )


class PlanCreateSchema(StrictSchema):
    name = ma.fields.String(required=True)
    instruments = _instrument_list(required=True)
    entries = ma.fields.List(
        ma.fields.Nested(EntrySchema), required=True, metadata={"maxItems": MAX_ENTRIES}
    )


class PlanSchema(ma.Schema):
    id = Id()
    name = ma.fields.String()
    instruments = ma.fields.List(ma.fields.String())
    entries = ma.fields.List(ma.fields.Nested(EntrySchema))
    retired = ma.fields.Boolean()
    retired_at = ma.fields.AwareDateTime(allow_none=True)
    created_at = ma.fields.AwareDateTime()


PlanPageSchema = page_schema(PlanSchema, "PlanPageSchema")


class PlanListArgs(PageArgs):
    include_retired = ma.fields.Boolean(
        load_default=False, metadata={"description": "1 to list retired plans too"}
    )


def _plan(plan_id: int) -> MeasurementPlan:
    plan = db.session.get(MeasurementPlan, plan_id)
    if plan is None:
        fail(404, "No such measurement plan.")
    return plan


@blp.route("", methods=["POST"])
@login_required
@documented_problems(blp, *WRITE_PROBLEMS, notes={403: "Only admins create plans"})
@blp.arguments(PlanCreateSchema)
@blp.response(201, PlanSchema)
def create_plan(data: dict) -> MeasurementPlan:
    """Create a plan; it can never be edited afterwards (retire it and make a new one)."""
    access.require_role("admin")
    return service.create(current_user, **data)


@blp.route("", methods=["GET"])
@login_required
@documented_problems(blp, *READ_PROBLEMS, notes={403: "Patients do not read plans"})
@blp.arguments(PlanListArgs, location="query")
@blp.response(200, PlanPageSchema)
def list_plans(args: dict) -> dict:
    """The plans a series may take, oldest first (retired ones with include_retired=1)."""
    access.require_role("clinician", "admin")
    query = service.listing(args["include_retired"])
    return paging.page(query, service.LIST_ORDER, args["limit"], args["cursor"]).as_dict()


@blp.route("/<id:plan_id>", methods=["GET"])
@login_required
@documented_problems(blp, *READ_PROBLEMS, notes={403: "Patients do not read plans"})
@blp.response(200, PlanSchema)
def get_plan(plan_id: int) -> MeasurementPlan:
    """One plan, retired or not (series that use a retired plan keep it)."""
    access.require_role("clinician", "admin")
    return _plan(plan_id)


@blp.route("/<id:plan_id>/retire", methods=["POST"])
@login_required
@documented_problems(blp, *WRITE_PROBLEMS, notes={403: "Only admins retire plans"})
@blp.response(200, PlanSchema)
def retire_plan(plan_id: int) -> MeasurementPlan:
    """No new series may take the plan; series that have it keep it. Repeating is harmless."""
    access.require_role("admin")
    return service.retire(_plan(plan_id))
