"""Rows → the plain views the pure FHIR mapping takes."""

from __future__ import annotations

from sqlalchemy import Row, Select, select

from tracker.extensions import db
from tracker.fhir.mapping import PatientView, ResponseView
from tracker.models import ApiClient, Patient, Response
from tracker.models.response import ResponseStatus

# The columns response_view reads, and no others: a bulk export selects these as plain
# tuples, without the ORM entity's JSON columns it does not map or its superseded_by
# sub-select per row (bench/README.md, "Export streams").
VIEW_COLUMNS = (
    Response.id,
    Response.chain_id,
    Response.patient_id,
    Response.instrument,
    Response.instrument_version,
    Response.answers,
    Response.difficulty,
    Response.total,
    Response.prorated,
    Response.severity,
    Response.status,
    Response.supersedes_id,
    Response.version,
    Response.completed_at,
    Response.recorded_at,
    Response.updated_at,
    Response.source,
    Response.source_identifier_system,
    Response.source_identifier_value,
    Response.entered_by,
    Response.entered_by_client,
)
# The head row of each chain (amended rows are older versions), as view columns.
HEAD_VIEW_ROWS: Select = select(*VIEW_COLUMNS).where(Response.status != ResponseStatus.AMENDED)


def patient_view(patient: Patient) -> PatientView:
    return PatientView(
        id=patient.id,
        display_name=patient.display_name,
        birth_date=patient.birth_date,
        identifiers=tuple((i.system, i.value) for i in patient.identifiers),
        version=patient.version,
        updated_at=patient.updated_at,
    )


def response_view(row: Response | Row) -> ResponseView:
    """The head row of a chain, seen as one logical, versioned FHIR resource.

    ``row`` is an ORM ``Response`` or a result row of :data:`VIEW_COLUMNS` (an export
    maps a million of those: unpacking the tuple is the cheap way to read it).
    """
    (
        row_id,
        chain_id,
        patient_id,
        instrument,
        instrument_version,
        answers,
        difficulty,
        total,
        prorated,
        severity,
        status,
        supersedes_id,
        version,
        completed_at,
        recorded_at,
        updated_at,
        source,
        identifier_system,
        identifier_value,
        entered_by,
        entered_by_client,
    ) = row if isinstance(row, Row) else [getattr(row, column.key) for column in VIEW_COLUMNS]
    return ResponseView(
        logical_id=chain_id or row_id,
        patient_id=patient_id,
        instrument=instrument,
        instrument_version=instrument_version,
        answers=tuple(answers),
        difficulty=difficulty,
        total=total,
        prorated=prorated,
        severity=severity,
        status=status,
        amended=supersedes_id is not None,
        version=version,
        completed_at=completed_at,
        recorded_at=recorded_at,
        updated_at=updated_at,
        source=source,
        identifier=(identifier_system, identifier_value)
        if identifier_system and identifier_value
        else None,
        entered_by_user=entered_by,
        entered_by_client=_client(entered_by_client),
    )


def _client(client_pk: int | None) -> tuple[str, str] | None:
    """(client_id, name) of an EHR integration; the session's identity map makes repeats free."""
    if client_pk is None:
        return None
    client = db.session.get(ApiClient, client_pk)
    return None if client is None else (client.client_id, client.name)
