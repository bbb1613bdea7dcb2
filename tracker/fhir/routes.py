"""The /fhir blueprint: capability, reads, searches and QuestionnaireResponse ingest.

Reads and searches show one logical resource per response chain (its newest
row); amended rows are history. Paging is keyset-based: the `next` link carries
the last row's sort key, so rows added between pages neither repeat nor vanish.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, tzinfo
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from flask import Blueprint, Response, current_app, request
from flask_login import current_user
from sqlalchemy import ColumnElement, and_, false, func, not_, or_, select, true
from sqlalchemy.orm import InstrumentedAttribute

from tracker import instruments
from tracker.auth import access, audit, smart
from tracker.extensions import db
from tracker.fhir import mapping, provenance, search
from tracker.fhir.http import (
    FhirError,
    error_response,
    fhir_response,
    is_fhir_request,
    requires,
    versioned,
)
from tracker.fhir.ingest import FhirInvalid, parse_questionnaire_response
from tracker.fhir.mapping import ResponseView
from tracker.fhir.views import patient_view, response_view
from tracker.inputs import has_nul, in_instant_range
from tracker.models import AuditEvent, Patient, PatientIdentifier
from tracker.models import Response as ResponseRow
from tracker.models.response import ResponseStatus
from tracker.models.types import utcnow
from tracker.problems import add_error_renderer
from tracker.services import paging
from tracker.services import responses as service
from tracker.urls import external_url, public_base

bp = Blueprint("fhir", __name__, url_prefix="/fhir")
# Every error under /fhir, routing errors included, is an OperationOutcome.
bp.record_once(lambda state: add_error_renderer(state.app, is_fhir_request, error_response))

# What this server can answer in: FHIR JSON (and NDJSON for Bulk Data files). XML is not
# offered, so a client that accepts only XML gets 406 rather than JSON it cannot read.
ANSWERABLE = ("application/fhir+json", "application/json", "application/fhir+ndjson")
XML_FORMATS = frozenset({"xml", "text/xml", "application/xml", "application/fhir+xml"})


@bp.before_request
def _refuse_unanswerable_formats() -> None:
    wanted = request.args.get("_format")
    # An unescaped "+" in a query string reads as a space: application/fhir xml.
    if wanted is not None and wanted.split(";")[0].strip().replace(" ", "+") in XML_FORMATS:
        raise FhirError(406, "Only JSON is offered: use _format=json.", code="not-supported")
    accept = request.headers.get("Accept")
    if request.endpoint == "fhir.smart_configuration":
        return  # plain JSON for anyone who opens it, a browser included (SMART discovery)
    if accept and request.accept_mimetypes.best_match(ANSWERABLE) is None:
        raise FhirError(406, "Only application/fhir+json is offered.", code="not-supported")


OBSERVATION_CATEGORY = "http://terminology.hl7.org/CodeSystem/observation-category"
# Result controls every search accepts. _elements is not among them: it would change the
# resources' shape, so it is ignored with a warning (and not echoed in the self link).
SEARCH_CONTROLS = ("_count", "_sort", "_format", "_total", "_summary")
CURSOR = "_cursor"  # server-private paging parameter (R4 search §3.1.1.5.5)


def canonical_base() -> str:
    return current_app.config["FHIR_CANONICAL_BASE"]


def fhir_base() -> str:
    return public_base() + "/fhir"


def _logical_id(raw: str) -> int:
    logical_id = search.db_id(raw)
    if logical_id is None:
        raise FhirError(404, "No such resource.")
    return logical_id


# --------------------------------------------------------------------------
# Discovery
# --------------------------------------------------------------------------


@bp.get("/metadata")
def metadata() -> Response:
    """CapabilityStatement: exactly what this server supports (no auth, R4 http.html)."""
    from tracker.fhir.capability import capability_statement

    return fhir_response(capability_statement(fhir_base(), external_url("oauth.token")))


@bp.get("/.well-known/smart-configuration")
def smart_configuration() -> Response:
    """SMART discovery (absolute URLs), served as JSON whatever the Accept header says."""
    from tracker.fhir.capability import smart_configuration as document

    response = current_app.response_class(
        json.dumps(document(external_url("oauth.token"))), mimetype="application/json"
    )
    return response


# --------------------------------------------------------------------------
# Search machinery
# --------------------------------------------------------------------------


def _request_params() -> list[tuple[str, str]]:
    pairs = list(request.args.items(multi=True))
    if request.method == "POST":  # POST [type]/_search, form-encoded (R4 http.html)
        pairs += list(request.form.items(multi=True))
    return pairs


def _date_clause(column: InstrumentedAttribute, values: Sequence[str], param: str) -> ColumnElement:
    clauses = []
    for raw in values:  # a repeated parameter is AND
        window = search.parse_date(raw, param)
        bounds = []
        if window.lower is not None:
            bounds.append(column >= window.lower)
        if window.upper is not None:
            bounds.append(column < window.upper)
        clause = and_(*bounds) if bounds else true()
        clauses.append(not_(clause) if window.negate else clause)
    return and_(*clauses)


def _id_clause(column: InstrumentedAttribute, values: Sequence[str], param: str) -> ColumnElement:
    clauses = []
    for raw in values:
        ids = [
            i
            for t in search.parse_tokens(raw, param)
            if t.code
            for i in [search.db_id(t.code)]
            if i is not None
        ]
        clauses.append(column.in_(ids) if ids else false())
    return and_(*clauses)


def _patient_clause(
    column: InstrumentedAttribute, values: Sequence[str], param: str
) -> ColumnElement:
    clauses = []
    for raw in values:
        ids = search.parse_references(raw, param, "Patient")
        clauses.append(column.in_(ids) if ids else false())
    return and_(*clauses)


def run_search(
    resource_type: str,
    base_query: Any,
    filters: dict[str, Callable[[Sequence[str], str], ColumnElement]],
    sorts: dict[str, tuple[InstrumentedAttribute, InstrumentedAttribute]],
    default_sort: str,
    to_resource: Callable[[Any], dict],
    id_column: InstrumentedAttribute,
    includes: dict[str, Include] | None = None,
) -> Response:
    """Filters → sort → keyset page → searchset Bundle with total and absolute links.

    ``includes`` maps each ``_include``/``_revinclude`` value this search offers
    (``Observation:patient``, ``Provenance:target`` …) to what it adds for a page;
    included resources come after the matches with ``search.mode = include`` and
    are left out of ``total`` (docs/fhir.md, "Includes").
    """
    includes = includes or {}
    strict = search.prefer_strict(request.headers.get("Prefer"))
    pairs = _request_params()
    cursor = next((v for k, v in pairs if k == CURSOR), None)
    pairs = [(k, v) for k, v in pairs if k != CURSOR]
    try:
        # An ignored modifier (code:not=X) would answer the opposite question: refuse it.
        chosen = search.select_params(
            pairs,
            [*filters, "_count", "_sort", "_include", "_revinclude"],
            strict,
            always_allowed=SEARCH_CONTROLS,
            strict_modifiers=True,
        )
        params, ignored = dict(chosen.params), list(chosen.ignored)
        wanted_includes = _chosen_includes(params, includes, strict, ignored)
        summary = _last(params.get("_summary"))
        if summary not in (None, "count", "false"):
            # _summary=true/text/data would change the resources' shape: not done here.
            if strict:
                raise search.SearchError(
                    f"_summary={summary} is not supported (only count and false).",
                    "not-supported",
                    "_summary",
                )
            del params["_summary"]
            ignored.append("_summary")
        count = search.parse_count(_last(params.get("_count")))
        if summary == "count":
            count = 0  # the total only (search.html#summary)
        sort_names = search.parse_sort(
            _last(params.get("_sort")), [*sorts, *(f"-{s}" for s in sorts)]
        )
        query = base_query
        for name, values in params.items():
            if name in filters:
                query = query.where(filters[name](values, name))
    except search.SearchError as error:
        raise FhirError(400, str(error), code=error.code) from None
    if sort_names:
        sort_name = sort_names[0]
    elif "_lastUpdated" in params and "_lastUpdated" in sorts:
        # An incremental pull: walking the _lastUpdated index keeps it fast at any size.
        sort_name = "_lastUpdated"
    else:
        sort_name = default_sort
    order = paging.Order(sorts[sort_name.lstrip("-")], descending=sort_name.startswith("-"))
    total = db.session.scalar(select(func.count()).select_from(query.subquery()))
    found = paging.Page([], None)
    if count:
        try:
            found = paging.page(query, order, count, cursor)
        except paging.InvalidCursor:
            raise FhirError(400, "Invalid paging cursor.") from None
    used = [(k, v) for k, values in params.items() if k not in ("_count", "_sort") for v in values]
    if summary != "count":
        used += [("_count", str(count)), ("_sort", sort_name)]
    path = f"/fhir/{resource_type}"
    links = [{"relation": "self", "url": search.build_url(public_base(), path, used)}]
    page = found.items
    if found.next_cursor:
        links.append(
            {
                "relation": "next",
                "url": search.build_url(public_base(), path, [*used, (CURSOR, found.next_cursor)]),
            }
        )
    entries = [
        {
            "fullUrl": f"{fhir_base()}/{resource_type}/{getattr(row, id_column.key)}",
            "resource": to_resource(row),
            "search": {"mode": "match"},
        }
        for row in page
    ]
    withheld: list[tuple[str, str, str]] = []
    if page and wanted_includes:
        included, withheld = _included(page, wanted_includes, includes)
        entries += included
    if ignored or withheld:
        entries.append(
            {
                "resource": mapping.operation_outcome(
                    [
                        ("warning", "not-supported", f"Ignored unsupported parameter: {name}")
                        for name in ignored
                    ]
                    + withheld
                ),
                "search": {"mode": "outcome"},
            }
        )
    # One read event per patient on the page, so each patient's access history is complete.
    patient_ids = {row.id if resource_type == "Patient" else row.patient_id for row in page}
    for patient_id in sorted(patient_ids):
        audit.record("read", resource_type, patient_id=patient_id)
    if not page:
        audit.record("read", resource_type)
    db.session.commit()
    bundle = {
        "resourceType": "Bundle",
        "type": "searchset",
        "total": total,
        "link": links,
        "entry": entries,
    }
    if not entries:
        del bundle["entry"]
    return fhir_response(bundle)


def _last(values: Sequence[str] | None) -> str | None:
    return values[-1] if values else None


# --------------------------------------------------------------------------
# _include and _revinclude
# --------------------------------------------------------------------------


@dataclass(frozen=True)
class Include:
    """What one ``_include``/``_revinclude`` value adds: resources of ``resource_type``
    computed from the page's rows as (id, resource) pairs."""

    resource_type: str
    resources: Callable[[list[Any]], list[tuple[str, dict]]]


