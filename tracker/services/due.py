"""Due questionnaires: a patient's schedule, the clinic's worklist and the reminder feed.

Computed on every read from the plans, the series and the final responses (never
stored, so an amendment or an entered-in-error mark moves an item at once), in
a fixed number of queries whatever the number of patients: series with a plan,
their plans, the final responses inside the schedules' time span.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Collection, Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import ColumnElement, Select, or_, select

from tracker.auth import access
from tracker.extensions import db
from tracker.models import Patient, Response, TreatmentSeries, User
from tracker.models.response import ResponseStatus
from tracker.models.types import utcnow
from tracker.outcomes import series_selection
from tracker.scheduling import Completion, DueItem, Occurrence, SeriesSpan
from tracker.scheduling.plans import OFFSET_DAYS, WINDOW_DAYS
from tracker.scheduling.windows import items_of, occurrences
from tracker.services import paging, plans

# A series that ended longer ago than this has no window left open (docs/api.md).
LONGEST_AFTER_END = timedelta(days=OFFSET_DAYS[1] + WINDOW_DAYS[1])
WORKLIST_DEFAULT = ("due", "missed")
CURSOR_KINDS = (datetime, int, str)


@dataclass(frozen=True)
class OpenOccurrence:
    """An occurrence open now with what is still unanswered: what a reminder is about."""

    occurrence: Occurrence
    pending: tuple[str, ...]


def _schedules(where: Iterable[ColumnElement[bool]], now: datetime) -> list[Occurrence]:
    rows = db.session.execute(
        select(
            TreatmentSeries.id,
            TreatmentSeries.patient_id,
            TreatmentSeries.started_at,
            TreatmentSeries.ended_at,
            TreatmentSeries.plan_id,
        ).where(TreatmentSeries.plan_id.is_not(None), *where)
    ).all()
    loaded = plans.load(row.plan_id for row in rows)
    found: list[Occurrence] = []
    for row in rows:
        span = SeriesSpan(row.id, row.patient_id, row.started_at, row.ended_at)
        found.extend(occurrences(loaded[row.plan_id], span, now))
    return found


def _completions(found: list[Occurrence]) -> dict[int, list[Completion]]:
    """The final responses that could complete ``found``, by patient, in one query."""
    if not found:
        return {}
    patients = sorted({o.patient_id for o in found})
    codes = sorted({code for o in found for code in o.instruments})
    earliest = min(o.opens_at for o in found)
    latest = max(o.closes_at for o in found)
    rows = db.session.execute(
        select(Response.id, Response.patient_id, Response.instrument, Response.completed_at).where(
            Response.patient_id.in_(patients),
            Response.instrument.in_(codes),
            Response.status == ResponseStatus.FINAL,
            Response.completed_at >= earliest,
            Response.completed_at <= latest,
        )
    ).all()
    by_patient: dict[int, list[Completion]] = defaultdict(list)
    for row in rows:
        by_patient[row.patient_id].append(Completion(row.id, row.instrument, row.completed_at))
    return by_patient


def _items(found: list[Occurrence], now: datetime) -> list[DueItem]:
    completions = _completions(found)
    by_patient: dict[int, list[Occurrence]] = defaultdict(list)
    for occurrence in found:
        by_patient[occurrence.patient_id].append(occurrence)
    items: list[DueItem] = []
    for patient_id, mine in by_patient.items():
        items.extend(items_of(mine, completions.get(patient_id, ()), now))
    return items


def _live_series(now: datetime) -> ColumnElement[bool]:
    recent = TreatmentSeries.ended_at >= now - LONGEST_AFTER_END
    return or_(TreatmentSeries.ended_at.is_(None), recent)


def for_patient(
    patient_id: int, statuses: Collection[str] | None = None, now: datetime | None = None
) -> list[DueItem]:
    """Every item of every planned series of one patient, by opening then instrument."""
    now = now or utcnow()
    items = _items(_schedules([TreatmentSeries.patient_id == patient_id], now), now)
    items.sort(key=lambda item: (item.opens_at, item.instrument, item.id))
    return [item for item in items if not statuses or item.status in statuses]


def for_series(series_ids: Collection[int], now: datetime | None = None) -> list[DueItem]:
    """The schedules of the given series (outcomes count their completed and missed items)."""
    now = now or utcnow()
    if not series_ids:
        return []
    return _items(_schedules([TreatmentSeries.id.in_(sorted(series_ids))], now), now)


def worklist(
    viewer: User,
    *,
    statuses: Collection[str] = WORKLIST_DEFAULT,
    patient_id: int | None = None,
    since: datetime | None = None,
    until: datetime | None = None,
    limit: int = 50,
    cursor: str | None = None,
    now: datetime | None = None,
) -> paging.Page[DueItem]:
    """The due items of every patient ``viewer`` may see, by opening, patient, id; paged."""
    now = now or utcnow()
    visible = select(Patient.id).where(access.visible_patients_clause(viewer))
    where: list[ColumnElement[bool]] = [TreatmentSeries.patient_id.in_(visible), _live_series(now)]
    if patient_id is not None:
        where.append(TreatmentSeries.patient_id == patient_id)
    found = [
        o
        for o in _schedules(where, now)
        if (since is None or o.opens_at >= since) and (until is None or o.opens_at <= until)
    ]
    items = [item for item in _items(found, now) if item.status in statuses]
    items.sort(key=_position)
    if cursor:
        after = tuple(paging.decode_position(cursor, CURSOR_KINDS))
        items = [item for item in items if _position(item) > after]
    chosen = items[:limit]
    more = len(items) > limit
    return paging.Page(chosen, paging.encode_cursor(_position(chosen[-1])) if more else None)


def _position(item: DueItem) -> tuple[datetime, int, str]:
    return (item.opens_at, item.patient_id, item.id)


def schedule(
    instrument: str,
    *,
    patient_ids: Select[Any] | None = None,
    since: datetime | None = None,
    until: datetime | None = None,
    kind: str | None = None,
    now: datetime | None = None,
) -> tuple[int, int]:
    """(completed, missed) items of ``instrument`` whose window has closed, in the series
    the outcomes select (same filters: visible patients, series start range, kind)."""
    now = now or utcnow()
    where = series_selection(patient_ids=patient_ids, since=since, until=until, kind=kind)
    found = [o for o in _schedules(where, now) if o.closes_at < now and instrument in o.instruments]
    statuses = [item.status for item in _items(found, now) if item.instrument == instrument]
    return statuses.count("completed"), statuses.count("missed")


def counts(patient_ids: Collection[int], now: datetime | None = None) -> dict[int, dict[str, int]]:
    """Due and missed items per patient, for the clinician's patient list (one pass)."""
    now = now or utcnow()
    result = {pid: {"due": 0, "missed": 0} for pid in patient_ids}
    if not patient_ids:
        return result
    found = _schedules(
        [TreatmentSeries.patient_id.in_(sorted(patient_ids)), _live_series(now)], now
    )
    for item in _items(found, now):
        if item.status in ("due", "missed"):
            result[item.patient_id][item.status] += 1
    return result


