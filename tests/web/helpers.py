"""Test-client helpers for the pages: log in through the form, post forms with the CSRF field."""

from __future__ import annotations

import re
from collections import Counter
from typing import Any

from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import event, func, select

from tests.helpers import PASSWORD
from tracker.extensions import db
from tracker.models import AuditEvent

CSRF_FIELD = re.compile(r'name="csrf_token" value="([^"]+)"')


class Browser:
    """A test client logged in through /login that sends the form's CSRF token, like a page."""

    def __init__(self, client: FlaskClient):
        self.client = client

    def csrf(self) -> str:
        with self.client.session_transaction() as session:
            return session["csrf_token"]

    def get(self, url: str, **kw: Any):  # type: ignore[no-untyped-def]
        return self.client.get(url, **kw)

    def post(self, url: str, data: dict | None = None, csrf: bool = True, **kw: Any):  # type: ignore[no-untyped-def]
        form = dict(data or {})
        if csrf:
            form.setdefault("csrf_token", self.csrf())
        return self.client.post(url, data=form, **kw)


def page_login(app: Flask, email: str, password: str = PASSWORD) -> Browser:
    client = app.test_client()
    form = client.get("/login")
    token = CSRF_FIELD.search(form.get_data(as_text=True)).group(1)
    response = client.post(
        "/login", data={"csrf_token": token, "email": email, "password": password}
    )
    assert response.status_code == 303, response.get_data(as_text=True)
    return Browser(client)


def as_clinician_a(world) -> Browser:  # type: ignore[no-untyped-def]
    return page_login(world.app, "clinician.a@example.test")


def as_clinician_b(world) -> Browser:  # type: ignore[no-untyped-def]
    return page_login(world.app, "clinician.b@example.test")


def as_admin(world) -> Browser:  # type: ignore[no-untyped-def]
    return page_login(world.app, "admin@example.test")


def as_patient_1(world) -> Browser:  # type: ignore[no-untyped-def]
    return page_login(world.app, "patient.one@example.test")


def last_audit_id(app: Flask) -> int:
    with app.app_context():
        return db.session.scalar(select(func.coalesce(func.max(AuditEvent.id), 0)))


def audit_since(app: Flask, after: int) -> list[tuple]:
    """(actor, action, resource type, resource id, patient, outcome) of events after an id."""
    with app.app_context():
        rows = db.session.scalars(
            select(AuditEvent).where(AuditEvent.id > after).order_by(AuditEvent.id)
        )
        return [
            (
                f"{e.actor_type}:{e.actor_id}",
                e.action,
                e.resource_type,
                e.resource_id,
                e.patient_id,
                e.outcome,
            )
            for e in rows
        ]


def audit_shape(events: list[tuple], blank_ids: bool = False) -> Counter:
    """Events as a multiset; ids of created rows (or of every row) blanked, as they differ."""
    return Counter(
        e[:3] + ("<id>",) + e[4:] if blank_ids or e[1] == "create" else e for e in events
    )


class QueryCounter:
    """Counts the SQL statements the app sends while the block runs."""

    def __init__(self, app: Flask):
        self.app = app
        self.statements: list[str] = []

    def _count(self, _conn, _cursor, statement, *_args) -> None:  # type: ignore[no-untyped-def]
        self.statements.append(statement)

    def __enter__(self) -> QueryCounter:
        with self.app.app_context():
            self.engine = db.engine
        event.listen(self.engine, "before_cursor_execute", self._count)
        return self

    def __exit__(self, *_exc: object) -> None:
        event.remove(self.engine, "before_cursor_execute", self._count)

    @property
    def selects(self) -> int:
        return sum(1 for s in self.statements if s.lstrip().upper().startswith("SELECT"))


def text_of(response) -> str:  # type: ignore[no-untyped-def]
    return response.get_data(as_text=True)
