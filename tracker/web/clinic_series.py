"""Treatment series pages: start a series, end (or reopen) it, log its sessions.

The rules are those of the series API (an end not before the start, every
session inside its series); a refused form stores nothing and shows each
message next to its field.
"""

from __future__ import annotations

from flask import flash, redirect, request, url_for
from flask_login import current_user
from werkzeug.wrappers import Response as HttpResponse

from tracker.auth import access, audit
from tracker.extensions import db
from tracker.models import Patient, TreatmentSeries, TreatmentSession
from tracker.models.series import SERIES_KINDS
from tracker.models.types import utcnow
from tracker.services import care
from tracker.web import bp
from tracker.web.clinic_patient import PATIENT_ID
from tracker.web.forms import FormErrors, choice, local_datetime, positive_number, text
from tracker.web.guards import clinic_page
from tracker.web.render import input_value, render_audited

SERIES_ID = "<id:series_id>"


def _new_form(
    patient: Patient, values: dict, errors: FormErrors, code: int = 200
) -> tuple[str, int]:
    return (
        render_audited(
            "web/clinic/series_new.html",
            patient=patient,
            values=values,
            errors=errors,
            kinds=SERIES_KINDS,
        ),
        code,
    )


@bp.get(f"/clinic/patients/{PATIENT_ID}/series/new")
@clinic_page
def series_new(patient_id: int) -> tuple[str, int]:
    patient = access.patient_for(patient_id, access.CARERS)
    audit.record("read", "patient", patient.id, patient.id)
    return _new_form(
        patient, {"kind": "induction", "started_at": input_value(utcnow())}, FormErrors()
    )


@bp.post(f"/clinic/patients/{PATIENT_ID}/series")
@clinic_page
def series_create(patient_id: int) -> HttpResponse | tuple[str, int]:
    patient = access.patient_for(patient_id, access.CARERS)
    form, errors = request.form, FormErrors()
    label = text(form, "label", errors, required=True, max_length=200)
    kind = choice(form, "kind", SERIES_KINDS, errors)
    started = local_datetime(form, "started_at", errors, required=True)
    ended = local_datetime(form, "ended_at", errors, required=False)
    notes = text(form, "notes", errors, required=False, max_length=4000)
    if started and ended and ended < started:
        errors.add("ended_at", "The end must not be before the start.")
    if errors:
        return _new_form(patient, form.to_dict(), errors, 422)
    series = TreatmentSeries(
        patient_id=patient.id,
        created_by=current_user.id,
        label=label,
        kind=kind,
        started_at=started,
        ended_at=ended,
        notes=notes,
    )
    db.session.add(series)
    db.session.flush()
    audit.record("create", "series", series.id, patient.id)
    db.session.commit()
    flash("Series started." if ended is None else "Series recorded.")
    return redirect(url_for("web.series_page", series_id=series.id), code=303)


def _series_page(
    series: TreatmentSeries, values: dict, errors: FormErrors, code: int = 200
) -> tuple[str, int]:
    return (
        render_audited(
            "web/clinic/series.html",
            series=series,
            patient=db.session.get(Patient, series.patient_id),
            values=values,
            errors=errors,
        ),
        code,
    )


@bp.get(f"/clinic/series/{SERIES_ID}")
@clinic_page
def series_page(series_id: int) -> tuple[str, int]:
    series = access.record_for(TreatmentSeries, series_id, "series")
    audit.record("read", "series", series.id, series.patient_id)
    # An ongoing series most often gets today's session.
    values = {} if series.ended_at else {"administered_at": input_value(utcnow())}
    return _series_page(series, values, FormErrors())


@bp.post(f"/clinic/series/{SERIES_ID}/end")
@clinic_page
def series_end(series_id: int) -> HttpResponse | tuple[str, int]:
    """Set the end of a series; an empty end reopens it (PATCH {ended_at} in the API)."""
    series = access.record_for(TreatmentSeries, series_id, "series", access.CARERS)
    errors = FormErrors()
    ended = local_datetime(request.form, "ended_at", errors, required=False)
    if not errors and ended is not None and ended < series.started_at:
        errors.add("ended_at", "The end must not be before the start.")
    if not errors and care.sessions_outside(series, series.started_at, ended):
        errors.add("ended_at", "A session of this series would fall after this end.")
    if errors:
        return _series_page(series, request.form.to_dict(), errors, 422)
    series.ended_at = ended
    series.updated_at = utcnow()
    audit.record("update", "series", series.id, series.patient_id)
    db.session.commit()
    flash("Series ended." if ended else "Series reopened.")
    return redirect(url_for("web.series_page", series_id=series.id), code=303)


@bp.post(f"/clinic/series/{SERIES_ID}/sessions")
@clinic_page
def session_create(series_id: int) -> HttpResponse | tuple[str, int]:
    """Log one infusion or visit; it must fall inside the series."""
    series = access.record_for(TreatmentSeries, series_id, "series", access.CARERS)
    form, errors = request.form, FormErrors()
    at = local_datetime(form, "administered_at", errors, required=True)
    dose = positive_number(form, "dose_mg", errors, maximum=100_000)
    notes = text(form, "session_notes", errors, required=False, max_length=4000)
    if at and (at < series.started_at or (series.ended_at is not None and at > series.ended_at)):
        errors.add("administered_at", "The session must fall between the series' start and end.")
    if errors:
        return _series_page(series, form.to_dict(), errors, 422)
    session = TreatmentSession(
        series_id=series.id,
        created_by=current_user.id,
        administered_at=at,
        dose_mg=dose,
        notes=notes,
    )
    db.session.add(session)
    db.session.flush()
    audit.record("create", "session", session.id, series.patient_id)
    db.session.commit()
    flash("Session logged.")
    return redirect(url_for("web.series_page", series_id=series.id), code=303)
