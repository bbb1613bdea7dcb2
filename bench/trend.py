"""Trend endpoint latency for a heavy patient, against a raw SQL fetch of the same rows.

One patient with 1,000 PHQ-9 responses and 20 treatment series is added to the
synthetic clinic through the real submission service, then
``GET /api/v1/patients/{id}/trends/phq9`` (and the ``.svg`` chart) is timed
in-process with the Flask test client, logged in as the patient's clinician,
in rounds interleaved with the baseline.
The baseline, in the same process and on the same engine, is a raw DBAPI fetch
of the rows the endpoint reads (its points query and its series query): the
ratio is what the app adds on top of the database (auth, the audit write,
analysis, serialisation).

    .venv/bin/python bench/trend.py --backend sqlite
"""

from __future__ import annotations

import gc
import math
from collections.abc import Callable
from datetime import timedelta
from typing import Any

import common
from sqlalchemy import func, select

from tracker.extensions import db
from tracker.models import CareTeamMember, Patient, TreatmentSeries, TreatmentSession, User
from tracker.models.types import utcnow
from tracker.services.responses import Submission, submit
from tracker.synth import SYNTH_PASSWORD, clinician_emails

RESPONSES = 1000
SERIES = 20
ROUNDS = 5
KINDS = (("Ketamine induction", "induction", 12), ("Maintenance", "maintenance", 30))


def answers_for(total: int) -> list[int]:
    """PHQ-9 answers summing to ``total`` with item 9 at 0 (no alert on every row)."""
    answers = [0] * 9
    for i in range(total):
        answers[i % 8] += 1
    return answers


def add_heavy_patient(end_days_ago: int = 1) -> tuple[int, str]:
    """A patient with RESPONSES daily PHQ-9 scores and SERIES series; returns (id, clinician)."""
    email = clinician_emails()[0]
    clinician = db.session.scalar(select(User).where(User.email == email))
    patient = Patient(display_name="Bench trend patient")
    db.session.add(patient)
    db.session.flush()
    db.session.add(CareTeamMember(patient_id=patient.id, user_id=clinician.id))
    start = (utcnow() - timedelta(days=RESPONSES + end_days_ago)).replace(
        hour=8, minute=0, second=0, microsecond=0
    )
    periods = []
    for i in range(SERIES):
        label, kind, days = KINDS[i % 2]
        began = start + timedelta(days=20 + i * (RESPONSES - 40) / SERIES)
        series = TreatmentSeries(
            patient_id=patient.id,
            label=f"{label} {i + 1}",
            kind=kind,
            started_at=began,
            ended_at=began + timedelta(days=days),
            created_by=clinician.id,
            sessions=[
                TreatmentSession(administered_at=began + timedelta(days=d, hours=1), dose_mg=35)
                for d in range(0, days, 3)
            ],
        )
        db.session.add(series)
        periods.append(series)
    db.session.commit()
    for day in range(RESPONSES):
        when = start + timedelta(days=day, hours=1)
        # Falls after each series starts, drifts back up before the next one.
        phase = (day - 20) % ((RESPONSES - 40) / SERIES) / ((RESPONSES - 40) / SERIES)
        total = max(0, min(24, round(6 + 14 * phase + 2 * math.sin(day))))
        within = next(
            (s.id for s in periods if s.started_at <= when <= s.ended_at),
            None,
        )
        submit(Submission(patient.id, "phq9", answers_for(total), when, within), clinician)
    return patient.id, email


def raw_fetch(patient_id: int) -> tuple[Callable[[], int], Any]:
    """The endpoint's two queries, as plain SQL on a DBAPI connection of the same engine."""
    connection = db.engine.raw_connection()
    mark = "?" if db.engine.dialect.paramstyle == "qmark" else "%s"
    points = (
        "SELECT id, completed_at, total, severity, series_id FROM response"
        f" WHERE patient_id = {mark} AND instrument = {mark} AND status = 'final'"
        " ORDER BY completed_at, id"
    )
    series = f"SELECT * FROM treatment_series WHERE patient_id = {mark} ORDER BY started_at, id"

    def fetch() -> int:
        cursor = connection.cursor()
        cursor.execute(points, (patient_id, "phq9"))
        rows = cursor.fetchall()
        cursor.execute(series, (patient_id,))
        rows += cursor.fetchall()
        cursor.close()
        connection.commit()  # end the read transaction, as the request's commit does
        return len(rows)

    return fetch, connection


def main() -> None:
    args = common.arguments(
        __doc__.splitlines()[0],
        patients={"type": int, "default": 10000, "help": "size of the synthetic clinic"},
        runs={"type": int, "default": 200},
    )
    with (
        common.backend_server(args.backend) as server,
        common.dataset(args.backend, server, args.patients, args.seed) as data,
    ):
        app = common.bench_app(data.url)
        with app.app_context():
            patient_id, email = add_heavy_patient()
            stored = db.session.scalar(
                select(func.count()).where(TreatmentSeries.patient_id == patient_id)
            )
        gc.freeze()  # as wsgi.py does once the app is built
        load_before = common.load()
        client, _csrf = common.login(app, email, SYNTH_PASSWORD)
        url = f"/api/v1/patients/{patient_id}/trends/phq9"
        body = client.get(url).get_json()
        assert len(body["points"]) == RESPONSES and len(body["series"]) == stored == SERIES

        def trend() -> None:
            assert client.get(url).status_code == 200

        def chart() -> None:
            assert client.get(url + ".svg").status_code == 200

        with app.app_context():
            fetch, connection = raw_fetch(patient_id)
            assert fetch() == RESPONSES + SERIES
        # Interleaved in ROUNDS rounds, so a change in the machine's load during the run
        # falls on the endpoint and on its baseline alike (the ratios are what count).
        trend_ms: list[float] = []
        chart_ms: list[float] = []
        raw_ms: list[float] = []
        for _round in range(ROUNDS):
            raw_ms += common.timed(fetch, args.runs // ROUNDS, warmup=5)
            trend_ms += common.timed(trend, args.runs // ROUNDS, warmup=5)
            chart_ms += common.timed(chart, max(5, args.runs // 4 // ROUNDS), warmup=2)
        connection.close()
        figures = {
            "patients": data.patients,
            "patient_responses": RESPONSES,
            "patient_series": SERIES,
            "trend": common.summary(trend_ms),
            "chart_svg": common.summary(chart_ms),
            "raw_sql_fetch": common.summary(raw_ms),
            "ratio_trend_p50_to_raw_p50": round(
                common.percentile(trend_ms, 50) / common.percentile(raw_ms, 50), 2
            ),
            "ratio_trend_p99_to_raw_p99": round(
                common.percentile(trend_ms, 99) / common.percentile(raw_ms, 99), 2
            ),
            "ratio_chart_p50_to_trend_p50": round(
                common.percentile(chart_ms, 50) / common.percentile(trend_ms, 50), 2
            ),
            "load_before": load_before,
            "load_after": common.load(),
            "postgresql": server.version() if server else None,
        }
        with app.app_context():
            db.session.remove()
            db.engine.dispose()
    common.write_results("trend", args.backend, figures)


if __name__ == "__main__":
    main()
