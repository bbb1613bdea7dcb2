"""Pure mapping of tracker data to FHIR R4 JSON (dicts ready for ``json.dumps``).

Kept free of Flask, SQLAlchemy, the clock and I/O so that the REST endpoints,
the Bulk Data export and the tests all emit byte-for-byte the same resources
from the same row, and so every profile/code decision can be checked in unit
tests against the R4B models (see tests/fhir_checks.py).

References in comments (docs/fhir.md, "Observations") name a section of the
repository's docs/fhir.md, whose "Sources" list the specifications.

Versioning (project decision): a submission and its corrections form a chain
of rows; FHIR sees one logical resource per chain, whose id is the chain id
(the first row's id) and whose ``meta.versionId`` is the chain version. Only
the head row is ever mapped, so the callers build a view of the head.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Any

from tracker import instruments
from tracker.instruments import LOINC, Band, Instrument, Item, Option

__all__ = [
    "LOINC",
    "OBSERVATION_CATEGORY",
    "ORDINAL_VALUE",
    "OPTION_PREFIX",
    "PatientView",
    "ResponseView",
    "UCUM",
    "US_CORE_PATIENT",
    "US_CORE_QUESTIONNAIRE_RESPONSE",
    "US_CORE_SCREENING_ASSESSMENT",
    "US_CORE_VERSION",
    "answer_coding",
    "answer_system",
    "clinician_reference",
    "difficulty_link_id",
    "enterer_reference",
    "fhir_status_observation",
    "fhir_status_questionnaire_response",
    "instant",
    "item_link_id",
    "meta",
    "observation_resource",
    "operation_outcome",
    "patient_resource",
    "questionnaire_resource",
    "questionnaire_response_resource",
    "questionnaire_url",
    "severity_system",
    "syndrome_system",
    "stem_link_id",
    "total_link_id",
]

# --------------------------------------------------------------------------
# Fixed URIs
# --------------------------------------------------------------------------

UCUM = "http://unitsofmeasure.org"
OBSERVATION_CATEGORY = "http://terminology.hl7.org/CodeSystem/observation-category"
# The US Core release claimed, in meta.profile and the CapabilityStatement
# (docs/fhir.md, "US Core 7.0.0").
US_CORE_VERSION = "7.0.0"
_US_CORE_SD = "http://hl7.org/fhir/us/core/StructureDefinition/"
# docs/fhir.md, "Observations": the STU6+ profile, replacing us-core-observation-survey.
US_CORE_SCREENING_ASSESSMENT = (
    f"{_US_CORE_SD}us-core-observation-screening-assessment|{US_CORE_VERSION}"
)
# docs/fhir.md, "QuestionnaireResponse and Questionnaire".
US_CORE_QUESTIONNAIRE_RESPONSE = f"{_US_CORE_SD}us-core-questionnaireresponse|{US_CORE_VERSION}"
US_CORE_PATIENT = f"{_US_CORE_SD}us-core-patient|{US_CORE_VERSION}"
# docs/fhir.md, "QuestionnaireResponse and Questionnaire": weights as the R4-native
# ordinalValue, labels' numbers as optionPrefix.
ORDINAL_VALUE = "http://hl7.org/fhir/StructureDefinition/ordinalValue"
OPTION_PREFIX = "http://hl7.org/fhir/StructureDefinition/questionnaire-optionPrefix"
DATA_ABSENT_REASON = "http://hl7.org/fhir/StructureDefinition/data-absent-reason"

# R4 value sets checked here because fhir.resources does not enforce
# bindings (docs/fhir.md, "Validation"): a typo must fail in our code, not in an EHR.
_ISSUE_SEVERITIES = frozenset({"fatal", "error", "warning", "information"})
_R4_ISSUE_TYPES = (
    "invalid structure required value invariant security login unknown expired forbidden "
    "suppressed processing not-supported duplicate multiple-matches not-found deleted "
    "too-long code-invalid extension too-costly business-rule conflict transient "
    "lock-error no-store exception timeout incomplete throttled informational"
)
_ISSUE_TYPES = frozenset(_R4_ISSUE_TYPES.split())
_ROW_STATUSES = frozenset({"final", "entered-in-error"})  # a head row is never "amended"


# --------------------------------------------------------------------------
# Input views
# --------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class PatientView:
    """What the FHIR layer may know about a patient (decoupled from the ORM row)."""

    id: int
    display_name: str
    birth_date: date | None
    identifiers: tuple[tuple[str, str], ...]  # (system, value)
    version: int
    updated_at: datetime


@dataclass(frozen=True, slots=True)
class ResponseView:
    """The head row of a response chain, as the FHIR layer sees it."""

    logical_id: int  # chain id = FHIR id of Observation and QuestionnaireResponse
    patient_id: int
    instrument: str
    instrument_version: str
    answers: tuple[int | None, ...]
    difficulty: int | None
    total: int
    prorated: bool
    severity: str  # band code
    status: str  # head row status: "final" or "entered-in-error"
    amended: bool  # True when this head supersedes an earlier version
    version: int
    completed_at: datetime
    recorded_at: datetime
    updated_at: datetime
    source: str  # "patient" | "clinician" | "import"
    identifier: tuple[str, str] | None = None  # external identifier (system, value) from ingest
    # Who entered this version: the user's id (patient or clinician) or the EHR client's
    # (client_id, name); None when not recorded (docs/fhir.md, "Provenance").
    entered_by_user: int | None = None
    entered_by_client: tuple[str, str] | None = None


# --------------------------------------------------------------------------
# Small shared pieces
# --------------------------------------------------------------------------


def instant(value: datetime) -> str:
    """ISO 8601 with offset; refuses naive datetimes.

    FHIR dateTime/instant with a time SHALL carry a zone (docs/fhir.md, "Known pitfalls"), and
    ``isoformat()`` of a naive value silently produces invalid FHIR, so a naive
    value here is a bug upstream and must not reach an EHR.
    """
    if value.__class__ is datetime and value.tzinfo is UTC:
        return value.isoformat()  # what every stored instant is: checked below, cheaply here
    if not isinstance(value, datetime):
        raise TypeError(f"expected a datetime, got {type(value).__name__}")
    if value.tzinfo is None or value.utcoffset() is None:
        raise ValueError(f"naive datetime {value!r}: FHIR needs a time-zone offset")
    if value.utcoffset() % timedelta(minutes=1):  # type: ignore[operator]
        # FHIR offsets are ±hh:mm; a historic zone (LMT +00:01:15) would print seconds.
        value = value.astimezone(UTC)
    return value.isoformat()


def meta(
    version: int, updated_at: datetime, profile: str | Sequence[str] | None = None
) -> dict[str, Any]:
    """``Resource.meta`` from one row version.

    ETag, Last-Modified and meta must come from the same row (docs/fhir.md,
    "Conditional reads and versions"), so the endpoints derive their headers
    from this dict's inputs.
    """
    result: dict[str, Any] = {"versionId": str(version), "lastUpdated": instant(updated_at)}
    if profile:
        result["profile"] = [profile] if isinstance(profile, str) else list(profile)
    return result


def _panel_or_total_coding(
    instrument: Instrument, code: str, display: str | None
) -> dict[str, str]:
    """A Coding in the instrument's code system (LOINC for ours); display from its ``Codes``.

    Item codes have no display: their LOINC names were not collected, and
    inventing one would be worse than omitting the optional Coding.display.
    """
    coding = {"system": instrument.codes.system, "code": code}
    if display:
        coding["display"] = display
    return coding


def _total_coding(instrument: Instrument) -> dict[str, str]:
    return _panel_or_total_coding(
        instrument, instrument.codes.total, instrument.codes.total_display
    )


def _base(canonical_base: str) -> str:
    # Tolerate a configured trailing slash: "https://x/fhir/" and "https://x/fhir" are one base.
    return canonical_base.rstrip("/")


def questionnaire_url(canonical_base: str, code: str) -> str:
    """Canonical URL of our Questionnaire for instrument ``code``."""
    return f"{_base(canonical_base)}/Questionnaire/{code}"


def answer_system(canonical_base: str, code: str) -> str:
    """Our code system for answers that have no LOINC LA code (PCL-5)."""
    return f"{_base(canonical_base)}/CodeSystem/{code}-answers"


def syndrome_system(canonical_base: str, code: str) -> str:
    """Our code system for an instrument's syndromes (PHQ-9: major, other)."""
    return f"{_base(canonical_base)}/CodeSystem/{code}-syndrome"


