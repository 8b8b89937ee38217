"""The virtual PIV card's key attestation, as a YubiKey does it (its PIV ATTEST, ``INS F9``).

A maker's attestation root (:class:`AttestationAuthority`; for the virtual card, one the
tests or the demo create) certifies each card's attestation key, which lives in slot F9
and whose certificate the card keeps in the object ``5FFF01``. Asked to attest a slot,
the card answers a certificate for the slot's public key, signed by the F9 key, with
the F9 certificate's subject as issuer. A card without an F9 key does not know the
instruction (``6D00``), like a PIV card of another maker.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.serialization import Encoding
from cryptography.x509.oid import NameOID

from tokenstile.virtual.piv_objects import ATTESTATION_CERTIFICATE, certificate_object
from tokenstile.virtual.piv_state import PivCardState, PivPrivateKey

ATTESTATION_OBJECT = ATTESTATION_CERTIFICATE  # the F9 key's certificate (YubiKey PIV)
ATTESTATION_SLOT = 0xF9
# Yubico's extension arc for attestation details; 3.7 is the card's serial number.
_SERIAL_OID = x509.ObjectIdentifier("1.3.6.1.4.1.41482.3.7")


def _name(common_name: str) -> x509.Name:
    return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)])


@dataclass(frozen=True, kw_only=True)
class AttestationAuthority:
    """An attestation root: the certificate a deployment configures, and its key."""

    certificate: x509.Certificate
    private_key: ec.EllipticCurvePrivateKey

    @classmethod
    def create(cls, name: str = "Tokenstile Virtual PIV Attestation Root") -> AttestationAuthority:
        key = ec.generate_private_key(ec.SECP256R1())
        now = dt.datetime.now(dt.UTC) - dt.timedelta(minutes=5)
        certificate = (
            x509.CertificateBuilder()
            .subject_name(_name(name))
            .issuer_name(_name(name))
            .public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now)
            .not_valid_after(now + dt.timedelta(days=3650))
            .add_extension(x509.BasicConstraints(ca=True, path_length=1), critical=True)
            .sign(key, hashes.SHA256())
        )
        return cls(certificate=certificate, private_key=key)

    def pem(self) -> bytes:
        return self.certificate.public_bytes(Encoding.PEM)


def install_attestation_key(
    state: PivCardState, authority: AttestationAuthority, *, serial: int = 1
) -> x509.Certificate:
    """Give the card an F9 key certified by ``authority`` (what the maker does once)."""
    key = ec.generate_private_key(ec.SECP256R1())
    now = dt.datetime.now(dt.UTC) - dt.timedelta(minutes=5)
    certificate = (
        x509.CertificateBuilder()
        .subject_name(_name("Tokenstile virtual PIV Attestation"))
        .issuer_name(authority.certificate.subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now)
        .not_valid_after(authority.certificate.not_valid_after_utc)
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(
            x509.UnrecognizedExtension(_SERIAL_OID, _der_integer(serial)), critical=False
        )
        .sign(authority.private_key, hashes.SHA256())
    )
    state.attestation_key = key
    state.objects[ATTESTATION_OBJECT] = certificate_object(certificate.public_bytes(Encoding.DER))
    return certificate


def attestation_certificate(
    signing_key: PivPrivateKey, device_certificate: x509.Certificate, slot: int, key: PivPrivateKey
) -> bytes:
    """The DER certificate ATTEST answers for ``slot``, whose key is ``key``."""
    now = dt.datetime.now(dt.UTC) - dt.timedelta(minutes=5)
    return (
        x509.CertificateBuilder()
        .subject_name(_name(f"Tokenstile virtual PIV Attestation {slot:02x}"))
        .issuer_name(device_certificate.subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now)
        .not_valid_after(device_certificate.not_valid_after_utc)
        .sign(signing_key, hashes.SHA256())
        .public_bytes(Encoding.DER)
    )


def _der_integer(value: int) -> bytes:
    body = value.to_bytes(value.bit_length() // 8 + 1, "big")
    return bytes([0x02, len(body)]) + body
