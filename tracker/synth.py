"""Synthetic patients at scale, for benchmarks and load tests. Every person here is invented.

``tracker.demo`` submits five hand-written patients through the service, one
request-sized transaction per response. Benchmarks need a clinic of 10,000
patients and about a million responses, which that way would take hours, so
this module plans each patient in memory and writes a thousand patients per
transaction in bulk: on SQLite the compiled Core ``insert()`` executed with
executemany in batches, on PostgreSQL ``COPY`` through psycopg (several times
faster). Ids are assigned here, so ``chain_id = id`` is written in the same
row. Values go through each column's own SQLAlchemy bind processor, so the
stored form is exactly the ORM's; SQLAlchemy's per-row parameter handling is
skipped, as it would otherwise be most of the run. Planning and scoring
(pure CPU) run in a worker process while this one writes.

The rows are what a submission would have written: answers scored by the
real core (:func:`tracker.instruments.score`), ``version`` 1, ``updated_at =
recorded_at``, an open alert for every raised flag with an alert rule (e.g.
``suicidal_ideation`` for PHQ-9 item 9 above 0) and an open
``reliable_deterioration`` alert for a reliable worsening since the previous
score or on the baseline of a series that is ongoing or ended within the
post window (:func:`tracker.analysis.change.deterioration`), with the
priority the instrument's alert rules give. There is no
audit event per row (nobody read or wrote a real record); one event records
the run. No Idempotency-Key or request fingerprint either: nothing was retried.

The clinical course follows the demo's (a ketamine induction of six infusions
over about two weeks, then maintenance and boosters: Murrough 2013, Phillips
2019, Feder 2021): about
55 % of patients respond to the induction and their scores fall; the others
stay roughly flat. Responders may relapse and get a booster; non-responders
may get a second induction. Scores carry noise and a slow wobble.

Which instruments a patient answers, how unwell they start and how their
answers spread over the items is each instrument's ``examples``
(:class:`tracker.instruments.Examples`); instruments without them are left
out. Items a flag rule watches (PHQ-9 item 9) are answered apart from the
rest: "flag-prone" patients endorse them when they are unwell.

Deterministic: patient number *k* is drawn from its own ``random.Random`` seeded
with (seed, k), so the same seed and end date give the same data however the
run is chunked. A second run adds patients numbered after the existing ones.
"""

from __future__ import annotations

import bisect
import itertools
import json
import math
import multiprocessing
import random
import time
from collections import deque
from collections.abc import Callable, Iterable, Iterator, Sequence
from concurrent.futures import Future, ProcessPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from typing import Any, NamedTuple

from sqlalchemy import Connection, Table, func, insert, select, text

from tracker import instruments
from tracker.analysis.change import deterioration
from tracker.analysis.trends import DEFAULT_WINDOW, Anchor, Point, SeriesPeriod, find_baseline
from tracker.auth import audit
from tracker.auth.users import create_user
from tracker.extensions import db
from tracker.instruments import Instrument
from tracker.models import (
    Alert,
    CareTeamMember,
    Patient,
    PatientIdentifier,
    Response,
    TreatmentSeries,
    TreatmentSession,
    User,
)
from tracker.models.response import ResponseStatus

__all__ = [
    "SYNTH_MRN_SYSTEM",
    "SynthStats",
    "clinician_emails",
    "default_end",
    "generate",
    "plan_chunk",
    "plan_patient",
]

SYNTH_MRN_SYSTEM = "urn:tracker:synth:mrn"
SYNTH_PASSWORD = "synth-password-2026"  # synthetic accounts only, like the demo's
CLINICIAN_COUNT = 5
PATIENTS_PER_TRANSACTION = 1000  # ≈100,000 responses: few transactions, bounded memory
ROWS_PER_STATEMENT = 5000  # one executemany; keeps each parameter list modest
SCORE_CACHE_LIMIT = 400_000  # memoised scores (about 200 MB) before the cache starts over

FOLLOW_UP_DAYS = 3 * 365  # the oldest patient enrolled three years before the end
MIN_FOLLOW_UP_DAYS = 21  # even the newest patient has a baseline and an induction
DROPOUT_SHARE = 0.2  # patients who stop answering before the end
RESPONDER_SHARE = 0.55  # a fall of at least half after the induction
FLAG_PRONE_SHARE = 0.2  # patients who endorse flagged items (PHQ-9 item 9) when unwell
FLAG_VALUE_WEIGHTS = (0.75, 0.2, 0.05)  # a flagged item's answer: its threshold, +1, +2
MISSED_SHARE = 0.08  # questionnaires not filled in on a visit
DIFFICULTY_SHARE = 0.7  # responses that answer an unscored difficulty item, where there is one
SKIP_SHARE = 0.03  # responses with one item skipped where skips are allowed (prorated total)

