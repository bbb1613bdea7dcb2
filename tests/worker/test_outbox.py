"""The outbox as a service, on both databases: rows made once, claimed once, retried by the rules.

Delivery here goes to a real SMTP server (aiosmtpd) in the test; the worker process
itself is tested in test_worker_process.py.
"""

from __future__ import annotations

import re
from datetime import timedelta

import pytest
from sqlalchemy import func, select, update

from tests.helpers import PASSWORD, add_patient, audit_events, submit
from tests.worker.conftest import add_planned_series, assert_private
from tracker import tasks
from tracker.auth.users import create_user
from tracker.extensions import db
from tracker.models import Alert, AuditEvent, Notification, Patient, QuestionnaireLink, User
from tracker.models.types import utcnow
from tracker.services import links, notifications
from tracker.services import responses as response_service

ITEM_9_HIGH = [1, 1, 1, 1, 1, 1, 1, 1, 2]  # item 9 = 2: a high-priority alert


def rows(app, *where) -> list[Notification]:  # type: ignore[no-untyped-def]
    with app.app_context():
        found = list(
            db.session.scalars(select(Notification).where(*where).order_by(Notification.id))
        )
        db.session.expunge_all()
        return found


def tick(app, now=None) -> int:  # type: ignore[no-untyped-def]
    with app.app_context():
        return notifications.add_due_rows(now)


# --- reminders --------------------------------------------------------------------------------


def test_a_tick_twice_makes_one_reminder(app, world, planned_series):
    planned = planned_series(world.patient_1)
    assert tick(app) == 1
    assert tick(app) == 0
    [row] = rows(app)
    assert (row.kind, row.channel, row.status, row.attempts) == ("reminder", "email", "pending", 0)
    assert row.dedupe_key == f"reminder:{planned.occurrence}:open:email"
    assert row.recipient == "patient.one@example.test"
    assert (row.series_id, row.occurrence) == (planned.series_id, planned.occurrence)
    assert row.link_expires_at == planned.closes_at
    assert re.fullmatch(r"<[0-9a-f]{32}@tracker>", row.message_id)


def test_no_reminder_when_reminders_are_off(app, world, planned_series):
    planned_series(world.patient_1)
    with app.app_context():
        db.session.execute(
            update(Patient).where(Patient.id == world.patient_1).values(reminders="off")
        )
        db.session.commit()
    assert tick(app) == 0
    assert rows(app) == []


def test_a_patient_without_a_login_gets_no_reminder(app, world, planned_series):
    planned_series(world.patient_2)  # patient 2 has no user
    assert tick(app) == 0
    assert rows(app) == []


def test_a_disabled_patient_login_gets_no_reminder(app, world, planned_series):
    planned_series(world.patient_1)
    with app.app_context():
        db.session.execute(
            update(User).where(User.patient_id == world.patient_1).values(active=False)
        )
        db.session.commit()
    assert tick(app) == 0


def test_last_reminder_for_a_long_window_in_its_last_day(app, world, planned_series):
    # A 3-day window opened an hour ago: the opening reminder only.
    planned = planned_series(world.patient_1, window_days=3)
    tick(app)
    assert [r.kind for r in rows(app)] == ["reminder"]
    # 24 h before it closes, still unanswered: one last reminder, once.
    later = planned.closes_at - timedelta(hours=23)
    assert tick(app, later) == 1
    assert tick(app, later + timedelta(hours=1)) == 0
    assert [(r.kind, r.dedupe_key) for r in rows(app)] == [
        ("reminder", f"reminder:{planned.occurrence}:open:email"),
        ("last_reminder", f"reminder:{planned.occurrence}:last:email"),
    ]


def test_no_last_reminder_for_a_short_window(app, world, planned_series):
    planned = planned_series(world.patient_1, window_days=1)
    tick(app, planned.closes_at - timedelta(hours=2))
    assert [r.kind for r in rows(app)] == ["reminder"]


def test_a_long_window_first_seen_in_its_last_day_gets_only_the_last_reminder(
    app, world, planned_series
):
    planned_series(world.patient_1, window_days=2, opened=timedelta(hours=30))
    tick(app)
    assert [r.kind for r in rows(app)] == ["last_reminder"]


def test_no_last_reminder_once_answered(app, world, planned_series):
    planned = planned_series(world.patient_1, window_days=3)
    tick(app)
    answered = submit(
        world.as_patient_1(),
        world.patient_1,
        {
            "answers": [0] * 9,
            "completed_at": utcnow().isoformat(),
            "series_id": str(planned.series_id),
        },
    )
    assert answered.status_code == 201, answered.json
    assert tick(app, planned.closes_at - timedelta(hours=12)) == 0
    assert [r.kind for r in rows(app)] == ["reminder"]


