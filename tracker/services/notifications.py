"""The outbox: reminders, alert notifications and escalations, written first and delivered later.

Every message is a ``notification`` row before it is anything else: an alert's
rows commit in the alert's own transaction, reminders and escalations are
added by the worker's tick. Rows are inserted with ``INSERT … ON CONFLICT
(dedupe_key) DO NOTHING``, so however many workers tick at once, one event
makes one row per recipient and channel (the database decides, not a read
before the write).

Delivery is in three short transactions, none held open while a message is
on the wire:

1. ``claim``: ``UPDATE … SET lease_until = now + lease, attempts = attempts + 1
   WHERE id = ? AND status = 'pending' AND next_attempt_at <= now AND (lease_until
   IS NULL OR lease_until < now)``. One worker's UPDATE matches (rowcount 1), every
   other worker's does not. The lease is the claim's fencing token.
2. ``deliver`` begins by confirming the lease is still the one it was handed
   (compare-and-set, which also renews it) and, for a reminder, mints the
   questionnaire link in that same transaction: the outbox never holds a token.
3. The message goes out; then the row becomes ``sent``, or waits for a retry
   (exponential backoff, stopping 24 h after the row was created, then
   ``failed``), or is ``failed`` at once on a permanent refusal. Each attempt's
   outcome is audited.

A worker killed mid-delivery leaves a lease that expires; the row is then
claimed again. Delivery is therefore at least once; the stable ``message_id``
lets a receiver drop a repeat.

What a message says is :func:`render`: the clinic's name, a link and, for
patients, the crisis text. Never a name, score, diagnosis or questionnaire name.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta
from urllib.parse import urlsplit

from flask import current_app, has_request_context, request
from sqlalchemy import Select, exists, or_, select, update
from sqlalchemy.dialects import postgresql, sqlite

from tracker.auth import audit
from tracker.channels import Channel, DeliveryFailed, Message, email_channel, webhook_channel
from tracker.database import sqlite_write_lock
from tracker.extensions import db
from tracker.models import Alert, CareTeamMember, Notification, Patient, User
from tracker.models.alert import AlertStatus
from tracker.models.notification import NotificationKind, NotificationStatus
from tracker.models.types import utcnow
from tracker.services import due, links
from tracker.services.paging import Order

Kind = NotificationKind
Status = NotificationStatus
NOTIFICATION_STATUSES = tuple(s.value for s in NotificationStatus)
LIST_ORDER = Order((Notification.created_at, Notification.id), descending=True)

GIVE_UP_AFTER = timedelta(hours=24)  # retries stop this long after the row was created
LAST_REMINDER_BEFORE = timedelta(hours=24)
LAST_REMINDER_MIN_WINDOW = timedelta(days=2)
CLAIM_BATCH = 100
SYSTEM = ("system", None)
DEVELOPMENT_BASE_URL = "http://127.0.0.1:5000"  # `flask run`'s default address


# --- creating rows -----------------------------------------------------------------------


def new_message_id() -> str:
    return f"<{uuid.uuid4().hex}@tracker>"


def _insert(rows: list[dict]) -> int:
    """Insert rows whose dedupe_key is new; a key already there is left alone. Returns added."""
    if not rows:
        return 0
    webhook = current_app.config.get("NOTIFY_WEBHOOK_URL")
    if webhook:
        rows = rows + [
            row
            | {
                "channel": "webhook",
                "recipient": webhook,
                "dedupe_key": row["dedupe_key"].rsplit(":", 1)[0] + ":webhook",
            }
            for row in rows
        ]
    now = utcnow()
    values = [
        {
            "status": Status.PENDING.value,
            "attempts": 0,
            "next_attempt_at": now,
            "created_at": now,
            "message_id": new_message_id(),
        }
        | row
        for row in rows
    ]
    dialect = db.engine.dialect.name
    insert = postgresql.insert if dialect == "postgresql" else sqlite.insert
    table = Notification.__table__
    statement = (
        insert(table).on_conflict_do_nothing(index_elements=["dedupe_key"]).returning(table.c.id)
    )
    # One row at a time: RETURNING then says exactly which were new.
    return sum(len(db.session.execute(statement.values(**value)).all()) for value in values)


def alert_opened(alert: Alert) -> int:
    """One email per active clinician on the patient's care team, in the alert's transaction.

    Called right after the alert is flushed; the caller commits both together.
    """
    clinicians = db.session.execute(
        select(User.id, User.email)
        .join(CareTeamMember, CareTeamMember.user_id == User.id)
        .where(
            CareTeamMember.patient_id == alert.patient_id,
            User.role == "clinician",
            User.active.is_(True),
        )
        .order_by(User.id)
    ).all()
    return _insert(
        [
            {
                "kind": Kind.ALERT.value,
                "channel": "email",
                "recipient": email,
                "user_id": user_id,
                "patient_id": alert.patient_id,
                "alert_id": alert.id,
                "dedupe_key": f"alert:{alert.id}:{user_id}:email",
            }
            for user_id, email in clinicians
        ]
    )


def reminder_kind(opens_at: datetime, closes_at: datetime, now: datetime) -> str:
    """``last_reminder`` in the last 24 h of a window of at least 2 days, else ``reminder``.

    An occurrence first seen in its last day gets only the last reminder, not two at once.
    """
    long_window = closes_at - opens_at >= LAST_REMINDER_MIN_WINDOW
    if long_window and now >= closes_at - LAST_REMINDER_BEFORE:
        return Kind.LAST_REMINDER.value
    return Kind.REMINDER.value


def queue_reminders(now: datetime | None = None) -> int:
    """Rows for every occurrence open now with something unanswered (reminders "on").

    Only a patient with an active login has an address; a patient with none gets nothing.
    """
    now = now or utcnow()
    found = due.open_occurrences(now)
    if not found:
        return 0
    patient_ids = sorted({o.occurrence.patient_id for o in found})
    users = dict(
        db.session.execute(
            select(User.patient_id, User).where(
                User.patient_id.in_(patient_ids), User.role == "patient", User.active.is_(True)
            )
        )
        .tuples()
        .all()
    )
    rows = []
    for item in found:
        occurrence = item.occurrence
        user = users.get(occurrence.patient_id)
        if user is None or not user.email:
            continue
        kind = reminder_kind(occurrence.opens_at, occurrence.closes_at, now)
        when = "last" if kind == Kind.LAST_REMINDER else "open"
        rows.append(
            {
                "kind": kind,
                "channel": "email",
                "recipient": user.email,
                "user_id": user.id,
                "patient_id": occurrence.patient_id,
                "series_id": occurrence.series_id,
                "occurrence": occurrence.key,
                "link_expires_at": occurrence.closes_at,
                "dedupe_key": f"reminder:{occurrence.key}:{when}:email",
            }
        )
    return _insert(rows)


def queue_escalations(now: datetime | None = None) -> int:
    """Each high alert still open ALERT_ESCALATE_MINUTES after it opened: once to each admin."""
    now = now or utcnow()
    minutes = current_app.config["ALERT_ESCALATE_MINUTES"]
    already = exists().where(
        Notification.alert_id == Alert.id, Notification.kind == Kind.ESCALATION.value
    )
    alerts = db.session.execute(
        select(Alert.id, Alert.patient_id).where(
            Alert.status == AlertStatus.OPEN,
            Alert.priority == "high",
            Alert.created_at <= now - timedelta(minutes=minutes),
            ~already,
        )
    ).all()
    if not alerts:
        return 0
    admins = db.session.execute(
        select(User.id, User.email).where(User.role == "admin", User.active.is_(True))
    ).all()
    return _insert(
        [
            {
                "kind": Kind.ESCALATION.value,
                "channel": "email",
                "recipient": email,
                "user_id": user_id,
                "patient_id": patient_id,
                "alert_id": alert_id,
                "dedupe_key": f"escalation:{alert_id}:{user_id}:email",
            }
            for alert_id, patient_id in alerts
            for user_id, email in admins
        ]
    )


def add_due_rows(now: datetime | None = None) -> int:
    """The tick's writing half: reminders, then escalations, in one transaction."""
    now = now or utcnow()
    with sqlite_write_lock():  # reads then writes: take SQLite's lock at BEGIN
        try:
            added = queue_reminders(now) + queue_escalations(now)
            db.session.commit()
        except Exception:
            db.session.rollback()
            raise
    return added


