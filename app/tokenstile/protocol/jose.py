"""The JOSE encodings both sides write alike: unpadded base64url (RFC 7515 section 2),
the public members of a JWK (RFC 7518 section 6) and its RFC 7638 thumbprint.

The token service's strict, fast decoding for its verifiers stays in
:mod:`tokenstile.tokens.jose`; these are the pieces a client needs too.
"""

from __future__ import annotations

import base64
import hashlib
import json
import re
from typing import Any

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519

_B64URL = re.compile(rb"[A-Za-z0-9_-]*")


def b64url_encode(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def b64url_decode(text: str | bytes) -> bytes:
    """Decode unpadded base64url strictly: no padding, no ``+``/``/``, no stray bits."""
    try:
        raw = text.encode("ascii") if isinstance(text, str) else text
    except UnicodeEncodeError as exc:
        raise ValueError("not base64url") from exc
    if not _B64URL.fullmatch(raw) or len(raw) % 4 == 1:
        raise ValueError("not base64url")
    data = base64.urlsafe_b64decode(raw + b"=" * (-len(raw) % 4))
    # Reject non-canonical encodings (set bits in the unused tail of the last character).
    if b64url_encode(data).encode("ascii") != raw:
        raise ValueError("non-canonical base64url")
    return data


def public_jwk_members(
    public_key: ec.EllipticCurvePublicKey | ed25519.Ed25519PublicKey,
) -> dict[str, Any]:
    """The key's own JWK members: ``kty``, ``crv``, ``x`` (and ``y`` for EC P-256)."""
    if isinstance(public_key, ec.EllipticCurvePublicKey):
        numbers = public_key.public_numbers()
        return {
            "kty": "EC",
            "crv": "P-256",
            "x": b64url_encode(numbers.x.to_bytes(32, "big")),
            "y": b64url_encode(numbers.y.to_bytes(32, "big")),
        }
    raw = public_key.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    return {"kty": "OKP", "crv": "Ed25519", "x": b64url_encode(raw)}


# RFC 7638 section 3.2: only the required members, in lexicographic order.
_THUMBPRINT_MEMBERS = {
    "EC": ("crv", "kty", "x", "y"),
    "OKP": ("crv", "kty", "x"),
    "RSA": ("e", "kty", "n"),
}


def jwk_thumbprint(jwk: dict[str, Any]) -> str:
    """The RFC 7638 SHA-256 thumbprint of a public JWK, base64url."""
    members = _THUMBPRINT_MEMBERS.get(jwk.get("kty", ""))
    if members is None:
        raise ValueError(f"unsupported key type {jwk.get('kty')!r}")
    canonical = json.dumps({m: jwk[m] for m in members}, separators=(",", ":"), sort_keys=True)
    return b64url_encode(hashlib.sha256(canonical.encode("utf-8")).digest())
