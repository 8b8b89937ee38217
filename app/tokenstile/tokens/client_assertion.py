"""private_key_jwt client authentication (RFC 7523 section 2.2, OpenID Connect Core
section 9): a web client that registered a JWK Set of public keys proves itself at the
token and revocation endpoints with a short-lived JWT signed by one of those keys.

Registration (``public_jwks``) keeps public keys only: a JWK with a private member, or a
symmetric one, is refused, so the database never holds a client's signing secret.

Verification (``verify_client_assertion``) accepts ES256, EdDSA and RS256 only (never
``none`` nor an HMAC, so a public key can never be used as an HMAC secret), with the key's
type matching the algorithm; ``iss`` and ``sub`` must both be the client id, ``aud`` the
token endpoint, the endpoint receiving it, or the issuer; ``exp`` is required and at most
``max_lifetime`` ahead (``client_assertion_max_lifetime``, 5 minutes by default); ``jti``
is required and single use (the caller records it until ``exp``:
``store.client_repository.remember_client_assertion``). Times come from the service's
clock, not PyJWT's.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

import jwt
from cryptography.hazmat.primitives.asymmetric.rsa import RSAPublicKey

from tokenstile.errors import ConfigError, InvalidClient
from tokenstile.tokens.model import Client

ASSERTION_TYPE = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"
ASSERTION_ALGORITHMS = ("ES256", "EdDSA", "RS256")
MAX_ASSERTION_LIFETIME = 300.0
CLOCK_LEEWAY = 30.0
MAX_ASSERTION_CHARS = 8192
MAX_JTI_CHARS = 256
MAX_KEYS = 16
MIN_RSA_BITS = 2048

# The key type (and curve) each algorithm needs.
_KEY_TYPE = {"ES256": ("EC", "P-256"), "EdDSA": ("OKP", "Ed25519"), "RS256": ("RSA", None)}
# RFC 7518 section 6.2.2, 6.3.2, RFC 8037 section 2: members only a private key has.
_PRIVATE_MEMBERS = frozenset({"d", "p", "q", "dp", "dq", "qi", "oth", "k"})


@dataclass(frozen=True, slots=True)
class AcceptedAssertion:
    """What the caller records so the assertion is never accepted again: its ``jti``,
    until it could no longer pass (``exp`` plus the clock leeway)."""

    jti: str
    keep_until: float


def _check_public_jwk(index: int, jwk: Any) -> None:
    if not isinstance(jwk, dict):
        raise ConfigError(f"Key {index} of the JWK Set is not a JSON object.")
    private = sorted(_PRIVATE_MEMBERS & jwk.keys())
    if private:
        raise ConfigError(
            f"Key {index} of the JWK Set holds private members ({', '.join(private)}): "
            "register public keys only."
        )
    kty, crv = jwk.get("kty"), jwk.get("crv")
    if (kty, crv) not in {(k, c) for k, c in _KEY_TYPE.values() if c} and kty != "RSA":
        raise ConfigError(
            f"Key {index} of the JWK Set is {kty!r}/{crv!r}; only EC P-256, OKP Ed25519 "
            "and RSA public keys sign client assertions."
        )
    alg = jwk.get("alg")
    if alg is not None and alg not in ASSERTION_ALGORITHMS:
        raise ConfigError(
            f"Key {index} of the JWK Set names alg {alg!r}; allowed: "
            f"{', '.join(ASSERTION_ALGORITHMS)}."
        )
    if jwk.get("use", "sig") != "sig":
        raise ConfigError(f"Key {index} of the JWK Set is not a signing key (use {jwk['use']!r}).")
    try:
        key = jwt.PyJWK(jwk).key
    except (jwt.PyJWKError, jwt.InvalidKeyError, ValueError, TypeError) as exc:
        raise ConfigError(f"Key {index} of the JWK Set cannot be read: {exc}") from exc
    if isinstance(key, RSAPublicKey) and key.key_size < MIN_RSA_BITS:
        raise ConfigError(f"Key {index} of the JWK Set is RSA below {MIN_RSA_BITS} bits.")


def public_jwks(text: str) -> str:
    """The JWK Set ``text`` as it is stored (compact JSON), if it holds only public
    signing keys of the allowed types; ``ConfigError`` naming what is wrong otherwise."""
    try:
        document = json.loads(text)
    except ValueError as exc:
        raise ConfigError(f"The JWK Set is not JSON: {exc}") from exc
    keys = document.get("keys") if isinstance(document, dict) else None
    if not isinstance(keys, list) or not keys:
        raise ConfigError('The JWK Set needs a non-empty "keys" list (RFC 7517 section 5).')
    if len(keys) > MAX_KEYS:
        raise ConfigError(f"The JWK Set holds {len(keys)} keys; at most {MAX_KEYS}.")
    for index, jwk in enumerate(keys):
        _check_public_jwk(index, jwk)
    return json.dumps({"keys": keys}, separators=(",", ":"), sort_keys=True)


def assertion_issuer(assertion: str) -> str:
    """The unverified ``iss`` of an assertion: which client's keys to check it with."""
    if len(assertion) > MAX_ASSERTION_CHARS:
        raise InvalidClient("The client assertion is too long.")
    try:
        claims = jwt.decode(assertion, options={"verify_signature": False})
    except jwt.PyJWTError as exc:
        raise InvalidClient("The client assertion is not a JWT.") from exc
    iss = claims.get("iss")
    if not isinstance(iss, str) or not iss:
        raise InvalidClient("The client assertion names no issuer (iss).")
    return iss


