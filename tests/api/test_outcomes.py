"""Clinic-level outcomes, on both databases.

(a) Vignettes through HTTP with figures worked out by hand. (b) A property test: on random
clinics (edge and equal timestamps, retracted responses, ongoing series, DST and month
boundaries) the SQL of tracker.outcomes must agree with the pure core, trends.analyse, run
per patient and averaged in plain Python.
"""

from __future__ import annotations

import itertools
import random
from dataclasses import asdict, dataclass
from datetime import UTC, datetime, timedelta, timezone
from decimal import ROUND_HALF_UP, Decimal
from fractions import Fraction
from typing import Any
from urllib.parse import urlencode

import pytest
from flask import Flask
from sqlalchemy import event, insert, select, text

from tests.helpers import PASSWORD, ApiClient, anonymous, audit_events, login, submit_total
from tracker import instruments
from tracker.analysis.trends import Point, SeriesOutcome, SeriesPeriod, analyse
from tracker.auth import access
from tracker.auth.clients import register_client
from tracker.auth.users import create_user
from tracker.extensions import db
from tracker.models import AuditEvent, CareTeamMember, Patient, Response, TreatmentSeries, User
from tracker.models.series import SERIES_KINDS
from tracker.outcomes import clinic_outcomes

FIGURES = (
    "series",
    "ended",
    "evaluable",
    "paired_rate",
    "cases",
    "mean_baseline",
    "mean_post",
    "mean_change",
    "response_rate",
    "remission_rate",
    "recovery_rate",
    "reliable_improvement_rate",
    "reliable_deterioration_rate",
)
# With nothing evaluable: no cases, and every mean and rate but paired_rate is null.
NOTHING_EVALUABLE = {"cases": 0} | dict.fromkeys(FIGURES[5:])


# --------------------------------------------------------------------------
# Helpers
# --------------------------------------------------------------------------


def outcomes(api: ApiClient, instrument: str = "phq9", **query: Any) -> dict:
    """GET the outcomes; urlencode so an offset's '+' is not read as a space."""
    url = f"/api/v1/outcomes/{instrument}" + (f"?{urlencode(query)}" if query else "")
    response = api.get(url)
    assert response.status_code == 200, response.json
    return response.json


def new_patient(api: ApiClient, name: str) -> str:
    """A patient created by a clinician joins that clinician's care team."""
    response = api.post("/api/v1/patients", json={"display_name": name})
    assert response.status_code == 201, response.json
    return response.json["id"]


def new_series(
    api: ApiClient, patient_id: object, started_at: str, ended_at: str | None, kind: str
) -> dict:
    body = {"label": f"{kind} series", "kind": kind, "started_at": started_at, "ended_at": ended_at}
    response = api.post(f"/api/v1/patients/{patient_id}/series", json=body)
    assert response.status_code == 201, response.json
    return response.json


def figures(body: dict) -> dict:
    return {k: body[k] for k in FIGURES}


# --------------------------------------------------------------------------
# (a) Vignettes
# --------------------------------------------------------------------------


def build_vignette_clinic(world: Any) -> tuple[ApiClient, ApiClient]:
    """Clinician A: 4 PHQ-9 series (2 evaluable); clinician B: 1 evaluable series.

    A, patient 1: induction Jan 10–24, 19 (Jan 9) → 7 (Jan 25); booster Apr 1–2 with
                  a post score (Apr 3) but no baseline (nothing since Jan 25).
    A, patient 3: induction Feb 1–15, 20 (Jan 31) → 12 (Feb 16); maintenance from
                  Mar 1, ongoing (its baseline is the 12 of Feb 16, but no post).
    B, patient 2: induction Jan 5–20, 10 (Jan 1) → 17 (Jan 21): reliably worse.
    """
    a, b = world.as_clinician_a(), world.as_clinician_b()
    p1, p2 = world.patient_1, world.patient_2
    p3 = new_patient(a, "Synthetic Patient Three")
    new_series(a, p1, "2026-01-10T08:00:00+00:00", "2026-01-24T08:00:00+00:00", "induction")
    submit_total(a, p1, "phq9", 19, "2026-01-09T09:00:00+00:00")
    submit_total(a, p1, "phq9", 7, "2026-01-25T09:00:00+00:00")
    new_series(a, p1, "2026-04-01T08:00:00+00:00", "2026-04-02T08:00:00+00:00", "booster")
    submit_total(a, p1, "phq9", 6, "2026-04-03T09:00:00+00:00")
    new_series(a, p3, "2026-02-01T08:00:00+00:00", "2026-02-15T08:00:00+00:00", "induction")
    submit_total(a, p3, "phq9", 20, "2026-01-31T09:00:00+00:00")
    submit_total(a, p3, "phq9", 12, "2026-02-16T09:00:00+00:00")
    new_series(a, p3, "2026-03-01T08:00:00+00:00", None, "maintenance")
    new_series(b, p2, "2026-01-05T08:00:00+00:00", "2026-01-20T08:00:00+00:00", "induction")
    submit_total(b, p2, "phq9", 10, "2026-01-01T09:00:00+00:00")
    submit_total(b, p2, "phq9", 17, "2026-01-21T09:00:00+00:00")
    return a, b


