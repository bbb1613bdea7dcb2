"""Logging in and out through the pages: same rules and audit as /api/v1/auth, CSRF on the form."""

from __future__ import annotations

from tests.helpers import PASSWORD, audit_events, login
from tests.web.helpers import CSRF_FIELD, page_login, text_of
from tracker.models import AuditEvent


def _form_token(client) -> str:  # type: ignore[no-untyped-def]
    return CSRF_FIELD.search(text_of(client.get("/login"))).group(1)


def test_anonymous_visitors_are_sent_to_login(app):
    client = app.test_client()
    assert client.get("/").headers["Location"] == "/login"
    for path in ("/clinic", "/clinic/alerts", "/me", "/me/questionnaires/phq9"):
        response = client.get(path)
        assert response.status_code == 302, path
        assert response.headers["Location"] == "/login?next=" + path


def test_login_form_is_labelled_and_carries_a_token(app):
    html = text_of(app.test_client().get("/login"))
    assert '<label for="email">Email address</label>' in html
    assert '<label for="password">Password</label>' in html
    assert 'autocomplete="current-password"' in html
    assert CSRF_FIELD.search(html)


def test_login_without_or_with_a_wrong_token_is_refused(world):
    client = world.app.test_client()
    client.get("/login")
    credentials = {"email": "clinician.a@example.test", "password": PASSWORD}
    assert client.post("/login", data=credentials).status_code == 403
    wrong = client.post("/login", data=credentials | {"csrf_token": "forged"})
    assert wrong.status_code == 403
    assert "form you sent had expired" in text_of(wrong)
    assert "cannot open this page" not in text_of(wrong)
    assert client.get("/clinic").status_code == 302  # still logged out
    # A form posted from a fresh browser (no session yet) is refused too.
    fresh = world.app.test_client().post("/login", data=credentials | {"csrf_token": "x"})
    assert fresh.status_code == 403
    denied = audit_events(world.app, AuditEvent.action == "access_denied")
    assert [(e.outcome, e.actor_type) for e in denied] == [("csrf", "anonymous")] * 3
    assert audit_events(world.app, AuditEvent.action == "login") == []


def test_unknown_email_and_wrong_password_get_the_same_answer(world):
    client = world.app.test_client()
    answers = []
    for email, password in (
        ("clinician.a@example.test", "wrong password here"),
        ("nobody@example.test", PASSWORD),
    ):
        response = client.post(
            "/login",
            data={"csrf_token": _form_token(client), "email": email, "password": password},
        )
        answers.append((response.status_code, "Email or password is wrong." in text_of(response)))
    assert answers == [(401, True), (401, True)]
    failed = audit_events(world.app, AuditEvent.action == "login_failed")
    assert [(e.actor_type, e.actor_id, e.outcome) for e in failed] == [
        ("user", str(world.clinician_a_id), "failure"),
        ("anonymous", None, "failure"),
    ]


def test_empty_fields_are_named_next_to_the_field(world):
    client = world.app.test_client()
    response = client.post(
        "/login", data={"csrf_token": _form_token(client), "email": " ", "password": ""}
    )
    assert response.status_code == 422
    html = text_of(response)
    assert 'id="email-error"' in html and 'id="password-error"' in html
    assert 'aria-describedby="email-error" aria-invalid="true"' in html
    # A login form has no answers: its summary does not speak of them.
    assert "There are problems</h2>" in html and "answers" not in html.lower()
    assert audit_events(world.app, AuditEvent.action.in_(("login", "login_failed"))) == []


def test_login_lands_each_role_in_its_area_and_is_audited(world):
    for email, home in (
        ("patient.one@example.test", "/me"),
        ("clinician.a@example.test", "/clinic"),
        ("admin@example.test", "/clinic"),
    ):
        client = world.app.test_client()
        response = client.post(
            "/login",
            data={"csrf_token": _form_token(client), "email": email.upper(), "password": PASSWORD},
        )
        assert (response.status_code, response.headers["Location"]) == (303, home)
        assert client.get("/").headers["Location"] == home
    logins = audit_events(world.app, AuditEvent.action == "login")
    assert len(logins) == 3
    assert [e.resource_id for e in logins[1:]] == [str(world.clinician_a_id), str(world.admin_id)]
    assert all(e.actor_id == e.resource_id and e.outcome == "success" for e in logins)


def test_login_returns_to_a_local_page_only(world):
    client = world.app.test_client()
    data = {"csrf_token": _form_token(client), "email": "clinician.a@example.test"}
    data["password"] = PASSWORD
    back = client.post("/login", data=data | {"next": "/clinic/alerts"})
    assert back.headers["Location"] == "/clinic/alerts"
    client = world.app.test_client()
    data["csrf_token"] = _form_token(client)
    away = client.post("/login", data=data | {"next": "//evil.example/clinic"})
    assert away.headers["Location"] == "/clinic"


def test_logout_needs_the_token_and_revokes_the_session(world):
    browser = page_login(world.app, "clinician.a@example.test")
    assert browser.post("/logout", csrf=False).status_code == 403
    assert browser.get("/clinic").status_code == 200
    with browser.client.session_transaction() as session:
        stolen = dict(session)
    response = browser.post("/logout")
    assert (response.status_code, response.headers["Location"]) == (303, "/login")
    assert browser.get("/clinic").status_code == 302
    # A copy of the old cookie no longer works either (as after the API's logout).
    replay = world.app.test_client()
    with replay.session_transaction() as session:
        session.update(stolen)
    assert replay.get("/clinic").status_code == 302
    logouts = audit_events(world.app, AuditEvent.action == "logout")
    assert [(e.resource_id, e.actor_id) for e in logouts] == [
        (str(world.clinician_a_id), str(world.clinician_a_id))
    ]


def test_api_and_page_logins_write_the_same_audit_events(world):
    login(world.app, "clinician.a@example.test")
    page_login(world.app, "clinician.a@example.test")
    events = audit_events(world.app, AuditEvent.action == "login")
    shapes = [(e.actor_type, e.actor_id, e.resource_type, e.resource_id, e.outcome) for e in events]
    assert len(shapes) == 2 and shapes[0] == shapes[1]
