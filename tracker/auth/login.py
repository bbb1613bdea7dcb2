"""Checking a login: password, lockout after repeated failures, and the audit trail.

Shared by the JSON API and the web pages so both refuse the same way. Failures
are counted per email (hashed), known or not, so a lockout does not reveal
whether an account exists.
"""

from __future__ import annotations

import hashlib
import math
import secrets
from datetime import timedelta

from flask import current_app
from sqlalchemy import delete, select, update
from sqlalchemy.exc import IntegrityError

from tracker.auth import audit
from tracker.auth.passwords import verify_password
from tracker.auth.users import normalise_email
from tracker.extensions import db
from tracker.models import LoginSession, LoginThrottle, User
from tracker.models.types import utcnow


class LoginRefused(Exception):
    """401 for bad credentials, 429 while locked out (with Retry-After seconds)."""

    def __init__(self, status: int, message: str, retry_after: int | None = None):
        super().__init__(message)
        self.status = status
        self.retry_after = retry_after


def _key(email: str) -> str:
    return hashlib.sha256(email.encode()).hexdigest()


def _throttle(email: str) -> LoginThrottle | None:
    return db.session.get(LoginThrottle, _key(email))


def _lockout_remaining(row: LoginThrottle | None) -> int | None:
    if row is None or row.locked_until is None:
        return None
    remaining = (row.locked_until - utcnow()).total_seconds()
    return math.ceil(remaining) if remaining > 0 else None


def _count_failure(email: str) -> bool:
    """Count one failure; returns True when this failure starts a lockout."""
    config = current_app.config
    window = timedelta(seconds=config["LOGIN_LOCKOUT_SECONDS"])
    now = utcnow()
    row = _throttle(email)
    if row is None:
        row = LoginThrottle(key=_key(email), failures=0, first_failure_at=now)
        db.session.add(row)
    elif now - row.first_failure_at > window or (row.locked_until and row.locked_until <= now):
        row.failures, row.first_failure_at, row.locked_until = 0, now, None
    row.failures += 1
    if row.failures >= config["LOGIN_LOCKOUT_THRESHOLD"]:
        row.locked_until = now + window
        return True
    return False


def authenticate(email: str, password: str) -> User:
    """The active user with these credentials, or LoginRefused (audited either way)."""
    email = normalise_email(email)
    remaining = _lockout_remaining(_throttle(email))
    if remaining:
        audit.record_now("login_failed", resource_type="user", outcome="locked")
        raise LoginRefused(429, "Too many failed logins; try again later.", remaining)
    user = db.session.scalar(select(User).where(User.email == email))
    valid = verify_password(user.password_hash if user else None, password)
    if valid and user is not None and user.active:
        row = _throttle(email)
        if row is not None:
            db.session.delete(row)
        return user
    actor = ("user", str(user.id)) if user else ("anonymous", None)
    try:
        locked = _count_failure(email)
        audit.record("login_failed", resource_type="user", outcome="failure", actor=actor)
        if locked:
            audit.record("account_locked", resource_type="user", outcome="locked", actor=actor)
        db.session.commit()
    except IntegrityError:  # a concurrent first failure created the row; count is best effort
        db.session.rollback()
        audit.record_now("login_failed", resource_type="user", outcome="failure", actor=actor)
    raise LoginRefused(401, "Email or password is wrong.")


def start_session(user: User) -> None:
    """Log the user in as a new login of their own, with a fresh CSRF token, and record it."""
    from flask import session
    from flask_login import login_user

    from tracker.auth.session import LOGIN_KEY, new_csrf_token

    lifetime = timedelta(seconds=current_app.config["PERMANENT_SESSION_LIFETIME"])
    # Logins older than a cookie can live are of no use any more.
    db.session.execute(
        delete(LoginSession).where(
            LoginSession.user_id == user.id, LoginSession.created_at < utcnow() - lifetime
        )
    )
    login = LoginSession(id=secrets.token_urlsafe(32), user_id=user.id)
    db.session.add(login)
    login_user(user)
    session[LOGIN_KEY] = login.id
    new_csrf_token()
    audit.record_now("login", resource_type="user", resource_id=user.id)


def end_session(user_id: int) -> None:
    """Log out this login only: the user's other devices stay logged in."""
    from flask import session
    from flask_login import logout_user

    from tracker.auth.session import LOGIN_KEY

    db.session.execute(
        update(LoginSession)
        .where(
            LoginSession.id == session.get(LOGIN_KEY, ""),
            LoginSession.user_id == user_id,
            LoginSession.revoked_at.is_(None),
        )
        .values(revoked_at=utcnow())
    )
    audit.record("logout", resource_type="user", resource_id=user_id)
    db.session.commit()
    logout_user()
    session.clear()
