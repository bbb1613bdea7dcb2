"""Trend vignettes through the HTTP API, on both databases; answers worked out by hand."""

from __future__ import annotations

import xml.etree.ElementTree as ET

from tests.helpers import submit_total

START = "2026-01-10T08:00:00+00:00"  # series start
END = "2026-01-24T08:00:00+00:00"  # series end


def series(api, patient_id, label="Ketamine induction", started_at=START, ended_at=END, **kw):
    body = {"label": label, "kind": "induction", "started_at": started_at, "ended_at": ended_at}
    body.update(kw)
    response = api.post(f"/api/v1/patients/{patient_id}/series", json=body)
    assert response.status_code == 201, response.json
    return response.json


def trend(api, patient_id, instrument, query=""):
    response = api.get(f"/api/v1/patients/{patient_id}/trends/{instrument}{query}")
    assert response.status_code == 200, response.json
    return response.json


def derived(outcome):
    keys = (
        "baseline_case",
        "change",
        "percent_change",
        "response",
        "remission",
        "reliable_change",
        "meaningful_change",
        "clinically_significant",
    )
    return {k: outcome[k] for k in keys}


def test_phq9_19_to_7_with_several_candidates(world):
    api = world.as_clinician_a()
    p = world.patient_1
    submit_total(api, p, "phq9", 15, "2026-01-01T09:00:00+00:00")  # in window, not the latest
    baseline = submit_total(api, p, "phq9", 19, "2026-01-09T09:00:00+00:00")
    submit_total(api, p, "phq9", 12, "2026-01-17T09:00:00+00:00")  # during the series
    post = submit_total(api, p, "phq9", 7, "2026-01-25T09:00:00+00:00")  # earliest after end
    submit_total(api, p, "phq9", 4, "2026-02-10T09:00:00+00:00")
    s = series(api, p)
    body = trend(api, p, "phq9")
    assert [pt["total"] for pt in body["points"]] == [15, 19, 12, 7, 4]
    outcome = body["series"][0]
    assert outcome["series_id"] == s["id"]
    assert outcome["baseline"] == {
        "response_id": baseline["id"],
        "total": 19,
        "completed_at": "2026-01-09T09:00:00+00:00",
    }
    assert outcome["post"]["response_id"] == post["id"]
    # −12; −12/19 = −63.2 %; 7 ≤ 9.5 → response; 7 ≥ 5 → no remission; −12 ≤ −6 and ≤ −5;
    # 19 ≥ 10 (a case) and 7 < 10 → clinically significant.
    assert derived(outcome) == {
        "baseline_case": True,
        "change": -12,
        "percent_change": -63.2,
        "response": True,
        "remission": False,
        "reliable_change": "improved",
        "meaningful_change": "improved",
        "clinically_significant": True,
    }
    assert body["latest"]["total"] == 4 and body["latest"]["severity"] == "minimal"


def test_pcl5_52_to_30_and_gad7_12_to_8(world):
    api = world.as_clinician_a()
    p = world.patient_1
    series(api, p)
    submit_total(api, p, "pcl5", 52, "2026-01-08T09:00:00+00:00")
    submit_total(api, p, "pcl5", 30, "2026-02-01T09:00:00+00:00")
    submit_total(api, p, "gad7", 12, "2026-01-10T08:00:00+00:00")  # exactly at the start
    submit_total(api, p, "gad7", 8, "2026-01-24T08:00:00+00:00")  # exactly at the end
    # PCL-5: 52 ≥ 33 a case; −22, −42.3 %, 30 > 26 → no response, 30 < 33 → remission,
    # −22 ≤ −15 and ≤ −10; but 30 is not ≤ 28 (Marx 2022) → not clinically significant.
    assert derived(trend(api, p, "pcl5")["series"][0]) == {
        "baseline_case": True,
        "change": -22,
        "percent_change": -42.3,
        "response": False,
        "remission": True,
        "reliable_change": "improved",
        "meaningful_change": "improved",
        "clinically_significant": False,
    }
    # GAD-7: 12 ≥ 8 a case; −4, −33.3 %, 8 > 6 → no response, 8 ≥ 5 → no remission,
    # −4 ≤ −4 (reliable change 4) → improved, and meaningful; 8 is not < 8 → not recovered.
    assert derived(trend(api, p, "gad7")["series"][0]) == {
        "baseline_case": True,
        "change": -4,
        "percent_change": -33.3,
        "response": False,
        "remission": False,
        "reliable_change": "improved",
        "meaningful_change": "improved",
        "clinically_significant": False,
    }


