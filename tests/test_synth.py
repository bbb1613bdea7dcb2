"""tracker synth: bulk-written synthetic patients must be what submissions would have written.

Small N on both databases: counts match the plans, every stored score is what
the scoring core says about the stored answers, every row is the first
version of its own chain, the alerts are the service's, the app can read the
data, PostgreSQL's id sequences were moved past the written ids, and the same
seed gives the same data in a fresh database however the run is chunked.
"""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import psycopg
import pytest
from flask import Flask
from sqlalchemy import func, select

from tests.conftest import make_app, migrate_to_head
from tests.helpers import login
from tracker import instruments
from tracker.analysis.change import deterioration
from tracker.extensions import db
from tracker.models import (
    Alert,
    CareTeamMember,
    Patient,
    PatientIdentifier,
    Response,
    TreatmentSeries,
    TreatmentSession,
    User,
)
from tracker.services.responses import Submission, submit
from tracker.synth import (
    SYNTH_MRN_SYSTEM,
    SYNTH_PASSWORD,
    clinician_emails,
    generate,
    plan_patient,
)

END = datetime(2026, 6, 1, tzinfo=UTC)
PATIENTS = 20
SEED = 7


def _count(model: type, *where: object) -> int:
    return db.session.scalar(select(func.count()).select_from(model).where(*where))


def _snapshot() -> list[tuple]:
    """Everything a run decides, by patient number; ids left out (they depend on the DB)."""
    rows = db.session.execute(
        select(
            Patient.display_name,
            Response.instrument,
            Response.completed_at,
            Response.recorded_at,
            Response.answers,
            Response.difficulty,
            Response.total,
            Response.severity,
            Response.flags,
            TreatmentSeries.label,
        )
        .join(Patient, Patient.id == Response.patient_id)
        .outerjoin(TreatmentSeries, TreatmentSeries.id == Response.series_id)
        .order_by(Patient.display_name, Response.completed_at, Response.id)
    )
    return [tuple(row) for row in rows]


