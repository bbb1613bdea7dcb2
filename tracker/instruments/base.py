"""Instrument definitions and scoring: the pure core of tracker.

Everything here is plain data and arithmetic (standard library only, no I/O,
no clock, no framework) so that the JSON API, the FHIR layer, the trend
analysis and the tests all score a questionnaire the same way.

The rules implemented are those of docs/clinical-rules.md ("Scoring
conventions", "Alerts" and one section per instrument); each number in an
instrument definition (phq9.py, gad7.py, pcl5.py) cites its published source
or says "project convention".

Everything one questionnaire needs is on its :class:`Instrument`: items and
options with their LOINC codes, bands, thresholds, LOINC panel and total codes
with their display names, flag rules (with the label a clinician sees and
whether the patient must see crisis resources), the alerts those flags open
and at what priority, and how synthetic patients answer it (demo and synth).
Adding an instrument is one file plus one line in the registry
(tracker/instruments/__init__.py); nothing else in tracker names one.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

__all__ = [
    "ALERT_PRIORITIES",
    "AlertRule",
    "Band",
    "Codes",
    "Examples",
    "FlagRule",
    "Instrument",
    "InvalidAnswers",
    "Item",
    "LOINC",
    "Option",
    "RELIABLE_DETERIORATION",
    "RELIABLE_DETERIORATION_LABEL",
    "RELIABLE_DETERIORATION_PRIORITY",
    "ScoreResult",
    "Subscale",
    "Thresholds",
    "check_difficulty",
    "prorate",
    "score",
]

LOINC = "http://loinc.org"  # the one LOINC system URI; every other module imports it

# Alert priorities, most urgent first (docs/clinical-rules.md, "Alerts").
ALERT_PRIORITIES = ("high", "routine")

# The alert every instrument opens on a reliable worsening (its
# thresholds.reliable_change), whatever its items; always routine
# (docs/clinical-rules.md, "Alerts").
RELIABLE_DETERIORATION = "reliable_deterioration"
RELIABLE_DETERIORATION_LABEL = "Reliable deterioration"
RELIABLE_DETERIORATION_PRIORITY = "routine"

# A rule that decides a provisional diagnosis from the answers in item order
# (None = skipped; a skipped item never counts as endorsed).
ProvisionalRule = Callable[[Sequence[int | None]], bool]
# A rule that names the syndrome the answers meet by the instrument's published algorithm
# (PHQ-9: "major" or "other" depressive syndrome), or None.
SyndromeRule = Callable[[Sequence[int | None]], str | None]


# --------------------------------------------------------------------------
# Definition building blocks
# --------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Option:
    """One answer choice of an item: the stored integer and what the patient saw."""

    value: int
    label: str
    loinc: str | None = None  # LOINC answer code (LA…), None where none exists


@dataclass(frozen=True, slots=True)
class Item:
    """One question. ``number`` is 1-based, as printed on the paper form."""

    number: int
    text: str
    options: tuple[Option, ...]
    loinc: str | None = None  # LOINC item code, None where none was found

    @property
    def values(self) -> tuple[int, ...]:
        """The allowed answer values, in option order (used by validation)."""
        return tuple(o.value for o in self.options)

    @property
    def max_value(self) -> int:
        """The highest allowed value; an item contributes at most this to a total."""
        return max(self.values)

    def option_for(self, value: int) -> Option:
        """The option with this value, so callers can show or code an answer."""
        for option in self.options:
            if option.value == value:
                return option
        raise KeyError(value)


@dataclass(frozen=True, slots=True)
class Band:
    """A severity band: totals ``min``..``max`` inclusive share ``code``/``label``."""

    code: str
    label: str
    min: int
    max: int


@dataclass(frozen=True, slots=True)
class Subscale:
    """A derived sub-score: the plain sum of the answered ``items`` (1-based)."""

    code: str
    label: str
    items: tuple[int, ...]


@dataclass(frozen=True, slots=True)
class Thresholds:
    """Cut-off and change thresholds that the trend analysis applies.

    Kept on the instrument (not in the analysis code) so every threshold is
    published by ``GET /api/v1/instruments/{code}`` next to its instrument.
    """

    cutoff: int  # screen_positive when total >= cutoff
    mcid: int  # minimal clinically important difference, in points
    reliable_change: int  # reliable change threshold (Jacobson & Truax), in points
    remission_below: int  # remission when post < remission_below (judged for cases only)
    caseness: int  # a series' baseline at or above it is a "case": verdicts judged
    recovery_below: int  # recovered when post < recovery_below (reliable recovery)
    response_fall_fraction: float = 0.5  # response when post <= (1 - f) × baseline


@dataclass(frozen=True, slots=True)
class Codes:
    """Code-system identifiers for the panel and the total score.

    Item and answer codes live on :class:`Item` and :class:`Option`.
    """

    panel: str
    total: str
    system: str = LOINC
    answer_list: str | None = None  # LOINC answer list shared by the items, if any
    # Display names published with the codes (FHIR Coding.display); None: no display.
    panel_display: str | None = None
    total_display: str | None = None


@dataclass(frozen=True, slots=True)
class FlagRule:
    """Raise ``code`` when item ``item`` (1-based) is answered ``>= at_least``.

    ``label`` is what a clinician sees next to a flagged response; ``crisis``
    means the patient is shown crisis resources as soon as the flag is raised,
    with ``patient_text`` saying why (in the patient's words).
    """

    code: str
    item: int
    at_least: int
    label: str = ""
    crisis: bool = False
    patient_text: str | None = None


@dataclass(frozen=True, slots=True)
class AlertRule:
    """A raised flag ``flag`` opens an alert of ``kind`` for the care team.

    ``label`` names the kind in the clinician's inbox. ``priorities`` pairs a
    minimum answer to the flag's item with a priority, most urgent first; the
    first pair the answer reaches decides, else ``priority`` (the default).
    """

    flag: str
    kind: str
    label: str
    priorities: tuple[tuple[int, str], ...] = ()
    priority: str = "routine"

    def priority_for(self, value: int | None) -> str:
        """The priority of the alert when the flag's item was answered ``value``."""
        for at_least, priority in self.priorities:
            if value is not None and value >= at_least:
                return priority
        return self.priority


@dataclass(frozen=True, slots=True)
class Examples:
    """How invented patients answer this instrument: demo and synthetic data only.

    Not clinical rules. ``baseline`` is the mean and spread of a new
    patient's total, never below ``floor``; ``noise`` the visit-to-visit
    spread in points; ``item_weights`` how readily each item is endorsed (one
    per item; items watched by a flag rule are answered separately and their
    weight is unused); ``share`` the fraction of patients who answer it;
    ``demo_every_weeks`` the demo's cadence; ``min_interval_days`` the shortest
    gap between two answers (a recall period); ``course_strength`` the range
    of how closely the total follows the patient's illness course.
    """

    baseline: tuple[float, float]
    floor: int
    noise: float
    item_weights: tuple[float, ...]
    share: float = 1.0
    demo_every_weeks: int = 1
    min_interval_days: int = 0
    course_strength: tuple[float, float] | None = None  # None: follows it exactly


# --------------------------------------------------------------------------
# Instrument
# --------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Instrument:
    """A complete, self-checking questionnaire definition.

    ``__post_init__`` refuses an inconsistent definition (gaps between bands,
    unknown item numbers, …) so a typo fails at import time rather than
    mis-scoring a patient's answers.
    """

    code: str
    name: str
    title: str
    version: str
    stem: str
    items: tuple[Item, ...]
    bands: tuple[Band, ...]
    subscales: tuple[Subscale, ...]
    thresholds: Thresholds
    codes: Codes
    max_missing: int
    licence: str
    provisional_rule: ProvisionalRule | None = None
    syndrome_rule: SyndromeRule | None = None
    # What a clinician reads for each code the syndrome rule can return.
    syndrome_labels: tuple[tuple[str, str], ...] = ()
    flag_rules: tuple[FlagRule, ...] = ()
    alert_rules: tuple[AlertRule, ...] = ()  # which raised flags open which alert
    difficulty: Item | None = None  # optional unscored item
    instructions: str | None = None  # text shown before the stem, if any
    recall_period: str | None = None  # e.g. "2 weeks", "1 month"
    examples: Examples | None = None  # None: demo and synth leave it out
    # (min_score, max_score), derived on first use: every compare() checks both totals.
    _score_range: tuple[int, int] | None = field(
        default=None, init=False, repr=False, compare=False
    )

    def __post_init__(self) -> None:
        problems = _definition_problems(self)
        if problems:
            raise ValueError(f"invalid instrument {self.code!r}: " + "; ".join(problems))

    @property
    def item_count(self) -> int:
        """Number of scored items; an answers array must have exactly this length."""
        return len(self.items)

    @property
    def min_score(self) -> int:
        """Lowest possible total (every scored item starts at 0)."""
        return self._range()[0]

    @property
    def max_score(self) -> int:
        """Highest possible total, derived from the options so it cannot drift."""
        return self._range()[1]

    def _range(self) -> tuple[int, int]:
        """Summed once per instrument (the definition is frozen), not on every call."""
        if self._score_range is None:
            low = sum(min(item.values) for item in self.items)
            high = sum(item.max_value for item in self.items)
            object.__setattr__(self, "_score_range", (low, high))
        return self._score_range  # type: ignore[return-value]

    def item(self, number: int) -> Item:
        """The item with this 1-based number."""
        if not 1 <= number <= len(self.items):
            raise KeyError(number)
        return self.items[number - 1]

    def flag_rule(self, code: str) -> FlagRule:
        """The rule that raises flag ``code``; KeyError for a flag this instrument lacks."""
        for rule in self.flag_rules:
            if rule.code == code:
                return rule
        raise KeyError(code)

    def flag_label(self, code: str) -> str:
        """What a clinician sees for a raised flag (the code itself when unlabelled)."""
        try:
            return self.flag_rule(code).label or code
        except KeyError:
            return code

    def syndrome_of(self, answers: Sequence[int | None]) -> tuple[str, str] | None:
        """(code, label) of the syndrome these answers meet, or None (or no such rule)."""
        if self.syndrome_rule is None:
            return None
        code = self.syndrome_rule(answers)
        return None if code is None else (code, dict(self.syndrome_labels)[code])

    def crisis(self, flags: Sequence[str]) -> FlagRule | None:
        """The first raised flag whose rule shows the patient crisis resources, if any."""
        for rule in self.flag_rules:
            if rule.crisis and rule.code in flags:
                return rule
        return None

    @property
    def flagged_items(self) -> frozenset[int]:
        """Item numbers (1-based) that a flag rule watches."""
        return frozenset(rule.item for rule in self.flag_rules)

    def item_flagged(self, number: int, value: int | None) -> bool:
        """True when answering item ``number`` with ``value`` raises one of the flags."""
        return value is not None and any(
            rule.item == number and value >= rule.at_least for rule in self.flag_rules
        )

    def alerts_for(
        self, answers: Sequence[int | None], flags: Sequence[str]
    ) -> tuple[tuple[str, str], ...]:
        """(alert kind, priority) for every alert the raised ``flags`` open, in rule order."""
        opened = []
        for rule in self.alert_rules:
            if rule.flag in flags:
                value = answers[self.flag_rule(rule.flag).item - 1]
                opened.append((rule.kind, rule.priority_for(value)))
        return tuple(opened)

    def band_for(self, total: int) -> Band:
        """The severity band containing ``total``.

        Raises ValueError outside min_score..max_score, because a total out of
        range means a bug upstream, not a band to guess.
        """
        if _is_int(total):
            for band in self.bands:
                if band.min <= total <= band.max:
                    return band
        raise ValueError(
            f"{self.name}: total {total!r} is outside {self.min_score}..{self.max_score}"
        )

    def summary(self) -> dict[str, Any]:
        """JSON-ready list entry for ``GET /api/v1/instruments``."""
        return {
            "code": self.code,
            "name": self.name,
            "title": self.title,
            "version": self.version,
            "item_count": self.item_count,
            "min_score": self.min_score,
            "max_score": self.max_score,
        }

    def definition(self) -> dict[str, Any]:
        """JSON-ready full definition for ``GET /api/v1/instruments/{code}``.

        Built here so the API and any export show exactly what the scorer uses.
        """

        def item_dict(item: Item) -> dict[str, Any]:
            return {
                "number": item.number,
                "text": item.text,
                "loinc": item.loinc,
                "options": [
                    {"value": o.value, "label": o.label, "loinc": o.loinc} for o in item.options
                ],
            }

        t = self.thresholds
        return {
            **self.summary(),
            "stem": self.stem,
            "instructions": self.instructions,
            "recall_period": self.recall_period,
            "items": [item_dict(i) for i in self.items],
            "difficulty": item_dict(self.difficulty) if self.difficulty else None,
            "bands": [
                {"code": b.code, "label": b.label, "min": b.min, "max": b.max} for b in self.bands
            ],
            "subscales": [
                {"code": s.code, "label": s.label, "items": list(s.items)} for s in self.subscales
            ],
            "thresholds": {
                "cutoff": t.cutoff,
                "mcid": t.mcid,
                "reliable_change": t.reliable_change,
                "remission_below": t.remission_below,
                "caseness": t.caseness,
                "recovery_below": t.recovery_below,
                "response_fall_fraction": t.response_fall_fraction,
            },
            "codes": {
                "system": self.codes.system,
                "panel": self.codes.panel,
                "total": self.codes.total,
                "answer_list": self.codes.answer_list,
            },
            "max_missing": self.max_missing,
            "flags": [
                {"code": f.code, "item": f.item, "at_least": f.at_least} for f in self.flag_rules
            ],
            "has_provisional_diagnosis": self.provisional_rule is not None,
            "has_depressive_syndrome": self.syndrome_rule is not None,
            "licence": self.licence,
        }


def _definition_problems(inst: Instrument) -> list[str]:
    """Consistency checks for a definition; returns human-readable problems."""
    problems: list[str] = []
    n = len(inst.items)
    if n == 0:
        return ["no items"]
    for expected, item in enumerate(inst.items, start=1):
        if item.number != expected:
            problems.append(f"item at position {expected} is numbered {item.number}")
        values = item.values
        if not values or len(set(values)) != len(values):
            problems.append(f"item {item.number}: option values missing or repeated")
        if any(not _is_int(v) or v < 0 for v in values):
            problems.append(f"item {item.number}: option values must be integers >= 0")
    if problems:
        return problems
    lo = sum(min(i.values) for i in inst.items)
    hi = sum(i.max_value for i in inst.items)
    # Bands must partition lo..hi: ordered, contiguous, no overlap.
    expected_min = lo
    for band in inst.bands:
        if band.min != expected_min or band.max < band.min:
            problems.append(
                f"band {band.code!r} is {band.min}..{band.max}, expected to start at {expected_min}"
            )
        expected_min = band.max + 1
    if not inst.bands or inst.bands[-1].max != hi:
        problems.append(f"bands do not end at max_score {hi}")
    if len({b.code for b in inst.bands}) != len(inst.bands):
        problems.append("band codes repeated")
    for sub in inst.subscales:
        bad = [i for i in sub.items if not 1 <= i <= n]
        if bad or not sub.items:
            problems.append(f"subscale {sub.code!r} refers to unknown items {bad}")
    if len({s.code for s in inst.subscales}) != len(inst.subscales):
        problems.append("subscale codes repeated")
    for rule in inst.flag_rules:
        if not 1 <= rule.item <= n:
            problems.append(f"flag {rule.code!r} refers to unknown item {rule.item}")
        if rule.crisis and not rule.patient_text:
            problems.append(f"crisis flag {rule.code!r} needs a patient_text")
    if len({r.code for r in inst.flag_rules}) != len(inst.flag_rules):
        problems.append("flag codes repeated")
    flag_codes = {r.code for r in inst.flag_rules}
    for alert in inst.alert_rules:
        if alert.flag not in flag_codes:
            problems.append(f"alert {alert.kind!r} is opened by unknown flag {alert.flag!r}")
        if alert.kind == RELIABLE_DETERIORATION:
            problems.append(f"alert kind {alert.kind!r} is reserved")
        priorities = [p for _, p in alert.priorities] + [alert.priority]
        if any(p not in ALERT_PRIORITIES for p in priorities):
            problems.append(f"alert {alert.kind!r}: priorities must be in {ALERT_PRIORITIES}")
        if not alert.label:
            problems.append(f"alert {alert.kind!r} needs a label")
    if inst.examples is not None and len(inst.examples.item_weights) != n:
        problems.append(f"examples.item_weights needs {n} weights")
    if not 0 <= inst.max_missing < n:
        problems.append(f"max_missing {inst.max_missing} must be in 0..{n - 1}")
    if not lo < inst.thresholds.cutoff <= hi:
        problems.append(f"cutoff {inst.thresholds.cutoff} outside {lo + 1}..{hi}")
    if not lo < inst.thresholds.caseness <= hi:
        problems.append(f"caseness {inst.thresholds.caseness} outside {lo + 1}..{hi}")
    if not lo < inst.thresholds.recovery_below <= inst.thresholds.caseness:
        problems.append("recovery_below must lie above the lowest score and at most caseness")
    return problems


# --------------------------------------------------------------------------
# Scoring
# --------------------------------------------------------------------------


class InvalidAnswers(ValueError):
    """The answers cannot be scored; nothing should be stored.

    ``errors`` maps a field path to human-readable messages, ready for the
    ``errors`` member of an RFC 9457 problem document: ``"answers"`` for the
    array as a whole, ``"answers.3"`` for the entry at 0-based JSON index 3
    (item 4, and the message starts "item 4: "), ``"difficulty"`` for the
    unscored difficulty question.
    """

    def __init__(self, errors: dict[str, list[str]]) -> None:
        self.errors: dict[str, list[str]] = {k: list(v) for k, v in errors.items()}
        super().__init__("; ".join(m for msgs in self.errors.values() for m in msgs))


@dataclass(frozen=True, slots=True)
class ScoreResult:
    """Everything derived from one valid set of answers.

    ``subscales`` is a fresh plain dict (JSON-serialisable as is); treat it as
    read-only.
    """

    total: int
    prorated: bool
    severity: Band
    subscales: dict[str, int]
    flags: tuple[str, ...]
    screen_positive: bool
    provisional_diagnosis: bool | None
    syndrome: str | None = None  # e.g. PHQ-9 "major" / "other" depressive syndrome

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready fields, shaped as in docs/api.md, "Responses"."""
        return {
            "total": self.total,
            "prorated": self.prorated,
            "severity": {"code": self.severity.code, "label": self.severity.label},
            "subscales": dict(self.subscales),
            "flags": list(self.flags),
            "screen_positive": self.screen_positive,
            "provisional_diagnosis": self.provisional_diagnosis,
            "depressive_syndrome": self.syndrome,
        }


def prorate(raw_sum: int, answered: int, item_count: int) -> int:
    """``round(raw_sum × item_count / answered)`` with halves rounded up.

    Integer arithmetic, because float rounding (and Python's round-half-even)
    would make the stored total depend on representation error.
    floor(x + 1/2) with x = s·n/a equals (2·s·n + a) // (2·a).
    """
    if answered <= 0 or raw_sum < 0 or item_count < answered:
        raise ValueError("prorate needs 0 < answered <= item_count and raw_sum >= 0")
    return (2 * raw_sum * item_count + answered) // (2 * answered)


def score(instrument: Instrument, answers: Sequence[object]) -> ScoreResult:
    """Validate ``answers`` and score them by the instrument's rules.

    Validation happens here, not only in the API schema, so that every entry
    point (JSON API, FHIR, CLI, synthetic data) refuses the same bad input.
    Raises :class:`InvalidAnswers` with every problem found, not just the first,
    so a client can fix a form in one round trip.
    """
    values = _validate(instrument, answers)

    answered = [v for v in values if v is not None]
    raw_sum = sum(answered)
    skipped = len(values) - len(answered)
    # Prorate only when something was skipped (where max_missing allows it).
    total = prorate(raw_sum, len(answered), instrument.item_count) if skipped else raw_sum

    subscales = {
        sub.code: sum(values[i - 1] or 0 for i in sub.items)  # skipped counts as 0
        for sub in instrument.subscales
    }
    flags = tuple(
        rule.code
        for rule in instrument.flag_rules
        if (v := values[rule.item - 1]) is not None and v >= rule.at_least
    )
    diagnose = instrument.provisional_rule
    name_syndrome = instrument.syndrome_rule
    return ScoreResult(
        total=total,
        prorated=skipped > 0,
        severity=instrument.band_for(total),
        subscales=subscales,
        flags=flags,
        screen_positive=total >= instrument.thresholds.cutoff,
        provisional_diagnosis=None if diagnose is None else bool(diagnose(values)),
        syndrome=None if name_syndrome is None else name_syndrome(values),
    )


def check_difficulty(instrument: Instrument, value: object) -> int | None:
    """Validate the optional, unscored difficulty answer for ``instrument``.

    Returns the value (or None when not given). Kept apart from :func:`score`
    because the difficulty item never changes the total and is optional.
    """
    if value is None:
        return None
    item = instrument.difficulty
    if item is None:
        raise InvalidAnswers({"difficulty": [f"{instrument.name} has no difficulty question"]})
    message = _value_problem(item, value)
    if message:
        raise InvalidAnswers({"difficulty": [f"difficulty: {message}"]})
    return int(value)  # type: ignore[call-overload]


# --------------------------------------------------------------------------
# Validation helpers
# --------------------------------------------------------------------------


def _is_int(value: object) -> bool:
    # bool is an int subclass in Python but `true` is not a score.
    return isinstance(value, int) and not isinstance(value, bool)


def _describe(value: object) -> str:
    """Render a rejected value the way a JSON client would recognise it."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        text = repr(value)
        return text if len(text) <= 30 else text[:27] + "..."
    if isinstance(value, str):
        text = value if len(value) <= 20 else value[:17] + "..."
        return '"' + text.replace('"', '\\"') + '"'
    if isinstance(value, dict):
        return "an object"
    if isinstance(value, list | tuple):
        return "a list"
    return f"a value of type {type(value).__name__}"


def _join(values: Sequence[int], last: str = ", ") -> str:
    words = [str(v) for v in values]
    if len(words) < 2:
        return "".join(words)
    return ", ".join(words[:-1]) + last + words[-1]


def _value_problem(item: Item, value: object) -> str | None:
    """Why ``value`` is not an allowed answer to ``item``, or None if it is.

    The text is built only for a refused value: every valid answer of every
    submission passes through here, and the message costs more than the check.
    """
    if not _is_int(value):
        return f"{_describe(value)} is not an integer; expected one of {_join(item.values)}"
    if value not in item.values:
        return f"{_describe(value)} is not one of the allowed values {_join(item.values)}"
    return None


def _validate(instrument: Instrument, answers: object) -> list[int | None]:
    """Return the answers as a list of int/None or raise InvalidAnswers."""
    n = instrument.item_count
    # A str is a Sequence too; only a JSON array (list/tuple) is an answers array.
    if not isinstance(answers, list | tuple):
        raise InvalidAnswers(
            {
                "answers": [
                    f"must be a list of {n} answers (one per item, in item order), "
                    f"not {_describe(answers)}"
                ]
            }
        )
    if len(answers) != n:
        raise InvalidAnswers(
            {
                "answers": [
                    f"{instrument.name} has {n} items; expected {n} answers, got {len(answers)}"
                ]
            }
        )

    errors: dict[str, list[str]] = {}
    values: list[int | None] = []
    for index, (item, value) in enumerate(zip(instrument.items, answers, strict=True)):
        if value is None:
            values.append(None)
            continue
        problem = _value_problem(item, value)
        if problem:
            errors[f"answers.{index}"] = [f"item {item.number}: {problem}"]
            values.append(None)
        else:
            values.append(int(value))  # type: ignore[call-overload]

    skipped = [item.number for item, v in zip(instrument.items, answers, strict=True) if v is None]
    if len(skipped) > instrument.max_missing:
        which = _join(skipped, " and ")
        verb = "item {} was" if len(skipped) == 1 else "items {} were"
        if instrument.max_missing == 0:
            rule = f"{instrument.name} requires every item to be answered"
        else:
            rule = (
                f"{instrument.name} allows at most {instrument.max_missing} of {n} "
                f"items to be skipped"
            )
        errors.setdefault("answers", []).append(f"{verb.format(which)} skipped; {rule}")

    if errors:
        raise InvalidAnswers(errors)
    return values
