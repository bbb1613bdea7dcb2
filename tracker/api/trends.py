"""Trends: how a patient's scores moved around each treatment series, as JSON and SVG."""

from __future__ import annotations

import marshmallow as ma
from flask import Response as HttpResponse
from flask_login import login_required

from tracker import instruments
from tracker.analysis.trends import Trend
from tracker.api.blueprint import ApiBlueprint
from tracker.api.fields import Id, StrictSchema
from tracker.api.patients import PATIENT_ID
from tracker.auth import access, audit
from tracker.charts.trend_svg import (
    MIN_HEIGHT,
    MIN_WIDTH,
    ChartPoint,
    ChartSeries,
    render_trend_svg,
)
from tracker.models.types import utcnow
from tracker.problems import READ_PROBLEMS, documented_problems
from tracker.services.trends import load_trend

blp = ApiBlueprint("trends", __name__, url_prefix="/api/v1", description="Trends")

INSTRUMENT = "<instrument:instrument>"  # any registered code (tracker.inputs)
MAX_WINDOW_DAYS = 365


class TrendArgs(StrictSchema):
    baseline_window_days = ma.fields.Integer(
        load_default=30,
        validate=ma.validate.Range(min=0, max=MAX_WINDOW_DAYS),
        metadata={"description": "baseline: latest score up to this many days before the start"},
    )
    post_window_days = ma.fields.Integer(
        load_default=30,
        validate=ma.validate.Range(min=0, max=MAX_WINDOW_DAYS),
        metadata={"description": "post: earliest score up to this many days after the end"},
    )


class ChartArgs(TrendArgs):
    width = ma.fields.Integer(
        load_default=800,
        validate=ma.validate.Range(min=MIN_WIDTH, max=4000),
        metadata={"description": "pixels; ask for ~390 on a phone so the text stays legible"},
    )
    height = ma.fields.Integer(
        load_default=400, validate=ma.validate.Range(min=MIN_HEIGHT, max=3000)
    )


def _windows(args: dict) -> dict:
    return {k: args[k] for k in ("baseline_window_days", "post_window_days")}


class TrendPointSchema(ma.Schema):
    response_id = Id()
    completed_at = ma.fields.AwareDateTime()
    total = ma.fields.Integer()
    severity = ma.fields.String()
    series_id = Id(allow_none=True)


class AnchorSchema(ma.Schema):
    response_id = Id()
    total = ma.fields.Integer()
    completed_at = ma.fields.AwareDateTime()


class SeriesOutcomeSchema(ma.Schema):
    series_id = Id()
    label = ma.fields.String()
    kind = ma.fields.String()
    started_at = ma.fields.AwareDateTime()
    ended_at = ma.fields.AwareDateTime(allow_none=True)
    baseline = ma.fields.Nested(AnchorSchema, allow_none=True)
    post = ma.fields.Nested(AnchorSchema, allow_none=True)
    baseline_case = ma.fields.Boolean(
        allow_none=True,
        metadata={"description": "baseline ≥ the caseness threshold; null without a baseline"},
    )
    change = ma.fields.Integer(allow_none=True)
    percent_change = ma.fields.Float(allow_none=True)
    response = ma.fields.Boolean(
        allow_none=True, metadata={"description": "null unless baseline_case"}
    )
    remission = ma.fields.Boolean(
        allow_none=True, metadata={"description": "null unless baseline_case"}
    )
    reliable_change = ma.fields.String(allow_none=True)
    meaningful_change = ma.fields.String(allow_none=True)
    clinically_significant = ma.fields.Boolean(allow_none=True)


class LatestSchema(ma.Schema):
    response_id = Id()
    total = ma.fields.Integer()
    severity = ma.fields.String()
    completed_at = ma.fields.AwareDateTime()


class TrendSchema(ma.Schema):
    instrument = ma.fields.String()
    points = ma.fields.List(ma.fields.Nested(TrendPointSchema))
    series = ma.fields.List(ma.fields.Nested(SeriesOutcomeSchema))
    latest = ma.fields.Nested(LatestSchema, allow_none=True)


@blp.route(f"/patients/{PATIENT_ID}/trends/{INSTRUMENT}", methods=["GET"])
@login_required
@documented_problems(blp, *READ_PROBLEMS, notes={422: "Invalid window"})
@blp.arguments(TrendArgs, location="query")
@blp.response(200, TrendSchema)
def get_trend(args: dict, patient_id: int, instrument: str) -> Trend:
    """Scores over time, and per series the baseline, post score and judged change."""
    patient = access.patient_for(patient_id)
    trend, _series = load_trend(patient.id, instrument, **_windows(args))
    audit.record_now("read", "trend", instrument, patient.id)
    return trend


@blp.route(f"/patients/{PATIENT_ID}/trends/{INSTRUMENT}.svg", methods=["GET"])
@login_required
@documented_problems(blp, *READ_PROBLEMS, notes={422: "Invalid window or size"})
@blp.arguments(ChartArgs, location="query")
@blp.doc(
    responses={
        "200": {
            "description": "Self-contained SVG chart: bands, cut-off, series, sessions",
            "content": {"image/svg+xml": {"schema": {"type": "string"}}},
        }
    }
)
def get_trend_chart(args: dict, patient_id: int, instrument: str) -> HttpResponse:
    """The trend as a chart: score over time on the severity bands, series shaded."""
    patient = access.patient_for(patient_id)
    trend, series = load_trend(patient.id, instrument, **_windows(args), with_sessions=True)
    svg = render_trend_svg(
        instruments.get(instrument),
        [ChartPoint(p.completed_at, p.total) for p in trend.points],
        [
            ChartSeries(
                s.label,
                s.started_at,
                s.ended_at,
                tuple(session.administered_at for session in s.sessions),
            )
            for s in series
        ],
        now=utcnow(),
        width=args["width"],
        height=args["height"],
    )
    audit.record_now("read", "trend", instrument, patient.id)
    return HttpResponse(svg, mimetype="image/svg+xml")
