"""SMART Backend Services at the token endpoint: every case of docs/fhir.md's conformance table.

The table in docs/fhir.md ("SMART Backend Services conformance") is the promise; CASES
below is how each row is sent. The first test checks that the two list the same cases
with the same answers, the second sends each case over HTTP, on both databases.
"""

from __future__ import annotations

import base64
import re
import time
import uuid
from collections.abc import Callable
from pathlib import Path

import jwt
import pytest

from tests.fhir.conftest import TOKEN_URL, Ehr, make_ehr

FORM = "/api/v1/oauth/token"
DOC = Path(__file__).resolve().parents[2] / "docs/fhir.md"
JWT_BEARER = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"
SURVEY = "http://terminology.hl7.org/CodeSystem/observation-category|survey"


def signed(ehr: Ehr, *, key=None, alg="RS384", headers=None, **claims) -> str:
    """An assertion of ``ehr`` with ``claims`` changed (None removes a claim)."""
    now = int(time.time())
    body = {
        "iss": ehr.client_id,
        "sub": ehr.client_id,
        "aud": TOKEN_URL,
        "exp": now + 240,
        "jti": uuid.uuid4().hex,
    }
    body.update(claims)
    body = {k: v for k, v in body.items() if v is not None}
    kid = {"kid": "ec-1" if alg.startswith("ES") else "rsa-1"}
    if key is None:
        key = ehr.ec_key if alg.startswith("ES") else ehr.rsa_key
    return jwt.encode(body, key, algorithm=alg, headers=kid if headers is None else headers)


def with_assertion(assertion: str, scope: str = "system/Observation.rs", **extra) -> dict:
    return {
        "data": {
            "grant_type": "client_credentials",
            "scope": scope,
            "client_assertion_type": JWT_BEARER,
            "client_assertion": assertion,
            **extra,
        }
    }


def tampered(token: str) -> str:
    header, payload, signature = token.split(".")
    return ".".join([header, payload[:-2] + ("AA" if payload[-2:] != "AA" else "BB"), signature])


def replayed(ehr: Ehr, send: Callable[[dict], object]) -> dict:
    assertion = signed(ehr, jti="used-once")
    send(with_assertion(assertion))  # the first use is accepted
    return with_assertion(assertion)


def basic(ehr: Ehr, secret: str) -> dict:
    credentials = base64.b64encode(f"{ehr.client_id}:{secret}".encode()).decode()
    return {"Authorization": f"Basic {credentials}"}


