"""The /fhir blueprint: capability, reads, searches and QuestionnaireResponse ingest.

Reads and searches show one logical resource per response chain (its newest
row); amended rows are history. Paging is keyset-based: the `next` link carries
the last row's sort key, so rows added between pages neither repeat nor vanish.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from typing import Any

from flask import Blueprint, Response, current_app, request
from sqlalchemy import ColumnElement, and_, false, func, not_, or_, select, true
from sqlalchemy.orm import InstrumentedAttribute

from tracker import instruments
from tracker.auth import access, audit
from tracker.extensions import db
from tracker.fhir import mapping, search
from tracker.fhir.http import (
    FhirError,
    error_response,
    fhir_response,
    is_fhir_request,
    requires,
    versioned,
)
from tracker.fhir.ingest import FhirInvalid, parse_questionnaire_response
from tracker.fhir.views import patient_view, response_view
from tracker.inputs import has_nul, in_instant_range
from tracker.models import Patient, PatientIdentifier
from tracker.models import Response as ResponseRow
from tracker.models.response import ResponseStatus
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
) -> Response:
    """Filters → sort → keyset page → searchset Bundle with total and absolute links."""
    strict = search.prefer_strict(request.headers.get("Prefer"))
    pairs = _request_params()
    cursor = next((v for k, v in pairs if k == CURSOR), None)
    pairs = [(k, v) for k, v in pairs if k != CURSOR]
    try:
        # An ignored modifier (code:not=X) would answer the opposite question: refuse it.
        chosen = search.select_params(
            pairs,
            [*filters, "_count", "_sort"],
            strict,
            always_allowed=SEARCH_CONTROLS,
            strict_modifiers=True,
        )
        params, ignored = dict(chosen.params), list(chosen.ignored)
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
    if ignored:
        entries.append(
            {
                "resource": mapping.operation_outcome(
                    [
                        ("warning", "not-supported", f"Ignored unsupported parameter: {name}")
                        for name in ignored
                    ]
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
        },
        {"_id": (Patient.id, Patient.id), "_lastUpdated": (Patient.updated_at, Patient.id)},
        "_id",
        _patient_resource,
        Patient.id,
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
}
QUESTIONNAIRE_RESPONSE_FILTERS = {
    **CHAIN_FILTERS,
    "questionnaire": _questionnaire_clause,
    "authored": lambda v, p: _date_clause(ResponseRow.completed_at, v, p),
}


def _observation(row: ResponseRow) -> dict:
    return mapping.observation_resource(response_view(row), canonical_base=canonical_base())


def _questionnaire_response(row: ResponseRow) -> dict:
    return mapping.questionnaire_response_resource(response_view(row), canonical_base())


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
        parsed = parse_questionnaire_response(body, canonical_base())
    except FhirInvalid as invalid:
        raise FhirError(422, "Invalid QuestionnaireResponse.", issues=invalid.issues) from None
    if condition and parsed.identifier and condition != parsed.identifier:
        raise FhirError(412, "If-None-Exist names another identifier than the resource.")
    identifier = condition or parsed.identifier
    if not in_instant_range(parsed.authored):
        raise FhirError(422, "authored must lie between the years 1900 and 2199.", code="value")
    if access.allowed_patient(parsed.patient_id, access.INGESTERS) is None:
        raise FhirError(422, f"Patient/{parsed.patient_id} is not known.", code="processing")
    submission = service.Submission(
        patient_id=parsed.patient_id,
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
                ("error", "processing", f"{field}: {'; '.join(messages)}")
                for field, messages in invalid.errors.items()
            ],
        ) from None
    except service.SubmissionConflict as conflict:
        raise FhirError(409, str(conflict), code="duplicate") from None
    resource = _questionnaire_response(row)
    location = f"{fhir_base()}/QuestionnaireResponse/{row.chain_id}/_history/{row.version}"
    headers = {"Location": location, "ETag": f'W/"{row.version}"'}
    return fhir_response(resource, 201 if created else 200, headers)
