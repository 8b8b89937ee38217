"""DPoP proofs (RFC 9449): making them, and every rule that refuses one.

PyJWT is the independent check that what ``make_dpop_proof`` signs is a valid JWS; the
RFC's own example proof and ``ath`` value are checked as published.
"""

from __future__ import annotations

import hashlib
import hmac
import json
from typing import Any

import jwt
import pytest
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa
from cryptography.hazmat.primitives.asymmetric.utils import decode_dss_signature

from tokenstile.clock import FrozenClock
from tokenstile.errors import ConfigError, InvalidToken, OAuthError
from tokenstile.protocol.dpop import (
    PrivateKey,
    access_token_hash,
    dpop_public_jwk,
    make_dpop_proof,
)
from tokenstile.protocol.jose import b64url_decode, b64url_encode, jwk_thumbprint
from tokenstile.tokens.dpop import (
    DpopProofError,
    DpopVerifier,
    MemoryReplayCache,
    check_token_binding,
    normalize_htu,
)

NOW = 1_800_000_000
URL = "https://auth.example/token"

# RFC 9449 section 4.1 (figure 3) and 6.1: the example key, its thumbprint, the proof.
RFC_X = "l8tFrhx-34tV3hRICRDY9zCkDlpBhF42UQUfWVAWBFs"
RFC_Y = "9VE4jf_Ok_o64zbTTlcuNJajHmt6v9TDVrU0CdvGRDA"
RFC_JKT = "0ZcOCORZNYy-DWpqq30jZyJGHTN0d2HglBV3uiguA4I"
RFC_PROOF = (
    "eyJ0eXAiOiJkcG9wK2p3dCIsImFsZyI6IkVTMjU2IiwiandrIjp7Imt0eSI6IkVDIiwieCI6Imw4dEZyaHgtMzR0VjNoUklDUkRZOXpDa0RscEJoRjQyVVFVZldWQVdCRnMiLCJ5IjoiOVZFNGpmX09rX282NHpiVFRsY3VOSmFqSG10NnY5VERWclUwQ2R2R1JEQSIsImNydiI6IlAtMjU2In19"
    ".eyJqdGkiOiItQndDM0VTYzZhY2MybFRjIiwiaHRtIjoiUE9TVCIsImh0dSI6Imh0dHBzOi8vc2VydmVyLmV4YW1wbGUuY29tL3Rva2VuIiwiaWF0IjoxNTYyMjYyNjE2fQ"
    ".2-GxA6T8lP4vfrg8v-FdWP0A0zdrj8igiMLvqRMUvwnQg4PtFLbdLXiOSsX0x7NVY-FNyJK70nfbV37xRZT3Lg"
)
# RFC 9449 section 7.1: an access token and its ath.
RFC_ACCESS_TOKEN = "Kz~8mXK1EalYznwH-LC-1fBAo.4Ljp~zsPE_NeO.gxU"
RFC_ATH = "fUHyO2r2Z3DZ53EsNrWBb0xWXoaNy59IiKCAqksmQEo"


def es256_key() -> ec.EllipticCurvePrivateKey:
    return ec.generate_private_key(ec.SECP256R1())


def ed25519_key() -> ed25519.Ed25519PrivateKey:
    return ed25519.Ed25519PrivateKey.generate()


KEYS = [pytest.param(es256_key, id="ES256"), pytest.param(ed25519_key, id="EdDSA")]


def verifier(now: float = NOW, **kwargs: Any) -> DpopVerifier:
    return DpopVerifier(clock=FrozenClock(now), **kwargs)


def b64json(value: Any) -> str:
    return b64url_encode(json.dumps(value, separators=(",", ":")).encode())


def sign_raw(key: PrivateKey, signing_input: bytes) -> bytes:
    if isinstance(key, ec.EllipticCurvePrivateKey):
        r, s = decode_dss_signature(key.sign(signing_input, ec.ECDSA(hashes.SHA256())))
        return r.to_bytes(32, "big") + s.to_bytes(32, "big")
    return key.sign(signing_input)


