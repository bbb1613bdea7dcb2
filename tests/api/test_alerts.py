"""Safety alerts: opened with the response, seen only by the care team, acknowledged once."""

import pytest

from tests.helpers import PHQ9_EXAMPLE, count, submit, submit_total
from tracker.models import Alert


def test_item_9_alert_reaches_only_the_care_team(world):
    response = submit(world.as_patient_1(), world.patient_1).json
    assert response["flags"] == ["suicidal_ideation"]  # the patient's app can show help at once
    alerts = world.as_clinician_a().get("/api/v1/alerts?status=open").json["items"]
    assert [(a["kind"], a["response_id"], a["status"]) for a in alerts] == [
        ("suicidal_ideation", response["id"], "open")
    ]
    assert world.as_clinician_b().get("/api/v1/alerts").json["items"] == []
    assert len(world.as_admin().get("/api/v1/alerts").json["items"]) == 1
    assert world.as_patient_1().get("/api/v1/alerts").status_code == 403


def test_acknowledge_once(world):
    submit(world.as_patient_1(), world.patient_1)
    alert_id = world.as_admin().get("/api/v1/alerts").json["items"][0]["id"]
    url = f"/api/v1/alerts/{alert_id}/acknowledge"
    assert world.as_clinician_b().post(url, json={}).status_code == 404
    assert world.as_patient_1().post(url, json={}).status_code == 403
    first = world.as_clinician_a().post(url, json={"note": "Called patient; safety plan reviewed"})
    assert first.status_code == 200
    assert first.json["status"] == "acknowledged"
    assert first.json["acknowledged_by"] == str(world.clinician_a_id)
    again = world.as_admin().post(url, json={"note": "second"})
    assert again.status_code == 200
    assert again.json["acknowledged_by"] == str(world.clinician_a_id)
    assert again.json["note"] == "Called patient; safety plan reviewed"
    assert world.as_admin().get("/api/v1/alerts?status=open").json["items"] == []
    assert world.as_admin().get("/api/v1/alerts?status=maybe").status_code == 422
    assert world.as_admin().post("/api/v1/alerts/999/acknowledge", json={}).status_code == 404


def test_reliable_deterioration_opens_an_alert_at_the_threshold(world):
    api = world.as_clinician_a()
    submit_total(api, world.patient_1, "phq9", 5, "2026-03-01T09:00:00+00:00")
    submit_total(api, world.patient_1, "phq9", 10, "2026-03-08T09:00:00+00:00")  # +5 < RC 6
    assert count(world.app, Alert) == 0
    worse = submit_total(api, world.patient_1, "phq9", 16, "2026-03-15T09:00:00+00:00")  # +6
    kinds = [(a["kind"], a["response_id"]) for a in api.get("/api/v1/alerts").json["items"]]
    assert kinds == [("reliable_deterioration", worse["id"])]
    # PCL-5: +14 is not reliable, +15 is (RC 15); previous is per instrument.
    submit_total(api, world.patient_1, "pcl5", 20, "2026-03-01T09:00:00+00:00")
    submit_total(api, world.patient_1, "pcl5", 34, "2026-03-08T09:00:00+00:00")
    assert count(world.app, Alert) == 1
    submit_total(api, world.patient_1, "pcl5", 49, "2026-03-15T09:00:00+00:00")
    assert count(world.app, Alert) == 2


def test_deterioration_ignores_retracted_scores(world):
    api = world.as_clinician_a()
    low = submit_total(api, world.patient_1, "phq9", 3, "2026-03-01T09:00:00+00:00")
    submit_total(api, world.patient_1, "phq9", 12, "2026-03-02T09:00:00+00:00")  # +9: alert
    assert count(world.app, Alert) == 1
    api.post(f"/api/v1/responses/{low['id']}/entered-in-error", json={"reason": "test entry"})
    submit_total(api, world.patient_1, "phq9", 17, "2026-03-09T09:00:00+00:00")  # +5 from 12
    assert count(world.app, Alert) == 1


