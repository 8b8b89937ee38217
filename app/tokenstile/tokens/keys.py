"""Signing keys: generation, encryption at rest under the KEK, the JWKS, and rotation.

A key's life (times are epoch seconds)::

    created ── published in the JWKS ──► sign_from ── signs ──► successor's sign_from
            ── still published for the longest access-token lifetime ──► dropped

``rotate-keys`` stores the new key with ``sign_from = now + publish_lead`` so resource
servers that cache the JWKS see it before the first token it signs reaches them.

``rotate-keys --compromised`` cuts that life short: the new key signs at once and every
older key is deleted from the store, so it leaves the JWKS and the service's own token
checks (which confirm a token's ``kid`` is still stored) refuse what it signed.
"""

from __future__ import annotations

import base64
import os
import secrets
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any, Literal

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from tokenstile.errors import ConfigError, KeyEncryptionError
from tokenstile.protocol.jose import (
    b64url_decode,
    b64url_encode,
    jwk_thumbprint,
    public_jwk_members,
)

Algorithm = Literal["ES256", "EdDSA"]
ALGORITHMS: tuple[Algorithm, ...] = ("ES256", "EdDSA")
PrivateKey = ec.EllipticCurvePrivateKey | ed25519.Ed25519PrivateKey
PublicKey = ec.EllipticCurvePublicKey | ed25519.Ed25519PublicKey

KEK_BYTES = 32
_NONCE_BYTES = 12


class KeyEncryptionKey:
    """AES-256-GCM key that wraps every secret Tokenstile keeps at rest."""

    __slots__ = ("_aead",)

    def __init__(self, key: bytes) -> None:
        if len(key) != KEK_BYTES:
            raise ConfigError(f"The key-encryption key must be {KEK_BYTES} bytes.")
        self._aead = AESGCM(key)

    @classmethod
    def generate(cls) -> tuple[KeyEncryptionKey, str]:
        """A new random KEK and its text form (base64url), for a key file or the env."""
        raw = secrets.token_bytes(KEK_BYTES)
        return cls(raw), b64url_encode(raw)

    @classmethod
    def from_text(cls, text: str) -> KeyEncryptionKey:
        stripped = text.strip()
        try:
            raw = b64url_decode(stripped)
        except ValueError:
            try:
                raw = base64.b64decode(stripped, validate=True)
            except ValueError as exc:
                raise ConfigError(
                    "The key-encryption key is not base64 or base64url text."
                ) from exc
        return cls(raw)

    def encrypt(self, plaintext: bytes, *, context: bytes) -> bytes:
        """``nonce || ciphertext+tag``; ``context`` binds the blob to its purpose."""
        nonce = os.urandom(_NONCE_BYTES)
        return nonce + self._aead.encrypt(nonce, plaintext, context)

    def decrypt(self, blob: bytes, *, context: bytes) -> bytes:
        try:
            return self._aead.decrypt(blob[:_NONCE_BYTES], blob[_NONCE_BYTES:], context)
        except (InvalidTag, ValueError) as exc:
            raise KeyEncryptionError(
                "The key-encryption key does not open the stored secrets: "
                "TOKENSTILE_KEK or the key file does not belong to this database."
            ) from exc


KEK_CHECK_CONTEXT = b"tokenstile/kek-check"
KEK_CHECK_PLAINTEXT = b"tokenstile key-encryption key check v1"


def public_jwk(public_key: PublicKey, alg: Algorithm) -> dict[str, Any]:
    """The public JWK with ``kid`` set to its RFC 7638 thumbprint."""
    jwk = public_jwk_members(public_key)
    jwk["kid"] = jwk_thumbprint(jwk)
    jwk["alg"] = alg
    jwk["use"] = "sig"
    return jwk


