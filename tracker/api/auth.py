"""Log in, log out, and who am I."""

from __future__ import annotations

import marshmallow as ma
from flask import current_app
from flask_login import current_user, login_required

from tracker.api.blueprint import ApiBlueprint
from tracker.api.fields import Id, StrictSchema
from tracker.api.openapi import PUBLIC
from tracker.auth import access
from tracker.auth.login import LoginRefused, authenticate, end_session, start_session
from tracker.auth.session import csrf_token
from tracker.extensions import limiter
from tracker.models import User
from tracker.models.user import ROLES as USER_ROLES
from tracker.problems import documented_problems, fail

blp = ApiBlueprint("auth", __name__, url_prefix="/api/v1/auth", description="Log in and out")


class LoginSchema(StrictSchema):
    email = ma.fields.String(required=True, validate=ma.validate.Length(min=1, max=254))
    password = ma.fields.String(required=True, validate=ma.validate.Length(min=1, max=1024))


class UserSchema(ma.Schema):
    id = Id(dump_only=True)
    email = ma.fields.String()
    role = ma.fields.String()
    patient_id = Id(allow_none=True)


class MeSchema(UserSchema):
    csrf_token = ma.fields.String(
        metadata={"description": "Send as X-CSRF-Token on cookie-authenticated writes"}
    )


@blp.route("/login", methods=["POST"], endpoint="Login")
@blp.doc(security=PUBLIC)
@limiter.limit(lambda: current_app.config["LOGIN_RATE_LIMIT"])
@documented_problems(
    blp,
    400,
    413,
    415,
    422,
    503,
    notes={
        401: "Bad credentials (same answer for unknown email)",
        429: "Locked after repeated failures, or rate limited (see Retry-After)",
    },
)
@blp.arguments(LoginSchema)
@blp.response(200, UserSchema)
def login(credentials: dict) -> User:
    """Start a session. Unknown email and wrong password get the same 401; 429 when locked."""
    try:
        user = authenticate(credentials["email"], credentials["password"])
    except LoginRefused as refused:
        headers = {"Retry-After": str(refused.retry_after)} if refused.retry_after else None
        fail(refused.status, str(refused), headers=headers)
    start_session(user)
    return user


@blp.route("/logout", methods=["POST"])
@login_required
@documented_problems(blp, 401, 403, 415)
@blp.response(204)
def logout() -> None:
    """End the session."""
    access.require_role(*USER_ROLES)
    end_session(current_user.id)


@blp.route("/me", methods=["GET"])
@login_required
@documented_problems(blp, 401)
@blp.response(200, MeSchema)
def me() -> dict:
    """The logged-in user, with the CSRF token for cookie-authenticated writes."""
    access.require_role(*USER_ROLES)
    return {
        "id": current_user.id,
        "email": current_user.email,
        "role": current_user.role,
        "patient_id": current_user.patient_id,
        "csrf_token": csrf_token(),
    }
