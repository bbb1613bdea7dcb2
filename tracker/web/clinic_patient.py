"""The clinician's patient page: per instrument the chart, series outcomes and item answers.

Reads what GET /patients/{id}, the three trend charts, GET .../series,
GET .../responses, GET /alerts?patient_id= and GET .../due would read, in a
fixed number of queries, and writes the audit events those calls write. Each
series with a measurement plan shows its schedule, visit by visit.
"""

from __future__ import annotations

from collections import defaultdict

from flask import request
from sqlalchemy import select

from tracker import instruments
from tracker.auth import access, audit
from tracker.extensions import db
from tracker.models import Alert, Response, TreatmentSeries
from tracker.models.alert import AlertStatus
from tracker.services import alerts as alert_service
from tracker.services import due, plans
from tracker.web import bp, schedule
from tracker.web.charts import patient_charts
from tracker.web.clinic_list import ALERT_KINDS
from tracker.web.guards import clinic_page
from tracker.web.render import render_audited

PATIENT_ID = "<id:patient_id>"
RECENT = 10  # responses shown per instrument unless "show all" is asked for


@bp.get(f"/clinic/patients/{PATIENT_ID}")
@clinic_page
def clinic_patient(patient_id: int) -> str:
    patient = access.patient_for(patient_id)
    audit.record("read", "patient", patient.id, patient.id)
    charts = patient_charts(patient.id)
    series = list(
        db.session.scalars(
            select(TreatmentSeries)
            .where(TreatmentSeries.patient_id == patient.id)
            .order_by(TreatmentSeries.started_at.desc(), TreatmentSeries.id.desc())
        )
    )
    audit.record("read", "series", patient_id=patient.id)
    responses = list(
        db.session.scalars(
            select(Response)
            .where(Response.patient_id == patient.id)
            .order_by(Response.completed_at.desc(), Response.id.desc())
        )
    )
    audit.record("read", "response", patient_id=patient.id)
    alerts = db.session.execute(
        select(Alert, Response.instrument, Response.completed_at)
        .join(Response, Response.id == Alert.response_id)
        .where(Alert.patient_id == patient.id, Alert.status == AlertStatus.OPEN)
        .order_by(*alert_service.INBOX_ORDER.clauses())
    ).all()
    if alerts:
        audit.record("read", "alert", patient_id=patient.id)
    items = due.for_patient(patient.id)
    if items:
        audit.record("read", "due", patient_id=patient.id)
    plan_names = {
        plan.id: plan.name for plan in plans.load(s.plan_id for s in series if s.plan_id).values()
    }
    by_instrument: dict[str, list[Response]] = defaultdict(list)
    for row in responses:
        by_instrument[row.instrument].append(row)
    show_all = request.args.get("all") == "1"
    return render_audited(
        "web/clinic/patient.html",
        patient=patient,
        charts=charts,
        series=series,
        responses={c: by_instrument.get(c, []) for c in instruments.codes()},
        recent=None if show_all else RECENT,
        alerts=alerts,
        kinds=ALERT_KINDS,
        schedules=schedule.by_series(items),
        tallies={s.id: schedule.tally(i for i in items if i.series_id == s.id) for s in series},
        plan_names=plan_names,
    )
