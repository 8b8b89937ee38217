"""The token service's JOSE checking: strict, fast base64url and JSON for headers and
payloads, and the ES256/EdDSA verifying keys that both the access-token verifier and the
DPoP proof check use. The encodings a client writes too (base64url, JWK thumbprints) live
in :mod:`tokenstile.protocol.jose`.
"""

from __future__ import annotations

import binascii
import json
from collections.abc import Mapping
from typing import Any, Final

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec, ed25519
from cryptography.hazmat.primitives.asymmetric.utils import encode_dss_signature

from tokenstile.errors import BadSignature, TokenstileError

# -- strict decoding, shared by the verifier's hot path and the DPoP proof check --------

# Strict base64url: map the URL-safe alphabet onto the standard one and every character
# that is only valid in standard base64 ('+', '/', '=') onto one that is valid in
# neither, so binascii's strict mode refuses it.
_TO_STANDARD_B64: Final = bytes.maketrans(b"-_+/=", b"+/***")
_PADDING: Final = (b"", b"", b"==", b"=")
# The last character of a 2- or 3-character final group carries 4 or 2 unused bits
# that must be zero, or two spellings would decode to the same bytes.
_CANONICAL_LAST: Final[tuple[frozenset[int], ...]] = (
    frozenset(),
    frozenset(),
    frozenset(b"AQgw"),
    frozenset(b"AEIMQUYcgkosw048"),
)


def b64url_strict(segment: bytes) -> bytes:
    """Decode one unpadded base64url part strictly (fast), or raise ``ValueError``."""
    rem = len(segment) & 3
    if rem and (rem == 1 or segment[-1] not in _CANONICAL_LAST[rem]):
        raise ValueError("not canonical base64url")
    return binascii.a2b_base64(
        segment.translate(_TO_STANDARD_B64) + _PADDING[rem], strict_mode=True
    )


def reject_constant(name: str) -> Any:
    raise ValueError(f"{name} is not JSON")


# NaN and Infinity are not JSON (RFC 8259 section 6); Python accepts them by default.
STRICT_JSON: Final = json.JSONDecoder(parse_constant=reject_constant)


def unique_members(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    """``object_pairs_hook`` refusing a repeated member (RFC 7515 section 4)."""
    members = dict(pairs)
    if len(members) != len(pairs):
        raise ValueError("duplicate header parameter")
    return members


def strict_header(part: bytes) -> Any:
    """A JOSE header segment decoded: strict base64url, UTF-8, JSON, unique members."""
    return json.loads(
        b64url_strict(part).decode("utf-8"),
        object_pairs_hook=unique_members,
        parse_constant=reject_constant,
    )


# -- verifying keys -------------------------------------------------------------------

SIGNATURE_BYTES: Final = 64  # ES256 is raw r || s (RFC 7518 section 3.4); Ed25519 is 64


class JwkFormatError(TokenstileError):
    """A JWK Set or one of its keys is not what RFC 7517 describes."""

    code = "jwk_format"


class Es256Key:
    __slots__ = ("_ecdsa", "_verify", "alg")

    def __init__(self, public_key: ec.EllipticCurvePublicKey) -> None:
        self.alg = "ES256"
        self._verify = public_key.verify
        self._ecdsa = ec.ECDSA(hashes.SHA256())

    def verify(self, signature: bytes, signed: bytes) -> None:
        if len(signature) != SIGNATURE_BYTES:
            raise BadSignature("The token signature is not a 64-byte ES256 signature.")
        der = encode_dss_signature(
            int.from_bytes(signature[:32], "big"), int.from_bytes(signature[32:], "big")
        )
        try:
            self._verify(der, signed, self._ecdsa)
        except InvalidSignature:
            raise BadSignature("The token signature does not verify.") from None


class EdDsaKey:
    __slots__ = ("_verify", "alg")

    def __init__(self, public_key: ed25519.Ed25519PublicKey) -> None:
        self.alg = "EdDSA"
        self._verify = public_key.verify

    def verify(self, signature: bytes, signed: bytes) -> None:
        if len(signature) != SIGNATURE_BYTES:
            raise BadSignature("The token signature is not a 64-byte Ed25519 signature.")
        try:
            self._verify(signature, signed)
        except InvalidSignature:
            raise BadSignature("The token signature does not verify.") from None


VerifyingKey = Es256Key | EdDsaKey


def verifying_key(jwk: Mapping[str, Any]) -> VerifyingKey | None:
    """The verifying key for one public JWK, or ``None`` when it is not an ES256/EdDSA key.

    Raises ``ValueError`` (or ``binascii.Error``) for a key of the right type whose
    coordinates are malformed or not on the curve.
    """
    kty, crv = jwk.get("kty"), jwk.get("crv")
    if kty == "EC" and crv == "P-256":
        alg = "ES256"
    elif kty == "OKP" and crv == "Ed25519":
        alg = "EdDSA"
    else:
        return None
    if jwk.get("alg", alg) != alg or jwk.get("use", "sig") != "sig":
        return None
    key_ops = jwk.get("key_ops")
    if key_ops is not None and (not isinstance(key_ops, list) or "verify" not in key_ops):
        return None
    x = jwk.get("x")
    if not isinstance(x, str):
        raise JwkFormatError("no x coordinate")
    if alg == "EdDSA":
        return EdDsaKey(
            ed25519.Ed25519PublicKey.from_public_bytes(b64url_strict(x.encode("ascii")))
        )
    y = jwk.get("y")
    if not isinstance(y, str):
        raise JwkFormatError("no y coordinate")
    xb, yb = b64url_strict(x.encode("ascii")), b64url_strict(y.encode("ascii"))
    if len(xb) != 32 or len(yb) != 32:
        raise JwkFormatError("coordinates are not 32 bytes")
    # from_encoded_point checks that the point is on the curve.
    point = b"\x04" + xb + yb
    return Es256Key(ec.EllipticCurvePublicKey.from_encoded_point(ec.SECP256R1(), point))
