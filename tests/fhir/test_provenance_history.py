"""Provenance per response version, vread and _history (issue 16), on both databases.

docs/fhir.md, "Versions and history" and "Provenance": versions are rebuilt from the
chain's rows, so an amendment and a retraction are versions with their own Provenance.
"""

from __future__ import annotations

from tests.fhir.conftest import Fhir, make_ehr, token_for
from tests.fhir.test_ingest import phq9_resource
from tests.fhir_checks import assert_valid
from tests.helpers import submit_total

AUTHOR = "http://terminology.hl7.org/CodeSystem/provenance-participant-type"
TRANSMITTER = "http://hl7.org/fhir/us/core/CodeSystem/us-core-provenance-participant-type"
USER_SID = "https://tracker.example.org/fhir/sid/user"


def _amended_then_retracted(world):
    """A clinician's PHQ-9 (v1), amended by the clinician (v2), then retracted (v3)."""
    api = world.as_clinician_a()
    first = submit_total(api, world.patient_1, "phq9", 12, "2026-01-20T09:00:00+00:00")
    amended = api.post(
        f"/api/v1/responses/{first['id']}/amend",
        json={"answers": [1] * 9, "reason": "typo"},
    )
    assert amended.status_code == 201, amended.json
    retracted = api.post(
        f"/api/v1/responses/{amended.json['id']}/entered-in-error", json={"reason": "wrong patient"}
    )
    assert retracted.status_code == 200, retracted.json
    return first["id"]


def _match(bundle):
    return [e["resource"] for e in bundle.get("entry", []) if e["search"]["mode"] == "match"]


def _included(bundle, kind):
    return [
        e["resource"]
        for e in bundle.get("entry", [])
        if e["search"]["mode"] == "include" and e["resource"]["resourceType"] == kind
    ]


def test_every_version_can_be_read_and_the_history_lists_them(world, fhir):
    chain = _amended_then_retracted(world)
    for kind in ("Observation", "QuestionnaireResponse"):
        current = fhir.get(f"/fhir/{kind}/{chain}")
        assert current.json["meta"]["versionId"] == "3"
        versions = {}
        for version in (1, 2, 3):
            read = fhir.get(f"/fhir/{kind}/{chain}/_history/{version}")
            assert read.status_code == 200, read.json
            assert read.headers["ETag"] == f'W/"{version}"'
            assert_valid(read.json)
            assert read.json["id"] == str(chain)
            assert read.json["meta"]["versionId"] == str(version)
            versions[version] = read.json
        assert versions[3] == current.json  # a vread of the newest version is the read
        done = "final" if kind == "Observation" else "completed"
        assert [versions[v]["status"] for v in (1, 2, 3)] == [done, "amended", "entered-in-error"]
        if kind == "Observation":
            assert versions[1]["valueQuantity"]["value"] == 12
            assert versions[2]["valueQuantity"]["value"] == 9
        missing = fhir.get(f"/fhir/{kind}/{chain}/_history/4")
        assert missing.status_code == 404
        assert missing.json["resourceType"] == "OperationOutcome"
        assert fhir.get(f"/fhir/{kind}/{chain}/_history/x").status_code == 404
        assert fhir.get(f"/fhir/{kind}/999999/_history").status_code == 404

        history = fhir.get(f"/fhir/{kind}/{chain}/_history")
        assert history.status_code == 200
        bundle = history.json
        assert_valid(bundle)
        assert bundle["type"] == "history" and bundle["total"] == 3
        assert [e["resource"]["meta"]["versionId"] for e in bundle["entry"]] == ["3", "2", "1"]
        assert [e["request"]["method"] for e in bundle["entry"]] == ["PUT", "PUT", "POST"]
        assert bundle["entry"][0]["response"]["etag"] == 'W/"3"'
        assert all(e["fullUrl"].endswith(f"/fhir/{kind}/{chain}") for e in bundle["entry"])


