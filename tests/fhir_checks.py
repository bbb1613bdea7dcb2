"""Reusable FHIR checks for tests: ``assert_valid(resource)``.

fhir.resources checks structure and datatypes but no bindings or profiles
(docs/fhir.md, "Validation"), so this module adds, on top of the R4B model:

* explicit asserts on the coded elements an EHR branches on (statuses,
  Bundle type, issue severity/code, gender), against the R4 value sets;
* the US Core Observation rules of docs/fhir.md, "Validation" (fhirpathpy);
* the mandatory elements of a US Core profile whenever ``meta.profile``
  claims one (QuestionnaireResponse, Patient), since claiming a profile
  we break is worse than not claiming it.

Bundles are checked entry by entry as well as as a whole.
Everything raises AssertionError with the resource type, id and the failing
rule, so a failing API test says what is wrong without a debugger.
"""

from __future__ import annotations

import importlib
from typing import Any

__all__ = ["assert_valid", "US_CORE_OBSERVATION_RULES"]

# resourceType → R4B module, never the default R5 import (docs/fhir.md, "Validation").
_MODELS: dict[str, str] = {
    "Observation": "observation",
    "QuestionnaireResponse": "questionnaireresponse",
    "Questionnaire": "questionnaire",
    "Patient": "patient",
    "Bundle": "bundle",
    "OperationOutcome": "operationoutcome",
    "CapabilityStatement": "capabilitystatement",
    "Provenance": "provenance",
}

# R4 value sets (required bindings) the models do not enforce.
_OBSERVATION_STATUS = {
    "registered", "preliminary", "final", "amended", "corrected", "cancelled",
    "entered-in-error", "unknown",
}  # fmt: skip
_QR_STATUS = {"in-progress", "completed", "amended", "entered-in-error", "stopped"}
_PUBLICATION_STATUS = {"draft", "active", "retired", "unknown"}
_BUNDLE_TYPE = {
    "document", "message", "transaction", "transaction-response", "batch", "batch-response",
    "history", "searchset", "collection",
}  # fmt: skip
_SEARCH_MODE = {"match", "include", "outcome"}
_ISSUE_SEVERITY = {"fatal", "error", "warning", "information"}
_ISSUE_TYPE = {
    "invalid", "structure", "required", "value", "invariant", "security", "login", "unknown",
    "expired", "forbidden", "suppressed", "processing", "not-supported", "duplicate",
    "multiple-matches", "not-found", "deleted", "too-long", "code-invalid", "extension",
    "too-costly", "business-rule", "conflict", "transient", "lock-error", "no-store",
    "exception", "timeout", "incomplete", "throttled", "informational",
}  # fmt: skip
_GENDER = {"male", "female", "other", "unknown"}
_CAPABILITY_KIND = {"instance", "capability", "requirements"}

# US Core screening-assessment invariants (docs/fhir.md, "Validation").
US_CORE_OBSERVATION_RULES: dict[str, str] = {
    "category:survey": (
        "category.coding.where(system='http://terminology.hl7.org/CodeSystem/"
        "observation-category' and code='survey').exists()"
    ),
    "subject": "subject.exists()",
    "us-core-2": (
        "(component.empty() and hasMember.empty()) implies "
        "(dataAbsentReason.exists() or value.exists())"
    ),
    "us-core-3": (
        "value.ofType(Quantity).system.empty() or "
        "value.ofType(Quantity).system = 'http://unitsofmeasure.org'"
    ),
    "us-core-1": (
        "effective.ofType(dateTime).empty() or effective.ofType(dateTime).toString().length() >= 10"
    ),
}

_US_CORE = "http://hl7.org/fhir/us/core/StructureDefinition/"
_DAR = "http://hl7.org/fhir/StructureDefinition/data-absent-reason"


def _label(resource: dict[str, Any]) -> str:
    return f"{resource.get('resourceType')}/{resource.get('id', '?')}"


def _fail(resource: dict[str, Any], message: str) -> None:
    raise AssertionError(f"{_label(resource)}: {message}")


def _check(resource: dict[str, Any], ok: bool, message: str) -> None:
    if not ok:
        _fail(resource, message)


def _in(resource: dict[str, Any], field: str, value: object, allowed: set[str]) -> None:
    _check(
        resource,
        value in allowed,
        f"{field} {value!r} is not in the R4 value set {sorted(allowed)}",
    )


def _profiles(resource: dict[str, Any]) -> list[str]:
    meta = resource.get("meta") or {}
    # A claim may carry the release (`…/us-core-patient|7.0.0`); the checks go by profile.
    return [url.split("|")[0] for url in meta.get("profile") or []]


def _validate_model(resource: dict[str, Any]) -> None:
    kind = resource.get("resourceType")
    module_name = _MODELS.get(kind) if isinstance(kind, str) else None
    if module_name is None:
        raise AssertionError(f"no R4B model wired for resourceType {kind!r}")
    module = importlib.import_module(f"fhir.resources.R4B.{module_name}")
    model = getattr(module, str(kind))
    from pydantic import ValidationError  # lazy: only tests need pydantic's errors

    try:
        model.model_validate(resource)
    except ValidationError as exc:
        details = "; ".join(
            f"{'.'.join(str(p) for p in e['loc'])}: {e['msg']}" for e in exc.errors()[:10]
        )
        _fail(resource, f"invalid as R4B {kind}: {details}")


def _check_observation(resource: dict[str, Any]) -> None:
    from fhirpathpy import evaluate
    from fhirpathpy.models import models

    _in(resource, "status", resource.get("status"), _OBSERVATION_STATUS)
    failed = [
        name
        for name, expression in US_CORE_OBSERVATION_RULES.items()
        # models["r4"] is needed for the value[x]/effective[x] choice types
        # (docs/fhir.md, "Validation").
        if evaluate(resource, expression, {}, models["r4"]) != [True]
    ]
    _check(resource, not failed, f"US Core rules failed: {failed}")