def _chosen_includes(
    params: dict[str, tuple[str, ...]], offered: dict[str, Include], strict: bool, ignored: list
) -> list[str]:
    """The include values this search offers, in request order; others dropped or refused."""
    chosen: list[str] = []
    for name in ("_include", "_revinclude"):
        kept = []
        for value in params.get(name, ()):
            if value in offered:
                kept.append(value)
                if value not in chosen:
                    chosen.append(value)
            elif strict:
                raise search.SearchError(
                    f"{name}={value} is not supported here; supported: "
                    + ", ".join(sorted(offered) or ["none"]),
                    "not-supported",
                    name,
                )
            else:
                ignored.append(f"{name}={value}")
        if kept:
            params[name] = tuple(kept)
        else:
            params.pop(name, None)
    return chosen


def _may_read(resource_type: str) -> bool:
    """Whether the caller may read resources of this type (included ones are reads too)."""
    if getattr(current_user, "is_client", False):
        return smart.permits(current_user.scopes, resource_type, "r")
    return True  # an admin session: requires() already let it search


def _included(
    page: list[Any], wanted: list[str], offered: dict[str, Include]
) -> tuple[list[dict], list[tuple[str, str, str]]]:
    """Entries with search.mode include (each resource once), and warnings for the
    includes the token's scopes do not allow, which are left out rather than refused."""
    entries: list[dict] = []
    seen: set[tuple[str, str]] = set()
    withheld: list[tuple[str, str, str]] = []
    for value in wanted:
        include = offered[value]
        if not _may_read(include.resource_type):
            withheld.append(
                (
                    "warning",
                    "forbidden",
                    f"{value}: left out, the token's scopes do not allow reading "
                    f"{include.resource_type}",
                )
            )
            continue
        for resource_id, resource in include.resources(page):
            key = (include.resource_type, resource_id)
            if key in seen:
                continue
            seen.add(key)
            entries.append(
                {
                    "fullUrl": f"{fhir_base()}/{include.resource_type}/{resource_id}",
                    "resource": resource,
                    "search": {"mode": "include"},
                }
            )
    return entries, withheld


