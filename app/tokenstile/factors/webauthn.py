"""WebAuthn (FIDO2) assertions, checked by hand: the relying party, strict parsing, the rules.

Pure: no HTTP, database or hardware. python-fido2's ``fido2.cbor`` decodes CBOR; the
signature is checked with ``cryptography`` against the COSE_Key stored at enrollment.

What :func:`check_assertion` checks, in the order of WebAuthn Level 3 section 7.2
(steps named in brackets):

- ``clientDataJSON``: ``type`` is ``webauthn.get`` [11], ``challenge`` is the one the
  server issued [12], ``origin`` is one of the relying party's origins [13], and the
  assertion was not made in a cross-origin frame [14];
- ``authenticatorData``: ``rpIdHash`` is SHA-256 of the RP ID [15], UP is set [16], UV
  is set [17], BS is not set without BE [18];
- the signature over ``authenticatorData || SHA-256(clientDataJSON)`` with the
  credential's public key [21];
- the user handle, when usernameless, is present and is the credential's [6].

The sign-counter rule [22] is :func:`counter_advances`; the login flow that applies it
(and suspends a credential whose counter fails to increase) is ``webauthn_login``.

The error tree (all under ``TokenstileError``)::

    WebAuthnError                   webauthn_error
    ├── MalformedResponse           webauthn_malformed   does not parse: changes nothing
    ├── ChallengeRefused(reason)    webauthn_challenge   unknown, used or expired handle
    └── CeremonyRejected(reason)    webauthn_rejected    parsed, but a rule refuses it
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import ipaddress
import json
import re
import struct
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any, Literal
from urllib.parse import urlsplit

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec, ed25519
from fido2 import cbor

from tokenstile.errors import ConfigError, TokenstileError

# COSE algorithm identifiers (RFC 9053) this relying party accepts, preferred first.
ES256 = -7
EDDSA = -8
ALGORITHMS: tuple[int, ...] = (ES256, EDDSA)
ALGORITHM_NAMES = {ES256: "ES256", EDDSA: "EdDSA"}

CHALLENGE_BYTES = 32  # WebAuthn asks for at least 16
CHALLENGE_TTL = 120.0  # seconds a challenge may be answered
MAX_CREDENTIAL_ID_BYTES = 1023  # WebAuthn section 4, "Credential ID"
MAX_USER_HANDLE_BYTES = 64
MAX_CLIENT_DATA_BYTES = 4096
MAX_AUTHENTICATOR_DATA_BYTES = 4096
MAX_SIGNATURE_BYTES = 512

# Authenticator data flags (WebAuthn section 6.1).
FLAG_UP = 0x01
FLAG_UV = 0x04
FLAG_BE = 0x08
FLAG_BS = 0x10
FLAG_AT = 0x40
FLAG_ED = 0x80

TYPE_GET = "webauthn.get"
TYPE_CREATE = "webauthn.create"

RejectReason = Literal[
    "wrong_type",
    "wrong_challenge",
    "wrong_origin",
    "cross_origin",
    "wrong_rp_id",
    "user_not_present",
    "user_not_verified",
    "bad_flags",
    "bad_signature",
    "user_handle_missing",
    "user_handle_mismatch",
    "unsupported_algorithm",
    "not_discoverable",
    "attestation_refused",
    "aaguid_not_allowed",
    "software_key",
    "authenticator_status",
]

# What a person reads for each refusal (on the wire and in the CLI).
REJECTIONS: dict[str, str] = {
    "wrong_type": "The key's answer is not of the expected kind (webauthn.get/create).",
    "wrong_challenge": "The key's answer is for another request.",
    "wrong_origin": "The key's answer was made for another origin.",
    "cross_origin": "The key's answer was made in a cross-origin frame.",
    "wrong_rp_id": "The key's answer was made for another relying party (rpId).",
    "user_not_present": "The key did not confirm a touch (user presence).",
    "user_not_verified": "The key did not verify its user (PIN or fingerprint).",
    "bad_flags": "The key's answer has contradictory flags.",
    "bad_signature": "The key's signature does not verify.",
    "user_handle_missing": "The key's answer names no user (userHandle).",
    "user_handle_mismatch": "The key's answer names another user than its credential's.",
    "unsupported_algorithm": "The key's credential uses an algorithm other than ES256 or EdDSA.",
    "not_discoverable": "The key made a credential it does not keep (not discoverable).",
    "attestation_refused": "The key's attestation is not from a trusted manufacturer.",
    "aaguid_not_allowed": "This model of security key is not allowed here.",
    "authenticator_status": "The FIDO metadata marks this model of security key as "
    "revoked or compromised: it is not enrolled.",
    "software_key": "This is a software key, not a hardware security key: this service "
    "does not enroll software keys (webauthn_allow_software_keys).",
}


class WebAuthnError(TokenstileError):
    code = "webauthn_error"


class MalformedResponse(WebAuthnError):
    """A credential or body that does not parse (base64url, JSON, CBOR, layout)."""

    code = "webauthn_malformed"


class ChallengeRefused(WebAuthnError):
    """The handle is unknown, already used, or its challenge expired."""

    code = "webauthn_challenge"

    def __init__(self, reason: Literal["unknown_handle", "expired"]) -> None:
        super().__init__(
            "This request has expired: start again."
            if reason == "expired"
            else "This request is unknown or was already used: start again."
        )
        self.reason = reason


class CeremonyRejected(WebAuthnError):
    """A response that parsed but breaks a rule; ``reason`` goes to the audit log."""

    code = "webauthn_rejected"

    def __init__(self, reason: RejectReason, message: str | None = None) -> None:
        super().__init__(message or REJECTIONS[reason])
        self.reason: RejectReason = reason


# -- the relying party --------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class RelyingParty:
    """The RP ID, its display name and the origins whose client data is accepted."""

    id: str
    name: str
    origins: frozenset[str]
    id_hash: bytes = field(init=False, repr=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "id_hash", hashlib.sha256(self.id.encode("utf-8")).digest())


_DOMAIN = re.compile(
    r"^(?=.{1,253}$)([a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?)(\.[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?)*$"
)


def default_rp_id(issuer: str) -> str:
    """The issuer's host name, or ``localhost`` when the issuer is on a loopback address."""
    host = (urlsplit(issuer).hostname or "").lower()
    if host == "localhost" or host.endswith(".localhost"):
        return "localhost"
    try:
        address = ipaddress.ip_address(host)
    except ValueError:
        return host
    if address.is_loopback:
        return "localhost"
    raise ConfigError(
        f"The issuer's host {host} is an IP address, which cannot be a WebAuthn RP ID: "
        "set rp_id (TOKENSTILE_RP_ID or --rp-id) to a domain name."
    )