# --- delivering ----------------------------------------------------------------------------


def claimable(now: datetime | None = None, limit: int = CLAIM_BATCH) -> list[int]:
    """Rows waiting for an attempt now, oldest first (a hint: :func:`claim` decides)."""
    now = now or utcnow()
    return list(
        db.session.scalars(
            select(Notification.id)
            .where(*_claimable_now(now))
            .order_by(Notification.next_attempt_at, Notification.id)
            .limit(limit)
        )
    )


def _claimable_now(now: datetime) -> list:
    return [
        Notification.status == Status.PENDING.value,
        Notification.next_attempt_at <= now,
        or_(Notification.lease_until.is_(None), Notification.lease_until < now),
    ]


def _lease() -> timedelta:
    return timedelta(seconds=current_app.config["NOTIFY_LEASE_SECONDS"])


def claim(notification_id: int, now: datetime | None = None) -> datetime | None:
    """Take the row for one attempt; the lease (its fencing token) if this worker won, else None."""
    now = now or utcnow()
    lease_until = now + _lease()
    won = db.session.execute(
        update(Notification)
        .where(Notification.id == notification_id, *_claimable_now(now))
        .values(lease_until=lease_until, attempts=Notification.attempts + 1)
    ).rowcount
    db.session.commit()
    return lease_until if won == 1 else None