def test_revision_2_vignettes_worked_by_hand(world):
    """docs/clinical-rules.md, "Change statistics": each pair worked out in the comment."""
    api = world.as_clinician_a()
    vignettes = [
        # PHQ-9 3 → 1: not a case (3 < 10): response and remission not judged; −2 unchanged.
        (
            "phq9",
            3,
            1,
            {
                "baseline_case": False,
                "response": None,
                "remission": None,
                "reliable_change": "unchanged",
                "clinically_significant": False,
            },
        ),
        # PHQ-9 12 → 5: a case; 5 ≤ 6 response; 5 not < 5 no remission; −7 ≤ −6 improved;
        # 5 < 10 recovered.
        (
            "phq9",
            12,
            5,
            {
                "baseline_case": True,
                "response": True,
                "remission": False,
                "reliable_change": "improved",
                "clinically_significant": True,
            },
        ),
        # GAD-7 9 → 5: a case at 8+; 5 > 4.5 no response; 5 not < 5; −4 improved; 5 < 8 recovered.
        (
            "gad7",
            9,
            5,
            {
                "baseline_case": True,
                "response": False,
                "remission": False,
                "reliable_change": "improved",
                "clinically_significant": True,
            },
        ),
        # PCL-5 45 → 28: a case; 28 > 22.5 no response; 28 < 33 remission; −17 improved; ≤ 28.
        (
            "pcl5",
            45,
            28,
            {
                "baseline_case": True,
                "response": False,
                "remission": True,
                "reliable_change": "improved",
                "clinically_significant": True,
            },
        ),
        # PCL-5 45 → 30: −15 improved exactly, but 30 > 28: not recovered.
        (
            "pcl5",
            45,
            30,
            {
                "baseline_case": True,
                "response": False,
                "remission": True,
                "reliable_change": "improved",
                "clinically_significant": False,
            },
        ),
    ]
    for index, (code, baseline, post, expected) in enumerate(vignettes):
        # Each vignette on a patient of its own (created by this clinician: the care team).
        body = {"display_name": f"Synthetic V{index}"}
        patient = int(api.post("/api/v1/patients", json=body).json["id"])
        series(api, patient)
        submit_total(api, patient, code, baseline, "2026-01-08T09:00:00+00:00")
        submit_total(api, patient, code, post, "2026-02-01T09:00:00+00:00")
        outcome = trend(api, patient, code)["series"][0]
        assert {k: outcome[k] for k in expected} == expected, (code, baseline, post)


def test_a_one_day_series_with_one_response_has_no_post(world):
    api = world.as_clinician_a()
    p = world.patient_1
    at = "2026-01-10T08:00:00+00:00"
    created = api.post(
        f"/api/v1/patients/{p}/series",
        json={"label": "Single infusion", "kind": "booster", "started_at": at, "ended_at": at},
    )
    assert created.status_code == 201
    submit_total(api, p, "phq9", 16, at)
    outcome = trend(api, p, "phq9")["series"][0]
    assert outcome["baseline"]["total"] == 16 and outcome["baseline_case"] is True
    assert outcome["post"] is None and outcome["change"] is None


def test_window_edges_and_window_parameters(world):
    api = world.as_clinician_a()
    p = world.patient_1
    series(api, p)
    submit_total(api, p, "phq9", 18, "2025-12-11T08:00:00+00:00")  # START − 30 days exactly
    submit_total(api, p, "phq9", 9, "2026-02-23T08:00:00+00:00")  # END + 30 days exactly
    outcome = trend(api, p, "phq9")["series"][0]
    assert (outcome["baseline"]["total"], outcome["post"]["total"], outcome["change"]) == (
        18,
        9,
        -9,
    )
    narrow = trend(api, p, "phq9", "?baseline_window_days=29&post_window_days=29")["series"][0]
    assert narrow["baseline"] is None and narrow["post"] is None
    assert narrow["change"] is None and narrow["reliable_change"] is None
    for query in (
        "?baseline_window_days=-1",
        "?post_window_days=366",
        "?post_window_days=x",
        "?window=3",
    ):
        response = api.get(f"/api/v1/patients/{p}/trends/phq9{query}")
        assert response.status_code == 422, query