@pytest.fixture
def twin_url(backend: str, request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """A second fresh, migrated database on the same backend."""
    if backend == "sqlite":
        path = tmp_path / "twin.db"
        shutil.copyfile(request.getfixturevalue("sqlite_template"), path)
        yield f"sqlite:///{path}"
        return
    request.getfixturevalue("postgres_url")  # the server is up (or the test skips like the rest)
    proc = request.getfixturevalue("postgresql_proc")
    admin = f"host={proc.host} port={proc.port} user={proc.user} dbname=postgres"
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute("DROP DATABASE IF EXISTS tracker_synth_twin")
        conn.execute("CREATE DATABASE tracker_synth_twin")
    url = f"postgresql+psycopg://{proc.user}@{proc.host}:{proc.port}/tracker_synth_twin"
    migrate_to_head(url)
    yield url
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute("DROP DATABASE IF EXISTS tracker_synth_twin")


def test_synth_writes_what_submissions_would(app: Flask) -> None:
    with app.app_context():
        stats = generate(PATIENTS, seed=SEED, end=END)
        plans = [plan_patient(SEED, number, END) for number in range(1, PATIENTS + 1)]

        # Counts: what the plans say, and what the run reported.
        assert stats.patients == PATIENTS == _count(Patient)
        assert stats.responses == _count(Response) == sum(len(p.responses) for p in plans)
        assert stats.series == _count(TreatmentSeries) == sum(len(p.series) for p in plans)
        assert stats.sessions == _count(TreatmentSession)
        assert stats.sessions == sum(len(s.sessions) for p in plans for s in p.series)
        assert stats.alerts == _count(Alert)
        assert stats.responses > PATIENTS * 10
        mrns = db.session.scalars(
            select(PatientIdentifier.value).where(PatientIdentifier.system == SYNTH_MRN_SYSTEM)
        ).all()
        assert sorted(mrns) == [f"SYN-{n:06d}" for n in range(1, PATIENTS + 1)]
        clinicians = db.session.scalars(select(User).where(User.email.in_(clinician_emails())))
        clinician_ids = {u.id for u in clinicians if u.role == "clinician"}
        assert len(clinician_ids) == len(clinician_emails())
        team = db.session.execute(select(CareTeamMember.patient_id, CareTeamMember.user_id)).all()
        assert len(team) == PATIENTS and {user for _, user in team} <= clinician_ids
        per_patient = db.session.execute(
            select(func.count()).select_from(TreatmentSeries).group_by(TreatmentSeries.patient_id)
        ).scalars()
        assert all(1 <= n <= 4 for n in per_patient)

        # Every row: scored by the core, the first version of its own chain.
        series = {s.id: s for s in db.session.scalars(select(TreatmentSeries))}
        rows = list(db.session.scalars(select(Response).order_by(Response.id)))
        for row in rows:
            result = instruments.score(instruments.get(row.instrument), row.answers)
            assert row.total == result.total
            assert row.severity == result.severity.code
            assert row.flags == list(result.flags)
            assert row.subscales == dict(result.subscales)
            assert row.prorated == result.prorated
            assert row.screen_positive == result.screen_positive
            assert row.provisional_diagnosis == result.provisional_diagnosis
            assert row.chain_id == row.id and row.version == 1 and row.status == "final"
            assert row.updated_at == row.recorded_at >= row.completed_at
            assert row.completed_at < END and row.recorded_at <= END
            if row.series_id is not None:
                s = series[row.series_id]
                assert s.patient_id == row.patient_id and s.started_at <= row.completed_at
                assert s.ended_at is None or row.completed_at <= s.ended_at

        # Alerts: exactly those services.responses._raise_alerts would have opened.
        # Deterioration: on the previous score, or on the baseline (the latest score in
        # [start - 30 days, start]) of a series ongoing or ended at most 30 days before.
        window = timedelta(days=30)
        expected = set()
        previous: dict[tuple[int, str], int] = {}
        ordered = sorted(rows, key=lambda r: (r.completed_at, r.id))
        for row in ordered:
            instrument = instruments.get(row.instrument, row.instrument_version)
            # The instrument's alert rules: for PHQ-9, item 9 >= 1 opens suicidal_ideation,
            # high when item 9 >= 2.
            for kind, priority in instrument.alerts_for(row.answers, row.flags):
                expected.add((row.id, kind, priority))
            before = [previous.get((row.patient_id, row.instrument))]
            for s in series.values():
                if s.patient_id != row.patient_id or s.started_at > row.completed_at:
                    continue
                if s.ended_at is not None and s.ended_at + window < row.completed_at:
                    continue
                candidates = [
                    r
                    for r in ordered
                    if r.patient_id == row.patient_id
                    and r.instrument == row.instrument
                    and s.started_at - window <= r.completed_at <= s.started_at
                ]
                if candidates and candidates[-1].id != row.id:
                    before.append(candidates[-1].total)
            if any(b is not None and deterioration(instrument, b, row.total) for b in before):
                expected.add((row.id, "reliable_deterioration", "routine"))
            previous[(row.patient_id, row.instrument)] = row.total
        alerts = list(db.session.scalars(select(Alert)))
        assert {(a.response_id, a.kind, a.priority) for a in alerts} == expected
        assert len(alerts) == len(expected)
        assert any(kind == "suicidal_ideation" for _, kind, _ in expected)
        assert any(kind == "reliable_deterioration" for _, kind, _ in expected)
        assert all(a.status == "open" for a in alerts)
        item9 = [r for r in rows if r.instrument == "phq9" and r.answers[8] > 0]
        assert item9 and all(
            (r.id, "suicidal_ideation", "high" if r.answers[8] >= 2 else "routine") in expected
            for r in item9
        )

        # New rows after a bulk load get fresh ids (PostgreSQL: the sequences moved on).
        top = max(r.id for r in rows)
        clinician = db.session.get(User, team[0][1])
        row, created = submit(
            Submission(team[0][0], "phq9", [1] * 9, datetime.now(UTC) - timedelta(minutes=1)),
            clinician,
        )
        assert created and row.id == top + 1 and row.chain_id == row.id
        db.session.add(Patient(display_name="After the bulk load"))
        db.session.commit()

        # A second run adds patients numbered after the first ones.
        again = generate(2, seed=SEED, end=END)
        assert again.first_number == PATIENTS + 1
        assert _count(PatientIdentifier, PatientIdentifier.system == SYNTH_MRN_SYSTEM) == 22
        patient_id, clinician_id = team[0]
        clinician_email = db.session.get(User, clinician_id).email
        expected_phq9 = _count(
            Response, Response.patient_id == patient_id, Response.instrument == "phq9"
        )

    # The app reads the data: a synthetic clinician sees their patient's trend.
    api = login(app, clinician_email, SYNTH_PASSWORD)
    trend = api.get(f"/api/v1/patients/{patient_id}/trends/phq9")
    assert trend.status_code == 200, trend.json
    assert len(trend.json["points"]) == expected_phq9 and trend.json["series"]


def test_same_seed_same_data_in_a_fresh_database(app: Flask, twin_url: str) -> None:
    with app.app_context():
        generate(PATIENTS, seed=SEED, end=END)
        first = _snapshot()
    twin = make_app(twin_url)
    with twin.app_context():
        # Another chunking, with a worker process planning: the data must not change.
        stats = generate(PATIENTS, seed=SEED, end=END, chunk=7, workers=1)
        second = _snapshot()
        db.session.remove()
        db.engine.dispose()
    assert stats.patients == PATIENTS
    assert first == second and len(first) == stats.responses


def test_synth_command(app: Flask) -> None:
    result = app.test_cli_runner().invoke(
        args=["tracker", "synth", "--patients", "3", "--seed", "2", "--end", "2026-06-01"]
    )
    assert result.exit_code == 0, result.output
    assert "Added 3 synthetic patients" in result.output
    with app.app_context():
        assert _count(Patient) == 3
        assert _count(Response) > 0
