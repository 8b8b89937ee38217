"""Credential key pairs of the software key: ES256 and EdDSA, their COSE form, signing.

Private keys travel as PKCS#8 DER so the key state can store them; public keys leave as
COSE_Key maps (RFC 9053 section 7 / RFC 8152 section 13) inside attested credential data.
"""

from __future__ import annotations

from typing import Any

from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519

ES256 = -7
EDDSA = -8
SUPPORTED_ALGORITHMS: tuple[int, ...] = (ES256, EDDSA)

_PKCS8 = serialization.PrivateFormat.PKCS8
_DER = serialization.Encoding.DER
_NO_ENCRYPTION = serialization.NoEncryption()


def generate_private_key(alg: int) -> bytes:
    """A fresh private key for ``alg``, as PKCS#8 DER."""
    if alg == ES256:
        return ec.generate_private_key(ec.SECP256R1()).private_bytes(_DER, _PKCS8, _NO_ENCRYPTION)
    if alg == EDDSA:
        return ed25519.Ed25519PrivateKey.generate().private_bytes(_DER, _PKCS8, _NO_ENCRYPTION)
    raise ValueError(f"unsupported COSE algorithm {alg}")


def _load(alg: int, private_key: bytes) -> ec.EllipticCurvePrivateKey | ed25519.Ed25519PrivateKey:
    key = serialization.load_der_private_key(private_key, password=None)
    if alg == ES256 and isinstance(key, ec.EllipticCurvePrivateKey):
        return key
    if alg == EDDSA and isinstance(key, ed25519.Ed25519PrivateKey):
        return key
    raise ValueError(f"stored key does not match COSE algorithm {alg}")


def sign(alg: int, private_key: bytes, message: bytes) -> bytes:
    """A WebAuthn signature: DER ECDSA for ES256, the raw 64 bytes for Ed25519."""
    key = _load(alg, private_key)
    if isinstance(key, ec.EllipticCurvePrivateKey):
        return key.sign(message, ec.ECDSA(hashes.SHA256()))
    return key.sign(message)


def cose_public_key(alg: int, private_key: bytes) -> dict[int, Any]:
    key = _load(alg, private_key)
    if isinstance(key, ec.EllipticCurvePrivateKey):
        numbers = key.public_key().public_numbers()
        # kty EC2, alg, crv P-256, x, y
        return {
            1: 2,
            3: ES256,
            -1: 1,
            -2: numbers.x.to_bytes(32, "big"),
            -3: numbers.y.to_bytes(32, "big"),
        }
    raw = key.public_key().public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    return {1: 1, 3: EDDSA, -1: 6, -2: raw}  # kty OKP, alg, crv Ed25519, x
