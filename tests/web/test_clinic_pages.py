"""Clinician pages: patient list, alerts inbox, patient page, and who may see what."""

from __future__ import annotations

import re
from html import unescape

import pytest
from sqlalchemy import select

from tests.helpers import PHQ9_EXAMPLE, audit_events, count, login, submit, submit_total
from tests.web.helpers import (
    QueryCounter,
    as_admin,
    as_clinician_a,
    as_clinician_b,
    audit_shape,
    audit_since,
    last_audit_id,
    text_of,
)
from tracker.extensions import db
from tracker.models import Alert, AuditEvent, CareTeamMember, Patient

START = "2026-01-10T08:00:00+00:00"
END = "2026-01-24T08:00:00+00:00"


def arrange_outcome(world) -> dict:  # type: ignore[no-untyped-def]
    """Through the API: an induction with baseline 19 and post 7.

    The worked example of docs/api.md, "Trends".
    """
    api = login(world.app, "clinician.a@example.test")
    series = api.post(
        f"/api/v1/patients/{world.patient_1}/series",
        json={
            "label": "Ketamine induction",
            "kind": "induction",
            "started_at": START,
            "ended_at": END,
        },
    ).json
    baseline = submit_total(api, world.patient_1, "phq9", 19, "2026-01-08T09:00:00+00:00")
    post = submit_total(api, world.patient_1, "phq9", 7, "2026-01-26T09:00:00+00:00")
    return {"series": series, "baseline": baseline, "post": post}


def cells(html: str, row_marker: str) -> list[str]:
    """The text of each cell of the first body row whose <tr> carries ``row_marker``."""
    body = html.split("<tbody>", 1)[1] if not row_marker else html
    row = re.search(rf"<tr[^>]*{re.escape(row_marker)}[^>]*>(.*?)</tr>", body, re.S).group(1)
    texts = re.findall(r"<t[hd][^>]*>(.*?)</t[hd]>", row, re.S)
    return [" ".join(unescape(re.sub(r"<[^>]+>", " ", t)).split()) for t in texts]


def test_patient_list_shows_the_care_team_latest_scores_and_alerts(world):
    api = login(world.app, "clinician.a@example.test")
    submit_total(api, world.patient_1, "phq9", 19, "2026-01-08T09:00:00+00:00")
    submit(api, world.patient_1)  # 11, item 9 = 1: the newest PHQ-9, opens an alert
    submit_total(api, world.patient_1, "gad7", 3, "2026-02-01T09:00:00+00:00")
    html = text_of(as_clinician_a(world).get("/clinic"))
    assert "Synthetic Patient One" in html and "Synthetic Patient Two" not in html
    assert cells(html, "") == [
        "Synthetic Patient One",
        "11 Moderate 1 Mar 2026",
        "3 Minimal 1 Feb 2026",
        "none yet",
        "1 open alert",
        "none due",
    ]
    for odd in ("\u00b2", "0", "-1", "x", "9" * 30):  # odd page numbers show the first page
        assert as_clinician_a(world).get("/clinic", query_string={"page": odd}).status_code == 200
    both = text_of(as_admin(world).get("/clinic"))
    assert "Synthetic Patient One" in both and "Synthetic Patient Two" in both


def test_patient_list_audits_what_it_shows(world):
    submit(login(world.app, "clinician.a@example.test"), world.patient_1)  # score + alert
    before = last_audit_id(world.app)
    as_admin(world).get("/clinic")
    actor = f"user:{world.admin_id}"
    events = [e for e in audit_since(world.app, before) if e[1] != "login"]
    assert events == [
        (actor, "read", "patient", str(world.patient_1), world.patient_1, "success"),
        (actor, "read", "response", None, world.patient_1, "success"),
        (actor, "read", "alert", None, world.patient_1, "success"),
        (actor, "read", "patient", str(world.patient_2), world.patient_2, "success"),
    ]


