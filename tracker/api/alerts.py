"""Safety alerts: the clinician's inbox of flagged answers and reliable deteriorations.

Which flag opens which alert is the instrument's ``alert_rules``.
"""

from __future__ import annotations

import marshmallow as ma
from flask_login import current_user, login_required

from tracker import instruments
from tracker.api.blueprint import ApiBlueprint
from tracker.api.fields import Id, StrictSchema
from tracker.api.pagination import PageArgs, page_schema
from tracker.auth import access, audit
from tracker.extensions import db
from tracker.models import Alert
from tracker.models.alert import ALERT_STATUSES
from tracker.problems import READ_PROBLEMS, WRITE_PROBLEMS, documented_problems
from tracker.services import alerts as service
from tracker.services import paging

blp = ApiBlueprint("alerts", __name__, url_prefix="/api/v1/alerts", description="Safety alerts")


class AlertSchema(ma.Schema):
    id = Id()
    patient_id = Id()
    response_id = Id()
    kind = ma.fields.String(metadata={"description": " | ".join(instruments.alert_labels())})
    priority = ma.fields.String(
        metadata={
            "description": " | ".join(instruments.ALERT_PRIORITIES)
            + ": suicidal ideation is high when PHQ-9 item 9 is 2 or more",
            "enum": list(instruments.ALERT_PRIORITIES),
        }
    )
    status = ma.fields.String()
    opened_at = ma.fields.Function(
        lambda alert: alert.created_at.isoformat(),
        metadata={"type": "string", "format": "date-time", "description": "When it was opened"},
    )
    created_at = ma.fields.AwareDateTime(metadata={"description": "The same as opened_at"})
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
    """Alerts of the patients the caller may see: high priority first, then newest opened first."""
    access.require_role("clinician", "admin")
    query = service.inbox(current_user, args.get("status"), args.get("patient_id"))
    page = paging.page(query, service.INBOX_ORDER, args["limit"], args["cursor"])
    audit.record_each("read", "alert", (a.patient_id for a in page.items))
    db.session.commit()
    return page.as_dict()


@blp.route("/<id:alert_id>/acknowledge", methods=["POST"])
@login_required
@documented_problems(blp, *WRITE_PROBLEMS)
@blp.arguments(AcknowledgeSchema, required=False)
@blp.response(200, AlertSchema)
def acknowledge_alert(data: dict, alert_id: int) -> Alert:
    """Mark an alert as seen; the first acknowledgement is kept, a repeat changes nothing."""
    alert = access.record_for(Alert, alert_id, "alert", access.CARERS)
    service.acknowledge(alert, current_user, data["note"])
    db.session.refresh(alert)
    return alert
