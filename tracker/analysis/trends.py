"""One patient's scores on one instrument over time, judged per treatment series.

Implements docs/api.md, "Trends", by the rules of
docs/clinical-rules.md, "Baseline and post windows" and "Change statistics":
the points, each series' baseline and post score and the change verdicts
between them (from :func:`tracker.analysis.change.compare`), and the latest
score. Pure: standard library and :mod:`tracker.instruments`
only, no I/O and no clock, so the JSON endpoint, the SVG chart and the clinic
outcomes share one result and tests need no database.

Windows are by time only: a point counts as a series' baseline or post
whichever series (if any) it was recorded under, because a score taken the
day before a series starts is that series' baseline even if it was filed
under the previous one.
"""

from __future__ import annotations

from bisect import bisect_left, bisect_right
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from tracker.instruments import Instrument

from .change import Direction, compare, is_case

__all__ = [
    "Anchor",
    "Latest",
    "Point",
    "SeriesOutcome",
    "SeriesPeriod",
    "Trend",
    "analyse",
    "find_baseline",
    "find_post",
]

DEFAULT_WINDOW = timedelta(days=30)  # docs/api.md, "Trends": the windows' default


# --------------------------------------------------------------------------
# Inputs
# --------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Point:
    """One final response (not amended, not entered-in-error) of the patient.

    The caller filters; a point here is trusted to count in the trend.
    """

    response_id: int
    completed_at: datetime
    total: int
    severity: str  # band code, e.g. "moderate"
    series_id: int | None = None  # the series it was recorded under, if any

    def __post_init__(self) -> None:
        _require_aware(self.completed_at, "completed_at")


@dataclass(frozen=True, slots=True)
class SeriesPeriod:
    """A treatment series as the analysis needs it: when it ran.

    ``ended_at`` None means the series is ongoing (no post score yet).
    """

    series_id: int
    label: str
    kind: str
    started_at: datetime
    ended_at: datetime | None

    def __post_init__(self) -> None:
        _require_aware(self.started_at, "started_at")
        if self.ended_at is not None:
            _require_aware(self.ended_at, "ended_at")
            if self.ended_at < self.started_at:
                # The API answers 422 for this; reaching here is a bug upstream.
                raise ValueError("ended_at is before started_at")


# --------------------------------------------------------------------------
# Outputs
# --------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Anchor:
    """The point chosen as a series' baseline or post score."""

    response_id: int
    total: int
    completed_at: datetime


@dataclass(frozen=True, slots=True)
class SeriesOutcome:
    """One series with its baseline, post and verdicts (docs/api.md, "Trends").

    ``baseline`` and ``post`` are shown whenever found; every derived field
    (``change`` … ``clinically_significant``) is None unless BOTH were found,
    so a half-evaluable series is never mistaken for "unchanged".
    """

    series_id: int
    label: str
    kind: str
    started_at: datetime
    ended_at: datetime | None
    baseline: Anchor | None
    post: Anchor | None
    baseline_case: bool | None  # None without a baseline
    change: int | None
    percent_change: float | None
    response: bool | None
    remission: bool | None
    reliable_change: Direction | None
    meaningful_change: Direction | None
    clinically_significant: bool | None


@dataclass(frozen=True, slots=True)
class Latest:
    """The newest point with its severity band code: the "where are they now" summary."""

    response_id: int
    total: int
    severity: str
    completed_at: datetime


@dataclass(frozen=True, slots=True)
class Trend:
    """Everything ``GET /patients/{id}/trends/{instrument}`` shows, before JSON."""

    instrument: str  # instrument code, e.g. "phq9"
    points: tuple[Point, ...]  # oldest first (completed_at, then response_id)
    series: tuple[SeriesOutcome, ...]  # by started_at, then series_id
    latest: Latest | None  # None when there are no points


# --------------------------------------------------------------------------
# Finding baseline and post
# --------------------------------------------------------------------------


class _Timeline:
    """Points sorted once, so each series' windows are found by bisection.

    Sorting by (completed_at, response_id) makes the tie-breaks fall out of
    the bisection: the last of equal instants has the highest response_id,
    the first has the lowest.
    """

    __slots__ = ("points", "_times")

    def __init__(self, points: Iterable[Point]) -> None:
        self.points: tuple[Point, ...] = tuple(
            sorted(points, key=lambda p: (p.completed_at, p.response_id))
        )
        self._times: list[datetime] = [p.completed_at for p in self.points]

    def baseline(self, period: SeriesPeriod, window: timedelta) -> Anchor | None:
        # Last point at or before the start (ties: highest response_id) ...
        i = bisect_right(self._times, period.started_at) - 1
        # ... provided it is not older than the window (edge included).
        if i >= 0 and self._times[i] >= period.started_at - window:
            return _anchor(self.points[i])
        return None

    def post(
        self, period: SeriesPeriod, window: timedelta, baseline: Anchor | None = None
    ) -> Anchor | None:
        if period.ended_at is None:
            return None  # ongoing: no post score yet
        # First point at or after the end (ties: lowest response_id) ...
        i = bisect_left(self._times, period.ended_at)
        if baseline is not None:
            # ... completed strictly after the baseline: one response is never both.
            i = max(i, bisect_right(self._times, baseline.completed_at))
        # ... provided it is within the window (edge included).
        if i < len(self._times) and self._times[i] <= period.ended_at + window:
            return _anchor(self.points[i])
        return None


