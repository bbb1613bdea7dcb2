"""Server-rendered pages for patients and clinicians (blueprint ``web``).

The pages are a second shell around the same core as the JSON API: access is
decided by :mod:`tracker.auth.access`, writes go through
:mod:`tracker.services.responses`, and every read and write of patient data
is audited with the same events the equivalent API calls write. Templates
carry no inline script or style, so the pages work under a strict
Content-Security-Policy; CSS is served from ``static/``.
"""

from __future__ import annotations

from flask import Blueprint

bp = Blueprint(
    "web",
    __name__,
    template_folder="templates",
    static_folder="static",
    static_url_path="/static",  # the app has no static folder of its own
)


# The views attach their routes to ``bp`` on import.
from tracker.web import (  # noqa: E402
    clinic_due,
    clinic_list,
    clinic_patient,
    clinic_responses,
    clinic_series,
    errors,
    link_pages,
    login,
    patient,
    render,
)

web_blueprint = bp

__all__ = [
    "bp",
    "clinic_due",
    "clinic_list",
    "clinic_patient",
    "clinic_responses",
    "clinic_series",
    "errors",
    "link_pages",
    "login",
    "patient",
    "render",
    "web_blueprint",
]
