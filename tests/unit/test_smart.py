"""Tests for tracker.auth.smart: client assertions, registered JWKS, SMART system scopes.

Assertions are signed here with real keys (RSA-2048 for RS384, P-384 for ES384) and checked
against fixed instants far from the real clock, so any use of the wall clock in the module
under test makes these tests fail. Attack tokens PyJWT refuses to produce (alg "none", HS384
keyed with the public PEM) are assembled by hand.
"""

from __future__ import annotations

import ast
import base64
import contextlib
import hashlib
import hmac
import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import jwt
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from jwt.algorithms import ECAlgorithm, RSAAlgorithm

import tracker.auth.smart as smart
from tracker.auth.smart import (
    ALLOWED_ALGORITHMS,
    CLOCK_SKEW,
    MAX_ASSERTION_LIFETIME,
    SUPPORTED_RESOURCES,
    InvalidClient,
    InvalidJwks,
    InvalidScope,
    VerifiedAssertion,
    grant_scopes,
    normalise_scope,
    parse_jwks,
    permits,
    unverified_client_id,
    verify_client_assertion,
)

CLIENT = "ehr-integration-7"
TOKEN_URL = "https://tracker.example.org/api/v1/oauth/token"
# Deliberately far from today, in both directions, so a real-clock check cannot pass.
NOW = datetime(2031, 3, 14, 9, 26, 53, tzinfo=UTC)
PAST_NOW = datetime(2001, 9, 9, 1, 46, 40, tzinfo=UTC)
DROP = object()  # marks a claim to leave out


# --------------------------------------------------------------------------------------
# Keys and helpers
# --------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def rsa_key() -> rsa.RSAPrivateKey:
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


@pytest.fixture(scope="module")
def ec_key() -> ec.EllipticCurvePrivateKey:
    return ec.generate_private_key(ec.SECP384R1())


@pytest.fixture(scope="module")
def other_rsa_key() -> rsa.RSAPrivateKey:
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


def _public_jwk(private_key, kid: str | None, **extra) -> dict:
    public = private_key.public_key()
    algo = RSAAlgorithm if isinstance(public, rsa.RSAPublicKey) else ECAlgorithm
    jwk = algo.to_jwk(public, as_dict=True)
    jwk.pop("key_ops", None)
    if kid is not None:
        jwk["kid"] = kid
    jwk.update(extra)
    return jwk


@pytest.fixture(scope="module")
def jwks(rsa_key, ec_key) -> dict:
    """What the CLI would have stored for the client: one RSA key and one EC key."""
    return parse_jwks({"keys": [_public_jwk(rsa_key, "rsa-1"), _public_jwk(ec_key, "ec-1")]})


def _ts(moment: datetime, seconds: float = 0) -> int:
    return int(moment.timestamp() + seconds)


def _claims(now: datetime = NOW, **overrides) -> dict:
    claims = {
        "iss": CLIENT,
        "sub": CLIENT,
        "aud": TOKEN_URL,
        "exp": _ts(now, 240),
        "iat": _ts(now),
        "jti": "f3b0c1e2-8a1d-4c55-9a7e-5b2f6d0e9c11",
    }
    claims.update(overrides)
    return {k: v for k, v in claims.items() if v is not DROP}


def _sign(key, claims: dict, alg: str = "RS384", kid: str | None = "rsa-1", **headers) -> str:
    """Sign any claims, even ill-typed ones that jwt.encode would refuse to put in a token."""
    if kid is not None:
        headers["kid"] = kid
    payload = json.dumps(claims).encode()
    return jwt.api_jws.PyJWS().encode(
        payload, key, algorithm=alg, headers={"typ": "JWT", **headers}
    )


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _raw_token(header: dict, claims: dict, signature: bytes = b"") -> str:
    """A compact JWS built by hand, for tokens PyJWT would refuse to create."""
    head = _b64(json.dumps(header).encode())
    body = _b64(json.dumps(claims).encode())
    return f"{head}.{body}.{_b64(signature)}"


def _verify(token: str, jwks: dict, now: datetime = NOW, client_id: str = CLIENT):
    return verify_client_assertion(token, client_id, jwks, TOKEN_URL, now)


# --------------------------------------------------------------------------------------
# Interface and purity
# --------------------------------------------------------------------------------------


def test_constants_and_exception_types() -> None:
    assert ALLOWED_ALGORITHMS == ("RS384", "ES384")
    assert MAX_ASSERTION_LIFETIME.total_seconds() == 300
    assert CLOCK_SKEW.total_seconds() == 60
    assert SUPPORTED_RESOURCES == (
        "Patient",
        "Observation",
        "QuestionnaireResponse",
        "Questionnaire",
        "Provenance",
    )
    for exc in (InvalidClient, InvalidScope, InvalidJwks):
        assert issubclass(exc, ValueError)


