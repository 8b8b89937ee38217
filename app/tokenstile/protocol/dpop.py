"""Making DPoP proofs (RFC 9449): what a client sends with each request of a bound token.

A proof is a JWT (``typ: dpop+jwt``) carrying the client's public key in its ``jwk``
header and, in its claims, the request's method (``htm``) and URL (``htu``), a time
(``iat``), a unique ``jti``, and ``ath`` (the SHA-256 of the access token) when one goes
with it. The broker makes them here; the token service checks them with the same
pieces in :mod:`tokenstile.tokens.dpop` (``DPOP_TYP``, :func:`access_token_hash`).
"""

from __future__ import annotations

import hashlib
import json
import secrets
import time
from typing import Any, Final, Literal
from urllib.parse import urlsplit

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec, ed25519
from cryptography.hazmat.primitives.asymmetric.utils import decode_dss_signature

from tokenstile.errors import ConfigError
from tokenstile.protocol.jose import b64url_encode, public_jwk_members

DPOP_TYP: Final = "dpop+jwt"

PrivateKey = ec.EllipticCurvePrivateKey | ed25519.Ed25519PrivateKey


def access_token_hash(access_token: str) -> str:
    """The ``ath`` claim: base64url of the SHA-256 of the token's ASCII bytes."""
    # Access tokens are ASCII; UTF-8 gives the same bytes for them and never fails.
    return b64url_encode(hashlib.sha256(access_token.encode("utf-8")).digest())


def dpop_public_jwk(private_key: PrivateKey) -> dict[str, Any]:
    """The public JWK a proof carries: only the members RFC 7638 hashes."""
    _algorithm(private_key)
    return public_jwk_members(private_key.public_key())


def _algorithm(private_key: PrivateKey) -> Literal["ES256", "EdDSA"]:
    if isinstance(private_key, ec.EllipticCurvePrivateKey):
        if not isinstance(private_key.curve, ec.SECP256R1):
            raise ConfigError("A DPoP key must be an EC P-256 or an Ed25519 key.")
        return "ES256"
    if isinstance(private_key, ed25519.Ed25519PrivateKey):
        return "EdDSA"
    raise ConfigError("A DPoP key must be an EC P-256 or an Ed25519 key.")


def make_dpop_proof(
    private_key: PrivateKey,
    *,
    method: str,
    url: str,
    access_token: str | None = None,
    nonce: str | None = None,
    now: float | None = None,
) -> str:
    """A fresh DPoP proof for one request (``ath`` when an access token goes with it)."""
    alg = _algorithm(private_key)
    parts = urlsplit(url)
    header = {"typ": DPOP_TYP, "alg": alg, "jwk": dpop_public_jwk(private_key)}
    claims: dict[str, Any] = {
        "jti": secrets.token_urlsafe(16),
        "htm": method.upper(),
        "htu": parts._replace(query="", fragment="").geturl(),
        "iat": int(time.time() if now is None else now),
    }
    if access_token is not None:
        claims["ath"] = access_token_hash(access_token)
    if nonce is not None:
        claims["nonce"] = nonce
    signing_input = f"{_segment(header)}.{_segment(claims)}".encode("ascii")
    if isinstance(private_key, ec.EllipticCurvePrivateKey):
        r, s = decode_dss_signature(private_key.sign(signing_input, ec.ECDSA(hashes.SHA256())))
        signature = r.to_bytes(32, "big") + s.to_bytes(32, "big")
    else:
        signature = private_key.sign(signing_input)
    return f"{signing_input.decode('ascii')}.{b64url_encode(signature)}"


def _segment(value: dict[str, Any]) -> str:
    return b64url_encode(json.dumps(value, separators=(",", ":")).encode("utf-8"))
