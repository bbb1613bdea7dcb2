"""Patients: register, find by identifier, read, update, and build the care team."""

from __future__ import annotations

import marshmallow as ma
from flask_login import current_user, login_required
from sqlalchemy import exists, select
from sqlalchemy.exc import IntegrityError

from tracker.api.blueprint import ApiBlueprint
from tracker.api.fields import Id, StrictSchema
from tracker.api.pagination import PageArgs, decode_cursor, encode_cursor, page_schema
from tracker.auth import access, audit
from tracker.extensions import db
from tracker.models import CareTeamMember, Patient, PatientIdentifier, User
from tracker.models.types import utcnow
from tracker.problems import READ_PROBLEMS, WRITE_PROBLEMS, documented_problems, fail

blp = ApiBlueprint("patients", __name__, url_prefix="/api/v1/patients", description="Patients")

PATIENT_ID = "<id:patient_id>"


class IdentifierSchema(StrictSchema):
    system = ma.fields.String(required=True, validate=ma.validate.Length(min=1, max=255))
    value = ma.fields.String(required=True, validate=ma.validate.Length(min=1, max=255))


def _unique_identifiers(identifiers: list[dict]) -> None:
    seen = {(i["system"], i["value"]) for i in identifiers}
    if len(seen) != len(identifiers):
        raise ma.ValidationError({"identifiers": ["The same identifier is listed twice."]})


class PatientCreateSchema(StrictSchema):
    display_name = ma.fields.String(required=True, validate=ma.validate.Length(min=1, max=200))
    birth_date = ma.fields.Date(load_default=None, allow_none=True)
    identifiers = ma.fields.List(
        ma.fields.Nested(IdentifierSchema),
        load_default=list,
        validate=ma.validate.Length(max=20),
        metadata={"uniqueItems": True},
    )

    @ma.validates_schema
    def _check(self, data: dict, **_kwargs: object) -> None:
        _unique_identifiers(data.get("identifiers") or [])


class PatientPatchSchema(PatientCreateSchema):
    display_name = ma.fields.String(validate=ma.validate.Length(min=1, max=200))
    birth_date = ma.fields.Date(allow_none=True)
    identifiers = ma.fields.List(
        ma.fields.Nested(IdentifierSchema),
        validate=ma.validate.Length(max=20),
        metadata={"description": "Replaces the whole list when given", "uniqueItems": True},
    )


class PatientSchema(ma.Schema):
    id = Id()
    display_name = ma.fields.String()
    birth_date = ma.fields.Date(allow_none=True)
    identifiers = ma.fields.List(ma.fields.Nested(IdentifierSchema))
    created_at = ma.fields.AwareDateTime()
    updated_at = ma.fields.AwareDateTime()


PatientPageSchema = page_schema(PatientSchema, "PatientPageSchema")


class PatientListArgs(PageArgs):
    identifier = ma.fields.String(
        validate=ma.validate.Length(min=3, max=512),
        metadata={"description": "system|value", "pattern": r"^[^|]+\|.+$"},
    )


class CareTeamAddSchema(StrictSchema):
    clinician_id = Id(required=True)


def _identifier_conflict() -> None:
    fail(409, "A patient with one of these identifiers already exists.")


def _parse_identifier(raw: str) -> tuple[str, str]:
    system, sep, value = raw.partition("|")
    if not sep or not system or not value:
        fail(422, errors={"identifier": ["Use system|value."]})
    return system, value


@blp.route("", methods=["POST"])
@login_required
@documented_problems(
    blp, *WRITE_PROBLEMS, notes={409: "An identifier (system+value) already exists"}
)
@blp.arguments(PatientCreateSchema)
@blp.response(201, PatientSchema)
def create_patient(data: dict) -> Patient:
    """Register a patient; the creating clinician joins the care team."""
    access.require_role("clinician", "admin")
    patient = Patient(
        display_name=data["display_name"],
        birth_date=data["birth_date"],
        identifiers=[PatientIdentifier(**i) for i in data["identifiers"]],
    )
    db.session.add(patient)
    try:
        db.session.flush()
        if current_user.role == "clinician":
            db.session.add(CareTeamMember(patient_id=patient.id, user_id=current_user.id))
        audit.record("create", "patient", patient.id, patient.id)
        db.session.commit()
    except IntegrityError:
        db.session.rollback()
        _identifier_conflict()
    return patient