def test_verified_assertion_is_frozen() -> None:
    va = VerifiedAssertion(client_id="c", jti="j", expires_at=NOW)
    with pytest.raises(AttributeError):
        va.jti = "other"  # type: ignore[misc]


def test_module_does_no_io_and_reads_no_clock() -> None:
    """No Flask, no database, no network, no time module: `now` is always a parameter."""
    tree = ast.parse(Path(smart.__file__).read_text(encoding="utf-8"))
    imported = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            imported |= {alias.name.split(".")[0] for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module:
            imported.add(node.module.split(".")[0])
    assert imported <= {
        "__future__",
        "json",
        "math",
        "re",
        "collections",
        "dataclasses",
        "datetime",
        "typing",
        "jwt",
        "cryptography",
    }, imported
    source = Path(smart.__file__).read_text(encoding="utf-8")
    assert ".now(" not in source and "utcnow" not in source and "PyJWKClient" not in source


# --------------------------------------------------------------------------------------
# verify_client_assertion: accepted
# --------------------------------------------------------------------------------------


@pytest.mark.parametrize("now", [NOW, PAST_NOW], ids=["2031", "2001"])
def test_rs384_assertion_is_accepted(rsa_key, jwks, now) -> None:
    claims = _claims(now)
    result = _verify(_sign(rsa_key, claims), jwks, now)
    assert result == VerifiedAssertion(
        client_id=CLIENT,
        jti=claims["jti"],
        expires_at=datetime.fromtimestamp(claims["exp"], tz=UTC) + CLOCK_SKEW,
    )
    assert result.expires_at.tzinfo is not None


@pytest.mark.parametrize("now", [NOW, PAST_NOW], ids=["2031", "2001"])
def test_es384_assertion_is_accepted(ec_key, jwks, now) -> None:
    claims = _claims(now)
    result = _verify(_sign(ec_key, claims, "ES384", "ec-1"), jwks, now)
    assert (result.client_id, result.jti) == (CLIENT, claims["jti"])


def test_aud_may_be_a_list_holding_the_token_url(rsa_key, jwks) -> None:
    token = _sign(rsa_key, _claims(aud=["https://other.example", TOKEN_URL]))
    assert _verify(token, jwks).client_id == CLIENT


def test_an_assertion_without_kid_is_refused_even_with_a_single_key(rsa_key, ec_key, jwks) -> None:
    # SMART Backend Services: kid is a required header of the client's assertion.
    for key, alg in ((rsa_key, "RS384"), (ec_key, "ES384")):
        with pytest.raises(InvalidClient, match="no kid"):
            _verify(_sign(key, _claims(), alg, kid=None), jwks)


def test_optional_claims_and_minimal_claims(rsa_key, jwks) -> None:
    # Only the five required claims; and nbf/iat right at the skew limit.
    assert _verify(_sign(rsa_key, _claims(iat=DROP)), jwks).jti
    at_limit = _ts(NOW, CLOCK_SKEW.total_seconds())
    assert _verify(_sign(rsa_key, _claims(iat=at_limit, nbf=at_limit)), jwks).jti


def test_exp_boundaries_use_now_and_the_skew(rsa_key, jwks) -> None:
    limit = MAX_ASSERTION_LIFETIME + CLOCK_SKEW  # 6 minutes ahead is the last accepted second
    latest = _ts(NOW, limit.total_seconds())
    assert _verify(_sign(rsa_key, _claims(exp=latest)), jwks).jti
    with pytest.raises(InvalidClient, match="five minutes"):
        _verify(_sign(rsa_key, _claims(exp=latest + 1)), jwks)
    # Expired up to the skew is still accepted; at exactly now - skew it is not.
    earliest = _ts(NOW, -CLOCK_SKEW.total_seconds())
    assert _verify(_sign(rsa_key, _claims(exp=earliest + 1)), jwks).jti
    with pytest.raises(InvalidClient, match="expired"):
        _verify(_sign(rsa_key, _claims(exp=earliest)), jwks)


def test_expires_at_covers_the_whole_window_the_assertion_is_accepted(rsa_key, jwks) -> None:
    """A jti forgotten at expires_at can no longer be replayed: it is refused as expired."""
    claims = _claims()
    result = _verify(_sign(rsa_key, claims), jwks)
    token = _sign(rsa_key, claims)
    with pytest.raises(InvalidClient, match="expired"):
        _verify(token, jwks, now=result.expires_at)
    assert _verify(token, jwks, now=result.expires_at - timedelta(seconds=1)).jti


def test_raw_jwks_document_is_accepted_too(rsa_key) -> None:
    token = _sign(rsa_key, _claims())
    raw = {"keys": [_public_jwk(rsa_key, "rsa-1", use="sig", alg="RS384")]}
    assert _verify(token, raw).client_id == CLIENT


# --------------------------------------------------------------------------------------
# verify_client_assertion: rejected
# --------------------------------------------------------------------------------------


def test_rs256_is_rejected(rsa_key, jwks) -> None:
    with pytest.raises(InvalidClient, match="RS256"):
        _verify(_sign(rsa_key, _claims(), "RS256"), jwks)


def test_es256_header_is_rejected(ec_key, jwks) -> None:
    p256 = ec.generate_private_key(ec.SECP256R1())
    with pytest.raises(InvalidClient, match="ES256"):
        _verify(_sign(p256, _claims(), "ES256", "ec-1"), jwks)


@pytest.mark.parametrize("alg", ["HS384", "HS256"])
def test_hmac_keyed_with_the_public_key_is_rejected(rsa_key, jwks, alg) -> None:
    """The algorithm-confusion attack: the public key, as PEM, used as an HMAC secret."""
    pem = rsa_key.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    header = {"alg": alg, "typ": "JWT", "kid": "rsa-1"}
    head = _b64(json.dumps(header).encode())
    body = _b64(json.dumps(_claims()).encode())
    digest = hashlib.sha384 if alg == "HS384" else hashlib.sha256
    mac = hmac.new(pem, f"{head}.{body}".encode(), digest).digest()
    with pytest.raises(InvalidClient, match=alg):
        _verify(f"{head}.{body}.{_b64(mac)}", jwks)


@pytest.mark.parametrize("alg", ["none", "None", "NONE", ""])
def test_alg_none_is_rejected(jwks, alg) -> None:
    token = _raw_token({"alg": alg, "typ": "JWT", "kid": "rsa-1"}, _claims())
    with pytest.raises(InvalidClient, match="not accepted"):
        _verify(token, jwks)


def test_missing_or_non_string_alg_is_rejected(jwks) -> None:
    for header in ({"typ": "JWT", "kid": "rsa-1"}, {"alg": ["RS384"], "kid": "rsa-1"}):
        with pytest.raises(InvalidClient, match="not accepted"):
            _verify(_raw_token(header, _claims(), b"x" * 256), jwks)


def test_unknown_kid_is_rejected(rsa_key, jwks) -> None:
    with pytest.raises(InvalidClient, match="no registered key"):
        _verify(_sign(rsa_key, _claims(), kid="rsa-2"), jwks)


def test_kid_of_the_wrong_key_type_is_rejected(ec_key, jwks) -> None:
    with pytest.raises(InvalidClient, match="cannot verify"):
        _verify(_sign(ec_key, _claims(), "ES384", "rsa-1"), jwks)


def test_non_string_kid_is_rejected(rsa_key, jwks) -> None:
    token = _raw_token({"alg": "RS384", "kid": 7}, _claims(), b"x" * 256)
    with pytest.raises(InvalidClient):
        _verify(token, jwks)


def test_no_kid_with_two_keys_of_the_type_is_rejected(rsa_key, other_rsa_key) -> None:
    two = parse_jwks({"keys": [_public_jwk(rsa_key, "rsa-1"), _public_jwk(other_rsa_key, "rsa-2")]})
    with pytest.raises(InvalidClient, match="no kid"):
        _verify(_sign(rsa_key, _claims(), kid=None), two)
    # ... while with kids both keys work.
    assert _verify(_sign(other_rsa_key, _claims(), kid="rsa-2"), two).jti


def test_no_kid_and_no_key_of_the_type_is_rejected(ec_key, rsa_key) -> None:
    only_rsa = parse_jwks({"keys": [_public_jwk(rsa_key, "rsa-1")]})
    with pytest.raises(InvalidClient, match="no kid"):
        _verify(_sign(ec_key, _claims(), "ES384", kid=None), only_rsa)


def _flip_last_signature_char(token: str) -> str:
    head, body, sig = token.split(".")
    # Change a middle character: the last one may only carry padding bits.
    i = len(sig) // 2
    sig = sig[:i] + ("A" if sig[i] != "A" else "B") + sig[i + 1 :]
    return f"{head}.{body}.{sig}"


@pytest.mark.parametrize(
    ("key_name", "alg", "kid"), [("rsa_key", "RS384", "rsa-1"), ("ec_key", "ES384", "ec-1")]
)
def test_tampered_signature_is_rejected(request, jwks, key_name, alg, kid) -> None:
    token = _sign(request.getfixturevalue(key_name), _claims(), alg, kid)
    with pytest.raises(InvalidClient, match="Signature verification failed"):
        _verify(_flip_last_signature_char(token), jwks)


def test_tampered_payload_is_rejected(rsa_key, jwks) -> None:
    head, _, sig = _sign(rsa_key, _claims()).split(".")
    forged_body = _b64(json.dumps(_claims(jti="another-jti")).encode())
    with pytest.raises(InvalidClient, match="Signature verification failed"):
        _verify(f"{head}.{forged_body}.{sig}", jwks)


def test_signed_by_another_key_is_rejected(other_rsa_key, jwks) -> None:
    with pytest.raises(InvalidClient, match="Signature verification failed"):
        _verify(_sign(other_rsa_key, _claims(), kid="rsa-1"), jwks)


def test_embedded_jwk_header_is_ignored(other_rsa_key, jwks) -> None:
    """A token carrying its own key must still be checked against the registered one."""
    token = _sign(other_rsa_key, _claims(), jwk=_public_jwk(other_rsa_key, "rsa-1"))
    with pytest.raises(InvalidClient, match="Signature verification failed"):
        _verify(token, jwks)


def test_iss_different_from_sub_is_rejected(rsa_key, jwks) -> None:
    with pytest.raises(InvalidClient, match="sub must equal iss"):
        _verify(_sign(rsa_key, _claims(sub="someone-else")), jwks)


def test_iss_different_from_client_id_is_rejected(rsa_key, jwks) -> None:
    token = _sign(rsa_key, _claims(iss="other-client", sub="other-client"))
    with pytest.raises(InvalidClient, match="iss is not the client_id"):
        _verify(token, jwks)
    # The same valid token presented for another client is refused too.
    with pytest.raises(InvalidClient, match="iss is not the client_id"):
        _verify(_sign(rsa_key, _claims()), jwks, client_id="other-client")


@pytest.mark.parametrize(
    "aud",
    [
        "https://evil.example/api/v1/oauth/token",
        TOKEN_URL + "/",
        TOKEN_URL.upper(),
        ["https://other.example"],
        [],
        7,
        {"url": TOKEN_URL},
    ],
)
def test_wrong_aud_is_rejected(rsa_key, jwks, aud) -> None:
    with pytest.raises(InvalidClient, match="aud"):
        _verify(_sign(rsa_key, _claims(aud=aud)), jwks)


@pytest.mark.parametrize("claim", ["iss", "sub", "aud", "exp", "jti"])
def test_missing_required_claim_is_rejected(rsa_key, jwks, claim) -> None:
    with pytest.raises(InvalidClient, match=f"required claim.*{claim}"):
        _verify(_sign(rsa_key, _claims(**{claim: DROP})), jwks)


def test_expired_assertion_is_rejected(rsa_key, jwks) -> None:
    with pytest.raises(InvalidClient, match="expired"):
        _verify(_sign(rsa_key, _claims(exp=_ts(NOW, -120), iat=_ts(NOW, -400))), jwks)


def test_exp_more_than_five_minutes_ahead_is_rejected(rsa_key, jwks) -> None:
    with pytest.raises(InvalidClient, match="five minutes"):
        _verify(_sign(rsa_key, _claims(exp=_ts(NOW, 3600))), jwks)


def test_valid_today_is_not_valid_at_other_instants(rsa_key, jwks) -> None:
    """The checks use `now`, not the real clock, in both directions."""
    token = _sign(rsa_key, _claims(NOW))
    with pytest.raises(InvalidClient, match="expired"):
        _verify(token, jwks, now=NOW + timedelta(days=1))
    with pytest.raises(InvalidClient, match="five minutes"):
        _verify(token, jwks, now=NOW - timedelta(days=1))


@pytest.mark.parametrize("claim", ["nbf", "iat"])
def test_nbf_or_iat_in_the_future_is_rejected(rsa_key, jwks, claim) -> None:
    future = _ts(NOW, CLOCK_SKEW.total_seconds() + 1)
    with pytest.raises(InvalidClient, match=f"{claim} is in the future"):
        _verify(_sign(rsa_key, _claims(**{claim: future})), jwks)


@pytest.mark.parametrize("claim", ["exp", "nbf", "iat"])
@pytest.mark.parametrize("value", ["1999999999", True, None, [1], float("nan"), float("inf")])
def test_non_numeric_dates_are_rejected(rsa_key, jwks, claim, value) -> None:
    with pytest.raises(InvalidClient, match=f"{claim} must be a number"):
        _verify(_sign(rsa_key, _claims(**{claim: value})), jwks)


@pytest.mark.parametrize("jti", ["", 42, None, ["a"], "x" * 256])
def test_bad_jti_is_rejected(rsa_key, jwks, jti) -> None:
    with pytest.raises(InvalidClient, match="jti"):
        _verify(_sign(rsa_key, _claims(jti=jti)), jwks)


def test_jti_of_255_chars_is_accepted(rsa_key, jwks) -> None:
    assert _verify(_sign(rsa_key, _claims(jti="x" * 255)), jwks).jti == "x" * 255


def test_crit_header_is_rejected(rsa_key, jwks) -> None:
    token = _raw_token({"alg": "RS384", "kid": "rsa-1", "crit": ["exp"]}, _claims(), b"x" * 256)
    with pytest.raises(InvalidClient):
        _verify(token, jwks)


def test_other_typ_is_rejected_but_jwt_in_any_case_is_fine(rsa_key, jwks) -> None:
    with pytest.raises(InvalidClient, match="typ"):
        _verify(_sign(rsa_key, _claims(), typ="dpop+jwt"), jwks)
    assert _verify(_sign(rsa_key, _claims(), typ="jwt"), jwks).jti


_GARBAGE = [
    "",
    "a.b.c",
    "...",
    "a.b",
    "a.b.c.d",
    "eyJhbGciOiJSUzM4NCJ9",
    base64.b64encode(bytes(range(200))).decode(),
    _b64(b'{"alg":"RS384"}') + "." + _b64(b"[1,2]") + "." + _b64(b"sig"),
    _b64(b"[]") + "." + _b64(b"{}") + "." + _b64(b"sig"),
    _b64(b'{"alg":"RS384","kid":"rsa-1"}') + "." + _b64(b"not json") + "." + _b64(b"sig"),
    "é.é.é",
    "a" * 10_000 + ".b.c",
]


@pytest.mark.parametrize("assertion", _GARBAGE + [None, b"a.b.c", 42])
def test_garbage_assertions_are_invalid_client(jwks, assertion) -> None:
    with pytest.raises(InvalidClient):
        _verify(assertion, jwks)  # type: ignore[arg-type]
    with pytest.raises(InvalidClient):
        unverified_client_id(assertion)  # type: ignore[arg-type]


@pytest.mark.parametrize("stored", [{}, {"keys": []}, {"keys": [{"kty": "RSA"}]}, "nonsense"])
def test_unusable_registered_keys_are_invalid_client(rsa_key, stored) -> None:
    with pytest.raises(InvalidClient, match="registered keys"):
        _verify(_sign(rsa_key, _claims()), stored)  # type: ignore[arg-type]


def test_naive_now_is_a_programming_error_not_a_401(rsa_key, jwks) -> None:
    with pytest.raises(TypeError):
        _verify(_sign(rsa_key, _claims()), jwks, now=NOW.replace(tzinfo=None))


# --------------------------------------------------------------------------------------
# unverified_client_id
# --------------------------------------------------------------------------------------


def test_unverified_client_id_reads_iss_without_checking(other_rsa_key) -> None:
    # Any signature, even an expired token: this only says whose keys to load.
    token = _sign(other_rsa_key, _claims(exp=1))
    assert unverified_client_id(token) == CLIENT


@pytest.mark.parametrize("iss", [DROP, "", 17, None, ["a"], "c" * 256])
def test_unverified_client_id_needs_a_plausible_iss(rsa_key, iss) -> None:
    with pytest.raises(InvalidClient, match="iss"):
        unverified_client_id(_sign(rsa_key, _claims(iss=iss)))


# --------------------------------------------------------------------------------------
# Hypothesis: hostile input only ever yields InvalidClient
# --------------------------------------------------------------------------------------

_segment = st.one_of(
    st.binary(max_size=80).map(_b64),
    st.text(alphabet="ABCabc012-_=+/.", max_size=40),
    st.dictionaries(
        st.sampled_from(["alg", "kid", "typ", "crit", "b64", "iss", "exp", "x"]),
        st.one_of(
            st.none(),
            st.booleans(),
            st.integers(),
            st.floats(),
            st.text(max_size=10),
            st.sampled_from(ALLOWED_ALGORITHMS + ("none", "HS384", "rsa-1")),
            st.lists(st.text(max_size=3), max_size=2),
        ),
        max_size=4,
    ).map(lambda d: _b64(json.dumps(d).encode())),
)
_assertions = st.one_of(
    st.text(max_size=200),
    st.tuples(_segment, _segment, _segment).map(".".join),
)


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(assertion=_assertions)
def test_random_assertions_only_raise_invalid_client(jwks, assertion) -> None:
    with pytest.raises(InvalidClient):
        _verify(assertion, jwks)
    with contextlib.suppress(InvalidClient):
        unverified_client_id(assertion)


_claim_value = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(),
    st.floats(),
    st.text(max_size=8),
    st.sampled_from([CLIENT, TOKEN_URL, _ts(NOW), _ts(NOW, 200), _ts(NOW, 900)]),
    st.lists(st.sampled_from([TOKEN_URL, 1, None]), max_size=3),
)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    changes=st.dictionaries(
        st.sampled_from(["iss", "sub", "aud", "exp", "jti", "iat", "nbf"]),
        st.one_of(st.just(DROP), _claim_value),
        max_size=4,
    )
)
def test_validly_signed_random_claims_never_crash(rsa_key, jwks, changes) -> None:
    claims = _claims(**changes)
    try:
        result = _verify(_sign(rsa_key, claims), jwks)
    except InvalidClient:
        return
    # Accepted only if every rule really holds.
    assert claims["iss"] == claims["sub"] == CLIENT
    assert isinstance(claims["jti"], str) and 0 < len(claims["jti"]) <= 255
    assert result.expires_at > NOW


