"""Response headers that every answer carries, and the opt-in CORS allow-list."""

from __future__ import annotations

from flask import Flask, Response, request

# Pages may load only what tracker itself serves; nothing may frame them.
PAGE_CSP = (
    "default-src 'self'; img-src 'self' data:; style-src 'self'; script-src 'self'; "
    "frame-ancestors 'none'; base-uri 'none'; form-action 'self'"
)
# Swagger UI starts itself with an inline script; that page holds no patient data.
DOCS_CSP = (
    "default-src 'self'; img-src 'self' data:; style-src 'self' 'unsafe-inline'; "
    "script-src 'self' 'unsafe-inline'; frame-ancestors 'none'; base-uri 'none'"
)
CORS_HEADERS = (
    "Authorization, Content-Type, X-CSRF-Token, Idempotency-Key, If-None-Match, "
    "If-None-Exist, Prefer, X-Request-ID"
)
STATIC_PREFIXES = ("/static/", "/api/v1/docs/static/")


def _security_headers(response: Response) -> Response:
    headers = response.headers
    headers.setdefault("X-Content-Type-Options", "nosniff")
    headers.setdefault("Referrer-Policy", "no-referrer")
    headers.setdefault("X-Frame-Options", "DENY")
    if response.mimetype == "text/html":
        docs = request.path.startswith("/api/v1/docs")
        headers.setdefault("Content-Security-Policy", DOCS_CSP if docs else PAGE_CSP)
    if not request.path.startswith(STATIC_PREFIXES):
        # The one place for it: pages, API, FHIR and token answers may hold patient data
        # or secrets, so no cache (shared or back-button) may keep them.
        headers.setdefault("Cache-Control", "no-store")
    if request.is_secure:
        headers.setdefault("Strict-Transport-Security", "max-age=31536000")
    return response


def _cors(app: Flask, response: Response) -> Response:
    """Only listed origins get CORS headers; cookies are never shared cross-origin."""
    origin = request.headers.get("Origin")
    if not origin or origin not in app.config["CORS_ORIGINS"]:
        return response
    response.headers["Access-Control-Allow-Origin"] = origin
    response.headers.add("Vary", "Origin")
    response.headers["Access-Control-Expose-Headers"] = (
        "ETag, Location, Content-Location, X-Request-ID"
    )
    if request.method == "OPTIONS":
        response.headers["Access-Control-Allow-Methods"] = "GET, POST, PATCH, DELETE"
        response.headers["Access-Control-Allow-Headers"] = CORS_HEADERS
        response.headers["Access-Control-Max-Age"] = "600"
    return response


def init_app(app: Flask) -> None:
    app.after_request(_security_headers)
    app.after_request(lambda response: _cors(app, response))