# A ketamine induction: 6 infusions over about two weeks (as in tracker.demo;
# Murrough 2013, Phillips 2019, Feder 2021).
INDUCTION_DAYS = (0, 2, 4, 7, 9, 11)
CADENCES = (7, 14, 28)  # days between visits once the induction is over
CADENCE_WEIGHTS = (0.6, 0.25, 0.15)
DENSE_DAYS = 42  # visits stay weekly this long after an induction or booster starts

# Per instrument (baseline, noise, item weights, share, …): Instrument.examples.


def default_end() -> datetime:
    """Midnight UTC today: every synthetic instant lies before it (none is in the future)."""
    return datetime.now(UTC).replace(hour=0, minute=0, second=0, microsecond=0)


def clinician_emails() -> list[str]:
    return [f"synth.clinician{k}@example.test" for k in range(1, CLINICIAN_COUNT + 1)]


# --------------------------------------------------------------------------
# Planning one patient (pure: no database)
# --------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class PlannedSeries:
    label: str
    kind: str
    started_at: datetime
    ended_at: datetime | None  # None: ongoing
    sessions: tuple[tuple[datetime, float], ...]  # (administered_at, dose_mg)


class PlannedResponse(NamedTuple):  # a tuple: a million are made and pickled
    instrument: str
    answers: tuple[int | None, ...]
    difficulty: int | None
    completed_at: datetime
    recorded_at: datetime
    series: int | None  # index into PatientPlan.series


@dataclass(frozen=True, slots=True)
class PatientPlan:
    number: int
    clinician: int  # index into the clinicians
    birth_date: date
    enrolled_at: datetime
    responder: bool
    series: tuple[PlannedSeries, ...]
    responses: tuple[PlannedResponse, ...]

    @property
    def display_name(self) -> str:
        return f"Synthetic {self.number:06d}"

    @property
    def mrn(self) -> str:
        return f"SYN-{self.number:06d}"


@dataclass
class _Course:
    """The patient's illness over time as a multiplier of the baseline score.

    1.0 = as unwell as at enrolment; piecewise linear between key points (day, m).
    """

    days: list[float] = field(default_factory=lambda: [0.0])
    levels: list[float] = field(default_factory=lambda: [1.0])

    def add(self, day: float, level: float) -> None:
        index = bisect.bisect(self.days, day)
        self.days.insert(index, day)
        self.levels.insert(index, level)

    def at(self, day: float) -> float:
        index = bisect.bisect(self.days, day)
        if index >= len(self.days):
            return self.levels[-1]
        d0, d1 = self.days[index - 1], self.days[index]
        l0, l1 = self.levels[index - 1], self.levels[index]
        return l0 + (l1 - l0) * (day - d0) / (d1 - d0) if d1 > d0 else l1


class _Answerer:
    """Item answers that add up to a target total, shaped by one patient's symptom profile.

    Draws points item by item with the profile's weights; above half the
    capacity it draws the missing points instead (inverse weights), so a
    high total needs as few draws as a low one. Items a flag rule watches are
    not drawn: :meth:`answers` returns the others, in item order.
    """

    def __init__(self, rng: random.Random, instrument: Instrument):
        self.rng = rng
        self.code = instrument.code
        assert instrument.examples is not None  # only instruments with examples are planned
        flagged = instrument.flagged_items
        drawn = [i for i, item in enumerate(instrument.items) if item.number not in flagged]
        self.caps = [instrument.items[i].max_value for i in drawn]
        self.capacity = sum(self.caps)
        self.indices = range(len(self.caps))
        item_weights = instrument.examples.item_weights
        weights = [item_weights[i] * rng.lognormvariate(0, 0.35) for i in drawn]
        self.up = _cumulative(weights)
        self.down = _cumulative([1 / w for w in weights])

    def _draw(self, points: int, cumulative: list[float]) -> list[int]:
        values = [0] * len(self.caps)
        caps = self.caps
        while points:
            for i in self.rng.choices(self.indices, cum_weights=cumulative, k=points):
                if values[i] < caps[i]:
                    values[i] += 1
                    points -= 1
        return values

    def answers(self, total: int) -> list[int]:
        total = max(0, min(self.capacity, total))
        if 2 * total <= self.capacity:
            return self._draw(total, self.up)
        missing = self._draw(self.capacity - total, self.down)
        return [cap - m for cap, m in zip(self.caps, missing, strict=True)]