def _patients_of(rows: list[Any]) -> list[tuple[str, dict]]:
    ids = sorted({row.patient_id for row in rows})
    patients = db.session.scalars(select(Patient).where(Patient.id.in_(ids))).all()
    return [(str(p.id), _patient_resource(p)) for p in sorted(patients, key=lambda p: p.id)]


# --------------------------------------------------------------------------
# Patient
# --------------------------------------------------------------------------


def _identifier_clause(values: Sequence[str], param: str) -> ColumnElement:
    clauses = []
    for raw in values:
        alternatives = []
        for token in search.parse_tokens(raw, param):
            conditions = [PatientIdentifier.patient_id == Patient.id]
            if token.system_given:
                if token.system is None:
                    alternatives.append(false())  # "|value": we store no system-less ids
                    continue
                conditions.append(PatientIdentifier.system == token.system)
            if token.code is not None:
                conditions.append(PatientIdentifier.value == token.code)
            alternatives.append(select(PatientIdentifier.id).where(*conditions).exists())
        clauses.append(or_(*alternatives))
    return and_(*clauses)


def _name_clause(values: Sequence[str], _param: str) -> ColumnElement:
    return and_(
        *(func.lower(Patient.display_name).contains(v.lower(), autoescape=True) for v in values)
    )


def _birthdate_clause(values: Sequence[str], param: str) -> ColumnElement:
    """Patient.birthDate is a whole day, so R4's range rules compare two ranges."""
    clauses = []
    for raw in values:  # a repeated parameter is AND
        days = search.parse_day_range(raw, param)
        if days.nothing:
            clauses.append(false())
            continue
        bounds = [Patient.birth_date.is_not(None)]
        if days.first is not None:
            bounds.append(Patient.birth_date >= days.first)
        if days.before is not None:
            bounds.append(Patient.birth_date < days.before)
        clause = and_(*bounds)
        known = Patient.birth_date.is_not(None)
        clauses.append(and_(known, not_(clause)) if days.negate else clause)
    return and_(*clauses)


ADMINISTRATIVE_GENDER = "http://hl7.org/fhir/administrative-gender"


def _gender_clause(values: Sequence[str], param: str) -> ColumnElement:
    """Every Patient is emitted with gender "unknown" (not collected, docs/fhir.md, "Patient")."""
    clauses = []
    for raw in values:
        unknown = any(
            (not t.system_given or t.system == ADMINISTRATIVE_GENDER)
            and t.code in (None, "unknown")
            for t in search.parse_tokens(raw, param)
        )
        clauses.append(true() if unknown else false())
    return and_(*clauses)


def _patient_resource(patient: Patient) -> dict:
    return mapping.patient_resource(patient_view(patient))


@bp.get("/Patient/<raw_id>")
@requires("Patient", "r")
def read_patient(raw_id: str) -> Response:
    patient = db.session.get(Patient, _logical_id(raw_id))
    if patient is None:
        raise FhirError(404, f"Patient/{raw_id} is not known.")
    audit.record_now("read", "Patient", patient.id, patient.id)
    return versioned(_patient_resource(patient), patient.version, patient.updated_at)


@bp.route("/Patient", methods=["GET"])
@bp.route("/Patient/_search", methods=["POST"])
@requires("Patient", "s")
def search_patients() -> Response:
    return run_search(
        "Patient",
        select(Patient),
        {
            "_id": lambda v, p: _id_clause(Patient.id, v, p),
            "identifier": _identifier_clause,
            "name": _name_clause,
            "birthdate": _birthdate_clause,
            "gender": _gender_clause,
        },
        {"_id": (Patient.id, Patient.id), "_lastUpdated": (Patient.updated_at, Patient.id)},
        "_id",
        _patient_resource,
        Patient.id,
        # US Core asks for it on Patient too; Patient changes carry no Provenance here
        # (their history is not kept), so it adds nothing (docs/fhir.md, "Provenance").
        {"Provenance:target": Include("Provenance", lambda rows: [])},
    )


# --------------------------------------------------------------------------
# Questionnaire
# --------------------------------------------------------------------------


