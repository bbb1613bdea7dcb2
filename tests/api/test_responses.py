"""Submitting and reading scored responses through the API, on both databases."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from tests.helpers import COMPLETED_AT, PHQ9_EXAMPLE, count, submit
from tracker.models import Alert, AuditEvent, Response


def test_worked_example_returns_exactly_the_documented_response(world):
    response = submit(world.as_patient_1(), world.patient_1)
    assert response.status_code == 201, response.json
    body = response.json
    recorded_at = body.pop("recorded_at")
    assert datetime.fromisoformat(recorded_at).utcoffset() == timedelta(0)
    assert body == {
        "id": body["id"],
        "patient_id": str(world.patient_1),
        "instrument": "phq9",
        "instrument_version": "1",
        "answers": [2, 1, 3, 0, 1, 2, 1, 0, 1],
        "difficulty": None,
        "total": 11,
        "prorated": False,
        "severity": {"code": "moderate", "label": "Moderate"},
        "subscales": {"phq2": 3},
        "flags": ["suicidal_ideation"],
        "screen_positive": True,
        "provisional_diagnosis": False,
        # 4 symptoms count (items 1, 3, 6 at 2+ and item 9 at 1+) with a core one: "other".
        "depressive_syndrome": "other",
        "completed_at": "2026-03-01T09:30:00+00:00",
        "source": "patient",
        "entered_by": body["entered_by"],
        "status": "final",
        "status_reason": None,
        "series_id": None,
        "supersedes": None,
        "superseded_by": None,
        "crisis_message": world.app.config["CRISIS_TEXT"],
    }
    assert isinstance(body["id"], str)


def test_crisis_message_only_when_a_crisis_flag_is_raised_and_on_the_retry_too(world):
    api = world.as_patient_1()
    world.app.config["CRISIS_TEXT"] = "Synthetic clinic: call 000-000 now."
    flagged = submit(api, world.patient_1, None, Idempotency_Key="crisis-1")
    assert flagged.status_code == 201
    assert flagged.json["crisis_message"] == "Synthetic clinic: call 000-000 now."
    retried = submit(api, world.patient_1, None, Idempotency_Key="crisis-1")
    assert retried.status_code == 200
    assert retried.json["crisis_message"] == "Synthetic clinic: call 000-000 now."
    no_item_9 = {
        "answers": [2, 1, 3, 0, 1, 2, 1, 0, 0],
        "completed_at": "2026-03-02T09:30:00+00:00",
    }
    assert submit(api, world.patient_1, no_item_9).json["crisis_message"] is None
    gad7 = {
        "instrument": "gad7",
        "answers": [3] * 7,
        "completed_at": "2026-03-03T09:30:00+00:00",
    }
    assert submit(api, world.patient_1, gad7).json["crisis_message"] is None
    # Reading a response back is a clinician's or the patient's later look: no banner.
    read = api.get(f"/api/v1/responses/{flagged.json['id']}").json
    assert "crisis_message" not in read


def test_item_9_opens_one_alert_in_the_same_transaction(world):
    submit(world.as_clinician_a(), world.patient_1)
    assert (
        count(
            world.app,
            Alert,
            Alert.patient_id == world.patient_1,
            Alert.kind == "suicidal_ideation",
            Alert.status == "open",
        )
        == 1
    )
    no_item9 = PHQ9_EXAMPLE[:8] + [0]
    response = submit(world.as_clinician_a(), world.patient_1, {"answers": no_item9})
    assert response.json["flags"] == []
    assert count(world.app, Alert) == 1


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"answers": [1] * 8}, "answers"),
        ({"answers": [1] * 8 + [4]}, "answers.8"),
        ({"answers": [1] * 8 + [-1]}, "answers.8"),
        ({"answers": [1] * 8 + [1.5]}, "answers.8"),
        ({"answers": [1] * 8 + ["1"]}, "answers.8"),
        ({"answers": [1] * 8 + [True]}, "answers.8"),
        ({"answers": [1] * 8 + [None]}, "answers"),
        ({"answers": "123456789"}, "answers"),
        ({"instrument": "phq10"}, "instrument"),
        ({"instrument": "gad7", "answers": [1] * 7, "difficulty": 1}, "difficulty"),
        ({"difficulty": 4}, "difficulty"),
        ({"completed_at": "2026-03-01T09:30:00"}, "completed_at"),
        ({"completed_at": "yesterday"}, "completed_at"),
        ({"series_id": "17"}, "series_id"),
        ({"series_id": "x"}, "series_id"),
        ({"unexpected": 1}, "unexpected"),
    ],
)
def test_invalid_submission_is_422_naming_the_field_and_stores_nothing(world, body, field):
    response = submit(world.as_clinician_a(), world.patient_1, body)
    assert response.status_code == 422, response.json
    assert response.content_type == "application/problem+json"
    assert field in response.json["errors"], response.json
    assert count(world.app, Response) == 0
    assert count(world.app, Alert) == 0


def test_missing_required_fields(world):
    response = world.as_clinician_a().post(f"/api/v1/patients/{world.patient_1}/responses", json={})
    assert response.status_code == 422
    assert {"instrument", "answers", "completed_at"} <= set(response.json["errors"])


def test_completed_at_future_limit_is_five_minutes(world):
    api = world.as_clinician_a()
    now = datetime.now(UTC)
    late = submit(api, world.patient_1, {"completed_at": (now + timedelta(minutes=6)).isoformat()})
    assert late.status_code == 422 and "completed_at" in late.json["errors"]
    ok = submit(api, world.patient_1, {"completed_at": (now + timedelta(minutes=4)).isoformat()})
    assert ok.status_code == 201


def test_offsets_are_kept_as_the_same_instant(world):
    response = submit(
        world.as_clinician_a(), world.patient_1, {"completed_at": "2026-03-01T11:30:00+02:00"}
    )
    assert response.json["completed_at"] == "2026-03-01T09:30:00+00:00"
    stored = world.as_clinician_a().get(f"/api/v1/responses/{response.json['id']}")
    assert stored.json["completed_at"] == "2026-03-01T09:30:00+00:00"


def test_pcl5_with_two_skipped_items_is_prorated(world):
    # 18 answered items summing to 30: round(30 × 20 / 18) = round(33.33) = 33.
    answers = [2] * 12 + [1] * 6 + [None, None]
    response = submit(
        world.as_clinician_a(), world.patient_1, {"instrument": "pcl5", "answers": answers}
    )
    assert response.status_code == 201, response.json
    assert response.json["total"] == 33
    assert response.json["prorated"] is True
    assert response.json["severity"]["code"] == "probable_ptsd"
    assert response.json["subscales"] == {"B": 10, "C": 4, "D": 12, "E": 4}
    three_missing = [2] * 17 + [None] * 3
    refused = submit(
        world.as_clinician_a(), world.patient_1, {"instrument": "pcl5", "answers": three_missing}
    )
    assert refused.status_code == 422


def test_gad7_scores_without_provisional_diagnosis(world):
    response = submit(
        world.as_clinician_a(),
        world.patient_1,
        {"instrument": "gad7", "answers": [2, 2, 1, 1, 1, 1, 1]},
    )
    assert response.json["total"] == 9
    assert response.json["severity"]["code"] == "mild"
    assert response.json["screen_positive"] is False
    assert response.json["provisional_diagnosis"] is None
    assert response.json["depressive_syndrome"] is None  # GAD-7 has no such algorithm
    assert response.json["subscales"] == {"gad2": 4}


def test_phq9_difficulty_is_stored_unscored(world):
    response = submit(world.as_clinician_a(), world.patient_1, {"difficulty": 2})
    assert response.json["difficulty"] == 2
    assert response.json["total"] == 11


def test_who_may_submit(world):
    assert submit(world.as_patient_1(), world.patient_1).json["source"] == "patient"
    assert submit(world.as_clinician_a(), world.patient_1).json["source"] == "clinician"
    assert submit(world.as_admin(), world.patient_2).status_code == 201
    assert submit(world.as_patient_1(), world.patient_2).status_code == 404
    assert submit(world.as_clinician_b(), world.patient_1).status_code == 404
    assert submit(world.as_clinician_a(), 2**31 - 1).status_code == 404
    assert count(world.app, Response) == 3


def test_idempotency_key_replays_and_conflicts(world):
    api = world.as_patient_1()
    first = submit(api, world.patient_1, Idempotency_Key="visit-1")
    again = submit(api, world.patient_1, Idempotency_Key="visit-1")
    assert first.status_code == 201 and again.status_code == 200
    assert again.json == first.json
    different = submit(api, world.patient_1, {"answers": [0] * 9}, Idempotency_Key="visit-1")
    assert different.status_code == 409
    # The same key from another user is another submission.
    other = submit(world.as_clinician_a(), world.patient_1, Idempotency_Key="visit-1")
    assert other.status_code == 201 and other.json["id"] != first.json["id"]
    assert count(world.app, Response) == 2
    assert count(world.app, Alert) == 2
    too_long = submit(api, world.patient_1, Idempotency_Key="k" * 201)
    assert too_long.status_code == 422 and "Idempotency-Key" in too_long.json["errors"]


def test_list_filters_order_and_cursor(world):
    api = world.as_clinician_a()
    for day in range(1, 6):
        submit(api, world.patient_1, {"completed_at": f"2026-03-0{day}T09:00:00+00:00"})
    submit(api, world.patient_1, {"instrument": "gad7", "answers": [0] * 7})
    url = f"/api/v1/patients/{world.patient_1}/responses"
    phq = api.get(f"{url}?instrument=phq9&limit=2").json
    days = [r["completed_at"][:10] for r in phq["items"]]
    assert days == ["2026-03-05", "2026-03-04"]
    rest = api.get(f"{url}?instrument=phq9&limit=2&cursor={phq['next_cursor']}").json
    assert [r["completed_at"][:10] for r in rest["items"]] == ["2026-03-03", "2026-03-02"]
    window = api.get(
        f"{url}?instrument=phq9&since=2026-03-02T00:00:00%2B00:00&until=2026-03-03T23:00:00Z"
    ).json
    assert [r["completed_at"][:10] for r in window["items"]] == ["2026-03-03", "2026-03-02"]
    assert api.get(f"{url}?status=final").json["items"].__len__() == 6
    assert api.get(f"{url}?status=bogus").status_code == 422
    assert api.get(f"{url}?since=2026-03-02").status_code == 422
    assert world.as_clinician_b().get(url).status_code == 404


def test_amend_supersedes_and_keeps_the_original(world):
    api = world.as_clinician_a()
    original = submit(api, world.patient_1).json
    amended = api.post(
        f"/api/v1/responses/{original['id']}/amend",
        json={"answers": [3] * 9, "reason": "transcription error"},
    )
    assert amended.status_code == 201, amended.json
    assert amended.json["supersedes"] == original["id"]
    assert amended.json["total"] == 27
    assert amended.json["completed_at"] == original["completed_at"]
    old = api.get(f"/api/v1/responses/{original['id']}").json
    assert old["status"] == "amended" and old["total"] == 11
    assert old["superseded_by"] == amended.json["id"]
    assert old["status_reason"] == "transcription error"
    again = api.post(
        f"/api/v1/responses/{original['id']}/amend", json={"answers": [0] * 9, "reason": "again"}
    )
    assert again.status_code == 409
    assert count(world.app, Response) == 2


def test_amend_rules(world):
    original = submit(world.as_clinician_a(), world.patient_1).json
    url = f"/api/v1/responses/{original['id']}/amend"
    assert (
        world.as_patient_1().post(url, json={"answers": [0] * 9, "reason": "r"}).status_code == 403
    )
    assert (
        world.as_clinician_b().post(url, json={"answers": [0] * 9, "reason": "r"}).status_code
        == 404
    )
    bad = world.as_clinician_a().post(url, json={"answers": [0] * 8, "reason": "r"})
    assert bad.status_code == 422 and "answers" in bad.json["errors"]
    no_reason = world.as_clinician_a().post(url, json={"answers": [0] * 9})
    assert no_reason.status_code == 422 and "reason" in no_reason.json["errors"]
    assert count(world.app, Response) == 1
    assert (
        world.as_clinician_a().get(f"/api/v1/responses/{original['id']}").json["status"] == "final"
    )


def test_entered_in_error(world):
    api = world.as_clinician_a()
    original = submit(api, world.patient_1).json
    url = f"/api/v1/responses/{original['id']}/entered-in-error"
    assert world.as_patient_1().post(url, json={"reason": "wrong patient"}).status_code == 403
    marked = api.post(url, json={"reason": "wrong patient"})
    assert marked.status_code == 200
    assert marked.json["status"] == "entered-in-error"
    assert api.get(f"/api/v1/responses/{original['id']}").json["status"] == "entered-in-error"
    assert api.post(url, json={"reason": "again"}).status_code == 200
    amend = api.post(
        f"/api/v1/responses/{original['id']}/amend", json={"answers": [0] * 9, "reason": "r"}
    )
    assert amend.status_code == 409


def test_reads_and_writes_are_audited_once(world):
    api = world.as_clinician_a()
    created = submit(api, world.patient_1).json
    api.get(f"/api/v1/responses/{created['id']}")
    api.get(f"/api/v1/patients/{world.patient_1}/responses")
    events = [
        (e.action, e.resource_type, e.resource_id, e.patient_id, e.actor_id)
        for e in __import__("tests.helpers", fromlist=["audit_events"]).audit_events(
            world.app, AuditEvent.resource_type == "response"
        )
    ]
    actor = str(world.clinician_a_id)
    assert events == [
        ("create", "response", created["id"], world.patient_1, actor),
        ("read", "response", created["id"], world.patient_1, actor),
        ("read", "response", None, world.patient_1, actor),
    ]


def test_completed_at_default_for_amend_is_the_original(world):
    api = world.as_clinician_a()
    original = submit(api, world.patient_1, {"completed_at": COMPLETED_AT}).json
    amended = api.post(
        f"/api/v1/responses/{original['id']}/amend",
        json={"answers": [0] * 9, "reason": "r", "completed_at": "2026-03-01T08:00:00+00:00"},
    ).json
    assert amended["completed_at"] == "2026-03-01T08:00:00+00:00"


def test_forged_cursors_are_refused_not_crashed_on(world):
    from tracker.services.paging import encode_cursor

    api = world.as_clinician_a()
    for position in (["0001-01-01T00:30:00+01:00", 1], ["not a time", 1], [1, "x"]):
        cursor = encode_cursor(position)
        for url in (
            f"/api/v1/patients/{world.patient_1}/responses?cursor={cursor}",
            f"/api/v1/patients/{world.patient_1}/series?cursor={cursor}",
        ):
            response = api.get(url)
            assert response.status_code == 422 and "cursor" in response.json["errors"], url


def test_error_texts_say_what_to_do(world):
    api = world.as_patient_1()
    naive = submit(api, world.patient_1, {"completed_at": "2026-03-01T09:30:00"})
    assert naive.status_code == 422
    assert "+00:00" in naive.json["errors"]["completed_at"][0]
    # Items are named as people count them, next to the zero-based path.
    bad_item = submit(api, world.patient_1, {"answers": [0, 0, 0, 0, 0, 0, 0, 0, 7]})
    assert bad_item.json["errors"]["answers.8"][0].startswith("item 9:")


@pytest.mark.parametrize(
    ("answers", "syndrome", "provisional"),
    [
        ([2, 2, 0, 0, 0, 0, 0, 0, 1], "other", False),  # 3 symptoms: items 1, 2 and 9
        ([2, 0, 2, 2, 2, 2, 0, 0, 0], "major", True),  # 5 symptoms with item 1
        ([0, 0, 3, 3, 3, 3, 3, 3, 0], None, False),  # 6 symptoms but no core one
        ([2, 0, 0, 0, 0, 0, 0, 0, 0], None, False),  # the core symptom alone: 1
    ],
)
def test_depressive_syndrome_through_the_api(world, answers, syndrome, provisional):
    api = world.as_clinician_a()
    created = submit(api, world.patient_1, {"answers": answers})
    assert created.status_code == 201
    body = api.get(f"/api/v1/responses/{created.json['id']}").json
    assert (body["depressive_syndrome"], body["provisional_diagnosis"]) == (syndrome, provisional)
