"""A small synthetic clinic for demos and manual testing. Every person here is invented.

Each demo patient has a score course per instrument: a few (week, total)
key points, interpolated with a little noise at the instrument's demo cadence
(``Instrument.examples``) and turned into item answers that sum to the
target. Add a patient by adding a DemoPatient. Nothing here knows an
instrument's items: flagged items (e.g. PHQ-9 item 9) come from its flag rules.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from sqlalchemy import select

from tracker import instruments
from tracker.auth.users import create_user
from tracker.extensions import db
from tracker.instruments import Instrument
from tracker.models import (
    MeasurementPlan,
    Patient,
    PatientIdentifier,
    TreatmentSeries,
    User,
)
from tracker.services import patients as patient_service
from tracker.services import plans as plan_service
from tracker.services import series as series_service
from tracker.services.responses import Submission, submit

DEMO_MRN_SYSTEM = "urn:tracker:demo:mrn"
DEMO_PASSWORD = "demo-password-2026"  # synthetic accounts only; printed by `tracker demo`
ADMIN = "admin@demo.tracker.test"
CLINICIANS = ("dr.rivera@demo.tracker.test", "dr.okafor@demo.tracker.test")
WEEKS = 26


@dataclass(frozen=True)
class DemoSeries:
    label: str
    kind: str
    start_week: float
    end_week: float | None  # None: ongoing
    session_days: tuple[int, ...] = ()  # days after the start
    plan: str | None = None  # the name of one of DEMO_PLANS


# Research protocols measure at baseline, weekly during the series, at its end and in
# follow-up for about 4-12 weeks (Murrough 2013, Feder 2021, Abdallah 2022); no guideline
# fixes a cadence, so a clinic writes its own plans. These two are the demo clinic's.
KETAMINE_PLAN = "Ketamine induction: PHQ-9 + GAD-7"
PTSD_PLAN = "PTSD: PCL-5"
DEMO_PLANS = (
    {
        "name": KETAMINE_PLAN,
        "instruments": ["phq9", "gad7"],
        "entries": [
            {"label": "Baseline", "anchor": "series_start", "offset_days": -7, "window_days": 7},
            {
                "label": "During the series",
                "anchor": "series_start",
                "offset_days": 7,
                "window_days": 2,
                "repeat_every_days": 7,
            },
            {"label": "Post-series", "anchor": "series_end", "offset_days": 0, "window_days": 7},
            {
                "label": "Follow-up 4 weeks",
                "anchor": "series_end",
                "offset_days": 28,
                "window_days": 7,
                "instruments": ["phq9"],
            },
            {
                "label": "Follow-up 12 weeks",
                "anchor": "series_end",
                "offset_days": 84,
                "window_days": 7,
                "instruments": ["phq9"],
            },
        ],
    },
    {
        "name": PTSD_PLAN,
        "instruments": ["pcl5"],
        "entries": [
            {"label": "Baseline", "anchor": "series_start", "offset_days": -7, "window_days": 7},
            {
                "label": "Weekly",
                "anchor": "series_start",
                "offset_days": 7,
                "window_days": 2,
                "repeat_every_days": 7,
            },
            {"label": "Post-series", "anchor": "series_end", "offset_days": 0, "window_days": 7},
            {
                "label": "Follow-up 4 weeks",
                "anchor": "series_end",
                "offset_days": 28,
                "window_days": 7,
            },
        ],
    },
)


# A ketamine induction: 6 infusions over about two weeks (Murrough 2013, Phillips 2019,
# Feder 2021); maintenance: weekly, then individualised boosters.
INDUCTION_DAYS = (0, 2, 4, 7, 9, 11)


@dataclass(frozen=True)
class DemoPatient:
    name: str
    mrn: str
    clinician: int  # index into CLINICIANS
    # instrument code -> [(week, total), ...]; interpolated between key points
    courses: dict[str, list[tuple[int, int]]] = field(default_factory=dict)
    login: str | None = None
    flag_weeks: tuple[int, ...] = ()  # weeks where flagged items (PHQ-9 item 9) are endorsed
    series: tuple[DemoSeries, ...] = ()
    # (instrument code, week, answers): exact answers instead of generated ones, where the
    # demo must show a particular result on the pages
    answered: tuple[tuple[str, int, tuple[int, ...]], ...] = ()


PATIENTS = (
    DemoPatient(
        "Avery Synthetic",
        "DEMO-0001",
        0,
        # responds to the induction, relapses around week 20, booster from week 22
        {
            "phq9": [(0, 21), (4, 19), (7, 8), (12, 6), (18, 7), (21, 17), (25, 9)],
            "gad7": [(0, 15), (6, 9), (25, 6)],
        },
        login="avery@demo.tracker.test",
        flag_weeks=(0, 1),
        series=(
            DemoSeries("Ketamine induction", "induction", 4, 6, INDUCTION_DAYS, KETAMINE_PLAN),
            DemoSeries("Maintenance", "maintenance", 10, 18, (0, 7, 21, 35, 56)),
            DemoSeries("Booster after relapse", "booster", 22, None, (0, 3), KETAMINE_PLAN),
        ),
    ),
    DemoPatient(
        "Blake Synthetic",  # a non-responder
        "DEMO-0002",
        0,
        {"phq9": [(0, 17), (8, 15), (16, 16), (25, 14)], "gad7": [(0, 12), (25, 11)]},
        series=(
            DemoSeries("Ketamine induction", "induction", 6, 8, INDUCTION_DAYS, KETAMINE_PLAN),
        ),
    ),
    DemoPatient(
        "Casey Synthetic",
        "DEMO-0003",
        1,
        {
            "pcl5": [(0, 52), (4, 44), (8, 30), (16, 26), (25, 28)],
            "phq9": [(0, 14), (8, 8), (25, 6)],
        },
        login="casey@demo.tracker.test",
        series=(
            DemoSeries("Ketamine induction (PTSD)", "induction", 5, 7, INDUCTION_DAYS, PTSD_PLAN),
            DemoSeries("Maintenance", "maintenance", 12, None, (0, 14, 28, 56, 84)),
        ),
    ),
    DemoPatient(
        "Devon Synthetic",
        "DEMO-0004",
        1,
        {"gad7": [(0, 12), (6, 8), (25, 4)], "phq9": [(0, 10), (25, 4)]},
    ),
    DemoPatient(
        "Emery Synthetic",
        "DEMO-0005",
        0,
        {
            "phq9": [(0, 19), (4, 12), (8, 7), (14, 4), (25, 3)],
            "pcl5": [(0, 38), (12, 24), (25, 18)],
        },
        series=(
            DemoSeries("Ketamine induction", "induction", 2, 4, INDUCTION_DAYS, KETAMINE_PLAN),
        ),
    ),
    DemoPatient(
        "Finley Synthetic",  # mild symptoms: a booster series that starts below the clinical range
        "DEMO-0006",
        1,
        {"phq9": [(0, 8), (13, 7), (16, 2), (25, 3)]},
        series=(DemoSeries("Booster", "booster", 14, 15, (0, 3)),),
        # Items 1 and 3 "more than half the days", nothing else that counts: 2 symptoms with a
        # core one, the PHQ "other depressive syndrome" (total 7, below the cut-off).
        answered=(("phq9", 12, (2, 0, 2, 1, 1, 0, 1, 0, 0)),),
    ),
    DemoPatient(
        "Gray Synthetic",  # referred for an induction that starts in 3 days: baseline due now
        "DEMO-0007",
        0,
        {"phq9": [(0, 16), (25, 18)], "gad7": [(0, 11), (25, 13)]},
        login="gray@demo.tracker.test",
        series=(
            DemoSeries("Ketamine induction", "induction", WEEKS + 3 / 7, None, (), KETAMINE_PLAN),
        ),
    ),
)


def interpolate(points: list[tuple[int, int]], week: int) -> float:
    for (w0, t0), (w1, t1) in zip(points, points[1:], strict=False):
        if w0 <= week <= w1:
            return t0 + (t1 - t0) * (week - w0) / (w1 - w0)
    return float(points[-1][1])


def answers_for_total(
    rng: random.Random, instrument: Instrument, total: int, endorse_flags: bool = False
) -> list[int]:
    """Item answers that sum to total, spread at random.

    Items a flag rule watches (PHQ-9 item 9) are left at 0, or set to the
    rule's threshold when ``endorse_flags``; the rest share the remainder.
    """
    answers = [0] * instrument.item_count
    capacity = [item.max_value for item in instrument.items]
    for rule in instrument.flag_rules:
        answers[rule.item - 1] = rule.at_least if endorse_flags else 0
        capacity[rule.item - 1] = 0
    remaining = max(0, min(total - sum(answers), sum(capacity)))
    while remaining:
        open_items = [i for i, cap in enumerate(capacity) if answers[i] < cap]
        answers[rng.choice(open_items)] += 1
        remaining -= 1
    return answers


def _user(email: str, role: str, patient_id: int | None = None) -> User:
    existing = db.session.scalar(select(User).where(User.email == email))
    return existing or create_user(email, DEMO_PASSWORD, role, patient_id)


def _patient(spec: DemoPatient, clinician: User) -> tuple[Patient, bool]:
    """The demo patient, registered through the same use case as the API's (care team included)."""
    existing = db.session.scalar(
        select(Patient)
        .join(PatientIdentifier)
        .where(PatientIdentifier.system == DEMO_MRN_SYSTEM, PatientIdentifier.value == spec.mrn)
    )
    if existing:
        return existing, False
    return patient_service.register(clinician, spec.name, None, [(DEMO_MRN_SYSTEM, spec.mrn)]), True