@bp.get("/Questionnaire")
@requires("Questionnaire", "s")
def search_questionnaires() -> Response:
    resources = [mapping.questionnaire_resource(i, canonical_base()) for i in instruments.all()]
    wanted = request.args.get("url")
    if wanted:
        resources = [r for r in resources if r["url"] == wanted.split("|")[0]]
    bundle = {
        "resourceType": "Bundle",
        "type": "searchset",
        "total": len(resources),
        "link": [
            {
                "relation": "self",
                "url": search.build_url(
                    public_base(), "/fhir/Questionnaire", [("url", wanted)] if wanted else []
                ),
            }
        ],
        "entry": [
            {
                "fullUrl": f"{fhir_base()}/Questionnaire/{r['id']}",
                "resource": r,
                "search": {"mode": "match"},
            }
            for r in resources
        ],
    }
    return fhir_response(bundle)


@bp.get("/Questionnaire/<code>")
@requires("Questionnaire", "r")
def read_questionnaire(code: str) -> Response:
    try:
        instrument = instruments.get(code)
    except KeyError:
        raise FhirError(404, f"Questionnaire/{code} is not known.") from None
    return fhir_response(mapping.questionnaire_resource(instrument, canonical_base()))


# --------------------------------------------------------------------------
# Observation and QuestionnaireResponse: views of response chains
# --------------------------------------------------------------------------

HEADS = select(ResponseRow).where(ResponseRow.status != ResponseStatus.AMENDED)


def _head(raw_id: str, resource_type: str) -> ResponseRow:
    row = db.session.scalar(HEADS.where(ResponseRow.chain_id == _logical_id(raw_id)))
    if row is None:
        raise FhirError(404, f"{resource_type}/{raw_id} is not known.")
    return row


def _instrument_clause(instrument_codes: set[str]) -> ColumnElement:
    return ResponseRow.instrument.in_(sorted(instrument_codes)) if instrument_codes else false()


def _code_clause(values: Sequence[str], param: str) -> ColumnElement:
    clauses = []
    for raw in values:
        matched = set()
        for token in search.parse_tokens(raw, param):
            for instrument in instruments.all():
                system_ok = not token.system_given or token.system == instrument.codes.system
                code_ok = token.code is None or token.code == instrument.codes.total
                if system_ok and code_ok:
                    matched.add(instrument.code)
        clauses.append(_instrument_clause(matched))
    return and_(*clauses)


def _category_clause(values: Sequence[str], param: str) -> ColumnElement:
    clauses = []
    for raw in values:
        survey = any(
            (not t.system_given or t.system == OBSERVATION_CATEGORY) and t.code in (None, "survey")
            for t in search.parse_tokens(raw, param)
        )
        clauses.append(true() if survey else false())
    return and_(*clauses)


def _questionnaire_clause(values: Sequence[str], _param: str) -> ColumnElement:
    clauses = []
    for raw in values:
        matched = []
        for url in raw.split(","):
            canonical, _, version = url.partition("|")
            for instrument in instruments.all():
                if canonical != mapping.questionnaire_url(canonical_base(), instrument.code):
                    continue
                if not version:
                    matched.append(ResponseRow.instrument == instrument.code)
                elif version in {i.version for i in instruments.versions(instrument.code)}:
                    # Any registered version: the rows answered in that version.
                    matched.append(
                        and_(
                            ResponseRow.instrument == instrument.code,
                            ResponseRow.instrument_version == version,
                        )
                    )
        clauses.append(or_(*matched) if matched else false())
    return and_(*clauses)


OBSERVATION_STATUS = "http://hl7.org/fhir/observation-status"
QR_STATUS = "http://hl7.org/fhir/questionnaire-answers-status"


def _status_clause(system: str, unchanged: str) -> Callable[[Sequence[str], str], ColumnElement]:
    """``status`` as mapping.py emits it: ``unchanged`` (final/completed) for a head that
    supersedes nothing, amended for a corrected head, entered-in-error for a retracted one."""
    by_code = {
        unchanged: and_(
            ResponseRow.status == ResponseStatus.FINAL, ResponseRow.supersedes_id.is_(None)
        ),
        "amended": and_(
            ResponseRow.status == ResponseStatus.FINAL, ResponseRow.supersedes_id.is_not(None)
        ),
        "entered-in-error": ResponseRow.status == ResponseStatus.ENTERED_IN_ERROR,
    }

    def clause(values: Sequence[str], param: str) -> ColumnElement:
        clauses = []
        for raw in values:
            matched = [
                by_code[t.code]
                for t in search.parse_tokens(raw, param)
                if (not t.system_given or t.system == system) and t.code in by_code
            ]
            clauses.append(or_(*matched) if matched else false())
        return and_(*clauses)

    return clause


CHAIN_FILTERS: dict[str, Callable[[Sequence[str], str], ColumnElement]] = {
    "patient": lambda v, p: _patient_clause(ResponseRow.patient_id, v, p),
    "subject": lambda v, p: _patient_clause(ResponseRow.patient_id, v, p),
    "_lastUpdated": lambda v, p: _date_clause(ResponseRow.updated_at, v, p),
    "_id": lambda v, p: _id_clause(ResponseRow.chain_id, v, p),
}
OBSERVATION_FILTERS = {
    **CHAIN_FILTERS,
    "code": _code_clause,
    "category": _category_clause,
    "date": lambda v, p: _date_clause(ResponseRow.completed_at, v, p),
    "status": _status_clause(OBSERVATION_STATUS, "final"),
}
QUESTIONNAIRE_RESPONSE_FILTERS = {
    **CHAIN_FILTERS,
    "questionnaire": _questionnaire_clause,
    "authored": lambda v, p: _date_clause(ResponseRow.completed_at, v, p),
    "status": _status_clause(QR_STATUS, "completed"),
}


def _observation(row: ResponseRow) -> dict:
    return mapping.observation_resource(response_view(row), canonical_base=canonical_base())


def _questionnaire_response(row: ResponseRow) -> dict:
    return mapping.questionnaire_response_resource(response_view(row), canonical_base())


# --------------------------------------------------------------------------
# Versions, history and Provenance (docs/fhir.md, "Versions and history", "Provenance")
# --------------------------------------------------------------------------


