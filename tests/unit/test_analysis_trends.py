"""Hand-worked tests for tracker.analysis.trends (baseline/post windows, outcomes, latest).

Windows are docs/clinical-rules.md, "Baseline and post windows": baseline = the latest point in
[started_at − 30 days, started_at], post = the earliest point in
[ended_at, ended_at + 30 days], both ends inclusive. Thresholds (PHQ-9:
cut-off 10, MCID 5, RC 6, remission < 5; response = post ≤ 50 % of baseline)
are docs/clinical-rules.md, "Change statistics". Every expected value is worked out by hand in
a comment. All datetimes are timezone-aware.
"""

from __future__ import annotations

import dataclasses
from datetime import UTC, datetime, timedelta, timezone

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tracker.analysis import (
    Anchor,
    Latest,
    Point,
    SeriesOutcome,
    SeriesPeriod,
    Trend,
    analyse,
    compare,
    find_baseline,
    find_post,
)
from tracker.instruments import GAD7, PCL5, PHQ9, Instrument

PROPERTY = settings(database=None, deadline=None, max_examples=200)

DAY = timedelta(days=1)
SECOND = timedelta(seconds=1)
WINDOW = timedelta(days=30)
START = datetime(2026, 1, 5, 9, 0, tzinfo=UTC)
END = datetime(2026, 1, 30, 9, 0, tzinfo=UTC)


def pt(
    response_id: int,
    at: datetime,
    total: int,
    series_id: int | None = None,
    instrument: Instrument = PHQ9,
) -> Point:
    """A point whose severity is its band code, as the caller would build it."""
    return Point(response_id, at, total, instrument.band_for(total).code, series_id)


def induction(ended_at: datetime | None = END, series_id: int = 17) -> SeriesPeriod:
    return SeriesPeriod(series_id, "Ketamine induction", "induction", START, ended_at)


def only_series(points: list[Point], period: SeriesPeriod | None = None) -> SeriesOutcome:
    trend = analyse(PHQ9, points, [period or induction()])
    assert len(trend.series) == 1
    return trend.series[0]


def assert_no_verdict(outcome: SeriesOutcome) -> None:
    """Every derived field is None (docs/api.md, "Trends": baseline or post missing)."""
    assert outcome.change is None
    assert outcome.percent_change is None
    assert outcome.response is None
    assert outcome.remission is None
    assert outcome.reliable_change is None
    assert outcome.meaningful_change is None
    assert outcome.clinically_significant is None


# --------------------------------------------------------------------------
# The worked example of docs/api.md, "Trends"
# --------------------------------------------------------------------------


def test_api_example_phq9_19_to_7() -> None:
    points = [
        pt(901, START - 2 * DAY, 19),  # baseline: latest in [START − 30 d, START]
        pt(902, START + 10 * DAY, 13, series_id=17),  # during the series: neither
        pt(903, END + 3 * DAY, 7, series_id=17),  # post: earliest in [END, END + 30 d]
    ]
    trend = analyse(PHQ9, points, [induction()])
    # 19 → 7: change −12, −63.2 %, response (7 ≤ 9.5), no remission (7 ≥ 5),
    # reliable (−12 ≤ −6) and meaningful (≤ −5) improvement, clinically
    # significant (19 ≥ 10 and 7 < 10).
    assert trend == Trend(
        instrument="phq9",
        points=tuple(points),
        series=(
            SeriesOutcome(
                series_id=17,
                label="Ketamine induction",
                kind="induction",
                started_at=START,
                ended_at=END,
                baseline=Anchor(901, 19, START - 2 * DAY),
                post=Anchor(903, 7, END + 3 * DAY),
                baseline_case=True,  # 19 ≥ 10
                change=-12,
                percent_change=-63.2,
                response=True,
                remission=False,
                reliable_change="improved",
                meaningful_change="improved",
                clinically_significant=True,
            ),
        ),
        latest=Latest(903, 7, "mild", END + 3 * DAY),  # 7 is in mild 5–9
    )


# --------------------------------------------------------------------------
# Baseline window
# --------------------------------------------------------------------------


def test_baseline_exactly_at_window_start_is_included() -> None:
    outcome = only_series([pt(1, START - WINDOW, 18), pt(2, END + DAY, 11)])
    assert outcome.baseline == Anchor(1, 18, START - WINDOW)
    # 18 → 11: −7 → reliable (≤ −6) and meaningful (≤ −5); 11 ≥ 10 → not significant
    assert outcome.change == -7
    assert outcome.reliable_change == "improved"
    assert outcome.clinically_significant is False


