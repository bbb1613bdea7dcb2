"""Test helpers: seed a small clinic and talk to the API as one of its users."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import func, select

from tracker.auth.users import create_user
from tracker.extensions import db
from tracker.models import AuditEvent, CareTeamMember, Patient

PASSWORD = "correct horse battery staple"
PHQ9_EXAMPLE = [2, 1, 3, 0, 1, 2, 1, 0, 1]  # docs/api.md, "Responses": the worked example, total 11
COMPLETED_AT = "2026-03-01T09:30:00+00:00"


class ApiClient:
    """A logged-in test client that sends the CSRF header on writes, as a browser app would."""

    def __init__(self, client: FlaskClient, csrf: str | None):
        self.client = client
        self.csrf = csrf

    def _headers(self, headers: dict | None) -> dict:
        merged = dict(headers or {})
        if self.csrf:
            merged.setdefault("X-CSRF-Token", self.csrf)
        return merged

    def get(self, url: str, **kw: Any):  # type: ignore[no-untyped-def]
        return self.client.get(url, **kw)

    def post(self, url: str, json: Any = None, headers: dict | None = None, **kw: Any):  # type: ignore[no-untyped-def]
        return self.client.post(url, json=json, headers=self._headers(headers), **kw)

    def patch(self, url: str, json: Any = None, headers: dict | None = None, **kw: Any):  # type: ignore[no-untyped-def]
        return self.client.patch(url, json=json, headers=self._headers(headers), **kw)


def login(app: Flask, email: str, password: str = PASSWORD) -> ApiClient:
    client = app.test_client()
    response = client.post("/api/v1/auth/login", json={"email": email, "password": password})
    assert response.status_code == 200, response.json
    me = client.get("/api/v1/auth/me")
    return ApiClient(client, me.json["csrf_token"])


def anonymous(app: Flask) -> ApiClient:
    return ApiClient(app.test_client(), None)


@dataclass
class World:
    app: Flask
    admin_id: int
    clinician_a_id: int
    clinician_b_id: int
    patient_1: int  # on clinician A's care team, has a patient login
    patient_2: int  # on clinician B's care team

    def as_admin(self) -> ApiClient:
        return login(self.app, "admin@example.test")

    def as_clinician_a(self) -> ApiClient:
        return login(self.app, "clinician.a@example.test")

    def as_clinician_b(self) -> ApiClient:
        return login(self.app, "clinician.b@example.test")

    def as_patient_1(self) -> ApiClient:
        return login(self.app, "patient.one@example.test")


def add_patient(name: str, clinician_ids: list[int]) -> int:
    patient = Patient(display_name=name)
    db.session.add(patient)
    db.session.flush()
    for clinician_id in clinician_ids:
        db.session.add(CareTeamMember(patient_id=patient.id, user_id=clinician_id))
    return patient.id


def build_world(app: Flask) -> World:
    with app.app_context():
        admin = create_user("admin@example.test", PASSWORD, "admin")
        a = create_user("clinician.a@example.test", PASSWORD, "clinician")
        b = create_user("clinician.b@example.test", PASSWORD, "clinician")
        p1 = add_patient("Synthetic Patient One", [a.id])
        p2 = add_patient("Synthetic Patient Two", [b.id])
        create_user("patient.one@example.test", PASSWORD, "patient", patient_id=p1)
        db.session.commit()
        return World(app, admin.id, a.id, b.id, p1, p2)


def count(app: Flask, model: type, *where: Any) -> int:
    with app.app_context():
        return db.session.scalar(select(func.count()).select_from(model).where(*where))


def audit_events(app: Flask, *where: Any) -> list[AuditEvent]:
    with app.app_context():
        rows = list(db.session.scalars(select(AuditEvent).where(*where).order_by(AuditEvent.id)))
        db.session.expunge_all()
        return rows


def submit(api: ApiClient, patient_id: int, body: dict | None = None, **headers: str):  # type: ignore[no-untyped-def]
    payload = {"instrument": "phq9", "answers": PHQ9_EXAMPLE, "completed_at": COMPLETED_AT}
    payload.update(body or {})
    return api.post(
        f"/api/v1/patients/{patient_id}/responses",
        json=payload,
        headers={k.replace("_", "-"): v for k, v in headers.items()},
    )


def answers_for(instrument: str, total: int) -> list[int]:
    """Deterministic answers summing to total; PHQ-9 item 9 stays 0 up to 24 points."""
    item_count, top = {"phq9": (9, 3), "gad7": (7, 3), "pcl5": (20, 4)}[instrument]
    answers = [0] * item_count
    for index in range(item_count):
        answers[index] = min(top, total - sum(answers))
    assert sum(answers) == total
    return answers


def submit_total(api: ApiClient, patient_id: int, instrument: str, total: int, at: str, **extra):  # type: ignore[no-untyped-def]
    response = submit(
        api,
        patient_id,
        {
            "instrument": instrument,
            "answers": answers_for(instrument, total),
            "completed_at": at,
            **extra,
        },
    )
    assert response.status_code == 201, response.json
    return response.json
