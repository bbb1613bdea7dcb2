"""Registry of the questionnaires tracker scores (PHQ-9, GAD-7, PCL-5).

Callers look instruments up by their lower-case code (the one in URLs and
stored rows) instead of importing modules, so adding an instrument is one
line here. Pure: standard library only.
"""

from __future__ import annotations

from .base import (
    Band,
    Codes,
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
    "GAD7",
    "PCL5",
    "PHQ9",
    "Band",
    "Codes",
    "FlagRule",
    "Instrument",
    "InvalidAnswers",
    "Item",
    "Option",
    "ScoreResult",
    "Subscale",
    "Thresholds",
    "all",
    "check_difficulty",
    "codes",
    "get",
    "prorate",
    "score",
    "validate_difficulty",
]

# Order matters: it is the order of GET /api/v1/instruments.
_REGISTRY: dict[str, Instrument] = {i.code: i for i in (PHQ9, GAD7, PCL5)}


def get(code: str) -> Instrument:
    """The instrument with this code; KeyError for an unknown code.

    Exact, case-sensitive match: codes are lower-case in the API contract, and
    normalising here would hide a caller's bug.
    """
    try:
        return _REGISTRY[code]
    except (KeyError, TypeError):
        raise KeyError(code) from None


def all() -> tuple[Instrument, ...]:  # noqa: A001 - name fixed by the interface
    """Every instrument, in listing order (phq9, gad7, pcl5)."""
    return tuple(_REGISTRY.values())


def codes() -> tuple[str, ...]:
    """Every instrument code, in listing order; e.g. for URL or enum validation."""
    return tuple(_REGISTRY)


def validate_difficulty(value: object, instrument: Instrument | str = "phq9") -> int | None:
    """Validate the optional unscored ``difficulty`` answer (PHQ-9 only).

    Returns the value or None when absent; raises InvalidAnswers keyed
    ``"difficulty"`` otherwise. Separate from :func:`score` because it never
    affects the total.
    """
    inst = get(instrument) if isinstance(instrument, str) else instrument
    return check_difficulty(inst, value)
