"""Day one in a real browser: a patient reports thoughts of self-harm, a clinician follows up.

Arranged through the services: an induction series that ended yesterday with a
baseline PHQ-9 of 19 before it. The patient's PHQ-9 of 7 in the browser is the
post score, so the clinician must see 19 → 7, change −12 (−63.2 %), a
response, no remission, a reliable improvement.
"""

from __future__ import annotations

import re
from datetime import timedelta

from playwright.sync_api import expect
from sqlalchemy import select

from tests.browser.conftest import DESKTOP, PHONE
from tests.browser.helpers import answer, log_in
from tests.helpers import PASSWORD, answers_for
from tracker.config import DEFAULT_CRISIS_TEXT
from tracker.extensions import db
from tracker.models import Alert, Response, TreatmentSeries, TreatmentSession, User
from tracker.models.types import utcnow
from tracker.services.responses import Submission, submit

PATIENT_ANSWERS = [1, 1, 1, 1, 1, 0, 0, 0, 2]  # total 7, item 9 = 2
LABELS = ["Not at all", "Several days", "More than half the days", "Nearly every day"]


def arrange_series_and_baseline(app, world) -> int:  # type: ignore[no-untyped-def]
    with app.app_context():
        clinician = db.session.get(User, world.clinician_a_id)
        now = utcnow()
        started = now - timedelta(days=14)
        series = TreatmentSeries(
            patient_id=world.patient_1,
            label="Ketamine induction",
            kind="induction",
            started_at=started,
            ended_at=now - timedelta(days=1),
            created_by=clinician.id,
            sessions=[
                TreatmentSession(administered_at=started + timedelta(days=d), dose_mg=35.0)
                for d in (0, 2, 4, 7, 9, 11)
            ],
        )
        db.session.add(series)
        db.session.commit()
        baseline = Submission(
            world.patient_1, "phq9", answers_for("phq9", 19), started - timedelta(days=2)
        )
        submit(baseline, clinician)
        return series.id


def test_patient_submits_phq9_with_item9_and_clinician_follows_up(
    app, world, live_server, browser, console
):  # type: ignore[no-untyped-def]
    series_id = arrange_series_and_baseline(app, world)

    # The patient, on a phone.
    patient = browser.new_context(viewport=PHONE).new_page()
    console.watch(patient)
    log_in(patient, live_server, "patient.one@example.test", PASSWORD)
    expect(patient).to_have_url(re.compile(r"/me$"))
    expect(patient.get_by_role("heading", level=2)).to_have_text(["PHQ-9", "GAD-7", "PCL-5"])
    patient.get_by_role("link", name="Start the PHQ-9").click()
    expect(patient.get_by_role("heading", level=1)).to_contain_text("PHQ-9")
    for number, value in enumerate(PATIENT_ANSWERS, 1):
        answer(patient, number, LABELS[value])
    patient.get_by_role("button", name="Send my answers").click()
    expect(patient.get_by_role("heading", level=1)).to_have_text(
        "Thank you, your answers were sent"
    )
    crisis = patient.locator("section.crisis")
    expect(crisis).to_be_visible()
    expect(crisis).to_contain_text(DEFAULT_CRISIS_TEXT)
    expect(crisis).to_contain_text("Your clinic has been alerted")

    with app.app_context():
        row = db.session.scalars(select(Response).order_by(Response.id.desc())).first()
        assert (row.patient_id, row.total, row.answers) == (world.patient_1, 7, PATIENT_ANSWERS)
        assert row.source == "patient"
        alert = db.session.scalar(select(Alert).where(Alert.response_id == row.id))
        assert (alert.kind, alert.status) == ("suicidal_ideation", "open")

    # The clinician, at a desk.
    clinic = browser.new_context(viewport=DESKTOP).new_page()
    console.watch(clinic)
    log_in(clinic, live_server, "clinician.a@example.test", PASSWORD)
    expect(clinic).to_have_url(re.compile(r"/clinic$"))
    patient_row = clinic.get_by_role("row", name=re.compile("Synthetic Patient One"))
    expect(patient_row).to_contain_text("1 open alert")
    expect(patient_row.get_by_role("cell").nth(0)).to_contain_text("7")
    clinic.get_by_role("navigation", name="Main").get_by_role("link", name="Alerts").click()
    card = clinic.locator("li.alert-card")
    expect(card).to_have_count(1)
    expect(card).to_contain_text("Thoughts of self-harm (PHQ-9 item 9)")
    expect(card).to_contain_text("Synthetic Patient One")
    card.get_by_label("Note (optional)").fill("Called the patient")
    card.get_by_role("button", name="Acknowledge").click()
    expect(clinic.locator(".flash")).to_contain_text("Alert acknowledged.")
    expect(clinic.locator("li.alert-card")).to_have_count(0)
    with app.app_context():
        alert = db.session.get(Alert, alert.id)
        assert (alert.status, alert.acknowledged_by) == ("acknowledged", world.clinician_a_id)
        assert alert.note == "Called the patient"

    clinic.get_by_role("link", name="Patients").click()
    clinic.get_by_role("link", name="Synthetic Patient One").click()
    phq9 = clinic.locator("#instrument-phq9")
    expect(phq9.locator(".chart-wide svg")).to_be_visible()
    expect(phq9.locator(".chart-narrow svg")).to_be_hidden()
    expect(phq9.locator(".chart-wide svg title").first).to_have_text("PHQ-9 over time")
    outcome = phq9.locator(f"table.outcomes tr[data-series-id='{series_id}']")
    expect(outcome.locator("td.baseline .score")).to_have_text("19")
    expect(outcome.locator("td.post .score")).to_have_text("7")
    expect(outcome.locator("td.change")).to_contain_text("\u221212")
    expect(outcome.locator("td.change")).to_contain_text("(\u221263.2 %)")
    expect(outcome.locator("td.verdicts .badge")).to_have_text(
        ["Response", "No remission", "Reliable improvement", "Reliable recovery"]
    )
    # Item-level answers of the patient's response, item 9 highlighted.
    newest = phq9.locator("table.responses tbody tr").first
    expect(newest.locator("td.item")).to_have_text([str(v) for v in PATIENT_ANSWERS] + ["–"])
    expect(newest.locator("td.item.flagged")).to_have_text("2")
