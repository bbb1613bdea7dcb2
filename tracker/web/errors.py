"""Error pages for the web blueprint: HTML, not the API's problem+json.

Blueprint handlers win over the app-wide problem+json handler for requests
routed to this blueprint, including refusals raised before the view runs
(the global CSRF check), so a browser never lands on a JSON body.
"""

from __future__ import annotations

from flask import render_template
from sqlalchemy.exc import OperationalError
from werkzeug.exceptions import HTTPException

from tracker.auth.session import CSRF_REFUSED
from tracker.extensions import db
from tracker.web import bp

# What a person can do about each refusal; the API's details talk to programmers.
MESSAGES = {
    400: "The request could not be understood. Go back and try again.",
    403: (
        "Your account cannot open this page. If you think it should, "
        "ask your clinic's administrator."
    ),
    404: "There is no such page, or it is not yours to see.",
    405: "This page cannot be used that way.",
    409: "Someone else changed this record in the meantime. Reload it and try again.",
    413: "What you sent is too large.",
    429: "Too many attempts. Please wait a few minutes and try again.",
    503: "The service is briefly unavailable. Please try again in a minute.",
}


# A refused form is a different story from a refused page: say which one happened.
STALE_FORM = (
    "The form you sent had expired, so nothing was saved. "
    "Go back, reload the page and send it again."
)


def error_page(
    status: int, headers: dict[str, str] | None = None, message: str | None = None
) -> tuple[str, int, dict]:
    message = message or MESSAGES.get(status, "Something went wrong. Please try again.")
    return render_template("web/error.html", status=status, message=message), status, headers or {}


@bp.errorhandler(HTTPException)
def http_error(error: HTTPException) -> tuple[str, int, dict]:
    reason = (getattr(error, "data", None) or {}).get("reason")
    return error_page(error.code or 500, message=STALE_FORM if reason == CSRF_REFUSED else None)


@bp.errorhandler(OperationalError)
def database_unavailable(_error: OperationalError) -> tuple[str, int, dict]:
    db.session.rollback()
    return error_page(503, {"Retry-After": "5"})
