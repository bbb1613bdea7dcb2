"""POST /fhir/QuestionnaireResponse as EHRs send it (issue 16), on both databases.

LOINC and US Core canonicals, LOINC linkIds with or without the slash, items inside the
panel group, a date-only or zone-less authored read in CLINIC_TIMEZONE, a subject given
by identifier, the author filled from who entered it, the client's total replaced with
a warning, and errors naming FHIR paths (docs/fhir.md, "QuestionnaireResponse and
Questionnaire").
"""

from __future__ import annotations

from tests.fhir.test_ingest import PHQ9_ANSWERS, PHQ9_ITEMS, phq9_resource
from tests.fhir_checks import assert_valid
from tests.helpers import count
from tracker.instruments import GAD7
from tracker.models import Response

MRN = "urn:oid:2.16.840.1.113883.19.5"
LOINC = "http://loinc.org"


def loinc_phq9(patient_id, answers, *, slash=False, nested=True, **extra):
    """PHQ-9 as LOINC's form writes it: canonical http://loinc.org/q/44249-1, bare LOINC
    linkIds inside the panel group, LOINC answer codes, a total of the client's own."""
    prefix = "/" if slash else ""
    items = [
        {
            "linkId": f"{prefix}{code}",
            "answer": [{"valueCoding": {"system": LOINC, "code": PHQ9_ANSWERS[value]}}],
        }
        for code, value in zip(PHQ9_ITEMS, answers, strict=True)
    ]
    items.append({"linkId": f"{prefix}44261-6", "answer": [{"valueDecimal": 99}]})
    resource = {
        "resourceType": "QuestionnaireResponse",
        "questionnaire": "http://loinc.org/q/44249-1",
        "status": "completed",
        "subject": {"reference": f"Patient/{patient_id}"},
        "authored": "2026-03-01T09:30:00+00:00",
        "item": [{"linkId": f"{prefix}44249-1", "item": items}] if nested else items,
    }
    resource.update(extra)
    return resource


def _score(fhir, created):
    assert created.status_code in (200, 201), created.json
    return fhir.get(f"/fhir/Observation/{created.json['id']}").json["valueQuantity"]["value"]


def test_loinc_and_us_core_forms_are_scored_like_ours(world, fhir):
    answers = [2, 1, 3, 0, 1, 2, 1, 0, 1]
    for slash in (False, True):
        for nested in (False, True):
            body = loinc_phq9(world.patient_1, answers, slash=slash, nested=nested)
            created = fhir.post("/fhir/QuestionnaireResponse", body)
            assert _score(fhir, created) == 11, (slash, nested)
            assert_valid(created.json)
            # Stored against our own canonical, which it is read back with.
            assert created.json["questionnaire"].endswith("/Questionnaire/phq9|1")
    us_core = loinc_phq9(
        world.patient_1,
        answers,
        slash=True,
        questionnaire="http://hl7.org/fhir/us/core/Questionnaire/phq-9-example|7.0.0",
    )
    assert _score(fhir, fhir.post("/fhir/QuestionnaireResponse", us_core)) == 11
    # Integers instead of answer codes, still inside the group.
    integers = loinc_phq9(world.patient_1, answers)
    for item, value in zip(integers["item"][0]["item"], answers, strict=False):
        item["answer"] = [{"valueInteger": value}]
    assert _score(fhir, fhir.post("/fhir/QuestionnaireResponse", integers)) == 11
    # GAD-7 by its LOINC panel canonical.
    gad7 = {
        "resourceType": "QuestionnaireResponse",
        "questionnaire": f"http://loinc.org/q/{GAD7.codes.panel}",
        "status": "completed",
        "subject": {"reference": f"Patient/{world.patient_1}"},
        "authored": "2026-03-02T09:30:00Z",
        "item": [{"linkId": item.loinc, "answer": [{"valueInteger": 2}]} for item in GAD7.items],
    }
    assert _score(fhir, fhir.post("/fhir/QuestionnaireResponse", gad7)) == 14
    assert count(world.app, Response) == 7


def test_the_clients_total_is_replaced_and_the_outcome_says_so(world, fhir):
    body = loinc_phq9(world.patient_1, [1] * 9, identifier={"system": "urn:x", "value": "t-1"})
    outcome = fhir.post("/fhir/QuestionnaireResponse", body, Prefer="return=OperationOutcome")
    assert outcome.status_code == 201
    assert_valid(outcome.json)
    assert outcome.json["resourceType"] == "OperationOutcome"
    warning = outcome.json["issue"][0]
    assert warning["severity"] == "warning"
    assert "(99) was replaced by the server's score (9)" in warning["diagnostics"]
    assert outcome.headers["Location"].endswith("/_history/1")
    # Without the preference the resource comes back, carrying the server's total.
    again = fhir.post("/fhir/QuestionnaireResponse", body)
    assert again.status_code == 200
    total = [i for i in again.json["item"] if i["linkId"] == "/44261-6"]
    assert total[0]["answer"] == [{"valueDecimal": 9}]
    minimal = fhir.post(
        "/fhir/QuestionnaireResponse",
        loinc_phq9(world.patient_1, [0] * 9),
        Prefer="return=minimal",
    )
    assert minimal.status_code == 201 and minimal.data == b""
    assert minimal.headers["Location"]