def severity_system(canonical_base: str, code: str) -> str:
    """Our code system for an instrument's severity bands (codes = Band.code)."""
    return f"{_base(canonical_base)}/CodeSystem/{code}-severity"


def item_link_id(instrument: Instrument, item: Item) -> str:
    """Stable linkId: "/<item LOINC>" as LHC-Forms/US Core do, else "<code>-<n>".

    docs/fhir.md, "QuestionnaireResponse and Questionnaire".
    """
    return f"/{item.loinc}" if item.loinc else f"{instrument.code}-{item.number}"


def difficulty_link_id(instrument: Instrument) -> str | None:
    """linkId of the unscored difficulty item, or None when the instrument has none."""
    item = instrument.difficulty
    return None if item is None else item_link_id(instrument, item)


def total_link_id(instrument: Instrument) -> str:
    """linkId of the read-only total item: "/<total LOINC>", as in US Core.

    docs/fhir.md, "QuestionnaireResponse and Questionnaire".
    """
    return f"/{instrument.codes.total}"


def stem_link_id(instrument: Instrument) -> str:
    """linkId of the display item holding the instructions and stem."""
    return f"{instrument.code}-stem"


def answer_coding(instrument: Instrument, option: Option, canonical_base: str) -> dict[str, str]:
    """The Coding for one option; Questionnaire and QuestionnaireResponse share it.

    LOINC LA code when there is one (docs/fhir.md, "Observations"); otherwise our
    own code system with the stored value as code (e.g. no PCL-5 answer codes
    exist), so a receiver still gets a system+code pair it can match exactly.
    """
    if option.loinc:
        return {"system": LOINC, "code": option.loinc, "display": option.label}
    return {
        "system": answer_system(canonical_base, instrument.code),
        "code": str(option.value),
        "display": option.label,
    }


