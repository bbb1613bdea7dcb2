"""Loading what the pages show about a patient: trends with their charts, one response.

Reuses the API's trend loader (a fixed number of queries per instrument) and
the pure SVG chart, and writes the same audit events as the API reads.
"""

from __future__ import annotations

from dataclasses import dataclass

from markupsafe import Markup

from tracker import instruments
from tracker.analysis.trends import Trend
from tracker.auth import audit
from tracker.charts.trend_svg import ChartPoint, ChartSeries, render_trend_svg
from tracker.instruments import Instrument
from tracker.models.types import utcnow
from tracker.services.trends import ChartedSeries, load_trend
from tracker.web.render import local

# Two renderings: a phone-width one keeps its text legible, CSS shows one of them.
NARROW = (360, 300)
WIDE = (900, 380)


@dataclass(frozen=True)
class InstrumentChart:
    instrument: Instrument
    trend: Trend
    narrow: Markup
    wide: Markup


def _svg(instrument: Instrument, trend: Trend, series: list[ChartedSeries], size: tuple) -> Markup:
    svg = render_trend_svg(
        instrument,
        [ChartPoint(local(p.completed_at), p.total) for p in trend.points],
        [
            ChartSeries(
                s.label,
                local(s.started_at),
                local(s.ended_at) if s.ended_at else None,
                tuple(local(when) for when in s.sessions),
            )
            for s in series
        ],
        now=local(utcnow()),
        width=size[0],
        height=size[1],
    )
    return Markup(svg)  # noqa: S704 - the chart escapes every label itself


def patient_charts(patient_id: int) -> list[InstrumentChart]:
    """Every instrument's trend and chart; records one trend read per instrument (uncommitted)."""
    charts = []
    for instrument in instruments.all():
        trend, series = load_trend(patient_id, instrument.code, with_sessions=True)
        charts.append(
            InstrumentChart(
                instrument,
                trend,
                _svg(instrument, trend, series, NARROW),
                _svg(instrument, trend, series, WIDE),
            )
        )
        audit.record("read", "trend", instrument.code, patient_id)
    return charts
