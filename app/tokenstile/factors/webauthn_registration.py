"""Registering a security key for a named person, as an admin does it.

The options ask for a discoverable (resident) credential, user verification, ES256 or
EdDSA, and attestation ``none`` unless the policy needs to know the key model (an
AAGUID allow-list or trusted attestation roots: then ``direct``). The person's enrolled
credentials are excluded, so the same key is not enrolled twice.

:func:`verify_registration` checks a RegistrationResponseJSON (WebAuthn Level 3 section
7.1): client data (type ``webauthn.create``, challenge, origin), authenticator data
(rpIdHash, UP, UV, BS only with BE, attested credential data present), the credential
public key (ES256 on P-256 or Ed25519, a valid point), the ``credProps`` answer when
the client gives one, and the attestation under :class:`AttestationPolicy`:

- every statement is verified by python-fido2's class for its format
  (``fido2.attestation``: ``packed``, ``tpm``, ``android-safetynet``, ``apple``,
  ``fido-u2f``, ``none``), trusted or not; any other format is refused;
- no roots: a verified statement is accepted but not trusted;
- roots: only a statement whose certificate chain (``x5c``) leads to one of the roots,
  each certificate valid now.

What the attestation earned is the credential's :data:`Assurance`: ``attested`` (a
certificate chain to a configured hardware root, valid now) is the only one a
registration earns by itself; ``vouched`` is an admin's word at enrollment; a key that
says it is software (the project's virtual key, by its attestation certificate) is
``software`` and refused unless the policy allows software keys; everything else is
``unverified``. Only ``attested`` and ``vouched`` sign in as a hardware key
(``factors.webauthn.login_amr``).
"""

from __future__ import annotations

import datetime
import uuid
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from cryptography import x509
from cryptography.hazmat.primitives.serialization import Encoding
from cryptography.x509.oid import NameOID
from fido2.attestation.base import (
    Attestation,
    AttestationResult,
    AttestationType,
    InvalidAttestation,
    UnsupportedType,
    verify_x509_chain,
)
from fido2.mds3 import MetadataBlobPayload
from fido2.webauthn import AuthenticatorData as Fido2AuthenticatorData

from tokenstile.config import AAGUIDS_WITHOUT_ROOTS
from tokenstile.errors import ConfigError
from tokenstile.factors.webauthn import (
    ALGORITHMS,
    CHALLENGE_TTL,
    FLAG_AT,
    FLAG_ED,
    MAX_CLIENT_DATA_BYTES,
    MAX_CREDENTIAL_ID_BYTES,
    REJECTIONS,
    TYPE_CREATE,
    CeremonyRejected,
    CredentialPublicKey,
    MalformedResponse,
    RelyingParty,
    b64url,
    b64url_decode,
    cbor_decode_all,
    cbor_decode_first,
    check_authenticator_data,
    check_client_data,
    parse_authenticator_data,
    parse_client_data,
    parse_credential_envelope,
    public_key_from_cose,
)
from tokenstile.factors.webauthn_metadata import model_metadata

MAX_ATTESTATION_BYTES = 32 * 1024
TRANSPORTS = ("usb", "nfc", "ble", "hybrid", "internal", "smart-card")
# The attestation formats python-fido2 verifies (``fido2.attestation``; WebAuthn Level 3
# section 8). Android key attestation (``android-key``) is not among them in python-fido2
# 2.2, so such a statement is refused as an unknown format.
ATTESTATION_FORMATS = ("packed", "tpm", "android-safetynet", "apple", "fido-u2f", "none")
_DER = Encoding.DER

Assurance = Literal["attested", "vouched", "unverified", "software"]
ASSURANCES: tuple[Assurance, ...] = ("attested", "vouched", "unverified", "software")
# What signs in as a hardware-bound key (amr hwk, acr phrh); the rest is swk.
HARDWARE_ASSURANCES: frozenset[str] = frozenset({"attested", "vouched"})

# How the project's software key (``tokenstile.virtual``) names its attestation
# certificate: an honest software authenticator says what it is, and is known by it.
SOFTWARE_KEY_ORGANIZATION = "Tokenstile"
SOFTWARE_KEY_ATTESTATION_NAME = "Tokenstile Virtual Key"


