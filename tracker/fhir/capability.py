"""What this FHIR server says about itself: CapabilityStatement and SMART configuration."""

from __future__ import annotations

from tracker.auth.smart import ALLOWED_ALGORITHMS
from tracker.fhir.mapping import US_CORE_PATIENT, US_CORE_VERSION
from tracker.fhir.mapping import US_CORE_QUESTIONNAIRE_RESPONSE as US_CORE_QR
from tracker.fhir.mapping import US_CORE_SCREENING_ASSESSMENT as SCREENING

# The US Core release claimed (docs/fhir.md, "US Core 7.0.0"), as the guide names itself.
US_CORE_SERVER = f"http://hl7.org/fhir/us/core/CapabilityStatement/us-core-server|{US_CORE_VERSION}"
US_CORE_GUIDE = (
    f"http://hl7.org/fhir/us/core/ImplementationGuide/hl7.fhir.us.core|{US_CORE_VERSION}"
)
BULK_DATA = "http://hl7.org/fhir/uv/bulkdata/CapabilityStatement/bulk-data"
SCOPES = (
    "system/Patient.rs",
    "system/Observation.rs",
    "system/QuestionnaireResponse.rs",
    "system/QuestionnaireResponse.c",
    "system/Questionnaire.rs",
    "system/Provenance.rs",
    "system/*.rs",
    # Granular (US Core 7): Observations of the survey category, i.e. all of ours.
    "system/Observation.rs?category=http://terminology.hl7.org/CodeSystem/observation-category|survey",
)


def _param(name: str, kind: str, doc: str) -> dict:
    return {"name": name, "type": kind, "documentation": doc}


SEARCH_COMMON = [
    _param("_id", "token", "Logical id (comma = OR)"),
    _param("_lastUpdated", "date", "meta.lastUpdated; prefixes eq ne lt le gt ge"),
]
PATIENT_PARAMS = [
    _param("patient", "reference", "Patient id or Patient/id"),
    _param("subject", "reference", "Same as patient"),
]


PATIENT_EXPORT = "http://hl7.org/fhir/uv/bulkdata/OperationDefinition/patient-export"
US_CORE_PROVENANCE = "http://hl7.org/fhir/us/core/StructureDefinition/us-core-provenance"
COMBINATION = (
    "http://hl7.org/fhir/StructureDefinition/capabilitystatement-search-parameter-combination"
)
EXPECTATION = "http://hl7.org/fhir/StructureDefinition/capabilitystatement-expectation"


def _combination(expectation: str, *names: str) -> dict:
    """A search parameter combination US Core expects (its CapabilityStatement's extension)."""
    return {
        "url": COMBINATION,
        "extension": [
            {"url": EXPECTATION, "valueCode": expectation},
            *({"url": "required", "valueString": name} for name in names),
        ],
    }


def _resource(
    kind: str,
    profile: str | None,
    interactions: list[str],
    params: list[dict],
    sorts: list[str],
    extra: dict | None = None,
) -> dict:
    resource = {
        "type": kind,
        "interaction": [{"code": code} for code in interactions],
        "versioning": "versioned",
        # Older versions can be read where they are kept (docs/fhir.md, "Versions and history").
        "readHistory": "history-instance" in interactions,
        "conditionalRead": "full-support",
        "searchParam": params,
    }
    if profile:
        resource["supportedProfile"] = [profile]
    if sorts:
        resource["documentation"] = "_sort: " + ", ".join(sorts) + " (prefix - for descending)"
    resource.update(extra or {})
    return resource