def test_clinician_and_admin_figures_by_hand(world):
    a, b = build_vignette_clinic(world)
    body = outcomes(a)
    # 4 series, 3 ended (the maintenance is ongoing), 2 evaluable (the booster has no
    # baseline): paired 2/3. 19→7 and 20→12, both cases (≥ 10): means 19.5, 9.5, −10.0;
    # 7 ≤ 9.5 responds, 12 > 10 does not; neither is below 5; −12 and −8 are both ≤ −6
    # (reliable improvement); 7 < 10 recovers, 12 does not.
    assert body == {
        "instrument": "phq9",
        "series": 4,
        "ended": 3,
        "evaluable": 2,
        "paired_rate": 0.667,
        "cases": 2,
        "mean_baseline": 19.5,
        "mean_post": 9.5,
        "mean_change": -10.0,
        "response_rate": 0.5,
        "remission_rate": 0.0,
        "recovery_rate": 0.5,
        "reliable_improvement_rate": 1.0,
        "reliable_deterioration_rate": 0.0,
        # No series has a measurement plan: nothing was due.
        "schedule": {"completed": 0, "missed": 0, "completion_rate": None},
    }
    # The order of docs/api.md, "Outcomes"; the schedule (revision 2) comes last.
    assert list(body) == ["instrument", *FIGURES, "schedule"]
    # B: 10→17 (10 is a case), +7 ≥ 6 is a reliable deterioration.
    assert figures(outcomes(b)) == {
        "series": 1,
        "ended": 1,
        "evaluable": 1,
        "paired_rate": 1.0,
        "cases": 1,
        "mean_baseline": 10.0,
        "mean_post": 17.0,
        "mean_change": 7.0,
        "response_rate": 0.0,
        "remission_rate": 0.0,
        "recovery_rate": 0.0,
        "reliable_improvement_rate": 0.0,
        "reliable_deterioration_rate": 1.0,
    }
    # Admin, all three evaluable of 4 ended: 49/3 = 16.33, 36/3 = 12, −13/3 = −4.33;
    # all three are cases: response 1/3, remission 0, recovery 1/3; improvement 2/3, worse 1/3.
    assert figures(outcomes(world.as_admin())) == {
        "series": 5,
        "ended": 4,
        "evaluable": 3,
        "paired_rate": 0.75,
        "cases": 3,
        "mean_baseline": 16.3,
        "mean_post": 12.0,
        "mean_change": -4.3,
        "response_rate": 0.333,
        "remission_rate": 0.0,
        "recovery_rate": 0.333,
        "reliable_improvement_rate": 0.667,
        "reliable_deterioration_rate": 0.333,
    }
    # Another instrument: the same series, but no GAD-7 scores at all.
    no_scores = outcomes(a, "gad7")
    assert (
        no_scores
        == {
            "instrument": "gad7",
            "series": 4,
            "ended": 3,
            "evaluable": 0,
            "paired_rate": 0.0,  # 3 ended, none with both ends on the GAD-7
            "schedule": {"completed": 0, "missed": 0, "completion_rate": None},
        }
        | NOTHING_EVALUABLE
    )