def test_a_patient_has_only_its_current_version(world, fhir):
    current = fhir.get(f"/fhir/Patient/{world.patient_1}").json
    version = current["meta"]["versionId"]
    same = fhir.get(f"/fhir/Patient/{world.patient_1}/_history/{version}")
    assert same.status_code == 200 and same.json == current
    world.as_clinician_a().patch(
        f"/api/v1/patients/{world.patient_1}",
        json={"identifiers": [{"system": "urn:example:mrn", "value": "M-1"}]},
    )
    newer = fhir.get(f"/fhir/Patient/{world.patient_1}").json["meta"]["versionId"]
    assert newer != version
    gone = fhir.get(f"/fhir/Patient/{world.patient_1}/_history/{version}")
    assert gone.status_code == 404
    assert "current version" in gone.json["issue"][0]["diagnostics"]
    history = fhir.get(f"/fhir/Patient/{world.patient_1}/_history")
    assert history.status_code == 404
    assert history.json["issue"][0]["code"] == "not-supported"


def test_provenance_says_who_made_each_version_and_how(world, fhir):
    chain = _amended_then_retracted(world)
    found = fhir.get(f"/fhir/Provenance?target=Observation/{chain}")
    assert found.status_code == 200
    bundle = found.json
    assert_valid(bundle)
    provenances = _match(bundle)
    assert [p["id"] for p in provenances] == [f"{chain}-1", f"{chain}-2", f"{chain}-3"]
    activities = [p["activity"]["coding"][0]["code"] for p in provenances]
    assert activities == ["CREATE", "UPDATE", "NULLIFY"]
    clinician = {"system": USER_SID, "value": str(world.clinician_a_id)}
    for p in provenances:
        (agent,) = p["agent"]
        assert agent["type"]["coding"][0]["system"] == AUTHOR
        assert agent["who"]["identifier"] == clinician  # entered, amended, retracted by A
        assert agent["who"]["type"] == "Practitioner"
    version = lambda n: [  # noqa: E731
        {"reference": f"Observation/{chain}/_history/{n}"},
        {"reference": f"QuestionnaireResponse/{chain}/_history/{n}"},
    ]
    assert [p["target"] for p in provenances] == [version(1), version(2), version(3)]
    assert "entity" not in provenances[0]
    assert provenances[2]["entity"][0] == {
        "role": "revision",
        "what": {"reference": f"Observation/{chain}/_history/2"},
    }
    # recorded is when each version was made, in order.
    assert provenances[0]["recorded"] <= provenances[1]["recorded"] <= provenances[2]["recorded"]

    read = fhir.get(f"/fhir/Provenance/{chain}-2")
    assert read.status_code == 200 and read.headers["ETag"] == 'W/"1"'
    assert read.json == provenances[1]
    assert fhir.get(f"/fhir/Provenance/{chain}-9").status_code == 404
    assert fhir.get(f"/fhir/Provenance/{chain}").status_code == 404
    assert fhir.get("/fhir/Provenance/01-1").status_code == 404

    # Other spellings of target, a version-specific target, _id, and AND of both.
    def ids(query):
        response = fhir.get(f"/fhir/Provenance?{query}")
        assert response.status_code == 200, (query, response.json)
        return [p["id"] for p in _match(response.json)]

    assert ids(f"target=QuestionnaireResponse/{chain}") == ids(f"target={chain}")
    assert ids(f"target=http://localhost/fhir/Observation/{chain}") == [
        f"{chain}-{n}" for n in (1, 2, 3)
    ]
    assert ids(f"target=Observation/{chain}/_history/2") == [f"{chain}-2"]
    assert ids(f"_id={chain}-1,{chain}-3") == [f"{chain}-1", f"{chain}-3"]
    assert ids(f"target=Observation/{chain}&_id={chain}-3") == [f"{chain}-3"]
    assert ids("target=Patient/1") == []
    assert ids("target=Observation/abc") == []
    paged = fhir.get(f"/fhir/Provenance?target=Observation/{chain}&_count=2").json
    assert len(_match(paged)) == 2 and paged["total"] == 3
    (nxt,) = [link["url"] for link in paged["link"] if link["relation"] == "next"]
    rest = fhir.get(nxt.removeprefix("http://localhost")).json
    assert [p["id"] for p in _match(rest)] == [f"{chain}-3"]
    assert fhir.get("/fhir/Provenance").status_code == 400  # must name its chains
    assert fhir.get("/fhir/Provenance?target=Observation/1&_cursor=zz").status_code == 400