# --- alert notifications and escalation ---------------------------------------------------------


def test_an_item_9_alert_emails_each_care_team_clinician_in_its_transaction(app, world):
    with app.app_context():
        extra = create_user("clinician.c@example.test", PASSWORD, "clinician")
        gone = create_user("clinician.d@example.test", PASSWORD, "clinician")
        gone.active = False
        from tracker.models import CareTeamMember

        db.session.add_all(
            [
                CareTeamMember(patient_id=world.patient_1, user_id=extra.id),
                CareTeamMember(patient_id=world.patient_1, user_id=gone.id),
            ]
        )
        db.session.commit()
        extra_id = extra.id
    created = submit(world.as_patient_1(), world.patient_1, {"answers": ITEM_9_HIGH})
    assert created.status_code == 201
    alert_rows = rows(app, Notification.kind == "alert")
    with app.app_context():
        alert = db.session.scalar(select(Alert))
        assert alert.priority == "high"
        assert {(r.user_id, r.recipient, r.alert_id) for r in alert_rows} == {
            (world.clinician_a_id, "clinician.a@example.test", alert.id),
            (extra_id, "clinician.c@example.test", alert.id),
        }  # not clinician B (other team), not the disabled one, not the admin
        assert all(r.dedupe_key == f"alert:{alert.id}:{r.user_id}:email" for r in alert_rows)


def test_alert_rows_roll_back_with_the_alert(app, world, monkeypatch):
    """Written in the alert's transaction: when the submission fails, neither exists."""

    def broken(*args, **kwargs):  # type: ignore[no-untyped-def]
        raise RuntimeError("audit unavailable")

    with app.test_request_context():
        monkeypatch.setattr(response_service.audit, "record", broken)
        submission = response_service.Submission(
            patient_id=world.patient_1,
            instrument="phq9",
            answers=ITEM_9_HIGH,
            completed_at=utcnow(),
        )
        clinician = db.session.get(User, world.clinician_a_id)
        with pytest.raises(RuntimeError):
            response_service.submit(submission, clinician)
        db.session.rollback()
        monkeypatch.undo()
        assert db.session.scalar(select(func.count()).select_from(Alert)) == 0
        assert db.session.scalar(select(func.count()).select_from(Notification)) == 0


def test_a_high_alert_left_open_escalates_once_to_each_admin(app, world):
    submit(world.as_patient_1(), world.patient_1, {"answers": ITEM_9_HIGH})
    with app.app_context():
        second_admin = create_user("admin.two@example.test", PASSWORD, "admin").id
        db.session.commit()
        opened = db.session.scalar(select(Alert.created_at))
    minutes = app.config["ALERT_ESCALATE_MINUTES"]
    assert minutes == 240
    assert tick(app, opened + timedelta(minutes=minutes - 1)) == 0
    assert tick(app, opened + timedelta(minutes=minutes + 1)) == 2
    assert tick(app, opened + timedelta(minutes=minutes + 60)) == 0
    escalations = rows(app, Notification.kind == "escalation")
    assert sorted(r.user_id for r in escalations) == sorted([world.admin_id, second_admin])


def test_routine_or_acknowledged_alerts_do_not_escalate(app, world):
    submit(world.as_patient_1(), world.patient_1, {"answers": [1, 1, 1, 1, 1, 1, 1, 1, 1]})
    later = utcnow() + timedelta(hours=5)
    with app.app_context():
        assert db.session.scalar(select(Alert.priority)) == "routine"
    assert tick(app, later) == 0
    submit(world.as_patient_1(), world.patient_1, {"answers": ITEM_9_HIGH})
    alert_id = [a for a in world.as_admin().get("/api/v1/alerts").json["items"]][0]["id"]
    world.as_clinician_a().post(f"/api/v1/alerts/{alert_id}/acknowledge", json={})
    assert tick(app, later) == 0


# --- claiming and delivering ----------------------------------------------------------------------


def configure(app, **settings) -> None:  # type: ignore[no-untyped-def]
    app.config.update(settings)
    tasks.configure(app, immediate=True)


def test_a_claim_is_one_workers_until_its_lease_expires(app, world, planned_series):
    planned_series(world.patient_1)
    tick(app)
    with app.app_context():
        [row_id] = notifications.claimable()
        now = utcnow()
        lease = notifications.claim(row_id, now)
        assert lease == now + timedelta(seconds=300)
        assert notifications.claim(row_id, now) is None  # a second worker gets nothing
        assert notifications.claimable(now + timedelta(seconds=299)) == []
        after = now + timedelta(seconds=301)  # the first worker died: claimable again
        assert notifications.claim(row_id, after) is not None
        # The first claim's task, run late, is stale and does nothing.
        assert notifications.deliver(row_id, lease).result == "skipped"
        assert db.session.get(Notification, row_id).attempts == 2