def relying_party_for(
    issuer: str, *, rp_id: str | None = None, name: str = "Tokenstile", origins: Iterable[str] = ()
) -> RelyingParty:
    """The relying party of a deployment; origins default to ``https://<rp id>``."""
    rid = (rp_id or default_rp_id(issuer)).strip().lower()
    if not _DOMAIN.match(rid):
        raise ConfigError(f"The WebAuthn RP ID {rid!r} is not a domain name.")
    allowed = frozenset(o.rstrip("/") for o in origins) or frozenset({f"https://{rid}"})
    for origin in allowed:
        parts = urlsplit(origin)
        if parts.scheme not in ("https", "http") or not parts.hostname or parts.path:
            raise ConfigError(f"The WebAuthn origin {origin!r} is not scheme://host[:port].")
    return RelyingParty(rid, name, allowed)


# -- strict decoding ------------------------------------------------------------------------

_B64URL = re.compile(r"[A-Za-z0-9_-]*={0,2}")


def b64url_decode(value: object, what: str, *, max_bytes: int) -> bytes:
    """Base64url (RFC 4648 section 5, padding optional); anything else is malformed."""
    if not isinstance(value, str):
        raise MalformedResponse(f"{what} is missing or not a base64url string.")
    if len(value) > (max_bytes * 4 + 2) // 3 + 2 or not _B64URL.fullmatch(value):
        raise MalformedResponse(f"{what} is not base64url or is too long.")
    core = value.rstrip("=")
    if len(core) % 4 == 1 or (value != core and len(value) % 4):
        raise MalformedResponse(f"{what} is not valid base64url.")
    return base64.urlsafe_b64decode(core + "=" * (-len(core) % 4))


def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def cbor_decode_all(data: bytes, what: str) -> Any:
    """One CBOR item that uses every byte."""
    value, rest = cbor_decode_first(data, what)
    if rest:
        raise MalformedResponse(f"{what} has trailing bytes after its CBOR.")
    return value