# case -> (request builder(ehr, other client, send), expected answer as in the table)
CASES: dict[str, tuple[Callable, str]] = {
    "RS384 assertion with kid": (lambda e, o, s: with_assertion(signed(e)), "200"),
    "ES384 assertion with kid": (lambda e, o, s: with_assertion(signed(e, alg="ES384")), "200"),
    "client secret (HTTP Basic)": (
        lambda e, o, s: {
            "data": {"grant_type": "client_credentials", "scope": "system/Patient.rs"},
            "headers": basic(e, e.secret),
        },
        "200",
    ),
    "granular scope `system/Observation.rs?category=…|survey`": (
        lambda e, o, s: with_assertion(signed(e), scope=f"system/Observation.rs?category={SURVEY}"),
        "200",
    ),
    "assertion without `kid`": (
        lambda e, o, s: with_assertion(signed(e, headers={})),
        "401 invalid_client",
    ),
    "unknown `kid`": (
        lambda e, o, s: with_assertion(signed(e, headers={"kid": "rsa-9"})),
        "401 invalid_client",
    ),
    "signed by a key the client did not register": (
        lambda e, o, s: with_assertion(signed(e, key=o.rsa_key, headers={"kid": "rsa-1"})),
        "401 invalid_client",
    ),
    "payload changed after signing": (
        lambda e, o, s: with_assertion(tampered(signed(e))),
        "401 invalid_client",
    ),
    "RS256 (not RS384 or ES384)": (
        lambda e, o, s: with_assertion(signed(e, alg="RS256")),
        "401 invalid_client",
    ),
    "`alg: none`": (
        lambda e, o, s: with_assertion(
            jwt.encode({"iss": e.client_id}, None, algorithm="none", headers={"kid": "rsa-1"})
        ),
        "401 invalid_client",
    ),
    "expired assertion": (
        lambda e, o, s: with_assertion(signed(e, exp=int(time.time()) - 120)),
        "401 invalid_client",
    ),
    "`exp` more than 5 minutes ahead": (
        lambda e, o, s: with_assertion(signed(e, exp=int(time.time()) + 3600)),
        "401 invalid_client",
    ),
    "`aud` not this token endpoint": (
        lambda e, o, s: with_assertion(signed(e, aud="https://elsewhere.example/token")),
        "401 invalid_client",
    ),
    "`iss` different from `sub`": (
        lambda e, o, s: with_assertion(signed(e, sub=o.client_id)),
        "401 invalid_client",
    ),
    "no `jti`": (lambda e, o, s: with_assertion(signed(e, jti=None)), "401 invalid_client"),
    "replayed `jti`": (lambda e, o, s: replayed(e, s), "401 invalid_client"),
    "`client_id` parameter naming another client than `iss`": (
        lambda e, o, s: with_assertion(signed(e), client_id=o.client_id),
        "401 invalid_client",
    ),
    "unregistered `iss`": (
        lambda e, o, s: with_assertion(signed(e, iss="not-a-client", sub="not-a-client")),
        "401 invalid_client",
    ),
    "not a JWT": (lambda e, o, s: with_assertion("not.a.jwt"), "401 invalid_client"),
    "wrong client secret": (
        lambda e, o, s: {
            "data": {"grant_type": "client_credentials", "scope": "system/Patient.rs"},
            "headers": basic(e, "wrong-secret"),
        },
        "401 invalid_client",
    ),
    "no client authentication": (
        lambda e, o, s: {
            "data": {"grant_type": "client_credentials", "scope": "system/Patient.rs"}
        },
        "401 invalid_client",
    ),
    "no `grant_type`": (
        lambda e, o, s: {"data": {"scope": "system/Patient.rs"}},
        "400 invalid_request",
    ),
    "`grant_type=password`": (
        lambda e, o, s: {"data": {"grant_type": "password"}},
        "400 unsupported_grant_type",
    ),
    "JSON body instead of a form": (
        lambda e, o, s: {"json": {"grant_type": "client_credentials"}},
        "400 invalid_request",
    ),
    "a scope the client was not registered for": (
        lambda e, o, s: with_assertion(signed(o), scope="system/Observation.rs"),
        "400 invalid_scope",
    ),
    "an unknown scope": (
        lambda e, o, s: with_assertion(signed(e), scope="system/Medication.rs"),
        "400 invalid_scope",
    ),
    "granular scope with another category": (
        lambda e, o, s: with_assertion(
            signed(e),
            scope="system/Observation.rs?category="
            "http://terminology.hl7.org/CodeSystem/observation-category|laboratory",
        ),
        "400 invalid_scope",
    ),
}


def documented_cases() -> dict[str, str]:
    """The rows of the conformance table: case -> answer."""
    text = DOC.read_text(encoding="utf-8")
    section = text.split("## SMART Backend Services conformance", 1)[1].split("\n## ", 1)[0]
    rows = re.findall(r"^\| (.+?) \| (.+?) \|$", section, flags=re.MULTILINE)
    return {case: answer.replace("`", "") for case, answer in rows[2:]}


def test_the_table_in_the_docs_lists_exactly_these_cases():
    assert documented_cases() == {case: answer for case, (_, answer) in CASES.items()}


@pytest.mark.parametrize("case", list(CASES))
def test_each_case_gets_the_documented_answer(app, rsa_key, ec_key, case):
    from cryptography.hazmat.primitives.asymmetric import rsa

    ehr = make_ehr(app, rsa_key, ec_key)
    other_key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    other = make_ehr(app, other_key, ec_key, scopes=["system/Patient.rs"])
    client = app.test_client()

    def send(request: dict):  # type: ignore[no-untyped-def]
        return client.post(FORM, **request)

    build, expected = CASES[case]
    answer = send(build(ehr, other, send))
    status, _, error = expected.partition(" ")
    assert answer.status_code == int(status), answer.get_data(as_text=True)
    assert answer.headers["Cache-Control"] == "no-store"
    if error:
        assert answer.content_type == "application/json"
        assert answer.json["error"] == error
    else:
        assert answer.json["token_type"] == "bearer" and answer.json["expires_in"] == 300
