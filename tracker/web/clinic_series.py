"""Treatment series pages: start a series, end (or reopen) it, log its sessions, give it a plan.

Every write goes through :mod:`tracker.services.series`, so the rules (an end
not before the start, every session inside its series, a plan that exists
and is not retired) and the locking are the API's: the end and plan forms
carry the version the page showed, and a series changed meanwhile is not
overwritten. A refused form stores nothing and shows each message next to its
field.
"""

from __future__ import annotations

from flask import flash, redirect, request, url_for
from flask_login import current_user
from werkzeug.wrappers import Response as HttpResponse

from tracker.auth import access, audit
from tracker.extensions import db
from tracker.models import MeasurementPlan, Patient, TreatmentSeries
from tracker.models.series import SERIES_KINDS
from tracker.models.types import utcnow
from tracker.services import plans
from tracker.services import series as service
from tracker.services.errors import Invalid, Stale
from tracker.web import bp
from tracker.web.clinic_patient import PATIENT_ID
from tracker.web.forms import (
    FormErrors,
    choice,
    local_datetime,
    optional_id,
    positive_number,
    text,
)
from tracker.web.guards import clinic_page
from tracker.web.render import input_value, render_audited

SERIES_ID = "<id:series_id>"


def _place(invalid: Invalid, errors: FormErrors, fields: dict[str, str] | None = None) -> None:
    """Show the service's field messages next to the page's fields (renamed where they differ)."""
    for path, messages in invalid.errors.items():
        errors.add((fields or {}).get(path, path), " ".join(messages))


def plan_choices(kept: int | None = None) -> list[MeasurementPlan]:
    """The plans a series may take (not retired), and the plan it has, even if since retired."""
    current = list(db.session.scalars(plans.listing().order_by(*plans.LIST_ORDER.clauses())))
    if kept is not None and all(plan.id != kept for plan in current):
        plan = db.session.get(MeasurementPlan, kept)
        current += [plan] if plan is not None else []
    return current


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
            plans=plan_choices(),
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
    plan_id = optional_id(form, "plan_id", errors)
    _place(Invalid(service.bounds_errors(started, ended)), errors)
    if errors:
        return _new_form(patient, form.to_dict(), errors, 422)
    try:
        series = service.start(
            current_user,
            patient,
            label=label,
            kind=kind,
            started_at=started,
            ended_at=ended,
            notes=notes,
            plan_id=plan_id,
        )
    except Invalid as invalid:
        _place(invalid, errors)
        return _new_form(patient, form.to_dict(), errors, 422)
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
            version=service.etag(series),
            plans=plan_choices(series.plan_id),
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


def _change(
    series: TreatmentSeries, field: str, value: object, done: str
) -> HttpResponse | tuple[str, int]:
    """Change one field of the series as of the version the page showed (no lost update)."""
    errors = FormErrors()
    try:
        service.change(series, {field: value}, if_match=request.form.get("version") or None)
    except Invalid as invalid:
        _place(invalid, errors)
        return _series_page(series, request.form.to_dict(), errors, 422)
    except Stale:
        db.session.refresh(series)
        errors.add(
            field, "Someone changed this series since you opened the page; check it and try again."
        )
        return _series_page(series, {}, errors, 409)
    flash(done)
    return redirect(url_for("web.series_page", series_id=series.id), code=303)


@bp.post(f"/clinic/series/{SERIES_ID}/end")
@clinic_page
def series_end(series_id: int) -> HttpResponse | tuple[str, int]:
    """Set the end of a series; an empty end reopens it (PATCH {ended_at} in the API)."""
    series = access.record_for(TreatmentSeries, series_id, "series", access.CARERS)
    errors = FormErrors()
    ended = local_datetime(request.form, "ended_at", errors, required=False)
    if errors:
        return _series_page(series, request.form.to_dict(), errors, 422)
    return _change(series, "ended_at", ended, "Series ended." if ended else "Series reopened.")


@bp.post(f"/clinic/series/{SERIES_ID}/sessions")
@clinic_page
def session_create(series_id: int) -> HttpResponse | tuple[str, int]:
    """Log one infusion or visit; it must fall inside the series."""
    series = access.record_for(TreatmentSeries, series_id, "series", access.CARERS)
    form, errors = request.form, FormErrors()
    at = local_datetime(form, "administered_at", errors, required=True)
    dose = positive_number(form, "dose_mg", errors, maximum=100_000)
    notes = text(form, "session_notes", errors, required=False, max_length=4000)
    if errors:
        return _series_page(series, form.to_dict(), errors, 422)
    try:
        service.log_session(current_user, series, administered_at=at, dose_mg=dose, notes=notes)
    except Invalid as invalid:
        _place(invalid, errors)
        return _series_page(series, form.to_dict(), errors, 422)
    flash("Session logged.")
    return redirect(url_for("web.series_page", series_id=series.id), code=303)


@bp.post(f"/clinic/series/{SERIES_ID}/plan")
@clinic_page
def series_plan(series_id: int) -> HttpResponse | tuple[str, int]:
    """Give the series a measurement plan, change it, or take it away (PATCH {plan_id})."""
    series = access.record_for(TreatmentSeries, series_id, "series", access.CARERS)
    errors = FormErrors()
    plan_id = optional_id(request.form, "plan_id", errors)
    if errors:
        return _series_page(series, request.form.to_dict(), errors, 422)
    message = "Measurement plan saved." if plan_id else "Measurement plan removed."
    return _change(series, "plan_id", plan_id, message)