def _check_questionnaire_response(resource: dict[str, Any]) -> None:
    _in(resource, "status", resource.get("status"), _QR_STATUS)
    if _US_CORE + "us-core-questionnaireresponse" in _profiles(resource):
        # questionnaire, status, subject, authored are mandatory
        # (docs/fhir.md, "QuestionnaireResponse and Questionnaire").
        for field in ("questionnaire", "subject", "authored"):
            _check(resource, field in resource, f"US Core QR requires {field}")
        reference = (resource.get("subject") or {}).get("reference", "")
        _check(
            resource,
            str(reference).startswith("Patient/"),
            f"US Core QR subject must be a Patient, got {reference!r}",
        )


def _check_questionnaire(resource: dict[str, Any]) -> None:
    _in(resource, "status", resource.get("status"), _PUBLICATION_STATUS)


def _check_patient(resource: dict[str, Any]) -> None:
    if "gender" in resource:
        _in(resource, "gender", resource.get("gender"), _GENDER)
    if _US_CORE + "us-core-patient" in _profiles(resource):
        identifiers = resource.get("identifier") or []
        _check(resource, bool(identifiers), "US Core Patient requires an identifier")
        for ident in identifiers:
            _check(
                resource,
                bool(ident.get("system")) and bool(ident.get("value")),
                "US Core Patient identifiers need system and value",
            )
        names = resource.get("name") or []
        _check(resource, bool(names), "US Core Patient requires a name")
        for name in names:
            # As FHIRPath reads JSON: a part given only as `_family` (an extension, such
            # as a data-absent-reason) exists.
            has_parts = any(name.get(k) for k in ("family", "given", "_family", "_given"))
            has_dar = any(e.get("url") == _DAR for e in name.get("extension") or [])
            _check(resource, has_parts != has_dar, "us-core-6: family/given xor data-absent-reason")
        _check(resource, "gender" in resource, "US Core Patient requires gender")


_PARTICIPANT_TYPES = {
    ("http://terminology.hl7.org/CodeSystem/provenance-participant-type", "author"),
    ("http://hl7.org/fhir/us/core/CodeSystem/us-core-provenance-participant-type", "transmitter"),
}
_DATA_OPERATIONS = {"CREATE", "UPDATE", "NULLIFY"}


def _check_provenance(resource: dict[str, Any]) -> None:
    """R4 requires target, recorded and agent.who; US Core Provenance (when claimed) adds
    agent.type from its participant types and provenance-1 (a literal Practitioner or
    Device agent needs onBehalfOf)."""
    _check(resource, bool(resource.get("target")), "Provenance requires a target")
    _check(resource, "recorded" in resource, "Provenance requires recorded")
    for coding in (resource.get("activity") or {}).get("coding") or []:
        _in(resource, "activity", coding.get("code"), _DATA_OPERATIONS)
    for agent in resource.get("agent") or []:
        who = agent.get("who") or {}
        _check(resource, bool(who), "every agent needs who")
        literal = str(who.get("reference", ""))
        if literal.startswith(("Practitioner/", "Device/")):
            _check(resource, "onBehalfOf" in agent, "provenance-1: onBehalfOf required")
        if _US_CORE + "us-core-provenance" in _profiles(resource):
            codings = (agent.get("type") or {}).get("coding") or []
            _check(
                resource,
                any((c.get("system"), c.get("code")) in _PARTICIPANT_TYPES for c in codings),
                f"US Core Provenance agent.type must be author or transmitter, got {codings}",
            )


def _check_operation_outcome(resource: dict[str, Any]) -> None:
    for issue in resource.get("issue") or []:
        _in(resource, "issue.severity", issue.get("severity"), _ISSUE_SEVERITY)
        _in(resource, "issue.code", issue.get("code"), _ISSUE_TYPE)


def _check_capability_statement(resource: dict[str, Any]) -> None:
    _in(resource, "status", resource.get("status"), _PUBLICATION_STATUS)
    _in(resource, "kind", resource.get("kind"), _CAPABILITY_KIND)
    _check(
        resource,
        str(resource.get("fhirVersion", "")).startswith("4.0"),
        f"fhirVersion {resource.get('fhirVersion')!r} is not R4 (4.0.x)",
    )


def _check_bundle(resource: dict[str, Any]) -> None:
    _in(resource, "type", resource.get("type"), _BUNDLE_TYPE)
    for index, entry in enumerate(resource.get("entry") or []):
        mode = (entry.get("search") or {}).get("mode")
        if mode is not None:
            _in(resource, f"entry[{index}].search.mode", mode, _SEARCH_MODE)
        inner = entry.get("resource")
        if inner is not None:
            try:
                assert_valid(inner)
            except AssertionError as exc:
                raise AssertionError(f"{_label(resource)} entry[{index}]: {exc}") from None


_CHECKS = {
    "Observation": _check_observation,
    "QuestionnaireResponse": _check_questionnaire_response,
    "Questionnaire": _check_questionnaire,
    "Patient": _check_patient,
    "OperationOutcome": _check_operation_outcome,
    "CapabilityStatement": _check_capability_statement,
    "Bundle": _check_bundle,
    "Provenance": _check_provenance,
}


def assert_valid(resource: dict[str, Any]) -> None:
    """Assert that ``resource`` is valid R4 (via R4B models) plus our binding/profile checks."""
    if not isinstance(resource, dict):
        raise AssertionError(f"expected a resource dict, got {type(resource).__name__}")
    _validate_model(resource)
    _CHECKS[resource["resourceType"]](resource)
