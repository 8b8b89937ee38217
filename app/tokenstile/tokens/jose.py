"""The small JOSE pieces Tokenstile needs: base64url, JWK thumbprints (RFC 7638)."""

from __future__ import annotations

import base64
import hashlib
import json
import re
from typing import Any

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
