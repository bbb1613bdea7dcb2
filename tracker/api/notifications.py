"""The outbox, for admins: what the clinic sent or tried to send, never to whom in full."""

from __future__ import annotations

import marshmallow as ma
from flask_login import login_required

from tracker.api.blueprint import ApiBlueprint
from tracker.api.fields import Id
from tracker.api.pagination import PageArgs, page_schema
from tracker.auth import access, audit
from tracker.extensions import db
from tracker.models.notification import NOTIFICATION_CHANNELS, NotificationKind
from tracker.problems import READ_PROBLEMS, documented_problems
from tracker.services import notifications as service
from tracker.services import paging

blp = ApiBlueprint(
    "notifications",
    __name__,
    url_prefix="/api/v1/notifications",
    description="Reminders and alert notifications (the outbox)",
)


class NotificationSchema(ma.Schema):
    id = Id()
    kind = ma.fields.String(metadata={"enum": [k.value for k in NotificationKind]})
    channel = ma.fields.String(metadata={"enum": list(NOTIFICATION_CHANNELS)})
    status = ma.fields.String(metadata={"enum": list(service.NOTIFICATION_STATUSES)})
    attempts = ma.fields.Integer()
    last_error = ma.fields.String(allow_none=True)
    created_at = ma.fields.AwareDateTime()
    sent_at = ma.fields.AwareDateTime(allow_none=True)
    recipient = ma.fields.Function(
        service.masked_recipient,
        metadata={"type": "string", "description": "Masked: a***@example.com; a webhook's host"},
    )


NotificationPageSchema = page_schema(NotificationSchema, "NotificationPageSchema")


class NotificationListArgs(PageArgs):
    status = ma.fields.String(validate=ma.validate.OneOf(service.NOTIFICATION_STATUSES))


@blp.route("", methods=["GET"])
@login_required
@documented_problems(blp, *READ_PROBLEMS, notes={403: "Admins only"})
@blp.arguments(NotificationListArgs, location="query")
@blp.response(200, NotificationPageSchema)
def list_notifications(args: dict) -> dict:
    """Every message of the outbox, newest first; ``?status=`` pending, sent or failed."""
    access.require_role("admin")
    page = paging.page(
        service.listing(args.get("status")), service.LIST_ORDER, args["limit"], args["cursor"]
    )
    audit.record("read", "notification")
    db.session.commit()
    return page.as_dict()
