"""Treatment series and sessions through the API, on both databases."""

from tests.helpers import count, submit
from tracker.models import Response, TreatmentSeries, TreatmentSession

START = "2026-01-10T08:00:00+00:00"
END = "2026-01-24T08:00:00+00:00"


def create_series(api, patient_id, **body):
    payload = {"label": "Ketamine induction", "kind": "induction", "started_at": START}
    payload.update(body)
    return api.post(f"/api/v1/patients/{patient_id}/series", json=payload)


def test_create_list_and_end_a_series(world):
    api = world.as_clinician_a()
    created = create_series(api, world.patient_1, notes="6 infusions planned")
    assert created.status_code == 201, created.json
    series = created.json
    assert (series["label"], series["kind"], series["ended_at"]) == (
        "Ketamine induction",
        "induction",
        None,
    )
    assert series["patient_id"] == str(world.patient_1)
    create_series(
        api,
        world.patient_1,
        label="Maintenance",
        kind="maintenance",
        started_at="2026-02-01T08:00:00+00:00",
    )
    listed = api.get(f"/api/v1/patients/{world.patient_1}/series").json["items"]
    assert [s["label"] for s in listed] == ["Ketamine induction", "Maintenance"]
    ended = api.patch(f"/api/v1/series/{series['id']}", json={"ended_at": END})
    assert ended.status_code == 200 and ended.json["ended_at"] == END
    # The patient may read their series but not create or change one.
    patient = world.as_patient_1()
    assert patient.get(f"/api/v1/patients/{world.patient_1}/series").status_code == 200
    assert create_series(patient, world.patient_1).status_code == 403
    assert patient.patch(f"/api/v1/series/{series['id']}", json={"label": "x"}).status_code == 403
    # Another clinician's patient is invisible.
    other = world.as_clinician_b()
    assert other.get(f"/api/v1/series/{series['id']}").status_code == 404
    assert create_series(other, world.patient_1).status_code == 404


def test_end_before_start_is_422_and_changes_nothing(world):
    api = world.as_clinician_a()
    bad = create_series(api, world.patient_1, ended_at="2026-01-09T08:00:00+00:00")
    assert bad.status_code == 422 and "ended_at" in bad.json["errors"]
    assert count(world.app, TreatmentSeries) == 0
    series = create_series(api, world.patient_1).json
    patched = api.patch(
        f"/api/v1/series/{series['id']}", json={"ended_at": "2026-01-10T07:59:59+00:00"}
    )
    assert patched.status_code == 422 and "ended_at" in patched.json["errors"]
    assert api.get(f"/api/v1/series/{series['id']}").json["ended_at"] is None
    for body, field in [
        ({"kind": "weekly"}, "kind"),
        ({"label": ""}, "label"),
        ({"started_at": "2026-01-10"}, "started_at"),
        ({"colour": 1}, "colour"),
    ]:
        response = api.patch(f"/api/v1/series/{series['id']}", json=body)
        assert response.status_code == 422 and field in response.json["errors"], body


def test_sessions_must_fall_inside_the_series(world):
    api = world.as_clinician_a()
    series = create_series(api, world.patient_1, ended_at=END).json
    url = f"/api/v1/series/{series['id']}/sessions"
    ok = api.post(url, json={"administered_at": "2026-01-12T09:00:00+00:00", "dose_mg": 35.5})
    assert ok.status_code == 201 and ok.json["dose_mg"] == 35.5
    outside = api.post(url, json={"administered_at": "2026-01-25T09:00:00+00:00"})
    assert outside.status_code == 422 and "administered_at" in outside.json["errors"]
    for dose in (0, -1, "NaN", "a lot"):
        response = api.post(url, json={"administered_at": START, "dose_mg": dose})
        assert response.status_code == 422 and "dose_mg" in response.json["errors"], dose
    assert count(world.app, TreatmentSession) == 1
    narrowed = api.patch(
        f"/api/v1/series/{series['id']}", json={"ended_at": "2026-01-11T09:00:00+00:00"}
    )
    assert narrowed.status_code == 422
    sessions = api.get(f"/api/v1/series/{series['id']}").json["sessions"]
    assert [s["administered_at"] for s in sessions] == ["2026-01-12T09:00:00+00:00"]
    assert world.as_patient_1().post(url, json={"administered_at": START}).status_code == 403


def test_response_may_name_its_own_patients_series_only(world):
    mine = create_series(world.as_clinician_a(), world.patient_1).json
    theirs = create_series(world.as_clinician_b(), world.patient_2).json
    linked = submit(world.as_patient_1(), world.patient_1, {"series_id": mine["id"]})
    assert linked.status_code == 201 and linked.json["series_id"] == mine["id"]
    wrong = submit(world.as_patient_1(), world.patient_1, {"series_id": theirs["id"]})
    assert wrong.status_code == 422 and "series_id" in wrong.json["errors"]
    assert count(world.app, Response) == 1
