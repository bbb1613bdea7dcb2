"""FHIR conformance points found with outside clients (issue 16), on both databases.

Conditional reads by date, the formats the server offers, _summary=count, ignored
result parameters, and the Bulk Data kick-off and manifest edge cases.
"""

from __future__ import annotations

from datetime import timedelta
from email.utils import format_datetime

from tests.fhir.test_bulk_export import ASYNC, local, wait_for
from tests.fhir.test_fhir_api import seed
from tests.fhir_checks import assert_valid


def test_if_modified_since_answers_304_until_the_resource_changes(world, fhir):
    api, rows = seed(world)
    url = f"/fhir/Observation/{rows[0]['id']}"
    read = fhir.get(url)
    last_modified = read.headers["Last-Modified"]
    assert fhir.get(url, **{"If-Modified-Since": last_modified}).status_code == 304
    # A date one second before the change: modified since.
    from werkzeug.http import parse_date

    earlier = format_datetime(parse_date(last_modified) - timedelta(seconds=1), usegmt=True)
    assert fhir.get(url, **{"If-Modified-Since": earlier}).status_code == 200
    # If-None-Match decides when both are sent (RFC 9110): a stale tag is a 200.
    both = fhir.get(url, **{"If-Modified-Since": last_modified, "If-None-Match": 'W/"9"'})
    assert both.status_code == 200
    api.post(f"/api/v1/responses/{rows[0]['id']}/amend", json={"answers": [1] * 9, "reason": "r"})
    changed = fhir.get(url, **{"If-Modified-Since": "Sun, 01 Jan 2090 00:00:00 GMT"})
    assert changed.status_code == 304  # a date after the change
    assert fhir.get(url, **{"If-Modified-Since": "not a date"}).status_code == 200


def test_xml_is_not_offered_so_it_is_406(world, fhir):
    seed(world)
    for headers, query in (
        ({"Accept": "application/fhir+xml"}, ""),
        ({"Accept": "application/xml, text/xml"}, ""),
        ({}, "?_format=xml"),
        ({}, "?_format=application/fhir+xml"),
    ):
        answer = fhir.get(f"/fhir/Patient/{world.patient_1}{query}", **headers)
        assert answer.status_code == 406, (headers, query)
        assert answer.json["resourceType"] == "OperationOutcome"
    for accept in ("application/fhir+json", "application/json", "*/*", "application/*"):
        assert fhir.get(f"/fhir/Patient/{world.patient_1}", Accept=accept).status_code == 200
    assert fhir.get(f"/fhir/Patient/{world.patient_1}?_format=json").status_code == 200


def test_summary_count_and_ignored_elements(world, fhir):
    seed(world)
    counted = fhir.get(f"/fhir/Observation?patient={world.patient_1}&_summary=count").json
    assert_valid(counted)
    assert counted["total"] == 4 and "entry" not in counted
    (self_link,) = [link["url"] for link in counted["link"] if link["relation"] == "self"]
    assert "_summary=count" in self_link and "_count=" not in self_link
    # _elements would change the resources' shape: ignored with a warning, not echoed.
    bundle = fhir.get(f"/fhir/Observation?patient={world.patient_1}&_elements=code").json
    (self_link,) = [link["url"] for link in bundle["link"] if link["relation"] == "self"]
    assert "_elements" not in self_link
    outcomes = [e for e in bundle["entry"] if e["search"]["mode"] == "outcome"]
    assert "_elements" in outcomes[0]["resource"]["issue"][0]["diagnostics"]
    assert len([e for e in bundle["entry"] if e["search"]["mode"] == "match"]) == 4
    # _summary=true would also change the shape: a warning, or 400 when strict.
    lenient = fhir.get(f"/fhir/Observation?patient={world.patient_1}&_summary=true").json
    assert any(e["search"]["mode"] == "outcome" for e in lenient["entry"])
    strict = fhir.get(
        f"/fhir/Observation?patient={world.patient_1}&_summary=true", Prefer="handling=strict"
    )
    assert strict.status_code == 400


def test_a_second_kick_off_says_when_to_retry_and_an_empty_export_lists_nothing(
    world, fhir, tmp_path
):
    world.app.config["EXPORT_DIR"] = str(tmp_path / "exports")
    seed(world)
    future = "2090-01-01T00:00:00Z"
    kick = fhir.get(f"/fhir/$export?_type=Observation&_since={future}", **ASYNC)
    assert kick.status_code == 202
    again = fhir.get("/fhir/$export?_type=Observation", **ASYNC)
    if again.status_code == 429:  # the first may already have finished
        assert int(again.headers["Retry-After"]) > 0
    done = wait_for(fhir, local(kick.headers["Content-Location"]))
    assert done.status_code == 200
    assert done.json["output"] == []  # nothing changed after _since: no empty files


def test_patient_export_is_declared_on_the_patient_resource(app):
    statement = app.test_client().get("/fhir/metadata").json
    assert_valid(statement)
    (patient,) = [r for r in statement["rest"][0]["resource"] if r["type"] == "Patient"]
    assert patient["operation"] == [
        {
            "name": "export",
            "definition": "http://hl7.org/fhir/uv/bulkdata/OperationDefinition/patient-export",
        }
    ]
