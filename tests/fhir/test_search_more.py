"""Searches issue 16 asked for, on both databases: Patient birthdate and gender,
Observation and QuestionnaireResponse status, _include, the US Core combinations, and
what the CapabilityStatement declares (docs/fhir.md, "Search and paging", "Includes").
"""

from __future__ import annotations

from tests.fhir.test_fhir_api import seed
from tests.fhir_checks import assert_valid

LOINC = "http://loinc.org"
SURVEY = "http://terminology.hl7.org/CodeSystem/observation-category|survey"


def _ids(fhir, url):
    response = fhir.get(url)
    assert response.status_code == 200, (url, response.json)
    assert_valid(response.json)
    entries = response.json.get("entry", [])
    return [e["resource"]["id"] for e in entries if e["search"]["mode"] == "match"]


def test_patient_birthdate_and_gender(world, fhir):
    api = world.as_admin()
    assert (
        api.patch(f"/api/v1/patients/{world.patient_1}", json={"birth_date": "1990-05-17"})
    ).status_code == 200
    p1, p2 = str(world.patient_1), str(world.patient_2)
    cases = {
        "birthdate=1990-05-17": [p1],
        "birthdate=1990-05": [p1],
        "birthdate=1990": [p1],
        "birthdate=1990-05-18": [],
        "birthdate=ge1990-05-17": [p1],
        "birthdate=gt1990-05-17": [],
        "birthdate=lt1990-05-18": [p1],
        "birthdate=le1990-05-16": [],
        "birthdate=ne1990-05-16": [p1],  # the patient without a birth date never matches
        "birthdate=ge1990-01-01&birthdate=lt1991-01-01": [p1],
        "gender=unknown": [p1, p2],  # not collected: every Patient says unknown
        "gender=http://hl7.org/fhir/administrative-gender|unknown": [p1, p2],
        "gender=female": [],
        "gender=female,unknown": [p1, p2],
        "birthdate=1990&gender=unknown": [p1],
    }
    for query, expected in cases.items():
        assert _ids(fhir, f"/fhir/Patient?{query}") == expected, query
    assert fhir.get("/fhir/Patient?birthdate=1990-13-01").status_code == 400
    assert fhir.get("/fhir/Patient?birthdate=sa1990").status_code == 400
    bundle = fhir.get("/fhir/Patient?birthdate=ge1990").json
    (self_link,) = [link["url"] for link in bundle["link"] if link["relation"] == "self"]
    assert "birthdate=ge1990" in self_link


def test_status_searches(world, fhir):
    api, rows = seed(world)
    amended = api.post(
        f"/api/v1/responses/{rows[1]['id']}/amend", json={"answers": [1] * 9, "reason": "r"}
    )
    assert amended.status_code == 201
    api.post(f"/api/v1/responses/{rows[2]['id']}/entered-in-error", json={"reason": "wrong"})
    base = f"patient={world.patient_1}"
    one, two, three, gad = (str(r["id"]) for r in rows)
    assert _ids(fhir, f"/fhir/Observation?{base}&status=final") == [one, gad]
    assert _ids(fhir, f"/fhir/Observation?{base}&status=amended") == [two]
    assert _ids(fhir, f"/fhir/Observation?{base}&status=entered-in-error") == [three]
    assert _ids(fhir, f"/fhir/Observation?{base}&status=final,amended") == [one, gad, two]
    assert _ids(
        fhir, f"/fhir/Observation?{base}&status=http://hl7.org/fhir/observation-status|amended"
    ) == [two]
    assert _ids(fhir, f"/fhir/Observation?{base}&status=preliminary") == []
    assert _ids(fhir, f"/fhir/QuestionnaireResponse?{base}&status=completed") == [one, gad]
    assert _ids(fhir, f"/fhir/QuestionnaireResponse?{base}&status=amended") == [two]
    assert _ids(fhir, f"/fhir/QuestionnaireResponse?{base}&status=entered-in-error") == [three]
    assert _ids(fhir, f"/fhir/QuestionnaireResponse?{base}&status=final") == []
    # US Core's combinations: patient+category(+status), patient+code, patient+category+date.
    assert _ids(fhir, f"/fhir/Observation?{base}&category={SURVEY}&status=final") == [one, gad]
    assert _ids(fhir, f"/fhir/Observation?{base}&code={LOINC}|70274-6") == [gad]
    assert _ids(
        fhir,
        f"/fhir/Observation?{base}&category={SURVEY}&date=ge2026-01-10&date=lt2026-01-21",
    ) == [gad, two]
    assert _ids(fhir, f"/fhir/QuestionnaireResponse?{base}&authored=2026-01&status=amended") == [
        two
    ]