# --------------------------------------------------------------------------------------
# parse_jwks
# --------------------------------------------------------------------------------------


def test_parse_jwks_keeps_only_public_members(rsa_key, ec_key) -> None:
    rsa_jwk = _public_jwk(rsa_key, "rsa-1", use="sig", alg="RS384", key_ops=["verify"])
    rsa_jwk.update(x5t="abc", ext=True)
    ec_jwk = _public_jwk(ec_key, "ec-1")
    result = parse_jwks({"keys": [rsa_jwk, ec_jwk]})
    assert result == {
        "keys": [
            {
                "kty": "RSA",
                "kid": "rsa-1",
                "use": "sig",
                "alg": "RS384",
                "n": rsa_jwk["n"],
                "e": rsa_jwk["e"],
            },
            {"kty": "EC", "kid": "ec-1", "crv": "P-384", "x": ec_jwk["x"], "y": ec_jwk["y"]},
        ]
    }
    # Normalisation is idempotent, and a JSON string is read the same way.
    assert parse_jwks(result) == result
    assert parse_jwks(json.dumps({"keys": [rsa_jwk, ec_jwk]})) == result


def _private_jwk(private_key, kid: str) -> dict:
    algo = RSAAlgorithm if isinstance(private_key, rsa.RSAPrivateKey) else ECAlgorithm
    jwk = algo.to_jwk(private_key, as_dict=True)
    jwk["kid"] = kid
    return jwk