# A flagged item is endorsed by flag-prone patients once their total is above
# this share of the maximum (PHQ-9: 12 of 27), more often the higher it is, and
# rarely by anyone above the second share (PHQ-9: 18 of 27).
_UNWELL_FROM = 4 / 9
_VERY_UNWELL = 2 / 3


def _flag_answers(
    rng: random.Random, instrument: Instrument, total: int, prone: bool
) -> dict[int, int]:
    """Answers to the items a flag rule watches, by 0-based index."""
    values: dict[int, int] = {}
    top = instrument.max_score
    for rule in instrument.flag_rules:
        item = instrument.item(rule.item)
        value = 0
        unwell = (total - _UNWELL_FROM * top) / ((1 - _UNWELL_FROM) * top)
        if prone and unwell > 0 and rng.random() < 0.05 + 0.5 * unwell:
            choices = [v for v in range(rule.at_least, item.max_value + 1) if v in item.values]
            choices = choices[: len(FLAG_VALUE_WEIGHTS)]
            value = rng.choices(choices, weights=FLAG_VALUE_WEIGHTS[: len(choices)])[0]
        elif total >= _VERY_UNWELL * top and rng.random() < 0.01:
            value = rule.at_least
        values[rule.item - 1] = value
    return values


def _cumulative(weights: Sequence[float]) -> list[float]:
    out, running = [], 0.0
    for w in weights:
        running += w
        out.append(running)
    return out


def _day_start(moment: datetime) -> datetime:
    return moment.replace(hour=0, minute=0, second=0, microsecond=0)