def capability_statement(fhir_base: str, token_url: str) -> dict:
    """Lists exactly the interactions and parameters the routes implement."""
    observation = _resource(
        "Observation",
        SCREENING,
        ["read", "vread", "history-instance", "search-type"],
        [
            *PATIENT_PARAMS,
            *SEARCH_COMMON,
            _param("code", "token", "LOINC total-score code, system|code (comma = OR)"),
            _param("category", "token", "survey"),
            _param("date", "date", "effectiveDateTime; prefixes eq ne lt le gt ge"),
            _param("status", "token", "final, amended or entered-in-error (comma = OR)"),
        ],
        ["date", "_lastUpdated"],
        {
            "searchInclude": [
                "Observation:patient",
                "Observation:subject",
                "Observation:derived-from",
            ],
            "searchRevInclude": ["Provenance:target"],
            "extension": [
                _combination("SHALL", "patient", "category"),
                _combination("SHALL", "patient", "code"),
                _combination("SHALL", "patient", "category", "date"),
                _combination("SHOULD", "patient", "code", "date"),
                _combination("SHOULD", "patient", "category", "status"),
                _combination("SHOULD", "patient", "category", "_lastUpdated"),
            ],
        },
    )
    questionnaire_response = _resource(
        "QuestionnaireResponse",
        US_CORE_QR,
        ["read", "vread", "history-instance", "search-type", "create"],
        [
            *PATIENT_PARAMS,
            *SEARCH_COMMON,
            _param("questionnaire", "reference", "Canonical URL of one of our Questionnaires"),
            _param("authored", "date", "authored; prefixes eq ne lt le gt ge"),
            _param("status", "token", "completed, amended or entered-in-error (comma = OR)"),
        ],
        ["authored", "_lastUpdated"],
        {
            "conditionalCreate": True,
            "searchInclude": [
                "QuestionnaireResponse:patient",
                "QuestionnaireResponse:subject",
                "QuestionnaireResponse:questionnaire",
            ],
            "searchRevInclude": ["Provenance:target"],
            "extension": [
                _combination("SHOULD", "patient", "questionnaire"),
                _combination("SHOULD", "patient", "authored"),
                _combination("SHOULD", "patient", "status"),
            ],
        },
    )
    patient = _resource(
        "Patient",
        US_CORE_PATIENT,
        # vread: the current version only; older Patient versions are not kept.
        ["read", "vread", "search-type"],
        [
            _param("_id", "token", "Logical id"),
            _param("identifier", "token", "system|value, e.g. an MRN"),
            _param("name", "string", "Part of the name"),
            _param("birthdate", "date", "birthDate; prefixes eq ne lt le gt ge"),
            _param("gender", "token", "Always unknown: gender is not collected"),
        ],
        ["_id", "_lastUpdated"],
        {
            # Declared on the resource too: Bulk Data clients (and its test kit) look for
            # Patient/$export here, not only at rest.operation.
            "operation": [{"name": "export", "definition": PATIENT_EXPORT}],
            "searchRevInclude": ["Provenance:target"],
        },
    )
    provenance = _resource(
        "Provenance",
        US_CORE_PROVENANCE,
        ["read", "search-type"],
        [
            _param("target", "reference", "Observation or QuestionnaireResponse (any version)"),
            _param("_id", "token", "Logical id: <resource id>-<version>"),
        ],
        [],
    )
    questionnaire = _resource(
        "Questionnaire", None, ["read", "search-type"], [_param("url", "uri", "Canonical URL")], []
    )
    return {
        "resourceType": "CapabilityStatement",
        "status": "active",
        "date": "2026-11-27",
        "publisher": "tracker",
        "kind": "instance",
        "instantiates": [US_CORE_SERVER, BULK_DATA],
        "implementationGuide": [US_CORE_GUIDE],
        "software": {"name": "tracker", "version": "0.1.0"},
        "implementation": {"description": "tracker FHIR R4 endpoint", "url": fhir_base},
        "fhirVersion": "4.0.1",
        "format": ["json"],
        "rest": [
            {
                "mode": "server",
                "security": {
                    "cors": False,
                    "service": [
                        {
                            "coding": [
                                {
                                    "system": "http://terminology.hl7.org/CodeSystem/restful-security-service",
                                    "code": "SMART-on-FHIR",
                                }
                            ]
                        }
                    ],
                    "description": "SMART Backend Services (private_key_jwt RS384/ES384) or "
                    "client_secret; system scopes; 300-second bearer tokens.",
                    # fhirclient reads only this deprecated discovery route
                    # (docs/fhir.md, "SMART Backend Services").
                    "extension": [
                        {
                            "url": "http://fhir-registry.smarthealthit.org/StructureDefinition/oauth-uris",
                            "extension": [{"url": "token", "valueUri": token_url}],
                        }
                    ],
                },
                "resource": [
                    patient,
                    observation,
                    questionnaire_response,
                    questionnaire,
                    provenance,
                ],
                "operation": [
                    {
                        "name": "export",
                        "definition": "http://hl7.org/fhir/uv/bulkdata/OperationDefinition/export",
                    },
                    {"name": "patient-export", "definition": PATIENT_EXPORT},
                ],
            }
        ],
    }


def smart_configuration(token_url: str) -> dict:
    """SMART App Launch 2.x discovery for Backend Services; every URL absolute."""
    return {
        "token_endpoint": token_url,
        "grant_types_supported": ["client_credentials"],
        "token_endpoint_auth_methods_supported": [
            "private_key_jwt",
            "client_secret_basic",
            "client_secret_post",
        ],
        "token_endpoint_auth_signing_alg_values_supported": list(ALLOWED_ALGORITHMS),
        "scopes_supported": list(SCOPES),
        "capabilities": ["client-confidential-asymmetric", "permission-v2", "permission-v1"],
        "code_challenge_methods_supported": ["S256"],
    }