def test_kind_since_and_until_filters(world):
    a, _b = build_vignette_clinic(world)
    induction = figures(outcomes(a, kind="induction"))
    assert (induction["series"], induction["evaluable"], induction["mean_change"]) == (2, 2, -10.0)
    ongoing = figures(outcomes(a, kind="maintenance"))
    assert (
        ongoing
        == {
            "series": 1,
            "ended": 0,
            "evaluable": 0,
            "paired_rate": None,
        }
        | NOTHING_EVALUABLE
    )
    assert outcomes(a, kind="other")["series"] == 0
    # Both ends inclusive, compared as instants: 09:00+01:00 is the 08:00Z start of Feb 1.
    feb_mar = outcomes(a, since="2026-02-01T09:00:00+01:00", until="2026-03-01T08:00:00Z")
    assert (feb_mar["series"], feb_mar["evaluable"], feb_mar["mean_baseline"]) == (2, 1, 20.0)
    # One microsecond past either start leaves that series out.
    assert outcomes(a, since="2026-02-01T08:00:00.000001+00:00")["series"] == 2
    assert outcomes(a, until="2026-03-01T07:59:59.999999+00:00")["series"] == 2
    one_instant = outcomes(a, since="2026-01-10T08:00:00+00:00", until="2026-01-10T08:00:00Z")
    assert (one_instant["series"], one_instant["evaluable"]) == (1, 1)


def test_by_month(world):
    build_vignette_clinic(world)
    body = outcomes(world.as_admin(), by="month")
    overall = figures(outcomes(world.as_admin()))
    assert figures(body) == overall  # the top level stays the overall figures
    months = body["months"]
    assert [(m["month"], m["series"], m["evaluable"]) for m in months] == [
        ("2026-01", 2, 2),  # patient 1's induction and patient 2's
        ("2026-02", 1, 1),
        ("2026-03", 1, 0),  # ongoing
        ("2026-04", 1, 0),  # no baseline
    ]
    assert list(months[0]) == ["month", *FIGURES]
    assert months[0]["mean_baseline"] == 14.5 and months[0]["mean_change"] == -2.5
    assert months[0]["response_rate"] == 0.5 and months[0]["reliable_deterioration_rate"] == 0.5
    assert (
        months[2]
        == {
            "month": "2026-03",
            "series": 1,
            "ended": 0,
            "evaluable": 0,
            "paired_rate": None,
        }
        | NOTHING_EVALUABLE
    )
    assert "months" not in overall and "months" not in outcomes(world.as_admin())
    # Filters apply to the months too; months without a selected series are left out.
    assert [
        m["month"] for m in outcomes(world.as_admin(), by="month", kind="booster")["months"]
    ] == ["2026-04"]
    assert outcomes(world.as_admin(), by="month", kind="other")["months"] == []


def test_month_is_the_utc_calendar_month(world):
    api = world.as_clinician_a()
    p = world.patient_1
    # 2026-04-01T02:00Z is still March 31 in New York, and 23:30-05:00 on March 31 is April 1 in
    # UTC: both belong to April.
    new_series(api, p, "2026-04-01T02:00:00+00:00", None, "booster")
    new_series(api, p, "2026-03-31T23:30:00-05:00", None, "booster")
    new_series(api, p, "2026-03-31T23:59:59.999999+00:00", None, "booster")
    months = outcomes(api, by="month")["months"]
    assert [(m["month"], m["series"]) for m in months] == [("2026-03", 1), ("2026-04", 2)]


def test_non_cases_are_left_out_of_response_remission_and_recovery(world):
    api = world.as_clinician_a()
    p = world.patient_1
    new_series(api, p, "2026-01-10T08:00:00+00:00", "2026-01-24T08:00:00+00:00", "induction")
    submit_total(api, p, "gad7", 0, "2026-01-09T09:00:00+00:00")
    submit_total(api, p, "gad7", 2, "2026-01-25T09:00:00+00:00")
    # Only a baseline of 0 (not a case, < 8): evaluable, but no response, remission or
    # recovery rate at all (not 0 %); reliable change is still counted (+2: unchanged).
    only_zero = outcomes(api, "gad7")
    assert (only_zero["evaluable"], only_zero["cases"], only_zero["response_rate"]) == (1, 0, None)
    assert (only_zero["remission_rate"], only_zero["recovery_rate"]) == (None, None)
    assert only_zero["reliable_improvement_rate"] == 0.0
    new_series(api, p, "2026-03-10T08:00:00+00:00", "2026-03-24T08:00:00+00:00", "induction")
    submit_total(api, p, "gad7", 12, "2026-03-09T09:00:00+00:00")
    submit_total(api, p, "gad7", 6, "2026-03-25T09:00:00+00:00")  # exactly half: responds
    # 12 → 6: a case; 6 ≤ 6 responds; 6 is not < 5; −6 ≤ −4 improved and 6 < 8 recovered.
    # Under the old denominators the remission rate was 1/2 (the non-case's 2 < 5 counted).
    body = outcomes(api, "gad7")
    assert (body["evaluable"], body["cases"], body["response_rate"]) == (2, 1, 1.0)
    assert (body["remission_rate"], body["recovery_rate"]) == (0.0, 1.0)
    assert (body["mean_baseline"], body["mean_post"], body["mean_change"]) == (6.0, 4.0, -2.0)