def cbor_decode_first(data: bytes, what: str) -> tuple[Any, bytes]:
    try:
        return cbor.decode_from(data)
    except (ValueError, IndexError, KeyError, TypeError, struct.error, RecursionError) as exc:
        raise MalformedResponse(f"{what} is not valid CBOR.") from exc


# -- client data and authenticator data -----------------------------------------------------


@dataclass(frozen=True, slots=True)
class ClientData:
    raw: bytes = field(repr=False)
    type: str
    challenge: bytes
    origin: str
    cross_origin: bool
    top_origin: str | None

    @property
    def hash(self) -> bytes:
        return hashlib.sha256(self.raw).digest()


def parse_client_data(raw: bytes) -> ClientData:
    if len(raw) > MAX_CLIENT_DATA_BYTES:
        raise MalformedResponse("clientDataJSON is too large.")
    try:
        data = json.loads(raw.decode("utf-8"))
    except (UnicodeDecodeError, ValueError, RecursionError) as exc:
        raise MalformedResponse("clientDataJSON is not UTF-8 JSON.") from exc
    if not isinstance(data, dict):
        raise MalformedResponse("clientDataJSON is not a JSON object.")
    kind, origin = data.get("type"), data.get("origin")
    cross, top = data.get("crossOrigin", False), data.get("topOrigin")
    if not isinstance(kind, str) or not isinstance(origin, str):
        raise MalformedResponse("clientDataJSON lacks a type or an origin.")
    if not isinstance(cross, bool) or (top is not None and not isinstance(top, str)):
        raise MalformedResponse("clientDataJSON has a malformed crossOrigin or topOrigin.")
    challenge = b64url_decode(data.get("challenge"), "clientDataJSON.challenge", max_bytes=1024)
    return ClientData(raw, kind, challenge, origin, cross, top)


@dataclass(frozen=True, slots=True)
class AuthenticatorData:
    raw: bytes = field(repr=False)
    rp_id_hash: bytes
    flags: int
    sign_count: int
    attested: bytes  # attested credential data and what follows it (registration only)

    @property
    def user_present(self) -> bool:
        return bool(self.flags & FLAG_UP)

    @property
    def user_verified(self) -> bool:
        return bool(self.flags & FLAG_UV)

    @property
    def backup_eligible(self) -> bool:
        return bool(self.flags & FLAG_BE)

    @property
    def backed_up(self) -> bool:
        return bool(self.flags & FLAG_BS)


def parse_authenticator_data(raw: bytes, *, assertion: bool) -> AuthenticatorData:
    """The fixed 37 bytes; an assertion may carry only an extensions map after them."""
    if not 37 <= len(raw) <= MAX_AUTHENTICATOR_DATA_BYTES:
        raise MalformedResponse("authenticatorData has the wrong length.")
    flags = raw[32]
    (count,) = struct.unpack(">I", raw[33:37])
    rest = raw[37:]
    if assertion:
        if flags & FLAG_AT:
            raise MalformedResponse("An assertion's authenticatorData carries credential data.")
        if flags & FLAG_ED:
            if not isinstance(cbor_decode_all(rest, "authenticatorData extensions"), dict):
                raise MalformedResponse("authenticatorData extensions are not a CBOR map.")
        elif rest:
            raise MalformedResponse("authenticatorData has trailing bytes.")
    return AuthenticatorData(raw, raw[:32], flags, count, rest)


# -- COSE public keys -----------------------------------------------------------------------

PublicKey = ec.EllipticCurvePublicKey | ed25519.Ed25519PublicKey


@dataclass(frozen=True, slots=True)
class CredentialPublicKey:
    """A credential's public key: its COSE algorithm, canonical COSE_Key bytes, the key."""

    algorithm: int
    cose: bytes
    key: PublicKey = field(repr=False, compare=False)

    def verify(self, signature: bytes, message: bytes) -> bool:
        try:
            if isinstance(self.key, ec.EllipticCurvePublicKey):
                self.key.verify(signature, message, ec.ECDSA(hashes.SHA256()))
            else:
                self.key.verify(signature, message)
        except InvalidSignature:
            return False
        return True