def test_patient_list_uses_a_fixed_number_of_queries(world):
    clinician = as_clinician_a(world)
    api = login(world.app, "admin@example.test")
    submit(api, world.patient_1)

    def queries() -> tuple[int, int]:
        with QueryCounter(world.app) as counter:
            assert clinician.get("/clinic").status_code == 200
        return counter.selects, len(counter.statements)

    few = queries()
    with world.app.app_context():
        for n in range(6):
            patient = Patient(display_name=f"Synthetic Extra {n}")
            db.session.add(patient)
            db.session.flush()
            db.session.add(CareTeamMember(patient_id=patient.id, user_id=world.clinician_a_id))
        db.session.commit()
        extra = list(db.session.scalars(select(Patient.id).where(Patient.id > world.patient_2)))
    for patient_id in extra:
        for instrument, total in (("phq9", 12), ("gad7", 9), ("pcl5", 40)):
            submit_total(api, patient_id, instrument, total, "2026-02-01T09:00:00+00:00")
        submit(api, patient_id)
    many = queries()
    assert many[0] == few[0]  # SELECTs do not grow with patients, scores or alerts
    assert count(world.app, Alert) == 7


def test_patient_page_uses_a_fixed_number_of_queries(world):
    arrange_outcome(world)
    clinician = as_clinician_a(world)
    api = login(world.app, "clinician.a@example.test")

    def selects() -> int:
        with QueryCounter(world.app) as counter:
            assert clinician.get(f"/clinic/patients/{world.patient_1}?all=1").status_code == 200
        return counter.selects

    few = selects()
    for day in range(1, 20):
        for instrument in ("phq9", "gad7", "pcl5"):
            submit_total(api, world.patient_1, instrument, 9, f"2026-03-{day:02d}T09:00:00+00:00")
    for month in (5, 6, 7):
        series = api.post(
            f"/api/v1/patients/{world.patient_1}/series",
            json={"label": f"Booster {month}", "started_at": f"2026-0{month}-01T08:00:00+00:00"},
        ).json
        api.post(
            f"/api/v1/series/{series['id']}/sessions",
            json={"administered_at": f"2026-0{month}-02T08:00:00+00:00"},
        )
    submit(api, world.patient_1)  # and an open alert
    assert selects() == few  # not one more for 57 more responses, 3 series, an alert


def test_a_clinician_off_the_care_team_gets_404_and_an_admin_sees_all(world):
    response_id = submit(login(world.app, "admin@example.test"), world.patient_1).json["id"]
    outsider = as_clinician_b(world)
    for path in (
        f"/clinic/patients/{world.patient_1}",
        f"/clinic/patients/{world.patient_1}/series/new",
        f"/clinic/responses/{response_id}",
        "/clinic/patients/999999",
    ):
        response = outsider.get(path)
        assert response.status_code == 404, path
        assert response.mimetype == "text/html"
    denied = audit_events(world.app, AuditEvent.action == "access_denied")
    assert [(e.resource_type, e.patient_id, e.outcome) for e in denied] == [
        ("patient", world.patient_1, "not_found"),
        ("patient", world.patient_1, "not_found"),
        ("patient", world.patient_1, "not_found"),
        ("patient", None, "not_found"),
    ]
    assert as_admin(world).get(f"/clinic/patients/{world.patient_1}").status_code == 200
    assert as_clinician_a(world).get(f"/clinic/patients/{world.patient_2}").status_code == 404