def test_windows_edges_ties_and_parameters(world):
    api = world.as_clinician_a()
    p = world.patient_1
    new_series(api, p, "2026-01-10T08:00:00+00:00", "2026-01-24T08:00:00+00:00", "induction")
    # Equal completed_at: the baseline is the later-recorded (higher id), the post the earlier.
    submit_total(api, p, "phq9", 19, "2025-12-11T08:00:00+00:00")  # START − 30 days exactly
    submit_total(api, p, "phq9", 15, "2025-12-11T08:00:00+00:00")
    submit_total(api, p, "phq9", 7, "2026-02-23T08:00:00+00:00")  # END + 30 days exactly
    submit_total(api, p, "phq9", 12, "2026-02-23T08:00:00+00:00")
    body = outcomes(api)
    assert (body["evaluable"], body["mean_baseline"], body["mean_post"]) == (1, 15.0, 7.0)
    assert body["response_rate"] == 1.0  # 7 ≤ 7.5
    narrow = outcomes(api, baseline_window_days=29, post_window_days=30)
    assert narrow["evaluable"] == 0
    assert outcomes(api, baseline_window_days=30, post_window_days=29)["evaluable"] == 0
    # Window 0: only scores exactly at the start and exactly at the end count.
    assert outcomes(api, baseline_window_days=0, post_window_days=0)["evaluable"] == 0
    submit_total(api, p, "phq9", 20, "2026-01-10T08:00:00+00:00")
    submit_total(api, p, "phq9", 9, "2026-01-24T08:00:00+00:00")
    zero = outcomes(api, baseline_window_days=0, post_window_days=0)
    assert (zero["mean_baseline"], zero["mean_post"], zero["mean_change"]) == (20.0, 9.0, -11.0)


def test_only_final_responses_count(world):
    api = world.as_clinician_a()
    p = world.patient_1
    new_series(api, p, "2026-01-10T08:00:00+00:00", "2026-01-24T08:00:00+00:00", "induction")
    submit_total(api, p, "phq9", 18, "2026-01-05T09:00:00+00:00")
    wrong = submit_total(api, p, "phq9", 25, "2026-01-09T09:00:00+00:00")  # the latest, but…
    post = submit_total(api, p, "phq9", 15, "2026-01-25T09:00:00+00:00")
    assert outcomes(api)["mean_baseline"] == 25.0
    api.post(f"/api/v1/responses/{wrong['id']}/entered-in-error", json={"reason": "wrong form"})
    assert (outcomes(api)["mean_baseline"], outcomes(api)["mean_post"]) == (18.0, 15.0)
    amended = api.post(
        f"/api/v1/responses/{post['id']}/amend",
        json={"answers": [1] * 8 + [0], "reason": "transcription"},
    )
    assert amended.status_code == 201, amended.json
    body = outcomes(api)  # the amendment (8) replaces the amended 15, same completed_at
    assert (body["mean_post"], body["mean_change"], body["response_rate"]) == (8.0, -10.0, 1.0)


def test_who_may_see_outcomes(world):
    build_vignette_clinic(world)
    with world.app.app_context():
        create_user("clinician.c@example.test", PASSWORD, "clinician")
        client, secret = register_client("Synthetic EHR", ["system/*.rs"])
        db.session.commit()
        client_id = client.client_id
    # A clinician without patients: nothing selected, every figure null.
    nobody = outcomes(login(world.app, "clinician.c@example.test"))
    assert (
        nobody
        == {
            "instrument": "phq9",
            "series": 0,
            "ended": 0,
            "evaluable": 0,
            "paired_rate": None,
            "schedule": {"completed": 0, "missed": 0, "completion_rate": None},
        }
        | NOTHING_EVALUABLE
    )
    assert world.as_patient_1().get("/api/v1/outcomes/phq9").status_code == 403
    token = world.app.test_client().post(
        "/api/v1/oauth/token",
        data={"grant_type": "client_credentials", "scope": "system/*.rs"},
        auth=(client_id, secret),
    )
    assert token.status_code == 200, token.json
    as_client = world.app.test_client().get(
        "/api/v1/outcomes/phq9", headers={"Authorization": f"Bearer {token.json['access_token']}"}
    )
    assert as_client.status_code == 403
    assert anonymous(world.app).get("/api/v1/outcomes/phq9").status_code == 401
    assert world.as_admin().get("/api/v1/outcomes/phq10").status_code == 404