def _option(item: Item, value: int) -> Option:
    try:
        return item.option_for(value)
    except KeyError:
        raise ValueError(f"item {item.number}: {value!r} is not an option value") from None


def _band(instrument: Instrument, code: str) -> Band:
    for band in instrument.bands:
        if band.code == code:
            return band
    raise ValueError(f"{instrument.name}: unknown severity band {code!r}")


def _instrument_for(r: ResponseView) -> Instrument:
    # The version the answers were given in: an older row keeps its own items and options.
    inst = instruments.get(r.instrument, r.instrument_version)
    if len(r.answers) != inst.item_count:
        raise ValueError(f"{inst.name}: expected {inst.item_count} answers, got {len(r.answers)}")
    return inst


# --------------------------------------------------------------------------
# Status mapping (the table the project decided)
# --------------------------------------------------------------------------


def _check_row_status(r: ResponseView) -> None:
    # A head is "final" or "entered-in-error"; anything else is a bug upstream
    # and must not be guessed into a FHIR status.
    if r.status not in _ROW_STATUSES:
        raise ValueError(f"unexpected head row status {r.status!r}")


def fhir_status_observation(r: ResponseView) -> str:
    """Observation.status: entered-in-error wins; a corrected head is "amended".

    R4 ObservationStatus "amended" = modified after being final (docs/fhir.md,
    "Observations").
    """
    _check_row_status(r)
    if r.status == "entered-in-error":
        return "entered-in-error"
    return "amended" if r.amended else "final"