def _chains(chain_ids: Sequence[int]) -> dict[int, list[ResponseRow]]:
    """Every row of these chains, in one statement."""
    chains: dict[int, list[ResponseRow]] = {chain_id: [] for chain_id in chain_ids}
    if chain_ids:
        query = select(ResponseRow).where(ResponseRow.chain_id.in_(sorted(set(chain_ids))))
        for row in db.session.scalars(query.order_by(ResponseRow.chain_id, ResponseRow.version)):
            chains[row.chain_id].append(row)
    return chains


def _retractors(rows: Sequence[ResponseRow]) -> dict[int, dict[int, dict]]:
    """Who retracted each entered-in-error row, by chain and version, from the audit trail.

    The row keeps the reason and time of a retraction but not who made it; the audit
    event the retraction wrote in the same transaction does (docs/fhir.md, "Provenance").
    """
    retracted = [row for row in rows if row.status == ResponseStatus.ENTERED_IN_ERROR]
    found: dict[int, dict[int, dict]] = {}
    if not retracted:
        return found
    events = db.session.scalars(
        select(AuditEvent)
        .where(
            AuditEvent.patient_id.in_(sorted({row.patient_id for row in retracted})),
            AuditEvent.action == "update",
            AuditEvent.resource_type == "response",
            AuditEvent.resource_id.in_([str(row.id) for row in retracted]),
            AuditEvent.actor_type == "user",
        )
        .order_by(AuditEvent.at, AuditEvent.id)
    ).all()
    by_row = {event.resource_id: event for event in events}  # the latest one wins
    for row in retracted:
        event = by_row.get(str(row.id))
        if event is not None and event.actor_id and event.actor_id.isdigit():
            agent = mapping.clinician_reference(int(event.actor_id), canonical_base())
            found.setdefault(row.chain_id, {})[row.version] = agent
    return found


def _versions_of(chains: dict[int, list[ResponseRow]]) -> dict[int, list[provenance.Version]]:
    rows = [row for chain in chains.values() for row in chain]
    retractors = _retractors(rows)
    return {
        chain_id: provenance.chain_versions(
            [response_view(row) for row in chain], retractors.get(chain_id, {}), canonical_base()
        )
        for chain_id, chain in chains.items()
    }


def _versions(raw_id: str, resource_type: str) -> list[provenance.Version]:
    chain_id = _logical_id(raw_id)
    versions = _versions_of(_chains([chain_id]))[chain_id]
    if not versions:
        raise FhirError(404, f"{resource_type}/{raw_id} is not known.")
    return versions


def _resource_of(resource_type: str, view: ResponseView) -> dict:
    if resource_type == "Observation":
        return mapping.observation_resource(view, canonical_base=canonical_base())
    return mapping.questionnaire_response_resource(view, canonical_base())


def _vread(resource_type: str, raw_id: str, raw_version: str) -> Response:
    versions = _versions(raw_id, resource_type)
    wanted = search.db_id(raw_version)
    match = [v for v in versions if v.view.version == wanted]
    if not match:
        raise FhirError(404, f"{resource_type}/{raw_id} has no version {raw_version}.")
    view = match[0].view
    audit.record_now("read", resource_type, view.logical_id, view.patient_id)
    return versioned(_resource_of(resource_type, view), view.version, view.updated_at)


def _history(resource_type: str, raw_id: str) -> Response:
    """A history Bundle, newest version first (R4 http.html#history)."""
    versions = _versions(raw_id, resource_type)
    logical_id = versions[0].view.logical_id
    entries = []
    for version in reversed(versions):
        view = version.view
        first = version.activity == "create"
        entries.append(
            {
                "fullUrl": f"{fhir_base()}/{resource_type}/{logical_id}",
                "resource": _resource_of(resource_type, view),
                "request": {
                    "method": "POST" if first else "PUT",
                    "url": resource_type if first else f"{resource_type}/{logical_id}",
                },
                "response": {
                    "status": "201 Created" if first else "200 OK",
                    "etag": f'W/"{view.version}"',
                    "lastModified": mapping.instant(view.updated_at),
                },
            }
        )
    audit.record_now("read", resource_type, logical_id, versions[0].view.patient_id)
    bundle = {
        "resourceType": "Bundle",
        "type": "history",
        "total": len(entries),
        "link": [
            {
                "relation": "self",
                "url": f"{fhir_base()}/{resource_type}/{logical_id}/_history",
            }
        ],
        "entry": entries,
    }
    return fhir_response(bundle)


def _provenances_of(rows: list[ResponseRow]) -> list[tuple[str, dict]]:
    """The Provenance of every version of the page's chains (for _revinclude)."""
    versions = _versions_of(_chains([row.chain_id for row in rows]))
    return [
        (resource["id"], resource)
        for chain_id in sorted(versions)
        for resource in (
            provenance.provenance_resource(v, current_app.config["CLINIC_NAME"])
            for v in versions[chain_id]
        )
    ]


def _chain_includes(resource_type: str) -> dict[str, Include]:
    includes = {
        f"{resource_type}:patient": Include("Patient", _patients_of),
        f"{resource_type}:subject": Include("Patient", _patients_of),
        f"{resource_type}:patient:Patient": Include("Patient", _patients_of),
        f"{resource_type}:subject:Patient": Include("Patient", _patients_of),
        "Provenance:target": Include("Provenance", _provenances_of),
    }
    if resource_type == "Observation":
        includes["Observation:derived-from"] = Include(
            "QuestionnaireResponse",
            lambda rows: [(str(row.chain_id), _questionnaire_response(row)) for row in rows],
        )
    else:
        includes["QuestionnaireResponse:questionnaire"] = Include(
            "Questionnaire",
            lambda rows: [
                (code, mapping.questionnaire_resource(instruments.get(code), canonical_base()))
                for code in sorted({row.instrument for row in rows})
            ],
        )
    return includes