def test_invalid_queries_are_422(world):
    api = world.as_clinician_a()
    for query in (
        {"since": "2026-03-01T00:00:00"},  # naive
        {"until": "2026-03-01"},
        {"since": "yesterday"},
        {"since": "2026-03-02T00:00:00Z", "until": "2026-03-01T00:00:00Z"},  # reversed
        {"kind": "ketamine"},
        {"by": "week"},
        {"baseline_window_days": -1},
        {"post_window_days": 366},
        {"post_window_days": "x"},
        {"window": 3},  # unknown parameter
        {"since": "0001-01-01T00:30:00+01:00"},  # before year 1 in UTC
        {"until": "9999-12-31T23:59:59-01:00"},  # after year 9999 in UTC
    ):
        response = api.get(f"/api/v1/outcomes/phq9?{urlencode(query)}")
        assert response.status_code == 422, query
        assert response.mimetype == "application/problem+json"
        assert response.json["errors"], query
    # A '+' left unencoded arrives as a space: refused, not misread.
    assert api.get("/api/v1/outcomes/phq9?since=2026-03-01T00:00:00+00:00").status_code == 422


def test_one_aggregate_read_event_per_request(world):
    api = world.as_clinician_a()
    outcomes(api, by="month")
    events = audit_events(world.app, AuditEvent.resource_type == "outcomes")
    assert [(e.action, e.resource_id, e.patient_id, e.outcome) for e in events] == [
        ("read", "phq9", None, "success")
    ]
    assert events[0].actor_id == str(world.clinician_a_id)
    world.as_patient_1().get("/api/v1/outcomes/phq9")
    denied = audit_events(world.app, AuditEvent.action == "access_denied")
    assert [e.outcome for e in denied] == ["forbidden"]


def test_query_count_does_not_grow_with_data(world):
    api = world.as_clinician_a()
    p = world.patient_1
    with world.app.app_context():
        engine = db.engine

    def statements_for_outcomes() -> list[str]:
        seen: list[str] = []

        def record(_conn, _cursor, statement, *_args):  # type: ignore[no-untyped-def]
            seen.append(statement)

        event.listen(engine, "before_cursor_execute", record)
        try:
            outcomes(api, by="month")
        finally:
            event.remove(engine, "before_cursor_execute", record)
        return seen

    few = statements_for_outcomes()
    for month in range(1, 10):
        new_series(
            api, p, f"2026-0{month}-10T08:00:00+00:00", f"2026-0{month}-12T08:00:00+00:00", "other"
        )
        submit_total(api, p, "phq9", 12, f"2026-0{month}-09T08:00:00+00:00")
        submit_total(api, p, "phq9", 6, f"2026-0{month}-13T08:00:00+00:00")
    many = statements_for_outcomes()
    assert len(many) == len(few)
    # Exactly one statement reads the responses: the whole computation.
    assert sum("FROM response" in s for s in many) == 1
    assert outcomes(api)["evaluable"] == 9


def test_openapi_documents_the_query_and_the_months(app):
    spec = anonymous(app).get("/api/v1/openapi.json").json
    operation = spec["paths"]["/api/v1/outcomes/{instrument}"]["get"]
    parameters = {p["name"] for p in operation["parameters"] if p["in"] == "query"}
    assert {"since", "until", "kind", "by", "baseline_window_days", "post_window_days"} <= (
        parameters
    )
    assert {"200", "401", "403", "404", "422"} <= set(operation["responses"])
    schemas = spec["components"]["schemas"]
    assert set(FIGURES) | {"instrument", "months"} <= set(schemas["Outcomes"]["properties"])
    assert "month" in schemas["MonthFigures"]["properties"]


# --------------------------------------------------------------------------
# (b) Property: the SQL agrees with the pure core on random clinics
# --------------------------------------------------------------------------

