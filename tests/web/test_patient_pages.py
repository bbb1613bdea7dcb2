"""Patient pages: the official questionnaire, server-side validation, the crisis confirmation."""

from __future__ import annotations

import re
from html import unescape

import pytest
from sqlalchemy import select

from tests.helpers import audit_events, count, login, submit
from tests.web.helpers import as_clinician_a, as_patient_1, text_of
from tracker import instruments
from tracker.config import DEFAULT_CRISIS_TEXT
from tracker.extensions import db
from tracker.models import Alert, AuditEvent, Response

NO_ITEM_9 = [2, 1, 3, 0, 1, 2, 1, 0, 0]  # total 10, item 9 = 0


def phq9_form(answers: list[int | None], difficulty: int | None = None) -> dict:
    form = {f"item-{n}": str(v) for n, v in enumerate(answers, 1) if v is not None}
    if difficulty is not None:
        form["difficulty"] = str(difficulty)
    return form


def test_home_lists_the_three_questionnaires(world):
    html = text_of(as_patient_1(world).get("/me"))
    for instrument in instruments.all():
        assert f'href="/me/questionnaires/{instrument.code}"' in html
        assert f"<h2>{instrument.name}</h2>" in html


@pytest.mark.parametrize("code", ["phq9", "pcl5"])
def test_form_shows_the_official_wording_with_a_fieldset_per_question(world, code):
    instrument = instruments.get(code)
    response = as_patient_1(world).get(f"/me/questionnaires/{code}")
    assert response.status_code == 200
    html = text_of(response)
    assert instrument.stem in html
    questions = instrument.items + ((instrument.difficulty,) if instrument.difficulty else ())
    assert html.count("<fieldset") == html.count("<legend>") == len(questions)
    for item in instrument.items:
        assert f"{item.number}.</span> {item.text}" in unescape(html)
        for index, option in enumerate(item.options):
            field = f"item-{item.number}-{index}"
            assert f'<label class="option" for="{field}">' in html
            assert f'id="{field}" name="item-{item.number}" value="{option.value}"' in html
        assert html.count(f'name="item-{item.number}"') == len(item.options)
    assert all(o.label in html for o in instrument.items[0].options)
    if code == "phq9":
        assert instrument.difficulty.text in html and "(optional)" in html
    assert 'name="csrf_token"' in html and 'name="form_key" value="web-' in html


def test_valid_phq9_is_scored_by_the_core_and_confirmed(world):
    patient = as_patient_1(world)
    response = patient.post("/me/questionnaires/phq9", phq9_form(NO_ITEM_9, difficulty=1))
    assert response.status_code == 303
    location = response.headers["Location"]
    assert re.fullmatch(r"/me/responses/\d+", location)
    with world.app.app_context():
        row = db.session.scalars(select(Response)).one()
        assert (row.patient_id, row.total, row.severity) == (world.patient_1, 10, "moderate")
        assert (row.answers, row.difficulty, row.source) == (NO_ITEM_9, 1, "patient")
        assert row.subscales == {"phq2": 3} and row.flags == []
        response_id = row.id
    assert location == f"/me/responses/{response_id}"
    done = patient.get(location)
    assert done.status_code == 200
    assert "your answers were sent" in text_of(done)
    assert DEFAULT_CRISIS_TEXT not in text_of(done)
    assert count(world.app, Alert) == 0


def test_item_9_above_0_shows_crisis_resources_and_alerts_the_clinic(world):
    patient = as_patient_1(world)
    response = patient.post("/me/questionnaires/phq9", phq9_form([0] * 8 + [2]))
    html = text_of(patient.get(response.headers["Location"]))
    assert '<section class="crisis"' in html
    assert "call or text 988 (Suicide &amp; Crisis Lifeline, US)" in html
    assert "Your clinic has been alerted." in html
    with world.app.app_context():
        alert = db.session.scalars(select(Alert)).one()
        assert (alert.kind, alert.status, alert.patient_id) == (
            "suicidal_ideation",
            "open",
            world.patient_1,
        )


def test_crisis_text_is_configurable(world):
    world.app.config["CRISIS_TEXT"] = "Call the clinic's 24-hour line: 555-0100 <now>."
    patient = as_patient_1(world)
    response = patient.post("/me/questionnaires/phq9", phq9_form([0] * 8 + [1]))
    html = text_of(patient.get(response.headers["Location"]))
    assert "Call the clinic&#39;s 24-hour line: 555-0100 &lt;now&gt;." in html
    assert "call or text 988" not in html  # the default crisis text is replaced, not added to


def test_unanswered_questions_are_named_next_to_the_field_and_nothing_is_stored(world):
    patient = as_patient_1(world)
    before = len(audit_events(world.app))
    response = patient.post("/me/questionnaires/phq9", phq9_form([1, 2, None, 0, None, 1, 1, 0, 1]))
    assert response.status_code == 422
    html = text_of(response)
    for field in ("item-3", "item-5"):
        assert f'<p class="field-error" id="{field}-error">' in html
        assert f'aria-describedby="stem {field}-error"' in html
        # The error summary names the question as the patient counts them.
        number = field.removeprefix("item-")
        assert f'<a href="#{field}-0">Question {number}: choose an answer.</a>' in html
    assert "There are problems with your answers" in html
    assert html.count('class="field-error"') == 2
    # What the patient had chosen is kept.
    assert 'id="item-2-2" name="item-2" value="2" checked' in html
    assert "<title>Error: PHQ-9" in html
    assert count(world.app, Response) == 0 and count(world.app, Alert) == 0
    assert len(audit_events(world.app)) == before  # nothing read, nothing written


