"""The clinic's worklist of due questionnaires: what is open now or was missed, for follow-up.

Reads :func:`tracker.services.due.worklist` (the same items and order as
GET /api/v1/due: by opening, then patient), one page at a time with its
keyset cursor, plus one query each for the page's patient names and series
labels. Audited like the API list: one ``read due`` event per patient shown.
"""

from __future__ import annotations

from flask import request
from flask_login import current_user
from sqlalchemy import select

from tracker.auth import audit
from tracker.extensions import db
from tracker.models import Patient, TreatmentSeries
from tracker.services import due, paging
from tracker.web import bp
from tracker.web.guards import clinic_page
from tracker.web.render import render_audited

PAGE_SIZE = 50
FILTERS = {"all": ("due", "missed"), "due": ("due",), "missed": ("missed",)}


@bp.get("/clinic/due")
@clinic_page
def clinic_due() -> str:
    """Due and missed questionnaires of the caller's patients; ``status=due|missed`` filters."""
    status = request.args.get("status", "all")
    status = status if status in FILTERS else "all"
    cursor = request.args.get("cursor") or None
    try:
        page = due.worklist(current_user, statuses=FILTERS[status], limit=PAGE_SIZE, cursor=cursor)
    except paging.InvalidCursor:  # an edited or stale link: start again at the first page
        cursor = None
        page = due.worklist(current_user, statuses=FILTERS[status], limit=PAGE_SIZE)
    patient_ids = sorted({item.patient_id for item in page.items})
    series_ids = sorted({item.series_id for item in page.items})
    names = (
        dict(
            db.session.execute(
                select(Patient.id, Patient.display_name).where(Patient.id.in_(patient_ids))
            ).all()
        )
        if patient_ids
        else {}
    )
    labels = (
        dict(
            db.session.execute(
                select(TreatmentSeries.id, TreatmentSeries.label).where(
                    TreatmentSeries.id.in_(series_ids)
                )
            ).all()
        )
        if series_ids
        else {}
    )
    audit.record_each("read", "due", patient_ids)  # one statement, as GET /due
    return render_audited(
        "web/clinic/due.html",
        items=page.items,
        next_cursor=page.next_cursor,
        paged=cursor is not None,
        status=status,
        names=names,
        labels=labels,
    )