@bp.get("/Observation/<raw_id>/_history/<raw_version>")
@requires("Observation", "r")
def vread_observation(raw_id: str, raw_version: str) -> Response:
    return _vread("Observation", raw_id, raw_version)


@bp.get("/Observation/<raw_id>/_history")
@requires("Observation", "r")
def history_observation(raw_id: str) -> Response:
    return _history("Observation", raw_id)


@bp.get("/QuestionnaireResponse/<raw_id>/_history/<raw_version>")
@requires("QuestionnaireResponse", "r")
def vread_questionnaire_response(raw_id: str, raw_version: str) -> Response:
    return _vread("QuestionnaireResponse", raw_id, raw_version)


@bp.get("/QuestionnaireResponse/<raw_id>/_history")
@requires("QuestionnaireResponse", "r")
def history_questionnaire_response(raw_id: str) -> Response:
    return _history("QuestionnaireResponse", raw_id)


@bp.get("/Patient/<raw_id>/_history/<raw_version>")
@requires("Patient", "r")
def vread_patient(raw_id: str, raw_version: str) -> Response:
    """Only the current version: older Patient versions are not stored (R4 http.html#vread:
    404 with an OperationOutcome saying history is not kept)."""
    patient = db.session.get(Patient, _logical_id(raw_id))
    if patient is None:
        raise FhirError(404, f"Patient/{raw_id} is not known.")
    if search.db_id(raw_version) != patient.version:
        raise FhirError(
            404,
            f"Patient/{raw_id} version {raw_version} is not available: this server keeps only "
            f"the current version of a Patient (version {patient.version}).",
            code="not-found",
        )
    audit.record_now("read", "Patient", patient.id, patient.id)
    return versioned(_patient_resource(patient), patient.version, patient.updated_at)


@bp.get("/Patient/<raw_id>/_history")
@requires("Patient", "r")
def history_patient(raw_id: str) -> Response:
    raise FhirError(
        404,
        "History is not kept for Patient: read the current version instead.",
        code="not-supported",
    )


@bp.get("/Provenance/<raw_id>")
@requires("Provenance", "r")
def read_provenance(raw_id: str) -> Response:
    parsed = provenance.parse_provenance_id(raw_id)
    if parsed is None:
        raise FhirError(404, f"Provenance/{raw_id} is not known.")
    chain_id, version = parsed
    versions = _versions_of(_chains([chain_id]))[chain_id]
    match = [v for v in versions if v.view.version == version]
    if not match:
        raise FhirError(404, f"Provenance/{raw_id} is not known.")
    resource = provenance.provenance_resource(match[0], current_app.config["CLINIC_NAME"])
    audit.record_now("read", "Provenance", raw_id, match[0].view.patient_id)
    return versioned(resource, 1, match[0].view.updated_at)


@bp.route("/Provenance", methods=["GET"])
@bp.route("/Provenance/_search", methods=["POST"])
@requires("Provenance", "s")
def search_provenance() -> Response:
    """Provenance by ``target`` or ``_id``: every version of the chains they name.

    Computed from the chains' rows, so a search must name its chains; a search
    without ``target`` or ``_id`` is refused as too costly (docs/fhir.md, "Provenance").
    """
    strict = search.prefer_strict(request.headers.get("Prefer"))
    pairs = _request_params()
    cursor = next((v for k, v in pairs if k == CURSOR), None)
    pairs = [(k, v) for k, v in pairs if k != CURSOR]
    try:
        chosen = search.select_params(
            pairs,
            ["target", "_id", "_count"],
            strict,
            always_allowed=("_count", "_format"),
            strict_modifiers=True,
        )
        params = dict(chosen.params)
        count = search.parse_count(_last(params.get("_count")))
        wanted = _provenance_wanted(params)
    except search.SearchError as error:
        raise FhirError(400, str(error), code=error.code) from None
    if wanted is None:
        raise FhirError(400, "Search Provenance by target or _id.", code="too-costly")
    chains = _versions_of(_chains(sorted({chain for chain, _ in wanted})))
    found = [
        version
        for chain_id in sorted(chains)
        for version in chains[chain_id]
        if (chain_id, None) in wanted or (chain_id, version.view.version) in wanted
    ]
    total = len(found)
    start = 0
    if cursor:
        try:
            after = paging.decode_position(cursor, [int, int], CURSOR)
        except paging.InvalidCursor:
            raise FhirError(400, "Invalid paging cursor.") from None
        start = sum(1 for v in found if (v.view.logical_id, v.view.version) <= tuple(after))
    page = found[start : start + count]
    used = [(k, v) for k, values in params.items() if k != "_count" for v in values]
    used.append(("_count", str(count)))
    links = [{"relation": "self", "url": search.build_url(public_base(), "/fhir/Provenance", used)}]
    if count and start + count < total:
        last = page[-1].view
        next_cursor = paging.encode_cursor([last.logical_id, last.version])
        links.append(
            {
                "relation": "next",
                "url": search.build_url(
                    public_base(), "/fhir/Provenance", [*used, (CURSOR, next_cursor)]
                ),
            }
        )
    entries = []
    for version in page:
        resource = provenance.provenance_resource(version, current_app.config["CLINIC_NAME"])
        entries.append(
            {
                "fullUrl": f"{fhir_base()}/Provenance/{resource['id']}",
                "resource": resource,
                "search": {"mode": "match"},
            }
        )
    if chosen.ignored:
        entries.append(
            {
                "resource": mapping.operation_outcome(
                    [
                        ("warning", "not-supported", f"Ignored unsupported parameter: {name}")
                        for name in chosen.ignored
                    ]
                ),
                "search": {"mode": "outcome"},
            }
        )
    for patient_id in sorted({v.view.patient_id for v in page}):
        audit.record("read", "Provenance", patient_id=patient_id)
    if not page:
        audit.record("read", "Provenance")
    db.session.commit()
    bundle = {"resourceType": "Bundle", "type": "searchset", "total": total, "link": links}
    if entries:
        bundle["entry"] = entries
    return fhir_response(bundle)


