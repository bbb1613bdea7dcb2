"""Change and trend analysis: the pure judging of scores over time.

Standard library and :mod:`tracker.instruments` only (no Flask, no database,
no clock), so the API, the alerts and the clinic outcomes can all call it and
the tests need nothing but data. Every threshold comes from the instrument
definition; see docs/clinical-rules.md, "Change statistics" and
docs/api.md, "Trends".
"""

from __future__ import annotations

from .change import ChangeVerdict, Direction, classify, compare, deterioration, is_case
from .trends import (
    Anchor,
    Latest,
    Point,
    SeriesOutcome,
    SeriesPeriod,
    Trend,
    analyse,
    find_baseline,
    find_post,
)

__all__ = [
    "Anchor",
    "ChangeVerdict",
    "Direction",
    "Latest",
    "Point",
    "SeriesOutcome",
    "SeriesPeriod",
    "Trend",
    "analyse",
    "classify",
    "compare",
    "deterioration",
    "find_baseline",
    "find_post",
    "is_case",
]