def _plans(admin: User) -> dict[str, int]:
    """The demo plans by name, created through the plans use case unless they exist."""
    ids = {}
    for plan in DEMO_PLANS:
        existing = db.session.scalar(
            select(MeasurementPlan.id).where(MeasurementPlan.name == plan["name"])
        )
        ids[plan["name"]] = existing or plan_service.create(admin, **plan).id
    return ids


def _series(
    patient: Patient, plan: DemoSeries, start: datetime, clinician: User, plan_ids: dict[str, int]
) -> TreatmentSeries:
    """A series and its sessions, under the rules every shell obeys (sessions inside it)."""
    started = start + timedelta(weeks=plan.start_week, hours=1)
    ended = None if plan.end_week is None else start + timedelta(weeks=plan.end_week, hours=2)
    series = series_service.start(
        clinician,
        patient,
        label=plan.label,
        kind=plan.kind,
        started_at=started,
        ended_at=ended,
        plan_id=plan_ids[plan.plan] if plan.plan else None,
    )
    for day in plan.session_days:
        series_service.log_session(
            clinician,
            series,
            administered_at=started + timedelta(days=day, minutes=30),
            dose_mg=35.0,
        )
    return series


def load_demo(today: datetime | None = None) -> list[tuple[str, str, str]]:
    """Create the demo clinic unless it exists; return (email, password, role) logins."""
    rng = random.Random(2026)
    start = (today or datetime.now(UTC)).replace(hour=9, minute=0, second=0, microsecond=0)
    start -= timedelta(weeks=WEEKS)
    admin = _user(ADMIN, "admin")
    plan_ids = _plans(admin)
    clinicians = [_user(email, "clinician") for email in CLINICIANS]
    logins = [(ADMIN, DEMO_PASSWORD, "admin")] + [
        (e, DEMO_PASSWORD, "clinician") for e in CLINICIANS
    ]
    for spec in PATIENTS:
        clinician = clinicians[spec.clinician]
        patient, created = _patient(spec, clinician)
        if spec.login:
            _user(spec.login, "patient", patient.id)
            logins.append((spec.login, DEMO_PASSWORD, "patient"))
        db.session.commit()
        if not created:
            continue
        periods = [_series(patient, plan, start, clinician, plan_ids) for plan in spec.series]
        for code, points in spec.courses.items():
            instrument = instruments.get(code)
            every = instrument.examples.demo_every_weeks if instrument.examples else 1
            for week in range(0, WEEKS, every):
                target = round(interpolate(points, week) + rng.uniform(-1.5, 1.5))
                target = max(instrument.min_score, min(instrument.max_score, target))
                answers = answers_for_total(rng, instrument, target, week in spec.flag_weeks)
                fixed = [a for c, w, a in spec.answered if (c, w) == (code, week)]
                answers = list(fixed[0]) if fixed else answers
                when = start + timedelta(weeks=week, hours=rng.randint(0, 8))
                series_id = next(
                    (
                        s.id
                        for s in periods
                        if s.started_at <= when and (s.ended_at is None or when <= s.ended_at)
                    ),
                    None,
                )
                submit(Submission(patient.id, code, answers, when, series_id), clinician)
    return logins