def claim_due(now: datetime | None = None, limit: int = CLAIM_BATCH) -> list[tuple[int, datetime]]:
    """Claim what is waiting now; each (id, lease) is this worker's alone to deliver."""
    claimed = []
    for notification_id in claimable(now, limit):
        lease = claim(notification_id, now)
        if lease is not None:
            claimed.append((notification_id, lease))
    db.session.rollback()  # end the read transaction
    return claimed


def retry_at(
    attempts: int, created_at: datetime, now: datetime, first: timedelta
) -> datetime | None:
    """When to try again after ``attempts`` failed tries; None once 24 h have passed.

    The wait doubles (``first``, 2×, 4×…) up to an hour, and never runs past the 24 h
    deadline: the last try is at the deadline itself.
    """
    deadline = created_at + GIVE_UP_AFTER
    if now >= deadline:
        return None
    wait = min(first * 2 ** max(attempts - 1, 0), timedelta(hours=1))
    return min(now + wait, deadline)


@dataclass(frozen=True)
class Outcome:
    """What one delivery did: ``sent``, ``retry``, ``failed`` or ``skipped`` (not ours)."""

    result: str
    reason: str | None = None


def deliver(notification_id: int, lease: datetime) -> Outcome:
    """Send one claimed row; ``lease`` is the claim's. A stale claim does nothing."""
    prepared = _prepare(notification_id, lease)
    if isinstance(prepared, Outcome):
        return prepared
    message, row = prepared
    try:
        _channel(row).send(message)
    except DeliveryFailed as failure:
        return _failed(row, failure)
    return _sent(row)


@dataclass(frozen=True)
class _Row:
    id: int
    kind: str
    channel: str
    patient_id: int | None
    attempts: int
    created_at: datetime


