"""Clinician forms: series, sessions, corrections and retractions.

Each write goes through the same rules as the API, stores nothing when refused
(with the message next to its field), and writes the same audit events as the
equivalent API call.
"""

from __future__ import annotations

from sqlalchemy import select

from tests.helpers import PHQ9_EXAMPLE, count, login, submit
from tests.web.helpers import (
    as_clinician_a,
    as_clinician_b,
    audit_shape,
    audit_since,
    last_audit_id,
    text_of,
)
from tracker.extensions import db
from tracker.models import Response, TreatmentSeries, TreatmentSession

SERIES = {
    "label": "Ketamine induction",
    "kind": "induction",
    "started_at": "2026-01-10T08:00",
    "ended_at": "",
    "notes": "",
}


def phq9_fields(answers: list[int]) -> dict:
    return {f"item-{n}": str(v) for n, v in enumerate(answers, 1)}


def api_and_page_audit(world, api_call, page_call, same_row: bool = True) -> None:  # type: ignore[no-untyped-def]
    """The page's audit events equal the API's for the same kind of call.

    ``same_row=False`` when the page acts on another row than the API call did
    (a response can be amended only once): then row ids are left out.
    """
    before = last_audit_id(world.app)
    api_call()
    middle = last_audit_id(world.app)
    page_call()
    by_api = audit_shape(audit_since(world.app, before)[: middle - before], not same_row)
    by_page = audit_shape(audit_since(world.app, middle), not same_row)
    assert by_page == by_api and sum(by_api.values()) > 0


def test_create_a_series_then_log_sessions_and_end_it(world):
    clinician = as_clinician_a(world)
    form = text_of(clinician.get(f"/clinic/patients/{world.patient_1}/series/new"))
    assert '<label for="label">Name</label>' in form and 'type="datetime-local"' in form
    created = clinician.post(f"/clinic/patients/{world.patient_1}/series", SERIES)
    assert created.status_code == 303
    with world.app.app_context():
        series = db.session.scalars(select(TreatmentSeries)).one()
        assert (series.label, series.kind, series.ended_at, series.created_by) == (
            "Ketamine induction",
            "induction",
            None,
            world.clinician_a_id,
        )
        assert series.started_at.isoformat() == "2026-01-10T08:00:00+00:00"  # clinic zone UTC
        series_id = series.id
    assert created.headers["Location"] == f"/clinic/series/{series_id}"
    logged = clinician.post(
        f"/clinic/series/{series_id}/sessions",
        {"administered_at": "2026-01-12T09:30", "dose_mg": "35", "session_notes": "well tolerated"},
    )
    assert logged.status_code == 303
    ended = clinician.post(f"/clinic/series/{series_id}/end", {"ended_at": "2026-01-24T08:00"})
    assert ended.status_code == 303
    page = text_of(clinician.get(f"/clinic/series/{series_id}"))
    assert "12 Jan 2026, 09:30" in page and "well tolerated" in page and ">35<" in page
    assert "24 Jan 2026, 08:00" in page
    reopened = clinician.post(f"/clinic/series/{series_id}/end", {"ended_at": ""})
    assert reopened.status_code == 303
    with world.app.app_context():
        session = db.session.scalars(select(TreatmentSession)).one()
        assert (session.dose_mg, session.notes) == (35.0, "well tolerated")
        assert db.session.get(TreatmentSeries, series_id).ended_at is None


def test_series_times_are_read_in_the_clinic_time_zone(world):
    world.app.config["CLINIC_TIMEZONE"] = "America/New_York"
    clinician = as_clinician_a(world)
    clinician.post(f"/clinic/patients/{world.patient_1}/series", SERIES)
    with world.app.app_context():
        started = db.session.scalars(select(TreatmentSeries.started_at)).one()
    assert started.isoformat() == "2026-01-10T13:00:00+00:00"  # 08:00 EST


def test_invalid_series_stores_nothing_and_names_each_field(world):
    clinician = as_clinician_a(world)
    bad = SERIES | {"label": " ", "kind": "forever", "ended_at": "2026-01-09T08:00"}
    response = clinician.post(f"/clinic/patients/{world.patient_1}/series", bad)
    assert response.status_code == 422
    html = text_of(response)
    assert '<p class="field-error" id="label-error">' in html
    assert '<p class="field-error" id="kind-error">' in html
    assert "The end must not be before the start." in html
    garbled = clinician.post(
        f"/clinic/patients/{world.patient_1}/series", SERIES | {"started_at": "next tuesday"}
    )
    assert garbled.status_code == 422
    assert "Enter a date and time like 2026-03-01 09:30." in text_of(garbled)
    assert count(world.app, TreatmentSeries) == 0


