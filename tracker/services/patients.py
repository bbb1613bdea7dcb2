"""Registering patients, changing their record, and building their care team.

Each function is one transaction with its audit event. Who may call them is
decided before, by :mod:`tracker.auth.access`.
"""

from __future__ import annotations

from datetime import date

from sqlalchemy.exc import IntegrityError

from tracker.auth import audit
from tracker.extensions import db
from tracker.models import CareTeamMember, Patient, PatientIdentifier, User
from tracker.models.types import utcnow
from tracker.services.errors import Conflict, Invalid

Identifier = tuple[str, str]  # (system, value), e.g. an MRN with its issuing system

_UNSET = object()


def _identifier_taken(actor: User) -> Conflict:
    """Say only that the identifier exists: a clinician must not learn whose record it is."""
    if actor.role == "admin":
        return Conflict(
            "A patient with one of these identifiers already exists; "
            "find it with GET /api/v1/patients?identifier=system|value."
        )
    return Conflict(
        "A patient with one of these identifiers is already registered, possibly on "
        "another care team; ask an admin to add you to that patient's care team."
    )


def _check_identifiers(identifiers: list[Identifier]) -> None:
    if len(set(identifiers)) != len(identifiers):
        raise Invalid({"identifiers": ["The same identifier is listed twice."]})


def register(
    actor: User,
    display_name: str,
    birth_date: date | None = None,
    identifiers: list[Identifier] | None = None,
) -> Patient:
    """Register a patient; a clinician who registers one joins their care team.

    An identifier (system + value) that already exists is a Conflict, decided
    by the database's unique constraint, so two concurrent registrations of one
    MRN store one patient.
    """
    identifiers = list(identifiers or [])
    _check_identifiers(identifiers)
    patient = Patient(
        display_name=display_name,
        birth_date=birth_date,
        identifiers=[PatientIdentifier(system=s, value=v) for s, v in identifiers],
    )
    db.session.add(patient)
    try:
        db.session.flush()
    except IntegrityError:
        db.session.rollback()
        raise _identifier_taken(actor) from None
    if actor.role == "clinician":
        db.session.add(CareTeamMember(patient_id=patient.id, user_id=actor.id))
    audit.record("create", "patient", patient.id, patient.id)
    db.session.commit()
    return patient


def update(
    actor: User,
    patient: Patient,
    *,
    display_name: str | object = _UNSET,
    birth_date: date | None | object = _UNSET,
    identifiers: list[Identifier] | object = _UNSET,
    reminders: str | object = _UNSET,
) -> Patient:
    """Change what is given; a new identifier list replaces the old one as a whole."""
    if reminders is not _UNSET:
        patient.reminders = reminders  # type: ignore[assignment]
    if display_name is not _UNSET:
        patient.display_name = display_name  # type: ignore[assignment]
    if birth_date is not _UNSET:
        patient.birth_date = birth_date  # type: ignore[assignment]
    try:
        if identifiers is not _UNSET:
            new = list(identifiers)  # type: ignore[call-overload]
            _check_identifiers(new)
            patient.identifiers = []
            db.session.flush()  # free the old (system, value) pairs first
            patient.identifiers = [PatientIdentifier(system=s, value=v) for s, v in new]
        if (display_name, birth_date, identifiers) != (_UNSET, _UNSET, _UNSET):
            # The FHIR version moves with the record, not with the reminder setting.
            patient.updated_at = utcnow()
            patient.version += 1
        db.session.flush()
    except IntegrityError:
        db.session.rollback()
        raise _identifier_taken(actor) from None
    audit.record("update", "patient", patient.id, patient.id)
    db.session.commit()
    return patient


def add_to_care_team(patient: Patient, clinician_id: int) -> bool:
    """Give a clinician access to a patient; True if they were not on the team yet.

    Adding twice, or two concurrent adds, end in the same state.
    """
    clinician = db.session.get(User, clinician_id)
    if clinician is None or clinician.role != "clinician" or not clinician.active:
        raise Invalid({"clinician_id": ["No active clinician with this id."]})
    if db.session.get(CareTeamMember, (patient.id, clinician.id)) is not None:
        return False
    db.session.add(CareTeamMember(patient_id=patient.id, user_id=clinician.id))
    audit.record("update", "care_team", clinician.id, patient.id)
    try:
        db.session.commit()
    except IntegrityError:  # a concurrent add won the race: same end state
        db.session.rollback()
        return False
    return True