def test_baseline_one_second_before_window_is_excluded() -> None:
    outcome = only_series([pt(1, START - WINDOW - SECOND, 18), pt(2, END + DAY, 11)])
    assert outcome.baseline is None
    assert outcome.post == Anchor(2, 11, END + DAY)  # post still shown
    assert_no_verdict(outcome)


def test_baseline_at_started_at_is_included_and_after_it_is_not() -> None:
    assert only_series([pt(1, START, 15)]).baseline == Anchor(1, 15, START)
    # One second into the series: already on treatment, not a baseline.
    assert only_series([pt(1, START + SECOND, 15)]).baseline is None


def test_several_candidates_latest_baseline_and_earliest_post() -> None:
    points = [
        pt(8, START - 31 * DAY, 27),  # outside the baseline window
        pt(1, START - 25 * DAY, 16),
        pt(2, START - 10 * DAY, 18),
        pt(3, START - timedelta(hours=1), 20),  # latest in the window → baseline
        pt(4, END - timedelta(hours=1), 12),  # before the end → not a post
        pt(5, END + DAY, 9),  # earliest in the window → post
        pt(6, END + 7 * DAY, 4),
        pt(7, END + 29 * DAY, 3),
    ]
    outcome = only_series(points)
    assert outcome.baseline == Anchor(3, 20, START - timedelta(hours=1))
    assert outcome.post == Anchor(5, 9, END + DAY)
    # 20 → 9: −11, −55.0 %, response (9 ≤ 10), no remission (9 ≥ 5),
    # reliable/meaningful improved, significant (20 ≥ 10, 9 < 10)
    assert (
        outcome.change,
        outcome.percent_change,
        outcome.response,
        outcome.remission,
        outcome.reliable_change,
        outcome.meaningful_change,
        outcome.clinically_significant,
    ) == (-11, -55.0, True, False, "improved", "improved", True)


def test_ties_on_completed_at() -> None:
    # Two responses at the same instant: baseline takes the higher id, post the lower.
    points = [
        pt(22, END + DAY, 8),
        pt(12, START - DAY, 17),
        pt(21, END + DAY, 6),
        pt(11, START - DAY, 15),
    ]
    outcome = only_series(points)
    assert outcome.baseline == Anchor(12, 17, START - DAY)
    assert outcome.post == Anchor(21, 6, END + DAY)
    # 17 → 6: −11; 6 ≤ 8.5 → response; 6 ≥ 5 → no remission; significant (6 < 10)
    assert outcome.change == -11
    assert outcome.response is True
    assert outcome.remission is False
    assert outcome.clinically_significant is True


# --------------------------------------------------------------------------
# Post window
# --------------------------------------------------------------------------


def test_post_exactly_at_window_end_is_included() -> None:
    outcome = only_series([pt(1, START - DAY, 19), pt(2, END + WINDOW, 4)])
    assert outcome.post == Anchor(2, 4, END + WINDOW)
    # 19 → 4: −15; remission 4 < 5; response 4 ≤ 9.5
    assert outcome.change == -15
    assert outcome.remission is True
    assert outcome.response is True


def test_post_one_second_after_window_is_excluded() -> None:
    outcome = only_series([pt(1, START - DAY, 19), pt(2, END + WINDOW + SECOND, 4)])
    assert outcome.baseline == Anchor(1, 19, START - DAY)  # baseline still shown
    assert outcome.post is None
    assert_no_verdict(outcome)


def test_post_at_ended_at_is_included_and_before_it_is_not() -> None:
    assert only_series([pt(1, END, 9)]).post == Anchor(1, 9, END)
    # One second before the end: still during the series.
    assert only_series([pt(1, END - SECOND, 9)]).post is None


def test_ongoing_series_shows_baseline_but_no_post() -> None:
    points = [
        pt(1, START - 2 * DAY, 19),
        pt(2, START + 7 * DAY, 12, series_id=17),
        pt(3, START + 60 * DAY, 8, series_id=17),
    ]
    outcome = only_series(points, induction(ended_at=None))
    assert outcome.ended_at is None
    assert outcome.baseline == Anchor(1, 19, START - 2 * DAY)
    assert outcome.post is None  # no post while ongoing, however many later points
    assert_no_verdict(outcome)
    assert find_post(points, induction(ended_at=None), WINDOW) is None