def fhir_status_questionnaire_response(r: ResponseView) -> str:
    """QuestionnaireResponse.status: as for Observation, but "completed" when unchanged."""
    _check_row_status(r)
    if r.status == "entered-in-error":
        return "entered-in-error"
    return "amended" if r.amended else "completed"


# --------------------------------------------------------------------------
# Patient
# --------------------------------------------------------------------------


def patient_resource(p: PatientView) -> dict[str, Any]:
    """Patient with our id, the EHR identifiers we hold, name and birth date.

    EHRs find our patient by their own MRN (``Patient?identifier=``, docs/fhir.md,
    "Patient"), so every stored identifier is exposed. We store only a free-text
    display name and no gender, so US Core's mandatory elements are filled
    the way its Missing Data rules allow: ``name.text``, with the family name
    present only as a data-absent-reason extension (``_family``; constraint
    us-core-6), and ``gender: "unknown"``. US Core Patient
    also requires at least one identifier, so the profile is claimed only
    when the patient has one; claiming a profile we break would be worse
    than not claiming it (meta.profile is a SHOULD, docs/fhir.md, "Patient").
    """
    resource: dict[str, Any] = {
        "resourceType": "Patient",
        "id": str(p.id),
        "meta": meta(p.version, p.updated_at, US_CORE_PATIENT if p.identifiers else None),
    }
    if p.identifiers:
        resource["identifier"] = [{"system": s, "value": v} for s, v in p.identifiers]
    resource["name"] = [
        {
            "text": p.display_name,
            # No family/given parts are stored. The reason sits on the absent family
            # name: us-core-6 then holds both as US Core 7.0.0 states it (on
            # Patient.name) and as 5.0.1 did (on Patient), which a reason on the name
            # itself fails (docs/fhir.md, "Patient").
            "_family": {"extension": [{"url": DATA_ABSENT_REASON, "valueCode": "unsupported"}]},
        }
    ]
    resource["gender"] = "unknown"  # not collected; AdministrativeGender's own "unknown"
    if p.birth_date is not None:
        resource["birthDate"] = p.birth_date.isoformat()
    return resource


# --------------------------------------------------------------------------
# Questionnaire
# --------------------------------------------------------------------------


def _computable_name(instrument: Instrument) -> str:
    # Questionnaire.name should match que-0 '[A-Z]([A-Za-z0-9_]){0,254}': "PHQ-9" -> "PHQ9".
    return re.sub(r"[^A-Za-z0-9_]", "", instrument.name)


def _description(instrument: Instrument) -> str:
    """Markdown description, including the missing-item rule (not expressible per item)."""
    n = instrument.item_count
    parts = [f"{instrument.title} ({instrument.name}), version {instrument.version}."]
    if instrument.recall_period:
        parts.append(f"Recall period: {instrument.recall_period}.")
    parts.append(f"{n} scored items; total {instrument.min_score}–{instrument.max_score}.")
    if instrument.max_missing == 0:
        parts.append("Every scored item must be answered.")
    else:
        k = instrument.max_missing
        parts.append(
            f"At most {k} of the {n} items may be skipped; the total is then prorated as "
            f"round(sum of the answered items × {n} / number answered), halves rounded up. "
            f"With more than {k} items skipped the response cannot be scored."
        )
    parts.append("The server computes the total; the total item is read-only.")
    return " ".join(parts)


def _answer_option(
    instrument: Instrument, option: Option, canonical_base: str, *, scored: bool
) -> dict[str, Any]:
    entry: dict[str, Any] = {"valueCoding": answer_coding(instrument, option, canonical_base)}
    if scored:
        # optionPrefix shows the number, ordinalValue carries the weight
        # (docs/fhir.md, "QuestionnaireResponse and Questionnaire").
        entry["extension"] = [
            {"url": OPTION_PREFIX, "valueString": str(option.value)},
            {"url": ORDINAL_VALUE, "valueDecimal": option.value},
        ]
    return entry