_TARGET_TYPES = ("Observation", "QuestionnaireResponse")


def _provenance_wanted(params: dict[str, tuple[str, ...]]) -> set[tuple[int, int | None]] | None:
    """(chain id, version or None for every version) pairs the search names; None if neither
    target nor _id was given. Repeated parameters are AND, comma alternatives OR."""
    sets: list[set[tuple[int, int | None]]] = []
    for raw in params.get("target", ()):
        sets.append({key for piece in raw.split(",") for key in _target_key(piece)})
    for raw in params.get("_id", ()):
        ids: set[tuple[int, int | None]] = set()
        for token in search.parse_tokens(raw, "_id"):
            parsed = provenance.parse_provenance_id(token.code or "")
            if parsed is not None:
                ids.add(parsed)
        sets.append(ids)
    if not sets:
        return None
    wanted = sets[0]
    for other in sets[1:]:
        # AND: a version named by one and a whole chain by the other meet in the version.
        wanted = {
            key
            for key in wanted | other
            if _covers(wanted, key) and _covers(other, key) and key[1] is not None
        } | (wanted & other)
    return wanted


def _covers(keys: set[tuple[int, int | None]], key: tuple[int, int | None]) -> bool:
    return key in keys or (key[0], None) in keys


def _target_key(raw: str) -> list[tuple[int, int | None]]:
    """One target value: ``Observation/12``, ``QuestionnaireResponse/12/_history/2``, ``12``
    or our own absolute URL. Another type, or an id that cannot be ours, matches nothing."""
    if raw == "":
        raise search.SearchError("target: an empty alternative", "invalid", "target")
    text = raw
    base = fhir_base() + "/"
    if text.startswith(base):
        text = text[len(base) :]
    parts = text.split("/")
    version: int | None = None
    if len(parts) == 4 and parts[2] == "_history":
        version = search.db_id(parts[3])
        if version is None:
            return []
        parts = parts[:2]
    if len(parts) == 2:
        if parts[0] not in _TARGET_TYPES:
            return []
        parts = parts[1:]
    if len(parts) != 1:
        raise search.SearchError(f"target: {raw[:80]!r} is not a reference", "invalid", "target")
    chain_id = search.db_id(parts[0])
    return [] if chain_id is None else [(chain_id, version)]


@bp.get("/Observation/<raw_id>")
@requires("Observation", "r")
def read_observation(raw_id: str) -> Response:
    row = _head(raw_id, "Observation")
    audit.record_now("read", "Observation", row.chain_id, row.patient_id)
    return versioned(_observation(row), row.version, row.updated_at)


@bp.route("/Observation", methods=["GET"])
@bp.route("/Observation/_search", methods=["POST"])
@requires("Observation", "s")
def search_observations() -> Response:
    return run_search(
        "Observation",
        HEADS,
        OBSERVATION_FILTERS,
        {
            "date": (ResponseRow.completed_at, ResponseRow.chain_id),
            "_lastUpdated": (ResponseRow.updated_at, ResponseRow.chain_id),
        },
        "date",
        _observation,
        ResponseRow.chain_id,
        _chain_includes("Observation"),
    )


@bp.get("/QuestionnaireResponse/<raw_id>")
@requires("QuestionnaireResponse", "r")
def read_questionnaire_response(raw_id: str) -> Response:
    row = _head(raw_id, "QuestionnaireResponse")
    audit.record_now("read", "QuestionnaireResponse", row.chain_id, row.patient_id)
    return versioned(_questionnaire_response(row), row.version, row.updated_at)


@bp.route("/QuestionnaireResponse", methods=["GET"])
@bp.route("/QuestionnaireResponse/_search", methods=["POST"])
@requires("QuestionnaireResponse", "s")
def search_questionnaire_responses() -> Response:
    return run_search(
        "QuestionnaireResponse",
        HEADS,
        QUESTIONNAIRE_RESPONSE_FILTERS,
        {
            "authored": (ResponseRow.completed_at, ResponseRow.chain_id),
            "_lastUpdated": (ResponseRow.updated_at, ResponseRow.chain_id),
        },
        "authored",
        _questionnaire_response,
        ResponseRow.chain_id,
        _chain_includes("QuestionnaireResponse"),
    )


# --------------------------------------------------------------------------
# Ingest
# --------------------------------------------------------------------------


def _if_none_exist() -> tuple[str, str] | None:
    """`If-None-Exist: identifier=system|value`: the only condition we support."""
    header = request.headers.get("If-None-Exist")
    if not header:
        return None
    name, _, value = header.partition("=")
    system, bar, code = value.partition("|")
    if name.strip() != "identifier" or not bar or not system or not code:
        raise FhirError(
            400, "If-None-Exist supports only identifier=system|value.", code="not-supported"
        )
    from urllib.parse import unquote

    return unquote(system), unquote(code)


