"""The granular survey scope US Core 7 servers SHALL support (issue 16), on both databases.

``system/Observation.rs?category=…observation-category|survey`` is granted (and echoed)
when the client may read Observations; every Observation here is a survey, so it reads
them all. An unknown parameter or category is ``invalid_scope`` (docs/fhir.md,
"SMART Backend Services").
"""

from __future__ import annotations

import pytest

from tests.fhir.conftest import Fhir, make_ehr
from tests.fhir.test_fhir_api import seed
from tests.fhir_checks import assert_valid

SURVEY_SCOPE = (
    "system/Observation.rs?category="
    "http://terminology.hl7.org/CodeSystem/observation-category|survey"
)


def _token(app, ehr, scope):
    return app.test_client().post(
        "/api/v1/oauth/token",
        data={
            "grant_type": "client_credentials",
            "scope": scope,
            "client_assertion_type": "urn:ietf:params:oauth:client-assertion-type:jwt-bearer",
            "client_assertion": ehr.assertion(),
        },
    )


@pytest.mark.parametrize("registered", [["system/*.rs"], ["system/Observation.read"]])
def test_the_survey_scope_is_granted_echoed_and_reads_observations(
    world, app, rsa_key, ec_key, registered
):
    api, rows = seed(world)
    ehr = make_ehr(app, rsa_key, ec_key, scopes=registered)
    answer = _token(app, ehr, SURVEY_SCOPE)
    assert answer.status_code == 200, answer.json
    assert answer.json["scope"] == SURVEY_SCOPE
    # Percent-encoded "|" is the same scope.
    encoded = _token(app, ehr, SURVEY_SCOPE.replace("|", "%7C"))
    assert encoded.status_code == 200 and encoded.json["scope"] == SURVEY_SCOPE
    fhir = Fhir(app, answer.json["access_token"])
    search = fhir.get(f"/fhir/Observation?patient={world.patient_1}")
    assert search.status_code == 200
    assert_valid(search.json)
    assert search.json["total"] == 4
    assert fhir.get(f"/fhir/Observation/{rows[0]['id']}").status_code == 200
    assert fhir.get(f"/fhir/Observation/{rows[0]['id']}/_history/1").status_code == 200
    # It grants Observations only.
    assert fhir.get(f"/fhir/Patient/{world.patient_1}").status_code == 403
    assert fhir.get(f"/fhir/QuestionnaireResponse/{rows[0]['id']}").status_code == 403
    included = fhir.get(
        f"/fhir/Observation?patient={world.patient_1}&_include=Observation:patient"
    ).json
    assert not [e for e in included["entry"] if e["search"]["mode"] == "include"]


@pytest.mark.parametrize(
    "scope",
    [
        SURVEY_SCOPE.replace("survey", "laboratory"),
        SURVEY_SCOPE.replace("category=", "code="),
        "system/Observation.rs?category=survey",  # a category without its system
        "system/Patient.rs?category=http://terminology.hl7.org/CodeSystem/observation-category"
        "|survey",
        f"{SURVEY_SCOPE.replace('survey', 'sdoh')} system/Patient.rs",
    ],
)
def test_an_unknown_granular_scope_is_invalid_scope(world, app, rsa_key, ec_key, scope):
    ehr = make_ehr(app, rsa_key, ec_key, scopes=["system/*.rs"])
    answer = _token(app, ehr, scope)
    assert answer.status_code == 400
    assert answer.json["error"] == "invalid_scope"
    assert answer.content_type.startswith("application/json")


def test_a_granular_registration_does_not_grant_the_plain_scope(world, app, rsa_key, ec_key):
    ehr = make_ehr(app, rsa_key, ec_key, scopes=[SURVEY_SCOPE])
    assert _token(app, ehr, "system/Observation.rs").json["error"] == "invalid_scope"
    assert _token(app, ehr, SURVEY_SCOPE).json["scope"] == SURVEY_SCOPE


def test_discovery_lists_the_granular_scope(app):
    document = app.test_client().get("/fhir/.well-known/smart-configuration").json
    assert SURVEY_SCOPE in document["scopes_supported"]
    assert "system/Provenance.rs" in document["scopes_supported"]
