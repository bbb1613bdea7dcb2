"""The plan on the series forms: choose one, change it, remove it, refuse a retired one."""

from __future__ import annotations

import re
from html import unescape

from tests.helpers import count
from tests.web.due_example import CHECK_IN, make_plan
from tests.web.helpers import as_clinician_a, as_clinician_b, text_of
from tracker.extensions import db
from tracker.models import MeasurementPlan, TreatmentSeries
from tracker.services import plans

NEW_SERIES = {"label": "Induction", "kind": "induction", "started_at": "2026-01-10T08:00"}


def arrange_plans(world) -> tuple[int, int]:  # type: ignore[no-untyped-def]
    """A current plan and a retired one."""
    with world.app.app_context():
        current = make_plan("Weekly check-in", CHECK_IN, ["phq9"])
        retired = make_plan("Old plan", CHECK_IN, ["gad7"])
        plans.retire(db.session.get(MeasurementPlan, retired))
    return current, retired


def options(html: str) -> list[str]:
    select = html.split('<select id="plan_id"', 1)[1].split("</select>", 1)[0]
    return [
        re.sub(r"\s+", " ", o).strip() for o in re.findall(r"<option[^>]*>([^<]*)</option>", select)
    ]


def series_plan(app, series_id: int) -> int | None:  # type: ignore[no-untyped-def]
    with app.app_context():
        return db.session.get(TreatmentSeries, series_id).plan_id


def test_new_series_form_offers_current_plans_and_no_plan(world):
    current, _retired = arrange_plans(world)
    clinician = as_clinician_a(world)
    html = text_of(clinician.get(f"/clinic/patients/{world.patient_1}/series/new"))
    assert options(html) == ["No plan", "Weekly check-in"]  # the retired one is not offered
    assert '<label for="plan_id">' in html
    done = clinician.post(
        f"/clinic/patients/{world.patient_1}/series", NEW_SERIES | {"plan_id": str(current)}
    )
    assert done.status_code == 303, text_of(done)
    series_id = int(done.headers["Location"].rsplit("/", 1)[1])
    assert series_plan(world.app, series_id) == current
    page = text_of(clinician.get(f"/clinic/series/{series_id}"))
    assert "Weekly check-in" in page and "schedule" in page
    assert f'<option value="{current}" selected>' in page


def test_new_series_without_a_plan(world):
    arrange_plans(world)
    clinician = as_clinician_a(world)
    done = clinician.post(
        f"/clinic/patients/{world.patient_1}/series", NEW_SERIES | {"plan_id": ""}
    )
    assert done.status_code == 303
    assert series_plan(world.app, 1) is None


def test_a_retired_unknown_or_odd_plan_is_refused_next_to_the_field(world):
    _current, retired = arrange_plans(world)
    clinician = as_clinician_a(world)
    for value, message in (
        (str(retired), "This measurement plan is retired; choose a current one."),
        ("999999", "No such measurement plan."),
        ("abc", "Choose one of the listed options."),
        ("\u00b2", "Choose one of the listed options."),
    ):
        refused = clinician.post(
            f"/clinic/patients/{world.patient_1}/series", NEW_SERIES | {"plan_id": value}
        )
        assert refused.status_code == 422, value
        html = text_of(refused)
        field = html.split('<div class="field has-error">', 1)[1].split("</div>", 1)[0]
        assert 'for="plan_id"' in field and message in field, value
        assert 'aria-invalid="true"' in field
        assert 'href="#plan_id"' in html  # the summary links to the field
    assert count(world.app, TreatmentSeries) == 0


def test_series_page_changes_and_removes_the_plan(world):
    current, retired = arrange_plans(world)
    clinician = as_clinician_a(world)
    clinician.post(f"/clinic/patients/{world.patient_1}/series", NEW_SERIES)
    page = text_of(clinician.get("/clinic/series/1"))
    version = unescape(re.search(r'name="version" value="([^"]+)"', page).group(1))
    done = clinician.post("/clinic/series/1/plan", {"plan_id": str(current), "version": version})
    assert done.status_code == 303, text_of(done)
    assert series_plan(world.app, 1) == current
    stale = clinician.post("/clinic/series/1/plan", {"plan_id": "", "version": version})
    assert stale.status_code == 409  # the page was out of date: nothing overwritten
    assert "Someone changed this series" in text_of(stale)
    assert series_plan(world.app, 1) == current
    refused = clinician.post("/clinic/series/1/plan", {"plan_id": str(retired)})
    assert refused.status_code == 422
    assert "This measurement plan is retired" in text_of(refused)
    assert series_plan(world.app, 1) == current
    removed = clinician.post("/clinic/series/1/plan", {"plan_id": ""})
    assert removed.status_code == 303
    assert series_plan(world.app, 1) is None


def test_a_series_keeps_a_plan_retired_since(world):
    current, _retired = arrange_plans(world)
    clinician = as_clinician_a(world)
    clinician.post(
        f"/clinic/patients/{world.patient_1}/series", NEW_SERIES | {"plan_id": str(current)}
    )
    with world.app.app_context():
        plans.retire(db.session.get(MeasurementPlan, current))
    page = text_of(clinician.get("/clinic/series/1"))
    assert options(page) == ["No plan", "Weekly check-in (retired)"]
    kept = clinician.post("/clinic/series/1/plan", {"plan_id": str(current)})
    assert kept.status_code == 303  # saving the same plan again is fine
    assert series_plan(world.app, 1) == current


def test_only_the_care_team_changes_the_plan(world):
    current, _retired = arrange_plans(world)
    as_clinician_a(world).post(f"/clinic/patients/{world.patient_1}/series", NEW_SERIES)
    outsider = as_clinician_b(world)
    assert outsider.post("/clinic/series/1/plan", {"plan_id": str(current)}).status_code == 404
    assert outsider.post(
        "/clinic/series/1/plan", {"plan_id": str(current)}, csrf=False
    ).status_code in (403, 404)
    no_token = as_clinician_a(world).post(
        "/clinic/series/1/plan", {"plan_id": str(current)}, csrf=False
    )
    assert no_token.status_code == 403
    assert series_plan(world.app, 1) is None