def _candidate_keys(client: Client, alg: str, kid: object) -> list[jwt.PyJWK]:
    kty, crv = _KEY_TYPE[alg]
    keys = json.loads(client.jwks or '{"keys": []}')["keys"]
    found = []
    for jwk in keys:
        if jwk.get("kty") != kty or (crv is not None and jwk.get("crv") != crv):
            continue
        if jwk.get("alg", alg) != alg or (kid is not None and jwk.get("kid") != kid):
            continue
        found.append(jwt.PyJWK(jwk, algorithm=alg))
    return found


def _decode(
    assertion: str, keys: list[jwt.PyJWK], alg: str, audiences: list[str]
) -> dict[str, Any]:
    for key in keys:
        try:
            return jwt.decode(
                assertion,
                key=key.key,
                algorithms=[alg],
                audience=audiences,
                options={
                    "require": ["iss", "sub", "aud", "exp", "jti"],
                    "verify_exp": False,  # checked against the service's clock below
                    "verify_iat": False,
                    "verify_nbf": False,
                },
            )
        except jwt.InvalidSignatureError:
            continue
        except jwt.InvalidAudienceError as exc:
            raise InvalidClient(
                "The client assertion is not addressed to this server (aud)."
            ) from exc
        except jwt.MissingRequiredClaimError as exc:
            raise InvalidClient(f"The client assertion lacks the {exc.claim} claim.") from exc
        except jwt.PyJWTError as exc:
            raise InvalidClient("The client assertion is not valid.") from exc
    raise InvalidClient("The client assertion is not signed by a key the client registered.")


def _check_times(claims: dict[str, Any], now: float, max_lifetime: float) -> float:
    exp = claims.get("exp")
    if not isinstance(exp, int | float) or isinstance(exp, bool):
        raise InvalidClient("The client assertion's exp is not a number.")
    if exp <= now - CLOCK_LEEWAY:
        raise InvalidClient("The client assertion has expired.")
    if exp > now + max_lifetime + CLOCK_LEEWAY:
        raise InvalidClient(f"The client assertion's exp is more than {max_lifetime:g} s ahead.")
    for name in ("iat", "nbf"):
        value = claims.get(name)
        if value is None:
            continue
        if not isinstance(value, int | float) or isinstance(value, bool):
            raise InvalidClient(f"The client assertion's {name} is not a number.")
        if value > now + CLOCK_LEEWAY:
            raise InvalidClient(f"The client assertion's {name} is in the future.")
    return float(exp)


def verify_client_assertion(
    client: Client,
    assertion: str,
    *,
    audiences: Iterable[str],
    now: float,
    max_lifetime: float = MAX_ASSERTION_LIFETIME,
) -> AcceptedAssertion:
    """Check ``assertion`` as ``client``'s proof of itself; ``InvalidClient`` saying why
    not. The caller still records the returned ``jti`` (single use)."""
    if client.jwks is None:
        raise InvalidClient("This client registered no keys: it cannot use private_key_jwt.")
    try:
        header = jwt.get_unverified_header(assertion)
    except jwt.PyJWTError as exc:
        raise InvalidClient("The client assertion is not a JWT.") from exc
    alg = header.get("alg")
    if alg not in ASSERTION_ALGORITHMS:
        raise InvalidClient(
            f"The client assertion's alg {alg!r} is not accepted; use "
            f"{', '.join(ASSERTION_ALGORITHMS)}."
        )
    keys = _candidate_keys(client, alg, header.get("kid"))
    if not keys:
        raise InvalidClient("The client registered no key for this assertion's alg and kid.")
    claims = _decode(assertion, keys, alg, list(audiences))
    if claims.get("iss") != client.client_id or claims.get("sub") != client.client_id:
        raise InvalidClient("The client assertion's iss and sub must both be the client id.")
    jti = claims.get("jti")
    if not isinstance(jti, str) or not jti or len(jti) > MAX_JTI_CHARS:
        raise InvalidClient("The client assertion's jti is not a usable identifier.")
    return AcceptedAssertion(
        jti=jti, keep_until=_check_times(claims, now, max_lifetime) + CLOCK_LEEWAY
    )
