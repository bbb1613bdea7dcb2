"""Bulk Data export end to end: kick-off, polling, manifest, NDJSON files, cancel."""

from __future__ import annotations

import json
import time
from urllib.parse import urlsplit

from tests.fhir.conftest import Fhir, make_ehr, token_for
from tests.fhir.test_fhir_api import seed
from tests.fhir_checks import assert_valid
from tests.helpers import audit_events
from tracker.extensions import db
from tracker.models import AuditEvent, ExportJob
from tracker.models.types import utcnow

ASYNC = {"Prefer": "respond-async", "Accept": "application/fhir+json"}


def local(url: str) -> str:
    parts = urlsplit(url)
    return parts.path + (f"?{parts.query}" if parts.query else "")


def wait_for(fhir, status_url, timeout=30.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        response = fhir.get(status_url)
        if response.status_code != 202:
            return response
        assert response.headers["Retry-After"]
        time.sleep(0.05)
    raise AssertionError("export did not finish")


def test_complete_export_every_line_valid(world, fhir, tmp_path):
    world.app.config["EXPORT_DIR"] = str(tmp_path / "exports")
    seed(world)
    kick = fhir.get(
        "/fhir/Patient/$export?_type=Patient,Observation,QuestionnaireResponse", **ASYNC
    )
    assert kick.status_code == 202, kick.json
    status_url = kick.headers["Content-Location"]
    assert status_url.startswith("http://localhost/fhir/$export-status/")
    done = wait_for(fhir, local(status_url))
    assert done.status_code == 200, done.json
    manifest = done.json
    assert manifest["requiresAccessToken"] is True
    assert manifest["request"].startswith("http://localhost/fhir/Patient/$export")
    assert manifest["error"] == []
    counts = {item["type"]: item["count"] for item in manifest["output"]}
    assert counts == {"Patient": 2, "Observation": 4, "QuestionnaireResponse": 4}
    for item in manifest["output"]:
        response = fhir.get(local(item["url"]))
        assert response.status_code == 200
        assert response.mimetype == "application/fhir+ndjson"
        lines = response.get_data(as_text=True).splitlines()
        assert len(lines) == item["count"]
        for line in lines:
            resource = json.loads(line)
            assert resource["resourceType"] == item["type"]
            assert_valid(resource)
    events = audit_events(world.app, AuditEvent.action == "export")
    assert [e.detail for e in events] == ["Patient=2,Observation=4,QuestionnaireResponse=4"]


def test_since_and_type_filters(world, fhir, tmp_path):
    world.app.config["EXPORT_DIR"] = str(tmp_path / "exports")
    seed(world)
    kick = fhir.get("/fhir/$export?_type=Observation&_since=2999-01-01T00:00:00Z", **ASYNC)
    manifest = wait_for(fhir, local(kick.headers["Content-Location"])).json
    # Nothing changed after _since: no empty file is listed (Bulk Data: output SHOULD be []).
    assert manifest["output"] == []


def test_kick_off_errors(world, fhir, app, ehr):
    assert fhir.get("/fhir/$export").status_code == 400  # no Prefer: respond-async
    assert fhir.get("/fhir/$export?_outputFormat=text/csv", **ASYNC).status_code == 400
    assert fhir.get("/fhir/$export?_type=Encounter", **ASYNC).status_code == 400
    assert fhir.get("/fhir/$export?_since=yesterday", **ASYNC).status_code == 400
    assert Fhir(app, None).get("/fhir/$export", **ASYNC).status_code == 401
    with app.app_context():
        from tracker.auth.clients import find_client

        client = find_client(ehr.client_id)
        db.session.add(
            ExportJob(
                id="00000000-0000-0000-0000-000000000001",
                client_id=client.id,
                request_url="x",
                types=["Patient"],
                transaction_time=utcnow(),
            )
        )
        db.session.commit()
    busy = fhir.get("/fhir/$export", **ASYNC)
    assert busy.status_code == 429


def test_files_belong_to_the_client_that_asked(world, fhir, app, rsa_key, ec_key, tmp_path):
    world.app.config["EXPORT_DIR"] = str(tmp_path / "exports")
    seed(world)
    kick = fhir.get("/fhir/$export?_type=Patient", **ASYNC)
    status_url = local(kick.headers["Content-Location"])
    manifest = wait_for(fhir, status_url).json
    other = Fhir(app, token_for(app, make_ehr(app, rsa_key, ec_key)))
    assert other.get(status_url).status_code == 404
    assert other.get(local(manifest["output"][0]["url"])).status_code == 404
    assert Fhir(app, None).get(local(manifest["output"][0]["url"])).status_code == 401
    assert fhir.delete(status_url).status_code == 202
    assert fhir.get(status_url).status_code == 404
    assert fhir.get(local(manifest["output"][0]["url"])).status_code == 404
    assert not any(p.is_file() for p in (tmp_path / "exports").rglob("*"))


def test_scope_must_cover_every_exported_type(world, app, rsa_key, ec_key):
    patients_only = make_ehr(app, rsa_key, ec_key, scopes=["system/Patient.rs"])
    api = Fhir(app, token_for(app, patients_only, "system/Patient.rs"))
    assert api.get("/fhir/$export", **ASYNC).status_code == 403


def test_exported_resources_equal_the_reads(world, fhir, tmp_path):
    """The export maps plain result rows, the reads ORM rows: both must give the same
    resources, for a corrected, a retracted, a prorated and an EHR-imported response."""
    from tests.fhir.test_ehr_ingest import loinc_phq9

    world.app.config["EXPORT_DIR"] = str(tmp_path / "exports")
    api, rows = seed(world)
    api.post(f"/api/v1/responses/{rows[0]['id']}/amend", json={"answers": [2] * 9, "reason": "x"})
    api.post(f"/api/v1/responses/{rows[1]['id']}/entered-in-error", json={"reason": "wrong form"})
    prorated = api.post(
        f"/api/v1/patients/{world.patient_1}/responses",
        json={
            "instrument": "pcl5",
            "answers": [2] * 12 + [1] * 6 + [None, None],
            "completed_at": "2026-02-03T09:00:00+00:00",
        },
    )
    assert prorated.status_code == 201 and prorated.json["prorated"] is True
    imported = fhir.post("/fhir/QuestionnaireResponse", loinc_phq9(world.patient_1, [1] * 9))
    assert imported.status_code == 201, imported.json
    kick = fhir.get("/fhir/$export?_type=Observation,QuestionnaireResponse", **ASYNC)
    manifest = wait_for(fhir, local(kick.headers["Content-Location"])).json
    assert {item["type"]: item["count"] for item in manifest["output"]} == {
        "Observation": 6,
        "QuestionnaireResponse": 6,
    }
    for item in manifest["output"]:
        lines = fhir.get(local(item["url"])).get_data(as_text=True).splitlines()
        for line in lines:
            exported = json.loads(line)
            read = fhir.get(f"/fhir/{item['type']}/{exported['id']}")
            assert read.status_code == 200
            assert exported == read.json
        statuses = sorted(json.loads(line)["status"] for line in lines)
        if item["type"] == "Observation":
            assert statuses == ["amended", "entered-in-error", "final", "final", "final", "final"]
