"""Absolute URLs for links that leave the server (FHIR paging, token audience, export files)."""

from __future__ import annotations

from flask import current_app, request, url_for


def public_base() -> str:
    """The configured public base URL, else this request's own scheme and host.

    Behind a proxy set PUBLIC_BASE_URL (or TRACKER_TRUST_PROXY=1 to honour
    X-Forwarded-*): never build links from an untrusted Host header.
    """
    configured = current_app.config.get("PUBLIC_BASE_URL")
    return (configured or request.host_url).rstrip("/")


def external_url(endpoint: str, **values: object) -> str:
    return public_base() + url_for(endpoint, _external=False, **values)
