"""Clinic-level outcomes: what share of our ketamine (or TMS …) series respond.

Implements docs/api.md, "Outcomes". Each series' baseline and post
score are chosen exactly as :mod:`tracker.analysis.trends` chooses them (same
windows, edges included, same tie-breaks), and judged by the same integer
rules as :func:`tracker.analysis.change.compare` with the instrument's own
thresholds. The difference is where it runs: a clinic has thousands of series
and far more responses, so instead of loading every response into Python and
running the pure core per patient, ONE SQL statement finds each series'
anchors and aggregates them. Property tests check that the two agree on
random data, on SQLite and on PostgreSQL.

The statement, on both databases:

1. ``selected`` (CTE): the series that pass the caller's filters (visible
   patients, kind, started_at range), each with its window bounds
   (started_at − baseline window, ended_at + post window) and its UTC month.
2. ``anchored`` (CTE, MATERIALIZED): for each selected series correlated
   subqueries, ``ORDER BY completed_at, id … LIMIT 1``, pick the baseline
   total and its completed_at (latest final response in the baseline window,
   ties → higher id). ``per_series`` (CTE, MATERIALIZED) then picks the post
   total (earliest in the post window completed strictly after the baseline,
   ties → lower id). An ongoing series has a NULL ended_at, so its post window
   is empty.
3. The aggregate: counts and integer sums over ``per_series`` (overall, and
   with ``by_month`` also grouped by month, in the same statement via
   ``UNION ALL``).

Only the final divisions happen in Python, on exact integers, so a mean or a
rate rounds the same way on both databases (PostgreSQL's AVG is NUMERIC,
SQLite's is a float) and the same way as the pure core would by hand.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from fractions import Fraction
from typing import Any

from sqlalchemy import (
    ColumnElement,
    Integer,
    Select,
    String,
    and_,
    case,
    func,
    literal,
    null,
    select,
    union_all,
)
from sqlalchemy.exc import CompileError
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.sql.compiler import SQLCompiler
from sqlalchemy.sql.functions import FunctionElement

from tracker.extensions import db
from tracker.instruments import Instrument
from tracker.models import Response, TreatmentSeries
from tracker.models.response import ResponseStatus
from tracker.models.types import UTCDateTime, utcnow

__all__ = ["MEAN_PLACES", "RATE_PLACES", "Figures", "Outcomes", "clinic_outcomes"]

MEAN_PLACES = 1  # mean_baseline, mean_post, mean_change: one decimal (docs/api.md, "Outcomes")
RATE_PLACES = 3  # rates: 0.523, so one series still shows in a clinic of a few hundred


# --------------------------------------------------------------------------
# Results
# --------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Figures:
    """The outcome figures of one set of series (field names of docs/api.md, "Outcomes").

    Means are over the evaluable series (baseline AND post found). Response,
    remission and recovery rates are over ``cases`` (evaluable series whose
    baseline was a case); reliable improvement and deterioration over
    ``evaluable``; ``paired_rate`` is evaluable ÷ ended. Each is None when its
    denominator is 0, so "no data" never reads as 0 %.
    """

    series: int  # every selected series, ongoing ones included
    ended: int  # selected series with an end in the past
    evaluable: int
    paired_rate: float | None  # evaluable ÷ ended: how often both ends were captured
    cases: int  # evaluable series whose baseline was a case
    mean_baseline: float | None
    mean_post: float | None
    mean_change: float | None
    response_rate: float | None  # over cases
    remission_rate: float | None  # over cases
    recovery_rate: float | None  # reliable recovery (clinically significant), over cases
    reliable_improvement_rate: float | None  # over evaluable
    reliable_deterioration_rate: float | None  # over evaluable


@dataclass(frozen=True, slots=True)
class Outcomes:
    """The answer of :func:`clinic_outcomes`: overall figures, and per month if asked."""

    instrument: str
    overall: Figures
    # (month "YYYY-MM" of series start in UTC, figures), oldest first; None unless by_month.
    months: tuple[tuple[str, Figures], ...] | None


# --------------------------------------------------------------------------
# Dialect-specific expressions
# --------------------------------------------------------------------------


class _ShiftDays(FunctionElement[datetime]):
    """``instant + days × 24 h`` (days may be negative), exactly, on SQLite and PostgreSQL.

    The pure core adds ``timedelta(days=n)``: exactly n × 24 hours, with no
    calendar or DST logic, to the microsecond.
    """

    type = UTCDateTime()
    inherit_cache = True
    name = "shift_days"


class _UtcMonth(FunctionElement[str]):
    """The UTC calendar month of an instant as ``'YYYY-MM'``."""

    type = String()
    inherit_cache = True
    name = "utc_month"


@compiles(_ShiftDays, "sqlite")
def _shift_days_sqlite(element: _ShiftDays, compiler: SQLCompiler, **kw: Any) -> str:
    # UTCDateTime is stored as naive-UTC text 'YYYY-MM-DD HH:MM:SS.ffffff'. Shifting only
    # the date part keeps the time and its microseconds verbatim (UTC has no DST), and
    # the result compares correctly as text. date() is given the date alone: it rounds
    # the time to milliseconds, which at 23:59:59.9995 would roll over into the next day.
    instant, days = (compiler.process(c, **kw) for c in element.clauses)
    return f"(date(substr({instant}, 1, 10), {days} || ' days') || substr({instant}, 11))"


@compiles(_ShiftDays, "postgresql")
def _shift_days_postgresql(element: _ShiftDays, compiler: SQLCompiler, **kw: Any) -> str:
    # Hours, not days: timestamptz + '1 day' follows the session time zone's DST (23 or 25
    # hours), while an interval of hours is absolute time, like timedelta(days=1).
    instant, days = (compiler.process(c, **kw) for c in element.clauses)
    return f"({instant} + CAST({days} AS INTEGER) * INTERVAL '24 hours')"


@compiles(_UtcMonth, "sqlite")
def _utc_month_sqlite(element: _UtcMonth, compiler: SQLCompiler, **kw: Any) -> str:
    (instant,) = (compiler.process(c, **kw) for c in element.clauses)
    return f"substr({instant}, 1, 7)"  # stored as naive UTC text: the first 7 characters


@compiles(_UtcMonth, "postgresql")
def _utc_month_postgresql(element: _UtcMonth, compiler: SQLCompiler, **kw: Any) -> str:
    (instant,) = (compiler.process(c, **kw) for c in element.clauses)
    # AT TIME ZONE 'UTC', not the session time zone: a series started 2026-04-01T02:00Z
    # belongs to April even for a server that runs on New York time.
    return f"to_char(({instant}) AT TIME ZONE 'UTC', 'YYYY-MM')"


@compiles(_ShiftDays)
@compiles(_UtcMonth)
def _unsupported(element: FunctionElement[Any], compiler: SQLCompiler, **kw: Any) -> str:
    raise CompileError(f"{element.name} is implemented for SQLite and PostgreSQL only")


def _shift_days(instant: ColumnElement[datetime], days: int) -> ColumnElement[datetime]:
    return _ShiftDays(instant, literal(days, Integer))


# --------------------------------------------------------------------------
# The query
# --------------------------------------------------------------------------


def series_selection(
    *,
    patient_ids: Select[Any] | None = None,
    since: datetime | None = None,
    until: datetime | None = None,
    kind: str | None = None,
) -> list[ColumnElement[bool]]:
    """Which series an outcome counts (docs/api.md, "Outcomes"): the patients given (None:
    all), series started between ``since`` and ``until`` (both included), of ``kind``.

    The figures and the measurement-plan schedule of one outcome select the same series.
    """
    series_t = TreatmentSeries.__table__.c
    conditions: list[ColumnElement[bool]] = []
    if patient_ids is not None:
        conditions.append(series_t.patient_id.in_(patient_ids))
    if since is not None:
        conditions.append(series_t.started_at >= since)
    if until is not None:
        conditions.append(series_t.started_at <= until)
    if kind is not None:
        conditions.append(series_t.kind == kind)
    return conditions


def clinic_outcomes(
    instrument: Instrument,
    *,
    patient_ids: Select[Any] | None = None,
    since: datetime | None = None,
    until: datetime | None = None,
    kind: str | None = None,
    baseline_window_days: int = 30,
    post_window_days: int = 30,
    by_month: bool = False,
    now: datetime | None = None,
) -> Outcomes:
    """Outcome figures of the selected series on ``instrument``, in one SQL statement.

    ``patient_ids``: a SELECT of the patient ids to include (None: every patient),
    typically the caller's visible patients. ``since``/``until`` bound the
    series' started_at, both inclusive, and must be timezone-aware. Windows
    are whole days (0–365 in the API), as in the trends endpoint. ``now``
    decides which series have ended (default: the current time).
    """
    now = now or utcnow()
    for name, value in (("since", since), ("until", until)):
        if value is not None and value.utcoffset() is None:
            raise ValueError(f"{name} must be timezone-aware, not {value!r}")
    for name, days in (
        ("baseline_window_days", baseline_window_days),
        ("post_window_days", post_window_days),
    ):
        if not isinstance(days, int) or isinstance(days, bool) or days < 0:
            raise ValueError(f"{name} must be a non-negative integer, not {days!r}")

    series_t = TreatmentSeries.__table__.c
    conditions = series_selection(patient_ids=patient_ids, since=since, until=until, kind=kind)
    selected = (
        select(
            series_t.patient_id,
            series_t.started_at,
            series_t.ended_at,
            _shift_days(series_t.started_at, -baseline_window_days).label("baseline_from"),
            _shift_days(series_t.ended_at, post_window_days).label("post_until"),
            _UtcMonth(series_t.started_at).label("month"),
        )
        .where(*conditions)
        .cte("selected")
    )

    response_t = Response.__table__.c

    def anchor(
        patient_id: ColumnElement[int],
        low: ColumnElement[datetime],
        high: ColumnElement[datetime],
        latest: bool,
        column: str = "total",
        after: ColumnElement[datetime] | None = None,
    ) -> ColumnElement[Any]:
        """``column`` of the latest (baseline) or earliest (post) final response in
        [low, high], completed strictly after ``after`` when given."""
        order = (
            (response_t.completed_at.desc(), response_t.id.desc())
            if latest
            else (response_t.completed_at.asc(), response_t.id.asc())
        )
        conditions = [
            response_t.patient_id == patient_id,
            response_t.instrument == instrument.code,
            response_t.status == ResponseStatus.FINAL,
            response_t.completed_at >= low,
            response_t.completed_at <= high,
        ]
        if after is not None:
            conditions.append(response_t.completed_at > after)
        return (
            select(getattr(response_t, column))
            .where(*conditions)
            .order_by(*order)
            .limit(1)
            .scalar_subquery()
        )

    baseline_window = (selected.c.patient_id, selected.c.baseline_from, selected.c.started_at)
    anchored = (
        select(
            selected.c.patient_id,
            selected.c.month,
            selected.c.ended_at,
            selected.c.post_until,
            anchor(*baseline_window, latest=True).label("baseline"),
            anchor(*baseline_window, latest=True, column="completed_at").label("baseline_at"),
        )
        .cte("anchored")
        .prefix_with("MATERIALIZED")
    )
    per_series = (
        select(
            anchored.c.month,
            anchored.c.ended_at,
            anchored.c.baseline,
            # ended_at NULL (ongoing) makes both bounds NULL: no post. Strictly after the
            # baseline response: one response is never both (a NULL baseline_at: no post).
            anchor(
                anchored.c.patient_id,
                anchored.c.ended_at,
                anchored.c.post_until,
                latest=False,
                after=anchored.c.baseline_at,
            ).label("post"),
        )
        # MATERIALIZED: each anchor is looked up once per series. Inlined, the CTE would put
        # a copy of the subqueries into every aggregate that reads baseline or post (SQLite
        # does, about 20 lookups per series instead of 3).
        .cte("per_series")
        .prefix_with("MATERIALIZED")
    )

    tallies = _tally_columns(
        instrument, per_series.c.baseline, per_series.c.post, per_series.c.ended_at, now
    )
    overall = select(null().label("month"), *tallies).select_from(per_series)
    if by_month:
        monthly = (
            select(per_series.c.month, *tallies)
            .select_from(per_series)
            .group_by(per_series.c.month)
        )
        statement: Any = union_all(overall, monthly)
    else:
        statement = overall
    rows = db.session.execute(statement).all()

    overall_row = next(r for r in rows if r.month is None)
    months = None
    if by_month:
        months = tuple(
            (r.month, _figures(r)) for r in sorted(rows, key=lambda r: r.month or "") if r.month
        )
    return Outcomes(instrument=instrument.code, overall=_figures(overall_row), months=months)


def _tally_columns(
    instrument: Instrument,
    baseline: ColumnElement[int],
    post: ColumnElement[int],
    ended_at: ColumnElement[datetime],
    now: datetime,
) -> list[ColumnElement[Any]]:
    """Counts and integer sums per group; every verdict is change.compare's rule in integers."""
    t = instrument.thresholds
    # response: post ≤ (1 − f) × baseline with f = num/den exactly ⇔ den·post ≤ (den − num)·baseline
    fall = Fraction(str(t.response_fall_fraction))
    num, den = fall.numerator, fall.denominator
    evaluable = and_(baseline.is_not(None), post.is_not(None))

    def count_if(*conditions: ColumnElement[bool]) -> ColumnElement[int]:
        return func.coalesce(func.sum(case((and_(*conditions), 1), else_=0)), 0)

    def sum_if(condition: ColumnElement[bool], value: ColumnElement[int]) -> ColumnElement[int]:
        return func.sum(case((condition, value)))

    case_ = baseline >= t.caseness  # response, remission and recovery are judged for cases
    improved = post - baseline <= -t.reliable_change
    return [
        func.count().label("series"),
        count_if(ended_at.is_not(None), ended_at < now).label("ended"),
        count_if(evaluable).label("evaluable"),
        sum_if(evaluable, baseline).label("sum_baseline"),
        sum_if(evaluable, post).label("sum_post"),
        count_if(evaluable, case_).label("cases"),
        count_if(evaluable, case_, post * den <= baseline * (den - num)).label("responders"),
        count_if(evaluable, case_, post < t.remission_below).label("remitters"),
        count_if(evaluable, case_, improved, post < t.recovery_below).label("recovered"),
        count_if(evaluable, improved).label("improved"),
        count_if(evaluable, post - baseline >= t.reliable_change).label("deteriorated"),
    ]


