"""Measurement plans through the API, and series that take one, on both databases."""

from __future__ import annotations

import pytest

from tests.helpers import count
from tracker.models import MeasurementPlan, TreatmentSeries

KETAMINE = {
    "name": "Ketamine induction",
    "instruments": ["phq9", "gad7"],
    "entries": [
        {"label": "Baseline", "anchor": "series_start", "offset_days": -7, "window_days": 7},
        {
            "label": "Weekly",
            "anchor": "series_start",
            "offset_days": 7,
            "window_days": 2,
            "repeat_every_days": 7,
        },
        {"label": "Post-series", "anchor": "series_end", "offset_days": 0, "window_days": 14},
        {
            "label": "Follow-up 4 weeks",
            "anchor": "series_end",
            "offset_days": 28,
            "window_days": 7,
            "instruments": ["phq9"],
        },
    ],
}


def create_plan(api, **changes):
    return api.post("/api/v1/measurement-plans", json={**KETAMINE, **changes})


def test_an_admin_creates_reads_lists_and_retires_a_plan(world):
    admin = world.as_admin()
    created = create_plan(admin)
    assert created.status_code == 201, created.json
    plan = created.json
    assert (plan["name"], plan["instruments"], plan["retired"]) == (
        "Ketamine induction",
        ["phq9", "gad7"],
        False,
    )
    assert plan["entries"][1]["repeat_every_days"] == 7
    assert plan["entries"][3]["instruments"] == ["phq9"]
    assert plan["entries"][0]["instruments"] is None  # the plan's, by default
    clinician = world.as_clinician_a()
    assert clinician.get(f"/api/v1/measurement-plans/{plan['id']}").json == plan
    assert [p["id"] for p in clinician.get("/api/v1/measurement-plans").json["items"]] == [
        plan["id"]
    ]
    retired = admin.post(f"/api/v1/measurement-plans/{plan['id']}/retire")
    assert retired.status_code == 200 and retired.json["retired"] is True
    assert admin.post(f"/api/v1/measurement-plans/{plan['id']}/retire").status_code == 200
    assert clinician.get("/api/v1/measurement-plans").json["items"] == []
    listed = clinician.get("/api/v1/measurement-plans?include_retired=1").json["items"]
    assert [p["retired"] for p in listed] == [True]


def test_only_admins_write_plans_and_patients_read_none(world):
    plan_id = create_plan(world.as_admin()).json["id"]
    clinician = world.as_clinician_a()
    assert create_plan(clinician).status_code == 403
    assert clinician.post(f"/api/v1/measurement-plans/{plan_id}/retire").status_code == 403
    patient = world.as_patient_1()
    assert patient.get("/api/v1/measurement-plans").status_code == 403
    assert patient.get(f"/api/v1/measurement-plans/{plan_id}").status_code == 403
    assert world.app.test_client().get("/api/v1/measurement-plans").status_code == 401
    assert world.as_admin().get("/api/v1/measurement-plans/99999").status_code == 404
    assert count(world.app, MeasurementPlan) == 1


@pytest.mark.parametrize(
    ("entry_change", "field"),
    [
        ({"offset_days": -91}, "entries.0.offset_days"),
        ({"offset_days": 366}, "entries.0.offset_days"),
        ({"offset_days": "7"}, "entries.0.offset_days"),
        ({"window_days": 91}, "entries.0.window_days"),
        ({"anchor": "series_middle"}, "entries.0.anchor"),
        ({"instruments": ["bdi2"]}, "entries.0.instruments"),
        ({"repeat_every_days": 0}, "entries.0.repeat_every_days"),
        ({"anchor": "series_end", "repeat_every_days": 7}, "entries.0.repeat_every_days"),
        ({"label": ""}, "entries.0.label"),
        ({"colour": "blue"}, "entries.0.colour"),
    ],
)
def test_a_bad_entry_is_422_naming_the_field_and_stores_nothing(world, entry_change, field):
    entry = {**KETAMINE["entries"][0], **entry_change}
    answer = create_plan(world.as_admin(), entries=[entry])
    assert answer.status_code == 422, answer.json
    assert answer.content_type == "application/problem+json"
    assert field in answer.json["errors"], answer.json
    assert count(world.app, MeasurementPlan) == 0


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"name": ""}, "name"),
        ({"instruments": []}, "instruments"),
        ({"instruments": ["phq9", "phq9"]}, "instruments"),
        ({"instruments": ["nope"]}, "instruments"),
        ({"entries": []}, "entries"),
        ({"entries": "weekly"}, "entries"),
    ],
)
def test_a_bad_plan_is_422_naming_the_field(world, change, field):
    answer = create_plan(world.as_admin(), **change)
    assert answer.status_code == 422
    assert field in answer.json["errors"], answer.json
    assert count(world.app, MeasurementPlan) == 0


def test_malformed_json_is_400(world):
    admin = world.as_admin()
    answer = admin.post(
        "/api/v1/measurement-plans", data="{", headers={"Content-Type": "application/json"}
    )
    assert answer.status_code == 400


def test_series_take_a_plan_and_cannot_take_a_retired_one(world):
    admin = world.as_admin()
    plan_id = create_plan(admin).json["id"]
    other_id = create_plan(admin, name="PTSD").json["id"]
    api = world.as_clinician_a()
    body = {"label": "Induction", "started_at": "2026-01-10T08:00:00+00:00", "plan_id": plan_id}
    created = api.post(f"/api/v1/patients/{world.patient_1}/series", json=body)
    assert created.status_code == 201 and created.json["plan_id"] == plan_id
    series_id = created.json["id"]
    admin.post(f"/api/v1/measurement-plans/{plan_id}/retire")
    # The series keeps its retired plan through other changes.
    kept = api.patch(f"/api/v1/series/{series_id}", json={"label": "Induction 1"})
    assert kept.status_code == 200 and kept.json["plan_id"] == plan_id
    refused = api.post(f"/api/v1/patients/{world.patient_1}/series", json=body)
    assert refused.status_code == 422 and "plan_id" in refused.json["errors"]
    unknown = api.patch(f"/api/v1/series/{series_id}", json={"plan_id": 99999})
    assert unknown.status_code == 422 and "plan_id" in unknown.json["errors"]
    moved = api.patch(f"/api/v1/series/{series_id}", json={"plan_id": other_id})
    assert moved.json["plan_id"] == other_id
    back = api.patch(f"/api/v1/series/{series_id}", json={"plan_id": plan_id})
    assert back.status_code == 422  # retired: a series cannot take it again
    removed = api.patch(f"/api/v1/series/{series_id}", json={"plan_id": None})
    assert removed.status_code == 200 and removed.json["plan_id"] is None
    assert count(world.app, TreatmentSeries) == 1
