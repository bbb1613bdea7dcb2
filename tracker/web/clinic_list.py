"""Clinician overview pages: the patient list and the alerts inbox.

Both pages use a fixed number of queries whatever the number of patients
(one for the page of patients, one for identifiers, one for every latest
score, one for the alert counts, the due service's few for the due and missed
counts) and audit what they show like the API's list endpoints: one event per
patient and kind of data shown.

The list is sorted by name (paged in SQL) or by "needs attention": open
high-priority alerts, then missed, then due questionnaires, then routine
alerts, then name. That order depends on counts, so it is computed for every
patient the search matches (one alert query, one call to the due service),
sorted here and then paged.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from datetime import datetime

from flask import flash, redirect, request, url_for
from flask_login import current_user
from sqlalchemy import ColumnElement, case, func, or_, select
from werkzeug.wrappers import Response as HttpResponse

from tracker import instruments
from tracker.auth import access, audit
from tracker.extensions import db
from tracker.models import Alert, Patient, PatientIdentifier, Response
from tracker.models.alert import AlertStatus
from tracker.models.response import ResponseStatus
from tracker.services import alerts as alert_service
from tracker.services import due
from tracker.web import bp
from tracker.web.forms import FormErrors, small_int, text
from tracker.web.guards import clinic_page, safe_next
from tracker.web.render import render_audited

PAGE_SIZE = 50
ALERT_LIMIT = 200
SORTS = {"name": "Name", "attention": "Needs attention"}
MAX_SEARCH = 100


class _AlertKinds(Mapping[str, str]):
    """Alert kind → label, read from the registered instruments' alert rules on every use."""

    def __getitem__(self, kind: str) -> str:
        return instruments.alert_labels()[kind]

    def __iter__(self) -> Iterator[str]:
        return iter(instruments.alert_labels())

    def __len__(self) -> int:
        return len(instruments.alert_labels())


ALERT_KINDS: Mapping[str, str] = _AlertKinds()


@dataclass
class Latest:
    total: int
    severity: str
    completed_at: datetime


@dataclass(frozen=True)
class OpenAlerts:
    total: int = 0
    high: int = 0


@dataclass
class PatientRow:
    patient: Patient
    latest: dict[str, Latest] = field(default_factory=dict)
    open_alerts: int = 0
    high_alerts: int = 0
    due: int = 0
    missed: int = 0


def _page_number() -> int:
    page = small_int(request.args.get("page"))
    return page if page and page < 100_000 else 1


def _latest_scores(patient_ids: list[int]) -> dict[tuple[int, str], Latest]:
    """Each patient's newest final score per instrument, in one query (a window function)."""
    ranked = (
        select(
            Response.patient_id,
            Response.instrument,
            Response.total,
            Response.severity,
            Response.completed_at,
            func.row_number()
            .over(
                partition_by=(Response.patient_id, Response.instrument),
                order_by=(Response.completed_at.desc(), Response.id.desc()),
            )
            .label("rank"),
        )
        .where(Response.patient_id.in_(patient_ids), Response.status == ResponseStatus.FINAL)
        .subquery()
    )
    rows = db.session.execute(select(ranked).where(ranked.c.rank == 1)).all()
    return {(r.patient_id, r.instrument): Latest(r.total, r.severity, r.completed_at) for r in rows}


def _open_alert_counts(patient_ids: list[int]) -> dict[int, OpenAlerts]:
    """Open alerts per patient, and how many of them are high priority, in one query."""
    high = func.sum(case((Alert.priority == "high", 1), else_=0))
    rows = db.session.execute(
        select(Alert.patient_id, func.count(), high)
        .where(Alert.patient_id.in_(patient_ids), Alert.status == AlertStatus.OPEN)
        .group_by(Alert.patient_id)
    ).all()
    return {patient_id: OpenAlerts(n, int(h or 0)) for patient_id, n, h in rows}


def search_clause(query: str) -> ColumnElement[bool]:
    """A name containing ``query`` (any case), or an identifier (MRN) starting with it."""
    needle = query.lower()
    by_name = func.lower(Patient.display_name).contains(needle, autoescape=True)
    by_mrn = Patient.id.in_(
        select(PatientIdentifier.patient_id).where(
            func.lower(PatientIdentifier.value).startswith(needle, autoescape=True)
        )
    )
    return or_(by_name, by_mrn)


def attention_key(high: int, missed: int, due_now: int, routine: int, name: str) -> tuple:
    """Needs attention first: high alerts, missed, due, other open alerts, then the name."""
    return (-high, -missed, -due_now, -routine, name.lower())


@dataclass
class Listing:
    """One page of the list with the counts of (at least) its patients."""

    patients: list[Patient]
    more: bool
    alerts: dict[int, OpenAlerts]
    counts: dict[int, dict[str, int]]


def _by_name(where: list[ColumnElement[bool]], page: int) -> Listing:
    """Paged in SQL; then the counts of the page's patients only."""
    found = list(
        db.session.scalars(
            select(Patient)
            .where(*where)
            .order_by(Patient.display_name, Patient.id)
            .offset((page - 1) * PAGE_SIZE)
            .limit(PAGE_SIZE + 1)
        )
    )
    patients = found[:PAGE_SIZE]
    ids = [p.id for p in patients]
    alerts = _open_alert_counts(ids) if ids else {}
    return Listing(patients, len(found) > PAGE_SIZE, alerts, due.counts(ids))


