"""`tracker check`: reachability, schema at head, and stored totals that recompute."""

from __future__ import annotations

import flask_migrate
from sqlalchemy import text

from tests.conftest import MIGRATIONS
from tests.helpers import submit, submit_total
from tracker.check import run_check
from tracker.extensions import db


def test_check_passes_then_finds_a_wrong_total(world):
    api = world.as_clinician_a()
    submit(api, world.patient_1)
    wrong = submit_total(api, world.patient_1, "gad7", 9, "2026-03-02T09:00:00+00:00")
    with world.app.app_context():
        report = run_check()
        assert report.ok and report.responses_checked == 2 and report.mismatches == []
        with db.engine.begin() as conn:  # a scoring bug of the past, simulated
            conn.execute(
                text("UPDATE response SET total = 10 WHERE id = :id"), {"id": int(wrong["id"])}
            )
        report = run_check()
        assert not report.ok and report.mismatches == [int(wrong["id"])]
    result = world.app.test_cli_runner().invoke(args=["tracker", "check"])
    assert result.exit_code == 1
    assert f"{wrong['id']}" in result.output and "answers" not in result.output


def test_check_reports_a_schema_behind_head(app):
    with app.app_context():
        flask_migrate.downgrade(directory=MIGRATIONS, revision="-1")
        report = run_check()
        assert report.reachable and report.revision != report.head and not report.ok
        flask_migrate.upgrade(directory=MIGRATIONS)
        db.engine.dispose()


def _check_output(url: str) -> tuple[int, str]:
    from tests.conftest import make_app

    result = make_app(url).test_cli_runner().invoke(args=["tracker", "check"])
    return result.exit_code, result.output


def test_unreachable_database_is_a_line_and_a_hint_not_a_traceback():
    code, output = _check_output("postgresql+psycopg://someone:secret-pw@127.0.0.1:1/nowhere")
    assert code == 1
    assert output.startswith("database reachable: no (")
    assert "Connection refused" in output or "connection" in output.lower()
    assert "hint: check DATABASE_URL" in output
    assert "Traceback" not in output and "secret-pw" not in output


def test_empty_database_is_told_to_run_the_migrations(tmp_path):
    code, output = _check_output(f"sqlite:///{tmp_path}/empty.db")
    assert code == 1
    assert "database reachable: yes" in output
    assert "schema revision: none (empty database)" in output
    assert "hint: run: flask --app wsgi db upgrade" in output
