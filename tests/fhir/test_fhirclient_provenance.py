"""The real `fhirclient` library reads Provenance through _revinclude and an old version
through _history (issue 16's done-when), against a real HTTP server on 127.0.0.1."""

from __future__ import annotations

import warnings

from tests.fhir.test_fhirclient import live_server  # noqa: F401  (fixture)
from tests.helpers import submit_total


def test_fhirclient_reads_provenance_and_an_old_version(world, ehr, live_server):  # noqa: F811
    from fhirclient import client
    from fhirclient.models.bundle import Bundle
    from fhirclient.models.observation import Observation
    from fhirclient.models.provenance import Provenance

    api = world.as_clinician_a()
    first = submit_total(api, world.patient_1, "phq9", 12, "2026-01-20T09:00:00+00:00")
    amended = api.post(
        f"/api/v1/responses/{first['id']}/amend", json={"answers": [1] * 9, "reason": "typo"}
    )
    assert amended.status_code == 201
    token_url = f"{live_server}/api/v1/oauth/token"
    smart = client.FHIRClient(
        settings={
            "app_id": ehr.client_id,
            "api_base": f"{live_server}/fhir/",
            "scope": "system/Observation.rs system/Provenance.rs",
            "jwt_token": ehr.assertion(aud=token_url),
        }
    )
    smart.wants_patient = False
    smart.prepare()
    smart.authorize()

    search = Observation.where(
        struct={"patient": str(world.patient_1), "_revinclude": "Provenance:target"}
    )
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        bundle = search.perform(smart.server)
    assert isinstance(bundle, Bundle)
    observations = [e.resource for e in bundle.entry if e.search.mode == "match"]
    provenances = [e.resource for e in bundle.entry if e.search.mode == "include"]
    assert [o.meta.versionId for o in observations] == ["2"]
    assert all(isinstance(p, Provenance) for p in provenances)
    assert sorted(p.id for p in provenances) == [f"{first['id']}-1", f"{first['id']}-2"]
    revision = next(p for p in provenances if p.id.endswith("-2"))
    assert revision.activity.coding[0].code == "UPDATE"
    assert revision.target[0].reference == f"Observation/{first['id']}/_history/2"
    assert revision.agent[0].who.identifier.value == str(world.clinician_a_id)

    old = Observation.read_from(f"Observation/{first['id']}/_history/1", smart.server)
    assert old.meta.versionId == "1"
    assert old.status == "final"
    assert old.valueQuantity.value == 12
    current = Observation.read(str(first["id"]), smart.server)
    assert (current.status, current.valueQuantity.value) == ("amended", 9)
    one = Provenance.read(f"{first['id']}-1", smart.server)
    assert one.activity.coding[0].code == "CREATE"