def _series(api, patient_id, started_at: str, ended_at: str | None = None) -> str:  # type: ignore[no-untyped-def]
    body = {"label": "Ketamine induction", "kind": "induction", "started_at": started_at}
    if ended_at is not None:
        body["ended_at"] = ended_at
    created = api.post(f"/api/v1/patients/{patient_id}/series", json=body)
    assert created.status_code == 201, created.json
    return created.json["id"]


def _deteriorations(api) -> list[str]:  # type: ignore[no-untyped-def]
    """Response ids with a reliable-deterioration alert, each at most once, oldest first."""
    items = api.get("/api/v1/alerts?limit=500").json["items"]
    found = [a for a in items if a["kind"] == "reliable_deterioration"]
    assert all(a["priority"] == "routine" for a in found)
    return sorted((a["response_id"] for a in found), key=int)


def test_deterioration_against_an_ongoing_series_baseline(world):
    """PHQ-9 (reliable change 6) 10 before the series, then 15, 20, 25 during it.

    15: +5 on the previous 10 and on the baseline 10: no (5 < 6).
    20: +5 on the previous 15: no; +10 on the baseline 10: yes.
    25: +5 on the previous 20: no; +15 on the baseline 10: yes.
    """
    api = world.as_clinician_a()
    submit_total(api, world.patient_1, "phq9", 10, "2026-03-08T09:00:00+00:00")  # baseline
    _series(api, world.patient_1, "2026-03-10T08:00:00+00:00")
    fifteen = submit_total(api, world.patient_1, "phq9", 15, "2026-03-15T09:00:00+00:00")
    twenty = submit_total(api, world.patient_1, "phq9", 20, "2026-03-22T09:00:00+00:00")
    twenty_five = submit_total(api, world.patient_1, "phq9", 25, "2026-03-29T09:00:00+00:00")
    assert fifteen["total"] == 15
    assert _deteriorations(api) == [twenty["id"], twenty_five["id"]]
    # 25 answers item 9 with 1 (helpers fill items in order): its own routine alert.
    ideation = [
        (a["response_id"], a["priority"])
        for a in api.get("/api/v1/alerts").json["items"]
        if a["kind"] == "suicidal_ideation"
    ]
    assert ideation == [(twenty_five["id"], "routine")]


def test_deterioration_against_an_ended_series_only_within_the_post_window(world):
    """Series 10–20 March, baseline 10 on 9 March; the post window closes 19 April 08:00.

    14 on 10 April: +4 on the previous and on the baseline: no.
    17 on 18 April: +3 on the previous 14: no; +7 on the baseline 10 (ended 29 days
    before): yes.
    20 on 25 April: +3 on the previous 17: no; the series ended 36 days before: not
    compared with its baseline, so no.
    """
    api = world.as_clinician_a()
    submit_total(api, world.patient_1, "phq9", 10, "2026-03-09T09:00:00+00:00")
    _series(api, world.patient_1, "2026-03-10T08:00:00+00:00", "2026-03-20T08:00:00+00:00")
    submit_total(api, world.patient_1, "phq9", 14, "2026-04-10T09:00:00+00:00")
    seventeen = submit_total(api, world.patient_1, "phq9", 17, "2026-04-18T09:00:00+00:00")
    submit_total(api, world.patient_1, "phq9", 20, "2026-04-25T09:00:00+00:00")
    assert _deteriorations(api) == [seventeen["id"]]


def test_deterioration_ignores_a_baseline_outside_the_baseline_window(world):
    """A score 31 days before the start is no baseline (docs/clinical-rules.md,
    "Baseline and post windows"); another instrument's score is not one either."""
    api = world.as_clinician_a()
    submit_total(api, world.patient_1, "phq9", 5, "2026-02-07T07:00:00+00:00")
    submit_total(api, world.patient_1, "gad7", 2, "2026-03-09T09:00:00+00:00")
    _series(api, world.patient_1, "2026-03-10T08:00:00+00:00")
    submit_total(api, world.patient_1, "phq9", 10, "2026-03-15T09:00:00+00:00")  # +5
    submit_total(api, world.patient_1, "phq9", 14, "2026-03-22T09:00:00+00:00")  # +4, +9
    assert _deteriorations(api) == []