@dataclass(frozen=True, slots=True)
class AttestationPolicy:
    """Which keys may be enrolled: ``aaguids`` (empty: any model), trusted ``roots``
    (DER certificates; empty: attestation is not required to chain anywhere), and
    whether a key that says it is software may be enrolled at all."""

    aaguids: frozenset[str] = frozenset()
    roots: tuple[bytes, ...] = ()
    allow_software_keys: bool = False
    uses_metadata: bool = False  # FIDO metadata is loaded: its roots can be chained to

    @property
    def conveyance(self) -> str:
        wanted = self.aaguids or self.roots or self.uses_metadata
        return "direct" if wanted else "none"

    @classmethod
    def load(
        cls,
        aaguids: Iterable[str] = (),
        root_files: Iterable[Path] = (),
        *,
        allow_software_keys: bool = False,
    ) -> AttestationPolicy:
        """From settings: AAGUID strings and PEM files of trusted roots.

        An AAGUID is only the key's claim about its model: an allow-list means something
        only when the attestation that carries it must chain to a root, so an allow-list
        without roots is a configuration error."""
        allowed: set[str] = set()
        for text in aaguids:
            try:
                allowed.add(str(uuid.UUID(text.strip())))
            except ValueError as exc:
                raise ConfigError(f"{text!r} is not an AAGUID (a UUID).") from exc
        roots: list[bytes] = []
        for path in root_files:
            try:
                pem = path.read_bytes()
            except OSError as exc:
                raise ConfigError(
                    f"Cannot read the attestation root {path}: {exc.strerror}."
                ) from exc
            try:
                certs = x509.load_pem_x509_certificates(pem)
            except ValueError as exc:
                raise ConfigError(f"{path} holds no PEM certificate.") from exc
            roots += [c.public_bytes(_DER) for c in certs]
        if allowed and not roots:
            raise ConfigError(AAGUIDS_WITHOUT_ROOTS)
        return cls(frozenset(allowed), tuple(roots), allow_software_keys)


@dataclass(frozen=True, slots=True)
class AttestationCheck:
    """What :func:`check_attestation` found: whether the statement chains to a trusted
    root, and whether its certificate says the key is software."""

    trusted: bool
    software: bool

    @property
    def assurance(self) -> Assurance:
        """What the attestation alone earned (an admin may still vouch)."""
        if self.software:
            return "software"
        return "attested" if self.trusted else "unverified"


@dataclass(frozen=True, slots=True)
class NewCredential:
    """What a verified registration gives the store."""

    credential_id: bytes
    public_key: CredentialPublicKey
    aaguid: str
    sign_count: int
    backup_eligible: bool
    backed_up: bool
    attestation_format: str
    attestation_trusted: bool
    transports: tuple[str, ...] = field(default=())
    software: bool = False  # the key said it is software (its attestation certificate)

    @property
    def assurance(self) -> Assurance:
        """What the registration alone earned (an admin may still vouch)."""
        return AttestationCheck(self.attestation_trusted, self.software).assurance


@dataclass(frozen=True, slots=True)
class Registration:
    """A decoded RegistrationResponseJSON."""

    credential_id: bytes
    client_data_raw: bytes = field(repr=False)
    attestation_object: bytes = field(repr=False)
    transports: tuple[str, ...]
    resident: bool | None  # clientExtensionResults.credProps.rk, when the client said


def parse_registration(value: object) -> Registration:
    raw_id, response = parse_credential_envelope(value)
    where = "credential.response"
    client_data = b64url_decode(
        response.get("clientDataJSON"), f"{where}.clientDataJSON", max_bytes=MAX_CLIENT_DATA_BYTES
    )
    attestation = b64url_decode(
        response.get("attestationObject"),
        f"{where}.attestationObject",
        max_bytes=MAX_ATTESTATION_BYTES,
    )
    transports = response.get("transports", [])
    if not isinstance(transports, list) or not all(isinstance(t, str) for t in transports):
        raise MalformedResponse(f"{where}.transports must be a list of strings.")
    assert isinstance(value, dict)  # noqa: S101 - parse_credential_envelope checked it
    results = value.get("clientExtensionResults") or {}
    props = results.get("credProps")
    resident = props.get("rk") if isinstance(props, dict) else None
    if resident is not None and not isinstance(resident, bool):
        raise MalformedResponse("credProps.rk must be true or false.")
    known = tuple(dict.fromkeys(t for t in transports if t in TRANSPORTS))
    return Registration(raw_id, client_data, attestation, known, resident)