def test_post_without_baseline() -> None:
    outcome = only_series([pt(1, START + DAY, 19), pt(2, END + DAY, 7)])
    assert outcome.baseline is None
    assert outcome.post == Anchor(2, 7, END + DAY)
    assert_no_verdict(outcome)


def test_baseline_zero() -> None:
    # PHQ-9 0 → 3: change +3; percent_change None (baseline 0); 0 is not a case, so
    # response and remission are None; +3 < 5 and < 6 → unchanged twice; not significant.
    outcome = only_series([pt(1, START - DAY, 0), pt(2, END + DAY, 3)])
    assert outcome.baseline_case is False
    assert (
        outcome.change,
        outcome.percent_change,
        outcome.response,
        outcome.remission,
        outcome.reliable_change,
        outcome.meaningful_change,
        outcome.clinically_significant,
    ) == (3, None, None, None, "unchanged", "unchanged", False)


def test_deterioration_over_a_series() -> None:
    # PHQ-9 8 → 15: +7 ≥ 6 → reliably deteriorated; ≥ 5 → meaningfully; 87.5 %
    outcome = only_series([pt(1, START - DAY, 8), pt(2, END + DAY, 15)])
    assert outcome.change == 7
    assert outcome.percent_change == 87.5
    assert outcome.reliable_change == "deteriorated"
    assert outcome.meaningful_change == "deteriorated"
    assert outcome.response is None  # 8 < 10: not a case, response not judged
    assert outcome.clinically_significant is False


def test_outcome_fields_equal_compare() -> None:
    outcome = only_series([pt(1, START - DAY, 23), pt(2, END + DAY, 12)])
    v = compare(PHQ9, 23, 12)
    assert (
        outcome.change,
        outcome.percent_change,
        outcome.response,
        outcome.remission,
        outcome.reliable_change,
        outcome.meaningful_change,
        outcome.clinically_significant,
    ) == (
        v.change,
        v.percent_change,
        v.response,
        v.remission,
        v.reliable_change,
        v.meaningful_change,
        v.clinically_significant,
    )


# --------------------------------------------------------------------------
# Custom windows and time zones
# --------------------------------------------------------------------------


def test_custom_windows() -> None:
    points = [pt(1, START - 8 * DAY, 20), pt(2, END + 8 * DAY, 9)]
    trend = analyse(PHQ9, points, [induction()], timedelta(days=7), timedelta(days=7))
    assert trend.series[0].baseline is None  # 8 days > 7
    assert trend.series[0].post is None
    trend = analyse(PHQ9, points, [induction()], timedelta(days=8), timedelta(days=8))
    assert trend.series[0].baseline == Anchor(1, 20, START - 8 * DAY)  # edge included
    assert trend.series[0].post == Anchor(2, 9, END + 8 * DAY)
    # Zero-width windows: only a point exactly at started_at / ended_at counts.
    exact = [pt(3, START, 20), pt(4, END, 9), pt(5, END + SECOND, 2)]
    trend = analyse(PHQ9, exact, [induction()], timedelta(0), timedelta(0))
    assert trend.series[0].baseline == Anchor(3, 20, START)
    assert trend.series[0].post == Anchor(4, 9, END)


def test_windows_compare_instants_not_wall_clocks() -> None:
    minus5 = timezone(timedelta(hours=-5))
    plus1 = timezone(timedelta(hours=1))
    edge = START - WINDOW  # 2025-12-06 09:00 UTC
    # 04:00 at −05:00 is 09:00 UTC: exactly the edge → included.
    at_edge = datetime(2025, 12, 6, 4, 0, tzinfo=minus5)
    assert at_edge == edge
    assert only_series([pt(1, at_edge, 18)]).baseline == Anchor(1, 18, at_edge)
    # 09:59:59 at +01:00 reads later than 09:00 but is 08:59:59 UTC → excluded.
    too_early = datetime(2025, 12, 6, 9, 59, 59, tzinfo=plus1)
    assert only_series([pt(1, too_early, 18)]).baseline is None


def test_naive_datetimes_are_refused() -> None:
    naive = datetime(2026, 1, 5, 9, 0)
    with pytest.raises(ValueError):
        Point(1, naive, 10, "moderate")
    with pytest.raises(ValueError):
        SeriesPeriod(1, "x", "induction", naive, None)
    with pytest.raises(ValueError):
        SeriesPeriod(1, "x", "induction", START, naive)


def test_series_ending_before_it_starts_is_refused() -> None:
    with pytest.raises(ValueError):
        SeriesPeriod(1, "x", "induction", START, START - SECOND)
    # Same instant is allowed (a one-session series).
    assert SeriesPeriod(1, "x", "induction", START, START).ended_at == START


