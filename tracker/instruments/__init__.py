"""Registry of the questionnaires tracker scores (PHQ-9, GAD-7, PCL-5, …).

Callers look instruments up by their lower-case code (the one in URLs and
stored rows) instead of importing modules, so adding an instrument is one file
(its definition) plus one line in ``_BUILT_IN`` here. The registry keys on
code and version: ``get(code)`` is the current version (the highest version
number), ``get(code, version)`` a specific one, e.g. the version a stored
response was answered in. Pure: standard library only.

:func:`register` / :func:`unregister` (or the :func:`registered` context
manager) add an instrument at run time, e.g. a test's throw-away definition.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from contextlib import contextmanager

from .base import (
    ALERT_PRIORITIES,
    LOINC,
    RELIABLE_DETERIORATION,
    RELIABLE_DETERIORATION_LABEL,
    RELIABLE_DETERIORATION_PRIORITY,
    AlertRule,
    Band,
    Codes,
    Examples,
    FlagRule,
    Instrument,
    InvalidAnswers,
    Item,
    Option,
    ScoreResult,
    Subscale,
    Thresholds,
    check_difficulty,
    prorate,
    score,
)
from .gad7 import GAD7
from .pcl5 import PCL5
from .phq9 import PHQ9

__all__ = [
    "ALERT_PRIORITIES",
    "GAD7",
    "LOINC",
    "PCL5",
    "PHQ9",
    "RELIABLE_DETERIORATION",
    "RELIABLE_DETERIORATION_LABEL",
    "RELIABLE_DETERIORATION_PRIORITY",
    "AlertRule",
    "Band",
    "Codes",
    "Examples",
    "FlagRule",
    "Instrument",
    "InvalidAnswers",
    "Item",
    "Option",
    "ScoreResult",
    "Subscale",
    "Thresholds",
    "alert_labels",
    "all",
    "check_difficulty",
    "codes",
    "get",
    "names",
    "prorate",
    "register",
    "registered",
    "score",
    "unregister",
    "validate_difficulty",
    "versions",
]

# Order matters: it is the order of GET /api/v1/instruments.
_BUILT_IN: tuple[Instrument, ...] = (PHQ9, GAD7, PCL5)

# code -> version -> definition; dicts keep registration order (the listing order).
_REGISTRY: dict[str, dict[str, Instrument]] = {}

_CODE = re.compile(r"[a-z][a-z0-9_]{0,31}")  # fits URLs and the 32-character column
_VERSION = re.compile(r"[A-Za-z0-9._-]{1,16}")  # fits the 16-character column


def _version_key(version: str) -> tuple[tuple[int, int | str], ...]:
    """Sort key: "10" after "9", "1.2" after "1.1"; numbers before words."""
    return tuple(
        (0, int(part)) if part.isdigit() else (1, part) for part in re.split(r"[._-]", version)
    )


def register(instrument: Instrument) -> Instrument:
    """Add a definition; ValueError if its code and version are taken or malformed.

    The highest version of a code becomes what :func:`get` returns without a version.
    """
    if not _CODE.fullmatch(instrument.code):
        raise ValueError(f"instrument code {instrument.code!r} must match {_CODE.pattern}")
    if not _VERSION.fullmatch(instrument.version):
        raise ValueError(f"instrument version {instrument.version!r} must match {_VERSION.pattern}")
    known = _REGISTRY.setdefault(instrument.code, {})
    if instrument.version in known:
        raise ValueError(f"{instrument.code} version {instrument.version} is already registered")
    known[instrument.version] = instrument
    return instrument


def unregister(code: str, version: str) -> None:
    """Remove one version; the code disappears with its last version. KeyError if absent."""
    known = _REGISTRY[code]
    del known[version]
    if not known:
        del _REGISTRY[code]


@contextmanager
def registered(*definitions: Instrument) -> Iterator[tuple[Instrument, ...]]:
    """Register ``definitions`` for the duration of a ``with`` block, then remove them."""
    done: list[Instrument] = []
    try:
        for instrument in definitions:
            done.append(register(instrument))
        yield tuple(done)
    finally:
        for instrument in reversed(done):
            unregister(instrument.code, instrument.version)


def get(code: str, version: str | None = None) -> Instrument:
    """The instrument with this code (its current version, or ``version``).

    KeyError for an unknown code or version. Exact, case-sensitive match:
    codes are lower-case in the API contract, and normalising here would hide
    a caller's bug.
    """
    try:
        known = _REGISTRY[code]
        if version is None:
            return known[max(known, key=_version_key)]
        return known[version]
    except (KeyError, TypeError):
        raise KeyError(code if version is None else f"{code}|{version}") from None


def versions(code: str) -> tuple[Instrument, ...]:
    """Every registered version of ``code``, oldest first; KeyError for an unknown code."""
    try:
        known = _REGISTRY[code]
    except (KeyError, TypeError):
        raise KeyError(code) from None
    return tuple(known[v] for v in sorted(known, key=_version_key))


def all() -> tuple[Instrument, ...]:  # noqa: A001 - name fixed by the interface
    """The current version of every instrument, in listing order (phq9, gad7, pcl5, …)."""
    return tuple(get(code) for code in _REGISTRY)


def codes() -> tuple[str, ...]:
    """Every instrument code, in listing order; e.g. for URL or enum validation."""
    return tuple(_REGISTRY)


def names() -> str:
    """The instruments' names for help texts: "PHQ-9, GAD-7 and PCL-5"."""
    words = [i.name for i in all()]
    return ", ".join(words[:-1]) + " and " + words[-1] if len(words) > 1 else "".join(words)


def alert_labels() -> dict[str, str]:
    """Every alert kind any registered instrument can open → the label a clinician sees."""
    labels = {
        rule.kind: rule.label
        for known in _REGISTRY.values()
        for instrument in known.values()
        for rule in instrument.alert_rules
    }
    labels[RELIABLE_DETERIORATION] = RELIABLE_DETERIORATION_LABEL
    return labels


def validate_difficulty(value: object, instrument: Instrument | str) -> int | None:
    """Validate the optional unscored ``difficulty`` answer.

    Returns the value or None when absent; raises InvalidAnswers keyed
    ``"difficulty"`` otherwise (also for an instrument without a difficulty
    question). Separate from :func:`score` because it never affects the total.
    """
    inst = get(instrument) if isinstance(instrument, str) else instrument
    return check_difficulty(inst, value)


for _instrument in _BUILT_IN:
    register(_instrument)
