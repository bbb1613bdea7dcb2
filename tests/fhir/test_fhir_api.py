"""FHIR reads and searches through HTTP, validated with fhir.resources R4B and US Core rules."""

from __future__ import annotations

from urllib.parse import urlsplit

from tests.fhir.conftest import Fhir, make_ehr, token_for
from tests.fhir_checks import assert_valid
from tests.helpers import login, submit, submit_total

MRN = "urn:oid:2.16.840.1.113883.19.5"
LOINC = "http://loinc.org"


def seed(world, mrn="MRN-1"):
    """Patient 1 gets an MRN, three PHQ-9s and one GAD-7."""
    api = world.as_clinician_a()
    api.patch(
        f"/api/v1/patients/{world.patient_1}", json={"identifiers": [{"system": MRN, "value": mrn}]}
    )
    rows = [
        submit_total(api, world.patient_1, "phq9", 19, "2026-01-09T09:00:00+00:00"),
        submit_total(api, world.patient_1, "phq9", 12, "2026-01-20T09:00:00+00:00"),
        submit_total(api, world.patient_1, "phq9", 7, "2026-02-01T09:00:00+00:00"),
        submit_total(api, world.patient_1, "gad7", 11, "2026-01-10T09:00:00+00:00"),
    ]
    return api, rows


def entries(bundle):
    return [e["resource"] for e in bundle.get("entry", []) if e["search"]["mode"] == "match"]


def follow_all(fhir, url):
    """Walk next links the way an EHR does; returns every matched resource."""
    found = []
    while url:
        response = fhir.get(url)
        assert response.status_code == 200, response.json
        bundle = response.json
        assert_valid(bundle)
        found += entries(bundle)
        nxt = [link["url"] for link in bundle["link"] if link["relation"] == "next"]
        url = None
        if nxt:
            assert nxt[0].startswith("http://localhost/fhir/")
            parts = urlsplit(nxt[0])
            url = f"{parts.path}?{parts.query}"
    return found


def test_metadata_and_smart_configuration(app):
    metadata = app.test_client().get("/fhir/metadata")
    assert metadata.status_code == 200
    assert metadata.content_type == "application/fhir+json; charset=utf-8"
    statement = metadata.json
    assert_valid(statement)
    assert statement["fhirVersion"] == "4.0.1"
    oauth = statement["rest"][0]["security"]["extension"][0]["extension"]
    assert oauth == [{"url": "token", "valueUri": "http://localhost/api/v1/oauth/token"}]
    types = {r["type"] for r in statement["rest"][0]["resource"]}
    assert types == {
        "Patient",
        "Observation",
        "QuestionnaireResponse",
        "Questionnaire",
        "Provenance",
    }
    smart = app.test_client().get(
        "/fhir/.well-known/smart-configuration", headers={"Accept": "text/html"}
    )
    assert smart.content_type == "application/json"
    assert smart.json["token_endpoint"] == "http://localhost/api/v1/oauth/token"
    assert "client-confidential-asymmetric" in smart.json["capabilities"]


def test_find_patient_by_mrn_then_observations(world, fhir):
    seed(world)
    found = fhir.get(f"/fhir/Patient?identifier={MRN}|MRN-1").json
    assert_valid(found)
    assert found["total"] == 1
    patient = entries(found)[0]
    assert patient["id"] == str(world.patient_1)
    assert {"system": MRN, "value": "MRN-1"} in patient["identifier"]
    search = fhir.get(f"/fhir/Observation?patient={patient['id']}").json
    assert_valid(search)
    assert search["total"] == 4
    observations = entries(search)
    assert [o["valueQuantity"]["value"] for o in observations] == [19, 11, 12, 7]  # by date
    first = observations[0]
    assert first["status"] == "final"
    assert first["code"]["coding"][0] == {
        "system": LOINC,
        "code": "44261-6",
        "display": "Patient Health Questionnaire 9 item (PHQ-9) total score [Reported]",
    }
    assert first["subject"] == {"reference": f"Patient/{world.patient_1}"}
    assert first["valueQuantity"]["code"] == "{score}"
    assert first["derivedFrom"] == [{"reference": f"QuestionnaireResponse/{first['id']}"}]
    assert first["effectiveDateTime"].startswith("2026-01-09T09:00:00")
    assert search["entry"][0]["fullUrl"] == f"http://localhost/fhir/Observation/{first['id']}"
    qr = fhir.get(f"/fhir/QuestionnaireResponse/{first['id']}")
    assert qr.status_code == 200
    assert_valid(qr.json)
    assert qr.json["status"] == "completed"
    assert fhir.get(f"/fhir/Patient?identifier={MRN}|nobody").json["total"] == 0