def test_authored_without_an_offset_is_read_in_the_clinic_time_zone(world, fhir):
    world.app.config["CLINIC_TIMEZONE"] = "America/New_York"
    cases = {
        "2026-03-01": "2026-03-01T17:00:00+00:00",  # noon in New York (EST)
        "2026-07-01": "2026-07-01T16:00:00+00:00",  # noon in New York (EDT)
        "2026-03-01T09:30:00": "2026-03-01T14:30:00+00:00",
    }
    for authored, expected in cases.items():
        created = fhir.post(
            "/fhir/QuestionnaireResponse",
            phq9_resource(world.patient_1, [1] * 9, identifier=authored, integers=True)
            | {"authored": authored},
        )
        assert created.status_code == 201, created.json
        assert created.json["authored"] == expected
    far = fhir.post(
        "/fhir/QuestionnaireResponse",
        phq9_resource(world.patient_1, [1] * 9, identifier=None) | {"authored": "2999-01-01"},
    )
    assert far.status_code == 422
    assert far.json["issue"][0]["expression"] == ["QuestionnaireResponse.authored"]
    assert "QuestionnaireResponse.authored" in far.json["issue"][0]["diagnostics"]
    assert "completed_at" not in str(far.json)


def test_a_date_of_today_is_never_in_the_future(world, fhir):
    from datetime import UTC, datetime

    today = datetime.now(UTC).date().isoformat()
    created = fhir.post(
        "/fhir/QuestionnaireResponse",
        phq9_resource(world.patient_1, [1] * 9, identifier=None) | {"authored": today},
    )
    assert created.status_code == 201, created.json
    assert created.json["authored"].startswith(today)


def test_subject_by_identifier(world, fhir):
    api = world.as_admin()
    api.patch(
        f"/api/v1/patients/{world.patient_1}",
        json={"identifiers": [{"system": MRN, "value": "MRN-77"}]},
    )
    api.patch(
        f"/api/v1/patients/{world.patient_2}",
        json={"identifiers": [{"system": "urn:other", "value": "MRN-77"}]},
    )
    for subject in (
        {"reference": f"Patient?identifier={MRN}|MRN-77"},
        {"reference": "Patient?identifier=urn%3Aoid%3A2.16.840.1.113883.19.5%7CMRN-77"},
        {"identifier": {"system": MRN, "value": "MRN-77"}},
        {"type": "Patient", "identifier": {"system": MRN, "value": "MRN-77"}},
    ):
        body = phq9_resource(world.patient_1, [1] * 9, identifier=None) | {"subject": subject}
        created = fhir.post("/fhir/QuestionnaireResponse", body)
        assert created.status_code == 201, (subject, created.json)
        assert created.json["subject"] == {"reference": f"Patient/{world.patient_1}"}
    # A value two patients share (in different systems), or nobody has: 422, nothing stored.
    stored = count(world.app, Response)
    for subject, code in (
        ({"reference": "Patient?identifier=MRN-77"}, "multiple-matches"),
        ({"identifier": {"system": MRN, "value": "nobody"}}, "processing"),
    ):
        body = phq9_resource(world.patient_1, [1] * 9, identifier=None) | {"subject": subject}
        refused = fhir.post("/fhir/QuestionnaireResponse", body)
        assert refused.status_code == 422, subject
        assert refused.json["issue"][0]["code"] == code
        assert refused.json["issue"][0]["expression"] == ["QuestionnaireResponse.subject"]
    assert count(world.app, Response) == stored


def test_errors_name_fhir_paths(world, fhir):
    body = loinc_phq9(world.patient_1, [1] * 9)
    body["item"][0]["item"][3]["answer"] = [{"valueInteger": 7}]
    refused = fhir.post("/fhir/QuestionnaireResponse", body)
    assert refused.status_code == 422
    (issue,) = refused.json["issue"]
    assert issue["expression"] == ["QuestionnaireResponse.item[0].item[3].answer[0]"]
    assert issue["diagnostics"].startswith("QuestionnaireResponse.item[0].item[3].answer[0]")
    # Too many skipped items is the scoring rule's refusal: it names the items, not "answers".
    skipped = loinc_phq9(world.patient_1, [1] * 9, nested=False)
    skipped["item"] = skipped["item"][:7]
    refused = fhir.post("/fhir/QuestionnaireResponse", skipped)
    assert refused.status_code == 422
    assert refused.json["issue"][0]["expression"] == ["QuestionnaireResponse.item"]
    assert refused.json["issue"][0]["diagnostics"].startswith("QuestionnaireResponse.item:")
    assert "answers" not in refused.json["issue"][0]["diagnostics"].split(":")[0]
    assert count(world.app, Response) == 0