def test_sessions_must_fall_inside_their_series(world):
    clinician = as_clinician_a(world)
    clinician.post(
        f"/clinic/patients/{world.patient_1}/series", SERIES | {"ended_at": "2026-01-24T08:00"}
    )
    with world.app.app_context():
        series_id = db.session.scalar(select(TreatmentSeries.id))
    url = f"/clinic/series/{series_id}/sessions"
    outside = clinician.post(url, {"administered_at": "2026-02-01T08:00"})
    assert outside.status_code == 422
    assert 'id="administered_at-error"' in text_of(outside)
    negative = clinician.post(url, {"administered_at": "2026-01-12T08:00", "dose_mg": "-3"})
    assert negative.status_code == 422
    assert "Enter a number above 0" in text_of(negative)
    assert count(world.app, TreatmentSession) == 0
    clinician.post(url, {"administered_at": "2026-01-20T08:00"})
    # Ending the series before its session would leave the session outside.
    early = clinician.post(f"/clinic/series/{series_id}/end", {"ended_at": "2026-01-15T08:00"})
    assert early.status_code == 422
    assert "A session of this series would fall outside it." in text_of(early)
    with world.app.app_context():
        assert db.session.get(TreatmentSeries, series_id).ended_at.day == 24


def test_series_writes_need_the_care_team_and_the_token(world):
    clinician = as_clinician_a(world)
    assert (
        clinician.post(f"/clinic/patients/{world.patient_1}/series", SERIES, csrf=False).status_code
        == 403
    )
    outsider = as_clinician_b(world)
    assert outsider.post(f"/clinic/patients/{world.patient_1}/series", SERIES).status_code == 404
    clinician.post(f"/clinic/patients/{world.patient_1}/series", SERIES)
    with world.app.app_context():
        series_id = db.session.scalar(select(TreatmentSeries.id))
    assert outsider.get(f"/clinic/series/{series_id}").status_code == 404
    assert (
        outsider.post(
            f"/clinic/series/{series_id}/sessions", {"administered_at": "2026-01-12T08:00"}
        ).status_code
        == 404
    )
    assert outsider.post(f"/clinic/series/{series_id}/end", {"ended_at": ""}).status_code == 404
    assert clinician.get("/clinic/series/999999").status_code == 404
    assert count(world.app, TreatmentSeries) == 1 and count(world.app, TreatmentSession) == 0


def test_series_pages_audit_like_the_api(world):
    api = login(world.app, "clinician.a@example.test")
    page = as_clinician_a(world)
    p = world.patient_1
    api_and_page_audit(
        world,
        lambda: api.post(
            f"/api/v1/patients/{p}/series",
            json={"label": "A", "kind": "induction", "started_at": "2026-01-10T08:00:00+00:00"},
        ),
        lambda: page.post(f"/clinic/patients/{p}/series", SERIES),
    )
    with world.app.app_context():
        first, second = db.session.scalars(select(TreatmentSeries.id).order_by(TreatmentSeries.id))
    api_and_page_audit(
        world,
        lambda: api.post(
            f"/api/v1/series/{first}/sessions",
            json={"administered_at": "2026-01-12T08:00:00+00:00"},
        ),
        lambda: page.post(
            f"/clinic/series/{second}/sessions", {"administered_at": "2026-01-12T08:00"}
        ),
    )
    api_and_page_audit(
        world,
        lambda: api.patch(
            f"/api/v1/series/{first}", json={"ended_at": "2026-01-20T08:00:00+00:00"}
        ),
        lambda: page.post(f"/clinic/series/{first}/end", {"ended_at": "2026-01-21T08:00"}),
    )
    api_and_page_audit(
        world,
        lambda: api.get(f"/api/v1/series/{first}"),
        lambda: page.get(f"/clinic/series/{first}"),
    )


