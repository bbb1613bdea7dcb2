"""The worker as a real process (`flask --app wsgi tracker worker`) on both databases, sending
to a real SMTP server and a real webhook receiver started by the test."""

from __future__ import annotations

import hashlib
import hmac
import json
import os
import re
import subprocess
import sys
import time
from datetime import timedelta

from sqlalchemy import select, update

from tests.helpers import PASSWORD, add_patient, submit
from tests.worker.conftest import ROOT, add_planned_series, assert_private, wait_until
from tests.worker.test_outbox import ITEM_9_HIGH, rows
from tracker.auth.users import create_user
from tracker.config import DEFAULT_CRISIS_TEXT
from tracker.extensions import db
from tracker.models import Alert, CareTeamMember, Notification, QuestionnaireLink
from tracker.models.types import utcnow
from tracker.services import links


def patients_with_open_windows(app, world, count: int) -> dict[str, int]:  # type: ignore[no-untyped-def]
    """``count`` patients with a login, each with a series whose baseline window is open now."""
    found = {}
    with app.app_context():
        for n in range(count):
            patient = add_patient(f"Synthetic Reminded {n}", [world.clinician_a_id])
            email = f"reminded.{n}@example.test"
            create_user(email, PASSWORD, "patient", patient_id=patient)
            db.session.commit()
            add_planned_series(patient, instruments=("phq9", "gad7"))
            found[email] = patient
    return found


def test_two_workers_send_each_reminder_exactly_once(
    app, world, database_url, smtp_server, start_worker
):
    patients = patients_with_open_windows(app, world, 3)
    first = start_worker(database_url, smtp_server.url)
    second = start_worker(database_url, smtp_server.url)
    smtp_server.wait_for(3, timeout=60)
    time.sleep(4)  # several more ticks of both workers: nothing is sent twice
    assert sorted(r for m in smtp_server.messages for r in m.rcpt_tos) == sorted(patients)
    sent = {row.message_id: row for row in rows(app)}
    assert len(sent) == 3 and all(row.status == "sent" for row in sent.values())
    for captured in smtp_server.messages:
        row = sent[captured.message["Message-ID"]]
        assert row.attempts == 1 and row.kind == "reminder"
        assert_private(captured.body, captured.message["Subject"])
        assert DEFAULT_CRISIS_TEXT in captured.body
        token = captured.link_token
        assert f"http://tracker.test/q/{token}" in captured.body
        with app.app_context():
            link = db.session.scalar(
                select(QuestionnaireLink).where(
                    QuestionnaireLink.token_hash == links.token_hash(token)
                )
            )
            assert link.notification_id == row.id
            assert link.patient_id == patients[captured.rcpt_tos[0]]
        for worker in (first, second):
            assert token not in worker.log()  # tokens never reach the worker's log
    assert first.terminate() == 0  # SIGTERM: a graceful stop
    assert second.terminate() == 0


def test_a_temporary_refusal_is_retried_with_the_same_message_id(
    app, world, database_url, smtp_server, start_worker, planned_series
):
    planned_series(world.patient_1)
    smtp_server.replies.append("451")
    start_worker(database_url, smtp_server.url)
    [captured] = smtp_server.wait_for(1, timeout=60)
    [row] = wait_until(lambda: [r for r in rows(app) if r.status == "sent"])
    assert smtp_server.attempts == 2
    assert row.attempts == 2 and row.last_error == "SMTP 451"
    assert captured.message["Message-ID"] == row.message_id
    time.sleep(2)
    assert len(smtp_server.messages) == 1


def test_a_permanent_refusal_is_not_retried(
    app, world, database_url, smtp_server, start_worker, planned_series
):
    planned_series(world.patient_1)
    smtp_server.replies.append("550")
    start_worker(database_url, smtp_server.url)
    [row] = wait_until(lambda: [r for r in rows(app) if r.status == "failed"], timeout=60)
    time.sleep(3)  # three more ticks
    [row] = rows(app)
    assert (row.status, row.attempts, row.last_error) == ("failed", 1, "SMTP 550")
    assert smtp_server.attempts == 1 and smtp_server.messages == []


def test_a_killed_worker_loses_nothing(
    app, world, database_url, smtp_server, start_worker, planned_series
):
    """SIGKILL while the mail server holds the delivery: after the lease, a new worker sends it."""
    planned_series(world.patient_1)
    smtp_server.replies.append("hang")
    first = start_worker(database_url, smtp_server.url, NOTIFY_LEASE_SECONDS="3")
    wait_until(lambda: smtp_server.hanging == 1, timeout=60)
    first.kill()
    [row] = rows(app)
    assert (row.status, row.attempts) == ("pending", 1)
    start_worker(database_url, smtp_server.url, NOTIFY_LEASE_SECONDS="3")
    [captured] = smtp_server.wait_for(1, timeout=60)
    [row] = wait_until(lambda: [r for r in rows(app) if r.status == "sent"])
    assert row.attempts == 2
    assert captured.message["Message-ID"] == row.message_id
    time.sleep(2)
    assert len(smtp_server.messages) == 1