def _by_attention(where: list[ColumnElement[bool]], page: int) -> Listing:
    """Every matching patient's counts (a fixed number of queries), sorted here, then paged."""
    names = dict(db.session.execute(select(Patient.id, Patient.display_name).where(*where)).all())
    ids = sorted(names)
    alerts = _open_alert_counts(ids) if ids else {}
    counts = due.counts(ids)

    def key(patient_id: int) -> tuple:
        open_alerts = alerts.get(patient_id, OpenAlerts())
        return attention_key(
            open_alerts.high,
            counts[patient_id]["missed"],
            counts[patient_id]["due"],
            open_alerts.total - open_alerts.high,
            names[patient_id],
        ) + (patient_id,)

    ranked = sorted(ids, key=key)
    start = (page - 1) * PAGE_SIZE
    chosen = ranked[start : start + PAGE_SIZE]
    if not chosen:
        return Listing([], False, {}, {})
    loaded = {p.id: p for p in db.session.scalars(select(Patient).where(Patient.id.in_(chosen)))}
    return Listing([loaded[i] for i in chosen], len(ranked) > start + PAGE_SIZE, alerts, counts)


@bp.get("/clinic")
@clinic_page
def clinic_patients() -> str:
    """The caller's patients (all of them for an admin), with latest scores and what is due.

    ``q`` searches names (any part, any case) and MRNs (the start); ``sort`` is
    ``name`` (the default) or ``attention``.
    """
    page = _page_number()
    query = (request.args.get("q") or "").strip()[:MAX_SEARCH]
    sort = request.args.get("sort") if request.args.get("sort") in SORTS else "name"
    where = [access.visible_patients_clause(current_user)]
    if query:
        where.append(search_clause(query))
    listing = (_by_attention if sort == "attention" else _by_name)(where, page)
    ids = [p.id for p in listing.patients]
    latest = _latest_scores(ids) if ids else {}
    rows = [
        PatientRow(
            p,
            {c: latest[(p.id, c)] for c in instruments.codes() if (p.id, c) in latest},
            listing.alerts.get(p.id, OpenAlerts()).total,
            listing.alerts.get(p.id, OpenAlerts()).high,
            listing.counts[p.id]["due"],
            listing.counts[p.id]["missed"],
        )
        for p in listing.patients
    ]
    for row in rows:  # what GET /patients, /responses, /alerts and /due would have audited
        audit.record("read", "patient", row.patient.id, row.patient.id)
        if row.latest:
            audit.record("read", "response", patient_id=row.patient.id)
        if row.open_alerts:
            audit.record("read", "alert", patient_id=row.patient.id)
        if row.due or row.missed:
            audit.record("read", "due", patient_id=row.patient.id)
    return render_audited(
        "web/clinic/patients.html",
        rows=rows,
        codes=instruments.codes(),
        page=page,
        more=listing.more,
        query=query,
        sort=sort,
        sorts=SORTS,
    )


def _alerts_page(status: str, errors: FormErrors, code: int = 200) -> tuple[str, int]:
    rows = db.session.execute(
        alert_service.inbox(current_user, status)
        .add_columns(Patient.display_name, Response.instrument, Response.completed_at)
        .join(Patient, Patient.id == Alert.patient_id)
        .join(Response, Response.id == Alert.response_id)
        .order_by(*alert_service.INBOX_ORDER.clauses())
        .limit(ALERT_LIMIT)
    ).all()
    for patient_id in sorted({row.Alert.patient_id for row in rows}):
        audit.record("read", "alert", patient_id=patient_id)
    return (
        render_audited(
            "web/clinic/alerts.html",
            rows=rows,
            status=status,
            kinds=ALERT_KINDS,
            errors=errors,
            limit=ALERT_LIMIT,
        ),
        code,
    )


@bp.get("/clinic/alerts")
@clinic_page
def clinic_alerts() -> tuple[str, int]:
    """Open alerts first: the inbox a clinician works through, newest at the top."""
    asked = request.args.get("status")
    status = AlertStatus.ACKNOWLEDGED if asked == AlertStatus.ACKNOWLEDGED else AlertStatus.OPEN
    return _alerts_page(status, FormErrors())


@bp.post("/clinic/alerts/<id:alert_id>/acknowledge")
@clinic_page
def acknowledge_alert(alert_id: int) -> HttpResponse | tuple[str, int]:
    """Mark an alert as seen; the first acknowledgement is kept (as the API does)."""
    alert = access.record_for(Alert, alert_id, "alert", access.CARERS)
    errors = FormErrors()
    note = text(request.form, "note", errors, required=False, max_length=2000)
    if errors:
        return _alerts_page(AlertStatus.OPEN, FormErrors({f"note-{alert.id}": errors["note"]}), 422)
    changed = alert_service.acknowledge(alert, current_user, note)
    flash("Alert acknowledged." if changed else "This alert had already been acknowledged.")
    return redirect(safe_next(request.form.get("next")) or url_for("web.clinic_alerts"), code=303)
