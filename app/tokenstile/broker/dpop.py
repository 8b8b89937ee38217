"""The broker's DPoP key (RFC 9449): an EC P-256 key pair made at login, kept in the session.

Its private half lives only in the keychain item of the session (as a private JWK); the
token service binds the session's tokens to its thumbprint (``cnf.jkt``). Proofs are made
by :func:`tokenstile.protocol.dpop.make_dpop_proof`, the wire format the server checks.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from cryptography.hazmat.primitives.asymmetric import ec

from tokenstile.broker.errors import BrokerError
from tokenstile.protocol.dpop import dpop_public_jwk, make_dpop_proof
from tokenstile.protocol.jose import b64url_decode, b64url_encode, jwk_thumbprint


class DpopKey:
    """One DPoP key pair: makes proofs, and says its public JWK and thumbprint."""

    __slots__ = ("_private", "public_jwk", "thumbprint")

    def __init__(self, private_key: ec.EllipticCurvePrivateKey) -> None:
        self._private = private_key
        self.public_jwk: dict[str, Any] = dpop_public_jwk(private_key)
        self.thumbprint: str = jwk_thumbprint(self.public_jwk)

    @classmethod
    def generate(cls) -> DpopKey:
        return cls(ec.generate_private_key(ec.SECP256R1()))

    @classmethod
    def from_jwk(cls, jwk: Mapping[str, Any]) -> DpopKey:
        """The key kept in the session; a damaged one is a ``BrokerError``."""
        if jwk.get("kty") != "EC" or jwk.get("crv") != "P-256":
            raise BrokerError("The session's DPoP key is not an EC P-256 key; sign in again.")
        try:
            private = ec.derive_private_key(
                int.from_bytes(b64url_decode(str(jwk["d"])), "big"), ec.SECP256R1()
            )
        except (KeyError, ValueError, TypeError) as exc:
            raise BrokerError("The session's DPoP key cannot be read; sign in again.") from exc
        key = cls(private)
        if key.public_jwk.get("x") != jwk.get("x") or key.public_jwk.get("y") != jwk.get("y"):
            raise BrokerError("The session's DPoP key is damaged; sign in again.")
        return key

    def to_jwk(self) -> dict[str, Any]:
        """The private JWK (for the keychain only)."""
        d = self._private.private_numbers().private_value.to_bytes(32, "big")
        return {**self.public_jwk, "d": b64url_encode(d)}

    def proof(
        self,
        method: str,
        url: str,
        *,
        access_token: str | None = None,
        nonce: str | None = None,
        now: float | None = None,
    ) -> str:
        return make_dpop_proof(
            self._private,
            method=method,
            url=url,
            access_token=access_token,
            nonce=nonce,
            now=now,
        )

    def __repr__(self) -> str:
        return f"DpopKey(thumbprint={self.thumbprint!r})"
