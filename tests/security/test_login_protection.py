"""Lockout after repeated failures, rate limits, session revocation, password policy."""

from __future__ import annotations

import pytest

from tests.conftest import make_app
from tests.helpers import PASSWORD, audit_events, login
from tracker.auth.users import UserInvalid, create_user
from tracker.config import ConfigError
from tracker.models import AuditEvent

LOGIN = "/api/v1/auth/login"


def attempt(app, email, password):
    return app.test_client().post(LOGIN, json={"email": email, "password": password})


def test_lockout_after_five_failures_even_with_the_right_password(world):
    app = world.app
    for _ in range(4):
        assert attempt(app, "clinician.a@example.test", "wrong password!").status_code == 401
    fifth = attempt(app, "clinician.a@example.test", "wrong password!")
    assert fifth.status_code == 401
    locked = attempt(app, "clinician.a@example.test", PASSWORD)
    assert locked.status_code == 429
    assert 0 < int(locked.headers["Retry-After"]) <= 900
    assert locked.content_type == "application/problem+json"
    events = audit_events(app, AuditEvent.action == "account_locked")
    assert [(e.actor_id, e.outcome) for e in events] == [(str(world.clinician_a_id), "locked")]
    # Another account is not affected.
    assert attempt(app, "clinician.b@example.test", PASSWORD).status_code == 200


def test_unknown_emails_lock_the_same_way(world):
    for _ in range(5):
        assert attempt(world.app, "ghost@example.test", "wrong password!").status_code == 401
    assert attempt(world.app, "ghost@example.test", "wrong password!").status_code == 429


def test_success_resets_the_failure_count(world):
    app = world.app
    for _ in range(4):
        attempt(app, "admin@example.test", "wrong password!")
    assert attempt(app, "admin@example.test", PASSWORD).status_code == 200
    for _ in range(4):
        assert attempt(app, "admin@example.test", "wrong password!").status_code == 401
    assert attempt(app, "admin@example.test", PASSWORD).status_code == 200


def test_lockout_expires(world):
    from tracker.extensions import db
    from tracker.models import LoginThrottle
    from tracker.models.types import utcnow

    for _ in range(5):
        attempt(world.app, "admin@example.test", "wrong password!")
    assert attempt(world.app, "admin@example.test", PASSWORD).status_code == 429
    with world.app.app_context():
        for row in db.session.query(LoginThrottle).all():
            row.locked_until = utcnow()
        db.session.commit()
    assert attempt(world.app, "admin@example.test", PASSWORD).status_code == 200


def test_rate_limit_on_login_and_token(database_url):
    app = make_app(
        database_url,
        RATELIMIT_ENABLED=True,
        LOGIN_RATE_LIMIT="3/minute",
        TOKEN_RATE_LIMIT="2/minute",
    )
    statuses = [attempt(app, f"x{i}@example.test", "wrong password!").status_code for i in range(4)]
    assert statuses == [401, 401, 401, 429]
    token = [
        app.test_client().post("/api/v1/oauth/token", data={"grant_type": "x"}).status_code
        for _ in range(3)
    ]
    assert token == [400, 400, 429]


def test_logout_ends_this_login_only(world):
    """The infusion-room tablet logs out; the clinician's desktop stays logged in."""
    desktop = login(world.app, "clinician.a@example.test")
    tablet = login(world.app, "clinician.a@example.test")
    stolen = tablet.client.get_cookie("session").value
    assert tablet.post("/api/v1/auth/logout").status_code == 204
    assert tablet.get("/api/v1/auth/me").status_code == 401
    assert desktop.get("/api/v1/auth/me").status_code == 200
    # A copy of the logged-out cookie does not work anywhere.
    replay = world.app.test_client()
    replay.set_cookie("session", stolen)
    assert replay.get("/api/v1/auth/me").status_code == 401
    # Logging out twice, or from the other device, changes nothing for the first.
    assert desktop.get("/api/v1/patients").status_code == 200


def _logins(world, count: int = 2) -> list:  # type: ignore[no-untyped-def]
    return [login(world.app, "clinician.a@example.test") for _ in range(count)]


def test_a_password_change_ends_every_login(world):
    logins = _logins(world)
    runner = world.app.test_cli_runner()
    changed = runner.invoke(
        args=["tracker", "set-password", "--email", "Clinician.A@example.test"],
        env={"TRACKER_PASSWORD": "a brand new passphrase"},
    )
    assert changed.exit_code == 0, changed.output
    assert [api.get("/api/v1/auth/me").status_code for api in logins] == [401, 401]
    assert attempt(world.app, "clinician.a@example.test", PASSWORD).status_code == 401
    fresh = attempt(world.app, "clinician.a@example.test", "a brand new passphrase")
    assert fresh.status_code == 200
    refused = runner.invoke(
        args=[
            "tracker",
            "set-password",
            "--email",
            "clinician.a@example.test",
            "--password",
            "short",
        ]
    )
    assert refused.exit_code != 0 and "12 characters" in refused.output


def test_disabling_a_user_ends_every_login_and_refuses_new_ones(world):
    logins = _logins(world)
    runner = world.app.test_cli_runner()
    off = runner.invoke(args=["tracker", "disable-user", "--email", "clinician.a@example.test"])
    assert off.exit_code == 0, off.output
    assert [api.get("/api/v1/auth/me").status_code for api in logins] == [401, 401]
    assert attempt(world.app, "clinician.a@example.test", PASSWORD).status_code == 401
    on = runner.invoke(
        args=["tracker", "disable-user", "--email", "clinician.a@example.test", "--enable"]
    )
    assert on.exit_code == 0
    assert attempt(world.app, "clinician.a@example.test", PASSWORD).status_code == 200
    # The old logins stay ended: re-enabling is not a way back into a revoked session.
    assert [api.get("/api/v1/auth/me").status_code for api in logins] == [401, 401]


def test_password_policy(app):
    with app.app_context():
        with pytest.raises(UserInvalid):
            create_user("short@example.test", "elevenchars", "clinician")
        with pytest.raises(UserInvalid):
            create_user("same.as.email@example.test", "Same.As.Email@example.test", "clinician")
        assert create_user("fine@example.test", "twelve chars", "clinician").id


def test_secret_key_is_required_in_production(tmp_path):
    with pytest.raises(ConfigError, match="SECRET_KEY"):
        make_app(f"sqlite:///{tmp_path}/x.db", TRACKER_ENV="production", SECRET_KEY=None)
    production = make_app(
        f"sqlite:///{tmp_path}/x.db", TRACKER_ENV="production", SECRET_KEY="a-real-secret"
    )
    assert production.config["SESSION_COOKIE_SECURE"] is True
    assert production.config["SESSION_COOKIE_HTTPONLY"] is True
    assert production.config["SESSION_COOKIE_SAMESITE"] == "Lax"