def creation_options(
    rp: RelyingParty,
    *,
    challenge: bytes,
    user_handle: bytes,
    username: str,
    display_name: str,
    exclude: Sequence[bytes] = (),
    policy: AttestationPolicy | None = None,
    timeout: float = CHALLENGE_TTL,
) -> dict[str, Any]:
    """PublicKeyCredentialCreationOptionsJSON (WebAuthn Level 3 section 5.4)."""
    return {
        "rp": {"id": rp.id, "name": rp.name},
        "user": {
            "id": b64url(user_handle),
            "name": username,
            "displayName": display_name or username,
        },
        "challenge": b64url(challenge),
        "pubKeyCredParams": [{"type": "public-key", "alg": alg} for alg in ALGORITHMS],
        "timeout": int(timeout * 1000),
        "excludeCredentials": [{"type": "public-key", "id": b64url(c)} for c in exclude],
        "authenticatorSelection": {
            "residentKey": "required",
            "requireResidentKey": True,
            "userVerification": "required",
        },
        "hints": ["security-key"],
        "attestation": (policy or AttestationPolicy()).conveyance,
        "extensions": {"credProps": True},
    }


def verify_registration(
    rp: RelyingParty,
    registration: Registration,
    *,
    challenge: bytes,
    policy: AttestationPolicy | None = None,
    metadata: MetadataBlobPayload | None = None,
    now: float,
) -> NewCredential:
    """Check a registration; ``CeremonyRejected``/``MalformedResponse`` when refused.

    ``metadata``: the loaded FIDO MDS3 payload; the key's model is refused when its
    status is revoked or compromised, and its attestation roots count as trusted."""
    policy = policy or AttestationPolicy()
    client_data = parse_client_data(registration.client_data_raw)
    statement = cbor_decode_all(registration.attestation_object, "attestationObject")
    if not isinstance(statement, dict):
        raise MalformedResponse("attestationObject is not a CBOR map.")
    fmt, att_stmt, raw_auth = (
        statement.get("fmt"),
        statement.get("attStmt"),
        statement.get("authData"),
    )
    if (
        not isinstance(fmt, str)
        or not isinstance(att_stmt, dict)
        or not isinstance(raw_auth, bytes)
    ):
        raise MalformedResponse("attestationObject lacks fmt, attStmt or authData.")
    auth_data = parse_authenticator_data(raw_auth, assertion=False)

    check_client_data(rp, client_data, kind=TYPE_CREATE, challenge=challenge)
    check_authenticator_data(rp, auth_data, require_uv=True)
    credential_id, public_key, aaguid = _attested_credential(auth_data.attested, auth_data.flags)
    if credential_id != registration.credential_id:
        raise MalformedResponse("rawId is not the credential id in the authenticator data.")
    if registration.resident is False:
        raise CeremonyRejected("not_discoverable")
    aaguid_text = str(uuid.UUID(bytes=aaguid))
    if policy.aaguids and aaguid_text not in policy.aaguids:
        raise CeremonyRejected("aaguid_not_allowed")
    model = model_metadata(metadata, aaguid_text) if metadata is not None else None
    if model is not None and model.refused:
        raise CeremonyRejected(
            "authenticator_status",
            f"The FIDO metadata marks this model ({model.description or aaguid_text}) "
            f"{model.status}: it is not enrolled.",
        )
    checked = check_attestation(
        fmt,
        att_stmt,
        raw_auth,
        client_data.hash,
        policy=policy,
        model_roots=model.roots if model is not None else (),
        now=now,
    )
    trusted, software = checked.trusted, checked.software
    if software and not policy.allow_software_keys:
        raise CeremonyRejected("software_key")
    return NewCredential(
        credential_id=credential_id,
        public_key=public_key,
        aaguid=aaguid_text,
        sign_count=auth_data.sign_count,
        backup_eligible=auth_data.backup_eligible,
        backed_up=auth_data.backed_up,
        attestation_format=fmt,
        attestation_trusted=trusted,
        transports=registration.transports,
        software=software,
    )