@pytest.mark.parametrize("key_name", ["rsa_key", "ec_key"])
def test_parse_jwks_rejects_private_keys(request, key_name) -> None:
    private = _private_jwk(request.getfixturevalue(key_name), "k1")
    with pytest.raises(InvalidJwks, match="private member"):
        parse_jwks({"keys": [private]})


@pytest.mark.parametrize("member", ["d", "p", "q", "dp", "dq", "qi", "oth", "k"])
def test_parse_jwks_rejects_each_private_member(rsa_key, member) -> None:
    jwk = _public_jwk(rsa_key, "k1", **{member: "AQAB"})
    with pytest.raises(InvalidJwks, match=f"private member.*{member}"):
        parse_jwks({"keys": [jwk]})


def test_parse_jwks_rejects_symmetric_keys() -> None:
    with pytest.raises(InvalidJwks, match="private member"):
        parse_jwks({"keys": [{"kty": "oct", "kid": "s", "k": "c2VjcmV0"}]})


def test_parse_jwks_rejects_rsa_1024() -> None:
    weak = rsa.generate_private_key(public_exponent=65537, key_size=1024)
    with pytest.raises(InvalidJwks, match="RSA-1024"):
        parse_jwks({"keys": [_public_jwk(weak, "weak")]})


@pytest.mark.parametrize("curve", [ec.SECP256R1(), ec.SECP521R1()])
def test_parse_jwks_rejects_other_curves(curve) -> None:
    key = ec.generate_private_key(curve)
    with pytest.raises(InvalidJwks, match="only P-384"):
        parse_jwks({"keys": [_public_jwk(key, "ec")]})


