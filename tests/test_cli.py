"""The operator commands: create-user and demo."""

from __future__ import annotations

import json

from sqlalchemy import func, select

from tests.helpers import login
from tracker.extensions import db
from tracker.models import Patient, Response, User


def test_create_user_prints_json_and_can_log_in(app):
    runner = app.test_cli_runner()
    result = runner.invoke(
        args=[
            "tracker",
            "create-user",
            "--email",
            "New.Clinician@example.test",
            "--role",
            "clinician",
        ],
        env={"TRACKER_PASSWORD": "a long enough password"},
    )
    assert result.exit_code == 0, result.output
    user = json.loads(result.output)
    assert user["email"] == "new.clinician@example.test" and user["role"] == "clinician"
    login(app, "new.clinician@example.test", "a long enough password")


def test_create_user_refuses_weak_or_duplicate(app):
    runner = app.test_cli_runner()
    base = ["tracker", "create-user", "--email", "x@example.test", "--role", "admin"]
    assert runner.invoke(args=[*base, "--password", "short"]).exit_code != 0
    assert runner.invoke(args=[*base, "--password", "x@example.test"]).exit_code != 0
    assert runner.invoke(args=[*base, "--password", "long enough pass"]).exit_code == 0
    assert runner.invoke(args=[*base, "--password", "long enough pass"]).exit_code != 0
    patient_without_link = [
        "tracker",
        "create-user",
        "--email",
        "p@example.test",
        "--role",
        "patient",
        "--password",
        "long enough pass",
    ]
    assert runner.invoke(args=patient_without_link).exit_code != 0
    with app.app_context():
        assert db.session.scalar(select(func.count()).select_from(User)) == 1


def test_demo_is_idempotent_and_scores_its_answers(app):
    runner = app.test_cli_runner()
    first = runner.invoke(args=["tracker", "demo"])
    assert first.exit_code == 0, first.output
    with app.app_context():
        counts = [
            db.session.scalar(select(func.count()).select_from(m))
            for m in (User, Patient, Response)
        ]
    second = runner.invoke(args=["tracker", "demo"])
    assert second.exit_code == 0, second.output
    with app.app_context():
        again = [
            db.session.scalar(select(func.count()).select_from(m))
            for m in (User, Patient, Response)
        ]
    assert counts == again
    assert counts[0] >= 4 and counts[1] >= 4 and counts[2] >= 40
    assert "clinician" in first.output
