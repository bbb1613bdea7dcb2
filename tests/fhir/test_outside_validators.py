"""Every resource the FHIR endpoints emit, checked by validators this project did not write.

The demo clinic plus a synthetic clinic of 100 patients are loaded; then, as an
EHR would, the test reads the CapabilityStatement and the Questionnaires, pages
through every search the CapabilityStatement declares, reads resources one by
one (and their versions where history is declared), provokes OperationOutcomes,
and runs a full Bulk Data export. Everything it received goes through
tests/fhir/validate_fhir.cjs: Medplum's validator against the HL7 R4 definitions
and the US Core profiles, and the HL7 R4 JSON schema with Ajv (docs/fhir.md,
"Validation"). One error fails the test.

Node and the npm packages pinned in tests/package.json are needed. `.ci/run`
installs them (`npm ci --prefix tests`) and sets TRACKER_REQUIRE_NODE=1, under
which a missing Node is a failure; elsewhere the test is skipped without Node
and installs the packages itself into a cache directory keyed by the lock file.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
import time
from datetime import UTC, datetime
from pathlib import Path
from urllib.parse import urlsplit

import pytest

from tests.fhir.conftest import Fhir, make_ehr, token_for
from tracker.demo import load_demo
from tracker.synth import generate

TESTS = Path(__file__).resolve().parent.parent
SCRIPT = Path(__file__).with_name("validate_fhir.cjs")
REQUIRE_NODE = os.environ.get("TRACKER_REQUIRE_NODE") == "1"
ASYNC = {"Prefer": "respond-async", "Accept": "application/fhir+json"}
# Fixed so the synthetic clinic is the same on every run.
SYNTH_END = datetime(2026, 11, 1, tzinfo=UTC)
# Every Nth resource found by search is also read on its own (all Patients are):
# a read builds the resource with the same mapping as the search page that listed it.
READ_EVERY = 7
# Versions, histories and _revinclude are asked for this many resources of each type.
HISTORY_SAMPLE = 25


def _fail_or_skip(message: str) -> None:
    if REQUIRE_NODE:
        pytest.fail(message + " and TRACKER_REQUIRE_NODE=1", pytrace=False)
    pytest.skip(message)


def _lock_is_installed(modules: Path, lock: Path) -> bool:
    """npm ci leaves node_modules/.package-lock.json equal in packages to the lock."""
    hidden = modules / ".package-lock.json"
    if not hidden.is_file():
        return False
    wanted = json.loads(lock.read_text())["packages"]
    have = json.loads(hidden.read_text())["packages"]
    return all(
        have.get(name, {}).get("version") == info.get("version")
        for name, info in wanted.items()
        if name.startswith("node_modules/")
    )


@pytest.fixture(scope="session")
def node_modules() -> Path:
    """The validators' node_modules: tests/node_modules when `npm ci --prefix tests` ran,
    else a cache directory keyed by the lock file, filled by `npm ci` once."""
    if shutil.which("node") is None or shutil.which("npm") is None:
        _fail_or_skip("Node.js and npm are not installed")
    lock = TESTS / "package-lock.json"
    local = TESTS / "node_modules"
    if _lock_is_installed(local, lock):
        return local
    digest = hashlib.sha256(lock.read_bytes()).hexdigest()[:16]
    cache_home = Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache"))
    prefix = cache_home / "tracker" / f"fhir-validators-{digest}"
    modules = prefix / "node_modules"
    if not _lock_is_installed(modules, lock):
        prefix.mkdir(parents=True, exist_ok=True)
        shutil.copy(TESTS / "package.json", prefix / "package.json")
        shutil.copy(lock, prefix / "package-lock.json")
        result = subprocess.run(
            ["npm", "ci", "--no-audit", "--no-fund", "--prefix", str(prefix)],
            capture_output=True,
            text=True,
            timeout=600,
        )
        if result.returncode != 0:
            _fail_or_skip(f"npm ci failed: {result.stderr[-2000:]}")
    return modules


class Collector:
    """Requests like an EHR and keeps every JSON body it gets, labelled by request."""

    def __init__(self, fhir: Fhir) -> None:
        self.fhir = fhir
        self.items: list[dict] = []

    def keep(self, label: str, resource: dict) -> dict:
        self.items.append({"source": label, "resource": resource})
        return resource

    def get(self, url: str, expect: int = 200, **headers: str) -> dict:
        response = self.fhir.get(url, **headers)
        assert response.status_code == expect, (url, response.status_code, response.json)
        return self.keep(f"GET {url} -> {expect}", response.json)

    def search_all(self, url: str) -> list[dict]:
        """Follow next links to the end; return the matched resources."""
        found = []
        while url:
            bundle = self.get(url)
            found += [
                e["resource"] for e in bundle.get("entry", []) if e["search"]["mode"] == "match"
            ]
            nxt = [link["url"] for link in bundle.get("link", []) if link["relation"] == "next"]
            url = local(nxt[0]) if nxt else None
        return found


def local(url: str) -> str:
    parts = urlsplit(url)
    return parts.path + (f"?{parts.query}" if parts.query else "")


def collect_rest(c: Collector) -> dict[str, int]:
    """Metadata, Questionnaires, every declared search paged to the end, reads, errors."""
    statement = c.get("/fhir/metadata")
    counts: dict[str, int] = {}
    for declared in statement["rest"][0]["resource"]:
        kind = declared["type"]
        interactions = {i["code"] for i in declared.get("interaction", [])}
        if "search-type" not in interactions:
            continue
        first = c.fhir.get(f"/fhir/{kind}?_count=50")
        if first.status_code == 400:  # a search that needs a parameter (Provenance: target)
            c.keep(f"GET /fhir/{kind} -> 400", first.json)
            continue
        found = c.search_all(f"/fhir/{kind}?_count=50")
        counts[kind] = len(found)
        every = 1 if kind in {"Patient", "Questionnaire"} else READ_EVERY
        for number, resource in enumerate(found[::every]):
            if "read" in interactions:
                c.get(f"/fhir/{kind}/{resource['id']}")
            if number >= HISTORY_SAMPLE:
                continue
            version = resource.get("meta", {}).get("versionId")
            if "vread" in interactions and version:
                c.get(f"/fhir/{kind}/{resource['id']}/_history/{version}")
            if "history-instance" in interactions:
                c.get(f"/fhir/{kind}/{resource['id']}/_history")
        for revinclude in declared.get("searchRevInclude", []):
            for resource in found[:HISTORY_SAMPLE]:
                c.search_all(f"/fhir/{kind}?_id={resource['id']}&_revinclude={revinclude}")
    # Searches the way EHRs ask (US Core's SHALL combinations), with POST too.
    patient = c.search_all("/fhir/Patient?_count=1")[0]["id"]
    survey = "http://terminology.hl7.org/CodeSystem/observation-category|survey"
    c.search_all(f"/fhir/Observation?patient={patient}&category={survey}&_count=5")
    c.search_all(f"/fhir/Observation?patient=Patient/{patient}&code=http://loinc.org|44261-6")
    c.search_all(f"/fhir/Observation?patient={patient}&category=survey&date=ge2020-01-01")
    c.search_all(f"/fhir/QuestionnaireResponse?patient={patient}&_sort=-authored")
    posted = c.fhir.client.post(
        "/fhir/Observation/_search",
        data={"patient": patient, "_count": "3"},
        headers=c.fhir.headers,
    )
    assert posted.status_code == 200
    c.keep("POST /fhir/Observation/_search", posted.json)
    c.get("/fhir/Observation?_count=0")
    c.get("/fhir/Observation?_summary=count")
    # OperationOutcomes: warnings in a Bundle, and errors.
    c.get("/fhir/Observation?unknown-parameter=1&_count=2")
    c.get("/fhir/Observation/999999999", expect=404)
    c.get("/fhir/Observation?date=2026-13-01", expect=400)
    c.get("/fhir/Observation?date=ap2026-01-01", expect=400)
    c.get("/fhir/Observation?code:not=x", expect=400)
    c.get("/fhir/Observation?unknown=1", expect=400, Prefer="handling=strict")
    c.get("/fhir/Observation", expect=406, Accept="application/fhir+xml")
    c.get("/fhir/Nonsense", expect=404)
    anonymous = Fhir(c.fhir.client.application, None)
    response = anonymous.get("/fhir/Observation")
    assert response.status_code == 401
    c.keep("GET /fhir/Observation without a token -> 401", response.json)
    bad = c.fhir.post("/fhir/QuestionnaireResponse", {"resourceType": "QuestionnaireResponse"})
    assert bad.status_code in (400, 422), bad.json
    c.keep("POST an empty QuestionnaireResponse", bad.json)
    return counts


def collect_export(c: Collector, timeout: float = 300.0) -> dict[str, int]:
    """A full Bulk Data export; every NDJSON line is kept."""
    kick = c.fhir.get("/fhir/Patient/$export", **ASYNC)
    assert kick.status_code == 202, kick.json
    status_url = local(kick.headers["Content-Location"])
    deadline = time.monotonic() + timeout
    while (response := c.fhir.get(status_url)).status_code == 202:
        assert time.monotonic() < deadline, "export did not finish"
        time.sleep(0.2)
    assert response.status_code == 200, response.json
    manifest = response.json
    assert manifest["error"] == []
    counts = {}
    for item in manifest["output"]:
        file = c.fhir.get(local(item["url"]))
        assert file.status_code == 200
        lines = file.get_data(as_text=True).splitlines()
        assert len(lines) == item["count"]
        counts[item["type"]] = counts.get(item["type"], 0) + len(lines)
        for number, line in enumerate(lines, 1):
            c.keep(f"export {item['type']} line {number}", json.loads(line))
    return counts


def run_validators(node_modules: Path, ndjson: Path) -> dict:
    result = subprocess.run(
        ["node", str(SCRIPT), str(node_modules), str(ndjson)],
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert result.returncode in (0, 1), result.stderr[-4000:]
    return json.loads(result.stdout)


def test_every_emitted_resource_passes_outside_validators(
    app, rsa_key, ec_key, node_modules, tmp_path
):
    app.config["EXPORT_DIR"] = str(tmp_path / "exports")
    with app.app_context():
        load_demo()
        generate(100, seed=0, end=SYNTH_END)
    ehr = make_ehr(app, rsa_key, ec_key)
    collector = Collector(Fhir(app, token_for(app, ehr)))
    searched = collect_rest(collector)
    exported = collect_export(collector)
    # The export and the searches list the same resources.
    for kind, count in exported.items():
        assert searched.get(kind) == count, (kind, searched, exported)
    assert exported["Patient"] >= 100 and exported["Observation"] > 1000

    ndjson = tmp_path / "emitted.ndjson"
    with ndjson.open("w") as out:
        for item in collector.items:
            out.write(json.dumps(item) + "\n")
    summary = run_validators(node_modules, ndjson)
    assert summary["unique"] > exported["Observation"], summary["by_type"]
    assert summary["errors"] == [], json.dumps(summary["errors"][:20], indent=1)