def test_patient_page_shows_chart_series_outcome_and_item_answers(world):
    arranged = arrange_outcome(world)
    html = text_of(as_clinician_a(world).get(f"/clinic/patients/{world.patient_1}"))
    phq9 = html.split('id="instrument-phq9"')[1].split('id="instrument-gad7"')[0]
    assert phq9.count("<svg") == 2  # phone and desktop renderings
    assert 'width="360"' in phq9 and 'width="900"' in phq9
    series_id = arranged["series"]["id"]
    assert cells(phq9, f'data-series-id="{series_id}"') == [
        "Ketamine induction Induction · 10 Jan 2026 – 24 Jan 2026",
        "19 8 Jan 2026",
        "7 26 Jan 2026",
        "\u221212 (\u221263.2 %)",
        "Response No remission Reliable improvement Reliable recovery",
    ]
    post_id = arranged["post"]["id"]
    assert cells(phq9, f'data-response-id="{post_id}"') == [
        "26 Jan 2026",
        "7 Mild",
        "3",
        "3",
        "1",
        "0",
        "0",
        "0",
        "0",
        "0",
        "0",
        "–",
        "Final",
    ]
    assert "No final GAD-7 responses yet." in html
    assert f'href="/clinic/series/{series_id}"' in html


def test_patient_page_audits_like_the_api_calls_it_replaces(world):
    arrange_outcome(world)
    submit(login(world.app, "clinician.a@example.test"), world.patient_1)  # an open alert
    p = world.patient_1
    api = login(world.app, "clinician.a@example.test")
    page = as_clinician_a(world)
    before = last_audit_id(world.app)
    for url in (
        f"/api/v1/patients/{p}",
        f"/api/v1/patients/{p}/trends/phq9.svg",
        f"/api/v1/patients/{p}/trends/gad7.svg",
        f"/api/v1/patients/{p}/trends/pcl5.svg",
        f"/api/v1/patients/{p}/series",
        f"/api/v1/patients/{p}/responses",
        f"/api/v1/alerts?status=open&patient_id={p}",
    ):
        assert api.get(url).status_code == 200, url
    middle = last_audit_id(world.app)
    assert page.get(f"/clinic/patients/{p}").status_code == 200
    by_api = audit_shape(audit_since(world.app, before)[: middle - before])
    by_page = audit_shape(audit_since(world.app, middle))
    assert by_page == by_api
    assert sum(by_page.values()) == 7


def test_alerts_inbox_and_acknowledge(world):
    response_id = submit(login(world.app, "admin@example.test"), world.patient_1).json["id"]
    clinician = as_clinician_a(world)
    html = text_of(clinician.get("/clinic/alerts"))
    assert html.count('<li class="card alert-card open">') == 1
    assert "Thoughts of self-harm (PHQ-9 item 9)" in html
    assert f'href="/clinic/responses/{response_id}"' in html
    assert "No open alerts." in text_of(as_clinician_b(world).get("/clinic/alerts"))
    with world.app.app_context():
        alert_id = db.session.scalar(select(Alert.id))
    url = f"/clinic/alerts/{alert_id}/acknowledge"
    assert as_clinician_b(world).post(url, {}).status_code == 404
    assert clinician.post(url, {"note": "x" * 2001}).status_code == 422
    assert clinician.post(url, {}, csrf=False).status_code == 403
    with world.app.app_context():
        assert db.session.get(Alert, alert_id).status == "open"
    done = clinician.post(url, {"note": "Called; safety plan reviewed", "next": "/clinic"})
    assert (done.status_code, done.headers["Location"]) == (303, "/clinic")
    again = as_admin(world).post(url, {"note": "second"})
    assert again.headers["Location"] == "/clinic/alerts"
    with world.app.app_context():
        alert = db.session.get(Alert, alert_id)
        assert (alert.status, alert.acknowledged_by, alert.note) == (
            "acknowledged",
            world.clinician_a_id,
            "Called; safety plan reviewed",
        )
    updates = audit_events(world.app, AuditEvent.action == "update")
    assert [(e.resource_type, e.resource_id, e.actor_id) for e in updates] == [
        ("alert", str(alert_id), str(world.clinician_a_id))
    ]
    listed = text_of(clinician.get("/clinic/alerts?status=acknowledged"))
    assert "Called; safety plan reviewed" in listed


