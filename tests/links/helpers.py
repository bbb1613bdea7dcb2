"""A patient with a baseline window open now, and a questionnaire link minted for it."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import select

from tests.helpers import World
from tracker.extensions import db
from tracker.models import Patient, QuestionnaireLink, User
from tracker.models.types import utcnow
from tracker.services import due, links, plans
from tracker.services import series as series_service

# Baseline from a week before the start to a week after it: open now for a series begun
# yesterday (so an answer given now is inside the window).
BASELINE = {"label": "Baseline", "anchor": "series_start", "offset_days": -7, "window_days": 14}
PHQ9_NO_ITEM_9 = [2, 1, 3, 0, 1, 2, 1, 0, 0]  # total 10
PHQ9_ITEM_9 = [0, 0, 0, 0, 0, 0, 0, 0, 2]
GAD7 = [1, 1, 1, 1, 0, 0, 0]


@dataclass
class Link:
    token: str
    link_id: int
    patient_id: int
    series_id: int
    occurrence: str
    closes_at: datetime

    @property
    def api(self) -> str:
        return f"/api/v1/links/{self.token}"

    @property
    def page(self) -> str:
        return f"/q/{self.token}"


def open_link(
    app: Flask,
    world: World,
    patient_id: int | None = None,
    instruments: tuple[str, ...] = ("phq9", "gad7"),
    expires_at: datetime | None = None,
) -> Link:
    """Plan → series on it (started yesterday) → the baseline occurrence → a minted token."""
    with app.app_context():
        admin = db.session.get(User, world.admin_id)
        plan = plans.create(
            admin, name="Induction", instruments=list(instruments), entries=[BASELINE]
        )
        patient = db.session.get(Patient, patient_id or world.patient_1)
        series = series_service.start(
            admin,
            patient,
            label="Ketamine",
            started_at=utcnow() - timedelta(days=1),
            plan_id=plan.id,
        )
        found = due.occurrence(series.id, f"s{series.id}.e1.r0")
        assert found is not None and found.pending == instruments
        occurrence = found.occurrence
        token = links.mint(
            patient_id=patient.id,
            series_id=series.id,
            occurrence=occurrence.key,
            expires_at=expires_at or occurrence.closes_at,
        )
        db.session.commit()
        link_id = db.session.scalar(
            select(QuestionnaireLink.id).where(
                QuestionnaireLink.token_hash == links.token_hash(token)
            )
        )
        return Link(token, link_id, patient.id, series.id, occurrence.key, occurrence.closes_at)


def body(instrument: str = "phq9", answers: list | None = None, **extra: object) -> dict:
    default = {"phq9": PHQ9_NO_ITEM_9, "gad7": GAD7, "pcl5": [0] * 20}[instrument]
    return {"instrument": instrument, "answers": answers or default, **extra}


def form(answers: list[int], instrument: str = "phq9", **extra: str) -> dict:
    fields = {f"item-{n}": str(v) for n, v in enumerate(answers, 1)}
    return {"instrument": instrument, **fields, **extra}


def cookies_set(response) -> list[str]:  # type: ignore[no-untyped-def]
    return response.headers.getlist("Set-Cookie")


def stranger(app: Flask) -> FlaskClient:
    """A browser with no login and no cookie: all a link's holder has."""
    return app.test_client()