def _attested_credential(data: bytes, flags: int) -> tuple[bytes, CredentialPublicKey, bytes]:
    """AAGUID (16), credential id length (2) and id, COSE_Key; extensions may follow."""
    if not flags & FLAG_AT or len(data) < 18:
        raise MalformedResponse("The authenticator data holds no attested credential data.")
    aaguid, length = data[:16], int.from_bytes(data[16:18], "big")
    if not 1 <= length <= MAX_CREDENTIAL_ID_BYTES or len(data) < 18 + length:
        raise MalformedResponse("The attested credential id has a wrong length.")
    credential_id = data[18 : 18 + length]
    cose_key, rest = cbor_decode_first(data[18 + length :], "the credential public key")
    if flags & FLAG_ED:
        if not isinstance(cbor_decode_all(rest, "authenticator extensions"), dict):
            raise MalformedResponse("The authenticator extensions are not a CBOR map.")
    elif rest:
        raise MalformedResponse("The authenticator data has trailing bytes.")
    return credential_id, public_key_from_cose(cose_key), aaguid


def check_attestation(
    fmt: str,
    att_stmt: dict[str, Any],
    raw_auth: bytes,
    client_data_hash: bytes,
    *,
    policy: AttestationPolicy,
    model_roots: tuple[bytes, ...] = (),
    now: float,
) -> AttestationCheck:
    """An attestation statement (``fmt``, ``attStmt``, the raw ``authData`` and the client
    data's SHA-256) judged at ``now``: whether it chains to a trusted root (only checked
    with roots), and whether its certificate says the key is software; else
    ``CeremonyRejected`` (``attestation_refused``) saying why.

    Every statement is verified by python-fido2's class for its format, trusted or not;
    a format it does not know is refused (nothing is enrolled). Certificates must be valid
    at ``now`` to count as trusted."""
    if fmt == "none" and att_stmt:
        raise MalformedResponse("A 'none' attestation carries a statement.")
    try:
        result = Attestation.for_type(fmt)().verify(
            att_stmt, Fido2AuthenticatorData(raw_auth), client_data_hash
        )
    except UnsupportedType as exc:
        raise CeremonyRejected(
            "attestation_refused",
            f"The key's attestation format {fmt[:40]!r} is not one this service knows "
            f"({', '.join(ATTESTATION_FORMATS)}): nothing was enrolled.",
        ) from exc
    except (InvalidAttestation, NotImplementedError, TypeError, ValueError) as exc:
        raise CeremonyRejected(
            "attestation_refused", f"The key's {fmt} attestation does not verify."
        ) from exc
    trust_path = list(result.trust_path)
    software = bool(trust_path) and says_software(trust_path[0])
    roots = (*policy.roots, *model_roots)
    at = datetime.datetime.fromtimestamp(now, datetime.UTC)
    trusted = bool(roots) and _chains(trust_path, roots, at)
    # Configured roots make trust required; the metadata's alone only make it possible.
    if policy.roots and not trusted:
        raise CeremonyRejected("attestation_refused", _untrusted(result, trust_path, at))
    return AttestationCheck(trusted, software)


def _valid_at(der: bytes, at: datetime.datetime) -> bool:
    cert = x509.load_der_x509_certificate(der)
    return cert.not_valid_before_utc <= at <= cert.not_valid_after_utc


def _chains(trust_path: list[bytes], roots: tuple[bytes, ...], at: datetime.datetime) -> bool:
    """Whether the attestation certificates, each valid at ``at``, chain to a root."""
    if not trust_path or not all(_valid_at(der, at) for der in trust_path):
        return False
    for root in roots:
        try:
            verify_x509_chain([*trust_path, root])
        except InvalidAttestation:
            continue
        return True
    return False


def _untrusted(result: AttestationResult, trust_path: list[bytes], at: datetime.datetime) -> str:
    """Why an attestation is not trusted, in a sentence."""
    if result.attestation_type is AttestationType.NONE or (
        trust_path and all(_valid_at(der, at) for der in trust_path)
    ):
        return REJECTIONS["attestation_refused"]
    if not trust_path:
        return "The key attested itself (no certificate)."
    return "The key's attestation certificate is not valid now."


def says_software(certificate: bytes) -> bool:
    """Whether a (verified) attestation certificate is the project's software key's."""
    subject = x509.load_der_x509_certificate(certificate).subject
    names = {
        attr.value
        for oid in (NameOID.COMMON_NAME, NameOID.ORGANIZATION_NAME)
        for attr in subject.get_attributes_for_oid(oid)
    }
    return {SOFTWARE_KEY_ATTESTATION_NAME, SOFTWARE_KEY_ORGANIZATION} <= names
