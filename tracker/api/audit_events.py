"""The audit trail, for admins: who read or changed which patient's data, and when."""

from __future__ import annotations

import marshmallow as ma
from flask_login import login_required
from sqlalchemy import select

from tracker.api.blueprint import ApiBlueprint
from tracker.api.fields import Id, Instant
from tracker.api.pagination import PageArgs, page_schema
from tracker.auth import access, audit
from tracker.models import AuditEvent
from tracker.problems import READ_PROBLEMS, documented_problems
from tracker.services import paging

blp = ApiBlueprint("audit", __name__, url_prefix="/api/v1/audit-events", description="Audit")


class ActorSchema(ma.Schema):
    type = ma.fields.String(metadata={"description": "user | client | anonymous | system"})
    id = ma.fields.String(allow_none=True)


class AuditEventSchema(ma.Schema):
    id = Id()
    at = ma.fields.AwareDateTime()
    actor = ma.fields.Method("_actor", metadata={"type": "object"})
    action = ma.fields.String()
    resource_type = ma.fields.String(allow_none=True)
    resource_id = ma.fields.String(allow_none=True)
    patient_id = Id(allow_none=True)
    outcome = ma.fields.String()
    remote_addr = ma.fields.String(allow_none=True)
    request_id = ma.fields.String(allow_none=True)
    detail = ma.fields.String(allow_none=True)

    def _actor(self, event: AuditEvent) -> dict:
        return {"type": event.actor_type, "id": event.actor_id}


AuditEventPageSchema = page_schema(AuditEventSchema, "AuditEventPageSchema")


class AuditEventArgs(PageArgs):
    patient_id = Id()
    actor_id = ma.fields.String(validate=ma.validate.Length(min=1, max=64))
    actor_type = ma.fields.String(
        validate=ma.validate.OneOf(("user", "client", "link", "anonymous", "system"))
    )
    action = ma.fields.String(validate=ma.validate.Length(min=1, max=32))
    resource_type = ma.fields.String(validate=ma.validate.Length(min=1, max=40))
    since = Instant(metadata={"description": "at ≥"})
    until = Instant(metadata={"description": "at ≤"})


FILTERS = {
    "patient_id": AuditEvent.patient_id,
    "actor_id": AuditEvent.actor_id,
    "actor_type": AuditEvent.actor_type,
    "action": AuditEvent.action,
    "resource_type": AuditEvent.resource_type,
}


@blp.route("", methods=["GET"])
@login_required
@documented_problems(blp, *READ_PROBLEMS, notes={403: "Admins only", 422: "Invalid query"})
@blp.arguments(AuditEventArgs, location="query")
@blp.response(200, AuditEventPageSchema)
def list_audit_events(args: dict) -> dict:
    """Newest first; reading the trail is itself recorded."""
    access.require_role("admin")
    query = select(AuditEvent)
    for name, column in FILTERS.items():
        if name in args:
            query = query.where(column == args[name])
    if "since" in args:
        query = query.where(AuditEvent.at >= args["since"])
    if "until" in args:
        query = query.where(AuditEvent.at <= args["until"])
    order = paging.Order((AuditEvent.id,), descending=True)
    page = paging.page(query, order, args["limit"], args["cursor"])
    audit.record_now("read", resource_type="audit_event")
    return page.as_dict()