def forge(
    key: PrivateKey | None = None,
    *,
    header: dict[str, Any] | None = None,
    drop_header: tuple[str, ...] = (),
    drop: tuple[str, ...] = (),
    signer: PrivateKey | None = None,
    **claims: Any,
) -> str:
    """A proof built by hand: the usual header and claims with ``header``/``claims``
    changed (``None`` drops a claim) and signed by ``signer`` (default: ``key``)."""
    key = key if key is not None else es256_key()
    alg = "ES256" if isinstance(key, ec.EllipticCurvePrivateKey) else "EdDSA"
    head: dict[str, Any] = {"typ": "dpop+jwt", "alg": alg, "jwk": dpop_public_jwk(key)}
    head.update(header or {})
    for name in drop_header:
        del head[name]
    body: dict[str, Any] = {"jti": "a1b2c3d4e5f6g7h8", "htm": "POST", "htu": URL, "iat": NOW}
    body.update(claims)
    for name in drop:
        del body[name]
    signing_input = f"{b64json(head)}.{b64json(body)}".encode()
    signature = sign_raw(signer if signer is not None else key, signing_input)
    return f"{signing_input.decode()}.{b64url_encode(signature)}"


def refused(proof: str, match: str, *, check: DpopVerifier | None = None, **kwargs: Any) -> None:
    kwargs.setdefault("method", "POST")
    kwargs.setdefault("url", URL)
    with pytest.raises(DpopProofError, match=match) as info:
        (check or verifier()).verify(proof, **kwargs)
    assert info.value.code == "invalid_dpop_proof"
    assert info.value.message.endswith(".")


# -- the RFC's examples ---------------------------------------------------------------


def test_the_rfc_example_proof_verifies_and_has_the_rfc_thumbprint() -> None:
    proof = verifier(1562262616 + 10).verify(
        RFC_PROOF, method="POST", url="https://server.example.com/token"
    )
    assert proof.jkt == RFC_JKT
    assert proof.jti == "-BwC3ESc6acc2lTc"
    assert jwk_thumbprint({"kty": "EC", "crv": "P-256", "x": RFC_X, "y": RFC_Y}) == RFC_JKT


def test_the_rfc_example_access_token_hash() -> None:
    assert access_token_hash(RFC_ACCESS_TOKEN) == RFC_ATH


def test_the_rfc_example_proof_is_too_old_today() -> None:
    refused(RFC_PROOF, "too old", url="https://server.example.com/token")


# -- making proofs ----------------------------------------------------------------------


@pytest.mark.parametrize("new_key", KEYS)
def test_a_made_proof_verifies_here_and_with_pyjwt(new_key: Any) -> None:
    key = new_key()
    proof = make_dpop_proof(
        key, method="get", url="https://api.example/x?q=1#f", access_token="tok", now=NOW
    )
    header = jwt.get_unverified_header(proof)
    assert header["typ"] == "dpop+jwt"
    assert header["jwk"] == dpop_public_jwk(key)
    claims = jwt.decode(
        proof, key.public_key(), algorithms=[header["alg"]], options={"verify_iat": False}
    )
    assert claims["htm"] == "GET"
    assert claims["htu"] == "https://api.example/x"  # no query, no fragment
    assert claims["iat"] == NOW
    assert claims["ath"] == access_token_hash("tok")
    assert len(claims["jti"]) >= 16
    checked = verifier().verify(
        proof, method="GET", url="https://api.example/x", access_token="tok"
    )
    assert checked.jkt == jwk_thumbprint(dpop_public_jwk(key))
    assert checked.htm == "GET"


def test_a_made_proof_carries_a_nonce_and_a_fresh_jti_each_time() -> None:
    key = es256_key()
    first = make_dpop_proof(key, method="POST", url=URL, nonce="n-1", now=NOW)
    second = make_dpop_proof(key, method="POST", url=URL, now=NOW)
    no_iat = {"verify_iat": False}
    one = jwt.decode(first, key.public_key(), algorithms=["ES256"], options=no_iat)
    two = jwt.decode(second, key.public_key(), algorithms=["ES256"], options=no_iat)
    assert one["nonce"] == "n-1"
    assert "nonce" not in two
    assert "ath" not in two
    assert one["jti"] != two["jti"]
    assert verifier().verify(first, method="POST", url=URL).nonce == "n-1"


def test_only_p256_and_ed25519_keys_make_proofs() -> None:
    with pytest.raises(ConfigError, match="P-256 or an Ed25519"):
        make_dpop_proof(ec.generate_private_key(ec.SECP384R1()), method="GET", url=URL)


def test_the_proof_jwk_has_only_public_members() -> None:
    assert set(dpop_public_jwk(es256_key())) == {"kty", "crv", "x", "y"}
    assert set(dpop_public_jwk(ed25519_key())) == {"kty", "crv", "x"}


# -- what a good proof may look like -------------------------------------------------------


@pytest.mark.parametrize(
    "htu",
    [
        "https://auth.example/token",
        "https://AUTH.Example/token",
        "HTTPS://auth.example:443/token",
        "https://auth.example/token?x=1",
        "https://auth.example/token#frag",
    ],
)
def test_htu_is_compared_on_scheme_host_port_and_path(htu: str) -> None:
    verifier().verify(forge(htu=htu), method="POST", url=URL)