def test_ongoing_series_and_baseline_zero(world):
    api = world.as_clinician_a()
    p = world.patient_1
    series(api, p, ended_at=None)
    submit_total(api, p, "phq9", 0, "2026-01-05T09:00:00+00:00")
    submit_total(api, p, "phq9", 3, "2026-01-30T09:00:00+00:00")
    ongoing = trend(api, p, "phq9")["series"][0]
    assert ongoing["baseline"]["total"] == 0 and ongoing["post"] is None
    assert ongoing["change"] is None and ongoing["remission"] is None
    s_id = ongoing["series_id"]
    api.patch(f"/api/v1/series/{s_id}", json={"ended_at": END})
    ended = trend(api, p, "phq9")["series"][0]
    # Baseline 0: not a case, no percent change, response and remission not judged; the
    # change is still judged (+3 is unchanged).
    assert derived(ended) == {
        "baseline_case": False,
        "change": 3,
        "percent_change": None,
        "response": None,
        "remission": None,
        "reliable_change": "unchanged",
        "meaningful_change": "unchanged",
        "clinically_significant": False,
    }


def test_deterioration_and_only_final_responses_count(world):
    api = world.as_clinician_a()
    p = world.patient_1
    series(api, p)
    submit_total(api, p, "phq9", 8, "2026-01-09T09:00:00+00:00")
    wrong = submit_total(api, p, "phq9", 2, "2026-01-25T09:00:00+00:00")
    post = submit_total(api, p, "phq9", 15, "2026-01-26T09:00:00+00:00")
    api.post(f"/api/v1/responses/{wrong['id']}/entered-in-error", json={"reason": "wrong form"})
    body = trend(api, p, "phq9")
    assert [pt["total"] for pt in body["points"]] == [8, 15]
    outcome = body["series"][0]
    assert outcome["post"]["response_id"] == post["id"]
    assert (outcome["change"], outcome["reliable_change"], outcome["meaningful_change"]) == (
        7,
        "deteriorated",
        "deteriorated",
    )
    amended = api.post(
        f"/api/v1/responses/{post['id']}/amend",
        json={"answers": [1] * 8 + [0], "reason": "transcription"},
    ).json
    outcome = trend(api, p, "phq9")["series"][0]
    assert outcome["post"] == {
        "response_id": amended["id"],
        "total": 8,
        "completed_at": "2026-01-26T09:00:00+00:00",
    }


def test_trend_access(world):
    p = world.patient_1
    assert world.as_patient_1().get(f"/api/v1/patients/{p}/trends/phq9").status_code == 200
    assert world.as_clinician_b().get(f"/api/v1/patients/{p}/trends/phq9").status_code == 404
    assert world.as_admin().get(f"/api/v1/patients/{p}/trends/phq10").status_code == 404
    empty = trend(world.as_admin(), p, "gad7")
    assert empty == {"instrument": "gad7", "points": [], "series": [], "latest": None}


def test_chart_is_self_contained_svg(world):
    api = world.as_clinician_a()
    p = world.patient_1
    s = series(api, p, label="Ketamine <induction> & co")
    api.post(
        f"/api/v1/series/{s['id']}/sessions", json={"administered_at": "2026-01-12T09:00:00+00:00"}
    )
    submit_total(api, p, "phq9", 19, "2026-01-09T09:00:00+00:00")
    submit_total(api, p, "phq9", 7, "2026-01-25T09:00:00+00:00")
    response = api.get(f"/api/v1/patients/{p}/trends/phq9.svg")
    assert response.status_code == 200
    assert response.mimetype == "image/svg+xml"
    text = response.get_data(as_text=True)
    root = ET.fromstring(text)
    assert root.tag.endswith("svg")
    assert "<script" not in text and "https://" not in text
    assert "Ketamine &lt;induction&gt; &amp; co" in text
    assert world.as_clinician_b().get(f"/api/v1/patients/{p}/trends/phq9.svg").status_code == 404


def test_the_chart_draws_exactly_the_trends_points(world):
    """The chart loads its points without the analysis: still only final responses, each once."""
    api = world.as_clinician_a()
    p = world.patient_1
    submit_total(api, p, "phq9", 8, "2026-01-09T09:00:00+00:00")
    wrong = submit_total(api, p, "phq9", 2, "2026-01-25T09:00:00+00:00")
    corrected = submit_total(api, p, "phq9", 15, "2026-01-26T09:00:00+00:00")
    submit_total(api, p, "gad7", 3, "2026-01-27T09:00:00+00:00")  # another instrument
    submit_total(world.as_admin(), world.patient_2, "phq9", 20, "2026-01-28T09:00:00+00:00")
    api.post(f"/api/v1/responses/{wrong['id']}/entered-in-error", json={"reason": "wrong form"})
    api.post(
        f"/api/v1/responses/{corrected['id']}/amend",
        json={"answers": [1] * 8 + [0], "reason": "transcription"},
    )
    svg = api.get(f"/api/v1/patients/{p}/trends/phq9.svg").get_data(as_text=True)
    ns = {"svg": "http://www.w3.org/2000/svg"}
    dots = ET.fromstring(svg).findall(".//svg:circle[@class='point']/svg:title", ns)
    drawn = [dot.text for dot in dots]
    assert drawn == ["9 Jan 2026: 8 (Mild)", "26 Jan 2026: 8 (Mild)"]
    assert [pt["total"] for pt in trend(api, p, "phq9")["points"]] == [8, 8]


