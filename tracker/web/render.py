"""Template helpers: the CSRF field, times in the clinic's zone, score formatting.

Times are stored as UTC instants; people read and type them in the clinic's
local time (``CLINIC_TIMEZONE``, default UTC), so every page converts here.
"""

from __future__ import annotations

from datetime import datetime
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from flask import current_app, render_template

from tracker import instruments
from tracker.auth.session import csrf_token
from tracker.charts.trend_svg import BAND_PICKS
from tracker.extensions import db
from tracker.web import bp

MINUS = "\u2212"  # a real minus sign: a hyphen reads badly next to numbers


def render_audited(template: str, **context: object) -> str:
    """Render, then commit the audit events the view recorded.

    Committing first would expire every loaded row, and the template would
    then reload them one query at a time; in this order a page's query count
    stays fixed. A page that fails to render was not read, so nothing is logged.
    """
    html = render_template(template, **context)
    db.session.commit()
    return html


def clinic_zone() -> ZoneInfo:
    """The clinic's time zone; an unknown name falls back to UTC rather than failing pages."""
    name = current_app.config.get("CLINIC_TIMEZONE") or "UTC"
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        current_app.logger.warning("unknown CLINIC_TIMEZONE; showing times in UTC")
        return ZoneInfo("UTC")


def local(value: datetime) -> datetime:
    return value.astimezone(clinic_zone())


def format_when(value: datetime | None) -> str:
    """ "1 Mar 2026, 09:30" in the clinic's zone."""
    if value is None:
        return ""
    at = local(value)
    return f"{at.day} {at:%b %Y, %H:%M}"


def format_day(value: datetime | None) -> str:
    if value is None:
        return ""
    at = local(value)
    return f"{at.day} {at:%b %Y}"


def input_value(value: datetime | None) -> str:
    """The value of an <input type=datetime-local> for an instant."""
    return "" if value is None else f"{local(value):%Y-%m-%dT%H:%M}"


def signed(value: int | float | None) -> str:
    """+3, −12, 0: a change reads as a direction, with a true minus sign."""
    if value is None:
        return "–"
    text = f"{abs(value):g}"
    if value > 0:
        return "+" + text
    return MINUS + text if value < 0 else text


def band_label(code: str, severity: str) -> str:
    instrument = instruments.get(code)
    return next((b.label for b in instrument.bands if b.code == severity), severity)


def band_level(code: str, severity: str) -> int:
    """The chart's tint index (0–4) for a band, so a badge has the colour of its band there."""
    bands = [b.code for b in instruments.get(code).bands]
    if severity not in bands:
        return 0
    index = bands.index(severity)
    picks = BAND_PICKS.get(len(bands), tuple(range(len(bands))))
    return picks[index] % 5


def crisis_text() -> str:
    return current_app.config["CRISIS_TEXT"]


def history_enabled() -> bool:
    return bool(current_app.config.get("PATIENT_HISTORY_ENABLED", False))


def instrument_name(code: str) -> str:
    return instruments.get(code).name


# Globals rather than a context processor: imported macros (forms, badges) see them too.
for _function in (csrf_token, instrument_name, band_label, band_level, history_enabled):
    bp.add_app_template_global(_function)
for _name, _filter in (
    ("when", format_when),
    ("day", format_day),
    ("input_value", input_value),
    ("signed", signed),
):
    bp.add_app_template_filter(_filter, _name)
