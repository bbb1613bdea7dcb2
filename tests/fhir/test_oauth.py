"""The token endpoint: SMART Backend Services assertions and client secrets, on both databases."""

from __future__ import annotations

import base64
import threading

from tests.fhir.conftest import TOKEN_URL, Fhir, make_ehr, token_for
from tests.helpers import audit_events, count
from tracker.models import AccessToken, AuditEvent

FORM = "/api/v1/oauth/token"


def post_token(app, **form):
    return app.test_client().post(FORM, data={"grant_type": "client_credentials", **form})


def test_signed_assertion_gets_a_300_second_token(app, ehr):
    for alg in ("RS384", "ES384"):
        response = post_token(
            app,
            scope="system/Observation.rs",
            client_assertion_type="urn:ietf:params:oauth:client-assertion-type:jwt-bearer",
            client_assertion=ehr.assertion(alg=alg),
        )
        assert response.status_code == 200, response.json
        body = response.json
        assert body["token_type"] == "bearer" and body["expires_in"] == 300
        assert body["scope"] == "system/Observation.rs"
        assert "refresh_token" not in body
        assert response.headers["Cache-Control"] == "no-store"
    tokens = count(app, AccessToken)
    assert tokens == 2
    issued = audit_events(app, AuditEvent.action == "token_issued")
    assert [(e.actor_type, e.actor_id) for e in issued] == [("client", ehr.client_id)] * 2


def test_replayed_or_misaddressed_assertion_is_invalid_client(app, ehr):
    assertion = ehr.assertion(jti="once-only")
    form = {
        "scope": "system/Observation.rs",
        "client_assertion_type": "urn:ietf:params:oauth:client-assertion-type:jwt-bearer",
    }
    assert post_token(app, client_assertion=assertion, **form).status_code == 200
    replay = post_token(app, client_assertion=assertion, **form)
    assert replay.status_code == 401 and replay.json["error"] == "invalid_client"
    wrong_aud = post_token(
        app, client_assertion=ehr.assertion(aud="https://evil.example/token"), **form
    )
    assert wrong_aud.status_code == 401
    too_long = post_token(app, client_assertion=ehr.assertion(exp_in=3600), **form)
    assert too_long.status_code == 401
    rs256 = post_token(app, client_assertion=ehr.assertion(alg="RS256"), **form)
    assert rs256.status_code == 401
    assert count(app, AccessToken) == 1


def test_concurrent_replays_of_one_assertion_get_one_token(app, ehr):
    assertion = ehr.assertion()
    form = {
        "scope": "system/Observation.rs",
        "client_assertion": assertion,
        "client_assertion_type": "urn:ietf:params:oauth:client-assertion-type:jwt-bearer",
    }
    statuses: list[int] = []
    barrier = threading.Barrier(5)

    def attempt() -> None:
        barrier.wait()
        statuses.append(post_token(app, **form).status_code)

    threads = [threading.Thread(target=attempt) for _ in range(5)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    assert sorted(statuses) == [200, 401, 401, 401, 401]
    assert count(app, AccessToken) == 1


def test_client_secret_by_basic_or_form(app, ehr):
    basic = base64.b64encode(f"{ehr.client_id}:{ehr.secret}".encode()).decode()
    by_basic = app.test_client().post(
        FORM,
        data={"grant_type": "client_credentials", "scope": "system/Patient.read"},
        headers={"Authorization": f"Basic {basic}"},
    )
    assert by_basic.status_code == 200
    assert by_basic.json["scope"] == "system/Patient.rs"  # v1 spelling accepted
    by_form = post_token(
        app, scope="system/Patient.rs", client_id=ehr.client_id, client_secret=ehr.secret
    )
    assert by_form.status_code == 200
    wrong = post_token(
        app, scope="system/Patient.rs", client_id=ehr.client_id, client_secret="nope"
    )
    unknown = post_token(
        app, scope="system/Patient.rs", client_id="nobody", client_secret=ehr.secret
    )
    assert wrong.status_code == unknown.status_code == 401
    assert wrong.json == unknown.json


def test_scope_and_grant_errors(app, rsa_key, ec_key):
    narrow = make_ehr(app, rsa_key, ec_key, scopes=["system/Patient.rs"])
    refused = post_token(
        app, scope="system/Observation.rs", client_id=narrow.client_id, client_secret=narrow.secret
    )
    assert refused.status_code == 400 and refused.json["error"] == "invalid_scope"
    grant = app.test_client().post(FORM, data={"grant_type": "password"})
    assert grant.status_code == 400 and grant.json["error"] == "unsupported_grant_type"
    # Errors of the token endpoint are OAuth error objects (RFC 6749 §5.2), never problem+json.
    as_json = app.test_client().post(FORM, json={"grant_type": "client_credentials"})
    assert as_json.status_code == 400 and as_json.content_type == "application/json"
    assert as_json.json["error"] == "invalid_request"
    no_grant = app.test_client().post(FORM, data={"scope": "system/Patient.rs"})
    assert no_grant.status_code == 400 and no_grant.json["error"] == "invalid_request"
    nothing = post_token(app, scope="system/Patient.rs")
    assert nothing.status_code == 401


def test_expired_token_is_refused(app, ehr):
    from tracker.extensions import db
    from tracker.models.types import utcnow

    token = token_for(app, ehr, "system/Patient.rs")
    api = Fhir(app, token)
    assert api.get("/fhir/Patient").status_code == 200
    with app.app_context():
        for row in db.session.query(AccessToken).all():
            row.expires_at = utcnow()
        db.session.commit()
    expired = api.get("/fhir/Patient")
    assert expired.status_code == 401
    assert expired.json["resourceType"] == "OperationOutcome"
    assert TOKEN_URL.endswith("/api/v1/oauth/token")


def test_a_client_id_beside_the_assertion_must_name_the_same_client(app, ehr, rsa_key, ec_key):
    other = make_ehr(app, rsa_key, ec_key)
    form = {
        "scope": "system/Observation.rs",
        "client_assertion_type": "urn:ietf:params:oauth:client-assertion-type:jwt-bearer",
    }
    mismatch = post_token(app, client_assertion=ehr.assertion(), client_id=other.client_id, **form)
    assert mismatch.status_code == 401 and mismatch.json["error"] == "invalid_client"
    same = post_token(app, client_assertion=ehr.assertion(), client_id=ehr.client_id, **form)
    assert same.status_code == 200
    assert count(app, AccessToken) == 1