def test_parse_jwks_rejects_a_point_off_the_curve(ec_key) -> None:
    jwk = _public_jwk(ec_key, "ec-1")
    jwk["y"] = jwk["x"]  # (x, x) is not on P-384
    with pytest.raises(InvalidJwks, match="not a valid P-384"):
        parse_jwks({"keys": [jwk]})


@pytest.mark.parametrize("kid", [None, "", 5])
def test_parse_jwks_rejects_missing_kid(rsa_key, kid) -> None:
    jwk = _public_jwk(rsa_key, None)
    if kid is not None:
        jwk["kid"] = kid
    with pytest.raises(InvalidJwks, match="no kid"):
        parse_jwks({"keys": [jwk]})


def test_parse_jwks_rejects_duplicate_kid(rsa_key, ec_key) -> None:
    doc = {"keys": [_public_jwk(rsa_key, "same"), _public_jwk(ec_key, "same")]}
    with pytest.raises(InvalidJwks, match="duplicate kid.*same"):
        parse_jwks(doc)


@pytest.mark.parametrize(
    ("document", "message"),
    [
        ("{not json", "not valid JSON"),
        ("", "not valid JSON"),
        ("[]", "JSON object"),
        (["keys"], "JSON object"),
        ({}, '"keys" array'),
        ({"keys": {}}, '"keys" array'),
        ({"keys": []}, "no keys"),
        ({"keys": ["key"]}, "not a JSON object"),
        ({"keys": [{"kid": "a"}]}, "kty"),
        ({"keys": [{"kty": "OKP", "kid": "a", "crv": "Ed25519", "x": "AA"}]}, "kty"),
        ({"keys": [{"kty": "RSA", "kid": "a", "n": 5, "e": "AQAB"}]}, "base64url"),
        ({"keys": [{"kty": "EC", "kid": "a", "crv": "P-384", "x": "AA"}]}, "base64url"),
        ({"keys": [{"kty": "EC", "kid": "a", "crv": "P-384", "x": "AA", "y": "AA"}]}, "P-384"),
    ],
)
def test_parse_jwks_rejects_malformed_documents(document, message) -> None:
    with pytest.raises(InvalidJwks, match=message):
        parse_jwks(document)


