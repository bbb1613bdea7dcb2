"""Due questionnaires: a plan's entries laid over one series, matched with responses.

The rules (docs/api.md, "Due questionnaires"): an entry
opens at its anchor (the series' start or end) plus ``offset_days`` days, plus
the repeat times ``repeat_every_days``, and closes ``window_days`` days later;
both ends belong to the window. An entry anchored at the end exists only once
the series has ended. A repeating entry repeats while its opening is before the
series' end; while the series is ongoing, up to the first opening after now.
An item is completed by the earliest final response of its instrument inside
its window, and one response completes every item whose window holds it.
"""

from __future__ import annotations

import bisect
from collections import defaultdict
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta

from tracker.scheduling.plans import Entry, Plan

STATUSES = ("upcoming", "due", "completed", "missed")
DAY = timedelta(days=1)


@dataclass(frozen=True)
class SeriesSpan:
    """The part of a treatment series a schedule depends on."""

    id: int
    patient_id: int
    started_at: datetime
    ended_at: datetime | None


@dataclass(frozen=True)
class Completion:
    """A final response (an amendment counts, entered-in-error does not: the caller filters)."""

    response_id: int
    instrument: str
    completed_at: datetime


@dataclass(frozen=True)
class Occurrence:
    """One opening of one plan entry for one series: what one reminder and one link cover."""

    series_id: int
    patient_id: int
    plan_id: int
    entry_number: int  # 1-based, as in the item id
    repeat: int  # 0-based
    label: str
    instruments: tuple[str, ...]
    opens_at: datetime
    closes_at: datetime

    @property
    def key(self) -> str:
        """Stable across reads: ``s17.e2.r0`` (series, entry, repeat)."""
        return f"s{self.series_id}.e{self.entry_number}.r{self.repeat}"

    def item_id(self, instrument: str) -> str:
        return f"{self.key}.{instrument}"


@dataclass(frozen=True)
class DueItem:
    id: str
    occurrence: str
    series_id: int
    patient_id: int
    plan_id: int
    label: str
    instrument: str
    opens_at: datetime
    closes_at: datetime
    status: str
    response_id: int | None


def _repeats(entry: Entry, series: SeriesSpan, now: datetime) -> Iterator[int]:
    if entry.repeat_every_days is None:
        yield 0
        return
    first = series.started_at + entry.offset_days * DAY
    step = entry.repeat_every_days * DAY
    repeat = 0
    while True:
        opens = first + repeat * step
        if series.ended_at is not None:
            if opens >= series.ended_at:
                return
            yield repeat
        else:
            yield repeat
            if opens > now:  # the first opening after now is the last one shown
                return
        repeat += 1


def occurrences(plan: Plan, series: SeriesSpan, now: datetime) -> list[Occurrence]:
    """Every opening of every entry of ``plan`` for ``series`` as it stands at ``now``."""
    found: list[Occurrence] = []
    for number, entry in enumerate(plan.entries, start=1):
        if entry.anchor == "series_end":
            if series.ended_at is None:
                continue
            anchor = series.ended_at
        else:
            anchor = series.started_at
        for repeat in _repeats(entry, series, now):
            opens = anchor + (entry.offset_days + repeat * (entry.repeat_every_days or 0)) * DAY
            found.append(
                Occurrence(
                    series_id=series.id,
                    patient_id=series.patient_id,
                    plan_id=plan.id,
                    entry_number=number,
                    repeat=repeat,
                    label=entry.label,
                    instruments=entry.instruments,
                    opens_at=opens,
                    closes_at=opens + entry.window_days * DAY,
                )
            )
    return found


class _Completions:
    """Responses by instrument in time order, for a binary search per window."""

    def __init__(self, completions: Iterable[Completion]) -> None:
        by_instrument: dict[str, list[Completion]] = defaultdict(list)
        for completion in completions:
            by_instrument[completion.instrument].append(completion)
        self._rows = {
            code: sorted(rows, key=lambda c: (c.completed_at, c.response_id))
            for code, rows in by_instrument.items()
        }
        self._instants = {code: [c.completed_at for c in rows] for code, rows in self._rows.items()}

    def earliest(self, instrument: str, opens: datetime, closes: datetime) -> int | None:
        instants = self._instants.get(instrument)
        if not instants:
            return None
        index = bisect.bisect_left(instants, opens)
        if index < len(instants) and instants[index] <= closes:
            return self._rows[instrument][index].response_id
        return None


def status_at(opens: datetime, closes: datetime, response_id: int | None, now: datetime) -> str:
    if response_id is not None:
        return "completed"
    if now < opens:
        return "upcoming"
    if now <= closes:
        return "due"
    return "missed"


def items_of(
    found: Iterable[Occurrence], completions: Iterable[Completion], now: datetime
) -> list[DueItem]:
    """The due items of ``found`` occurrences, ordered by opening, then instrument."""
    index = _Completions(completions)
    items = []
    for occurrence in found:
        for instrument in occurrence.instruments:
            response_id = index.earliest(instrument, occurrence.opens_at, occurrence.closes_at)
            items.append(
                DueItem(
                    id=occurrence.item_id(instrument),
                    occurrence=occurrence.key,
                    series_id=occurrence.series_id,
                    patient_id=occurrence.patient_id,
                    plan_id=occurrence.plan_id,
                    label=occurrence.label,
                    instrument=instrument,
                    opens_at=occurrence.opens_at,
                    closes_at=occurrence.closes_at,
                    status=status_at(occurrence.opens_at, occurrence.closes_at, response_id, now),
                    response_id=response_id,
                )
            )
    items.sort(key=lambda item: (item.opens_at, item.instrument, item.id))
    return items


def due_items(
    plan: Plan, series: SeriesSpan, completions: Iterable[Completion], now: datetime
) -> list[DueItem]:
    """The schedule of one series: every item with its status at ``now``."""
    return items_of(occurrences(plan, series, now), completions, now)