def test_include_patient_and_derived_from(world, fhir):
    seed(world)
    url = f"/fhir/Observation?patient={world.patient_1}&_count=2"
    for value in ("Observation:patient", "Observation:subject", "Observation:patient:Patient"):
        bundle = fhir.get(f"{url}&_include={value}").json
        assert_valid(bundle)
        included = [e for e in bundle["entry"] if e["search"]["mode"] == "include"]
        assert [e["resource"]["resourceType"] for e in included] == ["Patient"]  # once
        assert included[0]["fullUrl"] == f"http://localhost/fhir/Patient/{world.patient_1}"
        assert bundle["total"] == 4
    both = fhir.get(f"{url}&_include=Observation:patient&_include=Observation:derived-from").json
    assert_valid(both)
    matched = [e["resource"]["id"] for e in both["entry"] if e["search"]["mode"] == "match"]
    derived = [
        e["resource"]["id"]
        for e in both["entry"]
        if e["resource"]["resourceType"] == "QuestionnaireResponse"
    ]
    assert derived == matched
    (nxt,) = [link["url"] for link in both["link"] if link["relation"] == "next"]
    assert "_include=Observation%3Apatient" in nxt  # includes are returned for every page
    page_two = fhir.get(nxt.removeprefix("http://localhost")).json
    assert any(e["search"]["mode"] == "include" for e in page_two["entry"])

    qrs = fhir.get(
        f"/fhir/QuestionnaireResponse?patient={world.patient_1}"
        "&_include=QuestionnaireResponse:subject&_include=QuestionnaireResponse:questionnaire"
    ).json
    assert_valid(qrs)
    kinds = sorted(
        e["resource"]["resourceType"] for e in qrs["entry"] if e["search"]["mode"] == "include"
    )
    assert kinds == ["Patient", "Questionnaire", "Questionnaire"]  # PHQ-9 and GAD-7

    # An include this server does not offer: dropped with a warning, or 400 when strict.
    lenient = fhir.get(f"{url}&_include=Observation:performer").json
    outcomes = [e for e in lenient["entry"] if e["search"]["mode"] == "outcome"]
    assert "Observation:performer" in outcomes[0]["resource"]["issue"][0]["diagnostics"]
    (self_link,) = [link["url"] for link in lenient["link"] if link["relation"] == "self"]
    assert "_include" not in self_link
    strict = fhir.get(f"{url}&_include=Observation:performer", Prefer="handling=strict")
    assert strict.status_code == 400
    assert fhir.get(f"{url}&_include:iterate=Observation:patient").status_code == 400
    counted = fhir.get(f"{url}&_summary=count&_include=Observation:patient").json
    assert "entry" not in counted


def test_the_capability_statement_declares_what_works(app):
    statement = app.test_client().get("/fhir/metadata").json
    assert_valid(statement)
    resources = {r["type"]: r for r in statement["rest"][0]["resource"]}

    def interactions(kind):
        return [i["code"] for i in resources[kind]["interaction"]]

    def params(kind):
        return {p["name"] for p in resources[kind]["searchParam"]}

    for kind in ("Observation", "QuestionnaireResponse"):
        assert {"read", "vread", "history-instance", "search-type"} <= set(interactions(kind))
        assert resources[kind]["readHistory"] is True
        assert resources[kind]["searchRevInclude"] == ["Provenance:target"]
        assert "status" in params(kind)
    assert "history-instance" not in interactions("Patient")
    assert resources["Patient"]["readHistory"] is False
    assert {"birthdate", "gender"} <= params("Patient")
    assert "Observation:derived-from" in resources["Observation"]["searchInclude"]
    assert interactions("Provenance") == ["read", "search-type"]
    assert params("Provenance") == {"target", "_id"}
    combos = [
        sorted(e["valueString"] for e in ext["extension"] if e["url"] == "required")
        for ext in resources["Observation"]["extension"]
        if ext["extension"][0]["valueCode"] == "SHALL"
    ]
    assert combos == [["category", "patient"], ["code", "patient"], ["category", "date", "patient"]]
