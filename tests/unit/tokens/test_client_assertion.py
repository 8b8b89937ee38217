"""What a private_key_jwt client may register as its JWK Set (``public_jwks``)."""

from __future__ import annotations

import json

import pytest
from cryptography.hazmat.primitives.asymmetric import rsa
from joserfc.jwk import ECKey, OKPKey, RSAKey
from jwt.algorithms import RSAAlgorithm

from tokenstile.errors import ConfigError
from tokenstile.tokens.client_assertion import MAX_KEYS, public_jwks


def short_rsa() -> dict[str, object]:
    """A 1024-bit RSA public JWK (made with cryptography: joserfc refuses to)."""
    key = rsa.generate_private_key(public_exponent=65537, key_size=1024).public_key()  # noqa: S505 - the weak key the service must refuse
    return dict(RSAAlgorithm.to_jwk(key, as_dict=True))


def key_set(*keys: dict[str, object]) -> str:
    return json.dumps({"keys": list(keys)})


def test_public_keys_of_the_three_types_are_kept() -> None:
    keys = [
        ECKey.generate_key("P-256").as_dict(private=False),
        OKPKey.generate_key("Ed25519").as_dict(private=False),
        RSAKey.generate_key(2048).as_dict(private=False),
    ]
    assert json.loads(public_jwks(key_set(*keys)))["keys"] == keys


@pytest.mark.parametrize(
    ("text", "says"),
    [
        ("not json", "not JSON"),
        ("[]", "non-empty"),
        ('{"keys": []}', "non-empty"),
        (key_set(ECKey.generate_key("P-256").as_dict(private=True)), "private members (d)"),
        (key_set(RSAKey.generate_key(2048).as_dict(private=True)), "private members"),
        (key_set({"kty": "oct", "k": "c2VjcmV0c2VjcmV0c2VjcmV0"}), "private members (k)"),
        (key_set(ECKey.generate_key("P-384").as_dict(private=False)), "only EC P-256"),
        (key_set(short_rsa()), "below 2048"),
        (
            key_set({**ECKey.generate_key("P-256").as_dict(private=False), "alg": "HS256"}),
            "alg 'HS256'",
        ),
        (
            key_set({**ECKey.generate_key("P-256").as_dict(private=False), "use": "enc"}),
            "not a signing key",
        ),
        (key_set({"kty": "EC", "crv": "P-256", "x": "AA", "y": "AA"}), "cannot be read"),
        (
            key_set(*[ECKey.generate_key("P-256").as_dict(private=False)] * (MAX_KEYS + 1)),
            f"at most {MAX_KEYS}",
        ),
    ],
)
def test_what_is_refused(text: str, says: str) -> None:
    with pytest.raises(ConfigError) as refused:
        public_jwks(text)
    assert says in refused.value.message
