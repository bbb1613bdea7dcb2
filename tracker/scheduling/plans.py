"""What a measurement plan may say, checked once for the API, the pages and the CLI.

A plan is fixed once created (a series' schedule must not change under it), so
every rule is checked here, before it is stored, with errors that name the field
(``entries.2.offset_days``) so a form or a client can point at it.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any

ANCHORS = ("series_start", "series_end")
OFFSET_DAYS = (-90, 365)
WINDOW_DAYS = (0, 90)
MAX_ENTRIES = 50
MAX_NAME = 200
MAX_LABEL = 100


@dataclass(frozen=True)
class Entry:
    """One line of a plan: when, relative to the series, which questionnaires are asked."""

    label: str
    anchor: str
    offset_days: int
    window_days: int
    instruments: tuple[str, ...]
    repeat_every_days: int | None = None


@dataclass(frozen=True)
class Plan:
    id: int
    name: str
    instruments: tuple[str, ...]
    entries: tuple[Entry, ...]


def _is_int(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _instrument_errors(value: object, known: Callable[[str], bool]) -> list[str]:
    if not isinstance(value, list) or not value:
        return ["Give at least one instrument code."]
    if not all(isinstance(code, str) for code in value):
        return ["Instrument codes are strings."]
    unknown = [code for code in value if not known(code)]
    if unknown:
        return [f"Unknown instrument: {', '.join(unknown)}."]
    if len(set(value)) != len(value):
        return ["An instrument is listed twice."]
    return []


def _range_error(value: object, bounds: tuple[int, int]) -> list[str]:
    low, high = bounds
    if not _is_int(value):
        return ["Must be a whole number of days."]
    if not low <= value <= high:
        return [f"Must be between {low} and {high}."]
    return []


def _entry_errors(entry: object, where: str, known: Callable[[str], bool]) -> dict[str, list[str]]:
    if not isinstance(entry, Mapping):
        return {where: ["Each entry is an object."]}
    errors: dict[str, list[str]] = {}
    allowed = {"label", "anchor", "offset_days", "window_days", "instruments", "repeat_every_days"}
    for name in sorted(set(entry) - allowed):
        errors[f"{where}.{name}"] = ["Unknown field."]
    label = entry.get("label")
    if not isinstance(label, str) or not label.strip() or len(label) > MAX_LABEL:
        errors[f"{where}.label"] = [f"Give a label of 1 to {MAX_LABEL} characters."]
    anchor = entry.get("anchor")
    if anchor not in ANCHORS:
        errors[f"{where}.anchor"] = [f"Must be one of: {', '.join(ANCHORS)}."]
    for name, bounds in (("offset_days", OFFSET_DAYS), ("window_days", WINDOW_DAYS)):
        if name not in entry:
            errors[f"{where}.{name}"] = ["Missing data for required field."]
        elif problems := _range_error(entry[name], bounds):
            errors[f"{where}.{name}"] = problems
    if entry.get("instruments") is not None and (
        problems := _instrument_errors(entry["instruments"], known)
    ):
        errors[f"{where}.instruments"] = problems
    repeat = entry.get("repeat_every_days")
    if repeat is not None:
        if not _is_int(repeat) or repeat < 1 or repeat > 365:
            errors[f"{where}.repeat_every_days"] = ["Must be between 1 and 365."]
        elif anchor == "series_end":
            errors[f"{where}.repeat_every_days"] = [
                "Only an entry anchored at series_start can repeat."
            ]
    return errors


def plan_errors(
    name: object, instruments: object, entries: object, known: Callable[[str], bool]
) -> dict[str, list[str]]:
    """Every problem of a proposed plan, by field path; empty when it can be stored."""
    errors: dict[str, list[str]] = {}
    if not isinstance(name, str) or not name.strip() or len(name) > MAX_NAME:
        errors["name"] = [f"Give a name of 1 to {MAX_NAME} characters."]
    if problems := _instrument_errors(instruments, known):
        errors["instruments"] = problems
    if not isinstance(entries, list) or not entries:
        errors["entries"] = ["Give at least one entry."]
    elif len(entries) > MAX_ENTRIES:
        errors["entries"] = [f"At most {MAX_ENTRIES} entries."]
    else:
        for index, entry in enumerate(entries):
            errors.update(_entry_errors(entry, f"entries.{index}", known))
    return errors


def build(
    plan_id: int, name: str, instruments: Iterable[str], entries: Iterable[Mapping[str, Any]]
) -> Plan:
    """A stored plan as plain values (entries without instruments take the plan's)."""
    default = tuple(instruments)
    return Plan(
        id=plan_id,
        name=name,
        instruments=default,
        entries=tuple(
            Entry(
                label=entry["label"],
                anchor=entry["anchor"],
                offset_days=entry["offset_days"],
                window_days=entry["window_days"],
                instruments=tuple(entry.get("instruments") or default),
                repeat_every_days=entry.get("repeat_every_days"),
            )
            for entry in entries
        ),
    )