def test_htu_may_match_any_of_the_endpoint_urls() -> None:
    proof = forge(htu="http://127.0.0.1:8080/token")
    urls = [URL, "http://127.0.0.1:8080/token"]
    assert verifier().verify(proof, method="POST", url=urls).htu == "http://127.0.0.1:8080/token"


@pytest.mark.parametrize("age", [-5, 0, 60])
def test_iat_at_the_edges_of_the_window_is_accepted(age: int) -> None:
    verifier().verify(forge(iat=NOW - age), method="POST", url=URL)


def test_a_float_iat_and_extra_claims_and_headers_are_accepted() -> None:
    proof = forge(header={"kid": "ignored"}, iat=NOW + 0.5, extra="x")
    verifier().verify(proof, method="POST", url=URL)


def test_the_same_jti_from_another_key_is_not_a_replay() -> None:
    check = verifier()
    check.verify(forge(), method="POST", url=URL)
    check.verify(forge(), method="POST", url=URL)


# -- every rejection -----------------------------------------------------------------------


def test_a_replayed_proof_is_refused() -> None:
    check = verifier()
    proof = forge()
    check.verify(proof, method="POST", url=URL)
    refused(proof, "used before", check=check)


def test_a_refused_proof_does_not_use_up_its_jti() -> None:
    check = verifier()
    proof = forge(htm="POST")
    refused(proof, "another HTTP method", check=check, method="GET")
    check.verify(proof, method="POST", url=URL)


@pytest.mark.parametrize(
    ("proof", "match"),
    [
        ("", "is empty"),
        ("a.b", "compact form"),
        ("a.b.c.d", "compact form"),
        ("é.b.c", "not ASCII"),
        ("eyJ.e30.AA", "base64url"),
        (f"{b64json([1])}.{b64json({})}.AA", "not a JSON object"),
        (f"{b64json({'typ': 'dpop+jwt'})}.{b64url_encode(b'{')}.AA", "base64url-encoded JSON"),
    ],
)
def test_malformed_proofs_are_refused(proof: str, match: str) -> None:
    refused(proof, match)


def test_an_oversized_proof_is_refused_before_parsing() -> None:
    refused("x" * 5000, "longer than the 4096 bytes")
    refused(forge(pad="x" * 200), "longer than the 100 bytes", check=verifier(max_proof_bytes=100))


def test_duplicate_header_members_and_nan_are_refused() -> None:
    key = es256_key()
    jwk = json.dumps(dpop_public_jwk(key))
    head = f'{{"typ":"dpop+jwt","alg":"ES256","alg":"ES256","jwk":{jwk}}}'
    body = b64json({"jti": "a1b2c3d4e5f6g7h8", "htm": "POST", "htu": URL, "iat": NOW})
    signing_input = f"{b64url_encode(head.encode())}.{body}".encode()
    proof = f"{signing_input.decode()}.{b64url_encode(sign_raw(key, signing_input))}"
    refused(proof, "base64url-encoded JSON")
    nan_body = b64url_encode(b'{"jti":"a1b2c3d4e5f6g7h8","htm":"POST","iat":NaN}')
    head_ok = b64json({"typ": "dpop+jwt", "alg": "ES256", "jwk": dpop_public_jwk(key)})
    refused(f"{head_ok}.{nan_body}.AA", "base64url-encoded JSON")


@pytest.mark.parametrize("typ", [None, "JWT", "at+jwt", "application/dpop+jwt+x", 1])
def test_the_type_must_be_dpop_jwt(typ: Any) -> None:
    proof = forge(drop_header=("typ",)) if typ is None else forge(header={"typ": typ})
    refused(proof, "has type")


def test_the_type_is_compared_case_insensitively() -> None:
    verifier().verify(forge(header={"typ": "DPoP+JWT"}), method="POST", url=URL)


@pytest.mark.parametrize("alg", ["none", "HS256", "RS256", "ES384", "ES256K", None])
def test_only_es256_and_eddsa_are_accepted(alg: str | None) -> None:
    proof = forge(drop_header=("alg",)) if alg is None else forge(header={"alg": alg})
    refused(proof, "only ES256 or EdDSA")


def test_an_allow_list_narrower_than_the_default_is_honoured() -> None:
    refused(forge(ed25519_key()), "only ES256 are accepted", check=verifier(algorithms=["ES256"]))
    with pytest.raises(ConfigError):
        DpopVerifier(algorithms=["HS256"])


