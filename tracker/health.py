"""Liveness and readiness for load balancers and orchestrators: cheap, public, never audited.

``/healthz`` answers while the process can serve a request at all (no database).
``/readyz`` answers 200 only when this instance can do useful work: the database
answers and its schema is at the migration head this code expects (or at a later
release's, which stays compatible for one release), and Redis
answers when ``REDIS_URL`` is set. Neither says anything about patients.
"""

from __future__ import annotations

from functools import cache
from pathlib import Path

from alembic.script import ScriptDirectory
from flask import Blueprint, current_app, jsonify
from sqlalchemy import text
from sqlalchemy.exc import SQLAlchemyError

from tracker.extensions import db, limiter

bp = Blueprint("health", __name__)
MIGRATIONS = Path(__file__).resolve().parent.parent / "migrations"


@cache
def expected_heads() -> frozenset[str]:
    """The migration heads of this code (read once per process)."""
    return frozenset(ScriptDirectory(str(MIGRATIONS)).get_heads())


@cache
def known_revisions() -> frozenset[str]:
    """Every migration this code knows; a database revision outside them is a later one."""
    return frozenset(r.revision for r in ScriptDirectory(str(MIGRATIONS)).walk_revisions())


def _database_problem() -> str | None:
    try:
        versions = set(db.session.scalars(text("SELECT version_num FROM alembic_version")))
    except SQLAlchemyError:
        db.session.rollback()
        return "database unreachable"
    finally:
        db.session.remove()
    # Ahead is fine: during a rolling deploy the next release has migrated, and its
    # migrations stay compatible with this release (docs/deploy.md). Behind is not.
    if versions != expected_heads() and (not versions or versions & known_revisions()):
        return "database schema is not at this release's migration head"
    return None


def _redis_problem() -> str | None:
    url = current_app.config.get("REDIS_URL")
    if not url:
        return None
    import redis

    try:
        client = redis.Redis.from_url(url, socket_connect_timeout=1, socket_timeout=1)
        client.ping()
        client.close()
    except redis.RedisError:
        return "redis unreachable"
    return None


def _answer(code: int, **body: object):  # type: ignore[no-untyped-def]
    response = jsonify(body)
    response.status_code = code
    response.headers["Cache-Control"] = "no-store"
    if code == 503:
        response.headers["Retry-After"] = "5"
    return response


@bp.get("/healthz")
@limiter.exempt
def healthz():  # type: ignore[no-untyped-def]
    """The process is alive and serving; says nothing about its dependencies."""
    return _answer(200, status="ok")


@bp.get("/readyz")
@limiter.exempt
def readyz():  # type: ignore[no-untyped-def]
    """Ready for traffic: the database at the expected schema, Redis when configured."""
    problems = [p for p in (_database_problem(), _redis_problem()) if p]
    if problems:
        return _answer(503, status="unavailable", problems=problems)
    return _answer(200, status="ready")
