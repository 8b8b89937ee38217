"""Making a virtual PIV card: keys on the card, certificates from whoever issues them.

:func:`create_piv_card` is what an issuing station does to a blank card: set PIN, PUK
and management key, generate a key in each requested slot, have each key certified,
and write the CHUID, CCC, Discovery Object and Printed Information. Certificates come
from a :data:`CertificateIssuer` callback, so the token service's CA can certify the
card's key (with :func:`issue_certificate`, now or later); without one the card
certifies itself.
"""

from __future__ import annotations

import datetime as dt
import os
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.hazmat.primitives.serialization import Encoding
from cryptography.x509.oid import NameOID

from tokenstile.factors.piv import (
    authentication_certificate_builder,
    card_authentication_certificate_builder,
)
from tokenstile.virtual.piv_attestation import AttestationAuthority, install_attestation_key
from tokenstile.virtual.piv_card import DEFAULT_LABEL, PivCardApplet, pad_reference
from tokenstile.virtual.piv_keys import KeyOperationError, check_management_key, generate_key
from tokenstile.virtual.piv_objects import (
    CERTIFICATE_TAGS,
    Algorithm,
    ObjectTag,
    Slot,
    card_capability_container,
    certificate_object,
    chuid,
    discovery_object,
    iter_tlv,
    printed_information,
)
from tokenstile.virtual.piv_state import (
    MemoryPivStore,
    PivCardFile,
    PivCardState,
    PivPrivateKey,
    ReferenceData,
    SlotKey,
    VirtualCardFileError,
)

# The management key every PIV middleware tries first (YubiKey's factory default).
DEFAULT_MANAGEMENT_KEY = bytes.fromhex("010203040506070801020304050607080102030405060708")
DEFAULT_PIN = "123456"
DEFAULT_PUK = "12345678"


PivPublicKey = ec.EllipticCurvePublicKey | rsa.RSAPublicKey


@dataclass(frozen=True, kw_only=True)
class CertificateRequest:
    """What an issuer is asked to certify: a key generated on the card, for a holder."""

    slot: Slot
    public_key: PivPublicKey
    subject: x509.Name
    upn: str | None = None


CertificateIssuer = Callable[[CertificateRequest], x509.Certificate]


def create_piv_card(
    path: Path | str | None = None,
    *,
    holder: str = "Virtual Cardholder",
    upn: str | None = None,
    pin: str = DEFAULT_PIN,
    puk: str = DEFAULT_PUK,
    algorithm: Algorithm = Algorithm.ECCP256,
    slots: Iterable[Slot] = (Slot.AUTHENTICATION, Slot.CARD_AUTHENTICATION),
    management_key: bytes = DEFAULT_MANAGEMENT_KEY,
    management_algorithm: Algorithm = Algorithm.TDES,
    issuer: CertificateIssuer | None = None,
    pin_retries: int = 3,
    puk_retries: int = 3,
    kek: bytes | None = None,
    overwrite: bool = False,
    label: str = DEFAULT_LABEL,
    attestation: AttestationAuthority | None = None,
) -> PivCardApplet:
    """A new card, kept in ``path`` (or only in memory when ``path`` is None).

    Each slot in ``slots`` gets a fresh ``algorithm`` key and a certificate from
    ``issuer`` (self-signed when there is none): by default the PIV authentication key
    (9A, PIN once per session) and the card authentication key (9E, no PIN: the card
    tap of tap-and-go), as issued PIV cards carry both. Refuses to replace an existing file
    unless ``overwrite``. With ``attestation`` the card gets an attestation key (slot
    F9) certified by that root and answers the ATTEST instruction.
    """
    if not pin.isdigit() or not 6 <= len(pin) <= 8:
        raise ValueError("a PIV PIN is 6 to 8 digits")
    if not 6 <= len(puk.encode()) <= 8:
        raise ValueError("a PIV PUK is 6 to 8 characters")
    if not 1 <= pin_retries <= 15 or not 1 <= puk_retries <= 15:
        raise ValueError("retry counters go from 1 to 15")
    try:
        check_management_key(management_algorithm, management_key)
    except KeyOperationError as exc:
        raise ValueError(str(exc)) from exc

    store: PivCardFile | MemoryPivStore
    if path is None:
        store = MemoryPivStore()
    else:
        store = PivCardFile(path, kek=kek)
        if store.exists() and not overwrite:
            raise VirtualCardFileError(f"{path} exists already: not replacing a card")

    expires = dt.datetime.now(dt.UTC).date() + dt.timedelta(days=5 * 365)
    state = PivCardState(
        pin=ReferenceData.of(pad_reference(pin.encode())),
        puk=ReferenceData.of(pad_reference(puk.encode())),
        pin_retries=pin_retries,
        puk_retries=puk_retries,
        pin_max_retries=pin_retries,
        puk_max_retries=puk_retries,
        management_algorithm=management_algorithm,
        management_key=management_key,
    )
    serial = os.urandom(8).hex().upper()
    state.objects[ObjectTag.CHUID] = chuid(os.urandom(16), expires)
    state.objects[ObjectTag.CARD_CAPABILITY_CONTAINER] = card_capability_container()
    state.objects[ObjectTag.DISCOVERY] = _discovery_content()
    state.objects[ObjectTag.PRINTED_INFORMATION] = printed_information(
        holder, "Employee", expires, serial
    )
    if attestation is not None:
        install_attestation_key(state, attestation, serial=int(serial, 16))
    card = PivCardApplet(state, store=store, label=label)
    for slot in slots:
        private_key = generate_key(algorithm)
        state.keys[slot] = SlotKey(algorithm=algorithm, private_key=private_key)
        issue_certificate(card, slot, issuer, holder=holder, upn=upn)
    store.save(state)
    return card


