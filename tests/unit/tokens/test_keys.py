from __future__ import annotations

import pytest
from cryptography.hazmat.primitives.asymmetric import ec, ed25519

from tokenstile.errors import ConfigError, KeyEncryptionError
from tokenstile.protocol.jose import b64url_decode, b64url_encode, jwk_thumbprint
from tokenstile.tokens.keys import KeyEncryptionKey, KeyRing, SigningKey

RFC7638_JWK = {
    "kty": "RSA",
    "n": (
        "0vx7agoebGcQSuuPiLJXZptN9nndrQmbXEps2aiAFbWhM78LhWx4cbbfAAtVT86zwu1RK7aPFFxuhDR1L6tSoc_"
        "BJECPebWKRXjBZCiFV4n3oknjhMstn64tZ_2W-5JsGY4Hc5n9yBXArwl93lqt7_RN5w6Cf0h4QyQ5v-65YGjQR0_"
        "FDW2QvzqY368QQMicAtaSqzs8KJZgnYb9c7d0zgdAZHzu6qMQvRL5hajrn1n91CbOpbISD08qNLyrdkt-bFTWhAI4"
        "vMQFh6WeZu0fM4lFd2NcRwr3XPksINHaQ-G_xBniIqbw0Ls1jF44-csFCur-kEgU8awapJzKnqDKgw"
    ),
    "e": "AQAB",
    "alg": "RS256",
    "kid": "2011-04-29",
}


def test_thumbprint_matches_rfc7638_example() -> None:
    assert jwk_thumbprint(RFC7638_JWK) == "NzbLsXh8uDCcd-6MNwXF4W_7noWXFZAfHkxZsRGC9Xs"


def test_thumbprint_ignores_non_required_members() -> None:
    key = SigningKey.generate("ES256", created_at=0, sign_from=0)
    extra = {**key.jwk, "use": "enc", "alg": "whatever"}
    assert jwk_thumbprint(extra) == key.kid


@pytest.mark.parametrize("alg", ["ES256", "EdDSA"])
def test_generated_key_kid_is_its_thumbprint(alg: str) -> None:
    key = SigningKey.generate(alg, created_at=0, sign_from=0)  # type: ignore[arg-type]
    assert key.kid == jwk_thumbprint(key.jwk)
    assert key.jwk["alg"] == alg
    assert "d" not in key.jwk  # public only
    expected = ec.EllipticCurvePrivateKey if alg == "ES256" else ed25519.Ed25519PrivateKey
    assert isinstance(key.private_key, expected)


@pytest.mark.parametrize("text", ["a", "ab=", "a+b/", "AB==", "é"])
def test_b64url_decode_is_strict(text: str) -> None:
    with pytest.raises(ValueError, match="base64url"):
        b64url_decode(text)


def test_b64url_rejects_non_canonical_tail_bits() -> None:
    assert b64url_decode("QQ") == b"A"
    with pytest.raises(ValueError, match="non-canonical"):
        b64url_decode("QR")


def test_b64url_round_trip() -> None:
    for size in range(40):
        data = bytes(range(size))
        assert b64url_decode(b64url_encode(data)) == data


def test_private_key_round_trips_under_the_kek() -> None:
    kek, _ = KeyEncryptionKey.generate()
    key = SigningKey.generate("ES256", created_at=1, sign_from=2)
    blob = key.encrypt_private(kek)
    assert key.kid.encode() not in blob
    back = SigningKey.decrypt_private(
        kid=key.kid, alg="ES256", blob=blob, kek=kek, created_at=1, sign_from=2
    )
    assert back.jwk == key.jwk


def test_wrong_kek_is_a_clear_error() -> None:
    kek, _ = KeyEncryptionKey.generate()
    other, _ = KeyEncryptionKey.generate()
    key = SigningKey.generate("EdDSA", created_at=1, sign_from=1)
    with pytest.raises(KeyEncryptionError, match="does not open"):
        SigningKey.decrypt_private(
            kid=key.kid,
            alg="EdDSA",
            blob=key.encrypt_private(kek),
            kek=other,
            created_at=1,
            sign_from=1,
        )


def test_blob_is_bound_to_its_kid() -> None:
    kek, _ = KeyEncryptionKey.generate()
    a = SigningKey.generate("ES256", created_at=1, sign_from=1)
    b = SigningKey.generate("ES256", created_at=1, sign_from=1)
    with pytest.raises(KeyEncryptionError):
        SigningKey.decrypt_private(
            kid=b.kid, alg="ES256", blob=a.encrypt_private(kek), kek=kek, created_at=1, sign_from=1
        )


def test_kek_text_forms() -> None:
    kek, text = KeyEncryptionKey.generate()
    assert len(text) == 43
    again = KeyEncryptionKey.from_text(text + "\n")
    blob = kek.encrypt(b"x", context=b"c")
    assert again.decrypt(blob, context=b"c") == b"x"
    with pytest.raises(ConfigError):
        KeyEncryptionKey.from_text("not base64 at all!")
    with pytest.raises(ConfigError, match="32 bytes"):
        KeyEncryptionKey.from_text(b64url_encode(b"short"))


def _ring(*sign_froms: float, lifetime: float = 600) -> tuple[KeyRing, list[SigningKey]]:
    keys = [SigningKey.generate("ES256", created_at=0, sign_from=s) for s in sign_froms]
    return KeyRing(keys, max_token_lifetime=lifetime), keys


def test_new_key_is_published_before_it_signs() -> None:
    ring, (old, new) = _ring(0, 1000)
    assert ring.signer(999) is old
    assert {k.kid for k in ring.published(999)} == {old.kid, new.kid}
    assert ring.signer(1000) is new


def test_old_key_stays_published_until_its_last_token_expires() -> None:
    ring, (old, new) = _ring(0, 1000, lifetime=600)
    assert old.kid in {k.kid for k in ring.published(1599)}
    assert old.kid not in {k.kid for k in ring.published(1600)}
    assert [k.kid for k in ring.expired(1600)] == [old.kid]
    assert ring.jwks(1600) == {"keys": [new.jwk]}


def test_fresh_install_signs_with_a_key_still_in_its_lead() -> None:
    ring, (only,) = _ring(500)
    assert ring.signer(0) is only
