"""Migrations are the only way the schema changes: they must round-trip and match the models."""

from __future__ import annotations

import json

import flask_migrate
import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import inspect
from sqlalchemy.exc import IntegrityError

from tests.conftest import MIGRATIONS
from tracker.extensions import db


def test_models_and_migrations_agree(app):
    with app.app_context(), db.engine.connect() as connection:
        context = MigrationContext.configure(connection, opts={"compare_type": True})
        assert compare_metadata(context, db.metadata) == []


def test_downgrade_to_base_and_upgrade_again(app):
    with app.app_context():
        flask_migrate.downgrade(directory=MIGRATIONS, revision="base")
        assert set(inspect(db.engine).get_table_names()) <= {"alembic_version"}
        flask_migrate.upgrade(directory=MIGRATIONS)
        tables = set(inspect(db.engine).get_table_names())
        assert {"user", "patient", "response", "alert", "audit_event", "care_team"} <= tables
        db.engine.dispose()


def test_upgrade_keeps_existing_rows_and_builds_chains(app):
    """Upgrading a database that holds data: referenced tables are rebuilt on SQLite."""
    from sqlalchemy import text

    with app.app_context():
        flask_migrate.downgrade(directory=MIGRATIONS, revision="0001_foundation")
        with db.engine.begin() as conn:
            conn.execute(
                text(
                    "INSERT INTO patient (id, display_name, created_at, updated_at)"
                    " VALUES (1, 'Synthetic', '2026-01-01 00:00:00+00', '2026-01-01 00:00:00+00')"
                )
            )
            for row_id, status, supersedes in (
                (1, "amended", None),
                (2, "amended", 1),
                (3, "final", 2),
            ):
                conn.execute(
                    text(
                        "INSERT INTO response (id, patient_id, instrument, instrument_version,"
                        " answers, total, prorated, severity, subscales, flags, screen_positive,"
                        " completed_at, recorded_at, source, status, supersedes_id)"
                        " VALUES (:id, 1, 'phq9', '1', '[1,1,1,1,1,1,1,1,1]', 9, false, 'mild',"
                        " '{}', '[\"suicidal_ideation\"]', false, '2026-01-02 00:00:00+00',"
                        " '2026-01-02 00:00:00+00', 'patient', :status, :supersedes)"
                    ),
                    {"id": row_id, "status": status, "supersedes": supersedes},
                )
            conn.execute(
                text(
                    "INSERT INTO alert (id, patient_id, response_id, kind, status, created_at)"
                    " VALUES (1, 1, 1, 'suicidal_ideation', 'open', '2026-01-02 00:00:00+00')"
                )
            )
        flask_migrate.upgrade(directory=MIGRATIONS)
        with db.engine.connect() as conn:
            rows = conn.execute(
                text("SELECT id, chain_id, version FROM response ORDER BY id")
            ).all()
            alerts = conn.execute(text("SELECT response_id FROM alert")).scalars().all()
        assert [tuple(r) for r in rows] == [(1, 1, 1), (2, 1, 2), (3, 1, 3)]
        assert alerts == [1]
        db.engine.dispose()


def test_alert_priority_is_filled_from_stored_answers_and_removed_on_downgrade(app):
    """0006 fills alert.priority: item 9 >= 2 high, 1 routine; deterioration routine."""
    from sqlalchemy import text

    with app.app_context():
        flask_migrate.downgrade(directory=MIGRATIONS, revision="0005_login_sessions")
        with db.engine.begin() as conn:
            conn.execute(
                text(
                    "INSERT INTO patient (id, display_name, created_at, updated_at)"
                    " VALUES (1, 'Synthetic', '2026-01-01 00:00:00+00', '2026-01-01 00:00:00+00')"
                )
            )
            for row_id, answers, total in (
                (1, [1, 1, 1, 1, 1, 1, 1, 1, 2], 10),  # item 9 = 2: high
                (2, [1, 1, 1, 1, 1, 1, 1, 1, 1], 9),  # item 9 = 1: routine
                (3, [3, 3, 3, 3, 3, 2, 0, 0, 0], 17),  # reliable deterioration: routine
            ):
                conn.execute(
                    text(
                        "INSERT INTO response (id, patient_id, instrument, instrument_version,"
                        " answers, total, prorated, severity, subscales, flags, screen_positive,"
                        " completed_at, recorded_at, updated_at, source, status, chain_id, version)"
                        " VALUES (:id, 1, 'phq9', '1', :answers, :total, false, 'moderate',"
                        " '{}', '[]', false, '2026-01-02 00:00:00+00', '2026-01-02 00:00:00+00',"
                        " '2026-01-02 00:00:00+00', 'patient', 'final', :id, 1)"
                    ),
                    {"id": row_id, "answers": json.dumps(answers), "total": total},
                )
            for alert_id, response_id, kind in (
                (1, 1, "suicidal_ideation"),
                (2, 2, "suicidal_ideation"),
                (3, 3, "reliable_deterioration"),
            ):
                conn.execute(
                    text(
                        "INSERT INTO alert (id, patient_id, response_id, kind, status, created_at)"
                        " VALUES (:id, 1, :response, :kind, 'open', '2026-01-02 00:00:00+00')"
                    ),
                    {"id": alert_id, "response": response_id, "kind": kind},
                )
        flask_migrate.upgrade(directory=MIGRATIONS)
        with db.engine.connect() as conn:
            rows = conn.execute(text("SELECT id, priority FROM alert ORDER BY id")).all()
        assert [tuple(r) for r in rows] == [(1, "high"), (2, "routine"), (3, "routine")]
        columns = {c["name"]: c for c in inspect(db.engine).get_columns("alert")}
        assert columns["priority"]["nullable"] is False
        with db.engine.connect() as conn, pytest.raises(IntegrityError):
            conn.execute(text("UPDATE alert SET priority = 'urgent' WHERE id = 1"))

        flask_migrate.downgrade(directory=MIGRATIONS, revision="0005_login_sessions")
        assert "priority" not in {c["name"] for c in inspect(db.engine).get_columns("alert")}
        with db.engine.connect() as conn:
            kept = conn.execute(text("SELECT id, response_id, kind FROM alert ORDER BY id")).all()
        assert [tuple(r) for r in kept] == [
            (1, 1, "suicidal_ideation"),
            (2, 2, "suicidal_ideation"),
            (3, 3, "reliable_deterioration"),
        ]
        flask_migrate.upgrade(directory=MIGRATIONS)
        db.engine.dispose()