BASE = datetime(2026, 1, 1, tzinfo=UTC)
WINDOWS = ((30, 30), (0, 0), (7, 14), (365, 1))  # (baseline, post) days
STATUS_WEIGHTS = (("final", 7), ("amended", 2), ("entered-in-error", 2))
# Instants that are hard for text or interval arithmetic: midnight, a microsecond before it
# (SQLite's date() rounds to milliseconds), around the 2026 US and EU DST changes, and across
# a month end that New York and UTC see differently.
AWKWARD = (
    datetime(2026, 3, 8, 7, 0, tzinfo=UTC),
    datetime(2026, 3, 29, 1, 0, tzinfo=UTC),
    datetime(2026, 3, 31, 23, 59, 59, 999_999, tzinfo=UTC),
    datetime(2026, 4, 1, 2, 0, tzinfo=UTC),
    datetime(2026, 2, 28, 23, 59, 59, 999_900, tzinfo=UTC),
    datetime(2026, 1, 31, 0, 0, tzinfo=UTC),
)
# Totals that land exactly on a threshold with one another: 12 → 6 is exactly half (response)
# and exactly −6 (reliable change, PHQ-9 and GAD-7), 5 is the remission line, 0 a zero baseline.
ON_THE_LINE = (0, 4, 5, 6, 10, 11, 12, 16, 17)
# Series judged on the exact edge of a 30-day window that crosses a DST change in New York
# (started_at, ended_at, baseline total at start − 30 d, post total at end + 30 d): a database
# adding calendar days in a DST-observing session time zone would move the edge by an hour.
ON_THE_EDGE = (
    (datetime(2026, 3, 20, 12, tzinfo=UTC), datetime(2026, 3, 25, 12, tzinfo=UTC), 12, 6),
    (datetime(2026, 2, 10, 12, tzinfo=UTC), datetime(2026, 2, 20, 12, tzinfo=UTC), 10, 5),
    (datetime(2026, 10, 20, 12, tzinfo=UTC), None, 0, 0),
)


@dataclass
class Clinic:
    viewers: dict[str, int]  # "admin", "a", "b", "c" → user id
    starts: list[datetime]  # every series' started_at, for since/until on an exact start
    series: dict[int, list[SeriesPeriod]]  # by patient id
    points: dict[tuple[int, str], list[Point]]  # final responses by (patient id, instrument)


def random_instant(rng: random.Random) -> datetime:
    if rng.random() < 0.3:
        return rng.choice(AWKWARD)
    return BASE + timedelta(
        days=rng.randrange(0, 150),
        seconds=rng.choice((0, rng.randrange(86_400))),
        microseconds=rng.choice((0, 0, rng.randrange(1_000_000))),
    )


def response_times(rng: random.Random, started: datetime, ended: datetime | None) -> list[datetime]:
    """Exact window edges, a microsecond either side of them, and random times around."""
    tick = timedelta(microseconds=1)
    edges: list[datetime] = [started, started + tick]
    for days, _ in WINDOWS:
        edge = started - timedelta(days=days)
        edges += [edge, edge - tick, edge + tick]
    if ended is not None:
        edges += [ended, ended - tick]
        for _, days in WINDOWS:
            edge = ended + timedelta(days=days)
            edges += [edge, edge + tick, edge - tick]
    low = started - timedelta(days=40)
    span = ((ended or started) + timedelta(days=40) - low).total_seconds()
    randoms = [low + timedelta(seconds=rng.uniform(0, span)) for _ in range(rng.randrange(0, 5))]
    chosen = rng.sample(edges, k=min(len(edges), rng.randrange(2, 9))) + randoms
    # Equal completed_at: some instants twice, so the id tie-breaks matter.
    return chosen + [rng.choice(chosen) for _ in range(rng.randrange(0, 3))]


def response_row(patient_id: int, code: str, total: int, at: datetime, status: str) -> dict:
    instrument = instruments.get(code)
    return {
        "patient_id": patient_id,
        "instrument": code,
        "instrument_version": instrument.version,
        "answers": [],  # not read by the outcomes; the totals are what counts
        "total": total,
        "severity": instrument.band_for(total).code,
        "subscales": {},
        "flags": [],
        "screen_positive": total >= instrument.thresholds.cutoff,
        "completed_at": at,
        "source": "clinician",
        "status": status,
    }