def test_negative_windows_are_refused() -> None:
    points = [pt(1, START - DAY, 19)]
    with pytest.raises(ValueError):
        analyse(PHQ9, points, [induction()], baseline_window=-DAY)
    with pytest.raises(ValueError):
        analyse(PHQ9, points, [induction()], post_window=-DAY)
    with pytest.raises(ValueError):
        find_baseline(points, induction(), -SECOND)
    with pytest.raises(ValueError):
        find_post(points, induction(), -SECOND)


# --------------------------------------------------------------------------
# Two series on one timeline
# --------------------------------------------------------------------------

INDUCTION = SeriesPeriod(
    1,
    "Ketamine induction",
    "induction",
    datetime(2026, 1, 5, tzinfo=UTC),
    datetime(2026, 1, 30, tzinfo=UTC),
)
MAINTENANCE = SeriesPeriod(
    2,
    "Maintenance",
    "maintenance",
    datetime(2026, 2, 20, tzinfo=UTC),
    datetime(2026, 4, 20, tzinfo=UTC),
)
TIMELINE = [
    pt(101, datetime(2026, 1, 2, tzinfo=UTC), 19),  # induction baseline
    pt(102, datetime(2026, 1, 12, tzinfo=UTC), 15, series_id=1),
    pt(103, datetime(2026, 1, 26, tzinfo=UTC), 11, series_id=1),
    pt(104, datetime(2026, 2, 2, tzinfo=UTC), 8, series_id=1),  # induction post
    # Filed under the induction, yet the latest in maintenance's baseline window
    # [Jan 21, Feb 20]: windows are by time only.
    pt(105, datetime(2026, 2, 16, tzinfo=UTC), 10, series_id=1),
    pt(106, datetime(2026, 3, 20, tzinfo=UTC), 7, series_id=2),
    pt(107, datetime(2026, 4, 25, tzinfo=UTC), 4, series_id=2),  # maintenance post
    pt(108, datetime(2026, 5, 10, tzinfo=UTC), 6),  # latest
]


def test_induction_then_maintenance() -> None:
    # Series given newest first; output is by started_at.
    trend = analyse(PHQ9, list(reversed(TIMELINE)), [MAINTENANCE, INDUCTION])
    assert [s.series_id for s in trend.series] == [1, 2]
    induction_, maintenance = trend.series

    # Induction: baseline Jan 2 (19); post = earliest in [Jan 30, Mar 1] = Feb 2 (8).
    # 19 → 8: −11; −11/19 = −57.89… → −57.9 %; response 8 ≤ 9.5; no remission
    # (8 ≥ 5); reliable (≤ −6) and meaningful (≤ −5); significant (19 ≥ 10, 8 < 10).
    assert induction_.baseline == Anchor(101, 19, datetime(2026, 1, 2, tzinfo=UTC))
    assert induction_.post == Anchor(104, 8, datetime(2026, 2, 2, tzinfo=UTC))
    assert (
        induction_.change,
        induction_.percent_change,
        induction_.response,
        induction_.remission,
        induction_.reliable_change,
        induction_.meaningful_change,
        induction_.clinically_significant,
    ) == (-11, -57.9, True, False, "improved", "improved", True)

    # Maintenance: baseline Feb 16 (10); post = earliest in [Apr 20, May 20] = Apr 25 (4).
    # 10 → 4: −6, −60.0 %; response 4 ≤ 5; remission 4 < 5; reliable −6 ≤ −6;
    # meaningful −6 ≤ −5; significant (baseline 10 ≥ 10 exactly, 4 < 10).
    assert maintenance.baseline == Anchor(105, 10, datetime(2026, 2, 16, tzinfo=UTC))
    assert maintenance.post == Anchor(107, 4, datetime(2026, 4, 25, tzinfo=UTC))
    assert (
        maintenance.change,
        maintenance.percent_change,
        maintenance.response,
        maintenance.remission,
        maintenance.reliable_change,
        maintenance.meaningful_change,
        maintenance.clinically_significant,
    ) == (-6, -60.0, True, True, "improved", "improved", True)

    # Latest: May 10, 6 → mild (5–9). Points oldest first.
    assert trend.latest == Latest(108, 6, "mild", datetime(2026, 5, 10, tzinfo=UTC))
    assert trend.points == tuple(TIMELINE)