def plan_patient(seed: int, number: int, end: datetime) -> PatientPlan:
    """One patient's series, sessions and responses; the same (seed, number, end), the same plan."""
    rng = random.Random(f"tracker-synth:{seed}:{number}")
    enrolled_at = _day_start(end - timedelta(days=rng.uniform(MIN_FOLLOW_UP_DAYS, FOLLOW_UP_DAYS)))
    available = (end - enrolled_at).days  # days from enrolment to the end
    last_day = available
    if rng.random() < DROPOUT_SHARE:
        last_day = round(rng.uniform(min(available, 60), available))
    birth_date = (enrolled_at - timedelta(days=rng.uniform(18 * 365.25, 75 * 365.25))).date()
    weight_kg = rng.uniform(50, 110)  # ketamine is dosed by weight: 0.5 mg/kg
    dose = round(weight_kg * 0.5 * 2) / 2
    responder = rng.random() < RESPONDER_SHARE
    course = _Course()
    series: list[PlannedSeries] = []

    def day_at(day: float, hours: float = 0.0) -> datetime:
        return enrolled_at + timedelta(days=day, hours=hours)

    def add_series(label: str, kind: str, days: Sequence[float], tail_days: float) -> float:
        """Sessions on ``days`` (after the end they are not held); returns the last day."""
        held = [d for d in days if day_at(d, 10) < end]
        if not held:
            return days[0]
        start = day_at(held[0], 9.5)
        finish = held[-1] + tail_days
        ongoing = day_at(finish, 12) >= end or held != list(days)
        series.append(
            PlannedSeries(
                label,
                kind,
                start,
                None if ongoing else day_at(finish, 12),
                tuple((day_at(d, 10), dose) for d in held),
            )
        )
        return finish

    # Baseline visits, then the induction.
    induction = rng.randint(7, 28)
    induction = min(induction, max(1, available - 3))
    dense_from = [induction]
    course.add(induction, 1.0)
    jitter = [d + rng.choice((0, 0, 1)) * (i > 0) for i, d in enumerate(INDUCTION_DAYS)]
    induction_end = add_series(
        "Ketamine induction", "induction", [induction + d for d in jitter], 1
    )
    if responder:
        # Ketamine acts fast: responders are better by the end of the two-week induction.
        settled = induction + rng.uniform(5, 12)
        course.add(settled, rng.uniform(0.12, 0.5))
        if rng.random() < 0.6 and induction_end + 35 < available:
            start = induction_end + rng.uniform(7, 28)
            length = rng.uniform(90, 540)
            days = [start + 7 * k for k in range(4)]
            step = rng.randint(14, 28)
            while days[-1] + step <= start + length:
                days.append(days[-1] + step)
            add_series("Maintenance", "maintenance", days, 3)
        relapses = 2 if rng.random() < 0.1 else 1 if rng.random() < 0.35 else 0
        after = settled + 45
        for _ in range(relapses):
            if last_day - after < 75 or len(series) >= 4:
                break
            onset = rng.uniform(after, last_day - 60)
            peak = onset + rng.uniform(14, 28)
            course.add(onset, course.at(onset))
            course.add(peak, rng.uniform(0.65, 1.0))
            booster = peak + rng.uniform(2, 10)
            sessions = sorted({booster + d for d in (0, 3, 7)[: rng.randint(1, 3)]})
            add_series("Booster after relapse", "booster", sessions, 1)
            dense_from.append(booster)
            recovered = booster + rng.uniform(10, 28)
            course.add(recovered, rng.uniform(0.15, 0.55))
            after = recovered + 45
    else:
        flat = induction + rng.uniform(14, 42)
        course.add(flat, rng.uniform(0.78, 1.02))
        second = induction_end + rng.uniform(30, 90)
        if rng.random() < 0.35 and second + 14 < available:
            course.add(second, course.at(second))
            add_series(
                "Ketamine re-induction", "induction", [second + d for d in INDUCTION_DAYS], 1
            )
            dense_from.append(second)
            level = rng.uniform(0.2, 0.5) if rng.random() < 0.4 else rng.uniform(0.8, 1.0)
            course.add(second + rng.uniform(14, 35), level)

    # Which instruments, how often, how unwell at baseline, how strongly each follows the course.
    cadence = rng.choices(CADENCES, weights=CADENCE_WEIGHTS)[0]
    planned = [
        (inst, ex)
        for inst in instruments.all()
        if (ex := inst.examples) is not None and (ex.share >= 1 or rng.random() < ex.share)
    ]
    profiles = {inst.code: _Answerer(rng, inst) for inst, _ in planned}
    baselines = {}
    for inst, ex in planned:
        mean, spread = ex.baseline
        baselines[inst.code] = min(inst.max_score, max(ex.floor, rng.gauss(mean, spread)))
    strength = {
        inst.code: rng.uniform(*ex.course_strength) if ex.course_strength else 1.0
        for inst, ex in planned
    }
    wobble, period, phase = rng.uniform(0, 0.08), rng.uniform(60, 200), rng.uniform(0, 6.3)
    flag_prone = rng.random() < FLAG_PRONE_SHARE

    responses: list[PlannedResponse] = []
    last_answered: dict[str, float] = {}
    day = 0.0
    while day <= last_day:
        visit = day_at(day, rng.uniform(8, 20))
        if visit >= end:
            break
        illness = course.at(day) + wobble * math.sin(day / period * 2 * math.pi + phase)
        minutes = 0.0
        for inst, examples in planned:
            code = inst.code
            if day - last_answered.get(code, -math.inf) < examples.min_interval_days:
                continue  # e.g. a one-month recall period
            if rng.random() < MISSED_SHARE:
                continue
            last_answered[code] = day
            completed = visit + timedelta(minutes=minutes)
            minutes += rng.uniform(2, 8)
            if completed >= end:
                break
            level = baselines[code] * (1 - (1 - illness) * strength[code])
            total = round(level + rng.gauss(0, examples.noise))
            flagged = _flag_answers(rng, inst, total, flag_prone)
            drawn = iter(profiles[code].answers(total - sum(flagged.values())))
            answers: list[int | None] = [
                flagged[i] if i in flagged else next(drawn) for i in range(inst.item_count)
            ]
            difficulty = None
            if inst.difficulty is not None and rng.random() < DIFFICULTY_SHARE:
                top = inst.difficulty.max_value
                guess = round(total * (top + 1) / (inst.max_score + 1) + rng.gauss(0, 0.6))
                difficulty = max(0, min(top, guess))
            if inst.max_missing and rng.random() < SKIP_SHARE:
                answers[rng.randrange(len(answers))] = None
            recorded = min(completed + timedelta(seconds=rng.uniform(30, 4 * 3600)), end)
            within = next(
                (
                    i
                    for i, s in enumerate(series)
                    if s.started_at <= completed and (s.ended_at is None or completed <= s.ended_at)
                ),
                None,
            )
            responses.append(
                PlannedResponse(code, tuple(answers), difficulty, completed, recorded, within)
            )
        dense = any(0 <= day - d < DENSE_DAYS for d in dense_from) or day < induction
        step = 7 if dense else cadence
        day += step + rng.choice((-1, 0, 0, 0, 1))
    return PatientPlan(
        number=number,
        clinician=rng.randrange(CLINICIAN_COUNT),
        birth_date=birth_date,
        enrolled_at=enrolled_at,
        responder=responder,
        series=tuple(series),
        responses=tuple(responses),
    )


