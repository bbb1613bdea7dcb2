"""Patients: register, find by identifier, read, update, and build the care team."""

from __future__ import annotations

import marshmallow as ma
from flask_login import current_user, login_required
from sqlalchemy import exists, select

from tracker.api.blueprint import ApiBlueprint
from tracker.api.fields import Id, StrictSchema
from tracker.api.pagination import PageArgs, page_schema
from tracker.auth import access, audit
from tracker.extensions import db
from tracker.models import Patient, PatientIdentifier
from tracker.models.patient import REMINDER_SETTINGS
from tracker.problems import READ_PROBLEMS, WRITE_PROBLEMS, documented_problems, fail
from tracker.services import paging
from tracker.services import patients as service

blp = ApiBlueprint("patients", __name__, url_prefix="/api/v1/patients", description="Patients")

PATIENT_ID = "<id:patient_id>"


class IdentifierSchema(StrictSchema):
    system = ma.fields.String(required=True, validate=ma.validate.Length(min=1, max=255))
    value = ma.fields.String(required=True, validate=ma.validate.Length(min=1, max=255))


class PatientCreateSchema(StrictSchema):
    display_name = ma.fields.String(required=True, validate=ma.validate.Length(min=1, max=200))
    birth_date = ma.fields.Date(load_default=None, allow_none=True)
    identifiers = ma.fields.List(
        ma.fields.Nested(IdentifierSchema),
        load_default=list,
        validate=ma.validate.Length(max=20),
        metadata={"uniqueItems": True},
    )


class PatientPatchSchema(PatientCreateSchema):
    display_name = ma.fields.String(validate=ma.validate.Length(min=1, max=200))
    birth_date = ma.fields.Date(allow_none=True)
    identifiers = ma.fields.List(
        ma.fields.Nested(IdentifierSchema),
        validate=ma.validate.Length(max=20),
        metadata={"description": "Replaces the whole list when given", "uniqueItems": True},
    )
    reminders = ma.fields.String(
        validate=ma.validate.OneOf(REMINDER_SETTINGS),
        metadata={
            "description": '"off" stops questionnaire reminders (the patient may change this '
            "one field on their own record)"
        },
    )


class PatientSchema(ma.Schema):
    id = Id()
    display_name = ma.fields.String()
    birth_date = ma.fields.Date(allow_none=True)
    identifiers = ma.fields.List(ma.fields.Nested(IdentifierSchema))
    reminders = ma.fields.String(metadata={"enum": list(REMINDER_SETTINGS)})
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


def _parse_identifier(raw: str) -> tuple[str, str]:
    system, sep, value = raw.partition("|")
    if not sep or not system or not value:
        fail(422, errors={"identifier": ["Use system|value."]})
    return system, value


def _pairs(identifiers: list[dict]) -> list[tuple[str, str]]:
    return [(i["system"], i["value"]) for i in identifiers]


@blp.route("", methods=["POST"])
@login_required
@documented_problems(
    blp, *WRITE_PROBLEMS, notes={409: "An identifier (system+value) already exists"}
)
@blp.arguments(PatientCreateSchema)
@blp.response(201, PatientSchema)
def create_patient(data: dict) -> Patient:
    """Register a patient; the creating clinician joins the care team.

    An identifier that already exists answers 409 without saying whose record
    holds it; a clinician then asks an admin to join that patient's care team.
    """
    access.require_role("clinician", "admin")
    return service.register(
        current_user,
        data["display_name"],
        data["birth_date"],
        _pairs(data["identifiers"]),
    )


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
    page = paging.page(query, paging.Order((Patient.id,)), args["limit"], args["cursor"])
    for patient in page.items:
        audit.record("read", "patient", patient.id, patient.id)
    db.session.commit()
    return page.as_dict()


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
    """Change the name, birth date, identifiers (replaced as a whole) or reminders.

    The patient may turn their own reminders on or off; everything else is for carers.
    """
    allowed = access.READERS if set(data) == {"reminders"} else access.CARERS
    patient = access.patient_for(patient_id, allowed)
    if "identifiers" in data:
        data["identifiers"] = _pairs(data["identifiers"])
    return service.update(current_user, patient, **data)


@blp.route(f"/{PATIENT_ID}/care-team", methods=["POST"])
@login_required
@documented_problems(blp, *WRITE_PROBLEMS)
@blp.arguments(CareTeamAddSchema)
@blp.response(204)
def add_to_care_team(data: dict, patient_id: int) -> None:
    """Give another clinician access to this patient (adding twice is harmless)."""
    patient = access.patient_for(patient_id, access.CARERS)
    service.add_to_care_team(patient, data["clinician_id"])