def public_key_from_cose(cose_key: object) -> CredentialPublicKey:
    """An ES256 (EC2, P-256) or EdDSA (OKP, Ed25519) COSE_Key, checked point and all."""
    if not isinstance(cose_key, Mapping):
        raise MalformedResponse("The credential public key is not a COSE_Key map.")
    kty, alg, crv, x = cose_key.get(1), cose_key.get(3), cose_key.get(-1), cose_key.get(-2)
    try:
        if alg == ES256 and kty == 2 and crv == 1:
            y = cose_key.get(-3)
            if not (isinstance(x, bytes) and isinstance(y, bytes) and len(x) == len(y) == 32):
                raise MalformedResponse("The ES256 public key has malformed coordinates.")
            key: PublicKey = ec.EllipticCurvePublicKey.from_encoded_point(
                ec.SECP256R1(), b"\x04" + x + y
            )
            canonical = {1: 2, 3: ES256, -1: 1, -2: x, -3: y}
        elif alg == EDDSA and kty == 1 and crv == 6:
            if not (isinstance(x, bytes) and len(x) == 32):
                raise MalformedResponse("The EdDSA public key is malformed.")
            key = ed25519.Ed25519PublicKey.from_public_bytes(x)
            canonical = {1: 1, 3: EDDSA, -1: 6, -2: x}
        else:
            raise CeremonyRejected("unsupported_algorithm")
    except ValueError as exc:  # not a point on the curve
        raise MalformedResponse("The credential public key is not a valid key.") from exc
    return CredentialPublicKey(int(alg), cbor.encode(canonical), key)


def load_public_key(cose: bytes) -> CredentialPublicKey:
    """The stored COSE_Key bytes of an enrolled credential, as a key."""
    return public_key_from_cose(cbor_decode_all(cose, "the stored public key"))


# -- assertions -----------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Assertion:
    """An AuthenticationResponseJSON (WebAuthn Level 3 section 5.1), decoded."""

    credential_id: bytes
    client_data: ClientData
    authenticator_data: AuthenticatorData
    signature: bytes = field(repr=False)
    user_handle: bytes | None


def _member(data: Mapping[str, Any], name: str, kind: type, what: str) -> Any:
    value = data.get(name)
    if not isinstance(value, kind):
        raise MalformedResponse(f"{what}.{name} is missing or of the wrong type.")
    return value


def parse_credential_envelope(
    value: object, what: str = "credential"
) -> tuple[bytes, dict[str, Any]]:
    """``id``/``rawId`` (equal), ``type`` ``public-key``, and the ``response`` object."""
    if not isinstance(value, dict):
        raise MalformedResponse(f"{what} must be a JSON object.")
    raw_id = b64url_decode(value.get("rawId"), f"{what}.rawId", max_bytes=MAX_CREDENTIAL_ID_BYTES)
    if value.get("id") is not None and value.get("id") != value.get("rawId"):
        raise MalformedResponse(f"{what}.id and {what}.rawId differ.")
    if not raw_id:
        raise MalformedResponse(f"{what}.rawId is empty.")
    if value.get("type") != "public-key":
        raise MalformedResponse(f'{what}.type must be "public-key".')
    results = value.get("clientExtensionResults", {})
    if not isinstance(results, dict):
        raise MalformedResponse(f"{what}.clientExtensionResults must be an object.")
    response: dict[str, Any] = _member(value, "response", dict, what)
    return raw_id, response


def parse_assertion(value: object) -> Assertion:
    """Decode an AuthenticationResponseJSON; ``MalformedResponse`` when it does not parse."""
    raw_id, response = parse_credential_envelope(value)
    where = "credential.response"
    client_data = parse_client_data(
        b64url_decode(
            response.get("clientDataJSON"),
            f"{where}.clientDataJSON",
            max_bytes=MAX_CLIENT_DATA_BYTES,
        )
    )
    auth_data = parse_authenticator_data(
        b64url_decode(
            response.get("authenticatorData"),
            f"{where}.authenticatorData",
            max_bytes=MAX_AUTHENTICATOR_DATA_BYTES,
        ),
        assertion=True,
    )
    signature = b64url_decode(
        response.get("signature"), f"{where}.signature", max_bytes=MAX_SIGNATURE_BYTES
    )
    handle = response.get("userHandle")
    user_handle = (
        None
        if handle is None or handle == ""
        else b64url_decode(handle, f"{where}.userHandle", max_bytes=MAX_USER_HANDLE_BYTES)
    )
    return Assertion(raw_id, client_data, auth_data, signature, user_handle)


