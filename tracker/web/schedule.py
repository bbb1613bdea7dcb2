"""Due items arranged for reading: what to answer now, what comes next, a series' schedule.

Only presentation: which items exist and their status come from
:mod:`tracker.services.due`; here they are grouped the way a person reads
them (one line per questionnaire to answer, one row per visit of a plan).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime

from tracker import instruments
from tracker.scheduling import DueItem

UPCOMING_SHOWN = 5  # the patient's home lists the next few visits, not a whole year


@dataclass
class DueNow:
    """One questionnaire to answer now; several open windows for it close at the earliest."""

    instrument: str
    closes_at: datetime
    labels: list[str] = field(default_factory=list)


@dataclass
class Visit:
    """One occurrence of a plan entry: its window and each questionnaire's status."""

    key: str
    series_id: int
    label: str
    number: int | None  # 1, 2, … when the entry repeats
    opens_at: datetime
    closes_at: datetime
    items: list[DueItem] = field(default_factory=list)

    @property
    def status(self) -> str:
        """The visit's most pressing status, for its row's emphasis."""
        statuses = {item.status for item in self.items}
        return next(s for s in ("due", "missed", "upcoming", "completed") if s in statuses)


def _rank(code: str) -> int:
    """Questionnaires in the order every page lists them (PHQ-9, GAD-7, PCL-5)."""
    codes = instruments.codes()
    return codes.index(code) if code in codes else len(codes)


def due_now(items: Iterable[DueItem]) -> list[DueNow]:
    """Each questionnaire due now once, by its earliest closing (answering once completes all)."""
    found: dict[str, DueNow] = {}
    for item in items:
        if item.status != "due":
            continue
        entry = found.setdefault(item.instrument, DueNow(item.instrument, item.closes_at))
        entry.closes_at = min(entry.closes_at, item.closes_at)
        if item.label not in entry.labels:
            entry.labels.append(item.label)
    return sorted(found.values(), key=lambda d: (d.closes_at, _rank(d.instrument)))


def visits(items: Iterable[DueItem]) -> list[Visit]:
    """Items grouped by occurrence, in opening order; a repeating entry's visits are numbered."""
    found: dict[str, Visit] = {}
    for item in items:
        visit = found.get(item.occurrence)
        if visit is None:
            visit = found[item.occurrence] = Visit(
                item.occurrence, item.series_id, item.label, None, item.opens_at, item.closes_at
            )
        visit.items.append(item)
    ordered = sorted(found.values(), key=lambda v: (v.opens_at, v.key))
    for visit in ordered:
        visit.items.sort(key=lambda item: _rank(item.instrument))
    by_entry: dict[str, list[Visit]] = defaultdict(list)
    for visit in ordered:
        by_entry[visit.key.rsplit(".", 1)[0]].append(visit)  # "s17.e2" of "s17.e2.r0"
    for repeats in by_entry.values():
        if len(repeats) > 1 or repeats[0].key.rsplit(".r", 1)[1] != "0":
            for visit in repeats:
                visit.number = int(visit.key.rsplit(".r", 1)[1]) + 1
    return ordered


def upcoming(items: Iterable[DueItem], shown: int = UPCOMING_SHOWN) -> list[Visit]:
    """The next visits that have not opened yet."""
    return visits(item for item in items if item.status == "upcoming")[:shown]


def by_series(items: Iterable[DueItem]) -> dict[int, list[Visit]]:
    """Each series' schedule, visit by visit."""
    grouped: dict[int, list[Visit]] = defaultdict(list)
    for visit in visits(items):
        grouped[visit.series_id].append(visit)
    return dict(grouped)


def tally(items: Iterable[DueItem]) -> dict[str, int]:
    """How many items have each status."""
    counts = {"due": 0, "missed": 0, "upcoming": 0, "completed": 0}
    for item in items:
        counts[item.status] += 1
    return counts