def test_pcl5_allows_two_blank_questions_not_three(world):
    patient = as_patient_1(world)
    answers = [1] * 20
    three_blank = {f"item-{n}": "1" for n in range(1, 21) if n not in (4, 9, 17)}
    refused = patient.post("/me/questionnaires/pcl5", three_blank)
    assert refused.status_code == 422
    assert text_of(refused).count("at most 2 questions may be left blank") == 3 + 3  # field+summary
    assert count(world.app, Response) == 0
    two_blank = {f"item-{n}": str(answers[n - 1]) for n in range(1, 21) if n not in (4, 9)}
    assert patient.post("/me/questionnaires/pcl5", two_blank).status_code == 303
    with world.app.app_context():
        row = db.session.scalars(select(Response)).one()
        assert (row.total, row.prorated, row.answers[3]) == (20, True, None)


def test_a_value_that_is_not_an_option_is_refused(world):
    patient = as_patient_1(world)
    response = patient.post("/me/questionnaires/phq9", phq9_form([1] * 9) | {"item-4": "7"})
    assert response.status_code == 422
    assert "Choose one of the listed answers." in text_of(response)
    for odd in ("-1", "\u00b2", "1.0", "9" * 40):  # superscript two is a "digit" to str.isdigit
        refused = patient.post("/me/questionnaires/phq9", phq9_form([1] * 9) | {"difficulty": odd})
        assert refused.status_code == 422, odd
    assert count(world.app, Response) == 0


def test_missing_csrf_token_is_403_and_stores_nothing(world):
    patient = as_patient_1(world)
    response = patient.post("/me/questionnaires/phq9", phq9_form([0] * 8 + [3]), csrf=False)
    assert response.status_code == 403
    assert response.mimetype == "text/html"
    assert "form you sent had expired, so nothing was saved" in text_of(response)
    assert count(world.app, Response) == 0 and count(world.app, Alert) == 0
    denied = audit_events(world.app, AuditEvent.action == "access_denied")
    assert [(e.outcome, e.actor_id) for e in denied] == [("csrf", denied[0].actor_id)]
    assert denied[0].actor_type == "user"


def test_a_resent_form_stores_one_response(world):
    patient = as_patient_1(world)
    form = phq9_form([1] * 9) | {"form_key": "web-" + "k" * 32}
    first = patient.post("/me/questionnaires/phq9", form)
    again = patient.post("/me/questionnaires/phq9", form)
    assert first.status_code == again.status_code == 303
    assert first.headers["Location"] == again.headers["Location"]
    assert count(world.app, Response) == 1
    assert "already been sent" in text_of(patient.get(again.headers["Location"]))


def test_a_patient_sees_only_their_own_confirmations(world):
    theirs = submit(login(world.app, "admin@example.test"), world.patient_2).json["id"]
    patient = as_patient_1(world)
    assert patient.get(f"/me/responses/{theirs}").status_code == 404
    assert patient.get("/me/responses/999999").status_code == 404
    denied = audit_events(world.app, AuditEvent.action == "access_denied")
    assert [(e.resource_type, e.outcome) for e in denied] == [
        ("patient", "not_found"),
        ("response", "not_found"),
    ]


def test_history_is_off_unless_the_clinic_enables_it(world):
    patient = as_patient_1(world)
    patient.post("/me/questionnaires/phq9", phq9_form([1] * 9))
    assert patient.get("/me/history").status_code == 404
    assert 'href="/me/history"' not in text_of(patient.get("/me"))
    world.app.config["PATIENT_HISTORY_ENABLED"] = True
    response = patient.get("/me/history")
    assert response.status_code == 200
    html = text_of(response)
    assert html.count("<svg") == 2  # PHQ-9 in a phone and a desktop rendering; no other data
    assert "<title>PHQ-9 over time</title>" in html
    reads = audit_events(
        world.app, AuditEvent.action == "read", AuditEvent.resource_type == "trend"
    )
    assert sorted(e.resource_id for e in reads) == ["gad7", "pcl5", "phq9"]


@pytest.mark.parametrize(
    "method, path",
    [
        ("get", "/clinic"),
        ("get", "/clinic/alerts"),
        ("get", "/clinic/patients/{p}"),
        ("get", "/clinic/patients/{p}/series/new"),
        ("post", "/clinic/patients/{p}/series"),
        ("post", "/clinic/alerts/1/acknowledge"),
    ],
)
def test_a_patient_never_reaches_clinician_pages(world, method, path):
    patient = as_patient_1(world)
    url = path.format(p=world.patient_1)
    response = patient.get(url) if method == "get" else patient.post(url, {"label": "x"})
    assert response.status_code == 403
    assert response.mimetype == "text/html" and "Sorry" in text_of(response)
    # One cause, said plainly: a role refusal does not talk about expired forms.
    assert "Your account cannot open this page" in text_of(response)
    assert "expired" not in text_of(response)
    denied = audit_events(world.app, AuditEvent.action == "access_denied")
    assert [(e.outcome, e.actor_type) for e in denied] == [("forbidden", "user")]


def test_clinicians_have_no_patient_pages(world):
    clinician = as_clinician_a(world)
    assert clinician.get("/me").status_code == 403
    assert clinician.post("/me/questionnaires/phq9", phq9_form([1] * 9)).status_code == 403
    assert count(world.app, Response) == 0
