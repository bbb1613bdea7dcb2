"""Due questionnaires and the worklist through the API, on both databases.

Times are relative to the real clock: a series starting in 3 days has a baseline
window (7 days before the start, 7 days long) that opened 4 days ago and is open now.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import insert

from tests.api.test_plans import KETAMINE
from tests.helpers import answers_for, count, submit
from tests.web.helpers import QueryCounter
from tracker.auth.users import create_user
from tracker.extensions import db
from tracker.models import AuditEvent, CareTeamMember, Patient, TreatmentSeries

DAY = timedelta(days=1)


def iso(instant: datetime) -> str:
    return instant.isoformat()


def start_planned_series(world, patient_id: int, started_at: datetime, ended_at=None) -> dict:
    plan = world.as_admin().post("/api/v1/measurement-plans", json=KETAMINE).json
    body = {"label": "Induction", "started_at": iso(started_at), "plan_id": plan["id"]}
    if ended_at is not None:
        body["ended_at"] = iso(ended_at)
    api = world.as_clinician_a() if patient_id == world.patient_1 else world.as_clinician_b()
    created = api.post(f"/api/v1/patients/{patient_id}/series", json=body)
    assert created.status_code == 201, created.json
    return created.json


def due(api, patient_id: int, query: str = "") -> list[dict]:
    answer = api.get(f"/api/v1/patients/{patient_id}/due{query}")
    assert answer.status_code == 200, answer.json
    return answer.json["items"]


def test_the_baseline_window_open_now_is_due_and_a_response_completes_it(world):
    now = datetime.now(UTC)
    series = start_planned_series(world, world.patient_1, now + 3 * DAY)
    api = world.as_clinician_a()
    items = due(api, world.patient_1)
    # Baseline (gad7, phq9), then the first weekly repeat, the first opening after now.
    assert [i["id"] for i in items] == [
        f"s{series['id']}.e1.r0.gad7",
        f"s{series['id']}.e1.r0.phq9",
        f"s{series['id']}.e2.r0.gad7",
        f"s{series['id']}.e2.r0.phq9",
    ]
    assert [i["status"] for i in items] == ["due", "due", "upcoming", "upcoming"]
    baseline = items[1]
    assert baseline["opens_at"] == iso(datetime.fromisoformat(series["started_at"]) - 7 * DAY)
    assert baseline["closes_at"] == series["started_at"]
    assert (baseline["label"], baseline["series_id"], baseline["patient_id"]) == (
        "Baseline",
        series["id"],
        str(world.patient_1),
    )
    answered = submit(world.as_patient_1(), world.patient_1, {"completed_at": iso(now)})
    assert answered.status_code == 201
    items = due(world.as_patient_1(), world.patient_1)  # the patient reads their own
    assert [(i["instrument"], i["status"], i["response_id"]) for i in items[:2]] == [
        ("gad7", "due", None),
        ("phq9", "completed", answered.json["id"]),
    ]
    assert due(api, world.patient_1, "?status=completed") == [items[1]]
    assert [i["status"] for i in due(api, world.patient_1, "?status=due,upcoming")] == [
        "due",
        "upcoming",
        "upcoming",
    ]


def test_an_amendment_keeps_an_item_completed_and_an_entry_in_error_reopens_it(world):
    now = datetime.now(UTC)
    start_planned_series(world, world.patient_1, now + 3 * DAY)
    api = world.as_clinician_a()
    first = submit(api, world.patient_1, {"completed_at": iso(now - DAY)}).json
    amended = api.post(
        f"/api/v1/responses/{first['id']}/amend",
        json={"answers": answers_for("phq9", 4), "reason": "typo"},
    )
    assert amended.status_code == 201
    phq9 = [i for i in due(api, world.patient_1) if i["id"].endswith("e1.r0.phq9")][0]
    assert (phq9["status"], phq9["response_id"]) == ("completed", amended.json["id"])
    retracted = api.post(
        f"/api/v1/responses/{amended.json['id']}/entered-in-error", json={"reason": "wrong patient"}
    )
    assert retracted.status_code == 200
    phq9 = [i for i in due(api, world.patient_1) if i["id"].endswith("e1.r0.phq9")][0]
    assert (phq9["status"], phq9["response_id"]) == ("due", None)


def test_an_ended_series_shows_post_series_items_and_missed_ones(world):
    now = datetime.now(UTC)
    start_planned_series(world, world.patient_1, now - 30 * DAY, ended_at=now - 10 * DAY)
    items = due(world.as_clinician_a(), world.patient_1)
    by_label: dict[str, set[str]] = {}
    for item in items:
        by_label.setdefault(item["label"], set()).add(item["status"])
    # Weekly openings at +7, +14 are before the end (+20); +21 is not.
    assert sum(1 for i in items if i["label"] == "Weekly") == 2 * 2
    assert by_label == {
        "Baseline": {"missed"},
        "Weekly": {"missed"},
        "Post-series": {"due"},  # opened at the end, 14 days long
        "Follow-up 4 weeks": {"upcoming"},
    }


def test_who_may_read_a_patients_due_items(world):
    start_planned_series(world, world.patient_1, datetime.now(UTC) + 3 * DAY)
    assert world.as_clinician_b().get(f"/api/v1/patients/{world.patient_1}/due").status_code == 404
    assert world.as_patient_1().get(f"/api/v1/patients/{world.patient_2}/due").status_code == 404
    assert world.app.test_client().get(f"/api/v1/patients/{world.patient_1}/due").status_code == 401
    assert len(due(world.as_admin(), world.patient_1)) == 4
    reads = count(
        world.app,
        AuditEvent,
        AuditEvent.resource_type == "due",
        AuditEvent.patient_id == world.patient_1,
    )
    assert reads == 1


@pytest.mark.parametrize("query", ["?status=late", "?status=", "?status=due,,late", "?colour=1"])
def test_a_bad_status_filter_is_422_naming_it(world, query):
    answer = world.as_clinician_a().get(f"/api/v1/patients/{world.patient_1}/due{query}")
    assert answer.status_code == 422
    assert list(answer.json["errors"]) == [query[1:].split("=")[0]]


def test_the_worklist_shows_due_and_missed_items_of_the_callers_patients(world):
    now = datetime.now(UTC)
    start_planned_series(world, world.patient_1, now + 3 * DAY)  # baseline due
    start_planned_series(world, world.patient_2, now - 30 * DAY, ended_at=now - 10 * DAY)
    mine = world.as_clinician_a().get("/api/v1/due").json
    assert {i["patient_id"] for i in mine["items"]} == {str(world.patient_1)}
    assert [i["status"] for i in mine["items"]] == ["due", "due"]
    everyone = world.as_admin().get("/api/v1/due?limit=500").json["items"]
    assert {i["status"] for i in everyone} == {"due", "missed"}
    assert [i["opens_at"] for i in everyone] == sorted(i["opens_at"] for i in everyone)
    only_missed = world.as_admin().get("/api/v1/due?status=missed").json["items"]
    assert {i["patient_id"] for i in only_missed} == {str(world.patient_2)}
    one = world.as_admin().get(f"/api/v1/due?patient_id={world.patient_1}").json["items"]
    assert {i["patient_id"] for i in one} == {str(world.patient_1)}
    since = iso(now - 5 * DAY)
    recent = world.as_admin().get("/api/v1/due", query_string={"since": since}).json["items"]
    assert all(i["opens_at"] >= since for i in recent) and recent
    assert world.as_patient_1().get("/api/v1/due").status_code == 403


def test_the_worklist_pages_without_repeats_or_gaps(world):
    now = datetime.now(UTC)
    start_planned_series(world, world.patient_1, now - 30 * DAY, ended_at=now - 10 * DAY)
    admin = world.as_admin()
    everything = admin.get("/api/v1/due?limit=500").json["items"]
    assert len(everything) == 8  # 2 baseline + 4 weekly missed, 2 post-series due
    seen, cursor = [], None
    while True:
        query = {"limit": 3} | ({"cursor": cursor} if cursor else {})
        page = admin.get("/api/v1/due", query_string=query).json
        seen.extend(page["items"])
        cursor = page["next_cursor"]
        if cursor is None:
            break
    assert seen == everything
    forged = admin.get("/api/v1/due?cursor=bm90LWEtY3Vyc29y")
    assert forged.status_code == 422 and "cursor" in forged.json["errors"]


def _many_patients(app, clinician_id: int, plan_id: int, how_many: int) -> None:
    with app.app_context():
        now = datetime.now(UTC)
        first = db.session.scalar(db.select(db.func.coalesce(db.func.max(Patient.id), 0))) + 1
        ids = list(range(first, first + how_many))
        db.session.execute(
            insert(Patient), [{"id": i, "display_name": f"Synthetic {i}"} for i in ids]
        )
        db.session.execute(
            insert(CareTeamMember), [{"patient_id": i, "user_id": clinician_id} for i in ids]
        )
        db.session.execute(
            insert(TreatmentSeries),
            [
                {
                    "patient_id": i,
                    "label": "Induction",
                    "kind": "induction",
                    "started_at": now - (i % 40) * DAY,
                    "plan_id": plan_id,
                }
                for i in ids
            ],
        )
        db.session.commit()


def test_the_worklist_costs_the_same_statements_for_5_or_500_patients(world, backend):
    plan_id = world.as_admin().post("/api/v1/measurement-plans", json=KETAMINE).json["id"]
    with world.app.app_context():
        big = create_user("clinician.big@example.test", "correct horse battery staple", "clinician")
        small = create_user(
            "clinician.small@example.test", "correct horse battery staple", "clinician"
        )
        db.session.commit()
        big_id, small_id = big.id, small.id
    _many_patients(world.app, small_id, plan_id, 5)
    _many_patients(world.app, big_id, plan_id, 500)
    if backend == "postgresql":  # explicit ids above: move the sequence past them
        with world.app.app_context():
            db.session.execute(
                db.text("SELECT setval('patient_id_seq', (SELECT max(id) FROM patient))")
            )
            db.session.commit()
    from tests.helpers import login

    counts = {}
    for email in ("clinician.small@example.test", "clinician.big@example.test"):
        api = login(world.app, email)
        with QueryCounter(world.app) as counter:
            answer = api.get("/api/v1/due?limit=500")
        assert answer.status_code == 200
        counts[email] = (len(counter.statements), len(answer.json["items"]))
    small_count, big_count = counts.values()
    assert small_count[0] == big_count[0], counts
    assert big_count[1] > small_count[1] > 0


def test_a_patient_turns_their_own_reminders_off_but_changes_nothing_else(world):
    patient = world.as_patient_1()
    answer = patient.patch(f"/api/v1/patients/{world.patient_1}", json={"reminders": "off"})
    assert answer.status_code == 200 and answer.json["reminders"] == "off"
    refused = patient.patch(
        f"/api/v1/patients/{world.patient_1}", json={"reminders": "on", "display_name": "X"}
    )
    assert refused.status_code == 403
    other = patient.patch(f"/api/v1/patients/{world.patient_2}", json={"reminders": "off"})
    assert other.status_code == 404
    bad = world.as_clinician_a().patch(
        f"/api/v1/patients/{world.patient_1}", json={"reminders": "sometimes"}
    )
    assert bad.status_code == 422 and "reminders" in bad.json["errors"]
    back_on = world.as_clinician_a().patch(
        f"/api/v1/patients/{world.patient_1}", json={"reminders": "on"}
    )
    assert back_on.json["reminders"] == "on"
    with world.app.app_context():
        assert db.session.get(Patient, world.patient_1).version == 1  # FHIR version unchanged


def test_outcomes_count_completed_and_missed_items_whose_window_closed(world):
    now = datetime.now(UTC)
    start_planned_series(world, world.patient_1, now - 30 * DAY, ended_at=now - 10 * DAY)
    api = world.as_clinician_a()
    # PHQ-9 closed windows: baseline (answered at −33 d), weekly at −23 d and −16 d (missed).
    # The post-series window (−10 d … +4 d) is still open, the follow-up upcoming: not counted.
    submit(api, world.patient_1, {"completed_at": iso(now - 33 * DAY)})
    submit(api, world.patient_1, {"completed_at": iso(now - 5 * DAY)})  # completes the post item
    phq9 = api.get("/api/v1/outcomes/phq9").json["schedule"]
    assert phq9 == {"completed": 1, "missed": 2, "completion_rate": 0.333}
    gad7 = api.get("/api/v1/outcomes/gad7").json["schedule"]
    assert gad7 == {"completed": 0, "missed": 3, "completion_rate": 0.0}
    other = world.as_clinician_b().get("/api/v1/outcomes/phq9").json["schedule"]
    assert other == {"completed": 0, "missed": 0, "completion_rate": None}