def test_trend_queries_do_not_grow_with_points_or_series(world):
    from sqlalchemy import event

    from tracker.extensions import db

    api = world.as_clinician_a()
    p = world.patient_1

    def queries_for_trend() -> int:
        statements: list[str] = []
        with world.app.app_context():
            engine = db.engine

        def count(*_args):  # type: ignore[no-untyped-def]
            statements.append("q")

        event.listen(engine, "before_cursor_execute", count)
        try:
            trend(api, p, "phq9")
        finally:
            event.remove(engine, "before_cursor_execute", count)
        return len(statements)

    series(api, p)
    submit_total(api, p, "phq9", 19, "2026-01-09T09:00:00+00:00")
    few = queries_for_trend()
    for day in range(10, 28):
        submit_total(api, p, "phq9", 10, f"2026-02-{day}T09:00:00+00:00")
    for month in range(3, 8):
        series(
            api,
            p,
            label=f"Booster {month}",
            started_at=f"2026-0{month}-01T08:00:00+00:00",
            ended_at=f"2026-0{month}-02T08:00:00+00:00",
        )
    assert queries_for_trend() == few


def test_prebuilt_body_is_the_schema_dump_byte_for_byte(app):
    """The view builds its body without marshmallow; it must equal TrendSchema's dump."""
    from datetime import UTC, datetime, timedelta

    from tracker import instruments
    from tracker.analysis.trends import Point, SeriesPeriod, analyse
    from tracker.api.trends import TrendSchema, trend_body

    day = datetime(2026, 1, 1, 9, tzinfo=UTC)
    points = [
        Point(10 + i, day + timedelta(days=i, microseconds=i * 7), total, sev, sid)
        for i, (total, sev, sid) in enumerate(
            [
                (19, "moderately_severe", None),
                (0, "minimal", 3),
                (12, "moderate", 3),
                (7, "mild", None),
                (21, "severe", 4),
            ]
        )
    ]
    periods = [
        SeriesPeriod(
            3,
            "Kétamine « induction » ✓",
            "induction",
            day + timedelta(days=1),
            day + timedelta(days=2),
        ),
        SeriesPeriod(4, "Maintenance", "maintenance", day + timedelta(days=3), None),
        SeriesPeriod(
            5, "Before any score", "induction", day - timedelta(days=90), day - timedelta(days=80)
        ),
        SeriesPeriod(
            6,
            "Baseline zero",
            "induction",
            day + timedelta(days=1, hours=1),
            day + timedelta(days=3),
        ),
    ]
    phq9 = instruments.get("phq9")
    trends = [
        analyse(phq9, points, periods),
        analyse(phq9, [], periods),
        analyse(phq9, points[:1], []),
    ]
    with app.app_context():
        for trend in trends:
            assert trend_body(trend) == TrendSchema().dump(trend)
            assert app.json.dumps(trend_body(trend)) == app.json.dumps(TrendSchema().dump(trend))


def test_fast_encoder_writes_what_jsonify_writes(app):
    """orjson is used only where its bytes equal the JSON provider's; otherwise the provider."""
    from tracker.api.trends import json_response

    labels = [
        "Ketamine induction",
        'quote " backslash \\ slash / tab \t newline \n return \r',
        "controls \x00 \x01 \x08 \x0c \x1f",
        "DEL \x7f",
        "Kétamine « induction » ✓ 🙂",
        "lone surrogate \ud800",
        "<script>alert(1)</script> & co",
    ]
    percents = [None, 0.0, -100.0, 2300.0] + [tenths / 10 for tenths in range(-1000, 8001)]
    bodies = [{"label": label, "n": None, "ok": True, "no": False, "i": 7} for label in labels]
    bodies.append({"percent_change": percents, "points": [{"response_id": "1", "total": 0}]})
    bodies.append({"points": [], "latest": None})
    with app.test_request_context():
        for body in bodies:
            fast = json_response(body)
            assert fast.get_data() == app.json.response(body).get_data()
            assert fast.mimetype == "application/json"
