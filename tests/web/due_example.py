"""The worked example of the due pages, arranged through the services, relative to now.

A plan with a baseline entry open now and a weekly repeating entry, given to
a series that started 10 days ago; two PHQ-9 answers complete some items:

| visit          | window (days from now) | PHQ-9                | GAD-7     |
| -------------- | ---------------------- | -------------------- | --------- |
| Baseline       | −13 … +2               | completed (day −12)  | due       |
| Weekly 1 (r0)  | −10 … −6               | completed (day −9)   | missed    |
| Weekly 2 (r1)  | −3 … +1                | due                  | due       |
| Weekly 3 (r2)  | +4 … +8                | upcoming             | upcoming  |

So: 3 due, 1 missed, 2 completed, 2 upcoming. The patient's home shows
GAD-7 and PHQ-9 due by day +1 (GAD-7 for the baseline and the weekly visit).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import select

from tests.helpers import answers_for
from tracker.extensions import db
from tracker.models import CareTeamMember, Patient, PatientIdentifier, User
from tracker.models.types import utcnow
from tracker.services import plans
from tracker.services import series as series_service
from tracker.services.responses import Submission, submit

DAY = timedelta(days=1)
MRN_SYSTEM = "urn:tracker:test:mrn"
INDUCTION_ENTRIES = [
    {"label": "Baseline", "anchor": "series_start", "offset_days": -3, "window_days": 15},
    {
        "label": "Weekly",
        "anchor": "series_start",
        "offset_days": 0,
        "window_days": 4,
        "repeat_every_days": 7,
    },
]
PHQ9_HIGH = [0, 0, 0, 0, 0, 0, 0, 0, 2]  # item 9 = 2: a high-priority alert
CHECK_IN = [{"label": "Check-in", "anchor": "series_start", "offset_days": 0, "window_days": 3}]


@dataclass
class Example:
    plan_id: int
    series_id: int
    started_at: datetime
    baseline_phq9: int  # response ids
    weekly_phq9: int


def make_plan(name: str, entries: list[dict], instruments: list[str]) -> int:
    admin = db.session.scalars(select(User).where(User.role == "admin")).first()
    return plans.create(admin, name=name, instruments=instruments, entries=entries).id


def start_series(patient_id: int, plan_id: int | None, started_at: datetime, label: str) -> int:
    patient = db.session.get(Patient, patient_id)
    clinician = db.session.scalars(select(User).where(User.role != "patient")).first()
    return series_service.start(
        clinician, patient, label=label, kind="induction", started_at=started_at, plan_id=plan_id
    ).id


def answer(patient_id: int, instrument: str, at: datetime, answers: list[int] | None = None) -> int:
    actor = db.session.scalars(select(User).where(User.role == "admin")).first()
    row, _ = submit(
        Submission(patient_id, instrument, answers or answers_for(instrument, 12), at), actor
    )
    return row.id


def add_patient(name: str, clinician_id: int, mrn: str | None = None) -> int:
    patient = Patient(display_name=name)
    db.session.add(patient)
    db.session.flush()
    db.session.add(CareTeamMember(patient_id=patient.id, user_id=clinician_id))
    if mrn:
        db.session.add(PatientIdentifier(patient_id=patient.id, system=MRN_SYSTEM, value=mrn))
    db.session.commit()
    return patient.id


def worked_example(patient_id: int, now: datetime | None = None) -> Example:
    """Inside an app context: the plan, the series and the two PHQ-9 answers of the table."""
    now = now or utcnow()
    plan_id = make_plan("Ketamine induction", INDUCTION_ENTRIES, ["phq9", "gad7"])
    started = now - 10 * DAY
    series_id = start_series(patient_id, plan_id, started, "Ketamine induction")
    baseline = answer(patient_id, "phq9", now - 12 * DAY)
    weekly = answer(patient_id, "phq9", now - 9 * DAY)
    return Example(plan_id, series_id, started, baseline, weekly)


def arrange_attention(world) -> dict[str, int]:  # type: ignore[no-untyped-def]
    """Due only, missed only, a high alert only; added in the reverse of the expected order."""
    now = utcnow()
    with world.app.app_context():
        plan = make_plan("Check-in", CHECK_IN, ["phq9"])
        ids = {
            "Alpha Due": add_patient("Alpha Due", world.clinician_a_id),
            "Bravo Missed": add_patient("Bravo Missed", world.clinician_a_id),
            "Charlie Alert": add_patient("Charlie Alert", world.clinician_a_id),
        }
        start_series(ids["Alpha Due"], plan, now - DAY, "Check-in")
        start_series(ids["Bravo Missed"], plan, now - 10 * DAY, "Check-in")
        answer(ids["Charlie Alert"], "phq9", now - 30 * DAY, PHQ9_HIGH)
    return ids