@bp.post("/QuestionnaireResponse")
@requires("QuestionnaireResponse", "c")
def create_questionnaire_response() -> Response:
    """Score an EHR's QuestionnaireResponse with the same core; idempotent by identifier."""
    if request.mimetype not in ("application/fhir+json", "application/json"):
        raise FhirError(415, "Send the resource as application/fhir+json.")
    body = request.get_json(silent=True)
    if body is None:
        raise FhirError(400, "The body is not valid JSON.", code="invalid")
    if has_nul(body) or has_nul(request.headers.get("If-None-Exist", "")):
        raise FhirError(400, "NUL characters are not allowed.", code="invalid")
    condition = _if_none_exist()
    try:
        parsed = parse_questionnaire_response(body, canonical_base(), _clinic_tz(), utcnow())
    except FhirInvalid as invalid:
        raise FhirError(422, "Invalid QuestionnaireResponse.", issues=invalid.issues) from None
    if condition and parsed.identifier and condition != parsed.identifier:
        raise FhirError(412, "If-None-Exist names another identifier than the resource.")
    identifier = condition or parsed.identifier
    if not in_instant_range(parsed.authored):
        raise FhirError(
            422,
            "QuestionnaireResponse.authored must lie between the years 1900 and 2199.",
            issues=[
                (
                    "error",
                    "value",
                    "QuestionnaireResponse.authored must lie between the years 1900 and 2199.",
                    "QuestionnaireResponse.authored",
                )
            ],
        )
    patient_id = _subject_patient(parsed)
    submission = service.Submission(
        patient_id=patient_id,
        instrument=parsed.instrument,
        instrument_version=parsed.instrument_version,
        answers=list(parsed.answers),
        completed_at=parsed.authored,
        difficulty=parsed.difficulty,
    )
    from flask_login import current_user

    try:
        row, created = service.submit(submission, current_user, source_identifier=identifier)
    except service.SubmissionInvalid as invalid:
        raise FhirError(
            422,
            "The answers do not score.",
            issues=[
                ("error", "processing", f"{path}: {'; '.join(messages)}", path)
                for field, messages in invalid.errors.items()
                for path in [_fhir_path(field, parsed)]
            ],
        ) from None
    except service.SubmissionConflict as conflict:
        raise FhirError(409, str(conflict), code="duplicate") from None
    location = f"{fhir_base()}/QuestionnaireResponse/{row.chain_id}/_history/{row.version}"
    headers = {"Location": location, "ETag": f'W/"{row.version}"'}
    status = 201 if created else 200
    wanted = _prefer_return(request.headers.get("Prefer"))
    if wanted == "minimal":
        response = fhir_response({}, status, headers)
        response.set_data(b"")
        return response
    if wanted == "OperationOutcome":
        return fhir_response(mapping.operation_outcome(_create_notes(parsed, row)), status, headers)
    return fhir_response(_questionnaire_response(row), status, headers)


def _clinic_tz() -> tzinfo:
    """CLINIC_TIMEZONE, where a date-only or zone-less authored is read (UTC if unknown)."""
    try:
        return ZoneInfo(current_app.config.get("CLINIC_TIMEZONE") or "UTC")
    except (ZoneInfoNotFoundError, ValueError):
        return UTC


def _subject_patient(parsed: Any) -> int:
    """The patient the subject names: by id, or by an identifier that must name exactly one
    patient this caller may write for (docs/fhir.md, "QuestionnaireResponse and Questionnaire")."""
    where = "QuestionnaireResponse.subject"
    if parsed.patient_id is not None:
        if access.allowed_patient(parsed.patient_id, access.INGESTERS) is None:
            raise FhirError(
                422,
                f"{where}: Patient/{parsed.patient_id} is not known.",
                issues=[
                    (
                        "error",
                        "processing",
                        f"{where}: Patient/{parsed.patient_id} is not known.",
                        where,
                    )
                ],
            )
        return parsed.patient_id
    system, value = parsed.patient_identifier
    query = select(PatientIdentifier.patient_id).where(PatientIdentifier.value == value)
    if system is not None:
        query = query.where(PatientIdentifier.system == system)
    candidates = sorted(set(db.session.scalars(query)))
    visible = [
        pid for pid in candidates if access.allowed_patient(pid, access.INGESTERS) is not None
    ]
    if len(visible) != 1:
        code = "multiple-matches" if visible else "processing"
        what = "more than one patient" if visible else "no known patient"
        message = f"{where}: the identifier names {what}; it must name exactly one."
        raise FhirError(422, message, issues=[("error", code, message, where)])
    return visible[0]


def _fhir_path(field: str, parsed: Any) -> str:
    """Where in the QuestionnaireResponse a scoring error belongs (not our JSON field names)."""
    if field == "completed_at":
        return "QuestionnaireResponse.authored"
    if field == "difficulty":
        return parsed.paths.get("difficulty", "QuestionnaireResponse.item")
    head, _, index = field.partition(".")
    if head == "answers" and index.isdigit():
        return parsed.paths.get(int(index), "QuestionnaireResponse.item")
    if head == "answers":
        return "QuestionnaireResponse.item"
    return "QuestionnaireResponse"


def _prefer_return(prefer: str | None) -> str:
    """``Prefer: return=minimal|representation|OperationOutcome`` (R4 http.html#ops)."""
    for item in (prefer or "").replace(";", ",").split(","):
        name, _, value = item.partition("=")
        if name.strip().lower() == "return":
            value = value.strip().strip('"')
            if value in ("minimal", "OperationOutcome"):
                return value
    return "representation"


def _create_notes(parsed: Any, row: ResponseRow) -> list[tuple[str, str, str, str | None]]:
    """What the server did with the submission, for ``Prefer: return=OperationOutcome``."""
    notes: list[tuple[str, str, str, str | None]] = []
    if parsed.client_total is not None and parsed.client_total != row.total:
        notes.append(
            (
                "warning",
                "business-rule",
                f"The total sent ({parsed.client_total:g}) was replaced by the server's "
                f"score ({row.total}): the server computes every total.",
                "QuestionnaireResponse.item",
            )
        )
    elif parsed.client_total is not None:
        notes.append(
            (
                "information",
                "informational",
                "The total sent equals the server's score; the server computes every total.",
                "QuestionnaireResponse.item",
            )
        )
    notes.append(
        (
            "information",
            "informational",
            f"Stored as QuestionnaireResponse/{row.chain_id} version {row.version}.",
            None,
        )
    )
    return notes