def test_one_point_can_be_post_of_one_series_and_baseline_of_the_next() -> None:
    # Without Feb 16, the latest point in [Jan 21, Feb 20] is Feb 2 (8), the induction's post.
    points = [p for p in TIMELINE if p.response_id != 105]
    induction_, maintenance = analyse(PHQ9, points, [INDUCTION, MAINTENANCE]).series
    assert induction_.post is not None and maintenance.baseline is not None
    assert induction_.post.response_id == maintenance.baseline.response_id == 104
    # 8 → 4: −4 → not reliable (> −6), not meaningful (> −5); 8 < 10 is not a case, so
    # response and remission are not judged (None); not significant
    assert (
        maintenance.change,
        maintenance.percent_change,
        maintenance.response,
        maintenance.remission,
        maintenance.reliable_change,
        maintenance.meaningful_change,
        maintenance.clinically_significant,
    ) == (-4, -50.0, None, None, "unchanged", "unchanged", False)


def test_series_order_breaks_ties_on_series_id() -> None:
    a = SeriesPeriod(9, "b", "induction", START, None)
    b = SeriesPeriod(3, "a", "induction", START, END)
    c = SeriesPeriod(5, "c", "booster", START - DAY, END)
    trend = analyse(PHQ9, [], [a, b, c])
    assert [s.series_id for s in trend.series] == [5, 3, 9]


# --------------------------------------------------------------------------
# Points and latest
# --------------------------------------------------------------------------


def test_points_sorted_oldest_first_ties_by_response_id() -> None:
    t = START
    points = [pt(5, t + DAY, 3), pt(2, t, 9), pt(7, t + DAY, 4), pt(1, t + 2 * DAY, 1)]
    trend = analyse(PHQ9, points, [])
    assert [p.response_id for p in trend.points] == [2, 5, 7, 1]
    assert trend.series == ()
    # Newest: id 1 at t + 2 d, total 1 → minimal (0–4).
    assert trend.latest == Latest(1, 1, "minimal", t + 2 * DAY)


def test_latest_ties_go_to_the_higher_response_id() -> None:
    trend = analyse(PHQ9, [pt(6, START, 20), pt(5, START, 14)], [])
    assert trend.latest == Latest(6, 20, "severe", START)  # 20 is in severe 20–27


@pytest.mark.parametrize(
    ("instrument", "total", "band"),
    [
        (PHQ9, 14, "moderate"),  # 10–14
        (PHQ9, 15, "moderately_severe"),  # 15–19
        (GAD7, 4, "minimal"),  # 0–4
        (GAD7, 15, "severe"),  # 15–21
        (PCL5, 32, "below_cutoff"),  # 0–32
        (PCL5, 33, "probable_ptsd"),  # 33–80
    ],
)
def test_latest_carries_the_severity_band(instrument: Instrument, total: int, band: str) -> None:
    points = [pt(1, START, 0, instrument=instrument), pt(2, END, total, instrument=instrument)]
    trend = analyse(instrument, points, [])
    assert trend.instrument == instrument.code
    assert trend.latest == Latest(2, total, band, END)


def test_no_points() -> None:
    trend = analyse(GAD7, [], [induction()])
    assert trend.points == ()
    assert trend.latest is None
    (outcome,) = trend.series
    assert outcome.baseline is None and outcome.post is None
    assert_no_verdict(outcome)


def test_find_functions_accept_unsorted_points() -> None:
    points = [pt(3, END + 5 * DAY, 5), pt(1, START - 3 * DAY, 19), pt(2, END + DAY, 9)]
    assert find_baseline(points, induction(), WINDOW) == Anchor(1, 19, START - 3 * DAY)
    assert find_post(points, induction(), WINDOW) == Anchor(2, 9, END + DAY)


def test_inputs_not_mutated_and_results_frozen() -> None:
    points = list(reversed(TIMELINE))
    before = list(points)
    trend = analyse(PHQ9, points, [INDUCTION])
    assert points == before
    for obj in (trend, trend.series[0], trend.series[0].baseline, trend.latest, trend.points[0]):
        assert dataclasses.is_dataclass(obj)
        assert not hasattr(obj, "__dict__")  # slots
        name = dataclasses.fields(obj)[0].name  # type: ignore[arg-type]
        with pytest.raises(dataclasses.FrozenInstanceError):
            setattr(obj, name, None)


# --------------------------------------------------------------------------
# Property: analyse agrees with a brute-force reading of docs/api.md, "Trends"
# --------------------------------------------------------------------------

ORIGIN = datetime(2026, 1, 1, tzinfo=UTC)


