"""AccessTokenVerifier with DPoP-bound tokens (RFC 9449 section 7.1): a token carrying
``cnf.jkt`` is accepted only with a fresh proof by that key for this request."""

from __future__ import annotations

from typing import Any

import jwt
import pytest
from cryptography.hazmat.primitives.asymmetric import ec, ed25519

from tokenstile.clock import FrozenClock
from tokenstile.errors import ConfigError, InvalidClaim, InvalidToken
from tokenstile.protocol.dpop import dpop_public_jwk, make_dpop_proof
from tokenstile.protocol.jose import jwk_thumbprint
from tokenstile.tokens import AccessTokenVerifier
from tokenstile.tokens.dpop import DpopProofError, MemoryReplayCache
from tokenstile.tokens.keys import SigningKey

NOW = 1_800_000_000
ISSUER = "https://auth.example"
AUDIENCE = "https://api.example"
API = "https://api.example/orders"


@pytest.fixture
def signing_key() -> SigningKey:
    return SigningKey.generate("ES256", created_at=0, sign_from=0)


@pytest.fixture
def clock() -> FrozenClock:
    return FrozenClock(NOW)


@pytest.fixture
def verifier(signing_key: SigningKey, clock: FrozenClock) -> AccessTokenVerifier:
    return AccessTokenVerifier(ISSUER, AUDIENCE, {"keys": [signing_key.jwk]}, clock=clock)


def access_token(signing_key: SigningKey, **extra: Any) -> str:
    claims = {
        "iss": ISSUER,
        "sub": "alice",
        "aud": AUDIENCE,
        "exp": NOW + 600,
        "iat": NOW,
        "nbf": NOW,
        "jti": "j-1",
        "client_id": "tokenstile-kiosk",
        "scope": "openid",
        **extra,
    }
    return jwt.encode(
        claims,
        signing_key.private_key,
        algorithm="ES256",
        headers={"typ": "at+jwt", "kid": signing_key.kid},
    )


def bound_token(signing_key: SigningKey, dpop_key: Any) -> str:
    return access_token(signing_key, cnf={"jkt": jwk_thumbprint(dpop_public_jwk(dpop_key))})


@pytest.mark.parametrize(
    "new_key",
    [lambda: ec.generate_private_key(ec.SECP256R1()), ed25519.Ed25519PrivateKey.generate],
    ids=["ES256", "EdDSA"],
)
def test_a_bound_token_with_its_proof_is_accepted(
    verifier: AccessTokenVerifier, signing_key: SigningKey, new_key: Any
) -> None:
    key = new_key()
    token = bound_token(signing_key, key)
    proof = make_dpop_proof(key, method="GET", url=API, access_token=token, now=NOW)
    claims = verifier.verify(token, dpop_proof=proof, method="GET", url=API + "?page=2")
    assert claims["cnf"]["jkt"] == jwk_thumbprint(dpop_public_jwk(key))


def test_a_stolen_bound_token_is_useless_without_the_key(
    verifier: AccessTokenVerifier, signing_key: SigningKey
) -> None:
    owner = ec.generate_private_key(ec.SECP256R1())
    token = bound_token(signing_key, owner)
    # As a plain bearer token: refused.
    with pytest.raises(DpopProofError, match="only with a DPoP proof"):
        verifier.verify(token)
    # With a proof the thief makes with their own key: refused.
    thief = ec.generate_private_key(ec.SECP256R1())
    forged = make_dpop_proof(thief, method="GET", url=API, access_token=token, now=NOW)
    with pytest.raises(DpopProofError, match="another key"):
        verifier.verify(token, dpop_proof=forged, method="GET", url=API)
    # With a proof of the owner's key captured from another request: refused.
    other = make_dpop_proof(owner, method="POST", url=API, access_token=token, now=NOW)
    with pytest.raises(DpopProofError, match="another HTTP method"):
        verifier.verify(token, dpop_proof=other, method="GET", url=API)
    elsewhere = make_dpop_proof(owner, method="GET", url=API + "/1", access_token=token, now=NOW)
    with pytest.raises(DpopProofError, match="another URL"):
        verifier.verify(token, dpop_proof=elsewhere, method="GET", url=API)
    # ... or captured with this very request: a replay.
    good = make_dpop_proof(owner, method="GET", url=API, access_token=token, now=NOW)
    verifier.verify(token, dpop_proof=good, method="GET", url=API)
    with pytest.raises(DpopProofError, match="used before"):
        verifier.verify(token, dpop_proof=good, method="GET", url=API)


