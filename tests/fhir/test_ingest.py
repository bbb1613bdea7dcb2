"""POST /fhir/QuestionnaireResponse: scored by the same core, idempotent by identifier."""

from __future__ import annotations

import threading

from tests.fhir.conftest import Fhir, make_ehr, token_for
from tests.fhir_checks import assert_valid
from tests.helpers import count
from tracker.models import Alert, Response

CANONICAL = "https://tracker.example.org/fhir/Questionnaire"
PHQ9_ITEMS = [
    "44250-9",
    "44255-8",
    "44259-0",
    "44254-1",
    "44251-7",
    "44258-2",
    "44252-5",
    "44253-3",
    "44260-8",
]
PHQ9_ANSWERS = ["LA6568-5", "LA6569-3", "LA6570-1", "LA6571-9"]


def phq9_resource(patient_id, answers, identifier="visit-1", integers=False):
    items = []
    for link, value in zip(PHQ9_ITEMS, answers, strict=True):
        answer = (
            {"valueInteger": value}
            if integers
            else {"valueCoding": {"system": "http://loinc.org", "code": PHQ9_ANSWERS[value]}}
        )
        items.append({"linkId": f"/{link}", "answer": [answer]})
    resource = {
        "resourceType": "QuestionnaireResponse",
        "questionnaire": f"{CANONICAL}/phq9|1",
        "status": "completed",
        "subject": {"reference": f"Patient/{patient_id}"},
        "authored": "2026-03-01T09:30:00+00:00",
        "item": items,
    }
    if identifier:
        resource["identifier"] = {"system": "urn:example:ehr:forms", "value": identifier}
    return resource


def test_ingest_scores_like_the_json_api(world, fhir):
    created = fhir.post(
        "/fhir/QuestionnaireResponse", phq9_resource(world.patient_1, [2, 1, 3, 0, 1, 2, 1, 0, 1])
    )
    assert created.status_code == 201, created.json
    assert_valid(created.json)
    logical_id = created.json["id"]
    assert created.headers["Location"].endswith(
        f"/fhir/QuestionnaireResponse/{logical_id}/_history/1"
    )
    observation = fhir.get(f"/fhir/Observation/{logical_id}").json
    assert observation["valueQuantity"]["value"] == 11
    row = world.as_admin().get(f"/api/v1/responses/{logical_id}").json
    assert (row["total"], row["source"], row["severity"]["code"]) == (11, "import", "moderate")
    assert row["flags"] == ["suicidal_ideation"]
    assert count(world.app, Alert) == 1  # the same safety rule as any other submission


def test_valueinteger_answers_are_accepted(world, fhir):
    created = fhir.post(
        "/fhir/QuestionnaireResponse",
        phq9_resource(world.patient_1, [3] * 9, identifier=None, integers=True),
    )
    assert created.status_code == 201
    assert fhir.get(f"/fhir/Observation/{created.json['id']}").json["valueQuantity"]["value"] == 27


def test_identifier_makes_a_retry_safe(world, fhir):
    body = phq9_resource(world.patient_1, [1] * 9)
    first = fhir.post("/fhir/QuestionnaireResponse", body)
    again = fhir.post("/fhir/QuestionnaireResponse", body)
    assert (first.status_code, again.status_code) == (201, 200)
    assert again.json["id"] == first.json["id"]
    changed = fhir.post("/fhir/QuestionnaireResponse", phq9_resource(world.patient_1, [2] * 9))
    assert changed.status_code == 409
    assert changed.json["resourceType"] == "OperationOutcome"
    conditional = fhir.post(
        "/fhir/QuestionnaireResponse",
        phq9_resource(world.patient_1, [1] * 9, identifier=None),
        **{"If-None-Exist": "identifier=urn:example:ehr:forms|visit-1"},
    )
    assert conditional.status_code == 200 and conditional.json["id"] == first.json["id"]
    assert count(world.app, Response) == 1


def test_concurrent_creates_with_one_identifier_store_one_row(world, app, ehr):
    token = token_for(app, ehr)
    body = phq9_resource(world.patient_1, [1] * 9, identifier="race")
    statuses: list[int] = []
    barrier = threading.Barrier(6)

    def create() -> None:
        client = Fhir(app, token)
        barrier.wait()
        statuses.append(client.post("/fhir/QuestionnaireResponse", body).status_code)

    threads = [threading.Thread(target=create) for _ in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert sorted(statuses) == [200] * 5 + [201]
    assert count(app, Response) == 1


def test_invalid_resources_are_422_and_store_nothing(world, fhir):
    cases = [
        {**phq9_resource(world.patient_1, [1] * 9), "status": "in-progress"},
        {**phq9_resource(world.patient_1, [1] * 9), "questionnaire": "http://other/Q/phq9"},
        # A date alone is read in the clinic's zone (issue 16); a month is too imprecise.
        {**phq9_resource(world.patient_1, [1] * 9), "authored": "2026-03"},
        phq9_resource(world.patient_1, [1] * 8 + [3])
        | {"item": phq9_resource(world.patient_1, [1] * 9)["item"][:8]},  # PHQ-9 item missing
        {**phq9_resource(world.patient_1, [1] * 9), "subject": {"reference": "Patient/999999"}},
    ]
    for body in cases:
        response = fhir.post("/fhir/QuestionnaireResponse", body)
        assert response.status_code == 422, (body, response.json)
        assert response.json["resourceType"] == "OperationOutcome"
    assert fhir.post("/fhir/QuestionnaireResponse", "{not json").status_code == 400
    assert (
        fhir.post(
            "/fhir/QuestionnaireResponse",
            phq9_resource(world.patient_1, [1] * 9),
            content_type="text/plain",
        ).status_code
        == 415
    )
    assert count(world.app, Response) == 0


def test_create_needs_the_create_scope(world, app, rsa_key, ec_key):
    reader = make_ehr(app, rsa_key, ec_key, scopes=["system/*.rs"])
    api = Fhir(app, token_for(app, reader, "system/*.rs"))
    refused = api.post("/fhir/QuestionnaireResponse", phq9_resource(world.patient_1, [1] * 9))
    assert refused.status_code == 403
    assert count(app, Response) == 0
