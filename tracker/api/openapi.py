"""The flask-smorest object that collects the API blueprints and writes the OpenAPI document.

It declares how callers authenticate, so "Try it out" in /api/v1/docs works
for writes too: a browser session (the cookie plus the X-CSRF-Token header
from GET /api/v1/auth/me) or a bearer token; the few public operations say
that they need neither.
"""

from __future__ import annotations

from typing import Any

from flask import Flask

from tracker.problems import ProblemApi

openapi = ProblemApi()

SESSION, CSRF, BEARER = "sessionCookie", "csrfHeader", "bearerToken"
# Either a logged-in browser (cookie, and the CSRF header on writes) or a bearer token.
SECURITY = [{SESSION: [], CSRF: []}, {BEARER: []}]
PUBLIC: list[dict[str, list[str]]] = []  # for operations anyone may call


def spec_security() -> dict[str, Any]:
    """The document-wide ``security`` requirement (pass in spec_kwargs)."""
    return {"security": SECURITY}


def declare_security_schemes(app: Flask) -> None:
    """Add the schemes named by SECURITY to the document's components."""
    components = openapi.spec.components
    components.security_scheme(
        SESSION,
        {
            "type": "apiKey",
            "in": "cookie",
            "name": app.config.get("SESSION_COOKIE_NAME", "session"),
            "description": "The session cookie set by POST /api/v1/auth/login.",
        },
    )
    components.security_scheme(
        CSRF,
        {
            "type": "apiKey",
            "in": "header",
            "name": "X-CSRF-Token",
            "description": (
                "csrf_token from GET /api/v1/auth/me; required with the cookie on "
                "POST, PATCH and DELETE."
            ),
        },
    )
    components.security_scheme(
        BEARER,
        {
            "type": "http",
            "scheme": "bearer",
            "description": "An access token from POST /api/v1/oauth/token (EHR integrations).",
        },
    )
