"""Loading a patient's trend for one instrument: shared by the API, the chart and the pages."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import Connection, Row, bindparam, select

from tracker import instruments
from tracker.analysis.trends import Point, SeriesPeriod, Trend, analyse
from tracker.extensions import db
from tracker.models import Response, TreatmentSeries, TreatmentSession
from tracker.models.response import ResponseStatus

_RESPONSE = Response.__table__.c
_SERIES = TreatmentSeries.__table__.c
_SESSION = TreatmentSession.__table__.c

# Built once: building a statement and its cache key on every request cost more
# than running it for a short history (cProfile of an empty trend).
# A point of the trend: a final response of this patient on this instrument.
_FINAL_OF_PATIENT = (
    _RESPONSE.patient_id == bindparam("patient_id"),
    _RESPONSE.instrument == bindparam("code"),
    _RESPONSE.status == ResponseStatus.FINAL.value,
)
_POINTS = (
    select(
        _RESPONSE.id,
        _RESPONSE.completed_at,
        _RESPONSE.total,
        _RESPONSE.severity,
        _RESPONSE.series_id,
    )
    .where(*_FINAL_OF_PATIENT)
    .order_by(_RESPONSE.completed_at, _RESPONSE.id)
)
_CHART_POINTS = (
    select(_RESPONSE.completed_at, _RESPONSE.total)
    .where(*_FINAL_OF_PATIENT)
    .order_by(_RESPONSE.completed_at, _RESPONSE.id)
)
_SERIES_PERIODS = (
    select(_SERIES.id, _SERIES.label, _SERIES.kind, _SERIES.started_at, _SERIES.ended_at)
    .where(_SERIES.patient_id == bindparam("patient_id"))
    .order_by(_SERIES.started_at, _SERIES.id)
)
_SESSIONS = (
    select(_SESSION.series_id, _SESSION.administered_at)
    .join(TreatmentSeries.__table__, _SERIES.id == _SESSION.series_id)
    .where(_SERIES.patient_id == bindparam("patient_id"))
    .order_by(_SESSION.administered_at, _SESSION.id)
)


@dataclass(frozen=True, slots=True)
class ChartedSeries:
    """A series as its chart draws it: when it ran and when each session was given."""

    label: str
    started_at: datetime
    ended_at: datetime | None
    sessions: tuple[datetime, ...]  # administered_at, oldest first


def load_trend(
    patient_id: int,
    code: str,
    baseline_window_days: int = 30,
    post_window_days: int = 30,
    with_sessions: bool = False,
) -> tuple[Trend, list[ChartedSeries]]:
    """One query for the points, one for the series (and one for all sessions, for charts).

    Core statements on the request's connection, only the columns the trend
    uses, rows unpacked as tuples: for a long history, ORM rows and entities
    cost several times the queries themselves (bench/README.md, the trend).
    The series' sessions are loaded only ``with_sessions`` (only charts draw them).
    """
    connection = db.session.connection()
    rows = connection.execute(_POINTS, {"patient_id": patient_id, "code": code}).all()
    series = connection.execute(_SERIES_PERIODS, {"patient_id": patient_id}).all()
    trend = analyse(
        instruments.get(code),
        [Point(*row) for row in rows],
        [SeriesPeriod(*row) for row in series],
        baseline_window=timedelta(days=baseline_window_days),
        post_window=timedelta(days=post_window_days),
    )
    return trend, _charted(connection, patient_id, series, with_sessions)


def load_chart(
    patient_id: int, code: str
) -> tuple[list[tuple[datetime, int]], list[ChartedSeries]]:
    """What a chart draws: each point's time and total, and the series with their sessions.

    The same points as :func:`load_trend` but without the analysis: a chart shows
    no verdicts, and validating and analysing 1,000 points took ≈ 1.8 ms of a
    12.5 ms chart (bench/README.md, the trend).
    """
    connection = db.session.connection()
    rows = connection.execute(_CHART_POINTS, {"patient_id": patient_id, "code": code}).all()
    series = connection.execute(_SERIES_PERIODS, {"patient_id": patient_id}).all()
    return [tuple(row) for row in rows], _charted(connection, patient_id, series, True)


def _charted(
    connection: Connection, patient_id: int, series: Sequence[Row], with_sessions: bool
) -> list[ChartedSeries]:
    sessions: dict[int, list[datetime]] = {row.id: [] for row in series}
    if with_sessions and series:
        for series_id, administered_at in connection.execute(_SESSIONS, {"patient_id": patient_id}):
            sessions[series_id].append(administered_at)
    return [
        ChartedSeries(label, started_at, ended_at, tuple(sessions[series_id]))
        for series_id, label, _kind, started_at, ended_at in series
    ]