def test_patient_and_ehr_entries_name_their_agent(world, app, fhir):
    patient_api = world.as_patient_1()
    own = submit_total(patient_api, world.patient_1, "gad7", 5, "2026-01-10T09:00:00+00:00")
    created = fhir.post("/fhir/QuestionnaireResponse", phq9_resource(world.patient_1, [1] * 9))
    assert created.status_code == 201
    by_patient = fhir.get(f"/fhir/Provenance/{own['id']}-1").json
    assert_valid(by_patient)
    assert by_patient["agent"][0]["who"] == {"reference": f"Patient/{world.patient_1}"}
    by_ehr = fhir.get(f"/fhir/Provenance/{created.json['id']}-1").json
    assert_valid(by_ehr)
    (agent,) = by_ehr["agent"]
    assert agent["type"]["coding"][0] == {
        "system": TRANSMITTER,
        "code": "transmitter",
        "display": "Transmitter",
    }
    assert agent["who"]["type"] == "Device"
    assert agent["who"]["display"] == "Synthetic EHR"
    # The QuestionnaireResponse's author is who entered it (US Core must-support).
    qr = fhir.get(f"/fhir/QuestionnaireResponse/{created.json['id']}").json
    assert qr["author"] == agent["who"]
    own_qr = fhir.get(f"/fhir/QuestionnaireResponse/{own['id']}").json
    assert own_qr["author"] == {"reference": f"Patient/{world.patient_1}"}


def test_revinclude_returns_the_provenance_of_the_page(world, fhir):
    chain = _amended_then_retracted(world)
    other = submit_total(
        world.as_clinician_a(), world.patient_1, "gad7", 7, "2026-02-01T09:00:00+00:00"
    )
    for kind in ("Observation", "QuestionnaireResponse"):
        response = fhir.get(f"/fhir/{kind}?patient={world.patient_1}&_revinclude=Provenance:target")
        bundle = response.json
        assert_valid(bundle)
        assert bundle["total"] == 2  # included resources are not counted
        ids = sorted(p["id"] for p in _included(bundle, "Provenance"))
        assert ids == sorted([f"{chain}-1", f"{chain}-2", f"{chain}-3", f"{other['id']}-1"])
        (self_link,) = [link["url"] for link in bundle["link"] if link["relation"] == "self"]
        assert "_revinclude=Provenance%3Atarget" in self_link
    # Patient searches accept it (US Core) and add nothing: Patients carry no Provenance.
    patients = fhir.get(f"/fhir/Patient?_id={world.patient_1}&_revinclude=Provenance:target")
    assert patients.status_code == 200 and _included(patients.json, "Provenance") == []


def test_provenance_needs_its_scope(world, app, rsa_key, ec_key):
    chain = _amended_then_retracted(world)
    reader = make_ehr(app, rsa_key, ec_key, scopes=["system/Observation.rs"])
    api = Fhir(app, token_for(app, reader, "system/Observation.rs"))
    assert api.get(f"/fhir/Provenance/{chain}-1").status_code == 403
    bundle = api.get(
        f"/fhir/Observation?patient={world.patient_1}&_revinclude=Provenance:target"
    ).json
    assert_valid(bundle)
    assert _included(bundle, "Provenance") == []  # left out, with a warning
    (outcome,) = [e["resource"] for e in bundle["entry"] if e["search"]["mode"] == "outcome"]
    assert outcome["issue"][0]["code"] == "forbidden"
    assert len(_match(bundle)) == 1