# --------------------------------------------------------------------------
# Writing (bulk inserts)
# --------------------------------------------------------------------------


@dataclass
class SynthStats:
    """What a run added, and how long it took."""

    patients: int = 0
    series: int = 0
    sessions: int = 0
    responses: int = 0
    alerts: int = 0
    seconds: float = 0.0
    first_number: int = 0
    clinicians: list[str] = field(default_factory=list)


class Scored(NamedTuple):
    """What score() said about one response, as stored (JSON columns already serialised)."""

    total: int
    prorated: bool
    severity: str
    flags: tuple[str, ...]
    screen_positive: bool
    provisional_diagnosis: bool | None
    answers_json: str
    subscales_json: str
    flags_json: str


ScoredPlan = tuple[PatientPlan, list[Scored]]  # a plan and the scores of its responses


class _Scorer:
    """tracker.instruments.score, memoised: it is pure, and answer patterns repeat a lot.

    PHQ-9 items 1–8 have 65,536 possible answer vectors and GAD-7 16,384, so
    over a big run nearly every PHQ-9 and GAD-7 row is a cache hit; scoring
    each afresh would be a third of the run. The JSON columns are serialised
    here too, once per distinct answers, with ``json.dumps`` as SQLAlchemy's
    JSON type does on both dialects (the app configures no ``json_serializer``).
    """

    def __init__(self) -> None:
        self.cache: dict[tuple, Scored] = {}

    def __call__(self, code: str, answers: tuple[int | None, ...]) -> Scored:
        key = (code, answers)
        hit = self.cache.get(key)
        if hit is None:
            if len(self.cache) >= SCORE_CACHE_LIMIT:  # long instruments' answers rarely repeat
                self.cache.clear()
            r = instruments.score(instruments.get(code), list(answers))
            hit = Scored(
                r.total,
                r.prorated,
                r.severity.code,
                r.flags,
                r.screen_positive,
                r.provisional_diagnosis,
                json.dumps(list(answers)),
                json.dumps(dict(r.subscales)),
                json.dumps(list(r.flags)),
            )
            self.cache[key] = hit
        return hit


_scorer = _Scorer()  # one per process, so the cache lasts across chunks


def plan_chunk(seed: int, numbers: Sequence[int], end: datetime) -> list[ScoredPlan]:
    """Plan and score a chunk of patients: pure, so a worker process can do it."""
    return [
        (plan, [_scorer(r.instrument, r.answers) for r in plan.responses])
        for plan in (plan_patient(seed, number, end) for number in numbers)
    ]


_TABLES: tuple[Table, ...] = (
    Patient.__table__,
    PatientIdentifier.__table__,
    CareTeamMember.__table__,
    TreatmentSeries.__table__,
    TreatmentSession.__table__,
    Response.__table__,
    Alert.__table__,
)
_ID_TABLES: tuple[Table, ...] = (Patient.__table__, TreatmentSeries.__table__, Response.__table__)


def _clinicians() -> list[int]:
    """The synthetic clinicians' ids, creating any that are missing."""
    ids = []
    for email in clinician_emails():
        user = db.session.scalar(select(User).where(User.email == email))
        ids.append((user or create_user(email, SYNTH_PASSWORD, "clinician")).id)
    db.session.commit()
    return ids


def _next_number() -> int:
    """Patient numbers continue after the existing synthetic MRNs, which stay unique."""
    values = db.session.scalars(
        select(PatientIdentifier.value)
        .where(PatientIdentifier.system == SYNTH_MRN_SYSTEM)
        .order_by(func.length(PatientIdentifier.value).desc(), PatientIdentifier.value.desc())
        .limit(1)
    ).all()
    return int(values[0].removeprefix("SYN-")) + 1 if values else 1