def test_an_hmac_proof_keyed_with_a_symmetric_jwk_is_refused() -> None:
    secret = b"0123456789abcdef0123456789abcdef"
    head = {"typ": "dpop+jwt", "alg": "HS256", "jwk": {"kty": "oct", "k": b64url_encode(secret)}}
    body = {"jti": "a1b2c3d4e5f6g7h8", "htm": "POST", "htu": URL, "iat": NOW}
    signing_input = f"{b64json(head)}.{b64json(body)}".encode()
    mac = hmac.new(secret, signing_input, hashlib.sha256).digest()
    refused(f"{signing_input.decode()}.{b64url_encode(mac)}", "only ES256 or EdDSA")


def test_the_algorithm_must_be_the_one_of_the_jwk() -> None:
    ed = ed25519_key()
    refused(forge(ed, header={"alg": "ES256"}), "not a key for ES256")
    ec_key = es256_key()
    refused(forge(ec_key, header={"alg": "EdDSA"}), "not a key for EdDSA")
    rsa_jwk = {"kty": "RSA", "n": "AQAB", "e": "AQAB"}
    refused(forge(header={"jwk": rsa_jwk}), "not a key for ES256")
    p384 = {**dpop_public_jwk(ec_key), "crv": "P-384"}
    refused(forge(ec_key, header={"jwk": p384}), "not a key for ES256")
    refused(forge(ec_key, header={"jwk": {**dpop_public_jwk(ec_key), "alg": "EdDSA"}}), "not a key")


@pytest.mark.parametrize("member", ["d", "p", "q", "dp", "dq", "qi", "k"])
def test_a_jwk_with_private_key_material_is_refused(member: str) -> None:
    key = es256_key()
    refused(forge(key, header={"jwk": {**dpop_public_jwk(key), member: "AAAA"}}), "private key")


def test_the_jwk_must_be_there_and_be_a_valid_point() -> None:
    refused(forge(drop_header=("jwk",)), "no jwk header")
    refused(forge(header={"jwk": "not an object"}), "no jwk header")
    key = es256_key()
    jwk = dpop_public_jwk(key)
    off_curve = {**jwk, "y": jwk["x"]}
    refused(forge(key, header={"jwk": off_curve}), "not a valid public key")
    refused(forge(key, header={"jwk": {**jwk, "x": "!!"}}), "not a valid public key")
    refused(forge(key, header={"jwk": {**jwk, "x": 5}}), "not a valid public key")


def test_critical_extensions_are_refused() -> None:
    refused(forge(header={"crit": ["exp"]}), "critical extensions")


@pytest.mark.parametrize("new_key", KEYS)
def test_a_signature_by_another_key_or_over_other_bytes_is_refused(new_key: Any) -> None:
    key = new_key()
    refused(forge(key, signer=new_key()), "signature does not verify")
    head, body, sig = forge(key).split(".")
    other_body = b64json({"jti": "a1b2c3d4e5f6g7h9", "htm": "POST", "htu": URL, "iat": NOW})
    refused(f"{head}.{other_body}.{sig}", "signature does not verify")
    short = b64url_encode(b64url_decode(sig)[:-1])
    refused(f"{head}.{body}.{short}", "signature does not verify")
    refused(f"{head}.{body}.{sig}=", "signature is not base64url")


@pytest.mark.parametrize("htm", ["GET", "post", None, 1])
def test_the_method_must_match(htm: Any) -> None:
    proof = forge(drop=("htm",)) if htm is None else forge(htm=htm)
    refused(proof, "another HTTP method")


@pytest.mark.parametrize(
    "htu",
    [
        "https://evil.example/token",
        "https://auth.example/revoke",
        "https://auth.example/token/",
        "http://auth.example/token",
        "https://auth.example:8443/token",
        "ftp://auth.example/token",
        "/token",
        "https://auth.example:99999/token",
        7,
        None,
    ],
)
def test_the_url_must_match(htu: Any) -> None:
    proof = forge(drop=("htu",)) if htu is None else forge(htu=htu)
    refused(proof, "another URL")


@pytest.mark.parametrize(
    ("iat", "match"),
    [
        (NOW - 61, "too old"),
        (NOW + 6, "in the future"),
        ("1800000000", "no iat"),
        (True, "no iat"),
        (None, "no iat"),
    ],
)
def test_iat_outside_the_window_or_not_a_number_is_refused(iat: Any, match: str) -> None:
    proof = forge(drop=("iat",)) if iat is None else forge(iat=iat)
    refused(proof, match)


