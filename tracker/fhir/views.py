"""Rows → the plain views the pure FHIR mapping takes."""

from __future__ import annotations

from tracker.extensions import db
from tracker.fhir.mapping import PatientView, ResponseView
from tracker.models import ApiClient, Patient, Response


def patient_view(patient: Patient) -> PatientView:
    return PatientView(
        id=patient.id,
        display_name=patient.display_name,
        birth_date=patient.birth_date,
        identifiers=tuple((i.system, i.value) for i in patient.identifiers),
        version=patient.version,
        updated_at=patient.updated_at,
    )


def response_view(row: Response) -> ResponseView:
    """The head row of a chain, seen as one logical, versioned FHIR resource."""
    identifier = None
    if row.source_identifier_system and row.source_identifier_value:
        identifier = (row.source_identifier_system, row.source_identifier_value)
    return ResponseView(
        logical_id=row.chain_id or row.id,
        patient_id=row.patient_id,
        instrument=row.instrument,
        instrument_version=row.instrument_version,
        answers=tuple(row.answers),
        difficulty=row.difficulty,
        total=row.total,
        prorated=row.prorated,
        severity=row.severity,
        status=row.status,
        amended=row.supersedes_id is not None,
        version=row.version,
        completed_at=row.completed_at,
        recorded_at=row.recorded_at,
        updated_at=row.updated_at,
        source=row.source,
        identifier=identifier,
        entered_by_user=row.entered_by,
        entered_by_client=_client(row.entered_by_client),
    )


def _client(client_pk: int | None) -> tuple[str, str] | None:
    """(client_id, name) of an EHR integration; the session's identity map makes repeats free."""
    if client_pk is None:
        return None
    client = db.session.get(ApiClient, client_pk)
    return None if client is None else (client.client_id, client.name)
