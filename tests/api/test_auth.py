"""Login, logout, me, and the CSRF header rule, on both databases."""

from tests.helpers import PASSWORD, anonymous, audit_events, login
from tracker.models import AuditEvent


def test_login_returns_user_and_me_returns_csrf(world):
    client = world.app.test_client()
    response = client.post(
        "/api/v1/auth/login", json={"email": "Patient.One@example.test", "password": PASSWORD}
    )
    assert response.status_code == 200
    assert response.json["role"] == "patient"
    assert response.json["patient_id"] == str(world.patient_1)
    me = client.get("/api/v1/auth/me")
    assert me.status_code == 200
    assert me.json["email"] == "patient.one@example.test"
    assert len(me.json["csrf_token"]) >= 32


def test_unknown_email_and_wrong_password_get_the_same_401(world):
    client = world.app.test_client()
    wrong = client.post(
        "/api/v1/auth/login", json={"email": "admin@example.test", "password": "x" * 12}
    )
    unknown = client.post(
        "/api/v1/auth/login", json={"email": "nobody@example.test", "password": "x" * 12}
    )
    assert wrong.status_code == unknown.status_code == 401
    assert wrong.json == unknown.json
    assert wrong.content_type == "application/problem+json"
    failed = audit_events(world.app, AuditEvent.action == "login_failed")
    assert [e.actor_id for e in failed] == [str(world.admin_id), None]


def test_login_is_audited(world):
    login(world.app, "admin@example.test")
    events = audit_events(world.app, AuditEvent.action == "login")
    assert [(e.actor_type, e.actor_id, e.outcome) for e in events] == [
        ("user", str(world.admin_id), "success")
    ]


def test_login_validation_names_the_field(world):
    response = world.app.test_client().post("/api/v1/auth/login", json={"email": "a@b.c"})
    assert response.status_code == 422
    assert "password" in response.json["errors"]


def test_me_requires_login(app):
    response = anonymous(app).get("/api/v1/auth/me")
    assert response.status_code == 401
    assert response.json["status"] == 401


def test_cookie_write_without_csrf_header_is_403(world):
    api = world.as_clinician_a()
    api.csrf = None
    response = api.post("/api/v1/patients", json={"display_name": "Synthetic Three"})
    assert response.status_code == 403
    api.csrf = "not-the-token"
    assert api.post("/api/v1/patients", json={"display_name": "X"}).status_code == 403
    assert api.get("/api/v1/patients").status_code == 200  # reads need no token
    denied = audit_events(world.app, AuditEvent.action == "access_denied")
    assert [(e.outcome, e.actor_id) for e in denied] == [("csrf", str(world.clinician_a_id))] * 2


def test_logout_ends_the_session(world):
    api = world.as_clinician_a()
    assert api.post("/api/v1/auth/logout").status_code == 204
    assert api.get("/api/v1/auth/me").status_code == 401


def test_inactive_user_cannot_log_in(world):
    from tracker.extensions import db
    from tracker.models import User

    with world.app.app_context():
        db.session.get(User, world.clinician_b_id).active = False
        db.session.commit()
    response = world.app.test_client().post(
        "/api/v1/auth/login", json={"email": "clinician.b@example.test", "password": PASSWORD}
    )
    assert response.status_code == 401