def test_one_deterioration_alert_per_response_and_one_query_for_all_series(world):
    """Worse than the previous score and than three series' baselines: one alert.
    The series baselines are one statement, however many series the patient has."""
    from tests.web.helpers import QueryCounter

    api = world.as_clinician_a()
    submit_total(api, world.patient_1, "phq9", 4, "2026-03-08T09:00:00+00:00")
    _series(api, world.patient_1, "2026-03-09T08:00:00+00:00")
    with QueryCounter(world.app) as one_series:
        submit_total(api, world.patient_1, "phq9", 4, "2026-03-09T09:00:00+00:00")
    _series(api, world.patient_1, "2026-03-10T08:00:00+00:00")
    _series(api, world.patient_1, "2026-03-11T08:00:00+00:00")
    with QueryCounter(world.app) as three_series:
        submit_total(api, world.patient_1, "phq9", 4, "2026-03-11T09:00:00+00:00")
    assert len(three_series.statements) == len(one_series.statements)
    worse = submit_total(api, world.patient_1, "phq9", 12, "2026-03-12T09:00:00+00:00")  # +8
    assert _deteriorations(api) == [worse["id"]]


def _amend(api, response_id: str, item_9: int) -> dict:  # type: ignore[no-untyped-def]
    amended = api.post(
        f"/api/v1/responses/{response_id}/amend",
        json={"answers": PHQ9_EXAMPLE[:8] + [item_9], "reason": "item 9 misread"},
    )
    assert amended.status_code == 201, amended.json
    return amended.json


@pytest.mark.parametrize(
    ("before", "after", "opened"),
    [
        (1, 2, ["high"]),  # routine raised to high: one new, high alert
        (2, 3, []),  # already high
        (2, 1, []),  # lower: nothing new (the high alert stays open)
        (0, 1, ["routine"]),  # newly endorsed: nothing in the chain had alerted
        (1, 1, []),  # the same risk
        (0, 2, ["high"]),
        (1, 0, []),
    ],
)
def test_amendment_opens_an_item_9_alert_only_for_new_or_higher_risk(world, before, after, opened):
    api = world.as_clinician_a()
    original = submit(api, world.patient_1, {"answers": PHQ9_EXAMPLE[:8] + [before]}).json
    first = [(a["response_id"], a["priority"]) for a in api.get("/api/v1/alerts").json["items"]]
    assert first == (
        [] if before == 0 else [(original["id"], "high" if before >= 2 else "routine")]
    )
    amended = _amend(api, original["id"], after)
    new = [
        a["priority"]
        for a in api.get("/api/v1/alerts").json["items"]
        if a["response_id"] == amended["id"]
    ]
    assert new == opened
    assert all(a["kind"] == "suicidal_ideation" for a in api.get("/api/v1/alerts").json["items"])
    assert count(world.app, Alert) == len(first) + len(opened)


def test_amendment_chain_remembers_every_version(world):
    """1 → 0 → 1: the chain had alerted (routine) at version 1, so version 3 opens nothing;
    then → 2 raises it to high once, and → 3 opens nothing."""
    api = world.as_clinician_a()
    v1 = submit(api, world.patient_1).json  # item 9 = 1: routine
    v2 = _amend(api, v1["id"], 0)
    v3 = _amend(api, v2["id"], 1)
    assert [a["response_id"] for a in api.get("/api/v1/alerts").json["items"]] == [v1["id"]]
    v4 = _amend(api, v3["id"], 2)
    _amend(api, v4["id"], 3)
    listed = [(a["response_id"], a["priority"]) for a in api.get("/api/v1/alerts").json["items"]]
    assert listed == [(v4["id"], "high"), (v1["id"], "routine")]


def test_entered_in_error_does_not_close_an_open_alert(world):
    api = world.as_clinician_a()
    response = submit(api, world.patient_1, {"answers": PHQ9_EXAMPLE[:8] + [2]}).json
    retracted = api.post(
        f"/api/v1/responses/{response['id']}/entered-in-error", json={"reason": "wrong patient"}
    )
    assert retracted.status_code == 200
    open_alerts = api.get("/api/v1/alerts?status=open").json["items"]
    assert [(a["response_id"], a["priority"], a["status"]) for a in open_alerts] == [
        (response["id"], "high", "open")
    ]