def test_search_parameters(world, fhir):
    seed(world)
    p = world.patient_1

    def total(query):
        response = fhir.get(f"/fhir/Observation?patient=Patient/{p}&{query}")
        assert response.status_code == 200, (query, response.json)
        return response.json["total"]

    assert total(f"code={LOINC}|44261-6") == 3
    assert total(f"code={LOINC}|44261-6,{LOINC}|70274-6") == 4
    assert total("code=70274-6") == 1
    assert total("code=http://snomed.info/sct|44261-6") == 0
    assert total("category=survey") == 4
    assert total("category=laboratory") == 0
    assert total("date=2026-01") == 3
    assert total("date=2026-01-20") == 1
    assert total("date=gt2026-01-20") == 1
    assert total("date=ge2026-01-20") == 2
    assert total("date=lt2026-01-10T09:00:00Z") == 1
    assert total("date=le2026-01-10T09:00:00Z") == 2
    assert total("date=ne2026-01-20") == 3
    assert total("date=ge2026-01-10&date=lt2026-02-01") == 2
    assert total("date=ge2026-01-20T10:00:00+01:00") == 2  # unencoded + arrives as a space
    assert total("_lastUpdated=gt2000-01-01") == 4
    assert total("_lastUpdated=lt2000-01-01") == 0
    ids = [o["id"] for o in entries(fhir.get(f"/fhir/Observation?patient={p}").json)]
    assert total(f"_id={ids[0]},{ids[1]}") == 2
    descending = entries(fhir.get(f"/fhir/Observation?patient={p}&_sort=-date").json)
    assert [o["valueQuantity"]["value"] for o in descending] == [7, 12, 11, 19]
    assert fhir.get("/fhir/Observation?patient=999999").json["total"] == 0


def test_bad_and_unknown_parameters(world, fhir):
    seed(world)
    bad = fhir.get("/fhir/Observation?date=2024-13-01")
    assert bad.status_code == 400
    assert bad.json["resourceType"] == "OperationOutcome"
    assert bad.json["issue"][0]["code"] == "invalid"
    assert fhir.get("/fhir/Observation?date=sa2024-01-01").status_code == 400
    strict = fhir.get("/fhir/Observation?colour=blue", Prefer="handling=strict")
    assert strict.status_code == 400
    lenient = fhir.get("/fhir/Observation?colour=blue").json
    assert_valid(lenient)
    assert lenient["total"] == 4
    assert "colour" not in lenient["link"][0]["url"]
    assert lenient["entry"][-1]["search"]["mode"] == "outcome"
    assert fhir.get("/fhir/Observation?_count=-1").status_code == 400
    assert fhir.get("/fhir/Observation?_sort=code").status_code == 400
    counted = fhir.get("/fhir/Observation?_count=0").json
    assert counted["total"] == 4 and "entry" not in counted


def test_keyset_paging_survives_inserts_between_pages(world, fhir):
    api, _rows = seed(world)
    first = fhir.get(f"/fhir/Observation?patient={world.patient_1}&_count=2").json
    assert len(entries(first)) == 2 and first["total"] == 4
    next_url = next(link["url"] for link in first["link"] if link["relation"] == "next")
    assert "_count=2" in next_url
    # A new, earlier response arrives while the EHR is paging.
    submit_total(api, world.patient_1, "phq9", 3, "2025-12-01T09:00:00+00:00")
    parts = urlsplit(next_url)
    rest = follow_all(fhir, f"{parts.path}?{parts.query}")
    seen = [o["id"] for o in entries(first)] + [o["id"] for o in rest]
    assert len(seen) == len(set(seen)) == 4
    every = follow_all(fhir, f"/fhir/Observation?patient={world.patient_1}&_count=2")
    assert len(every) == 5