def test_parse_jwks_hints_at_wrapping_a_bare_key(rsa_key) -> None:
    with pytest.raises(InvalidJwks, match="wrap a single key"):
        parse_jwks(_public_jwk(rsa_key, "rsa-1"))


@pytest.mark.parametrize(
    ("extra", "message"),
    [({"alg": "RS256"}, "RS384"), ({"use": "enc"}, "sig"), ({"key_ops": ["encrypt"]}, "verify")],
)
def test_parse_jwks_rejects_keys_not_meant_for_our_signatures(rsa_key, extra, message) -> None:
    with pytest.raises(InvalidJwks, match=message):
        parse_jwks({"keys": [_public_jwk(rsa_key, "rsa-1", **extra)]})


def test_parse_jwks_limits_the_number_of_keys(rsa_key) -> None:
    jwk = _public_jwk(rsa_key, None)
    with pytest.raises(InvalidJwks, match="at most"):
        parse_jwks({"keys": [{**jwk, "kid": str(i)} for i in range(21)]})


# --------------------------------------------------------------------------------------
# Scopes
# --------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("scope", "expected"),
    [
        # v1 → v2
        ("system/Observation.read", "system/Observation.rs"),
        ("system/*.read", "system/*.rs"),
        ("system/Patient.read", "system/Patient.rs"),
        ("system/QuestionnaireResponse.write", "system/QuestionnaireResponse.c"),
        ("system/QuestionnaireResponse.*", "system/QuestionnaireResponse.crs"),
        ("system/*.*", "system/*.crs"),
        # v2, canonical order c r u d s
        ("system/Observation.rs", "system/Observation.rs"),
        ("system/Observation.sr", "system/Observation.rs"),
        ("system/Observation.r", "system/Observation.r"),
        ("system/Questionnaire.s", "system/Questionnaire.s"),
        ("system/QuestionnaireResponse.c", "system/QuestionnaireResponse.c"),
        ("system/Patient.sdurc", "system/Patient.cruds"),
        ("system/*.cruds", "system/*.cruds"),
        # not offered
        ("patient/Observation.rs", None),
        ("user/Observation.read", None),
        ("launch", None),
        ("openid", None),
        ("fhirUser", None),
        ("system/Condition.rs", None),
        ("system/observation.rs", None),
        ("system/Observation.rr", None),
        ("system/Observation.rx", None),
        ("system/Observation.RS", None),
        ("system/Observation.readwrite", None),
        ("system/Observation.", None),
        ("system/Observation", None),
        ("system/.rs", None),
        ("system/Observation.rs?category=survey", None),
        (" system/Observation.rs", None),
        ("system/Observation.rs ", None),
        ("", None),
    ],
)
def test_normalise_scope(scope: str, expected: str | None) -> None:
    assert normalise_scope(scope) == expected


