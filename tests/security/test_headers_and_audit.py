"""Security headers, CORS allow-list, the audit endpoint and the append-only audit table."""

from __future__ import annotations

import logging

import pytest
from sqlalchemy import text
from sqlalchemy.exc import DatabaseError

from tests.conftest import make_app
from tests.helpers import PHQ9_EXAMPLE, anonymous, submit
from tracker.extensions import db


def test_security_headers_everywhere(world):
    api = world.as_clinician_a()
    for url in ("/api/v1/patients", "/fhir/metadata", "/api/v1/openapi.json"):
        response = api.get(url)
        assert response.headers["X-Content-Type-Options"] == "nosniff"
        assert response.headers["Referrer-Policy"] == "no-referrer"
        assert response.headers["Cache-Control"] == "no-store"
    docs = anonymous(world.app).get("/api/v1/docs")
    assert "frame-ancestors 'none'" in docs.headers["Content-Security-Policy"]


def test_cors_is_off_unless_the_origin_is_listed(database_url):
    closed = make_app(database_url)
    response = closed.test_client().get("/fhir/metadata", headers={"Origin": "https://app.example"})
    assert "Access-Control-Allow-Origin" not in response.headers
    opened = make_app(database_url, CORS_ORIGINS=["https://app.example"])
    allowed = opened.test_client().get("/fhir/metadata", headers={"Origin": "https://app.example"})
    assert allowed.headers["Access-Control-Allow-Origin"] == "https://app.example"
    other = opened.test_client().get("/fhir/metadata", headers={"Origin": "https://evil.example"})
    assert "Access-Control-Allow-Origin" not in other.headers
    preflight = opened.test_client().options(
        "/fhir/Observation",
        headers={"Origin": "https://app.example", "Access-Control-Request-Method": "GET"},
    )
    assert "Authorization" in preflight.headers["Access-Control-Allow-Headers"]
    for app in (closed, opened):
        with app.app_context():
            db.engine.dispose()


def test_audit_events_endpoint_filters_and_pages(world):
    submit(world.as_clinician_a(), world.patient_1)
    admin = world.as_admin()
    mine = admin.get(f"/api/v1/audit-events?patient_id={world.patient_1}&action=create").json
    assert [(e["action"], e["resource_type"], e["actor"]) for e in mine["items"]] == [
        ("create", "response", {"type": "user", "id": str(world.clinician_a_id)})
    ]
    logins = admin.get("/api/v1/audit-events?action=login&limit=1").json
    assert len(logins["items"]) == 1 and logins["next_cursor"]
    more = admin.get(f"/api/v1/audit-events?action=login&limit=1&cursor={logins['next_cursor']}")
    assert more.json["items"][0]["id"] != logins["items"][0]["id"]
    assert world.as_clinician_a().get("/api/v1/audit-events").status_code == 403
    assert admin.get("/api/v1/audit-events?since=yesterday").status_code == 422


def test_database_refuses_to_change_the_audit_trail(world):
    submit(world.as_clinician_a(), world.patient_1)
    with world.app.app_context():
        for statement in ("UPDATE audit_event SET action = 'read'", "DELETE FROM audit_event"):
            with pytest.raises(DatabaseError, match="append-only"), db.engine.begin() as conn:
                conn.execute(text(statement))
        count = db.session.execute(text("SELECT count(*) FROM audit_event")).scalar()
        assert count > 0
        db.session.remove()


def test_logs_hold_no_names_answers_or_secrets(world, caplog):
    caplog.set_level(logging.DEBUG)
    api = world.as_clinician_a()
    created = api.post("/api/v1/patients", json={"display_name": "Zebediah Unlikelyname"}).json
    submit(api, int(created["id"]), {"answers": PHQ9_EXAMPLE})
    world.app.test_client().post(
        "/api/v1/auth/login", json={"email": "admin@example.test", "password": "Sup3rS3cret!!"}
    )
    api.get(f"/api/v1/patients/{created['id']}/trends/phq9")
    text_logged = "\n".join(r.getMessage() for r in caplog.records)
    for secret in ("Zebediah", "Unlikelyname", "Sup3rS3cret", "2, 1, 3, 0", api.csrf):
        assert secret not in text_logged
