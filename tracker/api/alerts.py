"""Safety alerts: the clinician's inbox of suicidality and reliable-deterioration flags."""

from __future__ import annotations

import marshmallow as ma
from flask_login import current_user, login_required
from sqlalchemy import select

from tracker.api.blueprint import ApiBlueprint
from tracker.api.fields import Id, StrictSchema
from tracker.api.pagination import PageArgs, decode_cursor, encode_cursor, page_schema
from tracker.auth import access, audit
from tracker.extensions import db
from tracker.models import Alert, Patient
from tracker.problems import READ_PROBLEMS, WRITE_PROBLEMS, documented_problems, fail
from tracker.services import care

blp = ApiBlueprint("alerts", __name__, url_prefix="/api/v1/alerts", description="Safety alerts")

ALERT_STATUSES = ("open", "acknowledged")


class AlertSchema(ma.Schema):
    id = Id()
    patient_id = Id()
    response_id = Id()
    kind = ma.fields.String(metadata={"description": "suicidal_ideation | reliable_deterioration"})
    status = ma.fields.String()
    created_at = ma.fields.AwareDateTime()
    acknowledged_by = Id(allow_none=True)
    acknowledged_at = ma.fields.AwareDateTime(allow_none=True)
    note = ma.fields.String(allow_none=True)


AlertPageSchema = page_schema(AlertSchema, "AlertPageSchema")


class AlertListArgs(PageArgs):
    status = ma.fields.String(validate=ma.validate.OneOf(ALERT_STATUSES))
    patient_id = Id()


class AcknowledgeSchema(StrictSchema):
    note = ma.fields.String(
        load_default=None, allow_none=True, validate=ma.validate.Length(max=2000)
    )


@blp.route("", methods=["GET"])
@login_required
@documented_problems(blp, *READ_PROBLEMS, notes={403: "Patients have no alert inbox"})
@blp.arguments(AlertListArgs, location="query")
@blp.response(200, AlertPageSchema)
def list_alerts(args: dict) -> dict:
    """Alerts of the patients the caller may see, newest first."""
    access.require_role("clinician", "admin")
    visible = select(Patient.id).where(access.visible_patients_clause(current_user))
    query = select(Alert).where(Alert.patient_id.in_(visible))
    if "status" in args:
        query = query.where(Alert.status == args["status"])
    if "patient_id" in args:
        query = query.where(Alert.patient_id == args["patient_id"])
    if args["cursor"]:
        try:
            (before_id,) = decode_cursor(args["cursor"], (int,))
        except ma.ValidationError as error:
            fail(422, errors=error.messages)
        query = query.where(Alert.id < before_id)
    limit = args["limit"]
    rows = list(db.session.scalars(query.order_by(Alert.id.desc()).limit(limit + 1)))
    page = rows[:limit]
    for patient_id in sorted({a.patient_id for a in page}):
        audit.record("read", "alert", patient_id=patient_id)
    db.session.commit()
    return {
        "items": page,
        "next_cursor": encode_cursor([page[-1].id]) if len(rows) > limit else None,
    }


@blp.route("/<id:alert_id>/acknowledge", methods=["POST"])
@login_required
@documented_problems(blp, *WRITE_PROBLEMS)
@blp.arguments(AcknowledgeSchema, required=False)
@blp.response(200, AlertSchema)
def acknowledge_alert(data: dict, alert_id: int) -> Alert:
    """Mark an alert as seen; the first acknowledgement is kept, a repeat changes nothing."""
    alert = access.record_for(Alert, alert_id, "alert", access.CARERS)
    care.acknowledge(alert, current_user.id, data["note"])
    db.session.refresh(alert)
    return alert
