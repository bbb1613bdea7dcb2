"""Safety alerts: opened with the response, seen only by the care team, acknowledged once."""

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


def test_amendment_does_not_repeat_an_item_9_alert(world):
    api = world.as_clinician_a()
    original = submit(api, world.patient_1).json
    corrected = PHQ9_EXAMPLE[:8] + [2]
    api.post(
        f"/api/v1/responses/{original['id']}/amend",
        json={"answers": corrected, "reason": "item 9 misread"},
    )
    assert count(world.app, Alert, Alert.kind == "suicidal_ideation") == 1
