"""The one place that decides who may see and change a patient's record.

admin: every patient; clinician: patients on their care team; patient user:
only their own record; an EHR integration (API client): every patient, within
what its token's scopes allow (checked by the FHIR layer). A patient the
caller may not see is a 404, so ids cannot be probed; a visible patient the
caller may not change is a 403.
"""

from __future__ import annotations

from enum import StrEnum

from flask_login import current_user
from sqlalchemy import ColumnElement, bindparam, exists, false, select, true
from sqlalchemy.orm import lazyload

from tracker.auth import audit
from tracker.extensions import db
from tracker.models import CareTeamMember, Patient, User
from tracker.problems import fail


class Relation(StrEnum):
    ADMIN = "admin"
    CARE_TEAM = "care_team"
    SELF = "self"
    SYSTEM = "system"  # an EHR integration; its scopes say what it may do


READERS = frozenset({Relation.ADMIN, Relation.CARE_TEAM, Relation.SELF})
CARERS = frozenset({Relation.ADMIN, Relation.CARE_TEAM})
# Who may send a patient's scores in as FHIR: integrations and admins.
INGESTERS = frozenset({Relation.ADMIN, Relation.SYSTEM})


def relation_to(user: User, patient_id: int, on_care_team: bool | None = None) -> Relation | None:
    """How the user stands to the patient, or None when the record is not theirs to see.

    ``on_care_team``: whether the user is on the patient's care team, when the caller
    loaded it with the patient (one statement instead of two); looked up otherwise.
    """
    if getattr(user, "is_client", False):
        return Relation.SYSTEM
    if user.role == "admin":
        return Relation.ADMIN
    if user.role == "patient":
        return Relation.SELF if user.patient_id == patient_id else None
    if user.role == "clinician":
        if on_care_team is None:
            member = db.session.scalar(_MEMBER, {"patient_id": patient_id, "user_id": user.id})
            on_care_team = member is not None
        return Relation.CARE_TEAM if on_care_team else None
    return None


# Built once: nearly every request runs these two, and building a statement cost about as
# much as running it (bench/README.md, "Where the trend's time goes").
_MEMBER = select(CareTeamMember.user_id).where(
    CareTeamMember.patient_id == bindparam("patient_id"),
    CareTeamMember.user_id == bindparam("user_id"),
)
# The patient and whether the caller is on their care team, in one round trip.
# Identifiers load when a caller reads them, not with every request about a patient.
_PATIENT_AND_MEMBER = (
    select(Patient, CareTeamMember.user_id)
    .outerjoin(
        CareTeamMember,
        (CareTeamMember.patient_id == Patient.id)
        & (CareTeamMember.user_id == bindparam("user_id")),
    )
    .where(Patient.id == bindparam("patient_id"))
    .options(lazyload(Patient.identifiers))
)


def visible_patients_clause(user: User) -> ColumnElement[bool]:
    """A WHERE clause on patient.id restricting a query to what the user may see."""
    if user.role == "admin":
        return true()
    if user.role == "patient":
        return Patient.id == user.patient_id if user.patient_id else false()
    if user.role == "clinician":
        return exists().where(
            CareTeamMember.patient_id == Patient.id, CareTeamMember.user_id == user.id
        )
    return false()


def allowed_patient(patient_id: int, allowed: frozenset[Relation] = READERS) -> Patient | None:
    """The patient if the current caller may do this to them; None (audited) otherwise.

    For shells that answer a refusal in their own words (FHIR ingest: an unknown
    patient); the others use :func:`patient_for`.
    """
    patient = db.session.get(Patient, patient_id)
    if patient is not None and relation_to(current_user, patient_id) in allowed:
        return patient
    audit.record_now(
        "access_denied",
        resource_type="patient",
        resource_id=patient_id,
        patient_id=None,
        outcome="not_found",
    )
    return None


def patient_for(patient_id: int, allowed: frozenset[Relation] = READERS) -> Patient:
    """Load a patient the current user may act on, or abort 404/403 with an audit record."""
    # An EHR client's id is a string, never a care-team user id: no member row matches it.
    user_id = getattr(current_user, "id", None)
    user_id = user_id if isinstance(user_id, int) else None
    found = db.session.execute(
        _PATIENT_AND_MEMBER, {"patient_id": patient_id, "user_id": user_id}
    ).first()
    patient = found[0] if found else None
    relation = relation_to(current_user, patient_id, found[1] is not None) if found else None
    if patient is None or (relation not in allowed and relation not in READERS):
        audit.record_now(
            "access_denied",
            resource_type="patient",
            resource_id=patient_id,
            patient_id=patient_id if patient else None,
            outcome="not_found",
        )
        fail(404, "No such patient.")
    if relation not in allowed:
        audit.record_now(
            "access_denied",
            resource_type="patient",
            resource_id=patient_id,
            patient_id=patient_id,
            outcome="forbidden",
        )
        fail(403, "You may see this patient's record but not do this to it.")
    return patient


def require_role(*roles: str) -> None:
    """Abort 403 (audited) unless the current user has one of the roles."""
    if current_user.role not in roles:
        audit.record_now("access_denied", outcome="forbidden")
        fail(403, "Your role may not do this.")


def record_for(
    model: type, record_id: int, resource_type: str, allowed: frozenset[Relation] = READERS
):  # type: ignore[no-untyped-def]
    """A patient's row (response, series, alert) if the caller may act on that patient.

    An unknown id is an audited 404, like a patient the caller may not see.
    """
    row = db.session.get(model, record_id)
    if row is None:
        audit.record_now(
            "access_denied",
            resource_type=resource_type,
            resource_id=record_id,
            outcome="not_found",
        )
        fail(404, f"No such {resource_type}.")
    patient_for(row.patient_id, allowed)
    return row