def open_occurrences(now: datetime | None = None) -> list[OpenOccurrence]:
    """Occurrences open at ``now`` with something unanswered, for patients who take reminders."""
    now = now or utcnow()
    found = [
        o
        for o in _schedules(
            [
                _live_series(now),
                TreatmentSeries.patient_id.in_(select(Patient.id).where(Patient.reminders == "on")),
            ],
            now,
        )
        if o.opens_at <= now <= o.closes_at
    ]
    pending: dict[str, list[str]] = defaultdict(list)
    for item in _items(found, now):
        if item.status == "due":
            pending[item.occurrence].append(item.instrument)
    return [
        OpenOccurrence(o, tuple(code for code in o.instruments if code in pending[o.key]))
        for o in found
        if pending.get(o.key)
    ]


def occurrence(series_id: int, key: str, now: datetime | None = None) -> OpenOccurrence | None:
    """One occurrence of one series (for a questionnaire link), with what is still unanswered.

    None when the series has no such occurrence. ``pending`` is empty once everything
    is answered or the window has closed.
    """
    now = now or utcnow()
    found = [o for o in _schedules([TreatmentSeries.id == series_id], now) if o.key == key]
    if not found:
        return None
    items = _items(found, now)
    pending = {item.instrument for item in items if item.status == "due"}
    return OpenOccurrence(found[0], tuple(c for c in found[0].instruments if c in pending))
