"""SMART Backend Services: client assertions, registered keys and system scopes.

An EHR integration authenticates at the token endpoint with a JWT it signed with its own
private key (RFC 7523 "private_key_jwt", profiled by SMART App Launch 2.x
``client-confidential-asymmetric``); we hold only its public JWKS, registered out of band.
This module is the pure part of that exchange: it validates a JWKS at registration, checks
one assertion against it, and turns requested SMART scopes into granted ones. It does no
I/O and reads no clock (``now`` is a parameter), so every rule is testable with fixed
times; the token endpoint owns the database (client lookup, the jti replay store, tokens).

Why hand-rolled checks rather than PyJWT's own: PyJWT compares exp/nbf/iat with the real
clock and knows nothing about SMART's "exp no more than five minutes in the future", so it
is used only to parse the token and verify the signature; every claim is checked here.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Collection, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import jwt
from cryptography.hazmat.primitives.asymmetric.ec import EllipticCurvePublicKey
from cryptography.hazmat.primitives.asymmetric.rsa import RSAPublicKey
from jwt.algorithms import ECAlgorithm, RSAAlgorithm

__all__ = [
    "ALLOWED_ALGORITHMS",
    "CLOCK_SKEW",
    "GRANULAR_SCOPES",
    "MAX_ASSERTION_LIFETIME",
    "SUPPORTED_RESOURCES",
    "InvalidClient",
    "InvalidJwks",
    "InvalidScope",
    "VerifiedAssertion",
    "grant_scopes",
    "normalise_scope",
    "parse_jwks",
    "permits",
    "unverified_client_id",
    "verify_client_assertion",
]

# SMART: clients SHALL support RS384 and ES384. Nothing else is accepted: not "none", not
# HS* (a public key used as an HMAC secret is the classic confusion attack), not RS256.
ALLOWED_ALGORITHMS = ("RS384", "ES384")

# SMART: the assertion's exp is "no more than five minutes in the future".
MAX_ASSERTION_LIFETIME = timedelta(minutes=5)

# Tolerated disagreement between the client's clock and ours, applied to every time check
# (exp in the past, exp beyond the five minutes, iat/nbf in the future). One minute absorbs
# ordinary NTP drift without stretching the five-minute rule meaningfully.
CLOCK_SKEW = timedelta(seconds=60)

SUPPORTED_RESOURCES = (
    "Patient",
    "Observation",
    "QuestionnaireResponse",
    "Questionnaire",
    "Provenance",
)

_REQUIRED_CLAIMS = ("iss", "sub", "aud", "exp", "jti")
_MAX_JTI_LENGTH = 255
_MAX_CLIENT_ID_LENGTH = 255
# A compact JWS signed with RSA-8192 is well under 3 kB; anything far larger is not ours to
# parse (and must not cost us JSON decoding of megabytes before the signature is checked).
_MAX_ASSERTION_CHARS = 8192
_ACCEPTED_TYP = frozenset({"jwt", "application/jwt"})

_MIN_RSA_BITS = 2048
_MAX_RSA_BITS = 8192  # bigger moduli buy nothing but make every verification slower
_MAX_KEYS = 20  # a JWKS holds the current key and a few for rotation, not hundreds
_MAX_KID_LENGTH = 255
_PRIVATE_MEMBERS = ("d", "p", "q", "dp", "dq", "qi", "oth", "k")
# The one algorithm we accept for each key type; also what a key's own "alg" must say.
_ALG_FOR_KTY = {"RSA": "RS384", "EC": "ES384"}
_KTY_FOR_ALG = {alg: kty for kty, alg in _ALG_FOR_KTY.items()}
# Members copied into the normalised JWK besides the key material itself.
_KEPT_METADATA = ("kid", "use", "alg")


class InvalidClient(ValueError):
    """The client could not be authenticated (RFC 6749 §5.2 ``invalid_client``, HTTP 401).

    The message is safe to return as ``error_description``: it explains what was wrong with
    the assertion, which helps an integrator and tells an attacker nothing they did not send.
    """


class InvalidScope(ValueError):
    """Nothing requested can be granted (RFC 6749 §5.2 ``invalid_scope``, HTTP 400)."""


class InvalidJwks(ValueError):
    """A JWKS offered at registration is unusable; the message says which key and why."""


@dataclass(frozen=True, slots=True)
class VerifiedAssertion:
    """An assertion whose signature and claims checked out, minus the replay check.

    ``expires_at`` is the instant after which this assertion would be refused as expired
    (its exp plus ``CLOCK_SKEW``): the caller must remember (client_id, jti) at least until
    then, and may forget it afterwards.
    """

    client_id: str
    jti: str
    expires_at: datetime


@dataclass(frozen=True, slots=True)
class _Key:
    """One registered public key, parsed once and paired with the only algorithm it serves."""

    kid: str
    kty: str
    alg: str
    public_key: RSAPublicKey | EllipticCurvePublicKey
    jwk: dict[str, str]


# --------------------------------------------------------------------------------------
# Registration: the client's public JWKS
# --------------------------------------------------------------------------------------


def parse_jwks(document: str | dict) -> dict:
    """Validate a client's public JWKS and return it normalised to public members only.

    Run at registration so a bad key fails loudly at the operator's terminal rather than as
    a puzzling 401 at the integrator's first token request. The result is rebuilt from the
    parsed key (canonical base64url, only kty/kid/use/alg and the public numbers), so what
    is stored is exactly what verification will use.
    """
    return {"keys": [key.jwk for key in _load_keys(document)]}


def _load_keys(document: object) -> tuple[_Key, ...]:
    if isinstance(document, str):
        try:
            document = json.loads(document)
        except (ValueError, RecursionError) as e:
            raise InvalidJwks(f"the JWKS is not valid JSON: {e}") from None
    if not isinstance(document, Mapping):
        raise InvalidJwks('a JWKS must be a JSON object {"keys": [...]}')
    raw_keys = document.get("keys")
    if not isinstance(raw_keys, list):
        hint = ' (wrap a single key as {"keys": [key]})' if "kty" in document else ""
        raise InvalidJwks(f'a JWKS must have a "keys" array{hint}')
    if not raw_keys:
        raise InvalidJwks("the JWKS has no keys")
    if len(raw_keys) > _MAX_KEYS:
        raise InvalidJwks(f"the JWKS has {len(raw_keys)} keys; at most {_MAX_KEYS} are accepted")
    keys = tuple(_load_key(i, raw) for i, raw in enumerate(raw_keys))
    kids = [key.kid for key in keys]
    duplicates = sorted({kid for kid in kids if kids.count(kid) > 1})
    if duplicates:
        raise InvalidJwks(f"duplicate kid(s) {duplicates}: each key needs its own kid")
    return keys


def _load_key(index: int, raw: object) -> _Key:
    where = f"key #{index}"
    if not isinstance(raw, Mapping):
        raise InvalidJwks(f"{where} is not a JSON object")
    kid = raw.get("kid")
    if isinstance(kid, str) and kid:
        where = f"key {_short(kid)}"
    # First, before anything else: a leaked private key is the most important thing to say.
    private = [m for m in _PRIVATE_MEMBERS if m in raw]
    if private:
        raise InvalidJwks(
            f"{where} contains private member(s) {', '.join(private)}: register only the "
            "public key (and treat this private key as compromised if it was shared)"
        )
    kty = raw.get("kty")
    if kty not in _ALG_FOR_KTY:
        raise InvalidJwks(f"{where} has kty {_short(kty)}; only RSA and EC (P-384) are accepted")
    if not isinstance(kid, str) or not kid:
        raise InvalidJwks(f"{where} has no kid; every key needs one so assertions can name it")
    if len(kid) > _MAX_KID_LENGTH:
        raise InvalidJwks(f"{where}: kid longer than {_MAX_KID_LENGTH} characters")
    alg = _ALG_FOR_KTY[kty]
    if "alg" in raw and raw["alg"] != alg:
        raise InvalidJwks(f"{where} declares alg {_short(raw['alg'])}; {kty} keys must use {alg}")
    if "use" in raw and raw["use"] != "sig":
        raise InvalidJwks(f'{where} has use {_short(raw["use"])}; only signing keys ("sig")')
    key_ops = raw.get("key_ops")
    if key_ops is not None and (not isinstance(key_ops, list) or "verify" not in key_ops):
        raise InvalidJwks(f'{where} has key_ops without "verify"')

    if kty == "RSA":
        public_key, material = _load_rsa(where, raw)
    else:
        public_key, material = _load_ec(where, raw)
    jwk = {"kty": kty, **{m: raw[m] for m in _KEPT_METADATA if m in raw}, **material}
    return _Key(kid=kid, kty=kty, alg=alg, public_key=public_key, jwk=jwk)


def _load_rsa(where: str, raw: Mapping[str, Any]) -> tuple[RSAPublicKey, dict[str, str]]:
    if not all(isinstance(raw.get(m), str) for m in ("n", "e")):
        raise InvalidJwks(f'{where}: an RSA key needs "n" and "e" as base64url strings')
    try:
        key = RSAAlgorithm.from_jwk({"kty": "RSA", "n": raw["n"], "e": raw["e"]})
    except (jwt.PyJWTError, ValueError, TypeError) as e:
        raise InvalidJwks(f"{where} is not a valid RSA public key: {e}") from None
    if not isinstance(key, RSAPublicKey):  # pragma: no cover - no "d" was passed
        raise InvalidJwks(f"{where} is not an RSA public key")
    if not _MIN_RSA_BITS <= key.key_size <= _MAX_RSA_BITS:
        raise InvalidJwks(
            f"{where} is RSA-{key.key_size}; between {_MIN_RSA_BITS} and {_MAX_RSA_BITS} "
            "bits are accepted"
        )
    exported = RSAAlgorithm.to_jwk(key, as_dict=True)
    return key, {"n": exported["n"], "e": exported["e"]}


def _load_ec(where: str, raw: Mapping[str, Any]) -> tuple[EllipticCurvePublicKey, dict[str, str]]:
    if raw.get("crv") != "P-384":
        raise InvalidJwks(
            f"{where} is on curve {_short(raw.get('crv'))}; only P-384 (for ES384) is accepted"
        )
    if not all(isinstance(raw.get(m), str) for m in ("x", "y")):
        raise InvalidJwks(f'{where}: an EC key needs "x" and "y" as base64url strings')
    try:
        key = ECAlgorithm.from_jwk({"kty": "EC", "crv": "P-384", "x": raw["x"], "y": raw["y"]})
    except (jwt.PyJWTError, ValueError, TypeError) as e:
        # Also catches a point not on the curve (invalid-curve attacks).
        raise InvalidJwks(f"{where} is not a valid P-384 public key: {e}") from None
    if not isinstance(key, EllipticCurvePublicKey):  # pragma: no cover - no "d" was passed
        raise InvalidJwks(f"{where} is not an EC public key")
    exported = ECAlgorithm.to_jwk(key, as_dict=True)
    return key, {"crv": "P-384", "x": exported["x"], "y": exported["y"]}


# --------------------------------------------------------------------------------------
# Token request: the client assertion
# --------------------------------------------------------------------------------------


def unverified_client_id(assertion: str) -> str:
    """The assertion's ``iss``, read WITHOUT verification, only to find whose keys to use.

    Nothing read here may be trusted until ``verify_client_assertion`` has passed with the
    keys registered for this id (which also re-checks iss against it).
    """
    _check_shape(assertion)
    try:
        claims = jwt.decode(assertion, options={"verify_signature": False})
    except (jwt.PyJWTError, ValueError, TypeError) as e:
        raise InvalidClient(f"client_assertion is not a JWT: {e}") from None
    iss = claims.get("iss")
    if not isinstance(iss, str) or not iss:
        raise InvalidClient("client_assertion has no iss (the client_id)")
    if len(iss) > _MAX_CLIENT_ID_LENGTH:
        raise InvalidClient("client_assertion iss is too long to be a client_id")
    return iss


def verify_client_assertion(
    assertion: str, client_id: str, jwks: dict, token_url: str, now: datetime
) -> VerifiedAssertion:
    """Authenticate a client by its signed assertion, or raise ``InvalidClient``.

    Checks, in order: the header (alg RS384/ES384 only, no unknown ``crit``, typ JWT if
    given), picks the registered key (by kid; without a kid, the single key of the alg's
    type), verifies the signature, then the claims: iss == sub == client_id, aud is the
    token URL (or a list holding it), exp after ``now`` and at most five minutes ahead,
    iat/nbf not in the future, and a jti. Every time check allows ``CLOCK_SKEW``.

    Replay is NOT detected here: the caller must store (client_id, jti) under a unique
    constraint until ``expires_at`` and refuse the request if the insert collides. Keys
    embedded in the token (``jwk``/``jku``/``x5u`` headers) are ignored: only keys the
    operator registered can authenticate a client.
    """
    if now.tzinfo is None or now.utcoffset() is None:
        # A programming error, deliberately not InvalidClient: it must not become a 401.
        raise TypeError("now must be a timezone-aware datetime")
    try:
        keys = _load_keys(jwks)
    except InvalidJwks as e:
        raise InvalidClient(f"the client's registered keys are unusable: {e}") from None
    _check_shape(assertion)
    try:
        header = jwt.get_unverified_header(assertion)
    except (jwt.PyJWTError, ValueError, TypeError) as e:
        raise InvalidClient(f"client_assertion is not a JWT: {e}") from None

    alg = header.get("alg")
    if not isinstance(alg, str) or alg not in ALLOWED_ALGORITHMS:
        raise InvalidClient(f"alg {_short(alg)} is not accepted; sign with RS384 or ES384")
    if "crit" in header:
        raise InvalidClient("critical header extensions are not supported")
    typ = header.get("typ")
    if typ is not None and (not isinstance(typ, str) or typ.lower() not in _ACCEPTED_TYP):
        raise InvalidClient(f"typ {_short(typ)} is not a JWT")
    key = _select_key(header.get("kid"), alg, keys)

    try:
        # algorithms comes from the registered key, not the token; every claim check is off
        # here because PyJWT would use the real clock. They are all done below with `now`.
        claims = jwt.decode(
            assertion,
            key.public_key,
            algorithms=[key.alg],
            options={
                "verify_signature": True,
                "verify_exp": False,
                "verify_nbf": False,
                "verify_iat": False,
                "verify_aud": False,
                "verify_iss": False,
                "verify_sub": False,
                "verify_jti": False,
                "require": [],
                "enforce_minimum_key_length": True,
            },
        )
    except (jwt.PyJWTError, ValueError, TypeError) as e:
        raise InvalidClient(f"client_assertion rejected: {e}") from None
    return _check_claims(claims, client_id, token_url, now)


def _check_shape(assertion: object) -> None:
    """Cheap refusals before any decoding: a compact JWS is short, ASCII, in three parts."""
    if not isinstance(assertion, str) or not assertion:
        raise InvalidClient("client_assertion is missing")
    if len(assertion) > _MAX_ASSERTION_CHARS:
        raise InvalidClient("client_assertion is too long")
    if not assertion.isascii() or assertion.count(".") != 2:
        raise InvalidClient("client_assertion is not a compact JWT")


def _select_key(kid: object, alg: str, keys: tuple[_Key, ...]) -> _Key:
    kty = _KTY_FOR_ALG[alg]
    if kid is None:
        # SMART Backend Services: the JWT header carries the kid of the signing key (required).
        raise InvalidClient("client_assertion has no kid header; SMART Backend Services require it")
    if not isinstance(kid, str):
        raise InvalidClient("kid must be a string")
    for key in keys:
        if key.kid == kid:
            if key.kty != kty:
                raise InvalidClient(f"key {_short(kid)} is {key.kty}; it cannot verify {alg}")
            return key
    raise InvalidClient(f"no registered key has kid {_short(kid)}")


def _check_claims(
    claims: dict[str, Any], client_id: str, token_url: str, now: datetime
) -> VerifiedAssertion:
    missing = [name for name in _REQUIRED_CLAIMS if name not in claims]
    if missing:
        raise InvalidClient(f"client_assertion lacks required claim(s): {', '.join(missing)}")

    iss, sub = claims["iss"], claims["sub"]
    if not isinstance(iss, str) or iss != client_id:
        raise InvalidClient("iss is not the client_id")
    if sub != iss:
        raise InvalidClient("sub must equal iss (the client_id)")

    aud = claims["aud"]
    audiences = aud if isinstance(aud, list) else [aud]
    if token_url not in [a for a in audiences if isinstance(a, str)]:
        raise InvalidClient(f"aud must be the token endpoint URL {token_url}")

    now_s = now.timestamp()
    skew_s = CLOCK_SKEW.total_seconds()
    exp = _numeric_date(claims, "exp")
    if exp <= now_s - skew_s:
        raise InvalidClient("client_assertion has expired")
    if exp > now_s + MAX_ASSERTION_LIFETIME.total_seconds() + skew_s:
        raise InvalidClient("exp is more than five minutes in the future")
    for name in ("nbf", "iat"):
        if name in claims and _numeric_date(claims, name) > now_s + skew_s:
            raise InvalidClient(f"{name} is in the future")

    jti = claims["jti"]
    if not isinstance(jti, str) or not jti or len(jti) > _MAX_JTI_LENGTH:
        raise InvalidClient(f"jti must be a non-empty string of at most {_MAX_JTI_LENGTH} chars")

    # exp is within minutes of `now` here, so the conversion cannot overflow.
    expires_at = datetime.fromtimestamp(exp, tz=UTC) + CLOCK_SKEW
    return VerifiedAssertion(client_id=client_id, jti=jti, expires_at=expires_at)


def _numeric_date(claims: Mapping[str, Any], name: str) -> float:
    value = claims[name]
    # bool is an int in Python and JSON NaN/Infinity slip through json.loads: refuse both.
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        raise InvalidClient(f"{name} must be a number of seconds since the epoch")
    return float(value)


def _short(value: object, limit: int = 40) -> str:
    """repr() for error messages, clipped so hostile input cannot make them huge."""
    text = repr(value)
    return text if len(text) <= limit else text[: limit - 3] + "..."


# --------------------------------------------------------------------------------------
# SMART system scopes
# --------------------------------------------------------------------------------------

# Canonical SMART v2 permission order.
_PERMISSIONS = "cruds"
# v1 permissions as v2. v1 "write" means create+update+delete, but this server implements
# only create (POST QuestionnaireResponse), so it is narrowed to "c"; granting less than
# asked is always allowed, and a v1 client can never end up with u/d by accident.
_V1_PERMISSIONS = {"read": "rs", "write": "c", "*": "crs"}
# system/<Resource or *>.<permissions>[?<granular restriction>] (SMART 2.x scopes).
_SCOPE = re.compile(
    r"system/(?P<resource>\*|[A-Za-z]+)\.(?P<permissions>\*|[a-z]+)(?:\?(?P<query>[^\s]*))?"
)
OBSERVATION_CATEGORY = "http://terminology.hl7.org/CodeSystem/observation-category"
# The granular restrictions this server understands, per resource type (docs/fhir.md,
# "SMART Backend Services"): US Core 7 servers SHALL support the survey category scope
# on Observation, and every Observation tracker holds is a survey, so the restriction
# grants exactly what the plain scope would.
GRANULAR_SCOPES = {"Observation": (f"category={OBSERVATION_CATEGORY}|survey",)}


def normalise_scope(scope: str) -> str | None:
    """A SMART system scope in canonical v2 form, or None if this server does not offer it.

    v1 spellings are accepted because Epic-style backend clients still send them
    (``system/Observation.read`` → ``system/Observation.rs``). v2 permissions are put in
    the canonical c,r,u,d,s order; repeated or unknown letters make the scope invalid.
    Non-system scopes (patient/, user/, launch, openid), unsupported resource types and
    granular scopes other than those in ``GRANULAR_SCOPES`` all give None.
    """
    parsed = _parse_scope(scope)
    return None if parsed is None else _spell(*parsed)


def _spell(resource: str, permissions: str, query: str | None) -> str:
    return f"system/{resource}.{permissions}" + (f"?{query}" if query else "")


def _parse_scope(scope: object) -> tuple[str, str, str | None] | None:
    """(resource, canonical permissions, granular query or None), or None if not offered."""
    if not isinstance(scope, str):
        return None
    match = _SCOPE.fullmatch(scope)
    if match is None:
        return None
    resource, permissions, query = match["resource"], match["permissions"], match["query"]
    if resource != "*" and resource not in SUPPORTED_RESOURCES:
        return None
    if query is not None:
        # "|" may arrive percent-encoded inside the scope string.
        query = query.replace("%7C", "|").replace("%7c", "|")
        if query not in GRANULAR_SCOPES.get(resource, ()):
            return None
    if permissions in _V1_PERMISSIONS:
        return resource, _V1_PERMISSIONS[permissions], query
    if len(set(permissions)) != len(permissions) or not set(permissions) <= set(_PERMISSIONS):
        return None
    return resource, "".join(p for p in _PERMISSIONS if p in permissions), query


def _unsupported_granular(scope: str) -> bool:
    """A system scope whose granular part (``?…``) names a parameter or value we do not know."""
    match = _SCOPE.fullmatch(scope)
    return match is not None and match["query"] is not None and _parse_scope(scope) is None


def grant_scopes(requested: str, registered: Collection[str]) -> tuple[str, ...]:
    """The scopes to put in the access token: each requested scope the client may have.

    A requested scope is granted, as normalised, when the client's registered scopes
    together cover every permission it asks for on that resource (a registered ``*``
    resource covers every type; a requested ``*`` needs a registered ``*``). A granular
    scope (``system/Observation.rs?category=…|survey``) is covered by the plain scope or by
    the same granular one; a plain scope is never covered by a granular registration,
    which would widen it. Scopes that are unknown or not covered are dropped, never
    widened, so a token never carries more than was asked for. Raises ``InvalidScope``
    when the request is empty, when nothing in it can be granted, or when a system scope
    carries a granular restriction this server does not understand (ignoring the
    restriction would widen it; dropping it silently would hide the refusal).
    """
    tokens = requested.split() if isinstance(requested, str) else []
    if not tokens:
        raise InvalidScope("no scope was requested")
    unknown = [token for token in tokens if _unsupported_granular(token)]
    if unknown:
        raise InvalidScope(
            f"unsupported granular scope {_short(unknown[0], 160)}; this server supports "
            + ", ".join(
                f"system/{resource}.rs?{query}"
                for resource, queries in GRANULAR_SCOPES.items()
                for query in queries
            )
        )
    allowed: dict[tuple[str, str | None], set[str]] = {}
    for scope in registered:
        parsed = _parse_scope(scope)
        if parsed is not None:
            allowed.setdefault((parsed[0], parsed[2]), set()).update(parsed[1])

    granted: set[str] = set()
    for token in tokens:
        parsed = _parse_scope(token)
        if parsed is None:
            continue
        resource, permissions, query = parsed
        available = set(allowed.get((resource, None), ()))
        if resource != "*":
            available |= allowed.get(("*", None), set())
        if query is not None:
            available |= allowed.get((resource, query), set())
        if set(permissions) <= available:
            granted.add(_spell(resource, permissions, query))
    if not granted:
        raise InvalidScope(f"none of the requested scopes can be granted: {_short(requested)}")
    return tuple(sorted(granted))


def permits(granted: Collection[str], resource_type: str, permission: str) -> bool:
    """Whether a token's scopes allow one interaction (``permission``) on a resource type.

    ``permission`` is one of c, r, u, d, s. A wildcard scope (``system/*.rs``) matches any
    type; asking about ``resource_type="*"`` (e.g. a system-wide export) needs a wildcard.
    v1 spellings in ``granted`` are understood, so stored tokens need no migration.
    """
    if len(permission) != 1 or permission not in _PERMISSIONS:
        raise ValueError(f"permission must be one of c, r, u, d, s, not {permission!r}")
    for scope in granted:
        parsed = _parse_scope(scope)
        if parsed is None:
            continue
        resource, permissions, _query = parsed
        # A granular scope restricts Observations to the survey category, which is every
        # Observation this server holds, so it permits as much as the plain scope.
        if resource in ("*", resource_type) and permission in permissions:
            return True
    return False