def _discovery_content() -> bytes:
    [(_, content)] = iter_tlv(discovery_object())
    return content


def issue_certificate(
    card: PivCardApplet,
    slot: Slot = Slot.AUTHENTICATION,
    issuer: CertificateIssuer | None = None,
    *,
    holder: str = "Virtual Cardholder",
    upn: str | None = None,
) -> x509.Certificate:
    """Certify the key in ``slot`` and write the certificate to the card.

    The issuer must certify exactly the card's key; a certificate for another key is
    refused (the card would then sign with a key its certificate does not name).
    """
    key = card.state.keys.get(slot)
    if key is None:
        raise ValueError(f"slot {slot:02X} has no key")
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, holder)])
    request = CertificateRequest(
        slot=slot, public_key=key.private_key.public_key(), subject=subject, upn=upn
    )
    certificate = (issuer or _self_signed(key.private_key))(request)
    if certificate.public_key() != request.public_key:
        raise ValueError("the issuer certified a key that is not the card's")
    card.write_object(
        CERTIFICATE_TAGS[slot], certificate_object(certificate.public_bytes(Encoding.DER))
    )
    return certificate


def _self_signed(private_key: PivPrivateKey) -> CertificateIssuer:
    def issue(request: CertificateRequest) -> x509.Certificate:
        return build_certificate(request, issuer_name=request.subject, signing_key=private_key)

    return issue


def build_certificate(
    request: CertificateRequest,
    *,
    issuer_name: x509.Name,
    signing_key: PivPrivateKey,
    valid_for: dt.timedelta = dt.timedelta(days=3 * 365),
    now: dt.datetime | None = None,
) -> x509.Certificate:
    """A PIV authentication certificate for ``request``: client auth and smart card logon;
    for slot 9E the card authentication profile (``id-PIV-cardAuth``, no UPN).

    Issuers (the built-in CA, a test CA) can call this with their own name and key.
    """
    start = (now or dt.datetime.now(dt.UTC)) - dt.timedelta(minutes=5)
    if request.slot == Slot.CARD_AUTHENTICATION:
        return card_authentication_certificate_builder(
            subject=request.subject,
            issuer_name=issuer_name,
            public_key=request.public_key,
            not_before=start,
            not_after=start + valid_for,
        ).sign(signing_key, hashes.SHA256())
    builder = authentication_certificate_builder(
        subject=request.subject,
        issuer_name=issuer_name,
        public_key=request.public_key,
        not_before=start,
        not_after=start + valid_for,
        upn=request.upn,
    )
    return builder.sign(signing_key, hashes.SHA256())


__all__ = [
    "DEFAULT_MANAGEMENT_KEY",
    "DEFAULT_PIN",
    "DEFAULT_PUK",
    "CertificateIssuer",
    "CertificateRequest",
    "build_certificate",
    "create_piv_card",
    "issue_certificate",
]