def test_post_search_is_the_same_as_get(world, fhir):
    seed(world)
    posted = fhir.post(
        "/fhir/Observation/_search",
        f"patient={world.patient_1}&code=70274-6",
        content_type="application/x-www-form-urlencoded",
    )
    assert posted.status_code == 200 and posted.json["total"] == 1


def test_read_versions_etag_and_status_changes(world, fhir):
    api, rows = seed(world)
    row = rows[0]
    read = fhir.get(f"/fhir/Observation/{row['id']}")
    assert read.status_code == 200
    assert read.headers["ETag"] == 'W/"1"'
    assert read.json["meta"]["versionId"] == "1"
    assert "Last-Modified" in read.headers
    assert (
        fhir.get(f"/fhir/Observation/{row['id']}", **{"If-None-Match": 'W/"1"'}).status_code == 304
    )
    amended = api.post(
        f"/api/v1/responses/{row['id']}/amend", json={"answers": [2] * 9, "reason": "transcription"}
    ).json
    after = fhir.get(f"/fhir/Observation/{row['id']}")  # same logical id, new version
    assert after.headers["ETag"] == 'W/"2"'
    assert after.json["status"] == "amended"
    assert after.json["valueQuantity"]["value"] == 18
    assert (
        fhir.get(f"/fhir/Observation/{row['id']}", **{"If-None-Match": 'W/"1"'}).status_code == 200
    )
    assert fhir.get(f"/fhir/Observation/{amended['id']}").status_code == 404  # not a logical id
    assert fhir.get(f"/fhir/QuestionnaireResponse/{row['id']}").json["status"] == "amended"
    api.post(
        f"/api/v1/responses/{amended['id']}/entered-in-error", json={"reason": "wrong patient"}
    )
    retracted = fhir.get(f"/fhir/Observation/{row['id']}")
    assert retracted.json["status"] == "entered-in-error"
    assert retracted.headers["ETag"] == 'W/"3"'
    assert_valid(retracted.json)
    assert fhir.get(f"/fhir/Observation?patient={world.patient_1}").json["total"] == 4


def syndromes(observation):
    """The codes of the depressive-syndrome interpretation(s) (docs/fhir.md, "Observations")."""
    return [
        (coding["code"], concept["text"])
        for concept in observation["interpretation"]
        for coding in concept.get("coding", [])
        if coding["system"] == "https://tracker.example.org/fhir/CodeSystem/phq9-syndrome"
    ]


def test_depressive_syndrome_is_an_interpretation_and_follows_amendments(world, fhir):
    api = world.as_clinician_a()
    # Items 1, 2 and 9 count: 3 symptoms with a core one, the "other" depressive syndrome.
    row = submit(api, world.patient_1, {"answers": [2, 2, 0, 0, 0, 0, 0, 0, 1]}).json
    assert row["depressive_syndrome"] == "other"
    before = fhir.get(f"/fhir/Observation/{row['id']}").json
    assert_valid(before)
    assert before["interpretation"][0]["coding"][0]["code"] == "mild"  # the band comes first
    assert syndromes(before) == [
        ("other", "Other depressive syndrome (PHQ-9 algorithm, provisional)")
    ]
    # Corrected to five counting symptoms (items 1, 3, 4, 5, 6): major, on the same logical id.
    api.post(
        f"/api/v1/responses/{row['id']}/amend",
        json={"answers": [2, 0, 2, 2, 2, 2, 0, 0, 0], "reason": "transcription"},
    )
    after = fhir.get(f"/fhir/Observation/{row['id']}").json
    assert_valid(after)
    assert syndromes(after) == [
        ("major", "Major depressive syndrome (PHQ-9 algorithm, provisional)")
    ]
    # No core symptom: no syndrome interpretation at all, only the band; GAD-7 never has one.
    none = submit(api, world.patient_1, {"answers": [0, 0, 3, 3, 3, 3, 3, 3, 0]}).json
    observation = fhir.get(f"/fhir/Observation/{none['id']}").json
    assert_valid(observation)
    assert len(observation["interpretation"]) == 1 and syndromes(observation) == []
    gad7 = submit_total(api, world.patient_1, "gad7", 21, "2026-01-10T09:00:00+00:00")
    assert len(fhir.get(f"/fhir/Observation/{gad7['id']}").json["interpretation"]) == 1