def _question(
    instrument: Instrument, item: Item, canonical_base: str, *, scored: bool
) -> dict[str, Any]:
    question: dict[str, Any] = {"linkId": item_link_id(instrument, item)}
    if item.loinc:
        question["code"] = [{"system": LOINC, "code": item.loinc}]  # as US Core's example
    question.update(
        {
            "prefix": str(item.number),
            "text": item.text,
            "type": "choice",  # R4 name (R5 renamed it "coding")
            # Scored items are required; PCL-5's 2-skips rule is in description.
            "required": scored,
            "answerOption": [
                _answer_option(instrument, o, canonical_base, scored=scored) for o in item.options
            ],
        }
    )
    return question


def questionnaire_resource(instrument: Instrument, canonical_base: str) -> dict[str, Any]:
    """The LOINC-coded Questionnaire for one instrument.

    EHR form tools recognise LOINC item/answer codes and "/<LOINC>" linkIds
    (docs/fhir.md, "QuestionnaireResponse and Questionnaire"), so we follow
    US Core's phq-9-example shape rather than the SDC example's private code
    system. No meta: the definition is versioned by
    ``version`` (the instrument version), not by a database row.
    """
    intro = " ".join(t for t in (instrument.instructions, instrument.stem) if t)
    items: list[dict[str, Any]] = [
        # The stem makes the item texts readable ("how often…"); display items take no answer.
        {"linkId": stem_link_id(instrument), "text": intro, "type": "display"},
    ]
    items += [_question(instrument, i, canonical_base, scored=True) for i in instrument.items]
    if instrument.difficulty is not None:
        # The difficulty answers carry no scores (e.g. LOINC LL359-1): no ordinalValue, optional.
        items.append(_question(instrument, instrument.difficulty, canonical_base, scored=False))
    items.append(
        {
            "linkId": total_link_id(instrument),
            "code": [_total_coding(instrument)],
            "text": f"{instrument.name} total score",
            "type": "decimal",  # as US Core's total item
            "required": False,
            "readOnly": True,  # the server scores; a client's total is ignored on ingest
        }
    )
    return {
        "resourceType": "Questionnaire",
        "id": instrument.code,
        "url": questionnaire_url(canonical_base, instrument.code),
        "version": instrument.version,
        "name": _computable_name(instrument),
        "title": instrument.title,
        "status": "active",
        "subjectType": ["Patient"],
        "description": _description(instrument),
        "copyright": instrument.licence,
        "code": [
            _panel_or_total_coding(
                instrument, instrument.codes.panel, instrument.codes.panel_display
            )
        ],
        "item": items,
    }


# --------------------------------------------------------------------------
# QuestionnaireResponse
# --------------------------------------------------------------------------


def _answered_item(
    instrument: Instrument, item: Item, value: int, canonical_base: str
) -> dict[str, Any]:
    option = _option(item, value)
    return {
        "linkId": item_link_id(instrument, item),
        "text": item.text,
        "answer": [{"valueCoding": answer_coding(instrument, option, canonical_base)}],
    }


