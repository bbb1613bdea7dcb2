"""Log in, log out and "/" for browsers: the same rules as /api/v1/auth/login and logout.

Credentials are checked by :func:`tracker.auth.login.authenticate`, shared with
the JSON API (one message for an unknown email and a wrong password, lockout,
audit). The global CSRF check only covers logged-in users, so the login form
checks its own token: GET puts one in the session, POST must echo it (login
CSRF would otherwise let another site log a browser into its own account).
"""

from __future__ import annotations

import hmac

from flask import current_app, redirect, render_template, request, session, url_for
from flask_login import current_user
from werkzeug.wrappers import Response as HttpResponse

from tracker.auth import audit
from tracker.auth.login import LoginRefused, authenticate, end_session, start_session
from tracker.auth.session import CSRF_REFUSED, csrf_token
from tracker.extensions import limiter
from tracker.problems import fail
from tracker.web import bp
from tracker.web.guards import home_for, page, safe_next


def _logged_in() -> bool:
    return current_user.is_authenticated and not getattr(current_user, "is_client", False)


@bp.get("/")
def index() -> HttpResponse:
    """Send each visitor to their own area."""
    return redirect(home_for(current_user) if _logged_in() else url_for("web.login"))


@bp.get("/login")
def login() -> HttpResponse | str:
    target = safe_next(request.args.get("next"))
    if _logged_in():
        return redirect(target or home_for(current_user))
    csrf_token()  # the login form's token lives in the (anonymous) session
    return render_template("web/login.html", next=target, errors={}, email="")


def _check_login_csrf() -> None:
    sent = request.form.get("csrf_token", "")
    expected = session.get("csrf_token", "")
    if not expected or not hmac.compare_digest(sent.encode(), expected.encode()):
        audit.record_now("access_denied", outcome="csrf")
        fail(403, "The login form had expired.", reason=CSRF_REFUSED)


Refusal = tuple[str, int, dict[str, str]]


def _refused(
    email: str, target: str | None, errors: dict, status: int, headers: dict | None = None
) -> Refusal:
    """The form again, with the reason; the typed email is kept, never the password."""
    page_html = render_template("web/login.html", next=target, errors=errors, email=email)
    return page_html, status, headers or {}


@bp.post("/login")
@limiter.limit(lambda: current_app.config["LOGIN_RATE_LIMIT"])
def login_submit() -> HttpResponse | Refusal:
    """Start a session; a refusal re-renders the form with the reason (never which part)."""
    _check_login_csrf()
    email = (request.form.get("email") or "").strip()
    password = request.form.get("password") or ""
    target = safe_next(request.form.get("next"))
    errors: dict[str, str] = {}
    if not email or len(email) > 254:
        errors["email"] = "Enter your email address."
    if not password or len(password) > 1024:
        errors["password"] = "Enter your password."
    if errors:
        return _refused(email, target, errors, 422)
    try:
        user = authenticate(email, password)
    except LoginRefused as refused:
        headers = {"Retry-After": str(refused.retry_after)} if refused.retry_after else None
        return _refused(email, target, {"form": str(refused)}, refused.status, headers)
    start_session(user)
    return redirect(target or home_for(user), code=303)


@bp.post("/logout")
@page()
def logout() -> HttpResponse:
    """End this login (as the API's logout does); the user's other devices stay logged in."""
    end_session(current_user.id)
    return redirect(url_for("web.login"), code=303)