def test_normalise_scope_is_idempotent() -> None:
    for resource in (*SUPPORTED_RESOURCES, "*"):
        for perms in ("read", "write", "*", "rs", "c", "cruds", "sr"):
            once = normalise_scope(f"system/{resource}.{perms}")
            assert once is not None
            assert normalise_scope(once) == once


@pytest.mark.parametrize(
    ("requested", "registered", "expected"),
    [
        # wildcard registration covers a specific resource; granted as requested
        ("system/Observation.rs", ["system/*.rs"], ("system/Observation.rs",)),
        # narrowing: asking for less than registered gets exactly that
        ("system/Observation.r", ["system/Observation.rs"], ("system/Observation.r",)),
        # v1 request, v2 registration (and vice versa)
        ("system/Observation.read", ["system/Observation.rs"], ("system/Observation.rs",)),
        ("system/Observation.rs", ["system/Observation.read"], ("system/Observation.rs",)),
        (
            "system/QuestionnaireResponse.write",
            ["system/QuestionnaireResponse.c"],
            ("system/QuestionnaireResponse.c",),
        ),
        # permissions may come from several registered scopes together
        (
            "system/Observation.rs",
            ["system/Observation.r", "system/*.s"],
            ("system/Observation.rs",),
        ),
        # unknown and uncovered scopes are dropped, the rest granted, sorted and deduplicated
        (
            "system/Patient.rs launch system/Condition.rs system/Observation.read "
            "system/Observation.rs system/QuestionnaireResponse.c",
            ["system/Observation.rs", "system/Patient.rs"],
            ("system/Observation.rs", "system/Patient.rs"),
        ),
        (
            "system/*.rs system/QuestionnaireResponse.c",
            ["system/*.rs", "system/QuestionnaireResponse.c"],
            ("system/*.rs", "system/QuestionnaireResponse.c"),
        ),
        (
            "  system/Observation.rs\tsystem/Patient.rs\n",
            ["system/*.rs"],
            ("system/Observation.rs", "system/Patient.rs"),
        ),
    ],
)
def test_grant_scopes(requested, registered, expected) -> None:
    assert grant_scopes(requested, registered) == expected


