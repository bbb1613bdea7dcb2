"""One response with its item answers; correct it (amend) or retract it (entered in error).

Both writes go through :mod:`tracker.services.responses`, so a correction is
a new superseding row and a retraction keeps the row readable, exactly as the
API does; each needs a reason, which is kept on the row.
"""

from __future__ import annotations

from flask import flash, redirect, request, url_for
from flask_login import current_user
from werkzeug.wrappers import Response as HttpResponse

from tracker import instruments
from tracker.auth import access, audit
from tracker.extensions import db
from tracker.models import Patient, Response
from tracker.services import responses as service
from tracker.web import bp
from tracker.web.forms import FormErrors, answers, service_errors, text
from tracker.web.guards import clinic_page
from tracker.web.render import render_audited

RESPONSE_ID = "<id:response_id>"


def _stored(row: Response) -> dict[str, str]:
    """The amend form starts from the stored answers."""
    values = {f"item-{n}": str(v) for n, v in enumerate(row.answers, 1) if v is not None}
    if row.difficulty is not None:
        values["difficulty"] = str(row.difficulty)
    return values


def _page(row: Response, values: dict, errors: FormErrors, code: int = 200) -> tuple[str, int]:
    instrument = instruments.get(row.instrument, row.instrument_version)
    return (
        render_audited(
            "web/clinic/response.html",
            response=row,
            patient=db.session.get(Patient, row.patient_id),
            instrument=instrument,
            values=values,
            errors=errors,
        ),
        code,
    )


@bp.get(f"/clinic/responses/{RESPONSE_ID}")
@clinic_page
def clinic_response(response_id: int) -> tuple[str, int]:
    row = access.record_for(Response, response_id, "response")
    audit.record("read", "response", row.id, row.patient_id)
    return _page(row, _stored(row), FormErrors())


@bp.post(f"/clinic/responses/{RESPONSE_ID}/amend")
@clinic_page
def amend_response(response_id: int) -> HttpResponse | tuple[str, int]:
    """Store corrected answers as a new version; the reason is required and kept."""
    row = access.record_for(Response, response_id, "response", access.CARERS)
    instrument = instruments.get(row.instrument, row.instrument_version)
    errors = FormErrors()
    values, difficulty = answers(request.form, instrument, errors)
    reason = text(request.form, "reason", errors, required=True, max_length=1000)
    if errors:
        return _page(row, request.form.to_dict(), errors, 422)
    try:
        new = service.amend(row, values, reason, current_user, difficulty=difficulty)
    except service.SubmissionInvalid as invalid:
        service_errors(invalid.errors, errors)
        return _page(row, request.form.to_dict(), errors, 422)
    except service.SubmissionConflict as conflict:
        db.session.refresh(row)
        errors.add("form", str(conflict))
        return _page(row, request.form.to_dict(), errors, 409)
    flash("Response corrected: the new version replaces the old one in every trend.")
    return redirect(url_for("web.clinic_response", response_id=new.id), code=303)


@bp.post(f"/clinic/responses/{RESPONSE_ID}/entered-in-error")
@clinic_page
def retract_response(response_id: int) -> HttpResponse | tuple[str, int]:
    """Mark a mistaken entry: it stays readable but leaves every trend."""
    row = access.record_for(Response, response_id, "response", access.CARERS)
    errors = FormErrors()
    reason = text(request.form, "retract_reason", errors, required=True, max_length=1000)
    if errors:
        return _page(row, _stored(row) | request.form.to_dict(), errors, 422)
    try:
        service.mark_entered_in_error(row, reason)
    except service.SubmissionConflict as conflict:
        db.session.refresh(row)
        errors.add("form", str(conflict))
        return _page(row, _stored(row), errors, 409)
    flash("Response marked as entered in error.")
    return redirect(url_for("web.clinic_response", response_id=row.id), code=303)
