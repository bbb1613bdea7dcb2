"""An EHR's view: the real `fhirclient` library against a real HTTP server on 127.0.0.1."""

from __future__ import annotations

import threading
import warnings

import pytest
from werkzeug.serving import make_server

from tests.fhir.test_fhir_api import seed


@pytest.fixture
def live_server(world):
    server = make_server("127.0.0.1", 0, world.app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_port}"
    server.shutdown()
    thread.join(10)


def test_fhirclient_reads_observations_across_pages(world, ehr, live_server):
    from fhirclient import client
    from fhirclient.models.observation import Observation

    seed(world)
    token_url = f"{live_server}/api/v1/oauth/token"
    smart = client.FHIRClient(
        settings={
            "app_id": ehr.client_id,
            "api_base": f"{live_server}/fhir/",
            "scope": "system/Observation.rs",
            "jwt_token": ehr.assertion(aud=token_url),
        }
    )
    smart.wants_patient = False
    smart.prepare()  # reads the CapabilityStatement's oauth-uris extension
    smart.authorize()
    search = Observation.where(
        struct={
            "patient": str(world.patient_1),
            "code": "http://loinc.org|44261-6",
            "date": "ge2026-01-01",
            "_count": "2",
            "_sort": "date",
        }
    )
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        found = list(search.perform_resources_iter(smart.server))
    assert [o.valueQuantity.value for o in found] == [19, 12, 7]
    assert {o.status for o in found} == {"final"}
    assert found[0].effectiveDateTime.isostring.startswith("2026-01-09T09:00:00")