def test_delivery_sends_a_link_and_nothing_identifying(app, world, planned_series, smtp_server):
    configure(app, SMTP_URL=smtp_server.url, PUBLIC_BASE_URL="https://clinic.example")
    planned = planned_series(world.patient_1, instruments=("phq9", "gad7"))
    with app.app_context():
        assert tasks.tick.call_local() == 1
    [captured] = smtp_server.wait_for(1)
    [row] = rows(app)
    assert (row.status, row.attempts, row.last_error) == ("sent", 1, None)
    assert row.sent_at is not None and row.lease_until is None
    assert captured.rcpt_tos == ["patient.one@example.test"]
    assert captured.message["Message-ID"] == row.message_id
    body = captured.body
    assert f"https://clinic.example/q/{captured.link_token}" in body
    assert app.config["CLINIC_NAME"] in body and app.config["CRISIS_TEXT"] in body
    assert_private(body, captured.message["Subject"])
    with app.app_context():
        link = db.session.scalar(select(QuestionnaireLink))
        assert link.token_hash == links.token_hash(captured.link_token)
        assert (link.notification_id, link.occurrence) == (row.id, planned.occurrence)
        assert link.expires_at == planned.closes_at
    [event] = audit_events(app, AuditEvent.action == "notify")
    assert (event.resource_type, event.resource_id, event.outcome) == (
        "notification",
        str(row.id),
        "success",
    )
    assert (event.actor_type, event.actor_id, event.patient_id) == ("system", None, world.patient_1)
    assert "@" not in event.detail and captured.link_token not in event.detail


def test_a_temporary_refusal_retries_with_the_same_message_id(
    app, world, planned_series, smtp_server
):
    configure(app, SMTP_URL=smtp_server.url, NOTIFY_RETRY_SECONDS=60)
    planned_series(world.patient_1)
    smtp_server.replies.extend(["451"])
    with app.app_context():
        tasks.tick.call_local()
        [row] = db.session.scalars(select(Notification)).all()
        assert (row.status, row.attempts, row.last_error) == ("pending", 1, "SMTP 451")
        assert row.lease_until is None
        assert timedelta(seconds=55) < row.next_attempt_at - utcnow() <= timedelta(seconds=60)
        assert tasks.tick.call_local() == 0  # not before its time
        db.session.execute(update(Notification).values(next_attempt_at=utcnow()))
        db.session.commit()
        assert tasks.tick.call_local() == 1
        db.session.refresh(row)
        assert (row.status, row.attempts) == ("sent", 2)
    [captured] = smtp_server.messages
    assert captured.message["Message-ID"] == row.message_id
    outcomes = [e.outcome for e in audit_events(app, AuditEvent.action == "notify")]
    assert outcomes == ["failure", "success"]


def test_a_permanent_refusal_fails_at_once(app, world, planned_series, smtp_server):
    configure(app, SMTP_URL=smtp_server.url)
    planned_series(world.patient_1)
    smtp_server.replies.extend(["550"])
    with app.app_context():
        tasks.tick.call_local()
        tasks.tick.call_local()
    [row] = rows(app)
    assert (row.status, row.attempts, row.last_error) == ("failed", 1, "SMTP 550")
    assert smtp_server.attempts == 1


def test_retries_stop_24_hours_after_the_row_was_made(app, world, planned_series, smtp_server):
    configure(app, SMTP_URL=smtp_server.url)
    planned_series(world.patient_1)
    tick(app)
    with app.app_context():
        db.session.execute(
            update(Notification).values(created_at=utcnow() - timedelta(hours=24, minutes=1))
        )
        db.session.commit()
    smtp_server.replies.extend(["451"])
    with app.app_context():
        tasks.tick.call_local()
    [row] = rows(app)
    assert row.status == "failed"
    assert row.last_error == "SMTP 451; gave up after 24 h"


def test_a_server_that_is_down_is_a_temporary_failure(app, world, planned_series):
    from tests.worker.conftest import free_port

    configure(app, SMTP_URL=f"smtp://127.0.0.1:{free_port()}")
    planned_series(world.patient_1)
    with app.app_context():
        tasks.tick.call_local()
    [row] = rows(app)
    assert (row.status, row.last_error) == ("pending", "SMTP connection refused")


