"""Error pages for the web blueprint: HTML, not the API's problem+json.

Blueprint handlers win over the app-wide problem+json handler for requests
routed to this blueprint, including refusals raised before the view runs
(the global CSRF check), so a browser never lands on a JSON body.
"""

from __future__ import annotations

from flask import render_template
from sqlalchemy.exc import OperationalError
from werkzeug.exceptions import HTTPException

from tracker.extensions import db
from tracker.web import bp

# What a person can do about each refusal; the API's details talk to programmers.
MESSAGES = {
    400: "The request could not be understood. Go back and try again.",
    403: (
        "You cannot open this page, or the form you sent had expired. "
        "Go back, reload the page and try again."
    ),
    404: "There is no such page, or it is not yours to see.",
    405: "This page cannot be used that way.",
    409: "Someone else changed this record in the meantime. Reload it and try again.",
    413: "What you sent is too large.",
    429: "Too many attempts. Please wait a few minutes and try again.",
    503: "The service is briefly unavailable. Please try again in a minute.",
}


def error_page(status: int, headers: dict[str, str] | None = None) -> tuple[str, int, dict]:
    message = MESSAGES.get(status, "Something went wrong. Please try again.")
    return render_template("web/error.html", status=status, message=message), status, headers or {}


@bp.errorhandler(HTTPException)
def http_error(error: HTTPException) -> tuple[str, int, dict]:
    return error_page(error.code or 500)


@bp.errorhandler(OperationalError)
def database_unavailable(_error: OperationalError) -> tuple[str, int, dict]:
    db.session.rollback()
    return error_page(503, {"Retry-After": "5"})
