"""GET /api/v1/links/{token} and POST /api/v1/links/{token}/responses (docs/api.md,
"Questionnaire links"): the token is the only credential and opens one occurrence."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import select

from tests.conftest import make_app
from tests.helpers import audit_events, count
from tests.links.helpers import (
    GAD7,
    PHQ9_ITEM_9,
    body,
    cookies_set,
    open_link,
    stranger,
)
from tracker.config import DEFAULT_CRISIS_TEXT
from tracker.extensions import db
from tracker.models import Alert, AuditEvent, Response
from tracker.models.types import utcnow


def _responses(app) -> list[Response]:  # type: ignore[no-untyped-def]
    with app.app_context():
        rows = list(db.session.scalars(select(Response).order_by(Response.id)))
        db.session.expunge_all()
        return rows


def test_get_names_what_is_pending_and_when_the_link_closes(world):
    link = open_link(world.app, world)
    response = stranger(world.app).get(link.api)
    assert response.status_code == 200
    assert response.json == {"closes_at": link.closes_at.isoformat(), "pending": ["phq9", "gad7"]}
    assert response.headers["Cache-Control"] == "no-store"
    assert cookies_set(response) == []


def test_each_answer_leaves_the_rest_and_the_last_one_ends_the_link(world):
    link = open_link(world.app, world)
    client = stranger(world.app)
    first = client.post(link.api + "/responses", json=body("phq9"))
    assert first.status_code == 201, first.json
    assert (first.json["instrument"], first.json["total"]) == ("phq9", 10)
    assert first.json["crisis_message"] is None
    assert client.get(link.api).json["pending"] == ["gad7"]
    assert client.get(link.page).status_code == 200
    last = client.post(link.api + "/responses", json=body("gad7"))
    assert last.status_code == 201, last.json
    gone = client.get(link.api)
    assert gone.status_code == 404
    assert gone.mimetype == "application/problem+json"
    assert client.get(link.page).status_code == 404
    again = client.post(link.api + "/responses", json=body("gad7", [0] * 7))
    assert again.status_code == 404
    assert len(_responses(world.app)) == 2


def test_unknown_expired_and_used_up_tokens_get_one_and_the_same_404(world):
    used = open_link(world.app, world, instruments=("gad7",))
    client = stranger(world.app)
    assert client.post(used.api + "/responses", json=body("gad7")).status_code == 201
    expired = open_link(
        world.app, world, instruments=("phq9",), expires_at=utcnow() - timedelta(seconds=1)
    )
    unknown = "A" * 43
    answers = []
    for token in (used.token, expired.token, unknown, "x", "not a token at all" * 10):
        read = client.get(f"/api/v1/links/{token}")
        write = client.post(f"/api/v1/links/{token}/responses", json=body("phq9"))
        # The token is checked first: a bad body does not tell a used-up link from none.
        bad = client.post(f"/api/v1/links/{token}/responses", json={"answers": "x"})
        page = client.get(f"/q/{token}")
        answers.append(
            (read.status_code, read.json, write.status_code, write.json, bad.json, page.data)
        )
    assert answers[0][0] == answers[0][2] == 404
    assert all(a == answers[0] for a in answers), answers
    assert len(_responses(world.app)) == 1


def test_an_instrument_the_link_does_not_ask_for_is_refused_naming_instrument(world):
    link = open_link(world.app, world)
    client = stranger(world.app)
    other = client.post(link.api + "/responses", json=body("pcl5"))
    assert other.status_code == 422
    assert list(other.json["errors"]) == ["instrument"]
    assert client.post(link.api + "/responses", json=body("phq9")).status_code == 201
    twice = client.post(link.api + "/responses", json=body("phq9", [0] * 9))
    assert twice.status_code == 422 and list(twice.json["errors"]) == ["instrument"]
    assert [r.instrument for r in _responses(world.app)] == ["phq9"]


def test_bad_bodies_are_refused_naming_the_field_and_store_nothing(world):
    link = open_link(world.app, world)
    client = stranger(world.app)
    url = link.api + "/responses"
    before = len(audit_events(world.app))
    malformed = client.post(url, data="{", content_type="application/json")
    assert malformed.status_code == 400
    cases = {
        "answers.8": body("phq9", [0] * 8 + [7]),
        "answers": body("phq9", [0] * 8),
        "completed_at": body("phq9", completed_at="2026-03-01T09:30:00"),
        "unexpected": {**body("phq9"), "unexpected": 1},
    }
    for field, payload in cases.items():
        refused = client.post(url, json=payload)
        assert refused.status_code == 422, (field, refused.json)
        assert refused.mimetype == "application/problem+json"
        assert any(name.startswith(field) for name in refused.json["errors"]), refused.json
    assert client.post(url, data="x", content_type="text/plain").status_code == 415
    assert _responses(world.app) == [] and count(world.app, Alert) == 0
    assert len(audit_events(world.app)) == before


def test_completed_at_defaults_to_now_and_must_fall_inside_the_window(world):
    link = open_link(world.app, world)
    client = stranger(world.app)
    before = client.post(
        link.api + "/responses", json=body("phq9", completed_at="2020-01-01T00:00:00+00:00")
    )
    assert before.status_code == 422 and list(before.json["errors"]) == ["completed_at"]
    started = utcnow()
    made = client.post(link.api + "/responses", json=body("phq9"))
    assert made.status_code == 201
    (row,) = _responses(world.app)
    assert started - timedelta(seconds=1) <= row.completed_at <= utcnow()


def test_the_response_is_the_patients_own_and_the_audit_names_the_link(world):
    link = open_link(world.app, world)
    made = stranger(world.app).post(link.api + "/responses", json=body("phq9"))
    assert made.status_code == 201
    assert made.json["source"] == "patient"
    assert made.json["patient_id"] == str(link.patient_id)
    assert made.json["series_id"] == str(link.series_id)
    assert made.json["entered_by"] is None
    (row,) = _responses(world.app)
    assert (row.source, row.entered_by, row.patient_id) == ("patient", None, link.patient_id)
    (created,) = audit_events(
        world.app, AuditEvent.action == "create", AuditEvent.resource_type == "response"
    )
    assert (created.actor_type, created.actor_id) == ("link", str(link.link_id))
    assert (created.resource_id, created.patient_id) == (str(row.id), link.patient_id)
    # Reading the link is audited too; the token itself is in no audit column.
    stranger(world.app).get(link.api)
    reads = audit_events(world.app, AuditEvent.resource_type == "questionnaire_link")
    assert [(e.action, e.actor_type, e.resource_id) for e in reads] == [
        ("read", "link", str(link.link_id))
    ]
    for event in audit_events(world.app):
        assert link.token not in repr(vars(event))
    # An admin finds the link's events under its actor type.
    found = world.as_admin().get("/api/v1/audit-events?actor_type=link").json["items"]
    assert {e["actor"]["type"] for e in found} == {"link"} and len(found) == 2


def test_item_9_through_a_link_opens_the_alert_and_answers_with_the_crisis_text(world):
    link = open_link(world.app, world)
    made = stranger(world.app).post(link.api + "/responses", json=body("phq9", PHQ9_ITEM_9))
    assert made.status_code == 201
    assert made.json["flags"] == ["suicidal_ideation"]
    assert made.json["crisis_message"] == DEFAULT_CRISIS_TEXT
    with world.app.app_context():
        alert = db.session.scalars(select(Alert)).one()
        assert (alert.kind, alert.priority, alert.patient_id, alert.status) == (
            "suicidal_ideation",
            "high",
            link.patient_id,
            "open",
        )
    inbox = world.as_clinician_a().get("/api/v1/alerts").json["items"]
    assert [a["response_id"] for a in inbox] == [made.json["id"]]


def test_idempotency_works_as_for_any_submission_even_after_the_last_answer(world):
    link = open_link(world.app, world, instruments=("gad7",))
    client = stranger(world.app)
    url = link.api + "/responses"
    first = client.post(url, json=body("gad7"), headers={"Idempotency-Key": "k-1"})
    assert first.status_code == 201
    # The link is used up now, yet a retry of the same request gets its answer back.
    retry = client.post(url, json=body("gad7"), headers={"Idempotency-Key": "k-1"})
    assert retry.status_code == 200 and retry.json["id"] == first.json["id"]
    other = client.post(url, json=body("gad7", [3] * 7), headers={"Idempotency-Key": "k-1"})
    assert other.status_code == 409
    assert client.post(url, json=body("gad7")).status_code == 404
    assert len(_responses(world.app)) == 1
    reads = audit_events(
        world.app, AuditEvent.action == "read", AuditEvent.resource_type == "response"
    )
    assert [(e.actor_type, e.actor_id) for e in reads] == [("link", str(link.link_id))]


def test_a_link_opens_its_own_patient_and_nothing_else(world):
    mine = open_link(world.app, world, patient_id=world.patient_1)
    theirs = open_link(world.app, world, patient_id=world.patient_2)
    client = stranger(world.app)
    # Another patient's series cannot be named in the body.
    crossed = client.post(
        mine.api + "/responses", json=body("phq9", series_id=str(theirs.series_id))
    )
    assert crossed.status_code == 422 and list(crossed.json["errors"]) == ["series_id"]
    # The link's answer says nothing about the patient beyond what is pending.
    assert set(client.get(mine.api).json) == {"closes_at", "pending"}
    made = client.post(mine.api + "/responses", json=body("phq9"))
    assert made.json["patient_id"] == str(world.patient_1)
    # Holding a token gives no access to any other route, for either patient.
    for patient in (world.patient_1, world.patient_2):
        for url in (
            f"/api/v1/patients/{patient}",
            f"/api/v1/patients/{patient}/responses",
            f"/api/v1/patients/{patient}/due",
        ):
            assert client.get(url).status_code == 401, url
    assert client.get(f"/api/v1/responses/{made.json['id']}").status_code == 401
    assert client.get("/me").status_code == 302
    assert client.get("/me/history").status_code == 302
    assert client.get(theirs.api).json["pending"] == ["phq9", "gad7"]
    assert [r.patient_id for r in _responses(world.app)] == [world.patient_1]


def test_no_answer_sets_a_cookie_and_a_login_in_the_same_browser_changes_nothing(world):
    link = open_link(world.app, world)
    client = stranger(world.app)
    answers = [
        client.get(link.api),
        client.post(link.api + "/responses", json=body("phq9")),
        client.get(link.page),
    ]
    assert all(cookies_set(a) == [] for a in answers), [cookies_set(a) for a in answers]
    assert client.get_cookie("session") is None
    # A clinician logged in in the same browser: no CSRF header needed, and the answer is
    # still the patient's, audited as the link, not as the clinician.
    clinician = world.as_clinician_a()
    made = clinician.client.post(link.api + "/responses", json=body("gad7", GAD7))
    assert made.status_code == 201, made.json
    assert (made.json["source"], made.json["entered_by"]) == ("patient", None)
    (created,) = audit_events(
        world.app,
        AuditEvent.action == "create",
        AuditEvent.resource_id == made.json["id"],
    )
    assert created.actor_type == "link"


def test_both_operations_are_public_in_the_openapi_document(world):
    spec = stranger(world.app).get("/api/v1/openapi.json").json
    read = spec["paths"]["/api/v1/links/{token}"]["get"]
    write = spec["paths"]["/api/v1/links/{token}/responses"]["post"]
    assert read["security"] == [] and write["security"] == []
    assert {"200", "404", "429"} <= set(read["responses"])
    assert {"201", "200", "404", "409", "422", "429"} <= set(write["responses"])


def test_the_rate_limit_counts_pages_and_api_together(world, database_url):
    link = open_link(world.app, world)
    # The same database behind an app with the limit on (the `app` fixture cleans up).
    app = make_app(database_url, RATELIMIT_ENABLED=True, LINK_RATE_LIMIT="3/minute")
    client = stranger(app)
    statuses = [
        client.get(link.api).status_code,
        client.get(link.page).status_code,
        client.post(link.api + "/responses", json=body("phq9")).status_code,
        client.get(link.api).status_code,
        client.get(link.page).status_code,
    ]
    assert statuses == [200, 200, 201, 429, 429]
    limited = client.get(link.api)
    assert limited.mimetype == "application/problem+json" and "Retry-After" in limited.headers
    # An unknown token counts too: guessing is limited the same way.
    assert client.get("/api/v1/links/" + "B" * 43).status_code == 429
    with app.app_context():
        db.session.remove()
        db.engine.dispose()
