"""Treatment series and their sessions: start, change or end a series, log a session.

The rules live here once for the API and the pages: a series does not end
before it starts, and every session falls inside its series. Changing a
series locks its row and honours the version the caller read (If-Match in
the API, a hidden field on the page), so two clinicians ending the same
series at once cannot overwrite each other unseen.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import func, select

from tracker.auth import audit
from tracker.extensions import db
from tracker.models import Patient, TreatmentSeries, TreatmentSession, User
from tracker.models.types import utcnow
from tracker.services import plans
from tracker.services.errors import Invalid, Stale

CHANGEABLE = frozenset({"label", "kind", "started_at", "ended_at", "notes", "plan_id"})


def etag(series: TreatmentSeries) -> str:
    """A strong validator of the last change, for If-Match (no lost updates)."""
    return f'"{round(series.updated_at.timestamp() * 1_000_000)}"'


def _matches(series: TreatmentSeries, if_match: str | None) -> bool:
    if not if_match or if_match.strip() == "*":
        return True
    return etag(series) in (tag.strip() for tag in if_match.split(","))


def bounds_errors(
    started: datetime | None, ended: datetime | None, field: str = "ended_at"
) -> dict[str, list[str]]:
    """The end-before-start rule as field errors, for forms that list every problem at once."""
    if started is not None and ended is not None and ended < started:
        return {field: ["The end must not be before the start."]}
    return {}


def _check_bounds(started: datetime, ended: datetime | None, field: str) -> None:
    errors = bounds_errors(started, ended, field)
    if errors:
        raise Invalid(errors)


def _sessions_outside(series_id: int, started: datetime, ended: datetime | None) -> bool:
    first, last = db.session.execute(
        select(
            func.min(TreatmentSession.administered_at), func.max(TreatmentSession.administered_at)
        ).where(TreatmentSession.series_id == series_id)
    ).one()
    if first is None:
        return False
    return first < started or (ended is not None and last > ended)


def _locked(series_id: int) -> TreatmentSeries:
    """The series row, locked until commit (PostgreSQL; SQLite requests hold the write lock)."""
    return db.session.scalars(
        select(TreatmentSeries)
        .where(TreatmentSeries.id == series_id)
        .with_for_update()
        .execution_options(populate_existing=True)
    ).one()


def start(
    actor: User,
    patient: Patient,
    *,
    label: str,
    started_at: datetime,
    kind: str = "other",
    ended_at: datetime | None = None,
    notes: str | None = None,
    plan_id: int | None = None,
) -> TreatmentSeries:
    """Start a series (or record a past one, with its end), optionally on a measurement plan."""
    _check_bounds(started_at, ended_at, "ended_at")
    plans.usable(plan_id)
    series = TreatmentSeries(
        patient_id=patient.id,
        created_by=actor.id,
        label=label,
        kind=kind,
        started_at=started_at,
        ended_at=ended_at,
        notes=notes,
        plan_id=plan_id,
    )
    db.session.add(series)
    db.session.flush()
    audit.record("create", "series", series.id, patient.id)
    db.session.commit()
    return series


def change(series: TreatmentSeries, changes: dict, if_match: str | None = None) -> TreatmentSeries:
    """Change a series, typically ``{"ended_at": …}`` to end it (None reopens it).

    ``if_match``: the etag(s) the caller read; Stale if the series changed since.
    """
    unknown = set(changes) - CHANGEABLE
    if unknown:
        raise Invalid({name: ["Unknown field."] for name in sorted(unknown)})
    series = _locked(series.id)
    if not _matches(series, if_match):
        raise Stale("The series changed since you read it; reload it and try again.")
    started = changes.get("started_at", series.started_at)
    ended = changes.get("ended_at", series.ended_at)
    field = "ended_at" if "ended_at" in changes else "started_at"
    _check_bounds(started, ended, field)
    if _sessions_outside(series.id, started, ended):
        raise Invalid({field: ["A session of this series would fall outside it."]})
    if "plan_id" in changes and changes["plan_id"] != series.plan_id:
        plans.usable(changes["plan_id"])  # keeping a plan that was since retired is fine
    for name, value in changes.items():
        setattr(series, name, value)
    series.updated_at = utcnow()
    audit.record("update", "series", series.id, series.patient_id)
    db.session.commit()
    return series


def log_session(
    actor: User,
    series: TreatmentSeries,
    *,
    administered_at: datetime,
    dose_mg: float | None = None,
    notes: str | None = None,
) -> TreatmentSession:
    """Log one infusion or visit; it must fall inside the series (checked under the lock)."""
    series = _locked(series.id)
    if administered_at < series.started_at or (
        series.ended_at is not None and administered_at > series.ended_at
    ):
        raise Invalid(
            {"administered_at": ["The session must fall between the series' start and end."]}
        )
    session = TreatmentSession(
        series_id=series.id,
        created_by=actor.id,
        administered_at=administered_at,
        dose_mg=dose_mg,
        notes=notes,
    )
    db.session.add(session)
    db.session.flush()
    audit.record("create", "session", session.id, series.patient_id)
    db.session.commit()
    return session
