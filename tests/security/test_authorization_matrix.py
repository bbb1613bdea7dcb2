"""Every route × every kind of caller, checked against one declarative table.

The routes come from app.url_map, so a route added later without an entry in
POLICIES fails this test until someone decides who may call it.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import timedelta

import pytest
from flask import Flask

from tests.fhir.conftest import Fhir, make_ehr, token_for
from tests.fhir.test_ingest import phq9_resource
from tests.helpers import PASSWORD, login, submit
from tracker.auth.users import create_user
from tracker.extensions import db
from tracker.models import AccessToken, ExportJob, Patient
from tracker.models.types import utcnow

PRINCIPALS = (
    "anonymous",
    "patient_self",
    "patient_other",
    "clinician_team",
    "clinician_other",
    "admin",
    "client",
    "client_wrong_scope",
    "expired_token",
    "tampered_cookie",
)
OK = "ok"  # anything but 401/403/404 (e.g. 200, 201, 204, 409, 422) — never a 5xx
ANY = "any"  # public routes that authenticate their own callers (login, token): never a 5xx


@dataclass(frozen=True)
class Policy:
    """Expected answer per principal; principals not listed get `default`."""

    outcomes: dict[str, object]
    default: object

    def expect(self, principal: str) -> object:
        return self.outcomes.get(principal, self.default)


def policy(default: object, **outcomes: object) -> Policy:
    return Policy(outcomes, default)


UNAUTHENTICATED = {"anonymous": 401, "expired_token": 401, "tampered_cookie": 401}
USERS = dict.fromkeys(
    ("patient_self", "patient_other", "clinician_team", "clinician_other", "admin"), OK
)
PUBLIC = policy(OK)
SELF_AUTHENTICATING = policy(ANY)  # bad credentials are a 401 for everyone alike
ANY_USER = policy(OK, **UNAUTHENTICATED, client=403, client_wrong_scope=403)
ANY_CALLER = policy(OK, **UNAUTHENTICATED)  # users and API clients (public reference data)
STAFF = policy(403, **UNAUTHENTICATED, clinician_team=OK, clinician_other=OK, admin=OK)
ADMIN_ONLY = policy(403, **UNAUTHENTICATED, admin=OK)
# Patient-scoped (target: patient 1). Not visible → 404; visible but not allowed → 403.
PATIENT_READERS = policy(404, **UNAUTHENTICATED, patient_self=OK, clinician_team=OK, admin=OK)
PATIENT_CARERS = policy(404, **UNAUTHENTICATED, patient_self=403, clinician_team=OK, admin=OK)
ALERT_CARERS = policy(404, **UNAUTHENTICATED, patient_self=403, clinician_team=OK, admin=OK)
FHIR_USERS_FORBIDDEN = {**dict.fromkeys(USERS, 403), "admin": OK}
FHIR_READ = policy(OK, **UNAUTHENTICATED, **FHIR_USERS_FORBIDDEN, client_wrong_scope=403)
FHIR_PATIENT_READ = policy(OK, **UNAUTHENTICATED, **FHIR_USERS_FORBIDDEN)
FHIR_CREATE = policy(403, **UNAUTHENTICATED, client=OK)
FHIR_EXPORT = policy(OK, **UNAUTHENTICATED, **FHIR_USERS_FORBIDDEN, client_wrong_scope=403)
# Patient history is not kept (only the current version): 404 for whoever may read patients.
PATIENT_HISTORY_NOT_KEPT = policy(404, **UNAUTHENTICATED, **(FHIR_USERS_FORBIDDEN | {"admin": 404}))
# Export status and files belong to the client that started the export.
EXPORT_OWNER = policy(404, **UNAUTHENTICATED, client=OK)

# Pages: anonymous callers are sent to the login page; EHR tokens have no business there.
WEB_OUTSIDERS = {
    "anonymous": 302,
    "expired_token": 302,
    "tampered_cookie": 302,
    "client": 403,
    "client_wrong_scope": 403,
}
PATIENT_PAGE = policy(403, **WEB_OUTSIDERS, patient_self=OK, patient_other=OK)
PATIENT_OWN_RECORD_PAGE = policy(403, **WEB_OUTSIDERS, patient_self=OK, patient_other=404)
CLINIC_PAGE = policy(403, **WEB_OUTSIDERS, clinician_team=OK, clinician_other=OK, admin=OK)
CLINIC_PATIENT_PAGE = policy(
    404, **WEB_OUTSIDERS, patient_self=403, patient_other=403, clinician_team=OK, admin=OK
)
ANY_USER_PAGE = policy(OK, **WEB_OUTSIDERS)
# A questionnaire link's token is its only credential: an unknown one is 404 for everyone.
LINK_TOKEN = policy(404)

POLICIES: dict[tuple[str, str], Policy] = {
    ("GET", "/"): PUBLIC,  # redirects each caller to their start page
    ("GET", "/static/<path:filename>"): PUBLIC,
    ("GET", "/login"): PUBLIC,
    ("POST", "/login"): SELF_AUTHENTICATING,
    ("POST", "/logout"): ANY_USER_PAGE,
    ("GET", "/me"): PATIENT_PAGE,
    ("GET", "/me/history"): PATIENT_PAGE,
    ("GET", "/me/questionnaires/<instrument>"): PATIENT_PAGE,
    ("POST", "/me/questionnaires/<instrument>"): PATIENT_PAGE,
    ("GET", "/me/responses/<response_id>"): PATIENT_OWN_RECORD_PAGE,
    ("GET", "/clinic"): CLINIC_PAGE,
    ("GET", "/clinic/alerts"): CLINIC_PAGE,
    ("GET", "/clinic/due"): CLINIC_PAGE,
    ("POST", "/clinic/alerts/<alert_id>/acknowledge"): CLINIC_PATIENT_PAGE,
    ("GET", "/clinic/patients/<patient_id>"): CLINIC_PATIENT_PAGE,
    ("GET", "/clinic/patients/<patient_id>/series/new"): CLINIC_PATIENT_PAGE,
    ("POST", "/clinic/patients/<patient_id>/series"): CLINIC_PATIENT_PAGE,
    ("GET", "/clinic/responses/<response_id>"): CLINIC_PATIENT_PAGE,
    ("POST", "/clinic/responses/<response_id>/amend"): CLINIC_PATIENT_PAGE,
    ("POST", "/clinic/responses/<response_id>/entered-in-error"): CLINIC_PATIENT_PAGE,
    ("GET", "/clinic/series/<series_id>"): CLINIC_PATIENT_PAGE,
    ("POST", "/clinic/series/<series_id>/end"): CLINIC_PATIENT_PAGE,
    ("POST", "/clinic/series/<series_id>/plan"): CLINIC_PATIENT_PAGE,
    ("POST", "/clinic/series/<series_id>/sessions"): CLINIC_PATIENT_PAGE,
    ("GET", "/api/v1/openapi.json"): PUBLIC,
    ("GET", "/api/v1/docs"): PUBLIC,
    ("GET", "/api/v1/docs/static/<path:filename>"): PUBLIC,
    ("POST", "/api/v1/auth/login"): SELF_AUTHENTICATING,
    ("POST", "/api/v1/oauth/token"): SELF_AUTHENTICATING,
    ("GET", "/q/<token>"): LINK_TOKEN,
    ("POST", "/q/<token>"): LINK_TOKEN,
    ("GET", "/api/v1/links/<token>"): LINK_TOKEN,
    ("POST", "/api/v1/links/<token>/responses"): LINK_TOKEN,
    ("GET", "/fhir/metadata"): PUBLIC,
    ("GET", "/fhir/.well-known/smart-configuration"): PUBLIC,
    ("POST", "/api/v1/auth/logout"): ANY_USER,
    ("GET", "/api/v1/auth/me"): ANY_USER,
    ("GET", "/api/v1/instruments"): ANY_CALLER,
    ("GET", "/api/v1/instruments/<string:code>"): ANY_CALLER,
    ("POST", "/api/v1/patients"): STAFF,
    ("GET", "/api/v1/patients"): STAFF,
    ("GET", "/api/v1/alerts"): STAFF,
    ("GET", "/api/v1/outcomes/<instrument>"): STAFF,
    ("GET", "/api/v1/audit-events"): ADMIN_ONLY,
    ("GET", "/api/v1/notifications"): ADMIN_ONLY,
    ("GET", "/api/v1/patients/<patient_id>"): PATIENT_READERS,
    ("PATCH", "/api/v1/patients/<patient_id>"): PATIENT_CARERS,
    ("POST", "/api/v1/patients/<patient_id>/care-team"): PATIENT_CARERS,
    ("POST", "/api/v1/patients/<patient_id>/responses"): PATIENT_READERS,
    ("GET", "/api/v1/patients/<patient_id>/responses"): PATIENT_READERS,
    ("POST", "/api/v1/patients/<patient_id>/series"): PATIENT_CARERS,
    ("GET", "/api/v1/patients/<patient_id>/series"): PATIENT_READERS,
    ("GET", "/api/v1/patients/<patient_id>/trends/<instrument>"): PATIENT_READERS,
    ("GET", "/api/v1/patients/<patient_id>/trends/<instrument>.svg"): PATIENT_READERS,
    ("GET", "/api/v1/responses/<response_id>"): PATIENT_READERS,
    ("POST", "/api/v1/responses/<response_id>/amend"): PATIENT_CARERS,
    ("POST", "/api/v1/responses/<response_id>/entered-in-error"): PATIENT_CARERS,
    ("GET", "/api/v1/series/<series_id>"): PATIENT_READERS,
    ("PATCH", "/api/v1/series/<series_id>"): PATIENT_CARERS,
    ("POST", "/api/v1/series/<series_id>/sessions"): PATIENT_CARERS,
    ("GET", "/api/v1/patients/<patient_id>/due"): PATIENT_READERS,
    ("GET", "/api/v1/due"): STAFF,
    ("GET", "/api/v1/measurement-plans"): STAFF,
    ("GET", "/api/v1/measurement-plans/<plan_id>"): STAFF,
    ("POST", "/api/v1/measurement-plans"): ADMIN_ONLY,
    ("POST", "/api/v1/measurement-plans/<plan_id>/retire"): ADMIN_ONLY,
    ("GET", "/healthz"): PUBLIC,
    ("GET", "/readyz"): PUBLIC,
    ("POST", "/api/v1/alerts/<alert_id>/acknowledge"): ALERT_CARERS,
    ("GET", "/fhir/Patient"): FHIR_PATIENT_READ,
    ("POST", "/fhir/Patient/_search"): FHIR_PATIENT_READ,
    ("GET", "/fhir/Patient/<raw_id>"): FHIR_PATIENT_READ,
    ("GET", "/fhir/Observation"): FHIR_READ,
    ("POST", "/fhir/Observation/_search"): FHIR_READ,
    ("GET", "/fhir/Observation/<raw_id>"): FHIR_READ,
    ("GET", "/fhir/QuestionnaireResponse"): FHIR_READ,
    ("POST", "/fhir/QuestionnaireResponse/_search"): FHIR_READ,
    ("GET", "/fhir/QuestionnaireResponse/<raw_id>"): FHIR_READ,
    ("POST", "/fhir/QuestionnaireResponse"): FHIR_CREATE,
    ("GET", "/fhir/Questionnaire"): FHIR_READ,
    ("GET", "/fhir/Questionnaire/<code>"): FHIR_READ,
    ("GET", "/fhir/Observation/<raw_id>/_history"): FHIR_READ,
    ("GET", "/fhir/Observation/<raw_id>/_history/<raw_version>"): FHIR_READ,
    ("GET", "/fhir/QuestionnaireResponse/<raw_id>/_history"): FHIR_READ,
    ("GET", "/fhir/QuestionnaireResponse/<raw_id>/_history/<raw_version>"): FHIR_READ,
    ("GET", "/fhir/Patient/<raw_id>/_history/<raw_version>"): FHIR_PATIENT_READ,
    ("GET", "/fhir/Patient/<raw_id>/_history"): PATIENT_HISTORY_NOT_KEPT,
    ("GET", "/fhir/Provenance"): FHIR_READ,
    ("POST", "/fhir/Provenance/_search"): FHIR_READ,
    ("GET", "/fhir/Provenance/<raw_id>"): FHIR_READ,
    ("GET", "/fhir/$export"): FHIR_EXPORT,
    ("GET", "/fhir/Patient/$export"): FHIR_EXPORT,
    ("GET", "/fhir/$export-status/<job_id>"): EXPORT_OWNER,
    ("DELETE", "/fhir/$export-status/<job_id>"): EXPORT_OWNER,
    ("GET", "/fhir/$export-file/<job_id>/<name>"): EXPORT_OWNER,
}


def current_patient_version(app: Flask, patient_id: str) -> str:
    with app.app_context():
        version = db.session.get(Patient, int(patient_id)).version
        db.session.remove()
        return str(version)


def normalise(rule: str) -> str:
    """`<int(max=…):patient_id>` → `<patient_id>`; the instrument choice → `<instrument>`."""
    rule = re.sub(r"<(?:int\([^)]*\)|id):(\w+)>", r"<\1>", rule)
    rule = re.sub(r"<any\([^)]*\):code>", "<code>", rule)
    return re.sub(r"<(?:any\([^)]*\)|instrument):instrument>", "<instrument>", rule)


PLAN = {
    "name": "Matrix plan",
    "instruments": ["phq9"],
    "entries": [
        {"label": "Baseline", "anchor": "series_start", "offset_days": -7, "window_days": 7}
    ],
}


@dataclass
class Fixture:
    ids: dict[str, str]
    bodies: dict[tuple[str, str], dict]


def build(app: Flask, world, rsa_key, ec_key) -> tuple[Fixture, dict]:
    """Data for patient 1 (a response, series, alert, export job) and one client per principal."""
    with app.app_context():
        create_user("patient.two@example.test", PASSWORD, "patient", patient_id=world.patient_2)
        db.session.commit()
    clinician = world.as_clinician_a()
    response = submit(clinician, world.patient_1).json  # item 9 = 1: opens an alert
    series = clinician.post(
        f"/api/v1/patients/{world.patient_1}/series",
        json={"label": "Induction", "started_at": "2026-01-01T00:00:00Z"},
    ).json
    alert = world.as_admin().get("/api/v1/alerts").json["items"][0]
    plan = world.as_admin().post("/api/v1/measurement-plans", json=PLAN).json
    scoped = make_ehr(app, rsa_key, ec_key)
    wrong = make_ehr(app, rsa_key, ec_key, scopes=["system/Patient.rs"])
    scoped_token = token_for(app, scoped)
    expired_token = token_for(app, scoped)
    with app.app_context():
        from tracker.auth.clients import digest, find_client

        row = db.session.query(AccessToken).filter_by(token_hash=digest(expired_token)).one()
        row.expires_at = utcnow() - timedelta(seconds=1)
        job = ExportJob(
            id="00000000-0000-4000-8000-000000000001",
            client_id=find_client(scoped.client_id).id,
            state="completed",
            request_url="x",
            types=["Patient"],
            transaction_time=utcnow(),
            output=[{"type": "Patient", "file": "Patient.ndjson", "count": 0}],
        )
        db.session.add(job)
        db.session.commit()
        from pathlib import Path

        files = Path(app.config["EXPORT_DIR"]) / job.id
        files.mkdir(parents=True, exist_ok=True)
        (files / "Patient.ndjson").write_text("")
    admin = login(app, "admin@example.test")
    cookie = admin.client.get_cookie("session").value
    tampered = app.test_client()
    tampered.set_cookie("session", cookie[:-2] + ("AA" if cookie[-2:] != "AA" else "BB"))
    callers = {
        "anonymous": ("client", app.test_client(), {}),
        "patient_self": ("user", login(app, "patient.one@example.test"), {}),
        "patient_other": ("user", login(app, "patient.two@example.test"), {}),
        "clinician_team": ("user", login(app, "clinician.a@example.test"), {}),
        "clinician_other": ("user", login(app, "clinician.b@example.test"), {}),
        "admin": ("user", admin, {}),
        "client": ("bearer", Fhir(app, scoped_token), {}),
        "client_wrong_scope": ("bearer", Fhir(app, token_for(app, wrong, "system/Patient.rs")), {}),
        "expired_token": ("bearer", Fhir(app, expired_token), {}),
        "tampered_cookie": ("client", tampered, {}),
    }
    ids = {
        "patient_id": str(world.patient_1),
        "response_id": response["id"],
        "series_id": series["id"],
        "alert_id": alert["id"],
        "plan_id": plan["id"],
        "instrument": "phq9",
        "code": "phq9",
        "job_id": "00000000-0000-4000-8000-000000000001",
        "name": "Patient.ndjson",
        "filename": "swagger-ui.css",  # (for /assets a missing file is a plain 404)
        "token": "unknown-questionnaire-link-token-0000000000",
    }
    bodies = {
        ("POST", "/api/v1/auth/login"): {"email": "nobody@example.test", "password": "x" * 12},
        ("POST", "/api/v1/patients"): {"display_name": "Synthetic Matrix"},
        ("PATCH", "/api/v1/patients/<patient_id>"): {"display_name": "Synthetic Patient One"},
        ("POST", "/api/v1/patients/<patient_id>/care-team"): {
            "clinician_id": str(world.clinician_a_id)
        },
        ("POST", "/api/v1/patients/<patient_id>/responses"): {
            "instrument": "gad7",
            "answers": [0] * 7,
            "completed_at": "2026-03-01T09:30:00Z",
        },
        ("POST", "/api/v1/patients/<patient_id>/series"): {
            "label": "Booster",
            "started_at": "2026-02-01T00:00:00Z",
        },
        ("POST", "/api/v1/responses/<response_id>/amend"): {"answers": [0] * 9, "reason": "r"},
        ("POST", "/api/v1/responses/<response_id>/entered-in-error"): {"reason": "r"},
        ("PATCH", "/api/v1/series/<series_id>"): {"notes": "checked"},
        ("POST", "/api/v1/series/<series_id>/sessions"): {
            "administered_at": "2026-01-02T00:00:00Z"
        },
        ("POST", "/api/v1/alerts/<alert_id>/acknowledge"): {},
        ("POST", "/api/v1/measurement-plans"): PLAN,
        ("POST", "/fhir/QuestionnaireResponse"): phq9_resource(world.patient_1, [0] * 9),
    }
    return Fixture(ids, bodies), callers


def call(caller: tuple, method: str, url: str, body: dict | None, rule: str):
    kind, client, _ = caller
    if rule.endswith("/_search") or rule == "/api/v1/oauth/token":
        form = "patient=1" if rule.endswith("/_search") else "grant_type=client_credentials"
        headers = {"Content-Type": "application/x-www-form-urlencoded"}
        if kind == "user":
            headers["X-CSRF-Token"] = client.csrf
            client = client.client
        elif kind == "bearer":
            headers.update(client.headers)
            client = client.client
        return client.open(url, method=method, data=form, headers=headers)
    headers = {"Prefer": "respond-async"} if "$export" in url and method == "GET" else {}
    if kind == "user":
        if method in ("POST", "PATCH", "DELETE"):
            headers["X-CSRF-Token"] = client.csrf
        client = client.client
    elif kind == "bearer":
        headers.update(client.headers)
        client = client.client
    if rule == "/fhir/QuestionnaireResponse" and method == "POST":
        import json

        return client.open(
            url,
            method=method,
            data=json.dumps(body),
            content_type="application/fhir+json",
            headers=headers,
        )
    if body is not None:
        return client.open(url, method=method, json=body, headers=headers)
    return client.open(url, method=method, headers=headers)


def test_every_route_for_every_principal(app, world, rsa_key, ec_key, capsys, tmp_path):
    app.config["EXPORT_DIR"] = str(tmp_path / "exports")
    app.config["PATIENT_HISTORY_ENABLED"] = True
    fixture, callers = build(app, world, rsa_key, ec_key)
    rules = sorted(
        (
            (method, rule.rule)
            for rule in app.url_map.iter_rules()
            for method in rule.methods - {"HEAD", "OPTIONS"}
        ),
        # Calls that end something (a session, an export) go last.
        key=lambda pair: (
            pair[1] in ("/api/v1/auth/logout", "/logout") or pair[0] == "DELETE",
            pair,
        ),
    )
    missing = [(m, r) for m, r in rules if (m, normalise(r)) not in POLICIES]
    assert not missing, f"routes without an authorisation policy: {missing}"
    failures = []
    checked = 0
    for principal in PRINCIPALS:
        for method, rule in rules:
            key = (method, normalise(rule))
            ids = dict(
                fixture.ids,
                raw_id=fixture.ids[
                    "patient_id" if rule.startswith("/fhir/Patient/") else "response_id"
                ]
                + ("-1" if rule.startswith("/fhir/Provenance/") else ""),  # its first version
                # Observations keep every version; a Patient only its current one.
                raw_version=current_patient_version(app, fixture.ids["patient_id"])
                if rule.startswith("/fhir/Patient/")
                else "1",
                filename="app.css" if rule.startswith("/static/") else "swagger-ui.css",
            )
            rule_with_choices = re.sub(
                r"<(?:any\([^)]*\)|instrument):(instrument|code)>", "phq9", rule
            )
            url = re.sub(
                r"<(?:[^:>]+:)?(\w+)>", lambda m, ids=ids: ids[m.group(1)], rule_with_choices
            )
            response = call(callers[principal], method, url, fixture.bodies.get(key), rule)
            expected = POLICIES[key].expect(principal)
            status = response.status_code
            checked += 1
            if status >= 500:
                failures.append((principal, method, rule, expected, status))
            elif expected == ANY:
                pass
            elif (
                expected == OK
                and status in (401, 403, 404)
                or expected != OK
                and status != expected
            ):
                failures.append((principal, method, rule, expected, status))
    with capsys.disabled():
        print(
            f"\nauthorisation matrix: {len(rules)} routes × {len(PRINCIPALS)} principals"
            f" = {checked} calls"
        )
    assert not failures, "\n".join(map(str, failures))


def test_public_routes_are_listed_explicitly():
    public = sorted(
        rule for (method, rule), p in POLICIES.items() if p in (PUBLIC, SELF_AUTHENTICATING)
    )
    assert public == sorted(
        [
            "/healthz",
            "/readyz",
            "/api/v1/openapi.json",
            "/api/v1/docs",
            "/api/v1/docs/static/<path:filename>",
            "/",
            "/static/<path:filename>",
            "/login",
            "/login",
            "/api/v1/auth/login",
            "/api/v1/oauth/token",
            "/fhir/metadata",
            "/fhir/.well-known/smart-configuration",
        ]
    )


@pytest.mark.parametrize("principal", PRINCIPALS)
def test_policy_table_names_known_principals(principal):
    for policy_ in POLICIES.values():
        assert policy_.expect(principal) in (OK, ANY, 302, 401, 403, 404)
