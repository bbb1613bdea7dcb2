"""The OAuth 2.0 token endpoint for EHR integrations (SMART Backend Services or client secret)."""

from __future__ import annotations

import base64
import binascii
from urllib.parse import unquote

from flask import Response, current_app, jsonify, request
from sqlalchemy.exc import IntegrityError

from tracker.api.blueprint import ApiBlueprint
from tracker.api.openapi import PUBLIC
from tracker.auth import audit, smart
from tracker.auth.clients import check_secret, find_client, forget_expired, issue_token
from tracker.extensions import db, limiter
from tracker.models import ApiClient, UsedAssertion
from tracker.models.types import utcnow
from tracker.urls import external_url

blp = ApiBlueprint("oauth", __name__, url_prefix="/api/v1/oauth", description="OAuth 2.0")

JWT_BEARER = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"

TOKEN_DOC = {
    "summary": "Issue an access token (client_credentials)",
    "requestBody": {
        "required": True,
        "content": {
            "application/x-www-form-urlencoded": {
                "schema": {
                    "type": "object",
                    "required": ["grant_type", "scope"],
                    "properties": {
                        "grant_type": {"type": "string", "enum": ["client_credentials"]},
                        "scope": {"type": "string", "example": "system/Observation.rs"},
                        "client_assertion_type": {"type": "string", "enum": [JWT_BEARER]},
                        "client_assertion": {"type": "string", "description": "RS384/ES384 JWT"},
                        "client_id": {"type": "string"},
                        "client_secret": {"type": "string"},
                    },
                }
            }
        },
    },
    "responses": {
        "200": {
            "description": "Token issued (expires_in 300, no refresh token)",
            "content": {
                "application/json": {
                    "schema": {
                        "type": "object",
                        "properties": {
                            "access_token": {"type": "string"},
                            "token_type": {"type": "string"},
                            "expires_in": {"type": "integer"},
                            "scope": {"type": "string"},
                        },
                    }
                }
            },
        },
        "400": {"description": "invalid_request, unsupported_grant_type or invalid_scope"},
        "401": {"description": "invalid_client"},
        "413": {"description": "Body too large"},
        "415": {"description": "Not application/x-www-form-urlencoded"},
        "429": {"description": "Rate limited (see Retry-After)"},
    },
}


def oauth_error(error: str, description: str, status: int = 400) -> Response:
    """RFC 6749 §5.2 error body (not problem+json: OAuth clients expect this shape)."""
    response = jsonify(error=error, error_description=description)
    response.status_code = status
    if status == 401:
        response.headers["WWW-Authenticate"] = 'Basic realm="tracker", error="invalid_client"'
    return response


def _basic_credentials() -> tuple[str, str] | None:
    header = request.headers.get("Authorization", "")
    scheme, _, encoded = header.partition(" ")
    if scheme.lower() != "basic":
        return None
    try:
        decoded = base64.b64decode(encoded, validate=True).decode()
    except (binascii.Error, UnicodeDecodeError):
        return None
    client_id, sep, secret = decoded.partition(":")
    return (unquote(client_id), unquote(secret)) if sep else None


def _authenticate(form: dict) -> ApiClient:
    """The client behind the request; raises smart.InvalidClient otherwise."""
    if form.get("client_assertion_type") or form.get("client_assertion"):
        if form.get("client_assertion_type") != JWT_BEARER:
            raise smart.InvalidClient("client_assertion_type must be " + JWT_BEARER)
        assertion = form.get("client_assertion", "")
        claimed = smart.unverified_client_id(assertion)
        # A client_id sent beside the assertion must name the same client (RFC 7521 §4.2).
        if form.get("client_id") and form["client_id"] != claimed:
            raise smart.InvalidClient("client_id is not the assertion's iss")
        client = find_client(claimed)
        if client is None or not client.jwks:
            raise smart.InvalidClient("unknown client or no registered keys")
        verified = smart.verify_client_assertion(
            assertion, client.client_id, client.jwks, external_url("oauth.token"), utcnow()
        )
        # A jti is accepted once: the unique constraint refuses a replay, even a concurrent one.
        db.session.add(
            UsedAssertion(client_id=client.id, jti=verified.jti, expires_at=verified.expires_at)
        )
        try:
            db.session.flush()
        except IntegrityError:
            db.session.rollback()
            raise smart.InvalidClient("assertion jti was already used") from None
        return client
    credentials = _basic_credentials() or (form.get("client_id"), form.get("client_secret"))
    client_id, secret = credentials
    if not client_id or not secret:
        raise smart.InvalidClient("no client authentication")
    client = find_client(client_id)
    if not check_secret(client, secret) or client is None:
        raise smart.InvalidClient("unknown client or wrong secret")
    return client


@blp.route("/token", methods=["POST"], endpoint="token")
@limiter.limit(lambda: current_app.config["TOKEN_RATE_LIMIT"])
@blp.doc(**TOKEN_DOC, security=PUBLIC)
def token() -> Response:
    """Client credentials grant: 300-second opaque bearer tokens, no refresh tokens."""
    form = request.form.to_dict()
    if not form.get("grant_type"):
        return oauth_error("invalid_request", "grant_type is required (client_credentials).")
    if form.get("grant_type") != "client_credentials":
        return oauth_error("unsupported_grant_type", "Only client_credentials is supported.")
    try:
        client = _authenticate(form)
    except smart.InvalidClient as error:
        db.session.rollback()
        audit.record_now("login_failed", resource_type="api_client", outcome="failure")
        return oauth_error("invalid_client", str(error), 401)
    try:
        granted = smart.grant_scopes(form.get("scope", ""), client.scopes)
    except smart.InvalidScope as error:
        db.session.rollback()
        return oauth_error("invalid_scope", str(error) or "No requested scope is allowed.")
    forget_expired(client)
    token_value, _row = issue_token(client, granted)
    audit.record("token_issued", "api_client", client.client_id, actor=("client", client.client_id))
    db.session.commit()
    response = jsonify(
        access_token=token_value, token_type="bearer", expires_in=300, scope=" ".join(granted)
    )
    response.headers["Pragma"] = "no-cache"  # Cache-Control: no-store comes from security.py
    return response