def _claim_ids(conn: Connection) -> dict[str, int]:
    """Lock out other writers for this transaction and return the highest id per table.

    PostgreSQL: a SHARE ROW EXCLUSIVE lock lets reads through but makes other
    inserts wait, so nobody takes an id from the range we fill. SQLite: a
    write statement that changes nothing takes the database's write lock.
    """
    if conn.dialect.name == "postgresql":
        names = ", ".join(f'"{t.name}"' for t in _TABLES)
        conn.exec_driver_sql(f"LOCK TABLE {names} IN SHARE ROW EXCLUSIVE MODE")
    else:
        conn.exec_driver_sql("UPDATE patient SET id = id WHERE 0")
    return {
        t.name: conn.scalar(select(func.coalesce(func.max(t.c.id), 0))) or 0 for t in _ID_TABLES
    }


def _advance_sequences(conn: Connection) -> None:
    """PostgreSQL: move each id sequence past the ids written here, so later inserts fit."""
    if conn.dialect.name != "postgresql":
        return
    for table in _ID_TABLES:
        conn.execute(
            text(
                "SELECT setval(pg_get_serial_sequence(:t, 'id'),"
                f' (SELECT coalesce(max(id), 1) FROM "{table.name}"))'
            ),
            {"t": table.name},
        )


# Column order of the tuples each table's rows are built as.
_KEYS: dict[str, tuple[str, ...]] = {
    "patient": (
        "id",
        "display_name",
        "birth_date",
        "created_at",
        "updated_at",
        "version",
        "reminders",
    ),
    "patient_identifier": ("patient_id", "system", "value"),
    "care_team": ("patient_id", "user_id", "added_at"),
    "treatment_series": (
        "id",
        "patient_id",
        "label",
        "kind",
        "started_at",
        "ended_at",
        "created_by",
        "created_at",
        "updated_at",
    ),
    "treatment_session": ("series_id", "administered_at", "dose_mg", "created_by", "created_at"),
    "response": (
        "id",
        "chain_id",
        "version",
        "patient_id",
        "instrument",
        "instrument_version",
        "answers",
        "difficulty",
        "total",
        "prorated",
        "severity",
        "subscales",
        "flags",
        "screen_positive",
        "provisional_diagnosis",
        "completed_at",
        "recorded_at",
        "updated_at",
        "source",
        "entered_by",
        "status",
        "series_id",
    ),
    "alert": ("patient_id", "response_id", "kind", "priority", "status", "created_at"),
}
_JSON_KEYS = ("answers", "subscales", "flags")  # serialised by _Scorer


def _processor(conn: Connection, table: Table, key: str) -> Callable[[Any], Any] | None:
    """The bind processor SQLAlchemy itself applies to this column on this dialect.

    Using it keeps the stored form exactly what the ORM writes (UTC naive text
    on SQLite, JSON text, 0/1 booleans) while skipping SQLAlchemy's per-row
    parameter handling, which would otherwise be most of the run.
    """
    column_type = table.c[key].type
    return column_type.dialect_impl(conn.dialect).bind_processor(conn.dialect)


def _insert(conn: Connection, table: Table, rows: list[tuple], done: Sequence[str] = ()) -> None:
    """Bulk-insert tuples in _KEYS order; columns in ``done`` are already processed.

    SQLite: the compiled Core ``insert()``, executemany in batches. PostgreSQL:
    COPY through psycopg, several times faster than multi-row INSERTs.
    """
    if not rows:
        return
    keys = _KEYS[table.name]
    compiled = insert(table).compile(dialect=conn.dialect, column_keys=list(keys))
    if conn.dialect.name != "postgresql":  # positional parameters, in the compiled order
        keys = tuple(compiled.positiontup or keys)
    where = [_KEYS[table.name].index(key) for key in keys]
    processors = [
        (i, p, type(table.c[key].type))
        for i, key in enumerate(keys)
        if key not in done and (p := _processor(conn, table, key)) is not None
    ]
    prepared = []
    for row in rows:
        values = [row[i] for i in where]
        last, last_type, last_out = None, None, None
        for i, process, column_type in processors:
            value = values[i]
            # updated_at is recorded_at: the same object of the same type, processed once.
            if value is not last or column_type is not last_type or value is None:
                last, last_type, last_out = value, column_type, process(value)
            values[i] = last_out
        prepared.append(tuple(values))
    if conn.dialect.name == "postgresql":
        columns = ", ".join(f'"{k}"' for k in keys)
        cursor = conn.connection.driver_connection.cursor()  # type: ignore[union-attr]
        with cursor.copy(f'COPY "{table.name}" ({columns}) FROM STDIN') as copy:
            for values in prepared:
                copy.write_row(values)
        return
    for start in range(0, len(prepared), ROWS_PER_STATEMENT):
        conn.exec_driver_sql(str(compiled), prepared[start : start + ROWS_PER_STATEMENT])