def test_a_proof_made_for_another_token_is_refused(
    verifier: AccessTokenVerifier, signing_key: SigningKey
) -> None:
    key = ec.generate_private_key(ec.SECP256R1())
    token = bound_token(signing_key, key)
    other_token = access_token(
        signing_key, jti="j-2", cnf=jwt.decode(token, options={"verify_signature": False})["cnf"]
    )
    proof = make_dpop_proof(key, method="GET", url=API, access_token=other_token, now=NOW)
    with pytest.raises(DpopProofError, match="another access token"):
        verifier.verify(token, dpop_proof=proof, method="GET", url=API)
    no_ath = make_dpop_proof(key, method="GET", url=API, now=NOW)
    with pytest.raises(DpopProofError, match="no ath"):
        verifier.verify(token, dpop_proof=no_ath, method="GET", url=API)


def test_an_old_proof_is_refused(
    verifier: AccessTokenVerifier, signing_key: SigningKey, clock: FrozenClock
) -> None:
    key = ec.generate_private_key(ec.SECP256R1())
    token = bound_token(signing_key, key)
    proof = make_dpop_proof(key, method="GET", url=API, access_token=token, now=NOW - 61)
    with pytest.raises(DpopProofError, match="too old"):
        verifier.verify(token, dpop_proof=proof, method="GET", url=API)


def test_the_proof_window_and_replay_cache_are_settings(
    signing_key: SigningKey, clock: FrozenClock
) -> None:
    cache = MemoryReplayCache()
    verifier = AccessTokenVerifier(
        ISSUER,
        AUDIENCE,
        {"keys": [signing_key.jwk]},
        clock=clock,
        dpop_max_age=300,
        dpop_replay=cache,
    )
    key = ec.generate_private_key(ec.SECP256R1())
    token = bound_token(signing_key, key)
    proof = make_dpop_proof(key, method="GET", url=API, access_token=token, now=NOW - 200)
    verifier.verify(token, dpop_proof=proof, method="GET", url=API)
    assert len(cache) == 1


def test_an_unbound_token_ignores_a_proof_and_needs_none(
    verifier: AccessTokenVerifier, signing_key: SigningKey
) -> None:
    token = access_token(signing_key)
    assert verifier.verify(token)["sub"] == "alice"
    assert verifier.verify(token, dpop_proof="junk", method="GET", url=API)["sub"] == "alice"


@pytest.mark.parametrize("cnf", [{"x5t#S256": "abc"}, {"jkt": ""}, {"jkt": 5}, "jkt", None])
def test_a_binding_this_verifier_cannot_check_is_refused(
    verifier: AccessTokenVerifier, signing_key: SigningKey, cnf: Any
) -> None:
    token = access_token(signing_key, cnf=cnf)
    key = ec.generate_private_key(ec.SECP256R1())
    proof = make_dpop_proof(key, method="GET", url=API, access_token=token, now=NOW)
    with pytest.raises(InvalidClaim, match="bound to a key in a way"):
        verifier.verify(token, dpop_proof=proof, method="GET", url=API)


def test_checking_a_bound_token_needs_the_method_and_url(
    verifier: AccessTokenVerifier, signing_key: SigningKey
) -> None:
    key = ec.generate_private_key(ec.SECP256R1())
    token = bound_token(signing_key, key)
    proof = make_dpop_proof(key, method="GET", url=API, access_token=token, now=NOW)
    with pytest.raises(ConfigError, match="method and URL"):
        verifier.verify(token, dpop_proof=proof)


def test_proof_errors_are_invalid_token_errors_for_resource_servers(
    verifier: AccessTokenVerifier, signing_key: SigningKey
) -> None:
    key = ec.generate_private_key(ec.SECP256R1())
    with pytest.raises(InvalidToken) as info:
        verifier.verify(bound_token(signing_key, key))
    assert info.value.code == "invalid_dpop_proof"