@pytest.mark.parametrize(
    ("requested", "registered"),
    [
        ("", ["system/*.rs"]),
        ("   ", ["system/*.rs"]),
        ("system/Observation.rs", []),
        # never broader than registered: a specific grant does not cover the wildcard
        ("system/*.rs", ["system/Observation.rs", "system/Patient.rs"]),
        ("system/Observation.rs", ["system/Observation.r"]),
        ("system/QuestionnaireResponse.c", ["system/*.rs"]),
        ("system/Observation.cruds", ["system/*.rs", "system/QuestionnaireResponse.c"]),
        ("system/Patient.rs", ["system/Observation.rs"]),
        ("launch openid patient/Observation.rs system/Condition.rs", ["system/*.cruds"]),
        ("system/Observation.rs", ["nonsense", "user/*.*"]),
    ],
)
def test_grant_scopes_refuses(requested, registered) -> None:
    with pytest.raises(InvalidScope):
        grant_scopes(requested, registered)


_scope_pool = st.sampled_from(
    [
        f"system/{r}.{p}"
        for r in (*SUPPORTED_RESOURCES, "*")
        for p in ("read", "write", "*", "r", "s", "rs", "c", "cruds", "cud")
    ]
    + ["launch", "system/Condition.rs", "patient/*.rs"]
)


@settings(max_examples=300, deadline=None)
@given(requested=st.lists(_scope_pool, max_size=5), registered=st.lists(_scope_pool, max_size=5))
def test_granted_is_never_broader_than_requested_or_registered(requested, registered) -> None:
    try:
        granted = grant_scopes(" ".join(requested), registered)
    except InvalidScope:
        return
    assert granted == tuple(sorted(set(granted)))
    assert set(granted) <= {normalise_scope(s) for s in requested}
    for resource in (*SUPPORTED_RESOURCES, "*", "Condition"):
        for permission in "cruds":
            if permits(granted, resource, permission):
                assert permits(registered, resource, permission)
                assert permits(requested, resource, permission)


@pytest.mark.parametrize(
    ("granted", "resource", "permission", "expected"),
    [
        (["system/*.rs"], "Observation", "r", True),
        (["system/*.rs"], "QuestionnaireResponse", "s", True),
        (["system/*.rs"], "QuestionnaireResponse", "c", False),
        (["system/*.rs"], "*", "r", True),
        (["system/Observation.rs"], "Observation", "s", True),
        (["system/Observation.rs"], "Patient", "r", False),
        (["system/Observation.rs"], "*", "r", False),
        (["system/Observation.r"], "Observation", "s", False),
        (["system/QuestionnaireResponse.c"], "QuestionnaireResponse", "c", True),
        (["system/QuestionnaireResponse.c"], "QuestionnaireResponse", "r", False),
        (["system/QuestionnaireResponse.c"], "Observation", "c", False),
        (["system/Observation.read"], "Observation", "s", True),  # v1 as stored
        (["system/QuestionnaireResponse.write"], "QuestionnaireResponse", "u", False),
        (
            ["system/Patient.rs", "system/QuestionnaireResponse.c"],
            "QuestionnaireResponse",
            "c",
            True,
        ),
        (["launch", "garbage"], "Observation", "r", False),
        ([], "Observation", "r", False),
    ],
)
def test_permits(granted, resource, permission, expected) -> None:
    assert permits(granted, resource, permission) is expected
    assert permits(tuple(granted), resource, permission) is expected


@pytest.mark.parametrize("permission", ["", "rs", "x", "R", "read"])
def test_permits_rejects_unknown_permissions(permission) -> None:
    with pytest.raises(ValueError, match="permission"):
        permits(["system/*.rs"], "Observation", permission)