def _worse_than_a_series_baseline(
    instrument: Instrument,
    seen: list[Point],
    periods: list[SeriesPeriod],
    cache: dict[tuple[int, str], Anchor | None],
    response_id: int,
    completed_at: datetime,
    total: int,
) -> bool:
    """As services.responses: reliably worse than the baseline of a series that is
    ongoing at ``completed_at`` or ended within the post window before it.

    ``seen``: this instrument's points so far, this one last. A series' baseline
    is fixed once a later point exists, so it is found once and kept.
    """
    for period in periods:
        if period.started_at > completed_at:
            continue
        if period.ended_at is not None and period.ended_at < completed_at - DEFAULT_WINDOW:
            continue
        key = (period.series_id, instrument.code)
        if key in cache:
            baseline = cache[key]
        else:
            baseline = find_baseline(seen, period, DEFAULT_WINDOW)
            if completed_at > period.started_at:
                cache[key] = baseline
        if (
            baseline is not None
            and baseline.response_id != response_id
            and deterioration(instrument, baseline.total, total)
        ):
            return True
    return False


def _write_chunk(
    conn: Connection,
    plans: Iterable[ScoredPlan],
    clinician_ids: Sequence[int],
    stats: SynthStats,
) -> None:
    """Rows for a chunk of patients, parents first, in one transaction."""
    top = _claim_ids(conn)
    patient_id, series_id, response_id = (top[t.name] for t in _ID_TABLES)
    patients: list[tuple] = []
    identifiers: list[tuple] = []
    care_team: list[tuple] = []
    series_rows: list[tuple] = []
    sessions: list[tuple] = []
    responses: list[tuple] = []
    alerts: list[tuple] = []
    for plan, scores in plans:
        patient_id += 1
        clinician = clinician_ids[plan.clinician]
        enrolled = plan.enrolled_at
        patients.append(
            (patient_id, plan.display_name, plan.birth_date, enrolled, enrolled, 1, "on")
        )
        identifiers.append((patient_id, SYNTH_MRN_SYSTEM, plan.mrn))
        care_team.append((patient_id, clinician, enrolled))
        first_series = series_id + 1
        for s in plan.series:
            series_id += 1
            series_rows.append(
                (
                    series_id,
                    patient_id,
                    s.label,
                    s.kind,
                    s.started_at,
                    s.ended_at,
                    clinician,
                    s.started_at,
                    s.ended_at or s.started_at,
                )
            )
            sessions.extend((series_id, at, dose, clinician, at) for at, dose in s.sessions)
        previous: dict[str, int] = {}
        points: dict[str, list[Point]] = {}
        periods = [
            SeriesPeriod(first_series + i, s.label, s.kind, s.started_at, s.ended_at)
            for i, s in enumerate(plan.series)
        ]
        baselines: dict[tuple[int, str], Anchor | None] = {}
        for r, scored in zip(plan.responses, scores, strict=True):
            total = scored.total
            response_id += 1
            code = r.instrument
            instrument = instruments.get(code)
            responses.append(
                (
                    response_id,
                    response_id,  # chain_id: the first version of its own chain
                    1,
                    patient_id,
                    code,
                    instrument.version,
                    scored.answers_json,
                    r.difficulty,
                    total,
                    scored.prorated,
                    scored.severity,
                    scored.subscales_json,
                    scored.flags_json,
                    scored.screen_positive,
                    scored.provisional_diagnosis,
                    r.completed_at,
                    r.recorded_at,
                    r.recorded_at,  # updated_at: unchanged since it was recorded
                    "clinician",
                    clinician,
                    ResponseStatus.FINAL.value,
                    None if r.series is None else first_series + r.series,
                )
            )
            # The same alerts, in the same order, as services.responses._raise_alerts.
            opened = list(instrument.alerts_for(r.answers, scored.flags))
            before = previous.get(code)
            seen = points.setdefault(code, [])
            seen.append(Point(response_id, r.completed_at, total, scored.severity))
            # deterioration() decides; the cheap pre-checks spare it the million easy calls.
            if (
                before is not None
                and total - before >= instrument.thresholds.reliable_change
                and deterioration(instrument, before, total)
            ) or (
                total >= instrument.thresholds.reliable_change
                and _worse_than_a_series_baseline(
                    instrument, seen, periods, baselines, response_id, r.completed_at, total
                )
            ):
                opened.append(
                    (
                        instruments.RELIABLE_DETERIORATION,
                        instruments.RELIABLE_DETERIORATION_PRIORITY,
                    )
                )
            previous[code] = total
            alerts.extend(
                (patient_id, response_id, kind, priority, "open", r.recorded_at)
                for kind, priority in opened
            )
    for table, rows in zip(
        _TABLES,
        (patients, identifiers, care_team, series_rows, sessions, responses, alerts),
        strict=True,
    ):
        _insert(conn, table, rows, _JSON_KEYS if table.name == "response" else ())
    _advance_sequences(conn)
    stats.patients += len(patients)
    stats.series += len(series_rows)
    stats.sessions += len(sessions)
    stats.responses += len(responses)
    stats.alerts += len(alerts)


