"""Fixtures for the FHIR tests: a registered EHR client with keys, and tokens."""

from __future__ import annotations

import base64
import json
import time
import uuid
from dataclasses import dataclass

import jwt
import pytest

from tracker.auth.clients import register_client
from tracker.extensions import db

TOKEN_URL = "http://localhost/api/v1/oauth/token"
ALL_SCOPES = ["system/*.rs", "system/QuestionnaireResponse.c"]


def public_jwks(rsa_key, ec_key) -> dict:
    rsa_jwk = json.loads(jwt.algorithms.RSAAlgorithm.to_jwk(rsa_key.public_key()))
    ec_jwk = json.loads(jwt.algorithms.ECAlgorithm.to_jwk(ec_key.public_key()))
    return {
        "keys": [
            rsa_jwk | {"kid": "rsa-1", "alg": "RS384"},
            ec_jwk | {"kid": "ec-1", "alg": "ES384"},
        ]
    }


@dataclass
class Ehr:
    client_id: str
    secret: str
    rsa_key: object
    ec_key: object

    def assertion(
        self, aud: str = TOKEN_URL, alg: str = "RS384", exp_in: int = 240, jti: str | None = None
    ) -> str:
        key, kid = (self.rsa_key, "rsa-1") if alg.startswith("RS") else (self.ec_key, "ec-1")
        now = int(time.time())
        claims = {
            "iss": self.client_id,
            "sub": self.client_id,
            "aud": aud,
            "exp": now + exp_in,
            "jti": jti or uuid.uuid4().hex,
        }
        return jwt.encode(claims, key, algorithm=alg, headers={"kid": kid})


def make_ehr(app, rsa_key, ec_key, scopes=ALL_SCOPES) -> Ehr:
    from tracker.auth import smart

    with app.app_context():
        client, secret = register_client(
            "Synthetic EHR", list(scopes), smart.parse_jwks(public_jwks(rsa_key, ec_key))
        )
        db.session.commit()
        return Ehr(client.client_id, secret, rsa_key, ec_key)


@pytest.fixture
def ehr(app, rsa_key, ec_key) -> Ehr:
    return make_ehr(app, rsa_key, ec_key)


def token_for(app, ehr: Ehr, scope: str = "system/*.rs system/QuestionnaireResponse.c") -> str:
    basic = base64.b64encode(f"{ehr.client_id}:{ehr.secret}".encode()).decode()
    response = app.test_client().post(
        "/api/v1/oauth/token",
        data={"grant_type": "client_credentials", "scope": scope},
        headers={"Authorization": f"Basic {basic}"},
    )
    assert response.status_code == 200, response.json
    return response.json["access_token"]


class Fhir:
    """A test client that sends the bearer token and reads FHIR JSON."""

    def __init__(self, app, token: str | None):
        self.client = app.test_client()
        self.headers = {"Authorization": f"Bearer {token}"} if token else {}

    def get(self, url: str, **headers):
        return self.client.get(url, headers={**self.headers, **headers})

    def post(self, url: str, body=None, content_type="application/fhir+json", **headers):
        data = body if isinstance(body, str | bytes) else json.dumps(body)
        return self.client.post(
            url, data=data, content_type=content_type, headers={**self.headers, **headers}
        )

    def delete(self, url: str):
        return self.client.delete(url, headers=self.headers)


@pytest.fixture
def fhir(app, ehr) -> Fhir:
    return Fhir(app, token_for(app, ehr))