# --------------------------------------------------------------------------
# From tallies to figures
# --------------------------------------------------------------------------


def _figures(row: Any) -> Figures:
    """Divide the integer tallies of one group exactly, then round for display."""
    evaluable = int(row.evaluable)

    def mean(total: int | None) -> float | None:
        return (
            None
            if not evaluable
            else _round_half_away(Fraction(int(total or 0), evaluable), MEAN_PLACES)
        )

    change = None if not evaluable else int(row.sum_post) - int(row.sum_baseline)
    cases = int(row.cases)
    return Figures(
        series=int(row.series),
        ended=int(row.ended),
        evaluable=evaluable,
        paired_rate=rate(evaluable, int(row.ended)),
        cases=cases,
        mean_baseline=mean(row.sum_baseline),
        mean_post=mean(row.sum_post),
        mean_change=mean(change),
        response_rate=rate(row.responders, cases),
        remission_rate=rate(row.remitters, cases),
        recovery_rate=rate(row.recovered, cases),
        reliable_improvement_rate=rate(row.improved, evaluable),
        reliable_deterioration_rate=rate(row.deteriorated, evaluable),
    )


def rate(count: int, base: int) -> float | None:
    """count ÷ base to RATE_PLACES decimals, halves away from zero; None when base is 0."""
    return None if not base else _round_half_away(Fraction(int(count), int(base)), RATE_PLACES)


def _round_half_away(value: Fraction, places: int) -> float:
    """Round an exact value to ``places`` decimals, halves away from zero.

    As :mod:`tracker.analysis.change` rounds percentages: Python's ``round``
    would round halves to even on an already inexact float (a mean change of
    −8.25 would become −8.2), so a figure would depend on representation.
    """
    scale = 10**places
    scaled = abs(value) * scale + Fraction(1, 2)
    rounded = scaled.numerator // scaled.denominator  # floor(|x|·10^places + ½)
    return float(Fraction(rounded if value >= 0 else -rounded, scale))
