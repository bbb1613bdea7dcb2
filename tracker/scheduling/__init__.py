"""PURE. Measurement plans turned into due questionnaires: windows, repeats, completion.

No Flask, no SQLAlchemy, no clock: the caller passes ``now`` and plain values.
"""

from tracker.scheduling.plans import ANCHORS, Entry, Plan, build, plan_errors
from tracker.scheduling.windows import (
    STATUSES,
    Completion,
    DueItem,
    Occurrence,
    SeriesSpan,
    due_items,
    items_of,
    occurrences,
)

__all__ = [
    "ANCHORS",
    "STATUSES",
    "Completion",
    "DueItem",
    "Entry",
    "Occurrence",
    "Plan",
    "SeriesSpan",
    "build",
    "due_items",
    "items_of",
    "occurrences",
    "plan_errors",
]
