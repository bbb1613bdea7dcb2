"""Who may open a page: anonymous visitors go to /login, roles are checked by access.py.

Flask-Login's own ``login_required`` answers 401 problem+json (right for the
API, wrong for a browser), hence this small decorator. Role refusals reuse
:func:`tracker.auth.access.require_role` so they are audited like the API's.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import wraps
from typing import Any, TypeVar

from flask import abort, redirect, request, url_for
from flask_login import current_user

from tracker.auth import access

View = TypeVar("View", bound=Callable[..., Any])

CLINIC_ROLES = ("clinician", "admin")


def home_for(user: Any) -> str:
    """Where a user lands after login or on "/": patients and staff have separate areas."""
    return url_for("web.patient_home" if user.role == "patient" else "web.clinic_patients")


def safe_next(target: str | None) -> str | None:
    """A same-site path to return to after login, or None (no open redirects)."""
    if not target or not target.startswith("/") or target.startswith("//"):
        return None
    if "\\" in target or any(ord(c) < 32 for c in target):
        return None
    return target


def page(*roles: str) -> Callable[[View], View]:
    """Require a logged-in user with one of ``roles`` (any role when none is given)."""

    def decorate(view: View) -> View:
        @wraps(view)
        def wrapped(*args: Any, **kwargs: Any) -> Any:
            if not current_user.is_authenticated:
                return redirect(url_for("web.login", next=request.full_path.rstrip("?")))
            if getattr(current_user, "is_client", False):
                abort(403)  # an EHR bearer token has no business on the pages
            if roles:
                access.require_role(*roles)
            if current_user.role == "patient" and current_user.patient_id is None:
                abort(403)  # a patient login must be linked to its record
            return view(*args, **kwargs)

        return wrapped  # type: ignore[return-value]

    return decorate


patient_page = page("patient")
clinic_page = page(*CLINIC_ROLES)
