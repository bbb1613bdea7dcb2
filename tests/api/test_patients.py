"""Patients: creation, visibility by role, identifiers, care team."""

from tests.helpers import count
from tracker.models import CareTeamMember, Patient

MRN = "urn:oid:2.16.840.1.113883.3.9999"  # a synthetic MRN system


def test_clinician_creates_patient_and_joins_care_team(world):
    api = world.as_clinician_a()
    response = api.post(
        "/api/v1/patients",
        json={
            "display_name": "Synthetic Three",
            "birth_date": "1980-02-29",
            "identifiers": [{"system": MRN, "value": "A-1"}],
        },
    )
    assert response.status_code == 201, response.json
    body = response.json
    assert body["display_name"] == "Synthetic Three"
    assert body["birth_date"] == "1980-02-29"
    assert body["identifiers"] == [{"system": MRN, "value": "A-1"}]
    assert isinstance(body["id"], str)
    assert api.get(f"/api/v1/patients/{body['id']}").status_code == 200
    assert (
        count(
            world.app,
            CareTeamMember,
            CareTeamMember.patient_id == int(body["id"]),
            CareTeamMember.user_id == world.clinician_a_id,
        )
        == 1
    )
    # Clinician B is not on the care team: not visible, 404 not 403.
    assert world.as_clinician_b().get(f"/api/v1/patients/{body['id']}").status_code == 404


def test_duplicate_identifier_is_409_and_stores_nothing(world):
    api = world.as_clinician_a()
    payload = {"display_name": "S", "identifiers": [{"system": MRN, "value": "A-2"}]}
    assert api.post("/api/v1/patients", json=payload).status_code == 201
    before = count(world.app, Patient)
    again = world.as_clinician_b().post("/api/v1/patients", json=payload)
    assert again.status_code == 409
    assert again.content_type == "application/problem+json"
    assert count(world.app, Patient) == before


def test_patient_user_cannot_create_or_list_patients(world):
    api = world.as_patient_1()
    assert api.post("/api/v1/patients", json={"display_name": "S"}).status_code == 403
    assert api.get("/api/v1/patients").status_code == 403


def test_list_shows_only_visible_patients(world):
    ids_a = [p["id"] for p in world.as_clinician_a().get("/api/v1/patients").json["items"]]
    ids_admin = [p["id"] for p in world.as_admin().get("/api/v1/patients").json["items"]]
    assert ids_a == [str(world.patient_1)]
    assert ids_admin == [str(world.patient_1), str(world.patient_2)]


def test_identifier_filter(world):
    api = world.as_admin()
    created = api.post(
        "/api/v1/patients",
        json={"display_name": "S", "identifiers": [{"system": MRN, "value": "Z9"}]},
    )
    found = api.get(f"/api/v1/patients?identifier={MRN}|Z9").json["items"]
    assert [p["id"] for p in found] == [created.json["id"]]
    assert api.get(f"/api/v1/patients?identifier={MRN}|nope").json["items"] == []
    bad = api.get("/api/v1/patients?identifier=no-bar")
    assert bad.status_code == 422 and "identifier" in bad.json["errors"]


def test_list_pagination_with_cursor(world):
    api = world.as_admin()
    for n in range(3):
        api.post("/api/v1/patients", json={"display_name": f"Synthetic P{n}"})
    first = api.get("/api/v1/patients?limit=2").json
    assert len(first["items"]) == 2 and first["next_cursor"]
    second = api.get(f"/api/v1/patients?limit=2&cursor={first['next_cursor']}").json
    third = api.get(f"/api/v1/patients?limit=2&cursor={second['next_cursor']}").json
    seen = [p["id"] for page in (first, second, third) for p in page["items"]]
    assert len(seen) == 5 == len(set(seen))
    assert third["next_cursor"] is None
    assert api.get("/api/v1/patients?cursor=garbage").status_code == 422
    assert api.get("/api/v1/patients?limit=501").status_code == 422
    assert api.get("/api/v1/patients?limit=0").status_code == 422


def test_patient_reads_own_record_only(world):
    api = world.as_patient_1()
    assert api.get(f"/api/v1/patients/{world.patient_1}").status_code == 200
    assert api.get(f"/api/v1/patients/{world.patient_2}").status_code == 404


def test_patch_by_care_team_and_refused_for_patient(world):
    url = f"/api/v1/patients/{world.patient_1}"
    patched = world.as_clinician_a().patch(
        url, json={"display_name": "Renamed", "identifiers": [{"system": MRN, "value": "P1"}]}
    )
    assert patched.status_code == 200
    assert patched.json["display_name"] == "Renamed"
    assert patched.json["identifiers"] == [{"system": MRN, "value": "P1"}]
    assert world.as_patient_1().patch(url, json={"display_name": "Me"}).status_code == 403
    assert world.as_clinician_b().patch(url, json={"display_name": "B"}).status_code == 404
    bad = world.as_clinician_a().patch(url, json={"birth_date": "not a date"})
    assert bad.status_code == 422 and "birth_date" in bad.json["errors"]
    unknown = world.as_clinician_a().patch(url, json={"nickname": "x"})
    assert unknown.status_code == 422 and "nickname" in unknown.json["errors"]


def test_care_team_add(world):
    url = f"/api/v1/patients/{world.patient_1}"
    api = world.as_clinician_a()
    assert (
        api.post(f"{url}/care-team", json={"clinician_id": str(world.clinician_b_id)}).status_code
        == 204
    )
    assert (
        api.post(f"{url}/care-team", json={"clinician_id": str(world.clinician_b_id)}).status_code
        == 204
    )
    assert world.as_clinician_b().get(url).status_code == 200
    not_clinician = api.post(f"{url}/care-team", json={"clinician_id": str(world.admin_id)})
    assert not_clinician.status_code == 422
    assert "clinician_id" in not_clinician.json["errors"]
    huge = api.post(f"{url}/care-team", json={"clinician_id": "99999999999999999999"})
    assert huge.status_code == 422