def _prepare(notification_id: int, lease: datetime) -> tuple[Message, _Row] | Outcome:
    """Confirm the claim (renewing its lease) and render the message; a reminder's link is
    minted here, in the transaction that confirms the attempt."""
    with sqlite_write_lock():
        try:
            renewed = db.session.execute(
                update(Notification)
                .where(
                    Notification.id == notification_id,
                    Notification.status == Status.PENDING.value,
                    Notification.lease_until == lease,
                )
                .values(lease_until=utcnow() + _lease())
            ).rowcount
            if renewed != 1:
                db.session.rollback()
                return Outcome("skipped", "the claim is no longer this worker's")
            row = db.session.get(Notification, notification_id, populate_existing=True)
            assert row is not None
            facts = _Row(
                row.id, row.kind, row.channel, row.patient_id, row.attempts, row.created_at
            )
            obsolete = _obsolete(row)
            if obsolete:
                _finish(facts, Status.FAILED, obsolete, "failure")
                db.session.commit()
                return Outcome("failed", obsolete)
            message = _message(row)
            db.session.commit()
        except Exception:
            db.session.rollback()
            raise
    return message, facts


def _obsolete(row: Notification) -> str | None:
    """A reminder whose occurrence has closed, or has nothing left to answer, is not sent."""
    if row.kind not in (Kind.REMINDER, Kind.LAST_REMINDER):
        return None
    assert row.series_id is not None and row.occurrence is not None
    found = due.occurrence(row.series_id, row.occurrence)
    if found is None or not found.pending:
        return "not sent: nothing left to answer"
    patient = db.session.get(Patient, row.patient_id)
    if patient is None or patient.reminders != "on":
        return "not sent: reminders turned off"
    return None


def _message(row: Notification) -> Message:
    config = current_app.config
    if row.kind in (Kind.REMINDER, Kind.LAST_REMINDER):
        assert row.patient_id and row.series_id and row.occurrence and row.link_expires_at
        token = links.mint(
            patient_id=row.patient_id,
            series_id=row.series_id,
            occurrence=row.occurrence,
            expires_at=row.link_expires_at,
            notification_id=row.id,
        )
        link = f"{link_base()}/q/{token}"
    else:
        link = f"{link_base()}/clinic/alerts"
    subject, text = render(
        row.kind,
        clinic=config["CLINIC_NAME"],
        link=link,
        crisis_text=config["CRISIS_TEXT"],
        closes_at=row.link_expires_at,
        escalate_minutes=config["ALERT_ESCALATE_MINUTES"],
    )
    to = row.recipient
    if row.channel == "webhook":  # the row's recipient is the webhook; "to" is the person
        user = db.session.get(User, row.user_id) if row.user_id else None
        to = user.email if user is not None else ""
    return Message(row.message_id, row.kind, to, subject, text, link)


def _channel(row: _Row) -> Channel:
    config = current_app.config
    # A send must end well inside the lease, or another worker could claim the row meanwhile.
    timeout = max(1.0, min(30.0, config["NOTIFY_LEASE_SECONDS"] / 3))
    if row.channel == "webhook":
        return webhook_channel(
            config["NOTIFY_WEBHOOK_URL"], config["NOTIFY_WEBHOOK_SECRET"], timeout
        )
    return email_channel(config["SMTP_URL"], config["MAIL_FROM"], timeout)


def _sent(row: _Row) -> Outcome:
    with sqlite_write_lock():
        _finish(row, Status.SENT, None, "success")
        db.session.commit()
    return Outcome("sent")


def _failed(row: _Row, failure: DeliveryFailed) -> Outcome:
    now = utcnow()
    first = timedelta(seconds=current_app.config["NOTIFY_RETRY_SECONDS"])
    later = None if failure.permanent else retry_at(row.attempts, row.created_at, now, first)
    with sqlite_write_lock():
        if later is None:
            reason = (
                failure.reason if failure.permanent else f"{failure.reason}; gave up after 24 h"
            )
            _finish(row, Status.FAILED, reason, "failure")
            result = "failed"
        else:
            db.session.execute(
                update(Notification)
                .where(Notification.id == row.id, Notification.status == Status.PENDING.value)
                .values(next_attempt_at=later, lease_until=None, last_error=failure.reason)
            )
            _audit(row, "failure", failure.reason + "; will retry")
            result = "retry"
        db.session.commit()
    return Outcome(result, failure.reason)