def find_baseline(
    points: Iterable[Point], period: SeriesPeriod, window: timedelta
) -> Anchor | None:
    """The series' baseline: the latest point in [started_at − window, started_at].

    The latest, because the score nearest the first session is the best
    picture of the patient as treatment began. Ties on completed_at go to the
    higher response_id (the later-recorded one). Sorts ``points``; to judge
    many series, :func:`analyse` sorts once instead.
    """
    _check_window(window, "window")
    return _Timeline(points).baseline(period, window)


def find_post(
    points: Iterable[Point],
    period: SeriesPeriod,
    window: timedelta,
    baseline: Anchor | None = None,
) -> Anchor | None:
    """The series' post score: the earliest point in [ended_at, ended_at + window]
    completed strictly after ``baseline`` (when given).

    The earliest, because later scores increasingly reflect what happened
    after the series rather than the series itself. None while the series is
    ongoing. Ties on completed_at go to the lower response_id. Strictly after
    the baseline, so a one-day series with one response has no post score
    rather than comparing that response with itself.
    """
    _check_window(window, "window")
    return _Timeline(points).post(period, window, baseline)


# --------------------------------------------------------------------------
# The whole trend
# --------------------------------------------------------------------------


def analyse(
    instrument: Instrument,
    points: Sequence[Point],
    series: Sequence[SeriesPeriod],
    baseline_window: timedelta = DEFAULT_WINDOW,
    post_window: timedelta = DEFAULT_WINDOW,
) -> Trend:
    """Build one patient's trend on ``instrument``: points, per-series outcome, latest.

    ``points`` must be the patient's FINAL responses on this instrument (the
    caller filters out amended and entered-in-error ones). Sorts once and
    bisects per series, O((points + series) · log points), so a long history
    with many series stays cheap.
    """
    _check_window(baseline_window, "baseline_window")
    _check_window(post_window, "post_window")
    timeline = _Timeline(points)
    periods = sorted(series, key=lambda s: (s.started_at, s.series_id))
    outcomes = []
    for period in periods:
        baseline = timeline.baseline(period, baseline_window)
        post = timeline.post(period, post_window, baseline)
        outcomes.append(_outcome(instrument, period, baseline, post))
    latest = None
    if timeline.points:
        newest = timeline.points[-1]  # ties on completed_at: highest response_id
        latest = Latest(
            response_id=newest.response_id,
            total=newest.total,
            severity=instrument.band_for(newest.total).code,
            completed_at=newest.completed_at,
        )
    return Trend(
        instrument=instrument.code,
        points=timeline.points,
        series=tuple(outcomes),
        latest=latest,
    )


def _outcome(
    instrument: Instrument,
    period: SeriesPeriod,
    baseline: Anchor | None,
    post: Anchor | None,
) -> SeriesOutcome:
    """Combine a series with its anchors; verdicts only when both anchors exist."""
    verdict = (
        compare(instrument, baseline.total, post.total)
        if baseline is not None and post is not None
        else None
    )
    return SeriesOutcome(
        series_id=period.series_id,
        label=period.label,
        kind=period.kind,
        started_at=period.started_at,
        ended_at=period.ended_at,
        baseline=baseline,
        post=post,
        baseline_case=None if baseline is None else is_case(instrument, baseline.total),
        change=verdict.change if verdict else None,
        percent_change=verdict.percent_change if verdict else None,
        response=verdict.response if verdict else None,
        remission=verdict.remission if verdict else None,
        reliable_change=verdict.reliable_change if verdict else None,
        meaningful_change=verdict.meaningful_change if verdict else None,
        clinically_significant=verdict.clinically_significant if verdict else None,
    )


# --------------------------------------------------------------------------
# Helpers
# --------------------------------------------------------------------------


def _anchor(point: Point) -> Anchor:
    return Anchor(response_id=point.response_id, total=point.total, completed_at=point.completed_at)


def _require_aware(value: datetime, name: str) -> None:
    """Refuse naive datetimes: the API requires offsets (docs/api.md, "Conventions"),
    and comparing a naive wall-clock time with an instant would silently shift a
    window edge."""
    if not isinstance(value, datetime) or value.utcoffset() is None:
        raise ValueError(f"{name} must be a timezone-aware datetime, not {value!r}")


def _check_window(window: timedelta, name: str) -> None:
    """A negative window is a caller bug (the API validates the *_days query)."""
    if not isinstance(window, timedelta) or window < timedelta(0):
        raise ValueError(f"{name} must be a non-negative timedelta, not {window!r}")
