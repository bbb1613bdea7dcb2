"""Patient pages: the questionnaires to answer, the form, the confirmation, the history.

Submissions go through :func:`tracker.services.responses.submit`, so scoring,
alerts and the audit trail are exactly those of POST /api/v1/.../responses.
"""

from __future__ import annotations

import secrets

from flask import abort, current_app, flash, redirect, render_template, request, url_for
from flask_login import current_user
from werkzeug.wrappers import Response as HttpResponse

from tracker import instruments
from tracker.auth import access, audit
from tracker.models import Response
from tracker.models.types import utcnow
from tracker.services import due
from tracker.services import responses as service
from tracker.web import bp, schedule
from tracker.web.charts import patient_charts
from tracker.web.forms import FORM_KEY, FormErrors, answers, service_errors
from tracker.web.guards import patient_page
from tracker.web.render import crisis_text, render_audited

# Named like the API's trend routes ("instrument"), one converter for both.
INSTRUMENT = "<instrument:instrument>"  # any registered code (tracker.inputs)
RESPONSE_ID = "<id:response_id>"


def requested_instruments() -> tuple[instruments.Instrument, ...]:
    """What the clinic asks this patient to answer; for now every instrument."""
    return instruments.all()


@bp.get("/me")
@patient_page
def patient_home() -> str:
    """What is due now (with the day it closes) first, then what comes next, then every form."""
    items = due.for_patient(current_user.patient_id, statuses=("due", "upcoming"))
    if items:  # what GET /patients/{id}/due would have audited
        audit.record("read", "due", patient_id=current_user.patient_id)
    return render_audited(
        "web/patient/home.html",
        instruments=requested_instruments(),
        due_now=schedule.due_now(items),
        upcoming=schedule.upcoming(items),
    )


def _form(code: str, values: dict, errors: FormErrors, status: int = 200) -> tuple[str, int]:
    instrument = instruments.get(code)
    return (
        render_template(
            "web/patient/form.html",
            instrument=instrument,
            values=values,
            errors=errors,
            # A fresh key per form: a double-click or a resend stores one response.
            form_key=values.get("form_key") or "web-" + secrets.token_urlsafe(24),
        ),
        status,
    )


@bp.get(f"/me/questionnaires/{INSTRUMENT}")
@patient_page
def questionnaire(instrument: str) -> tuple[str, int]:
    return _form(instrument, {}, FormErrors())


@bp.post(f"/me/questionnaires/{INSTRUMENT}")
@patient_page
def questionnaire_submit(instrument: str) -> HttpResponse | tuple[str, int]:
    """Validate every question, then submit through the service (same scoring, same alert)."""
    patient = access.patient_for(current_user.patient_id)
    code = instrument
    errors = FormErrors()
    values, difficulty = answers(request.form, instruments.get(code), errors)
    key = request.form.get("form_key", "")
    key = key if FORM_KEY.match(key) else None
    shown = request.form.to_dict() | {"form_key": key or ""}
    if errors:
        return _form(code, shown, errors, 422)
    submission = service.Submission(
        patient_id=patient.id,
        instrument=code,
        answers=values,
        completed_at=utcnow(),
        difficulty=difficulty,
    )
    try:
        row, _created = service.submit(submission, current_user, key)
    except service.SubmissionInvalid as invalid:
        service_errors(invalid.errors, errors)
        return _form(code, shown, errors, 422)
    except service.SubmissionConflict as conflict:
        # This form was sent before (a second click, or back and resend): show what arrived.
        if conflict.existing is None:
            raise
        flash("These answers had already been sent. Nothing new was stored.")
        return redirect(url_for("web.patient_response", response_id=conflict.existing.id), code=303)
    return redirect(url_for("web.patient_response", response_id=row.id), code=303)


@bp.get(f"/me/responses/{RESPONSE_ID}")
@patient_page
def patient_response(response_id: int) -> str:
    """The confirmation: crisis resources first when a crisis flag was raised (PHQ-9 item 9)."""
    row = access.record_for(Response, response_id, "response")
    audit.record("read", resource_type="response", resource_id=row.id, patient_id=row.patient_id)
    instrument = instruments.get(row.instrument, row.instrument_version)
    return render_audited(
        "web/patient/done.html",
        response=row,
        instrument=instrument,
        crisis=instrument.crisis(row.flags),
        crisis_text=crisis_text(),
    )


@bp.get("/me/history")
@patient_page
def patient_history() -> str:
    """The patient's own scores as charts, only where the clinic has turned this on."""
    if not current_app.config.get("PATIENT_HISTORY_ENABLED", False):
        abort(404)
    patient = access.patient_for(current_user.patient_id)
    return render_audited("web/patient/history.html", charts=patient_charts(patient.id))
