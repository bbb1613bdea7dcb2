"""API clients (EHR integrations): registration, token issuing, and bearer-token principals."""

from __future__ import annotations

import hashlib
import hmac
import secrets
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from flask import Request
from sqlalchemy import delete, select

from tracker.extensions import db
from tracker.models import AccessToken, ApiClient, UsedAssertion
from tracker.models.types import utcnow

TOKEN_LIFETIME = timedelta(seconds=300)  # docs/fhir.md, "SMART Backend Services": 300 s


def digest(secret: str) -> str:
    """Tokens and client secrets are random and long: a plain SHA-256 is enough to store them."""
    return hashlib.sha256(secret.encode()).hexdigest()


@dataclass
class ClientPrincipal:
    """The caller behind a valid bearer token; quacks enough like a user for Flask-Login."""

    client: ApiClient
    scopes: tuple[str, ...]
    expires_at: datetime
    role: str = "client"
    patient_id: None = None
    is_authenticated: bool = True
    is_active: bool = True
    is_anonymous: bool = False
    is_client: bool = True
    extra: dict = field(default_factory=dict)

    @property
    def id(self) -> str:
        return self.client.client_id

    def get_id(self) -> str:  # never stored in a session
        return ""


def register_client(
    name: str, scopes: list[str], jwks: dict | None = None, with_secret: bool = True
) -> tuple[ApiClient, str | None]:
    """Create a client; returns it and its secret (shown once, stored only as a hash)."""
    secret = secrets.token_urlsafe(32) if with_secret else None
    client = ApiClient(
        client_id=secrets.token_hex(16),
        name=name,
        secret_hash=digest(secret) if secret else None,
        jwks=jwks,
        scopes=scopes,
    )
    db.session.add(client)
    db.session.flush()
    return client, secret


def find_client(client_id: str) -> ApiClient | None:
    if not client_id or len(client_id) > 64:
        return None
    client = db.session.scalar(select(ApiClient).where(ApiClient.client_id == client_id))
    return client if client is not None and client.active else None


_DUMMY_SECRET_HASH = digest("no client has this secret")


def check_secret(client: ApiClient | None, secret: str) -> bool:
    """Constant-time comparison, also when the client or its secret does not exist."""
    stored = client.secret_hash if client is not None and client.secret_hash else None
    matches = hmac.compare_digest(stored or _DUMMY_SECRET_HASH, digest(secret))
    return matches and stored is not None


def issue_token(client: ApiClient, scopes: tuple[str, ...]) -> tuple[str, AccessToken]:
    token = secrets.token_urlsafe(32)
    row = AccessToken(
        token_hash=digest(token),
        client_id=client.id,
        scopes=list(scopes),
        expires_at=utcnow() + TOKEN_LIFETIME,
    )
    db.session.add(row)
    return token, row


def principal_from_request(request: Request) -> ClientPrincipal | None:
    """Flask-Login request loader: a valid, unexpired bearer token of an active client."""
    header = request.headers.get("Authorization", "")
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer" or not token or len(token) > 200:
        return None
    row = db.session.scalar(select(AccessToken).where(AccessToken.token_hash == digest(token)))
    if row is None or row.expires_at <= utcnow():
        return None
    client = db.session.get(ApiClient, row.client_id)
    if client is None or not client.active:
        return None
    return ClientPrincipal(client=client, scopes=tuple(row.scopes), expires_at=row.expires_at)


def forget_expired(client: ApiClient) -> None:
    """Drop the client's expired tokens and assertion ids; they can no longer be used."""
    now = utcnow()
    db.session.execute(
        delete(AccessToken).where(AccessToken.client_id == client.id, AccessToken.expires_at < now)
    )
    db.session.execute(
        delete(UsedAssertion).where(
            UsedAssertion.client_id == client.id, UsedAssertion.expires_at < now
        )
    )
