"""The offline lease (issue 17, offline sign-in): the token service's signed list of what a
kiosk may check by itself while the service cannot be reached.

The service writes it (``tokens.offline_lease``) and the kiosk's side reads it
(``broker``), so its claim names and its checks live here, once. A lease is a JWS signed
with one of the service's signing keys, ``typ`` :data:`LEASE_TYPE` (so no access token,
ID token or logout token can pass for one, nor a lease for them), for one kiosk client
(``aud``), with a short life (``exp``):

- ``keys``: each enrolled, active FIDO2 credential of an enabled person: the credential
  id, its COSE public key, its algorithm and the signature counter the service last saw;
- ``cards``: each enrolled, active PIV card's certificate fingerprint (SHA-256, hex);
- each entry names its person (``username``, ``name``).

What is not in it, ever: OTP secrets (they never leave the service, so there is no
offline OTP sign-in), private keys, PIN state. Revocation reaches an offline kiosk only
with its next lease: that is what the short life is for.
"""

from __future__ import annotations

import math
import secrets
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Final

import jwt

from tokenstile.errors import TokenstileError
from tokenstile.protocol.jose import b64url_decode, b64url_encode

LEASE_TYPE: Final = "tokenstile-offline-lease+jwt"
# An offline sign-in's challenge: the kiosk's time (milliseconds since the epoch, 8 bytes
# big-endian) and 24 random bytes. The key or card signs the time with the rest, so the
# service learns when the sign-in happened from the signature itself.
OFFLINE_CHALLENGE_BYTES: Final = 32
LEASE_ALGORITHMS: Final = ("ES256", "EdDSA")
MAX_LEASE_BYTES: Final = 4 * 1024 * 1024  # about 10,000 keys and cards
_HEX = frozenset("0123456789abcdef")


class LeaseInvalid(TokenstileError):
    """A lease that does not verify, is not for this kiosk, has expired or is malformed."""

    code = "offline_lease_invalid"


@dataclass(frozen=True, slots=True)
class LeaseKey:
    credential_id: bytes
    public_key: bytes  # COSE_Key, as enrolled
    algorithm: int  # COSE algorithm number
    sign_count: int
    username: str
    display_name: str


@dataclass(frozen=True, slots=True)
class LeaseCard:
    fingerprint: str  # SHA-256 of the certificate's DER, lowercase hex
    username: str
    display_name: str


@dataclass(frozen=True, slots=True)
class Lease:
    lease_id: str
    issuer: str
    client_id: str
    rp_id: str
    issued_at: float
    expires_at: float
    keys: tuple[LeaseKey, ...]
    cards: tuple[LeaseCard, ...]

    def key(self, credential_id: bytes) -> LeaseKey | None:
        return next((k for k in self.keys if k.credential_id == credential_id), None)

    def card(self, fingerprint: str) -> LeaseCard | None:
        return next((c for c in self.cards if c.fingerprint == fingerprint.lower()), None)


def offline_challenge(now: float) -> bytes:
    """A fresh offline challenge dated ``now`` (see :data:`OFFLINE_CHALLENGE_BYTES`)."""
    return int(now * 1000).to_bytes(8, "big") + secrets.token_bytes(OFFLINE_CHALLENGE_BYTES - 8)


def lease_claims(lease: Lease) -> dict[str, Any]:
    """The JWT claims of ``lease`` (what the service signs)."""
    return {
        "iss": lease.issuer,
        "aud": lease.client_id,
        "jti": lease.lease_id,
        "iat": int(lease.issued_at),
        "exp": int(lease.expires_at),
        "rp_id": lease.rp_id,
        "keys": [
            {
                "id": b64url_encode(k.credential_id),
                "cose": b64url_encode(k.public_key),
                "alg": k.algorithm,
                "count": k.sign_count,
                "username": k.username,
                "name": k.display_name,
            }
            for k in lease.keys
        ],
        "cards": [
            {"fingerprint": c.fingerprint, "username": c.username, "name": c.display_name}
            for c in lease.cards
        ],
    }


