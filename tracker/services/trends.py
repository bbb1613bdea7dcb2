"""Loading a patient's trend for one instrument: shared by the API, the chart and the pages."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import select
from sqlalchemy.orm import noload

from tracker import instruments
from tracker.analysis.trends import Point, SeriesPeriod, Trend, analyse
from tracker.extensions import db
from tracker.models import Response, TreatmentSeries
from tracker.models.response import ResponseStatus


def load_trend(
    patient_id: int,
    code: str,
    baseline_window_days: int = 30,
    post_window_days: int = 30,
    with_sessions: bool = False,
) -> tuple[Trend, list[TreatmentSeries]]:
    """One query for the points, one for the series (and one for all sessions, for charts)."""
    rows = db.session.execute(
        select(
            Response.id,
            Response.completed_at,
            Response.total,
            Response.severity,
            Response.series_id,
        )
        .where(
            Response.patient_id == patient_id,
            Response.instrument == code,
            Response.status == ResponseStatus.FINAL,
        )
        .order_by(Response.completed_at, Response.id)
    ).all()
    series = list(
        db.session.scalars(
            select(TreatmentSeries)
            .where(TreatmentSeries.patient_id == patient_id)
            .order_by(TreatmentSeries.started_at, TreatmentSeries.id)
            .options(*([] if with_sessions else [noload(TreatmentSeries.sessions)]))
        )
    )
    trend = analyse(
        instruments.get(code),
        [Point(r.id, r.completed_at, r.total, r.severity, r.series_id) for r in rows],
        [SeriesPeriod(s.id, s.label, s.kind, s.started_at, s.ended_at) for s in series],
        baseline_window=timedelta(days=baseline_window_days),
        post_window=timedelta(days=post_window_days),
    )
    return trend, series