def test_amend_creates_a_superseding_version(world):
    original = int(submit(login(world.app, "admin@example.test"), world.patient_1).json["id"])
    clinician = as_clinician_a(world)
    page = text_of(clinician.get(f"/clinic/responses/{original}"))
    assert 'id="item-1-2" name="item-1" value="2" checked' in page  # starts from stored answers
    corrected = [2, 1, 3, 0, 1, 2, 1, 0, 0]
    response = clinician.post(
        f"/clinic/responses/{original}/amend",
        phq9_fields(corrected) | {"reason": "Patient meant 0 on item 9", "difficulty": "1"},
    )
    assert response.status_code == 303
    with world.app.app_context():
        old = db.session.get(Response, original)
        new = db.session.scalars(select(Response).where(Response.supersedes_id == original)).one()
        assert (old.status, old.status_reason) == ("amended", "Patient meant 0 on item 9")
        assert (new.status, new.answers, new.total, new.difficulty) == ("final", corrected, 10, 1)
        assert (new.source, new.entered_by) == ("clinician", world.clinician_a_id)
        new_id = new.id
    assert response.headers["Location"] == f"/clinic/responses/{new_id}"
    shown = text_of(clinician.get(f"/clinic/responses/{original}"))
    assert "Amended" in shown and f'href="/clinic/responses/{new_id}"' in shown
    assert "Correct the answers" not in shown  # only a final response can be corrected
    again = clinician.post(
        f"/clinic/responses/{original}/amend", phq9_fields(corrected) | {"reason": "twice"}
    )
    assert again.status_code == 409
    assert "Only a final response can be amended" in text_of(again)
    assert count(world.app, Response) == 2


def test_amend_needs_a_reason_and_every_answer(world):
    original = int(submit(login(world.app, "admin@example.test"), world.patient_1).json["id"])
    clinician = as_clinician_a(world)
    fields = phq9_fields(PHQ9_EXAMPLE)
    del fields["item-2"]
    response = clinician.post(f"/clinic/responses/{original}/amend", fields | {"reason": ""})
    assert response.status_code == 422
    html = text_of(response)
    assert 'id="reason-error"' in html and 'id="item-2-error"' in html
    assert 'id="item-3-3" name="item-3" value="3" checked' in html  # kept what was sent
    assert (
        as_clinician_b(world)
        .post(f"/clinic/responses/{original}/amend", phq9_fields(PHQ9_EXAMPLE) | {"reason": "x"})
        .status_code
        == 404
    )
    with world.app.app_context():
        assert db.session.get(Response, original).status == "final"
    assert count(world.app, Response) == 1


def test_retract_keeps_the_response_readable(world):
    original = int(submit(login(world.app, "admin@example.test"), world.patient_1).json["id"])
    clinician = as_clinician_a(world)
    refused = clinician.post(f"/clinic/responses/{original}/entered-in-error", {})
    assert refused.status_code == 422
    assert 'id="retract_reason-error"' in text_of(refused)
    # The amend form on the re-rendered page still shows the stored answers.
    assert 'id="item-1-2" name="item-1" value="2" checked' in text_of(refused)
    done = clinician.post(
        f"/clinic/responses/{original}/entered-in-error", {"retract_reason": "Wrong patient"}
    )
    assert done.status_code == 303
    with world.app.app_context():
        row = db.session.get(Response, original)
        assert (row.status, row.status_reason) == ("entered-in-error", "Wrong patient")
    shown = text_of(clinician.get(f"/clinic/responses/{original}"))
    assert "Entered in error" in shown and "Reason: Wrong patient" in shown
    trend = text_of(clinician.get(f"/clinic/patients/{world.patient_1}"))
    assert "No final PHQ-9 responses yet." in trend


def test_response_pages_audit_like_the_api(world):
    admin = login(world.app, "admin@example.test")
    first = submit(admin, world.patient_1).json["id"]
    second = submit(admin, world.patient_1, {"completed_at": "2026-03-02T09:30:00+00:00"}).json
    api = login(world.app, "clinician.a@example.test")
    page = as_clinician_a(world)
    api_and_page_audit(
        world,
        lambda: api.get(f"/api/v1/responses/{first}"),
        lambda: page.get(f"/clinic/responses/{first}"),
    )
    api_and_page_audit(
        world,
        lambda: api.post(
            f"/api/v1/responses/{first}/amend", json={"answers": [0] * 9, "reason": "r"}
        ),
        lambda: page.post(
            f"/clinic/responses/{second['id']}/amend", phq9_fields([0] * 9) | {"reason": "r"}
        ),
        same_row=False,
    )
    with world.app.app_context():
        finals = list(
            db.session.scalars(
                select(Response.id).where(Response.status == "final").order_by(Response.id)
            )
        )
    api_and_page_audit(
        world,
        lambda: api.post(f"/api/v1/responses/{finals[0]}/entered-in-error", json={"reason": "r"}),
        lambda: page.post(
            f"/clinic/responses/{finals[1]}/entered-in-error", {"retract_reason": "r"}
        ),
        same_row=False,
    )


def test_patient_submission_audits_like_the_api(world):
    from tests.web.helpers import as_patient_1

    api = login(world.app, "patient.one@example.test")
    page = as_patient_1(world)
    api_and_page_audit(
        world,
        lambda: submit(api, world.patient_1),
        lambda: page.post("/me/questionnaires/phq9", phq9_fields(PHQ9_EXAMPLE)),
    )