def reference_baseline(points: list[Point], s: SeriesPeriod, window: timedelta) -> Anchor | None:
    found = [p for p in points if s.started_at - window <= p.completed_at <= s.started_at]
    if not found:
        return None
    p = max(found, key=lambda p: (p.completed_at, p.response_id))
    return Anchor(p.response_id, p.total, p.completed_at)


def reference_post(
    points: list[Point], s: SeriesPeriod, window: timedelta, baseline: Anchor | None
) -> Anchor | None:
    if s.ended_at is None:
        return None
    found = [
        p
        for p in points
        if s.ended_at <= p.completed_at <= s.ended_at + window
        and (baseline is None or p.completed_at > baseline.completed_at)
    ]
    if not found:
        return None
    p = min(found, key=lambda p: (p.completed_at, p.response_id))
    return Anchor(p.response_id, p.total, p.completed_at)


# Coarse times (whole days over ~4 months) so ties and window edges are common.
days = st.integers(0, 120)


@st.composite
def histories(draw: st.DrawFn) -> tuple[list[Point], list[SeriesPeriod], int, int]:
    ids = draw(st.lists(st.integers(1, 10_000), unique=True, max_size=25))
    points = [pt(i, ORIGIN + draw(days) * DAY, draw(st.integers(0, 27))) for i in ids]
    series = []
    for sid in draw(st.lists(st.integers(1, 100), unique=True, max_size=5)):
        start = ORIGIN + draw(days) * DAY
        length = draw(st.none() | st.integers(0, 60))
        end = None if length is None else start + length * DAY
        series.append(SeriesPeriod(sid, f"s{sid}", "induction", start, end))
    return points, series, draw(st.integers(0, 40)), draw(st.integers(0, 40))


@PROPERTY
@given(histories())
def test_analyse_matches_brute_force(
    case: tuple[list[Point], list[SeriesPeriod], int, int],
) -> None:
    points, series, bw, pw = case
    bwin, pwin = bw * DAY, pw * DAY
    trend = analyse(PHQ9, points, series, bwin, pwin)

    assert trend.points == tuple(sorted(points, key=lambda p: (p.completed_at, p.response_id)))
    assert [s.series_id for s in trend.series] == [
        s.series_id for s in sorted(series, key=lambda s: (s.started_at, s.series_id))
    ]
    by_id = {s.series_id: s for s in series}
    for outcome in trend.series:
        period = by_id[outcome.series_id]
        baseline = reference_baseline(points, period, bwin)
        post = reference_post(points, period, pwin, baseline)
        assert outcome.baseline == baseline == find_baseline(points, period, bwin)
        assert outcome.post == post == find_post(points, period, pwin, baseline)
        assert outcome.baseline_case == (None if baseline is None else baseline.total >= 10)
        if baseline is not None and post is not None:
            assert post.completed_at > baseline.completed_at  # never one response as both
        if baseline is None or post is None:
            assert_no_verdict(outcome)
        else:
            v = compare(PHQ9, baseline.total, post.total)
            assert outcome.change == v.change == post.total - baseline.total
            assert outcome.percent_change == v.percent_change
            assert outcome.response == v.response
            assert outcome.remission == v.remission
            assert outcome.reliable_change == v.reliable_change
            assert outcome.meaningful_change == v.meaningful_change
            assert outcome.clinically_significant == v.clinically_significant

    if points:
        newest = max(points, key=lambda p: (p.completed_at, p.response_id))
        assert trend.latest == Latest(
            newest.response_id,
            newest.total,
            PHQ9.band_for(newest.total).code,
            newest.completed_at,
        )
    else:
        assert trend.latest is None


def test_a_one_day_series_with_one_response_has_no_post() -> None:
    # Started and ended on the same instant; one PHQ-9 at that instant is the baseline
    # (in [start − 30 d, start]) and would also be the earliest in [end, end + 30 d]:
    # the post must be completed strictly after the baseline, so there is none.
    one_day = SeriesPeriod(7, "Single infusion", "booster", START, START)
    (outcome,) = analyse(PHQ9, [pt(1, START, 18)], [one_day]).series
    assert outcome.baseline == Anchor(1, 18, START)
    assert outcome.post is None
    assert outcome.baseline_case is True and outcome.change is None
    # A second response a minute later is the post.
    later = pt(2, START + timedelta(minutes=1), 9)
    (outcome,) = analyse(PHQ9, [pt(1, START, 18), later], [one_day]).series
    assert outcome.post == Anchor(2, 9, START + timedelta(minutes=1))
