"""AccessTokenVerifier: the RFC 8725 / RFC 9068 attack battery, and JWKS over real HTTP.

Well-formed tokens come from PyJWT (an independent encoder); malformed and hostile ones
are assembled by hand and, where it matters, signed with the real key so that the only
thing wrong with them is the thing under test.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import socket
import subprocess
import sys
import threading
import urllib.error
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import jwt
import pytest
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.hazmat.primitives.asymmetric.utils import decode_dss_signature

from tokenstile.clock import FrozenClock
from tokenstile.errors import (
    BadSignature,
    ConfigError,
    ForbiddenHeader,
    InvalidClaim,
    InvalidToken,
    JwksUnavailable,
    MalformedToken,
    TokenExpired,
    TokenNotYetValid,
    TokenstileError,
    TokenTooLarge,
    UnknownKey,
    UnsupportedAlgorithm,
    WrongTokenType,
)
from tokenstile.protocol.jose import b64url_encode
from tokenstile.tokens import AccessTokenVerifier
from tokenstile.tokens.keys import SigningKey

NOW = 1_800_000_000
ISSUER = "https://auth.example"
AUDIENCE = "https://api.example"


# -- helpers -----------------------------------------------------------------------------


def b64(data: bytes) -> str:
    return b64url_encode(data)


def b64json(value: Any) -> str:
    return b64(json.dumps(value, separators=(",", ":")).encode("utf-8"))


def make_claims(*, drop: tuple[str, ...] = (), **changes: Any) -> dict[str, Any]:
    claims: dict[str, Any] = {
        "iss": ISSUER,
        "sub": "user-42",
        "aud": AUDIENCE,
        "exp": NOW + 600,
        "iat": NOW,
        "nbf": NOW,
        "jti": "2c6f0e1b9d8a4c37",
        "client_id": "tokenstile-kiosk",
        "scope": "openid api.read",
        "sid": "s-1",
        "auth_time": NOW - 5,
        "amr": ["hwk", "pin", "mfa"],
        "acr": "urn:tokenstile:acr:hwk",
    }
    claims.update(changes)
    for name in drop:
        del claims[name]
    return claims


def make_header(key: SigningKey, **changes: Any) -> dict[str, Any]:
    header: dict[str, Any] = {"alg": key.alg, "typ": "at+jwt", "kid": key.kid}
    header.update(changes)
    return {name: value for name, value in header.items() if value is not None}


def pyjwt_token(key: SigningKey, claims: dict[str, Any] | None = None, **headers: Any) -> str:
    """A token encoded by PyJWT (``typ=None`` drops the typ header)."""
    return jwt.encode(
        claims if claims is not None else make_claims(),
        key.private_key,
        algorithm=key.alg,
        headers={"kid": key.kid, "typ": "at+jwt", **headers},
    )


def raw_signature(key: SigningKey, signing_input: bytes) -> bytes:
    """The JWS signature bytes: raw r || s for ES256 (RFC 7518 section 3.4)."""
    private = key.private_key
    if isinstance(private, ec.EllipticCurvePrivateKey):
        r, s = decode_dss_signature(private.sign(signing_input, ec.ECDSA(hashes.SHA256())))
        return r.to_bytes(32, "big") + s.to_bytes(32, "big")
    return private.sign(signing_input)


def signed(key: SigningKey, header_part: str, payload_part: str) -> str:
    """Sign exactly these two (possibly malformed) parts with ``key``."""
    signing_input = f"{header_part}.{payload_part}".encode()
    return f"{header_part}.{payload_part}.{b64(raw_signature(key, signing_input))}"


def hand_token(
    key: SigningKey, header: dict[str, Any] | None = None, claims: dict[str, Any] | None = None
) -> str:
    return signed(
        key,
        b64json(header if header is not None else make_header(key)),
        b64json(claims if claims is not None else make_claims()),
    )


def reject(
    verifier: AccessTokenVerifier, token: str, error: type[TokenstileError], code: str
) -> Any:
    """Assert that ``token`` is refused with exactly ``error`` and ``code``."""
    with pytest.raises(TokenstileError) as info:
        verifier.verify(token)
    assert type(info.value) is error, f"{type(info.value).__name__}: {info.value}"
    assert info.value.code == code
    assert info.value.message
    if len(token) > 20:
        assert token not in info.value.message
        assert token not in str(info.value)
    return info.value


def parts(token: str) -> list[str]:
    return token.split(".")


def retail(segment: str, offset: int) -> str:
    """The same base64url with its last character moved by ``offset`` alphabet places."""
    alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
    return segment[:-1] + alphabet[alphabet.index(segment[-1]) + offset]


# -- fixtures ----------------------------------------------------------------------------


@pytest.fixture
def clock() -> FrozenClock:
    return FrozenClock(float(NOW))


@pytest.fixture(scope="module")
def es_key() -> SigningKey:
    return SigningKey.generate("ES256", created_at=NOW, sign_from=NOW)


@pytest.fixture(scope="module")
def ed_key() -> SigningKey:
    return SigningKey.generate("EdDSA", created_at=NOW, sign_from=NOW)


@pytest.fixture(scope="module")
def rsa_private() -> rsa.RSAPrivateKey:
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


@pytest.fixture
def verifier(es_key: SigningKey, ed_key: SigningKey, clock: FrozenClock) -> AccessTokenVerifier:
    return AccessTokenVerifier(ISSUER, AUDIENCE, {"keys": [es_key.jwk, ed_key.jwk]}, clock=clock)


# -- tokens that must be accepted --------------------------------------------------------


def test_es256_token_from_pyjwt_is_accepted(
    verifier: AccessTokenVerifier, es_key: SigningKey
) -> None:
    assert verifier.verify(pyjwt_token(es_key)) == make_claims()


def test_eddsa_token_from_pyjwt_is_accepted(
    verifier: AccessTokenVerifier, ed_key: SigningKey
) -> None:
    assert verifier.verify(pyjwt_token(ed_key)) == make_claims()


def test_hand_built_token_is_accepted(verifier: AccessTokenVerifier, es_key: SigningKey) -> None:
    # Guards the battery below: the hand-built path yields good tokens when nothing is wrong.
    assert verifier.verify(hand_token(es_key)) == make_claims()


def test_aud_list_containing_our_audience_is_accepted(
    verifier: AccessTokenVerifier, es_key: SigningKey
) -> None:
    claims = make_claims(aud=["https://other.example", AUDIENCE])
    assert verifier.verify(pyjwt_token(es_key, claims))["aud"] == claims["aud"]


def test_any_configured_audience_is_accepted(es_key: SigningKey, clock: FrozenClock) -> None:
    verifier = AccessTokenVerifier(
        ISSUER, ["https://a.example", "https://b.example"], {"keys": [es_key.jwk]}, clock=clock
    )
    verifier.verify(pyjwt_token(es_key, make_claims(aud="https://b.example")))
    reject(verifier, pyjwt_token(es_key), InvalidClaim, "token_invalid_claim")


@pytest.mark.parametrize("typ", ["at+jwt", "AT+JWT", "application/at+jwt", "Application/At+JWT"])
def test_typ_at_jwt_is_accepted_in_any_case_with_or_without_prefix(
    verifier: AccessTokenVerifier, es_key: SigningKey, typ: str
) -> None:
    verifier.verify(pyjwt_token(es_key, typ=typ))


def test_non_ascii_claim_values_are_accepted(
    verifier: AccessTokenVerifier, es_key: SigningKey
) -> None:
    token = pyjwt_token(es_key, make_claims(sub="zoë", scope="lecture écriture"))
    assert verifier.verify(token)["sub"] == "zoë"


def test_whitespace_around_the_payload_object_is_valid_json(
    verifier: AccessTokenVerifier, es_key: SigningKey
) -> None:
    text = " \n" + json.dumps(make_claims()) + "\t "
    token = signed(es_key, b64json(make_header(es_key)), b64(text.encode()))
    assert verifier.verify(token) == make_claims()


def test_huge_integer_exp_does_not_overflow(
    verifier: AccessTokenVerifier, es_key: SigningKey
) -> None:
    verifier.verify(hand_token(es_key, claims=make_claims(exp=10**400, nbf=-(10**400))))


def test_cached_header_does_not_skip_the_signature_check(
    verifier: AccessTokenVerifier, es_key: SigningKey
) -> None:
    good = pyjwt_token(es_key)
    verifier.verify(good)
    header = parts(good)[0]
    other = pyjwt_token(es_key, make_claims(sub="mallory"))
    forged = f"{header}.{parts(other)[1]}.{parts(good)[2]}"
    reject(verifier, forged, BadSignature, "token_bad_signature")
    assert verifier.verify(good)["sub"] == "user-42"
    assert verifier.verify(other)["sub"] == "mallory"


# -- algorithm attacks (RFC 8725 sections 2.1, 3.1, 3.2) ----------------------------------


def test_alg_none_without_signature_is_refused(
    verifier: AccessTokenVerifier, es_key: SigningKey
) -> None:
    token = jwt.encode(make_claims(), "", algorithm="none", headers=make_header(es_key, alg=None))
    assert token.endswith(".")  # PyJWT's unsecured JWT: empty signature
    reject(verifier, token, UnsupportedAlgorithm, "token_bad_alg")


@pytest.mark.parametrize("alg", ["none", "None", "NONE"])
def test_alg_none_with_a_valid_signature_is_refused(
    verifier: AccessTokenVerifier, es_key: SigningKey, alg: str
) -> None:
    reject(
        verifier,
        hand_token(es_key, make_header(es_key, alg=alg)),
        UnsupportedAlgorithm,
        "token_bad_alg",
    )


def _public_secrets(key: SigningKey) -> list[bytes]:
    public = key.private_key.public_key()
    return [
        json.dumps(key.jwk).encode(),
        json.dumps(key.jwk, separators=(",", ":"), sort_keys=True).encode(),
        public.public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
        ),
        public.public_bytes(
            serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
        ),
    ]


@pytest.mark.parametrize("secret_index", range(4))
@pytest.mark.parametrize("alg", ["HS256", "HS384", "HS512"])
def test_hmac_signed_with_the_public_key_is_refused(
    verifier: AccessTokenVerifier, es_key: SigningKey, alg: str, secret_index: int
) -> None:
    secret = _public_secrets(es_key)[secret_index]
    digest = {"HS256": hashlib.sha256, "HS384": hashlib.sha384, "HS512": hashlib.sha512}[alg]
    head = b64json(make_header(es_key, alg=alg))
    body = b64json(make_claims())
    mac = hmac.new(secret, f"{head}.{body}".encode(), digest).digest()
    reject(verifier, f"{head}.{body}.{b64(mac)}", UnsupportedAlgorithm, "token_bad_alg")


def test_eddsa_header_on_the_es256_key_is_refused(
    verifier: AccessTokenVerifier, es_key: SigningKey
) -> None:
    token = hand_token(es_key, make_header(es_key, alg="EdDSA"))
    error = reject(verifier, token, UnsupportedAlgorithm, "token_bad_alg")
    assert "ES256" in error.message


def test_es256_header_on_the_eddsa_key_is_refused(
    verifier: AccessTokenVerifier, ed_key: SigningKey
) -> None:
    token = hand_token(ed_key, make_header(ed_key, alg="ES256"))
    reject(verifier, token, UnsupportedAlgorithm, "token_bad_alg")


def test_rs256_token_is_refused(
    verifier: AccessTokenVerifier, es_key: SigningKey, rsa_private: rsa.RSAPrivateKey
) -> None:
    token = jwt.encode(
        make_claims(), rsa_private, algorithm="RS256", headers={"kid": es_key.kid, "typ": "at+jwt"}
    )
    reject(verifier, token, UnsupportedAlgorithm, "token_bad_alg")


@pytest.mark.parametrize(
    "alg", ["RS256", "PS256", "ES384", "ES512", "ES256K", "Ed25519", "es256", "", 256, None]
)
def test_other_algorithms_are_refused_even_with_a_valid_signature(
    verifier: AccessTokenVerifier, es_key: SigningKey, alg: Any
) -> None:
    header = make_header(es_key)
    header["alg"] = alg
    reject(verifier, hand_token(es_key, header), UnsupportedAlgorithm, "token_bad_alg")


# -- key selection (RFC 8725 section 3.10) -----------------------------------------------


def test_unknown_kid_is_refused(verifier: AccessTokenVerifier) -> None:
    stranger = SigningKey.generate("ES256", created_at=NOW, sign_from=NOW)
    reject(verifier, pyjwt_token(stranger), UnknownKey, "token_unknown_kid")


@pytest.mark.parametrize("kid", [None, "", 7, ["x"]])
def test_missing_or_non_string_kid_is_refused(
    verifier: AccessTokenVerifier, es_key: SigningKey, kid: Any
) -> None:
    header = {"alg": "ES256", "typ": "at+jwt"}
    if kid is not None:
        header["kid"] = kid
    reject(verifier, hand_token(es_key, header), UnknownKey, "token_unknown_kid")


def test_other_key_under_a_known_kid_is_a_bad_signature(
    verifier: AccessTokenVerifier, es_key: SigningKey
) -> None:
    impostor = SigningKey.generate("ES256", created_at=NOW, sign_from=NOW)
    token = signed(impostor, b64json(make_header(es_key)), b64json(make_claims()))
    reject(verifier, token, BadSignature, "token_bad_signature")


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("jku", "https://attacker.example/jwks.json"),
        ("x5u", "https://attacker.example/cert.pem"),
        ("jwk", {"kty": "EC", "crv": "P-256", "x": "AA", "y": "AA"}),
        ("x5c", ["MIIBszCCAVmgAwIBAgIU"]),
        ("crit", ["exp"]),
    ],
)
def test_headers_that_name_or_carry_keys_are_refused(
    verifier: AccessTokenVerifier, es_key: SigningKey, name: str, value: Any
) -> None:
    # Signed by the real key: the header member alone must get the token refused.
    token = hand_token(es_key, make_header(es_key, **{name: value}))
    reject(verifier, token, ForbiddenHeader, "token_forbidden_header")


def test_embedded_jwk_of_the_signer_is_refused(verifier: AccessTokenVerifier) -> None:
    attacker = SigningKey.generate("ES256", created_at=NOW, sign_from=NOW)
    token = pyjwt_token(attacker, jwk=attacker.jwk)
    reject(verifier, token, ForbiddenHeader, "token_forbidden_header")


# -- token type (RFC 9068 section 4, RFC 8725 section 3.11) -------------------------------


@pytest.mark.parametrize(
    "typ", [None, "JWT", "jwt", "application/jwt", "dpop+jwt", "at+jwt ", "at+jw", 1, ["at+jwt"]]
)
def test_wrong_or_missing_typ_is_refused(
    verifier: AccessTokenVerifier, es_key: SigningKey, typ: Any
) -> None:
    header = make_header(es_key)
    del header["typ"]
    if typ is not None:
        header["typ"] = typ
    reject(verifier, hand_token(es_key, header), WrongTokenType, "token_wrong_typ")


def test_pyjwt_default_typ_jwt_is_refused(
    verifier: AccessTokenVerifier, es_key: SigningKey
) -> None:
    token = jwt.encode(
        make_claims(), es_key.private_key, algorithm="ES256", headers={"kid": es_key.kid}
    )
    reject(verifier, token, WrongTokenType, "token_wrong_typ")


def test_missing_typ_from_pyjwt_is_refused(
    verifier: AccessTokenVerifier, es_key: SigningKey
) -> None:
    reject(verifier, pyjwt_token(es_key, typ=None), WrongTokenType, "token_wrong_typ")


# -- claims ------------------------------------------------------------------------------


@pytest.mark.parametrize("claim", ["iss", "aud", "exp", "iat", "sub", "jti", "client_id"])
def test_missing_required_claim_is_refused(
    verifier: AccessTokenVerifier, es_key: SigningKey, claim: str
) -> None:
    error = reject(
        verifier,
        pyjwt_token(es_key, make_claims(drop=(claim,))),
        InvalidClaim,
        "token_invalid_claim",
    )
    assert error.claim == claim
    assert claim in error.message


def test_nbf_is_optional(verifier: AccessTokenVerifier, es_key: SigningKey) -> None:
    verifier.verify(pyjwt_token(es_key, make_claims(drop=("nbf",))))


@pytest.mark.parametrize(
    ("claim", "value"),
    [
        ("exp", True),
        ("exp", False),
        ("exp", str(NOW + 600)),
        ("exp", None),
        ("exp", [NOW + 600]),
        ("iat", True),
        ("iat", str(NOW)),
        ("nbf", True),
        ("nbf", str(NOW)),
        ("nbf", None),
        ("iss", 7),
        ("iss", [ISSUER]),
        ("aud", 7),
        ("aud", {"aud": AUDIENCE}),
        ("aud", [AUDIENCE, 7]),
        ("sub", 42),
        ("sub", ""),
        ("jti", 42),
        ("jti", ""),
        ("client_id", ["kiosk"]),
        ("client_id", None),
    ],
)
def test_wrong_typed_claim_is_refused(
    verifier: AccessTokenVerifier, es_key: SigningKey, claim: str, value: Any
) -> None:
    token = hand_token(es_key, claims=make_claims(**{claim: value}))
    error = reject(verifier, token, InvalidClaim, "token_invalid_claim")
    assert error.claim == claim


def test_infinite_exp_written_as_a_number_is_refused(
    verifier: AccessTokenVerifier, es_key: SigningKey
) -> None:
    # 1e400 is valid JSON that Python parses to float('inf'): a token that never expires.
    text = json.dumps(make_claims()).replace(str(NOW + 600), "1e400")
    token = signed(es_key, b64json(make_header(es_key)), b64(text.encode()))
    error = reject(verifier, token, InvalidClaim, "token_invalid_claim")
    assert error.claim == "exp"


@pytest.mark.parametrize("constant", ["Infinity", "NaN", "-Infinity"])
def test_non_json_number_constants_are_refused(
    verifier: AccessTokenVerifier, es_key: SigningKey, constant: str
) -> None:
    text = json.dumps(make_claims()).replace(str(NOW + 600), constant)
    token = signed(es_key, b64json(make_header(es_key)), b64(text.encode()))
    reject(verifier, token, MalformedToken, "token_malformed")


def test_wrong_issuer_is_refused(verifier: AccessTokenVerifier, es_key: SigningKey) -> None:
    token = pyjwt_token(es_key, make_claims(iss="https://auth.example.evil"))
    assert reject(verifier, token, InvalidClaim, "token_invalid_claim").claim == "iss"


@pytest.mark.parametrize(
    "aud", ["https://other.example", "https://api.example/", [], ["https://other.example"]]
)
def test_wrong_audience_is_refused(
    verifier: AccessTokenVerifier, es_key: SigningKey, aud: Any
) -> None:
    token = pyjwt_token(es_key, make_claims(aud=aud))
    assert reject(verifier, token, InvalidClaim, "token_invalid_claim").claim == "aud"


# -- time (RFC 7519 sections 4.1.4-4.1.6, 30 s leeway) ------------------------------------


def test_expired_token_is_refused(verifier: AccessTokenVerifier, es_key: SigningKey) -> None:
    reject(verifier, pyjwt_token(es_key, make_claims(exp=NOW - 31)), TokenExpired, "token_expired")


def test_exp_at_the_leeway_edge(verifier: AccessTokenVerifier, es_key: SigningKey) -> None:
    verifier.verify(pyjwt_token(es_key, make_claims(exp=NOW - 29)))
    verifier.verify(pyjwt_token(es_key, make_claims(exp=NOW - 29.5)))
    reject(verifier, pyjwt_token(es_key, make_claims(exp=NOW - 30)), TokenExpired, "token_expired")


def test_token_expires_as_the_clock_moves(
    verifier: AccessTokenVerifier, es_key: SigningKey, clock: FrozenClock
) -> None:
    token = pyjwt_token(es_key)
    verifier.verify(token)
    clock.advance(600 + 29)
    verifier.verify(token)
    clock.advance(1)
    reject(verifier, token, TokenExpired, "token_expired")


def test_no_leeway_when_configured(es_key: SigningKey, clock: FrozenClock) -> None:
    verifier = AccessTokenVerifier(ISSUER, AUDIENCE, {"keys": [es_key.jwk]}, clock=clock, leeway=0)
    verifier.verify(pyjwt_token(es_key, make_claims(exp=NOW + 1)))
    reject(verifier, pyjwt_token(es_key, make_claims(exp=NOW)), TokenExpired, "token_expired")
    reject(
        verifier,
        pyjwt_token(es_key, make_claims(nbf=NOW + 1)),
        TokenNotYetValid,
        "token_not_yet_valid",
    )


def test_nbf_in_the_future_is_refused(verifier: AccessTokenVerifier, es_key: SigningKey) -> None:
    token = pyjwt_token(es_key, make_claims(nbf=NOW + 31))
    reject(verifier, token, TokenNotYetValid, "token_not_yet_valid")
    verifier.verify(pyjwt_token(es_key, make_claims(nbf=NOW + 30)))


def test_iat_in_the_future_is_refused(verifier: AccessTokenVerifier, es_key: SigningKey) -> None:
    token = pyjwt_token(es_key, make_claims(iat=NOW + 31, nbf=NOW))
    reject(verifier, token, TokenNotYetValid, "token_not_yet_valid")
    verifier.verify(pyjwt_token(es_key, make_claims(iat=NOW + 30)))


# -- size and shape ----------------------------------------------------------------------


def test_token_over_8_kib_is_refused_before_parsing(verifier: AccessTokenVerifier) -> None:
    reject(verifier, "a" * 8193, TokenTooLarge, "token_too_large")
    reject(verifier, "é" * 8193, TokenTooLarge, "token_too_large")
    # 5000 characters but 10000 UTF-8 bytes.
    reject(verifier, "é" * 5000, TokenTooLarge, "token_too_large")


def test_signed_token_of_8_kib_plus_one_is_refused(
    verifier: AccessTokenVerifier, es_key: SigningKey
) -> None:
    filler = 6000
    token = pyjwt_token(es_key, make_claims(pad="x" * filler))
    while len(token) < 8193:
        filler += 1
        token = pyjwt_token(es_key, make_claims(pad="x" * filler))
    while len(token) > 8193:
        filler -= 1
        token = pyjwt_token(es_key, make_claims(pad="x" * filler))
    if len(token) == 8193:
        reject(verifier, token, TokenTooLarge, "token_too_large")
    token = pyjwt_token(es_key, make_claims(pad="x" * (filler + 1)))
    assert len(token) > 8193
    reject(verifier, token, TokenTooLarge, "token_too_large")


def test_max_token_bytes_is_inclusive(es_key: SigningKey, clock: FrozenClock) -> None:
    token = pyjwt_token(es_key)
    jwks = {"keys": [es_key.jwk]}
    exact = AccessTokenVerifier(ISSUER, AUDIENCE, jwks, clock=clock, max_token_bytes=len(token))
    exact.verify(token)
    small = AccessTokenVerifier(ISSUER, AUDIENCE, jwks, clock=clock, max_token_bytes=len(token) - 1)
    reject(small, token, TokenTooLarge, "token_too_large")


@pytest.mark.parametrize("count", [1, 2, 4, 5])
def test_wrong_number_of_parts_is_refused(
    verifier: AccessTokenVerifier, es_key: SigningKey, count: int
) -> None:
    segments = parts(pyjwt_token(es_key))
    segments = (segments * 2)[:count]
    reject(verifier, ".".join(segments), MalformedToken, "token_malformed")


@pytest.mark.parametrize("token", ["", ".", "..", "...", "a.b.c", "Bearer"])
def test_degenerate_tokens_are_malformed(verifier: AccessTokenVerifier, token: str) -> None:
    reject(verifier, token, MalformedToken, "token_malformed")


@pytest.mark.parametrize("where", [0, 1, 2])
def test_non_ascii_character_is_refused(
    verifier: AccessTokenVerifier, es_key: SigningKey, where: int
) -> None:
    segments = parts(pyjwt_token(es_key))
    segments[where] = segments[where][:5] + "é" + segments[where][5:]
    reject(verifier, ".".join(segments), MalformedToken, "token_malformed")


def test_bearer_prefix_or_whitespace_is_refused(
    verifier: AccessTokenVerifier, es_key: SigningKey
) -> None:
    token = pyjwt_token(es_key)
    for variant in (f"Bearer {token}", f" {token}", f"{token}\n", token.replace(".", ". ", 1)):
        reject(verifier, variant, MalformedToken, "token_malformed")


def _payload_needing_padding(key: SigningKey) -> tuple[str, bytes]:
    """A header part and a payload whose base64 needs padding."""
    for size in range(3):
        raw = json.dumps(make_claims(pad="x" * size)).encode()
        if len(raw) % 3:
            return b64json(make_header(key)), raw
    raise AssertionError("unreachable")


def test_padded_base64_is_refused(verifier: AccessTokenVerifier, es_key: SigningKey) -> None:
    header, raw = _payload_needing_padding(es_key)
    padded = base64.urlsafe_b64encode(raw).decode()
    assert padded.endswith("=")
    reject(verifier, signed(es_key, header, padded), MalformedToken, "token_malformed")
    # A padded header, and a padded signature, are refused just the same.
    head_raw = json.dumps(make_header(es_key), separators=(",", ":")).encode() + b" " * 2
    head_padded = base64.urlsafe_b64encode(head_raw).decode()
    if head_padded.endswith("="):
        reject(verifier, signed(es_key, head_padded, b64(raw)), MalformedToken, "token_malformed")
    token = signed(es_key, header, b64(raw))
    reject(verifier, token + "==", MalformedToken, "token_malformed")


def _payload_with(char: str) -> bytes:
    """A claims payload whose base64url contains ``char`` ('-' or '_')."""
    for size in range(200):
        raw = json.dumps(make_claims(pad=">" * size + "?" * size)).encode()
        if char in b64(raw):
            return raw
    raise AssertionError("no such payload")


@pytest.mark.parametrize(("urlsafe", "standard"), [("-", "+"), ("_", "/")])
def test_standard_base64_alphabet_is_refused(
    verifier: AccessTokenVerifier, es_key: SigningKey, urlsafe: str, standard: str
) -> None:
    raw = _payload_with(urlsafe)
    header = b64json(make_header(es_key))
    verifier.verify(signed(es_key, header, b64(raw)))
    payload = b64(raw).replace(urlsafe, standard)
    reject(verifier, signed(es_key, header, payload), MalformedToken, "token_malformed")


def test_non_canonical_tail_bits_in_the_payload_are_refused(
    verifier: AccessTokenVerifier, es_key: SigningKey
) -> None:
    header, raw = _payload_needing_padding(es_key)
    payload = b64(raw)
    twin = retail(payload, 1)  # sets an unused bit: decodes to the same bytes
    assert base64.urlsafe_b64decode(twin + "=" * (-len(twin) % 4)) == raw
    reject(verifier, signed(es_key, header, twin), MalformedToken, "token_malformed")


def test_non_canonical_tail_bits_in_the_signature_are_refused(
    verifier: AccessTokenVerifier, es_key: SigningKey
) -> None:
    token = pyjwt_token(es_key)
    header, payload, signature = parts(token)
    twin = retail(signature, 1) if signature[-1] in "AQgw" else None
    assert twin is not None  # 64 bytes: the last character carries 4 unused bits
    assert base64.urlsafe_b64decode(twin + "==") == base64.urlsafe_b64decode(signature + "==")
    reject(verifier, f"{header}.{payload}.{twin}", MalformedToken, "token_malformed")


def test_truncated_segment_length_is_refused(
    verifier: AccessTokenVerifier, es_key: SigningKey
) -> None:
    header, payload, signature = parts(pyjwt_token(es_key))
    # 86 - 1 = 85 characters: a length no base64 text can have.
    reject(verifier, f"{header}.{payload}.{signature[:-1]}", MalformedToken, "token_malformed")


def test_altered_payload_is_a_bad_signature(
    verifier: AccessTokenVerifier, es_key: SigningKey
) -> None:
    header, _, signature = parts(pyjwt_token(es_key))
    altered = b64json(make_claims(sub="admin"))
    reject(verifier, f"{header}.{altered}.{signature}", BadSignature, "token_bad_signature")


def test_payload_re_encoded_with_the_same_claims_is_a_bad_signature(
    verifier: AccessTokenVerifier, es_key: SigningKey
) -> None:
    header, payload, signature = parts(pyjwt_token(es_key))
    claims = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
    re_encoded = b64(json.dumps(claims, indent=1).encode())
    reject(verifier, f"{header}.{re_encoded}.{signature}", BadSignature, "token_bad_signature")


def test_truncated_signature_is_refused(verifier: AccessTokenVerifier, es_key: SigningKey) -> None:
    header, payload, signature = parts(pyjwt_token(es_key))
    short = b64(base64.urlsafe_b64decode(signature + "==")[:-3])
    reject(verifier, f"{header}.{payload}.{short}", BadSignature, "token_bad_signature")
    reject(verifier, f"{header}.{payload}.", BadSignature, "token_bad_signature")


def test_es256_signature_in_der_form_is_refused(
    verifier: AccessTokenVerifier, es_key: SigningKey
) -> None:
    head, body, _ = parts(pyjwt_token(es_key))
    private = es_key.private_key
    assert isinstance(private, ec.EllipticCurvePrivateKey)
    der = private.sign(f"{head}.{body}".encode(), ec.ECDSA(hashes.SHA256()))
    reject(verifier, f"{head}.{body}.{b64(der)}", BadSignature, "token_bad_signature")


def test_es256_signature_with_zero_padded_s_is_refused(
    verifier: AccessTokenVerifier, es_key: SigningKey
) -> None:
    # Same r and s as integers, 65 bytes: a second spelling of a valid signature.
    head, body, signature = parts(pyjwt_token(es_key))
    raw = base64.urlsafe_b64decode(signature + "==")
    padded = raw[:32] + b"\x00" + raw[32:]
    reject(verifier, f"{head}.{body}.{b64(padded)}", BadSignature, "token_bad_signature")


def test_flipped_signature_bit_is_refused(
    verifier: AccessTokenVerifier, es_key: SigningKey, ed_key: SigningKey
) -> None:
    for key in (es_key, ed_key):
        head, body, signature = parts(pyjwt_token(key))
        raw = bytearray(base64.urlsafe_b64decode(signature + "=="))
        raw[10] ^= 1
        reject(verifier, f"{head}.{body}.{b64(bytes(raw))}", BadSignature, "token_bad_signature")


@pytest.mark.parametrize(
    "payload",
    [b"[]", b'["sub"]', b"null", b'"claims"', b"1", b"{", b'{"a":1}}', b"{}{}", b"\xff\xfe{}"],
)
def test_payload_that_is_not_a_json_object_is_refused(
    verifier: AccessTokenVerifier, es_key: SigningKey, payload: bytes
) -> None:
    token = signed(es_key, b64json(make_header(es_key)), b64(payload))
    reject(verifier, token, MalformedToken, "token_malformed")


def test_json_array_claims_from_pyjwt_style_encoding_is_refused(
    verifier: AccessTokenVerifier, es_key: SigningKey
) -> None:
    claims = make_claims()
    token = signed(es_key, b64json(make_header(es_key)), b64json([claims]))
    reject(verifier, token, MalformedToken, "token_malformed")


@pytest.mark.parametrize(
    "header",
    [b"[]", b"null", b"{", b'"ES256"', b"\xff", b'{"alg":"ES256","alg":"ES256","typ":"at+jwt"}'],
)
def test_header_that_is_not_a_json_object_is_refused(
    verifier: AccessTokenVerifier, es_key: SigningKey, header: bytes
) -> None:
    token = signed(es_key, b64(header), b64json(make_claims()))
    reject(verifier, token, MalformedToken, "token_malformed")


# -- the JWKS ----------------------------------------------------------------------------


def _rsa_jwk(private: rsa.RSAPrivateKey, kid: str) -> dict[str, Any]:
    numbers = private.public_key().public_numbers()
    return {
        "kty": "RSA",
        "kid": kid,
        "alg": "RS256",
        "use": "sig",
        "n": b64(numbers.n.to_bytes(256, "big")),
        "e": b64(numbers.e.to_bytes(3, "big")),
    }


def test_rsa_and_oct_keys_in_the_jwks_are_ignored(
    es_key: SigningKey, rsa_private: rsa.RSAPrivateKey, clock: FrozenClock
) -> None:
    secret = b"k" * 32
    jwks = {
        "keys": [
            _rsa_jwk(rsa_private, "rsa-1"),
            {"kty": "oct", "kid": "hmac-1", "alg": "HS256", "k": b64(secret)},
            es_key.jwk,
        ]
    }
    verifier = AccessTokenVerifier(ISSUER, AUDIENCE, jwks, clock=clock)
    verifier.verify(pyjwt_token(es_key))
    rs = jwt.encode(
        make_claims(), rsa_private, algorithm="RS256", headers={"kid": "rsa-1", "typ": "at+jwt"}
    )
    reject(verifier, rs, UnsupportedAlgorithm, "token_bad_alg")
    head = b64json({"alg": "HS256", "typ": "at+jwt", "kid": "hmac-1"})
    body = b64json(make_claims())
    mac = hmac.new(secret, f"{head}.{body}".encode(), hashlib.sha256).digest()
    reject(verifier, f"{head}.{body}.{b64(mac)}", UnsupportedAlgorithm, "token_bad_alg")
    # Had the RSA or oct key been loaded, these kids would be known.
    for kid in ("rsa-1", "hmac-1"):
        token = signed(es_key, b64json(make_header(es_key, kid=kid)), body)
        reject(verifier, token, UnknownKey, "token_unknown_kid")


def test_jwks_without_a_usable_key_is_a_config_error(
    rsa_private: rsa.RSAPrivateKey, clock: FrozenClock
) -> None:
    with pytest.raises(ConfigError):
        AccessTokenVerifier(ISSUER, AUDIENCE, {"keys": [_rsa_jwk(rsa_private, "r")]}, clock=clock)
    not_jwks: list[dict[str, Any]] = [{}, {"keys": {}}, {"keys": "x"}]
    for not_a_jwks in not_jwks:
        with pytest.raises(ConfigError):
            AccessTokenVerifier(ISSUER, AUDIENCE, not_a_jwks, clock=clock)


def test_unsuitable_jwks_entries_are_ignored(
    es_key: SigningKey, ed_key: SigningKey, clock: FrozenClock
) -> None:
    other = SigningKey.generate("ES256", created_at=NOW, sign_from=NOW)
    p384 = ec.generate_private_key(ec.SECP384R1()).public_key().public_numbers()
    off_curve = {**other.jwk, "kid": "off-curve", "y": other.jwk["x"]}
    jwks = {
        "keys": [
            es_key.jwk,
            {**ed_key.jwk, "alg": "ES256"},  # alg contradicts the key type
            {**other.jwk, "kid": "enc", "use": "enc"},
            {**other.jwk, "kid": "ops", "key_ops": ["encrypt"]},
            {**other.jwk, "kid": "private", "d": "AAAA"},
            {
                "kty": "EC",
                "crv": "P-384",
                "kid": "p384",
                "x": b64(p384.x.to_bytes(48, "big")),
                "y": b64(p384.y.to_bytes(48, "big")),
            },
            off_curve,
            "not a key",
        ]
    }
    verifier = AccessTokenVerifier(ISSUER, AUDIENCE, jwks, clock=clock)
    verifier.verify(pyjwt_token(es_key))
    reject(verifier, pyjwt_token(ed_key), UnknownKey, "token_unknown_kid")
    for kid in ("enc", "ops", "private", "off-curve"):
        token = signed(other, b64json(make_header(other, kid=kid)), b64json(make_claims()))
        reject(verifier, token, UnknownKey, "token_unknown_kid")


def test_duplicate_kid_in_the_jwks_is_ambiguous_and_ignored(
    es_key: SigningKey, ed_key: SigningKey, clock: FrozenClock
) -> None:
    twin = SigningKey.generate("ES256", created_at=NOW, sign_from=NOW)
    jwks = {"keys": [ed_key.jwk, es_key.jwk, {**twin.jwk, "kid": es_key.kid}]}
    verifier = AccessTokenVerifier(ISSUER, AUDIENCE, jwks, clock=clock)
    verifier.verify(pyjwt_token(ed_key))
    reject(verifier, pyjwt_token(es_key), UnknownKey, "token_unknown_kid")


def test_all_token_errors_are_invalid_token(verifier: AccessTokenVerifier) -> None:
    with pytest.raises(InvalidToken):
        verifier.verify("not-a-token")


# -- configuration -----------------------------------------------------------------------


@pytest.mark.parametrize(
    "url",
    [
        "http://auth.example/jwks",
        "http://10.0.0.1/jwks",
        "http://[2001:db8::1]/jwks",
        "http://localhost.attacker.example/jwks",
        "http://127.0.0.1.nip.io/jwks",
        "ftp://127.0.0.1/jwks",
        "file:///etc/tokenstile/jwks.json",
        "https:///jwks",
        "jwks.json",
        "http://127.0.0.1:99999/jwks",
        "https://reader:secret@auth.example/jwks",
    ],
)
def test_jwks_url_must_be_https_or_loopback(url: str) -> None:
    with pytest.raises(ConfigError) as info:
        AccessTokenVerifier(ISSUER, AUDIENCE, url)
    assert info.value.code == "config_error"
    assert "secret" not in info.value.message


@pytest.mark.parametrize(
    "url",
    [
        "https://auth.example/.well-known/jwks.json",
        "http://127.0.0.1:8080/jwks",
        "http://127.9.9.9/jwks",
        "http://[::1]:8080/jwks",
        "http://localhost:8080/jwks",
        "HTTP://LOCALHOST/jwks",
    ],
)
def test_https_and_loopback_jwks_urls_are_accepted_without_fetching(url: str) -> None:
    AccessTokenVerifier(ISSUER, AUDIENCE, url, jwks_timeout=0.01)


@pytest.mark.parametrize(
    "kwargs",
    [
        {"issuer": ""},
        {"audience": ""},
        {"audience": []},
        {"leeway": -1},
        {"leeway": float("nan")},
        {"max_token_bytes": 0},
        {"jwks_refetch_interval": -1},
        {"jwks_timeout": 0},
        {"required_typ": ""},
    ],
)
def test_nonsense_configuration_is_refused(es_key: SigningKey, kwargs: dict[str, Any]) -> None:
    args: dict[str, Any] = {"issuer": ISSUER, "audience": AUDIENCE, "jwks": {"keys": [es_key.jwk]}}
    args.update(kwargs)
    with pytest.raises(ConfigError):
        AccessTokenVerifier(**args)


def test_verifier_module_imports_nothing_outside_the_pure_core() -> None:
    code = (
        "import sys, tokenstile.tokens\n"
        "bad = {'httpx', 'fastapi', 'starlette', 'PySide6', 'keyring', 'smartcard', 'sqlalchemy'}\n"
        "print(sorted(m for m in sys.modules if m.split('.')[0] in bad))\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=60
    )
    assert result.stdout.strip() == "[]"


# -- JWKS over real HTTP on loopback -----------------------------------------------------


class JwksServer:
    """A real HTTP server on 127.0.0.1 serving a JWKS the test can change."""

    def __init__(self) -> None:
        self.jwks: dict[str, Any] = {"keys": []}
        self.requests = 0
        self.status = 200
        self.body: bytes | None = None
        self.redirect_to: str | None = None
        self._lock = threading.Lock()
        server = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                with server._lock:
                    server.requests += 1
                    status, body, location = server.status, server.body, server.redirect_to
                    document = json.dumps(server.jwks).encode()
                if self.path == "/moved/jwks":
                    status, body, location = 200, None, None
                if location is not None:
                    self.send_response(302)
                    self.send_header("Location", location)
                    self.send_header("Content-Length", "0")
                    self.end_headers()
                    return
                payload = body if body is not None else document
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                self.wfile.write(payload)

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True
        self.port = self.httpd.server_address[1]
        self.url = f"http://127.0.0.1:{self.port}/jwks"
        self._thread = threading.Thread(target=self.httpd.serve_forever, args=(0.05,), daemon=True)
        self._thread.start()

    def close(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()
        self._thread.join(10)


@pytest.fixture
def jwks_server() -> Iterator[JwksServer]:
    server = JwksServer()
    yield server
    server.close()


def url_verifier(url: str, clock: FrozenClock) -> AccessTokenVerifier:
    return AccessTokenVerifier(ISSUER, AUDIENCE, url, clock=clock, jwks_refetch_interval=30.0)


def test_jwks_url_is_fetched_on_first_use_and_then_cached(
    jwks_server: JwksServer, es_key: SigningKey, clock: FrozenClock
) -> None:
    jwks_server.jwks = {"keys": [es_key.jwk]}
    verifier = url_verifier(jwks_server.url, clock)
    assert jwks_server.requests == 0
    assert verifier.verify(pyjwt_token(es_key)) == make_claims()
    assert jwks_server.requests == 1
    clock.advance(300)
    verifier.verify(pyjwt_token(es_key, make_claims(exp=NOW + 900)))
    assert jwks_server.requests == 1


def test_rotated_key_is_fetched_once_and_refetches_are_rate_limited(
    jwks_server: JwksServer, es_key: SigningKey, ed_key: SigningKey, clock: FrozenClock
) -> None:
    jwks_server.jwks = {"keys": [es_key.jwk]}
    verifier = url_verifier(jwks_server.url, clock)
    verifier.verify(pyjwt_token(es_key))
    assert jwks_server.requests == 1

    clock.advance(31)
    jwks_server.jwks = {"keys": [es_key.jwk, ed_key.jwk]}  # rotation: a new kid appears
    verifier.verify(pyjwt_token(ed_key))
    assert jwks_server.requests == 2
    verifier.verify(pyjwt_token(ed_key))
    assert jwks_server.requests == 2

    stranger = SigningKey.generate("ES256", created_at=NOW, sign_from=NOW)
    reject(verifier, pyjwt_token(stranger), UnknownKey, "token_unknown_kid")
    assert jwks_server.requests == 2  # within the interval: no refetch
    clock.advance(10)
    reject(verifier, pyjwt_token(stranger), UnknownKey, "token_unknown_kid")
    assert jwks_server.requests == 2
    clock.advance(25)
    reject(verifier, pyjwt_token(stranger), UnknownKey, "token_unknown_kid")
    assert jwks_server.requests == 3  # interval over: one refetch, still unknown


def test_key_dropped_from_the_jwks_is_no_longer_trusted_after_refetch(
    jwks_server: JwksServer, es_key: SigningKey, ed_key: SigningKey, clock: FrozenClock
) -> None:
    jwks_server.jwks = {"keys": [es_key.jwk]}
    verifier = url_verifier(jwks_server.url, clock)
    verifier.verify(pyjwt_token(es_key))
    clock.advance(31)
    jwks_server.jwks = {"keys": [ed_key.jwk]}
    verifier.verify(pyjwt_token(ed_key))
    reject(verifier, pyjwt_token(es_key), UnknownKey, "token_unknown_kid")


def test_concurrent_unknown_kid_fetches_once(
    jwks_server: JwksServer, es_key: SigningKey, ed_key: SigningKey, clock: FrozenClock
) -> None:
    jwks_server.jwks = {"keys": [es_key.jwk]}
    verifier = url_verifier(jwks_server.url, clock)
    verifier.verify(pyjwt_token(es_key))
    clock.advance(31)
    jwks_server.jwks = {"keys": [es_key.jwk, ed_key.jwk]}
    token = pyjwt_token(ed_key)
    start = threading.Barrier(8)
    results: list[object] = []

    def work() -> None:
        start.wait()
        try:
            results.append(verifier.verify(token)["sub"])
        except Exception as exc:
            results.append(exc)

    threads = [threading.Thread(target=work) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    assert results == ["user-42"] * 8
    assert jwks_server.requests == 2


def test_jwks_server_down_is_jwks_unavailable(es_key: SigningKey, clock: FrozenClock) -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    verifier = url_verifier(f"http://127.0.0.1:{port}/jwks", clock)
    reject(verifier, pyjwt_token(es_key), JwksUnavailable, "jwks_unavailable")


def test_jwks_errors_are_unavailable_then_retried_after_the_interval(
    jwks_server: JwksServer, es_key: SigningKey, clock: FrozenClock
) -> None:
    jwks_server.jwks = {"keys": [es_key.jwk]}
    jwks_server.status, jwks_server.body = 500, b"{}"
    verifier = url_verifier(jwks_server.url, clock)
    reject(verifier, pyjwt_token(es_key), JwksUnavailable, "jwks_unavailable")
    assert jwks_server.requests == 1
    reject(verifier, pyjwt_token(es_key), JwksUnavailable, "jwks_unavailable")
    assert jwks_server.requests == 1  # failures are rate-limited too

    clock.advance(31)
    jwks_server.status, jwks_server.body = 200, b"<html>not json</html>"
    reject(verifier, pyjwt_token(es_key), JwksUnavailable, "jwks_unavailable")
    assert jwks_server.requests == 2

    clock.advance(31)
    jwks_server.body = None
    verifier.verify(pyjwt_token(es_key))
    assert jwks_server.requests == 3


def test_redirect_to_plain_http_elsewhere_is_refused(
    jwks_server: JwksServer, es_key: SigningKey, clock: FrozenClock
) -> None:
    jwks_server.jwks = {"keys": [es_key.jwk]}
    jwks_server.redirect_to = "http://jwks.attacker.invalid/jwks"
    verifier = url_verifier(jwks_server.url, clock)
    error = reject(verifier, pyjwt_token(es_key), JwksUnavailable, "jwks_unavailable")
    cause = error.__cause__
    assert isinstance(cause, urllib.error.HTTPError)
    assert cause.code == 302
    assert "redirect refused" in str(cause.reason)


def test_redirect_within_loopback_is_followed(
    jwks_server: JwksServer, es_key: SigningKey, clock: FrozenClock
) -> None:
    jwks_server.jwks = {"keys": [es_key.jwk]}
    jwks_server.redirect_to = f"http://127.0.0.1:{jwks_server.port}/moved/jwks"
    verifier = url_verifier(jwks_server.url, clock)
    verifier.verify(pyjwt_token(es_key))
    assert jwks_server.requests == 2


def test_withdrawn_key_stops_verifying_once_the_jwks_is_stale(
    jwks_server: JwksServer, es_key: SigningKey, ed_key: SigningKey, clock: FrozenClock
) -> None:
    jwks_server.jwks = {"keys": [es_key.jwk, ed_key.jwk]}
    verifier = url_verifier(jwks_server.url, clock)
    verifier.verify(pyjwt_token(es_key, make_claims(exp=NOW + 3600)))
    jwks_server.jwks = {"keys": [ed_key.jwk]}  # the issuer withdrew es_key
    clock.advance(200)
    verifier.verify(pyjwt_token(es_key, make_claims(exp=NOW + 3600)))  # cache still fresh
    assert jwks_server.requests == 1
    clock.advance(101)  # past the 300 s max age: refetched, the key is gone
    reject(
        verifier, pyjwt_token(es_key, make_claims(exp=NOW + 3600)), UnknownKey, "token_unknown_kid"
    )
    assert jwks_server.requests == 2


def test_stale_jwks_is_kept_when_the_refetch_fails(
    jwks_server: JwksServer, es_key: SigningKey, clock: FrozenClock
) -> None:
    jwks_server.jwks = {"keys": [es_key.jwk]}
    verifier = url_verifier(jwks_server.url, clock)
    verifier.verify(pyjwt_token(es_key, make_claims(exp=NOW + 3600)))
    jwks_server.status = 500
    clock.advance(301)
    assert verifier.verify(pyjwt_token(es_key, make_claims(exp=NOW + 3600)))["sub"] == "user-42"
    assert jwks_server.requests == 2


def test_a_jwks_that_cannot_be_refreshed_is_dropped_after_the_max_stale_time(
    jwks_server: JwksServer, es_key: SigningKey, clock: FrozenClock
) -> None:
    # An issuer that withdrew a stolen key and then cannot be reached (or is blocked by
    # the thief) must not leave the key trusted forever.
    jwks_server.jwks = {"keys": [es_key.jwk]}
    verifier = AccessTokenVerifier(
        ISSUER, AUDIENCE, jwks_server.url, clock=clock, jwks_max_age=300, jwks_max_stale=900
    )
    long_lived = make_claims(exp=NOW + 7200)
    verifier.verify(pyjwt_token(es_key, long_lived))
    jwks_server.status = 500
    clock.advance(899)
    assert verifier.verify(pyjwt_token(es_key, long_lived))["sub"] == "user-42"
    clock.advance(2)
    reject(verifier, pyjwt_token(es_key, long_lived), JwksUnavailable, "jwks_unavailable")
    jwks_server.status = 200
    clock.advance(31)  # past the refetch rate limit: fetched again, trusted again
    assert verifier.verify(pyjwt_token(es_key, long_lived))["sub"] == "user-42"


def test_max_stale_below_max_age_is_a_config_error() -> None:
    with pytest.raises(ConfigError):
        AccessTokenVerifier(
            ISSUER, AUDIENCE, "https://auth.example/jwks", jwks_max_age=300, jwks_max_stale=60
        )
