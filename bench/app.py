"""Bench-only WSGI app: the real ``create_app()`` plus two baseline routes. Never deployed.

``bench/submission.py`` serves this module with gunicorn
(``--pythonpath bench app:app``) so the submission endpoint and its two
baselines run in the same workers, on the same database, in the same run:

- ``POST /bench/trivial``: parses nothing, returns a small JSON object. The
  floor of HTTP + gunicorn + Flask on this machine.
- ``POST /bench/insert``: parses the same JSON body as a submission and
  inserts one response row of the same size (same columns and values,
  score precomputed) in one transaction through the app's own engine and
  session (so SQLite's ``BEGIN IMMEDIATE`` for writes applies too). The floor
  of one durable write.

Neither route checks a login: they are baselines, not features. This module
is imported only by the benchmark; ``tracker`` never registers these routes.
"""

from __future__ import annotations

import functools
import os
from datetime import datetime

from flask import request
from sqlalchemy import insert

from tracker import create_app, instruments
from tracker.extensions import db
from tracker.models import Response
from tracker.models.types import utcnow

app = create_app()

PATIENT_ID = int(os.environ.get("BENCH_PATIENT_ID", "1"))
ENTERED_BY = int(os.environ.get("BENCH_USER_ID", "1"))


@functools.lru_cache(maxsize=64)
def _score(code: str, answers: tuple[int, ...]) -> instruments.ScoreResult:
    """Scoring is the real endpoint's work, not the floor's: done once per distinct body."""
    return instruments.score(instruments.get(code), list(answers))


@app.post("/bench/trivial")
def trivial() -> tuple[dict, int]:
    """The HTTP floor: a constant JSON object."""
    return {"ok": True}, 200


@app.post("/bench/insert")
def insert_one() -> tuple[dict, int]:
    """The write floor: one response-sized row, one transaction, no scoring, auth or audit."""
    body = request.get_json()
    answers = body["answers"]
    result = _score(body["instrument"], tuple(answers))
    now = utcnow()
    db.session.execute(
        insert(Response.__table__).values(
            patient_id=PATIENT_ID,
            instrument=body["instrument"],
            instrument_version="1",
            answers=answers,
            difficulty=None,
            total=result.total,
            prorated=result.prorated,
            severity=result.severity.code,
            subscales=dict(result.subscales),
            flags=list(result.flags),
            screen_positive=result.screen_positive,
            provisional_diagnosis=result.provisional_diagnosis,
            completed_at=datetime.fromisoformat(body["completed_at"]),
            recorded_at=now,
            updated_at=now,
            source="clinician",
            entered_by=ENTERED_BY,
            status="final",
            version=1,
        )
    )
    db.session.commit()
    return {"ok": True}, 201