@blp.route("", methods=["GET"])
@login_required
@documented_problems(
    blp, *READ_PROBLEMS, notes={403: "Patients cannot list patients", 422: "Invalid query"}
)
@blp.arguments(PatientListArgs, location="query")
@blp.response(200, PatientPageSchema)
def list_patients(args: dict) -> dict:
    """The patients the caller may see, oldest registration first."""
    access.require_role("clinician", "admin")
    query = select(Patient).where(access.visible_patients_clause(current_user))
    if args.get("identifier"):
        system, value = _parse_identifier(args["identifier"])
        query = query.where(
            exists().where(
                PatientIdentifier.patient_id == Patient.id,
                PatientIdentifier.system == system,
                PatientIdentifier.value == value,
            )
        )
    if args["cursor"]:
        try:
            (after_id,) = decode_cursor(args["cursor"], (int,))
        except ma.ValidationError as error:
            fail(422, errors=error.messages)
        query = query.where(Patient.id > after_id)
    rows = list(db.session.scalars(query.order_by(Patient.id).limit(args["limit"] + 1)))
    page, more = rows[: args["limit"]], len(rows) > args["limit"]
    for patient in page:
        audit.record("read", "patient", patient.id, patient.id)
    db.session.commit()
    return {"items": page, "next_cursor": encode_cursor([page[-1].id]) if more else None}


@blp.route(f"/{PATIENT_ID}", methods=["GET"])
@login_required
@documented_problems(blp, *READ_PROBLEMS)
@blp.response(200, PatientSchema)
def get_patient(patient_id: int) -> Patient:
    """One patient: their care team, an admin, or the patient themself."""
    patient = access.patient_for(patient_id)
    audit.record_now("read", resource_type="patient", resource_id=patient.id, patient_id=patient.id)
    return patient


@blp.route(f"/{PATIENT_ID}", methods=["PATCH"])
@login_required
@documented_problems(
    blp, *WRITE_PROBLEMS, notes={409: "An identifier (system+value) already exists"}
)
@blp.arguments(PatientPatchSchema, required=False)
@blp.response(200, PatientSchema)
def patch_patient(data: dict, patient_id: int) -> Patient:
    """Change the name, birth date or identifiers (the list is replaced as a whole)."""
    patient = access.patient_for(patient_id, access.CARERS)
    if "display_name" in data:
        patient.display_name = data["display_name"]
    if "birth_date" in data:
        patient.birth_date = data["birth_date"]
    try:
        if "identifiers" in data:
            patient.identifiers = []
            db.session.flush()  # free the old (system, value) pairs first
            patient.identifiers = [PatientIdentifier(**i) for i in data["identifiers"]]
        patient.updated_at = utcnow()
        patient.version += 1
        audit.record("update", "patient", patient.id, patient.id)
        db.session.commit()
    except IntegrityError:
        db.session.rollback()
        _identifier_conflict()
    return patient


@blp.route(f"/{PATIENT_ID}/care-team", methods=["POST"])
@login_required
@documented_problems(blp, *WRITE_PROBLEMS)
@blp.arguments(CareTeamAddSchema)
@blp.response(204)
def add_to_care_team(data: dict, patient_id: int) -> None:
    """Give another clinician access to this patient (adding twice is harmless)."""
    patient = access.patient_for(patient_id, access.CARERS)
    clinician = db.session.get(User, data["clinician_id"])
    if clinician is None or clinician.role != "clinician" or not clinician.active:
        fail(422, errors={"clinician_id": ["No active clinician with this id."]})
    if db.session.get(CareTeamMember, (patient.id, clinician.id)) is None:
        db.session.add(CareTeamMember(patient_id=patient.id, user_id=clinician.id))
        audit.record("update", "care_team", clinician.id, patient.id)
        try:
            db.session.commit()
        except IntegrityError:  # a concurrent add won the race: same end state
            db.session.rollback()
