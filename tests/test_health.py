"""/healthz and /readyz: public, cheap, never audited, honest about the database and Redis."""

from __future__ import annotations

import socket

from sqlalchemy import text

from tests.conftest import make_app
from tests.helpers import count
from tracker.extensions import db
from tracker.health import expected_heads
from tracker.models import AuditEvent


def closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]  # nothing listens once it is closed


def test_ready_at_the_migration_head_and_never_audited(app):
    client = app.test_client()
    for path, status in (("/healthz", "ok"), ("/readyz", "ready")):
        answer = client.get(path)
        assert answer.status_code == 200 and answer.json == {"status": status}
        assert answer.headers["Cache-Control"] == "no-store"
        assert "Set-Cookie" not in answer.headers
    assert count(app, AuditEvent) == 0


def _set_version(app, version: str) -> None:
    with app.app_context():
        db.session.execute(text("UPDATE alembic_version SET version_num = :v"), {"v": version})
        db.session.commit()


def test_not_ready_when_the_schema_is_behind_this_release(app):
    (head,) = expected_heads()
    _set_version(app, "0006_alert_priority")
    try:
        answer = app.test_client().get("/readyz")
    finally:
        _set_version(app, head)  # the PostgreSQL database outlives this test
    assert answer.status_code == 503
    assert answer.headers["Retry-After"] == "5"
    assert answer.json["problems"] == ["database schema is not at this release's migration head"]
    assert app.test_client().get("/healthz").status_code == 200


def test_still_ready_when_the_next_release_has_migrated(app):
    """A rolling deploy: the release step ran the next release's migration while this
    release's instances still serve; they stay in rotation (docs/deploy.md)."""
    (head,) = expected_heads()
    _set_version(app, "0099_next_release")
    try:
        answer = app.test_client().get("/readyz")
    finally:
        _set_version(app, head)
    assert answer.status_code == 200 and answer.json == {"status": "ready"}


def test_alive_but_not_ready_without_a_database(tmp_path):
    app = make_app(f"sqlite:///{tmp_path}/missing/none.db")
    client = app.test_client()
    assert client.get("/healthz").status_code == 200
    answer = client.get("/readyz")
    assert answer.status_code == 503 and answer.json["problems"] == ["database unreachable"]


def test_not_ready_when_the_configured_redis_does_not_answer(database_url):
    app = make_app(database_url, REDIS_URL=f"redis://127.0.0.1:{closed_port()}/0")
    answer = app.test_client().get("/readyz")
    assert answer.status_code == 503 and answer.json["problems"] == ["redis unreachable"]
