"""Request checks that apply to every API route before any view runs."""

from __future__ import annotations

from flask import Flask, Response, request

from tracker.auth.session import UNSAFE_METHODS
from tracker.inputs import has_nul
from tracker.problems import fail

JSON_MIMETYPES = ("application/json",)
FORM_MIMETYPES = ("application/x-www-form-urlencoded", "multipart/form-data")
# OAuth 2.0 token requests are form-encoded by definition (RFC 6749 §4.4.2).
FORM_ENDPOINTS = frozenset({"oauth.token"})


def _is_json(mimetype: str) -> bool:
    return mimetype in JSON_MIMETYPES or (
        mimetype.startswith("application/") and mimetype.endswith("+json")
    )


def require_json_body() -> Response | None:
    """A write with a body must say it is JSON (415), and must fit the limit (413)."""
    if not request.path.startswith("/api/") or request.method not in UNSAFE_METHODS:
        return
    if request.routing_exception is not None:
        return  # an unknown route or method answers 404/405 first
    has_body = bool(request.content_length) or "chunked" in request.headers.get(
        "Transfer-Encoding", ""
    )
    if request.endpoint in FORM_ENDPOINTS:
        if has_body and request.mimetype != "application/x-www-form-urlencoded":
            # OAuth clients read RFC 6749 error objects, not problem+json.
            from tracker.api.oauth import oauth_error

            return oauth_error(
                "invalid_request", "Send the body as application/x-www-form-urlencoded."
            )
    elif has_body and not _is_json(request.mimetype):
        fail(415, "Send the body as application/json.")
    limit = request.max_content_length
    if limit is not None and (request.content_length or 0) > limit:
        fail(413, f"The body is larger than {limit} bytes.")


def refuse_nul_characters() -> None:
    """PostgreSQL text cannot hold NUL: refuse it in query strings and forms up front.

    (JSON API bodies and queries are checked field by field by StrictSchema.)
    """
    if request.path.startswith("/api/"):
        return
    values = [*request.args.values()]
    if request.method in UNSAFE_METHODS and request.mimetype in FORM_MIMETYPES:
        values += [*request.form.values()]
    if any(has_nul(value) for value in values):
        fail(400, "NUL characters are not allowed in parameters.")


def init_app(app: Flask) -> None:
    app.before_request(require_json_body)
    app.before_request(refuse_nul_characters)