def build_random_clinic(app: Flask, rng: random.Random) -> Clinic:
    """Insert patients, series and responses directly with SQLAlchemy (fast, no HTTP).

    Returns what the pure core needs, read back from the database (ids included).
    """
    with app.app_context():
        viewers = {
            role: db.session.scalar(select(User.id).where(User.email == email))
            for role, email in (
                ("admin", "admin@example.test"),
                ("a", "clinician.a@example.test"),
                ("b", "clinician.b@example.test"),
            )
        }
        viewers["c"] = create_user("clinician.c@example.test", PASSWORD, "clinician").id
        series_rows: list[dict] = []
        response_rows: list[dict] = []
        for number in range(16):
            patient = Patient(display_name=f"Random patient {number}")
            db.session.add(patient)
            db.session.flush()
            for key in rng.sample(["a", "b"], k=rng.choice((0, 1, 1, 2))):
                db.session.add(CareTeamMember(patient_id=patient.id, user_id=viewers[key]))
            for _ in range(rng.randrange(0, 6)):
                started = random_instant(rng)
                ended = (
                    None
                    if rng.random() < 0.25
                    else started + rng.choice((timedelta(0), timedelta(days=rng.randrange(1, 30))))
                )
                series_rows.append(
                    {
                        "patient_id": patient.id,
                        "label": "random",
                        "kind": rng.choice(SERIES_KINDS),
                        "started_at": started,
                        "ended_at": ended,
                    }
                )
                for at in response_times(rng, started, ended):
                    code = rng.choice(("phq9", "phq9", "phq9", "gad7"))
                    total = (
                        rng.choice(ON_THE_LINE)
                        if rng.random() < 0.6
                        else rng.randrange(instruments.get(code).max_score + 1)
                    )
                    status = rng.choices(*zip(*STATUS_WEIGHTS, strict=True))[0]
                    response_rows.append(response_row(patient.id, code, total, at, status))
        edge_patient = Patient(display_name="On the edge")
        db.session.add(edge_patient)
        db.session.flush()
        db.session.add(CareTeamMember(patient_id=edge_patient.id, user_id=viewers["a"]))
        for started, ended, baseline, post in ON_THE_EDGE:
            series_rows.append(
                {
                    "patient_id": edge_patient.id,
                    "label": "on the edge",
                    "kind": "induction",
                    "started_at": started,
                    "ended_at": ended,
                }
            )
            at = started - timedelta(days=30)
            response_rows.append(response_row(edge_patient.id, "phq9", baseline, at, "final"))
            if ended is not None:
                at = ended + timedelta(days=30)
                response_rows.append(response_row(edge_patient.id, "phq9", post, at, "final"))
        rng.shuffle(series_rows)
        rng.shuffle(response_rows)  # ids must not follow time: the tie-breaks are by id
        db.session.execute(insert(TreatmentSeries), series_rows)
        db.session.execute(insert(Response), response_rows)
        db.session.commit()

        series: dict[int, list[SeriesPeriod]] = {}
        for s in db.session.scalars(select(TreatmentSeries)):
            period = SeriesPeriod(s.id, s.label, s.kind, s.started_at, s.ended_at)
            series.setdefault(s.patient_id, []).append(period)
        points: dict[tuple[int, str], list[Point]] = {}
        for r in db.session.scalars(select(Response).where(Response.status == "final")):
            point = Point(r.id, r.completed_at, r.total, r.severity, r.series_id)
            points.setdefault((r.patient_id, r.instrument), []).append(point)
        return Clinic(viewers, [r["started_at"] for r in series_rows], series, points)


def round_half_up(value: Fraction, places: int) -> float:
    """Independent of tracker.outcomes: Decimal's ROUND_HALF_UP rounds halves away from zero."""
    exact = Decimal(value.numerator) / Decimal(value.denominator)
    return float(exact.quantize(Decimal(1).scaleb(-places), rounding=ROUND_HALF_UP))


def expected_figures(judged: list[SeriesOutcome], now: datetime) -> dict:
    """Plain Python over the pure core's per-series verdicts (revision-2 denominators)."""
    done = [s for s in judged if s.baseline is not None and s.post is not None]
    n = len(done)
    ended = sum(s.ended_at is not None and s.ended_at < now for s in judged)
    cases = [s for s in done if s.baseline_case]

    def mean(values: list[int]) -> float | None:
        return round_half_up(Fraction(sum(values), n), 1) if n else None

    def rate(hits: int, base: int) -> float | None:
        return round_half_up(Fraction(hits, base), 3) if base else None

    return {
        "series": len(judged),
        "ended": ended,
        "evaluable": n,
        "paired_rate": rate(n, ended),
        "cases": len(cases),
        "mean_baseline": mean([s.baseline.total for s in done]),
        "mean_post": mean([s.post.total for s in done]),
        "mean_change": mean([s.change for s in done]),
        "response_rate": rate(sum(s.response is True for s in cases), len(cases)),
        "remission_rate": rate(sum(s.remission is True for s in cases), len(cases)),
        "recovery_rate": rate(sum(s.clinically_significant for s in cases), len(cases)),
        "reliable_improvement_rate": rate(sum(s.reliable_change == "improved" for s in done), n),
        "reliable_deterioration_rate": rate(
            sum(s.reliable_change == "deteriorated" for s in done), n
        ),
    }


