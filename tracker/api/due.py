"""Due questionnaires: a patient's schedule and the clinic's worklist, from the plans."""

from __future__ import annotations

from typing import Any

import marshmallow as ma
from flask_login import current_user, login_required

from tracker.api.blueprint import ApiBlueprint
from tracker.api.fields import Id, Instant, StrictSchema
from tracker.api.pagination import PageArgs, page_schema
from tracker.api.patients import PATIENT_ID
from tracker.auth import access, audit
from tracker.extensions import db
from tracker.problems import READ_PROBLEMS, documented_problems
from tracker.scheduling import STATUSES, DueItem
from tracker.services import due as service

blp = ApiBlueprint(
    "due", __name__, url_prefix="/api/v1", description="Due questionnaires (measurement plans)"
)


_ONE = "(" + "|".join(STATUSES) + ")"


class StatusList(ma.fields.String):
    """A comma-separated subset of the due statuses: ``due,missed``."""

    def __init__(self, **kwargs: Any) -> None:
        metadata = {"pattern": f"^{_ONE}(,{_ONE})*$", **kwargs.pop("metadata", {})}
        super().__init__(metadata=metadata, **kwargs)

    def _deserialize(self, value: Any, attr: str | None, data: Any, **kwargs: Any) -> set[str]:
        text = super()._deserialize(value, attr, data, **kwargs)
        chosen = {part.strip() for part in text.split(",") if part.strip()}
        unknown = sorted(chosen - set(STATUSES))
        if not chosen or unknown:
            raise ma.ValidationError(f"Give a comma-separated list of: {', '.join(STATUSES)}.")
        return chosen


class DueItemSchema(ma.Schema):
    id = ma.fields.String(metadata={"description": "Stable: series, entry, repeat, instrument"})
    patient_id = Id()
    series_id = Id()
    plan_id = Id()
    label = ma.fields.String()
    instrument = ma.fields.String()
    opens_at = ma.fields.AwareDateTime()
    closes_at = ma.fields.AwareDateTime()
    status = ma.fields.String(metadata={"enum": list(STATUSES)})
    response_id = Id(allow_none=True)


class DueListSchema(ma.Schema):
    items = ma.fields.List(ma.fields.Nested(DueItemSchema))


DuePageSchema = page_schema(DueItemSchema, "DuePageSchema")


class PatientDueArgs(StrictSchema):
    status = StatusList(
        load_default=None,
        metadata={"description": "Comma-separated: " + ",".join(STATUSES) + " (default: all)"},
    )


class WorklistArgs(PageArgs):
    status = StatusList(
        load_default=None,
        metadata={
            "description": f"Comma-separated: {','.join(STATUSES)}",
            "default": ",".join(service.WORKLIST_DEFAULT),
        },
    )
    patient_id = Id()
    since = Instant(metadata={"description": "Items opening at or after this instant"})
    until = Instant(metadata={"description": "Items opening at or before this instant"})


@blp.route(f"/patients/{PATIENT_ID}/due", methods=["GET"])
@login_required
@documented_problems(blp, *READ_PROBLEMS, notes={422: "Invalid status"})
@blp.arguments(PatientDueArgs, location="query")
@blp.response(200, DueListSchema)
def patient_due(args: dict, patient_id: int) -> dict[str, list[DueItem]]:
    """Every questionnaire the patient's plans ask for, ordered by opening then instrument."""
    patient = access.patient_for(patient_id)
    items = service.for_patient(patient.id, args["status"])
    audit.record_now("read", resource_type="due", patient_id=patient.id)
    return {"items": items}


@blp.route("/due", methods=["GET"])
@login_required
@documented_problems(blp, *READ_PROBLEMS, notes={403: "Patients have no worklist"})
@blp.arguments(WorklistArgs, location="query")
@blp.response(200, DuePageSchema)
def worklist(args: dict) -> dict:
    """What is due or missed for the caller's patients, by opening instant, then patient."""
    access.require_role("clinician", "admin")
    page = service.worklist(
        current_user,
        statuses=args["status"] or service.WORKLIST_DEFAULT,
        patient_id=args.get("patient_id"),
        since=args.get("since"),
        until=args.get("until"),
        limit=args["limit"],
        cursor=args["cursor"],
    )
    audit.record_each("read", "due", (item.patient_id for item in page.items))
    db.session.commit()
    return page.as_dict()
