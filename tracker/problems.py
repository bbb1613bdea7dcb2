"""RFC 9457 problem+json for every error the API returns."""

from __future__ import annotations

import http
from collections.abc import Callable
from typing import Any, NoReturn

import marshmallow as ma
from flask import Flask, Response, current_app, json
from flask_smorest import Api
from flask_smorest.utils import prepare_response
from werkzeug.exceptions import HTTPException
from werkzeug.http import HTTP_STATUS_CODES

from tracker.services.errors import ServiceError

PROBLEM_MIMETYPE = "application/problem+json"
# Other shells (FHIR) answer errors in their own format under their own paths.
Renderer = tuple[Callable[[], bool], Callable[[HTTPException], Response]]
_RENDERERS = "tracker.error_renderers"


class ProblemSchema(ma.Schema):
    """Documents the error body; responses are built by problem() directly."""

    type = ma.fields.String(metadata={"description": "Problem type URI (about:blank)"})
    title = ma.fields.String(metadata={"description": "HTTP status phrase"})
    status = ma.fields.Integer()
    detail = ma.fields.String()
    errors = ma.fields.Dict(
        keys=ma.fields.String(),
        values=ma.fields.List(ma.fields.String()),
        metadata={"description": "Field path → messages, for validation errors"},
    )


def problem(
    status: int,
    detail: str | None = None,
    errors: dict[str, list[str]] | None = None,
    headers: dict[str, str] | None = None,
) -> Response:
    """One error body for the whole API, so clients parse a single shape."""
    body: dict[str, Any] = {
        "type": "about:blank",
        "title": HTTP_STATUS_CODES.get(status, "Error"),
        "status": status,
        "detail": detail or HTTP_STATUS_CODES.get(status, "Error"),
    }
    if errors:
        body["errors"] = errors
    response = current_app.response_class(
        json.dumps(body), status=status, mimetype=PROBLEM_MIMETYPE
    )
    for name, value in (headers or {}).items():
        response.headers[name] = value
    return response


def flatten_errors(messages: Any, prefix: str = "") -> dict[str, list[str]]:
    """Turn marshmallow's nested messages into {"answers.3": [...]} field paths."""
    flat: dict[str, list[str]] = {}
    if isinstance(messages, dict):
        for key, value in messages.items():
            path = f"{prefix}.{key}" if prefix else str(key)
            flat.update(flatten_errors(value, path))
    elif isinstance(messages, list | tuple):
        if all(isinstance(m, str) for m in messages):
            flat[prefix or "_request"] = list(messages)
        else:
            for index, value in enumerate(messages):
                flat.update(flatten_errors(value, f"{prefix}.{index}" if prefix else str(index)))
    else:
        flat[prefix or "_request"] = [str(messages)]
    return flat


# webargs nests messages under the request location; clients want the field.
LOCATIONS = ("json", "query", "querystring", "headers", "form", "path", "view_args")


def _strip_location(messages: dict) -> dict:
    stripped: dict = {}
    for location, fields in messages.items():
        if location in LOCATIONS and isinstance(fields, dict):
            stripped.update(fields)
        else:
            stripped[location] = fields
    return stripped


class ProblemApi(Api):
    """flask-smorest Api whose error handler speaks problem+json."""

    ERROR_SCHEMA = ProblemSchema

    def _register_responses(self) -> None:
        """The documented error responses carry application/problem+json."""
        for status in http.HTTPStatus:
            response: dict[str, Any] = {"description": status.phrase}
            if not (100 <= status < 200) and status not in (204, 304):
                response["schema"] = self.ERROR_SCHEMA
            prepare_response(response, self.spec, PROBLEM_MIMETYPE)
            self.spec.components.response(status.name, response, lazy=True)
        response = {"description": "Default error response", "schema": self.ERROR_SCHEMA}
        prepare_response(response, self.spec, PROBLEM_MIMETYPE)
        self.spec.components.response("DEFAULT_ERROR", response, lazy=True)

    def handle_http_exception(self, error: HTTPException) -> Response:
        return render_error(error)


def add_error_renderer(
    app: Flask, applies: Callable[[], bool], render: Callable[[HTTPException], Response]
) -> None:
    """Let a shell answer errors of its own requests in its own format (FHIR: OperationOutcome)."""
    app.extensions.setdefault(_RENDERERS, []).append((applies, render))


def render_error(error: HTTPException) -> Response:
    """Any HTTP error as problem+json, unless a shell registered its own format for this request."""
    renderers: list[Renderer] = current_app.extensions.get(_RENDERERS, [])
    for applies, render in renderers:
        if applies():
            return render(error)
    status = error.code or 500
    data = getattr(error, "data", None) or {}
    errors = None
    detail = data.get("message") or error.description
    if "errors" in data:
        errors = flatten_errors(data["errors"])
    elif "messages" in data:
        errors = flatten_errors(_strip_location(data["messages"]))
        if status == 400:
            detail = "The request body is not valid JSON."
        else:
            detail = "The request has invalid fields: " + ", ".join(sorted(errors))
    if status >= 500 and status != 503:
        detail = HTTP_STATUS_CODES.get(status)
    headers = dict(data.get("headers") or {})
    allowed = getattr(error, "valid_methods", None)
    if status == 405 and allowed:
        headers["Allow"] = ", ".join(allowed)
    if status == 401:
        headers.setdefault("WWW-Authenticate", 'Bearer realm="tracker"')
    return problem(status, detail, errors, headers)


def http_error(
    status: int,
    detail: str | None = None,
    errors: dict[str, list[str]] | None = None,
    headers: dict[str, str] | None = None,
    reason: str | None = None,
) -> HTTPException:
    """An HTTPException carrying what render_error needs (the shape flask-smorest's abort makes).

    ``reason`` tells apart refusals with one status (a 403 for a stale form, "csrf",
    from one for a role), so a page can say which happened.
    """
    error = HTTPException(detail or HTTP_STATUS_CODES.get(status, "Error"))
    error.code = status
    data: dict[str, Any] = {}
    if detail:
        data["message"] = detail
    if errors:
        data["errors"] = errors
    if headers:
        data["headers"] = headers
    if reason:
        data["reason"] = reason
    error.data = data  # type: ignore[attr-defined]
    return error


def service_error_response(error: ServiceError) -> Response:
    """A use case's refusal (Invalid, Conflict, Stale) in the caller's error format."""
    return render_error(http_error(error.status, error.detail, error.errors or None))


def fail(
    status: int,
    detail: str | None = None,
    errors: dict[str, list[str]] | None = None,
    headers: dict[str, str] | None = None,
    reason: str | None = None,
) -> NoReturn:
    """Abort the request with a problem+json answer (errors: field path → messages)."""
    raise http_error(status, detail, errors, headers, reason)


def documented_problems(
    blp: Any, *statuses: int, notes: dict[int, str] | None = None
) -> Callable[[Callable], Callable]:
    """Document an operation's problem+json answers in OpenAPI (no runtime effect)."""

    def decorate(func: Callable) -> Callable:
        for status in sorted(set(statuses) | set(notes or {})):
            description = (notes or {}).get(status) or HTTP_STATUS_CODES[status]
            func = blp.alt_response(
                status, schema=ProblemSchema, content_type=PROBLEM_MIMETYPE, description=description
            )(func)
        return func

    return decorate


# The answers most operations can give, for documentation.
READ_PROBLEMS = (401, 404, 503)
WRITE_PROBLEMS = (400, 401, 403, 404, 413, 415, 422, 503)