def check_client_data(
    rp: RelyingParty, client_data: ClientData, *, kind: str, challenge: bytes
) -> None:
    if client_data.type != kind:
        raise CeremonyRejected("wrong_type")
    if not hmac.compare_digest(client_data.challenge, challenge):
        raise CeremonyRejected("wrong_challenge")
    if client_data.origin not in rp.origins:
        raise CeremonyRejected("wrong_origin")
    if client_data.cross_origin or client_data.top_origin is not None:
        raise CeremonyRejected("cross_origin")


def check_authenticator_data(
    rp: RelyingParty, auth_data: AuthenticatorData, *, require_uv: bool = True
) -> None:
    if not hmac.compare_digest(auth_data.rp_id_hash, rp.id_hash):
        raise CeremonyRejected("wrong_rp_id")
    if not auth_data.user_present:
        raise CeremonyRejected("user_not_present")
    if require_uv and not auth_data.user_verified:
        raise CeremonyRejected("user_not_verified")
    if auth_data.backed_up and not auth_data.backup_eligible:
        raise CeremonyRejected("bad_flags")


def check_assertion(
    rp: RelyingParty,
    assertion: Assertion,
    *,
    challenge: bytes,
    public_key: CredentialPublicKey,
    user_handle: bytes,
    require_uv: bool = True,
) -> None:
    """Every rule of an assertion but the sign counter; ``CeremonyRejected`` names the first
    broken. The signature is checked last, so a refusal for a cheap reason costs little."""
    check_client_data(rp, assertion.client_data, kind=TYPE_GET, challenge=challenge)
    check_authenticator_data(rp, assertion.authenticator_data, require_uv=require_uv)
    if assertion.user_handle is None:
        raise CeremonyRejected("user_handle_missing")
    if not hmac.compare_digest(assertion.user_handle, user_handle):
        raise CeremonyRejected("user_handle_mismatch")
    signed = assertion.authenticator_data.raw + assertion.client_data.hash
    if not public_key.verify(assertion.signature, signed):
        raise CeremonyRejected("bad_signature")


def counter_advances(stored: int, presented: int) -> bool:
    """WebAuthn section 7.2 step 22: an authenticator without a counter always says 0;
    otherwise each assertion must carry a larger count than the last one seen. False is
    the sign of a cloned key."""
    if stored == 0 and presented == 0:
        return True
    return presented > stored


# -- amr (RFC 8176) --------------------------------------------------------------------------

UvMethod = Literal["pin", "builtin", "unknown"]
UV_METHODS: tuple[str, ...] = ("pin", "builtin", "unknown")


# acr (OpenID EAP ACR values): phishing-resistant, and hardware-protected only when the
# key's hardware was verified (attestation to a root) or vouched for by an admin.
HARDWARE_ACR = "phrh"
SOFTWARE_ACR = "phr"


def login_amr(uv_method: str, *, hardware: bool = True) -> tuple[str, ...]:
    """The ``amr`` of a FIDO2 login (user verification is always required here).

    ``hwk``: proof of possession of a hardware-secured key, for a credential whose
    hardware was verified at enrollment (``hardware``); ``swk`` (a software-secured key)
    for every other, since nothing showed its key is kept in hardware. ``mfa``: that key
    plus the user verification it performed (something known or something one is).
    ``pin`` only when the PIN must have been the verification: the assertion's UV flag
    does not say how the user was verified, so it rests on what enrollment learned from
    the key's getInfo: a key with clientPin but no built-in user verification ("pin")
    can only verify by PIN; a key with built-in UV ("builtin", a fingerprint reader) or
    one enrolled without that knowledge ("unknown") gets no method value, rather than a
    guess (``fpt`` would be as unfounded as ``pin``).
    """
    key = "hwk" if hardware else "swk"
    if uv_method == "pin":
        return (key, "pin", "mfa")
    return (key, "mfa")


def login_acr(*, hardware: bool) -> str:
    """``phrh`` for a verified hardware key, ``phr`` for any other (both phishing-resistant:
    the key signs for this RP ID and origin only)."""
    return HARDWARE_ACR if hardware else SOFTWARE_ACR