def test_too_long_note_is_shown_next_to_its_field(world):
    submit(login(world.app, "admin@example.test"), world.patient_1)
    with world.app.app_context():
        alert_id = db.session.scalar(select(Alert.id))
    response = as_clinician_a(world).post(
        f"/clinic/alerts/{alert_id}/acknowledge", {"note": "x" * 2001}
    )
    html = text_of(response)
    assert f'<p class="field-error" id="note-{alert_id}-error">' in html
    assert "Use at most 2000 characters." in html
    assert f'aria-invalid="true" aria-describedby="note-{alert_id}-error"' in html


def test_inbox_audits_like_the_api(world):
    submit(login(world.app, "admin@example.test"), world.patient_1)
    submit(login(world.app, "admin@example.test"), world.patient_2)
    api = login(world.app, "admin@example.test")
    page = as_admin(world)
    before = last_audit_id(world.app)
    api.get("/api/v1/alerts?status=open")
    middle = last_audit_id(world.app)
    page.get("/clinic/alerts")
    by_api = audit_shape(audit_since(world.app, before)[: middle - before])
    assert audit_shape(audit_since(world.app, middle)) == by_api
    assert sum(by_api.values()) == 2


def test_example_answers_are_listed_item_by_item(world):
    response_id = submit(login(world.app, "admin@example.test"), world.patient_1).json["id"]
    html = text_of(as_clinician_a(world).get(f"/clinic/responses/{response_id}"))
    assert "More than half the days (2)" in html  # item 1 of PHQ9_EXAMPLE
    assert html.count("Nearly every day (3)") == PHQ9_EXAMPLE.count(3) + 0
    assert "Item 9 endorsed" in html


def test_a_series_that_started_below_the_clinical_range_says_so(world):
    """PHQ-9 3 → 1: not a case (3 < 10), so neither "response" nor "no response" is shown."""
    api = login(world.app, "clinician.a@example.test")
    series = api.post(
        f"/api/v1/patients/{world.patient_1}/series",
        json={"label": "Maintenance", "kind": "maintenance", "started_at": START, "ended_at": END},
    ).json
    submit_total(api, world.patient_1, "phq9", 3, "2026-01-08T09:00:00+00:00")
    submit_total(api, world.patient_1, "phq9", 1, "2026-01-26T09:00:00+00:00")
    html = text_of(as_clinician_a(world).get(f"/clinic/patients/{world.patient_1}"))
    phq9 = html.split('id="instrument-phq9"')[1].split('id="instrument-gad7"')[0]
    outcome = cells(phq9, f'data-series-id="{series["id"]}"')[-1]
    assert outcome == (
        "Baseline below the clinical range: response and remission not judged No reliable change"
    )


@pytest.mark.parametrize(
    ("answers", "shown"),
    [
        ([2, 2, 0, 0, 0, 0, 0, 0, 1], "Other depressive syndrome (PHQ-9 algorithm, provisional)"),
        ([2, 0, 2, 2, 2, 2, 0, 0, 0], "Major depressive syndrome (PHQ-9 algorithm, provisional)"),
        ([0, 0, 3, 3, 3, 3, 3, 3, 0], "None met by the published algorithm"),
    ],
)
def test_response_page_names_the_depressive_syndrome(world, answers, shown):
    api = login(world.app, "clinician.a@example.test")
    created = submit(api, world.patient_1, {"answers": answers}).json
    html = text_of(as_clinician_a(world).get(f"/clinic/responses/{created['id']}"))
    assert "<dt>Syndrome</dt>" in html and shown in html
    # GAD-7 has no such algorithm: no row at all.
    gad7 = submit(api, world.patient_1, {"instrument": "gad7", "answers": [3] * 7}).json
    assert "<dt>Syndrome</dt>" not in text_of(
        as_clinician_a(world).get(f"/clinic/responses/{gad7['id']}")
    )