def generate(
    patients: int,
    seed: int = 0,
    end: datetime | None = None,
    progress: Callable[[SynthStats], None] | None = None,
    chunk: int = PATIENTS_PER_TRANSACTION,
    workers: int | None = None,
) -> SynthStats:
    """Add ``patients`` synthetic patients with their series, sessions, responses and alerts.

    Needs an app context. ``end`` (default: midnight UTC today) is the moment
    all data lies before; fix it to reproduce a data set exactly. ``chunk``
    patients go in one transaction. Planning and scoring (pure CPU) run in
    ``workers`` processes while this one writes; by default one worker when
    there is more than one chunk, none otherwise (starting one costs a second).
    """
    started = time.perf_counter()
    end = end or default_end()
    if end.tzinfo is None:
        raise ValueError("end must be an aware datetime")
    stats = SynthStats(clinicians=clinician_emails())
    clinician_ids = _clinicians()
    stats.first_number = first = _next_number()
    db.session.commit()  # release the session's connection: the bulk writes use their own
    numbers = [
        range(first + offset, first + min(patients, offset + chunk))
        for offset in range(0, patients, chunk)
    ]
    if workers is None:
        workers = 1 if len(numbers) > 1 else 0
    for planned in _planned_chunks(seed, numbers, end, workers):
        with db.engine.begin() as conn:
            if conn.dialect.name == "sqlite":
                # A bigger page cache for this connection: 1M rows with 9 indexes.
                conn.exec_driver_sql("PRAGMA cache_size = -262144")
            _write_chunk(conn, planned, clinician_ids, stats)
        stats.seconds = time.perf_counter() - started
        if progress is not None:
            progress(stats)
    with db.engine.begin() as conn:
        if conn.dialect.name == "postgresql":
            # Fresh statistics, as autovacuum would gather soon after a bulk load.
            for table in _TABLES:
                conn.exec_driver_sql(f'ANALYZE "{table.name}"')
        else:
            conn.exec_driver_sql("PRAGMA cache_size = -2000")  # back to SQLite's default
    detail = f"patients={stats.patients},responses={stats.responses},seed={seed}"
    audit.record("create", "synth", detail=detail)
    db.session.commit()
    stats.seconds = time.perf_counter() - started
    return stats


def _planned_chunks(
    seed: int, numbers: Sequence[range], end: datetime, workers: int
) -> Iterator[list[ScoredPlan]]:
    """Planned chunks in order; with workers, the next ones are planned while one is written.

    At most ``workers + 1`` chunks are in flight, so memory stays bounded
    when writing is the slower half. Workers are forked where the platform
    can: they need nothing but this module, and "spawn" would re-run the
    caller's ``__main__`` (fragile for scripts and ``python -``); they never
    touch the database connections they inherit.
    """
    if workers <= 0:
        for chunk in numbers:
            yield plan_chunk(seed, chunk, end)
        return
    methods = multiprocessing.get_all_start_methods()
    context = multiprocessing.get_context("fork" if "fork" in methods else "spawn")
    with ProcessPoolExecutor(workers, mp_context=context) as pool:
        pending: deque[Future[list[ScoredPlan]]] = deque()
        queue = iter(numbers)
        for chunk in itertools.islice(queue, workers + 1):
            pending.append(pool.submit(plan_chunk, seed, chunk, end))
        while pending:
            planned = pending.popleft().result()
            for chunk in itertools.islice(queue, 1):
                pending.append(pool.submit(plan_chunk, seed, chunk, end))
            yield planned
