"""The SQL statements of one submission, listed and counted (and, with --profile, its profile).

Not a timing: it shows what ``POST /api/v1/patients/{id}/responses`` sends to
the database (SQLAlchemy's ``before_cursor_execute``, so BEGIN and COMMIT
issued by ``tracker/database.py`` count too), through the Flask test client on
a fresh, migrated SQLite file (or ``--url``) holding one clinician and one
patient with an earlier PHQ-9, so the previous-total lookup finds a row.

    .venv/bin/python bench/statements.py [--profile]

SORT=tottime orders the profile by own time; WIDTH=2000 prints whole statements.
"""

from __future__ import annotations

import argparse
import cProfile
import os
import pstats
import tempfile
from pathlib import Path

import common
import flask_migrate
from sqlalchemy import event

from tracker.auth.users import create_user
from tracker.extensions import db
from tracker.models import CareTeamMember, Patient

PASSWORD = "bench-statements-password"
BODY = {"instrument": "phq9", "answers": [2, 1, 3, 0, 1, 2, 1, 0, 0]}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--url", help="a database URL (default: a fresh SQLite file)")
    parser.add_argument("--profile", action="store_true", help="cProfile 200 submissions")
    args = parser.parse_args()
    url = args.url or f"sqlite:///{Path(tempfile.mkdtemp(prefix='tracker-stmts-')) / 'db'}"
    app = common.bench_app(url)
    with app.app_context():
        flask_migrate.upgrade(directory=common.MIGRATIONS)
        clinician = create_user("statements.clinician@example.test", PASSWORD, "clinician")
        patient = Patient(display_name="Synthetic Statements Patient")
        db.session.add(patient)
        db.session.flush()
        db.session.add(CareTeamMember(patient_id=patient.id, user_id=clinician.id))
        db.session.commit()
        patient_id = patient.id
    client, csrf = common.login(app, "statements.clinician@example.test", PASSWORD)
    path = f"/api/v1/patients/{patient_id}/responses"

    def post(minute: int) -> None:
        body = {**BODY, "completed_at": f"2026-03-01T09:{minute % 60:02d}:00+00:00"}
        answer = client.post(path, json=body, headers={"X-CSRF-Token": csrf})
        assert answer.status_code == 201, answer.get_json()

    post(0)  # the earlier PHQ-9
    statements: list[str] = []
    with app.app_context():
        engine = db.engine

    def seen(_conn, _cursor, statement, _params, _context, _many) -> None:  # type: ignore[no-untyped-def]
        statements.append(" ".join(statement.split())[: int(os.environ.get("WIDTH", "110"))])

    event.listen(engine, "before_cursor_execute", seen)
    post(1)
    event.remove(engine, "before_cursor_execute", seen)
    for number, statement in enumerate(statements, 1):
        print(f"{number:2d}. {statement}")
    print(f"{len(statements)} statements per submission ({engine.dialect.name})")
    if args.profile:
        profile = cProfile.Profile()
        profile.enable()
        for minute in range(2, 202):
            post(minute)
        profile.disable()
        pstats.Stats(profile).sort_stats(os.environ.get("SORT", "cumulative")).print_stats(40)


if __name__ == "__main__":
    main()