def _finish(row: _Row, status: Status, error: str | None, outcome: str) -> None:
    values: dict = {"status": status.value, "lease_until": None}
    if error is not None:
        values["last_error"] = error
    if status == Status.SENT:  # last_error stays: why it took more than one attempt
        values["sent_at"] = utcnow()
    db.session.execute(
        update(Notification)
        .where(Notification.id == row.id, Notification.status == Status.PENDING.value)
        .values(**values)
    )
    _audit(row, outcome, error)


def _audit(row: _Row, outcome: str, reason: str | None) -> None:
    """One event per attempt; the detail names the kind and channel, never the address."""
    detail = f"{row.kind} by {row.channel}, attempt {row.attempts}"
    if reason:
        detail += f": {reason}"
    audit.record(
        "notify",
        "notification",
        row.id,
        row.patient_id,
        outcome=outcome,
        actor=SYSTEM,
        detail=detail[:500],
    )


# --- what a message says ---------------------------------------------------------------------


def link_base() -> str:
    """PUBLIC_BASE_URL; in development without it, this request's host, else the development
    server's address (``make run`` sets PUBLIC_BASE_URL). The worker refuses to start in
    production without it."""
    configured = current_app.config.get("PUBLIC_BASE_URL")
    if configured:
        return configured.rstrip("/")
    if has_request_context():
        return request.host_url.rstrip("/")
    return DEVELOPMENT_BASE_URL


def render(
    kind: str,
    *,
    clinic: str,
    link: str,
    crisis_text: str,
    closes_at: datetime | None = None,
    escalate_minutes: int = 240,
) -> tuple[str, str]:
    """(subject, text) of a message. Only the clinic's name, the link and, for patients, the
    crisis text: nothing that says who the message is about or what they answered."""
    until = f" The link works until {closes_at:%d %B %Y, %H:%M} UTC." if closes_at else ""
    if kind == Kind.REMINDER:
        subject = f"{clinic}: questions ready for you"
        body = (
            f"{clinic} has a few questions ready for you. Please answer them here:\n\n"
            f"{link}\n\n{until.strip()}"
        )
    elif kind == Kind.LAST_REMINDER:
        subject = f"{clinic}: a reminder, questions still waiting"
        body = (
            f"A reminder from {clinic}: some questions are still waiting for you. "
            f"Please answer them here:\n\n{link}\n\n{until.strip()}"
        )
    elif kind == Kind.ALERT:
        subject = f"{clinic}: a new alert needs review"
        body = f"A new alert is waiting in the {clinic} alerts inbox:\n\n{link}"
    elif kind == Kind.ESCALATION:
        hours = escalate_minutes / 60
        span = f"{hours:g} hours" if hours >= 1 else f"{escalate_minutes} minutes"
        subject = f"{clinic}: a high-priority alert is unacknowledged"
        body = (
            f"A high-priority alert in {clinic} has not been acknowledged for more than "
            f"{span}. Please make sure someone reviews it:\n\n{link}"
        )
    else:
        raise ValueError(f"unknown notification kind {kind!r}")
    if kind in (Kind.REMINDER, Kind.LAST_REMINDER):
        body += f"\n\n{crisis_text}"
    body += f"\n\nThis message was sent by {clinic}. Please do not reply to it.\n"
    return subject, body


# --- the admins' list ---------------------------------------------------------------------------


def listing(status: str | None = None) -> Select:
    """Every row, newest first (LIST_ORDER), optionally of one status."""
    query = select(Notification)
    if status is not None:
        query = query.where(Notification.status == status)
    return query


def masked_recipient(row: Notification) -> str:
    """``a***@example.com``; a webhook's host only. Admins see that a message went, not to whom."""
    if row.channel == "webhook":
        return urlsplit(row.recipient).hostname or ""
    local, _at, domain = row.recipient.partition("@")
    return f"{local[:1]}***@{domain}" if domain else "***"
