"""Comparing two totals of one instrument: the verdicts of docs/api.md, "Trends".

Pure: standard library and :mod:`tracker.instruments` only (no I/O, no clock,
no framework), so the JSON API, the SVG chart, the clinic outcomes and the
alerts all judge a change by the same rules.

The rules are docs/clinical-rules.md, "Change statistics". Every
number they need (cut-off, MCID, reliable change, remission, response
fraction) is read from the instrument's :class:`~tracker.instruments.Thresholds`;
nothing is hard-coded here. For all three instruments a LOWER score is better.
"""

from __future__ import annotations

from dataclasses import dataclass
from fractions import Fraction
from typing import Literal

from tracker.instruments import Instrument

__all__ = ["ChangeVerdict", "Direction", "classify", "compare", "deterioration", "is_case"]

Direction = Literal["improved", "deteriorated", "unchanged"]


@dataclass(frozen=True, slots=True)
class ChangeVerdict:
    """Every verdict on one baseline → post pair, as shown per series in a trend.

    ``baseline_case``: the baseline was at or above the instrument's caseness
    threshold. ``response`` and ``remission`` are judged only for a case (None
    otherwise: a series that starts at PHQ-9 3 and ends at 1 neither responded
    nor remitted, it was never ill by the measure); ``response`` is also None
    when the baseline is 0. ``clinically_significant`` ("reliable recovery") is
    always True or False once both scores exist. docs/clinical-rules.md,
    "Change statistics".
    """

    change: int
    percent_change: float | None
    baseline_case: bool
    response: bool | None
    remission: bool | None
    reliable_change: Direction
    meaningful_change: Direction
    clinically_significant: bool


def classify(change: int, threshold: int) -> Direction:
    """Name the direction of ``change`` against a points ``threshold``.

    A change must reach the threshold in full (``<= -threshold`` or
    ``>= +threshold``) to count, as docs/clinical-rules.md, "Change statistics"
    states for both reliable and meaningful change; anything smaller is ``unchanged``.
    """
    if threshold <= 0:
        # A zero threshold would make "no change" both improved and deteriorated.
        raise ValueError(f"threshold must be a positive number of points, not {threshold!r}")
    if change <= -threshold:
        return "improved"
    if change >= threshold:
        return "deteriorated"
    return "unchanged"


def compare(instrument: Instrument, baseline: int, post: int) -> ChangeVerdict:
    """Judge the change from ``baseline`` to ``post`` by ``instrument``'s thresholds.

    One function produces every verdict so the per-patient trend and the
    clinic-level outcomes can never disagree on what "response" or "reliable
    improvement" means. Raises ValueError for a total outside the instrument's
    range, because that is a bug upstream, not a change to judge.
    """
    _check_total(instrument, baseline, "baseline")
    _check_total(instrument, post, "post")
    t = instrument.thresholds
    change = post - baseline
    reliable = classify(change, t.reliable_change)
    case = is_case(instrument, baseline)
    percent: float | None = None
    response: bool | None = None
    if baseline != 0:
        percent = _round_tenth(Fraction(100 * change, baseline))
        if case:
            # Exact arithmetic: 9 <= 0.5 × 19 must not depend on float rounding.
            response = post <= (1 - _exact(t.response_fall_fraction)) * baseline
    return ChangeVerdict(
        change=change,
        percent_change=percent,
        baseline_case=case,
        response=response,
        remission=(post < t.remission_below) if case else None,
        reliable_change=reliable,
        meaningful_change=classify(change, t.mcid),
        # Jacobson & Truax "recovered" / NHS Talking Therapies "reliable recovery":
        # reliably better, a case at the start, below the recovery threshold at the end.
        clinically_significant=(reliable == "improved" and case and post < t.recovery_below),
    )


def is_case(instrument: Instrument, baseline: int) -> bool:
    """A baseline at or above the instrument's caseness threshold: the series started ill."""
    return baseline >= instrument.thresholds.caseness


def deterioration(instrument: Instrument, previous_total: int, new_total: int) -> bool:
    """True when ``new_total`` is reliably worse than ``previous_total``.

    Used to open a ``reliable_deterioration`` alert between two consecutive
    responses: the same reliable-change threshold as the trend verdicts, so an
    alert never fires for a rise the trend would call ``unchanged``.
    """
    _check_total(instrument, previous_total, "previous_total")
    _check_total(instrument, new_total, "new_total")
    change = new_total - previous_total
    return classify(change, instrument.thresholds.reliable_change) == "deteriorated"


# --------------------------------------------------------------------------
# Helpers
# --------------------------------------------------------------------------


def _check_total(instrument: Instrument, total: object, name: str) -> None:
    """Refuse a non-integer or out-of-range total: a bug upstream, not data."""
    if not isinstance(total, int) or isinstance(total, bool):
        raise ValueError(f"{name} must be an integer total, not {total!r}")
    if not instrument.min_score <= total <= instrument.max_score:
        raise ValueError(
            f"{instrument.name}: {name} {total} is outside "
            f"{instrument.min_score}..{instrument.max_score}"
        )


def _exact(value: float | int | Fraction) -> Fraction:
    """The decimal a threshold was written as (0.5, 0.3 …), as an exact fraction.

    ``Fraction(0.3)`` would be the binary approximation 5404319552844595/2**54;
    going through ``str`` recovers the 3/10 the definition meant.
    """
    return value if isinstance(value, Fraction) else Fraction(str(value))


def _round_tenth(value: Fraction) -> float:
    """Round to one decimal place, halves away from zero, without float error.

    Python's ``round`` rounds halves to even and sees the binary value (a
    baseline of 16 and a change of -1 is exactly -6.25 %, which ``round``
    makes -6.2), so a displayed percentage would depend on representation.
    Exact half-away-from-zero gives -6.3, the way a clinician rounds by hand.
    """
    tenths = abs(value) * 10 + Fraction(1, 2)
    rounded = tenths.numerator // tenths.denominator  # floor(|x|·10 + ½)
    return float(Fraction(rounded if value >= 0 else -rounded, 10))