def test_errors_are_operation_outcomes(world, app, ehr, rsa_key, ec_key):
    seed(world)
    anonymous = Fhir(app, None).get("/fhir/Observation")
    assert anonymous.status_code == 401
    assert anonymous.json["resourceType"] == "OperationOutcome"
    assert anonymous.headers["WWW-Authenticate"].startswith("Bearer")
    assert Fhir(app, "not-a-token").get("/fhir/Observation").status_code == 401
    patients_only = make_ehr(app, rsa_key, ec_key, scopes=["system/Patient.rs"])
    narrow = Fhir(app, token_for(app, patients_only, "system/Patient.rs"))
    forbidden = narrow.get("/fhir/Observation")
    assert forbidden.status_code == 403 and forbidden.json["issue"][0]["code"] == "forbidden"
    assert narrow.get("/fhir/Patient").status_code == 200
    full = Fhir(app, token_for(app, ehr))
    missing = full.get("/fhir/Observation/2147483647")
    assert missing.status_code == 404 and missing.json["resourceType"] == "OperationOutcome"
    assert full.get("/fhir/Observation/99999999999999999999").status_code == 404
    assert full.get("/fhir/Nonsense").status_code == 404
    assert full.get("/fhir/Nonsense").json["resourceType"] == "OperationOutcome"


def test_sessions_admin_may_read_clinician_may_not(world):
    seed(world)
    admin = login(world.app, "admin@example.test")
    assert admin.get(f"/fhir/Observation?patient={world.patient_1}").json["total"] == 4
    clinician = login(world.app, "clinician.a@example.test")
    assert clinician.get("/fhir/Observation").status_code == 403


def test_questionnaires(fhir):
    bundle = fhir.get("/fhir/Questionnaire").json
    assert_valid(bundle)
    assert bundle["total"] == 3
    phq9 = fhir.get("/fhir/Questionnaire/phq9").json
    assert_valid(phq9)
    assert phq9["code"][0]["code"] == "44249-1"
    coded = [i for i in phq9["item"] if i.get("code") and i["type"] == "choice"]
    assert [i["code"][0]["code"] for i in coded[:9]] == [
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
    assert fhir.get("/fhir/Questionnaire/phq10").status_code == 404


def test_odd_ids_and_modifiers(world, fhir):
    seed(world)
    assert fhir.get("/fhir/Observation?_id=%C2%B2").json["total"] == 0
    assert fhir.get("/fhir/Observation/%C2%B2").status_code == 404
    assert fhir.get("/fhir/Observation?code:not=70274-6").status_code == 400


def test_links_use_the_public_base_and_forwarded_headers_only_when_trusted(world, app, ehr):
    from tests.conftest import make_app

    seed(world)
    token = token_for(app, ehr)
    headers = {
        "Authorization": f"Bearer {token}",
        "X-Forwarded-Host": "evil.example",
        "X-Forwarded-Proto": "https",
    }
    url = f"/fhir/Observation?patient={world.patient_1}&_count=1"
    untrusted = app.test_client().get(url, headers=headers).json
    assert all(link["url"].startswith("http://localhost/") for link in untrusted["link"])
    database = app.config["SQLALCHEMY_DATABASE_URI"]
    trusted = make_app(database, TRACKER_TRUST_PROXY=True)
    proxied = trusted.test_client().get(url, headers=headers).json
    assert proxied["link"][1]["url"].startswith("https://evil.example/fhir/Observation?")
    public = make_app(database, PUBLIC_BASE_URL="https://fhir.clinic.example")
    configured = public.test_client().get(url, headers=headers).json
    assert configured["entry"][0]["fullUrl"].startswith("https://fhir.clinic.example/fhir/")
    for extra in (trusted, public):
        with extra.app_context():
            from tracker.extensions import db

            db.engine.dispose()


def test_incremental_pull_is_ordered_by_last_update(world, fhir):
    api, rows = seed(world)
    api.post(f"/api/v1/responses/{rows[0]['id']}/entered-in-error", json={"reason": "wrong form"})
    bundle = fhir.get("/fhir/Observation?_lastUpdated=gt2000-01-01").json
    assert "_sort=_lastUpdated" in bundle["link"][0]["url"]
    assert entries(bundle)[-1]["id"] == rows[0]["id"]  # changed last, so listed last
