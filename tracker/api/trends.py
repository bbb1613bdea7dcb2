"""Trends: how a patient's scores moved around each treatment series, as JSON and SVG."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import marshmallow as ma
import orjson
from flask import Response as HttpResponse
from flask import current_app
from flask_login import login_required

from tracker import instruments
from tracker.analysis.trends import Anchor, Trend
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
from tracker.services.trends import load_chart, load_trend

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


def _instant(value: datetime | None) -> str | None:
    return None if value is None else value.isoformat()


def _anchor(anchor: Anchor | None) -> dict[str, Any] | None:
    if anchor is None:
        return None
    return {
        "response_id": str(anchor.response_id),
        "total": anchor.total,
        "completed_at": anchor.completed_at.isoformat(),
    }


def trend_body(trend: Trend) -> dict[str, Any]:
    """What ``TrendSchema().dump(trend)`` gives, built directly as plain dicts.

    A thousand points through nested marshmallow schemas cost ~45 % of the
    request (bench/README.md, "Where the trend's time goes"); the schema stays
    as the OpenAPI description, and tests/api/test_trends.py checks that this
    body and the schema's dump are equal, field for field and in order.
    """
    latest = trend.latest
    return {
        "instrument": trend.instrument,
        "points": [
            {
                "response_id": str(p.response_id),
                "completed_at": p.completed_at.isoformat(),
                "total": p.total,
                "severity": p.severity,
                "series_id": None if p.series_id is None else str(p.series_id),
            }
            for p in trend.points
        ],
        "series": [
            {
                "series_id": str(s.series_id),
                "label": s.label,
                "kind": s.kind,
                "started_at": s.started_at.isoformat(),
                "ended_at": _instant(s.ended_at),
                "baseline": _anchor(s.baseline),
                "post": _anchor(s.post),
                "baseline_case": s.baseline_case,
                "change": s.change,
                "percent_change": None if s.percent_change is None else float(s.percent_change),
                "response": s.response,
                "remission": s.remission,
                "reliable_change": s.reliable_change,
                "meaningful_change": s.meaningful_change,
                "clinically_significant": s.clinically_significant,
            }
            for s in trend.series
        ],
        "latest": None
        if latest is None
        else {
            "response_id": str(latest.response_id),
            "total": latest.total,
            "severity": latest.severity,
            "completed_at": latest.completed_at.isoformat(),
        },
    }


def json_response(body: dict[str, Any]) -> HttpResponse:
    """``jsonify(body)``, byte for byte, about ten times faster for a long trend.

    orjson writes what the app's JSON provider writes (compact, keys in order,
    a newline added here) as long as every character is printable ASCII; the
    provider escapes the others as \\uXXXX where orjson writes them raw, so a
    body with any (a series label in another script, DEL, a lone surrogate)
    goes through the provider itself. tests/api/test_trends.py compares both.
    """
    provider = current_app.json
    compact = provider.compact if provider.compact is not None else not current_app.debug
    if compact and not provider.sort_keys and provider.ensure_ascii:
        try:
            encoded = orjson.dumps(body)
        except orjson.JSONEncodeError:
            encoded = None
        if encoded is not None and encoded.isascii() and b"\x7f" not in encoded:
            return current_app.response_class(encoded + b"\n", mimetype=provider.mimetype)
    return provider.response(body)


@blp.route(f"/patients/{PATIENT_ID}/trends/{INSTRUMENT}", methods=["GET"])
@login_required
@documented_problems(blp, *READ_PROBLEMS, notes={422: "Invalid window"})
@blp.arguments(TrendArgs, location="query")
@blp.response(200, TrendSchema)
def get_trend(args: dict, patient_id: int, instrument: str) -> HttpResponse:
    """Scores over time, and per series the baseline, post score and judged change."""
    patient = access.patient_for(patient_id)
    trend, _series = load_trend(patient.id, instrument, **_windows(args))
    audit.record_now("read", "trend", instrument, patient.id)
    # A pre-built body (flask-smorest passes a Response through); TrendSchema documents it.
    return json_response(trend_body(trend))


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
    points, series = load_chart(patient.id, instrument)  # the windows change no pixel
    svg = render_trend_svg(
        instruments.get(instrument),
        [ChartPoint(completed_at, total) for completed_at, total in points],
        [ChartSeries(s.label, s.started_at, s.ended_at, s.sessions) for s in series],
        now=utcnow(),
        width=args["width"],
        height=args["height"],
    )
    audit.record_now("read", "trend", instrument, patient.id)
    return HttpResponse(svg, mimetype="image/svg+xml")