def questionnaire_response_resource(r: ResponseView, canonical_base: str) -> dict[str, Any]:
    """US Core QuestionnaireResponse for the head of a chain.

    docs/fhir.md, "QuestionnaireResponse and Questionnaire".

    Skipped items are omitted rather than emitted without an answer: R4 allows
    either, omission is what form fillers send, and ingest reads an absent
    item as skipped, so the round trip is exact. Answers use valueCoding
    (a must-support type) with the same system/code/display as
    the Questionnaire's answerOptions; the total uses valueDecimal as in the
    US Core example.
    """
    inst = _instrument_for(r)
    items = [
        _answered_item(inst, item, value, canonical_base)
        for item, value in zip(inst.items, r.answers, strict=True)
        if value is not None
    ]
    if r.difficulty is not None:
        if inst.difficulty is None:
            raise ValueError(f"{inst.name} has no difficulty item")
        items.append(_answered_item(inst, inst.difficulty, r.difficulty, canonical_base))
    items.append(
        {
            "linkId": total_link_id(inst),
            "text": f"{inst.name} total score",
            "answer": [{"valueDecimal": r.total}],
        }
    )
    resource: dict[str, Any] = {
        "resourceType": "QuestionnaireResponse",
        "id": str(r.logical_id),
        "meta": meta(r.version, r.updated_at, US_CORE_QUESTIONNAIRE_RESPONSE),
    }
    if r.identifier is not None:
        system, value = r.identifier
        resource["identifier"] = {"system": system, "value": value}  # R4: 0..1, not a list
    resource.update(
        {
            # Versioned canonical: the answers mean what that version's options say.
            "questionnaire": f"{questionnaire_url(canonical_base, inst.code)}|"
            f"{r.instrument_version}",
            "status": fhir_status_questionnaire_response(r),
            "subject": {"reference": f"Patient/{r.patient_id}"},
            "authored": instant(r.completed_at),
        }
    )
    # Who entered it (docs/fhir.md, "Provenance"): the Patient for self-report, else a
    # logical reference to the clinician or the EHR client that sent it.
    resource["author"] = enterer_reference(r, canonical_base)
    resource["item"] = items
    return resource


def user_identifier_system(canonical_base: str) -> str:
    """Identifier system of tracker's user ids (clinicians have no FHIR resource here)."""
    return f"{_base(canonical_base)}/sid/user"


def client_identifier_system(canonical_base: str) -> str:
    """Identifier system of the OAuth client_id of an EHR integration."""
    return f"{_base(canonical_base)}/sid/api-client"


def clinician_reference(user_id: int | None, canonical_base: str) -> dict[str, Any]:
    """A logical reference to a clinic user: tracker serves no Practitioner resource.

    An identifier (not a literal ``Practitioner/<id>``, which would not resolve) names
    the user; the display says what kind of agent it is, never a name or an e-mail.
    """
    if user_id is None:
        return {"type": "Practitioner", "display": "Clinic staff member (not recorded)"}
    return {
        "type": "Practitioner",
        "identifier": {"system": user_identifier_system(canonical_base), "value": str(user_id)},
        "display": "Clinic staff member",
    }


def enterer_reference(r: ResponseView, canonical_base: str) -> dict[str, Any]:
    """Who entered a response version: Patient, clinician (Practitioner) or EHR (Device).

    docs/fhir.md, "Provenance". The EHR integration is software sending on someone's
    behalf, so it is a Device named by its OAuth client_id.
    """
    if r.source == "patient":
        return {"reference": f"Patient/{r.patient_id}"}
    if r.source == "import":
        if r.entered_by_client is None:
            return {"type": "Device", "display": "EHR integration (not recorded)"}
        client_id, name = r.entered_by_client
        return {
            "type": "Device",
            "identifier": {"system": client_identifier_system(canonical_base), "value": client_id},
            "display": name,
        }
    return clinician_reference(r.entered_by_user, canonical_base)


# --------------------------------------------------------------------------
# Observation (total score)
# --------------------------------------------------------------------------


def _skipped_count(r: ResponseView) -> int:
    return sum(1 for a in r.answers if a is None)


