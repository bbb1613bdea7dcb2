"""Cookie sessions: loading the user, request ids, and the CSRF header rule."""

from __future__ import annotations

import hmac
import re
import secrets
import uuid

from flask import Flask, Request, Response, g, request, session
from flask_login import current_user
from sqlalchemy import bindparam, select

from tracker.auth import audit
from tracker.auth.clients import ClientPrincipal, principal_from_request
from tracker.extensions import db, login_manager
from tracker.models import LoginSession, User
from tracker.problems import fail

UNSAFE_METHODS = frozenset({"POST", "PUT", "PATCH", "DELETE"})
CSRF_HEADER = "X-CSRF-Token"
CSRF_REFUSED = "csrf"  # the reason on a CSRF 403, so pages can tell it from a role refusal
LOGIN_KEY = "login_id"  # this login's LoginSession id, inside the signed cookie
# Unsafe requests that may come without a session (and so without a CSRF token).
# A questionnaire link's token is in its URL, which a cross-site forger cannot know.
CSRF_EXEMPT_ENDPOINTS = frozenset(
    {"auth.Login", "oauth.token", "links.LinkResponses", "web.link_submit"}
)
_REQUEST_ID = re.compile(r"^[A-Za-z0-9._-]{1,64}$")


@login_manager.user_loader
def load_user(user_key: str) -> User | None:
    """`<user id>:<session version>` plus this login's id; a revoked login or an older
    version (the password changed, the account was disabled) is logged out."""
    user_id, _, version = user_key.partition(":")
    login_id = session.get(LOGIN_KEY)
    if not (user_id.isdigit() and version.isdigit()) or max(len(user_id), len(version)) > 9:
        return None
    if not isinstance(login_id, str):
        return None
    return db.session.scalar(
        _USER_OF_LOGIN, {"user_id": int(user_id), "version": int(version), "login_id": login_id}
    )


# Built once: every authenticated request runs it, and building the statement cost about
# as much as running it (bench/README.md, "Where the trend's time goes").
_USER_OF_LOGIN = (
    select(User)
    .join(LoginSession, LoginSession.user_id == User.id)
    .where(
        User.id == bindparam("user_id"),
        User.session_version == bindparam("version"),
        LoginSession.id == bindparam("login_id"),
        LoginSession.revoked_at.is_(None),
    )
)


@login_manager.request_loader
def load_client(request: Request) -> ClientPrincipal | None:
    return principal_from_request(request)


@login_manager.unauthorized_handler
def unauthorized() -> Response:
    fail(401, "Log in first.")


def new_csrf_token() -> str:
    """A fresh per-session token; rotated at each login."""
    token = secrets.token_urlsafe(32)
    session["csrf_token"] = token
    return token


def csrf_token() -> str:
    return session.get("csrf_token") or new_csrf_token()


def _assign_request_id() -> None:
    supplied = request.headers.get("X-Request-ID", "")
    g.request_id = supplied if _REQUEST_ID.match(supplied) else uuid.uuid4().hex


def _check_csrf() -> None:
    """A cookie-authenticated unsafe request must echo the session's CSRF token."""
    if request.method not in UNSAFE_METHODS or request.endpoint in CSRF_EXEMPT_ENDPOINTS:
        return
    if request.routing_exception is not None:
        return  # an unknown route or method answers 404/405 first
    if not current_user.is_authenticated or getattr(current_user, "is_client", False):
        return  # the view answers 401; bearer tokens are not sent by browsers on their own
    # JSON clients send the header; server-rendered forms send a hidden csrf_token field.
    sent = request.headers.get(CSRF_HEADER) or request.form.get("csrf_token", "")
    expected = session.get("csrf_token", "")
    if not expected or not hmac.compare_digest(sent.encode(), expected.encode()):
        audit.record_now("access_denied", outcome="csrf")
        fail(
            403,
            f"Missing or wrong {CSRF_HEADER} header (get it from GET /api/v1/auth/me).",
            reason=CSRF_REFUSED,
        )


def _echo_request_id(response: Response) -> Response:
    if "request_id" in g:
        response.headers["X-Request-ID"] = g.request_id
    return response


def init_app(app: Flask) -> None:
    login_manager.init_app(app)
    login_manager.session_protection = "basic"
    app.before_request(_assign_request_id)
    app.before_request(_check_csrf)
    app.after_request(_echo_request_id)