def test_an_item_9_alert_emails_the_care_team_and_escalates_once(
    app, world, database_url, smtp_server, start_worker
):
    with app.app_context():
        colleague = create_user("clinician.c@example.test", PASSWORD, "clinician").id
        db.session.add(CareTeamMember(patient_id=world.patient_1, user_id=colleague))
        db.session.commit()
    assert (
        submit(world.as_patient_1(), world.patient_1, {"answers": ITEM_9_HIGH}).status_code == 201
    )
    start_worker(database_url, smtp_server.url)
    smtp_server.wait_for(2, timeout=60)
    time.sleep(2)
    recipients = sorted(r for m in smtp_server.messages for r in m.rcpt_tos)
    assert recipients == ["clinician.a@example.test", "clinician.c@example.test"]
    for captured in smtp_server.messages:
        assert "http://tracker.test/clinic/alerts" in captured.body
        assert_private(captured.body, captured.message["Subject"])
    # Unacknowledged for longer than ALERT_ESCALATE_MINUTES: the admin hears once.
    with app.app_context():
        db.session.execute(update(Alert).values(created_at=utcnow() - timedelta(hours=5)))
        db.session.commit()
    smtp_server.wait_for(3, timeout=30)
    time.sleep(3)
    assert smtp_server.to("admin@example.test") == smtp_server.messages[2:]
    assert len(smtp_server.messages) == 3
    assert smtp_server.to("clinician.b@example.test") == []


def test_the_webhook_gets_a_signed_copy(
    app, world, database_url, smtp_server, webhook_receiver, start_worker, planned_series
):
    planned_series(world.patient_1)
    webhook_receiver.statuses.append(503)  # the first POST fails; the retry succeeds
    start_worker(
        database_url,
        smtp_server.url,
        NOTIFY_WEBHOOK_URL=webhook_receiver.url,
        NOTIFY_WEBHOOK_SECRET="shared-secret",
    )
    wait_until(lambda: webhook_receiver.posts, timeout=60)
    smtp_server.wait_for(1)
    [(headers, body)] = webhook_receiver.posts
    expected = hmac.new(b"shared-secret", body, hashlib.sha256).hexdigest()
    assert headers["X-Tracker-Signature"] == f"sha256={expected}"
    assert headers["Content-Type"] == "application/json"
    payload = json.loads(body)
    assert set(payload) == {"id", "kind", "to", "text", "link"}
    assert payload["kind"] == "reminder" and payload["to"] == "patient.one@example.test"
    assert payload["link"].startswith("http://tracker.test/q/")
    assert payload["link"] in payload["text"]
    assert_private(payload["text"], "")
    hook = wait_until(lambda: [r for r in rows(app, Notification.channel == "webhook")
                               if r.status == "sent"])[0]  # fmt: skip
    assert payload["id"] == hook.message_id and hook.attempts == 2
    assert hook.recipient == webhook_receiver.url


def test_the_console_prints_each_message_with_its_link(
    app, world, database_url, start_worker, planned_series
):
    """SMTP_URL=console (development): the whole message, link included, in the worker's log."""
    planned_series(world.patient_1)
    worker = start_worker(database_url, "console")
    wait_until(lambda: "/q/" in worker.log(), timeout=60)
    [row] = wait_until(lambda: [r for r in rows(app) if r.status == "sent"])
    log = worker.log()
    assert f"Message-ID: {row.message_id}" in log and "To: patient.one@example.test" in log
    token = re.search(r"http://tracker\.test/q/([A-Za-z0-9_\-]+)", log).group(1)
    with app.app_context():
        assert (
            db.session.scalar(
                select(QuestionnaireLink.notification_id).where(
                    QuestionnaireLink.token_hash == links.token_hash(token)
                )
            )
            == row.id
        )
    assert worker.terminate() == 0


def test_the_worker_refuses_the_console_in_production(tmp_path):
    env = {k: v for k, v in os.environ.items() if k in ("PATH", "HOME", "LANG")}
    env.update(
        TRACKER_ENV="production",
        SECRET_KEY="a-real-secret",
        SMTP_URL="console",
        PUBLIC_BASE_URL="https://clinic.example",
        DATABASE_URL=f"sqlite:///{tmp_path}/x.db",
    )
    done = subprocess.run(
        [sys.executable, "-m", "flask", "--app", "wsgi", "tracker", "worker"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode != 0
    assert "SMTP_URL must name a mail server in production" in done.stderr