def read_lease(
    token: str,
    jwks: Mapping[str, Any],
    *,
    issuer: str | None,
    client_id: str,
    now: float,
) -> Lease:
    """The lease ``token`` says, once its signature (a key of ``jwks``), type, issuer,
    audience (``client_id``) and lifetime are checked; else :class:`LeaseInvalid`.

    ``issuer`` None: any ``iss`` (a kiosk that took ``jwks`` from the service URL its
    configuration names has the issuer's keys already; the lease's ``iss`` is kept)."""
    if not isinstance(token, str) or len(token) > MAX_LEASE_BYTES or token.count(".") != 2:
        raise LeaseInvalid("The offline lease is not a signed lease.")
    try:
        header = jwt.get_unverified_header(token)
    except jwt.PyJWTError as exc:
        raise LeaseInvalid("The offline lease is not a signed lease.") from exc
    if header.get("typ") != LEASE_TYPE or header.get("alg") not in LEASE_ALGORITHMS:
        raise LeaseInvalid("The offline lease is not a signed lease.")
    key = _signing_key(jwks, header.get("kid"), header["alg"])
    try:
        claims = jwt.decode(
            token,
            key,
            algorithms=[header["alg"]],
            audience=client_id,
            issuer=issuer,
            leeway=0,
            # Times are checked below, on the kiosk's clock (``now``), not PyJWT's.
            options={
                "require": ["iss", "aud", "exp", "iat", "jti"],
                "verify_exp": False,
                "verify_iat": False,
                "verify_nbf": False,
            },
        )
    except jwt.PyJWTError as exc:
        raise LeaseInvalid(f"The offline lease does not verify: {exc}.") from exc
    issued, expires = _number(claims, "iat"), _number(claims, "exp")
    if expires <= now:
        raise LeaseInvalid("The offline lease has expired: the kiosk needs a new one.")
    if issued > now + 300:
        raise LeaseInvalid("The offline lease was issued in the future.")
    try:
        return Lease(
            lease_id=_text(claims, "jti"),
            issuer=_text(claims, "iss"),
            client_id=client_id,
            rp_id=_text(claims, "rp_id"),
            issued_at=issued,
            expires_at=expires,
            keys=tuple(_key(entry) for entry in _list(claims, "keys")),
            cards=tuple(_card(entry) for entry in _list(claims, "cards")),
        )
    except (KeyError, TypeError, ValueError) as exc:
        raise LeaseInvalid("The offline lease has a malformed entry.") from exc


def _signing_key(jwks: Mapping[str, Any], kid: Any, alg: str) -> Any:
    for jwk in jwks.get("keys", ()):
        if isinstance(jwk, Mapping) and jwk.get("kid") == kid and jwk.get("alg") == alg:
            try:
                return jwt.PyJWK(dict(jwk)).key
            except jwt.PyJWTError as exc:
                raise LeaseInvalid("The service's key for the lease is unusable.") from exc
    raise LeaseInvalid("The offline lease is signed by a key the service does not publish.")


def _number(claims: Mapping[str, Any], name: str) -> float:
    value = claims.get(name)
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        raise LeaseInvalid(f"The offline lease's {name} is not a time.")
    return float(value)


def _text(claims: Mapping[str, Any], name: str) -> str:
    value = claims.get(name)
    if not isinstance(value, str) or not value or len(value) > 512:
        raise ValueError(name)
    return value


def _list(claims: Mapping[str, Any], name: str) -> list[Mapping[str, Any]]:
    value = claims.get(name)
    if not isinstance(value, list) or not all(isinstance(e, Mapping) for e in value):
        raise ValueError(name)
    return value


def _key(entry: Mapping[str, Any]) -> LeaseKey:
    count = entry["count"]
    algorithm = entry["alg"]
    if isinstance(count, bool) or not isinstance(count, int) or count < 0:
        raise ValueError("count")
    if isinstance(algorithm, bool) or not isinstance(algorithm, int):
        raise TypeError("alg")
    return LeaseKey(
        credential_id=b64url_decode(entry["id"]),
        public_key=b64url_decode(entry["cose"]),
        algorithm=algorithm,
        sign_count=count,
        username=_text(entry, "username"),
        display_name=str(entry.get("name") or ""),
    )


def _card(entry: Mapping[str, Any]) -> LeaseCard:
    fingerprint = entry["fingerprint"]
    if not isinstance(fingerprint, str) or len(fingerprint) != 64 or set(fingerprint) - _HEX:
        raise ValueError("fingerprint")
    return LeaseCard(
        fingerprint=fingerprint,
        username=_text(entry, "username"),
        display_name=str(entry.get("name") or ""),
    )
