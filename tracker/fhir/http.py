"""FHIR HTTP plumbing: content type, OperationOutcome errors, ETags, who may call."""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import datetime
from functools import wraps
from typing import Any

from flask import Response, current_app, request
from flask_login import current_user
from werkzeug.exceptions import HTTPException
from werkzeug.http import http_date, parse_date

from tracker.auth import audit, smart
from tracker.fhir.mapping import operation_outcome

FHIR_JSON = "application/fhir+json"

# HTTP status → OperationOutcome.issue.code (R4 http.html, search.html §3.1.1.3).
ISSUE_CODES = {
    400: "invalid",
    401: "login",
    403: "forbidden",
    404: "not-found",
    405: "not-supported",
    406: "not-supported",
    409: "conflict",
    410: "deleted",
    412: "conflict",
    413: "too-costly",
    415: "not-supported",
    422: "processing",
    429: "throttled",
    503: "transient",
}


class FhirError(HTTPException):
    """Abort a FHIR request with an OperationOutcome."""

    def __init__(
        self,
        status: int,
        diagnostics: str,
        code: str | None = None,
        issues: list[tuple[str, str, str]] | None = None,
        headers: dict[str, str] | None = None,
    ):
        super().__init__(diagnostics)
        self.code = status
        self.headers = headers or {}
        self.issues = issues or [
            ("error", code or ISSUE_CODES.get(status, "exception"), diagnostics)
        ]


def is_fhir_request() -> bool:
    return request.path == "/fhir" or request.path.startswith("/fhir/")


def fhir_response(
    resource: dict[str, Any], status: int = 200, headers: dict[str, str] | None = None
) -> Response:
    response = current_app.response_class(
        json.dumps(resource, separators=(",", ":"), ensure_ascii=False),
        status=status,
        content_type=f"{FHIR_JSON}; charset=utf-8",
    )
    for name, value in (headers or {}).items():
        response.headers[name] = value
    return response


def outcome_response(
    status: int, issues: list[tuple[str, str, str]], headers: dict[str, str] | None = None
) -> Response:
    headers = dict(headers or {})
    if status == 401:
        headers.setdefault("WWW-Authenticate", 'Bearer realm="tracker"')
    return fhir_response(operation_outcome(issues), status, headers)


def error_response(error: HTTPException) -> Response:
    """Any HTTP error under /fhir becomes an OperationOutcome (never problem+json)."""
    status = error.code or 500
    if isinstance(error, FhirError):
        return outcome_response(status, error.issues, error.headers)
    data = getattr(error, "data", None) or {}
    diagnostics = data.get("message") or error.description
    if status >= 500 and status != 503:
        diagnostics = "Internal error."
    headers = dict(data.get("headers") or {})
    allowed = getattr(error, "valid_methods", None)
    if status == 405 and allowed:
        headers["Allow"] = ", ".join(allowed)
    return outcome_response(
        status, [("error", ISSUE_CODES.get(status, "exception"), diagnostics or "Error.")], headers
    )


def _not_modified(etag: str, version: int, updated_at: datetime) -> bool:
    """If-None-Match decides when sent (RFC 9110 §13.2.2); else If-Modified-Since, whose
    dates have whole seconds: unchanged when the last change is in or before that second."""
    if "If-None-Match" in request.headers:
        sent = [tag.strip() for tag in request.headers["If-None-Match"].split(",")]
        return etag in sent or f'"{version}"' in sent
    since = parse_date(request.headers.get("If-Modified-Since"))
    return since is not None and updated_at.replace(microsecond=0) <= since


def versioned(resource: dict[str, Any], version: int, updated_at: datetime) -> Response:
    """A single resource with ETag/Last-Modified from the same row version; 304 when unchanged."""
    etag = f'W/"{version}"'
    headers = {"ETag": etag, "Last-Modified": http_date(updated_at)}
    if _not_modified(etag, version, updated_at):
        response = current_app.response_class(status=304)
        for name, value in headers.items():
            response.headers[name] = value
        return response
    return fhir_response(resource, headers=headers)


def requires(resource_type: str, permission: str) -> Callable:
    """Allow API clients whose token scopes permit this, and admins (reads only)."""

    def decorate(view: Callable) -> Callable:
        @wraps(view)
        def guarded(*args: Any, **kwargs: Any) -> Any:
            if not current_user.is_authenticated:
                raise FhirError(401, "A bearer token (or an admin session) is required.")
            if getattr(current_user, "is_client", False):
                allowed = smart.permits(current_user.scopes, resource_type, permission)
            else:
                allowed = current_user.role == "admin" and permission in ("r", "s")
            if not allowed:
                audit.record_now("access_denied", resource_type=resource_type, outcome="forbidden")
                raise FhirError(
                    403, f"The token's scopes do not allow {permission!r} on {resource_type}."
                )
            return view(*args, **kwargs)

        return guarded

    return decorate