@dataclass(frozen=True, slots=True)
class SigningKey:
    kid: str
    alg: Algorithm
    private_key: PrivateKey
    jwk: dict[str, Any]
    created_at: float
    sign_from: float

    @classmethod
    def generate(cls, alg: Algorithm, *, created_at: float, sign_from: float) -> SigningKey:
        private: PrivateKey
        if alg == "ES256":
            private = ec.generate_private_key(ec.SECP256R1())
        elif alg == "EdDSA":
            private = ed25519.Ed25519PrivateKey.generate()
        else:  # pragma: no cover - Literal guards this for typed callers
            raise ConfigError(f"Unsupported signing algorithm {alg!r}; use ES256 or EdDSA.")
        jwk = public_jwk(private.public_key(), alg)
        return cls(jwk["kid"], alg, private, jwk, created_at, sign_from)

    def encrypt_private(self, kek: KeyEncryptionKey) -> bytes:
        der = self.private_key.private_bytes(
            serialization.Encoding.DER,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
        return kek.encrypt(der, context=_key_context(self.kid))

    @classmethod
    def decrypt_private(
        cls,
        *,
        kid: str,
        alg: Algorithm,
        blob: bytes,
        kek: KeyEncryptionKey,
        created_at: float,
        sign_from: float,
    ) -> SigningKey:
        der = kek.decrypt(blob, context=_key_context(kid))
        private = serialization.load_der_private_key(der, password=None)
        if not isinstance(private, ec.EllipticCurvePrivateKey | ed25519.Ed25519PrivateKey):
            raise KeyEncryptionError(f"Stored signing key {kid} is of an unexpected type.")
        jwk = public_jwk(private.public_key(), alg)
        if jwk["kid"] != kid:
            raise KeyEncryptionError(f"Stored signing key {kid} does not match its key id.")
        return cls(kid, alg, private, jwk, created_at, sign_from)


def _key_context(kid: str) -> bytes:
    return b"tokenstile/signing-key/" + kid.encode("ascii")


class KeyRing:
    """The signing keys known at one moment, ordered by ``sign_from``.

    Pure: the server reloads it from the store now and then (and at once when a cheap
    probe of the stored key ids sees a change), so a rotation made by ``tokenstile
    manage rotate-keys`` on another host reaches every replica.
    """

    def __init__(self, keys: Iterable[SigningKey], *, max_token_lifetime: float) -> None:
        self._keys = sorted(keys, key=lambda k: (k.sign_from, k.created_at))
        self._max_token_lifetime = max_token_lifetime
        self._by_kid = {k.kid: k for k in self._keys}

    def __len__(self) -> int:
        return len(self._keys)

    def get(self, kid: str) -> SigningKey | None:
        return self._by_kid.get(kid)

    def ids(self) -> frozenset[tuple[str, float]]:
        """``(kid, sign_from)`` of every key: what a cheap probe of the store compares."""
        return frozenset((k.kid, k.sign_from) for k in self._keys)

    def signer(self, now: float) -> SigningKey:
        """The newest key whose ``sign_from`` has come."""
        current: SigningKey | None = None
        for key in self._keys:
            if key.sign_from <= now:
                current = key
        if current is None:
            if not self._keys:
                raise ConfigError("No signing key: run `tokenstile manage init`.")
            # Every key is still in its publication lead (a fresh install): sign with
            # the oldest rather than refuse service.
            current = self._keys[0]
        return current

    def published(self, now: float) -> list[SigningKey]:
        """Keys in the JWKS: future keys, the signer, and retired keys whose tokens live on."""
        signer = self.signer(now)
        out: list[SigningKey] = []
        for index, key in enumerate(self._keys):
            if key is signer or key.sign_from > now:
                out.append(key)
                continue
            successor = self._keys[index + 1] if index + 1 < len(self._keys) else None
            retired_at = successor.sign_from if successor is not None else now
            if retired_at + self._max_token_lifetime > now:
                out.append(key)
        return out

    def expired(self, now: float) -> list[SigningKey]:
        """Keys no token can need any more: safe to delete from the store."""
        live = {k.kid for k in self.published(now)}
        return [k for k in self._keys if k.kid not in live]

    def jwks(self, now: float) -> dict[str, Any]:
        return {"keys": [k.jwk for k in self.published(now)]}