def expected_outcomes(
    clinic: Clinic,
    visible: set[int],
    code: str,
    windows: tuple[int, int],
    kind: str | None = None,
    since: datetime | None = None,
    until: datetime | None = None,
    now: datetime | None = None,
) -> tuple[dict, list[tuple[str, dict]]]:
    """Run trends.analyse per visible patient, keep the selected series, aggregate."""
    judged: list[SeriesOutcome] = []
    for patient_id, periods in clinic.series.items():
        if patient_id not in visible:
            continue
        trend = analyse(
            instruments.get(code),
            clinic.points.get((patient_id, code), []),
            periods,
            baseline_window=timedelta(days=windows[0]),
            post_window=timedelta(days=windows[1]),
        )
        judged += [
            s
            for s in trend.series
            if (kind is None or s.kind == kind)
            and (since is None or s.started_at >= since)
            and (until is None or s.started_at <= until)
        ]

    def month(s: SeriesOutcome) -> str:
        return s.started_at.astimezone(UTC).strftime("%Y-%m")

    now = now or datetime.now(UTC)
    by_month = [
        (m, expected_figures([s for s in judged if month(s) == m], now))
        for m in sorted({month(s) for s in judged})
    ]
    return expected_figures(judged, now), by_month


def as_dicts(result: Any) -> tuple[dict, list[tuple[str, dict]]]:
    return asdict(result.overall), [(m, asdict(f)) for m, f in result.months]


NOW = datetime(2026, 6, 1, tzinfo=UTC)  # fixed, so "ended" does not move during the test


@pytest.mark.parametrize("seed", range(4))
def test_sql_agrees_with_the_pure_core_on_random_clinics(world, backend, seed):
    rng = random.Random(seed)
    clinic = build_random_clinic(world.app, rng)
    new_york = timezone(timedelta(hours=-5))
    checked = evaluable = 0
    with world.app.app_context():
        for viewer_key in ("admin", "a", "b", "c"):
            viewer = db.session.get(User, clinic.viewers[viewer_key])
            patient_ids = select(Patient.id).where(access.visible_patients_clause(viewer))
            visible = set(db.session.scalars(patient_ids))
            for windows in WINDOWS:
                for code, filtered in itertools.product(("phq9", "gad7"), (False, True)):
                    kind = since = until = None
                    if filtered:
                        kind = rng.choice((None, *SERIES_KINDS))
                        # Exactly a series' start (inclusive), seen from another offset.
                        since = rng.choice(clinic.starts).astimezone(new_york)
                        until = since + timedelta(days=rng.choice((0, 20, 60)))
                    expected = expected_outcomes(
                        clinic, visible, code, windows, kind, since, until, NOW
                    )
                    if backend == "postgresql":
                        # The session time zone must not move a window edge or a month.
                        db.session.execute(text("SET LOCAL TIME ZONE 'America/New_York'"))
                    actual = clinic_outcomes(
                        instruments.get(code),
                        patient_ids=None if viewer_key == "admin" else patient_ids,
                        since=since,
                        until=until,
                        kind=kind,
                        baseline_window_days=windows[0],
                        post_window_days=windows[1],
                        by_month=True,
                        now=NOW,
                    )
                    db.session.rollback()
                    assert as_dicts(actual) == expected, (viewer_key, windows, code, kind, since)
                    checked += 1
                    evaluable += expected[0]["evaluable"]
        admin = set(db.session.scalars(select(Patient.id)))
    assert checked == 4 * len(WINDOWS) * 4 and evaluable > 100  # the data did exercise it
    # And once end to end through HTTP (on PostgreSQL in the server's own time zone).
    overall, months = expected_outcomes(clinic, admin, "phq9", (30, 30))
    body = outcomes(world.as_admin(), by="month")
    assert figures(body) == overall
    assert [(m.pop("month"), m) for m in body["months"]] == months