def test_a_reminder_answered_before_delivery_is_not_sent(app, world, planned_series, smtp_server):
    configure(app, SMTP_URL=smtp_server.url)
    planned = planned_series(world.patient_1)
    tick(app)
    done = submit(
        world.as_patient_1(),
        world.patient_1,
        {
            "answers": [0] * 9,
            "completed_at": utcnow().isoformat(),
            "series_id": str(planned.series_id),
        },
    )
    assert done.status_code == 201
    with app.app_context():
        tasks.tick.call_local()
    [row] = rows(app)
    assert (row.status, row.last_error) == ("failed", "not sent: nothing left to answer")
    assert smtp_server.attempts == 0
    with app.app_context():
        assert db.session.scalar(select(func.count()).select_from(QuestionnaireLink)) == 0


def test_alert_emails_link_to_the_alerts_inbox(app, world, smtp_server):
    configure(app, SMTP_URL=smtp_server.url, PUBLIC_BASE_URL="https://clinic.example")
    submit(world.as_patient_1(), world.patient_1, {"answers": ITEM_9_HIGH})
    with app.app_context():
        tasks.tick.call_local()
    [captured] = smtp_server.wait_for(1)
    assert captured.rcpt_tos == ["clinician.a@example.test"]
    assert "https://clinic.example/clinic/alerts" in captured.body
    assert app.config["CRISIS_TEXT"] not in captured.body
    assert "Synthetic" not in captured.body and "suicid" not in captured.body.lower()


# --- the backoff --------------------------------------------------------------------------------


def test_backoff_doubles_up_to_an_hour_and_stops_at_24_hours():
    created = utcnow()
    first = timedelta(seconds=60)
    waits = [notifications.retry_at(n, created, created, first) - created for n in range(1, 10)]
    assert [w.total_seconds() for w in waits] == [60, 120, 240, 480, 960, 1920, 3600, 3600, 3600]
    late = created + timedelta(hours=23, minutes=50)
    assert notifications.retry_at(9, created, late, first) == created + timedelta(hours=24)
    assert notifications.retry_at(9, created, created + timedelta(hours=24), first) is None


# --- the admins' list ----------------------------------------------------------------------------


def test_the_list_is_for_admins_with_masked_recipients(app, world, planned_series):
    app.config.update(NOTIFY_WEBHOOK_URL="https://hooks.example.org/tracker/x?k=1")
    app.config.update(NOTIFY_WEBHOOK_SECRET="s3cret")
    planned_series(world.patient_1)
    tick(app)
    submit(world.as_patient_1(), world.patient_1, {"answers": ITEM_9_HIGH})
    assert len(rows(app)) == 4  # reminder and alert, each by email and by webhook
    admin = world.as_admin()
    page = admin.get("/api/v1/notifications")
    assert page.status_code == 200, page.json
    items = page.json["items"]
    assert [(i["kind"], i["channel"]) for i in items] == [
        ("alert", "webhook"),
        ("alert", "email"),
        ("reminder", "webhook"),
        ("reminder", "email"),
    ]  # newest first
    assert {i["recipient"] for i in items} == {
        "hooks.example.org",
        "c***@example.test",
        "p***@example.test",
    }
    assert set(items[0]) == {
        "id", "kind", "channel", "status", "attempts", "last_error", "created_at", "sent_at",
        "recipient",
    }  # fmt: skip
    assert "example.test" not in str([i for i in items if i["channel"] == "webhook"])
    first = admin.get("/api/v1/notifications?limit=3").json
    rest = admin.get(f"/api/v1/notifications?limit=3&cursor={first['next_cursor']}").json
    assert [i["id"] for i in first["items"] + rest["items"]] == [i["id"] for i in items]
    assert rest["next_cursor"] is None
    assert admin.get("/api/v1/notifications?status=sent").json["items"] == []
    assert len(admin.get("/api/v1/notifications?status=pending").json["items"]) == 4
    bad = admin.get("/api/v1/notifications?status=lost")
    assert bad.status_code == 422 and "status" in str(bad.json)
    assert world.as_clinician_a().get("/api/v1/notifications").status_code == 403
    assert world.as_patient_1().get("/api/v1/notifications").status_code == 403
    assert app.test_client().get("/api/v1/notifications").status_code == 401


def test_a_patient_added_later_is_reminded_without_touching_others(app, world, planned_series):
    with app.app_context():
        newcomer = add_patient("Synthetic Newcomer", [world.clinician_a_id])
        create_user("newcomer@example.test", PASSWORD, "patient", patient_id=newcomer)
        db.session.commit()
        add_planned_series(world.patient_1)
    tick(app)
    planned_series(newcomer)
    tick(app)
    assert sorted(r.recipient for r in rows(app)) == [
        "newcomer@example.test",
        "patient.one@example.test",
    ]