def test_the_window_is_configurable() -> None:
    check = verifier(max_age=300, max_future=0)
    check.verify(forge(iat=NOW - 299), method="POST", url=URL)
    refused(forge(iat=NOW + 1), "in the future", check=check)


@pytest.mark.parametrize("jti", [None, "", "short", "x" * 11, "x" * 257, 12345678901234])
def test_jti_must_be_a_string_of_sensible_length(jti: Any) -> None:
    proof = forge(drop=("jti",)) if jti is None else forge(jti=jti)
    refused(proof, "needs a jti")


def test_ath_must_match_the_access_token_presented() -> None:
    refused(forge(), "no ath claim", access_token="tok")
    refused(forge(ath=access_token_hash("other")), "another access token", access_token="tok")
    refused(forge(ath=5), "no ath claim", access_token="tok")
    verifier().verify(
        forge(ath=access_token_hash("tok")), method="POST", url=URL, access_token="tok"
    )


def test_the_key_must_be_the_one_the_token_is_bound_to() -> None:
    key = es256_key()
    jkt = jwk_thumbprint(dpop_public_jwk(key))
    refused(forge(), "another key than the one the token is bound to", jkt=jkt)
    assert verifier().verify(forge(key), method="POST", url=URL, jkt=jkt).jkt == jkt


def test_the_error_is_an_oauth_error_and_an_invalid_token() -> None:
    error = DpopProofError("x.")
    assert isinstance(error, OAuthError)
    assert isinstance(error, InvalidToken)
    assert error.to_json() == {"error": "invalid_dpop_proof", "error_description": "x."}
    assert error.status == 400


# -- pieces --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("url", "normal"),
    [
        ("https://A.example/x?y#z", "https://a.example/x"),
        ("http://h:80/", "http://h/"),
        ("http://h:8080", "http://h:8080/"),
        ("https://[::1]:443/t", "https://[::1]/t"),
        ("https://[::1]:8443/t", "https://[::1]:8443/t"),
        ("https://user@h/t", "https://h/t"),
        ("mailto:x@y", None),
        ("https:///t", None),
        ("http://h:port/", None),
    ],
)
def test_normalize_htu(url: str, normal: str | None) -> None:
    assert normalize_htu(url) == normal


def test_the_memory_replay_cache_forgets_expired_entries_and_stays_bounded() -> None:
    cache = MemoryReplayCache(max_entries=3)
    assert cache.remember(b"a", expires_at=10, now=0)
    assert not cache.remember(b"a", expires_at=10, now=5)
    assert cache.remember(b"a", expires_at=30, now=10)  # expired: new again
    for key in (b"b", b"c", b"d"):
        assert cache.remember(key, expires_at=100, now=11)
    assert len(cache) == 3  # the oldest ("a") made room
    assert cache.remember(b"a", expires_at=100, now=12)
    assert cache.remember(b"e", expires_at=100, now=200)
    assert len(cache) == 1
    with pytest.raises(ConfigError):
        MemoryReplayCache(0)


def test_a_replayed_proof_is_refused_again_only_within_its_window() -> None:
    clock = FrozenClock(NOW)
    check = DpopVerifier(clock=clock)
    proof = forge()
    check.verify(proof, method="POST", url=URL)
    clock.advance(30)
    refused(proof, "used before", check=check)
    clock.advance(40)
    refused(proof, "too old", check=check)


def test_rsa_keys_are_not_dpop_keys() -> None:
    with pytest.raises(ConfigError):
        make_dpop_proof(
            rsa.generate_private_key(public_exponent=65537, key_size=2048),  # type: ignore[arg-type]
            method="GET",
            url=URL,
        )


def test_thumbprint_of_a_made_proof_key_matches_the_base64url_sha256_of_rfc7638_json() -> None:
    key = ed25519_key()
    jwk = dpop_public_jwk(key)
    canonical = json.dumps(
        {"crv": jwk["crv"], "kty": jwk["kty"], "x": jwk["x"]}, separators=(",", ":")
    )
    digest = hashlib.sha256(canonical.encode()).digest()
    assert b64url_decode(jwk_thumbprint(jwk)) == digest


def test_check_token_binding_for_the_issuers_own_routes() -> None:
    bound = {"cnf": {"jkt": "k1"}}
    check_token_binding(bound, "k1")
    check_token_binding({}, None)
    with pytest.raises(DpopProofError, match="send it with the DPoP scheme"):
        check_token_binding(bound, None)
    with pytest.raises(DpopProofError, match="not made with the key"):
        check_token_binding(bound, "k2")
    with pytest.raises(DpopProofError, match="not DPoP-bound"):
        check_token_binding({"cnf": "odd"}, "k1")