def observation_resource(r: ResponseView, *, canonical_base: str | None = None) -> dict[str, Any]:
    """US Core Screening Assessment Observation for a total score (docs/fhir.md, "Observations").

    Severity band → ``interpretation`` (not ``referenceRange``): interpretation
    is R4's "assessment made based on the result", which EHR result views show
    next to the value, whereas referenceRange is shown as the result's normal
    range — usually only the first one — so five band ranges would be either
    truncated or mislabelled as "normal". The band label is the text (always
    displayable); a coding in our ``<code>-severity`` code system is added when
    ``canonical_base`` is given, for systems that match on codes.
    """
    inst = _instrument_for(r)
    band = _band(inst, r.severity)
    interpretation: dict[str, Any] = {"text": band.label}
    if canonical_base is not None:
        interpretation["coding"] = [
            {
                "system": severity_system(canonical_base, inst.code),
                "code": band.code,
                "display": band.label,
            }
        ]
    interpretations = [interpretation]
    # The PHQ-9 depressive syndrome, a second interpretation (docs/fhir.md, "Observations").
    syndrome = inst.syndrome_of(r.answers)
    if syndrome is not None:
        code, label = syndrome
        concept: dict[str, Any] = {"text": label}
        if canonical_base is not None:
            concept["coding"] = [
                {
                    "system": syndrome_system(canonical_base, inst.code),
                    "code": code,
                    "display": label,
                }
            ]
        interpretations.append(concept)
    total_code = _total_coding(inst)
    resource: dict[str, Any] = {
        "resourceType": "Observation",
        "id": str(r.logical_id),
        "meta": meta(r.version, r.updated_at, US_CORE_SCREENING_ASSESSMENT),
        # entered-in-error keeps its value: R4 allows it and the reader sees what was retracted.
        "status": fhir_status_observation(r),
        # category:survey is the one mandatory slice. The optional second category is
        # left out: US Core calls it subjective and its own examples disagree, so EHRs
        # should search by code (docs/fhir.md, "Observations").
        "category": [
            {"coding": [{"system": OBSERVATION_CATEGORY, "code": "survey", "display": "Survey"}]}
        ],
        "code": {"coding": [total_code], "text": total_code.get("display", inst.name)},
        "subject": {"reference": f"Patient/{r.patient_id}"},
        "effectiveDateTime": instant(r.completed_at),  # when the patient completed the form
        "issued": instant(r.recorded_at),  # when we recorded/released the score
        # valueQuantity, not valueInteger/valueString (docs/fhir.md, "Observations");
        # UCUM for us-core-3.
        "valueQuantity": {"value": r.total, "unit": "{score}", "system": UCUM, "code": "{score}"},
        "interpretation": interpretations,
        # No performer: a computed total "should not" carry one; provenance is
        # derivedFrom the QuestionnaireResponse with the same id (docs/fhir.md, "Observations").
        "derivedFrom": [{"reference": f"QuestionnaireResponse/{r.logical_id}"}],
    }
    if r.prorated:
        skipped = _skipped_count(r)
        n = inst.item_count
        resource["note"] = [
            {
                "text": (
                    f"Prorated total: {skipped} of {n} items were skipped; the sum of the "
                    f"{n - skipped} answered items was scaled to {n} items "
                    f"(round(sum × {n} / {n - skipped}), halves rounded up)."
                )
            }
        ]
    return resource


# --------------------------------------------------------------------------
# OperationOutcome
# --------------------------------------------------------------------------


def operation_outcome(
    issues: Sequence[tuple[str, str, str] | tuple[str, str, str, str | None]],
) -> dict[str, Any]:
    """OperationOutcome for an error response (docs/fhir.md, "Errors").

    Each issue is (severity, code, diagnostics) or (severity, code, diagnostics,
    expression) — the latter is what :class:`tracker.fhir.ingest.FhirInvalid`
    carries, so its ``issues`` can be passed straight through. Severity and
    code are checked against the R4 value sets because nothing downstream
    would catch a typo (docs/fhir.md, "Validation").
    """
    if not issues:
        raise ValueError("an OperationOutcome needs at least one issue")
    out: list[dict[str, Any]] = []
    for issue in issues:
        severity, code, diagnostics = issue[0], issue[1], issue[2]
        expression = issue[3] if len(issue) > 3 else None
        if severity not in _ISSUE_SEVERITIES:
            raise ValueError(f"unknown issue severity {severity!r}")
        if code not in _ISSUE_TYPES:
            raise ValueError(f"unknown issue type {code!r}")
        entry: dict[str, Any] = {"severity": severity, "code": code}
        if diagnostics:
            entry["diagnostics"] = diagnostics
        if expression:
            entry["expression"] = [expression]
        out.append(entry)
    return {"resourceType": "OperationOutcome", "issue": out}
