"""The issuing CA: certifies a key generated on a card, for the person it is enrolled for.

Either built in (an ECDSA P-256 CA the service creates the first time it is needed) or
imported (an organisation's CA certificate and its private key). Its private key is
kept sealed under the key-encryption key (AES-GCM, bound to the CA's fingerprint);
only the station that issues — ``tokenstile manage`` or the admin API — opens it.

An issued certificate is a PIV Authentication certificate: the card's public key, the
person's name (CN) and username (UID), ``digitalSignature`` key usage, client
authentication and smart card logon extended key usages, the UPN when one is given,
and key identifiers that chain it to the CA.

The CA publishes revocation: ``IssuingCa.crl`` signs a CRL (RFC 5280) listing the serials
of the certificates it issued whose cards were revoked in Tokenstile. Its CRL number is
the issue time in milliseconds (grows without a counter in the database).
"""

from __future__ import annotations

import datetime as dt
import secrets
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal, Protocol

from cryptography import x509
from cryptography.exceptions import InvalidSignature, UnsupportedAlgorithm
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.x509.oid import NameOID

from tokenstile.factors.piv import (
    IssuingCaError,
    MalformedCertificate,
    PivPublicKey,
    authentication_certificate_builder,
    fingerprint,
    key_algorithm,
    load_certificate,
    load_pem_certificates,
)

CaSource = Literal["builtin", "imported"]
CaPrivateKey = ec.EllipticCurvePrivateKey | rsa.RSAPrivateKey

MAX_PEM_BYTES = 64 * 1024
_BACKDATE = dt.timedelta(minutes=5)  # clocks of kiosks and servers differ a little


class SecretBox(Protocol):
    """Authenticated encryption of secrets at rest (``tokens.keys.KeyEncryptionKey``)."""

    def encrypt(self, plaintext: bytes, *, context: bytes) -> bytes: ...

    def decrypt(self, blob: bytes, *, context: bytes) -> bytes: ...


def _key_context(ca_fingerprint: str) -> bytes:
    return b"tokenstile/piv-ca-key/" + ca_fingerprint.encode("ascii")


def _at(epoch: float) -> dt.datetime:
    return dt.datetime.fromtimestamp(epoch, dt.UTC)


def _hash_for(key: CaPrivateKey) -> hashes.SHA256 | hashes.SHA384:
    if isinstance(key, ec.EllipticCurvePrivateKey) and key.curve.key_size >= 384:
        return hashes.SHA384()
    return hashes.SHA256()


def _is_ca(certificate: x509.Certificate) -> str | None:
    """Why ``certificate`` cannot be a CA, or None."""
    try:
        constraints = certificate.extensions.get_extension_for_class(x509.BasicConstraints)
    except x509.ExtensionNotFound:
        return "it has no basic constraints extension"
    if not constraints.value.ca:
        return "its basic constraints say it is not a CA"
    try:
        usage = certificate.extensions.get_extension_for_class(x509.KeyUsage).value
    except x509.ExtensionNotFound:
        return "it has no key usage extension (keyCertSign is required)"
    if not usage.key_cert_sign:
        return "its key usage does not allow signing certificates"
    return None


def check_ca_certificate(certificate: x509.Certificate, *, now: float) -> None:
    """A certificate that may be a trust anchor or an issuing CA, else IssuingCaError."""
    problem = _is_ca(certificate)
    if problem is not None:
        raise IssuingCaError(f"{certificate.subject.rfc4514_string()} is not a CA: {problem}.")
    if certificate.not_valid_after_utc.timestamp() <= now:
        raise IssuingCaError(
            f"The CA certificate {certificate.subject.rfc4514_string()} has expired."
        )


def load_trust_anchors(pem: bytes, *, now: float) -> list[x509.Certificate]:
    """The CA certificates of a PEM file (one or a bundle), each checked to be a CA."""
    if len(pem) > MAX_PEM_BYTES:
        raise MalformedCertificate(f"A PEM file over {MAX_PEM_BYTES // 1024} KiB is refused.")
    certificates = load_pem_certificates(pem)
    for certificate in certificates:
        check_ca_certificate(certificate, now=now)
    return certificates


@dataclass(frozen=True, slots=True)
class IssuingCa:
    certificate: x509.Certificate
    private_key: CaPrivateKey
    source: CaSource

    @property
    def fingerprint(self) -> str:
        return fingerprint(self.certificate)

    @property
    def subject(self) -> str:
        return self.certificate.subject.rfc4514_string()

    # -- making one ---------------------------------------------------------------------------

    @classmethod
    def generate(cls, name: str, *, now: float, days: int) -> IssuingCa:
        """A new self-signed ECDSA P-256 CA that issues end-entity certificates only."""
        key = ec.generate_private_key(ec.SECP256R1())
        subject = x509.Name(
            [
                x509.NameAttribute(NameOID.COMMON_NAME, name),
                x509.NameAttribute(NameOID.ORGANIZATIONAL_UNIT_NAME, secrets.token_hex(4)),
            ]
        )
        start = _at(now) - _BACKDATE
        certificate = (
            x509.CertificateBuilder()
            .subject_name(subject)
            .issuer_name(subject)
            .public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(start)
            .not_valid_after(start + dt.timedelta(days=days))
            .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
            .add_extension(
                x509.KeyUsage(
                    digital_signature=False,
                    content_commitment=False,
                    key_encipherment=False,
                    data_encipherment=False,
                    key_agreement=False,
                    key_cert_sign=True,
                    crl_sign=True,
                    encipher_only=False,
                    decipher_only=False,
                ),
                critical=True,
            )
            .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), False)
            .sign(key, hashes.SHA256())
        )
        return cls(certificate, key, "builtin")

    @classmethod
    def from_pem(cls, certificate_pem: bytes, key_pem: bytes, *, now: float) -> IssuingCa:
        """An organisation's CA: its certificate and its (unencrypted) private key."""
        if len(certificate_pem) > MAX_PEM_BYTES or len(key_pem) > MAX_PEM_BYTES:
            raise IssuingCaError(f"A PEM file over {MAX_PEM_BYTES // 1024} KiB is refused.")
        certificates = load_pem_certificates(certificate_pem)
        if len(certificates) != 1:
            raise IssuingCaError("The certificate file must hold exactly one certificate.")
        [certificate] = certificates
        check_ca_certificate(certificate, now=now)
        try:
            key = serialization.load_pem_private_key(key_pem, password=None)
        except TypeError as exc:
            raise IssuingCaError(
                "The key file is encrypted: decrypt it first (openssl pkey -in KEY.pem), "
                "and keep the plain copy nowhere but on this station."
            ) from exc
        except (ValueError, UnsupportedAlgorithm) as exc:
            raise IssuingCaError("The key file holds no readable PEM private key.") from exc
        if not _usable_ca_key(key):
            raise IssuingCaError("The CA key must be ECDSA P-256/P-384 or RSA of 2048+ bits.")
        assert isinstance(key, ec.EllipticCurvePrivateKey | rsa.RSAPrivateKey)  # noqa: S101
        if key.public_key() != certificate.public_key():
            raise IssuingCaError("The private key does not belong to the CA certificate.")
        return cls(certificate, key, "imported")

    # -- at rest --------------------------------------------------------------------------------

    def sealed_key(self, box: SecretBox) -> bytes:
        der = self.private_key.private_bytes(
            serialization.Encoding.DER,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
        return box.encrypt(der, context=_key_context(self.fingerprint))

    @classmethod
    def unseal(
        cls, certificate_der: bytes, sealed_key: bytes, box: SecretBox, source: CaSource
    ) -> IssuingCa:
        certificate = load_certificate(certificate_der)
        der = box.decrypt(sealed_key, context=_key_context(fingerprint(certificate)))
        key = serialization.load_der_private_key(der, password=None)
        if not isinstance(key, ec.EllipticCurvePrivateKey | rsa.RSAPrivateKey):
            raise IssuingCaError("The stored CA key is of an unexpected type.")
        return cls(certificate, key, source)

    # -- issuing --------------------------------------------------------------------------------

    def issue(
        self,
        public_key: PivPublicKey,
        *,
        common_name: str,
        username: str,
        upn: str | None,
        now: float,
        days: int,
    ) -> x509.Certificate:
        """A PIV Authentication certificate for a key generated on a card."""
        if key_algorithm(public_key) is None:
            raise IssuingCaError("A card key to certify is ECC P-256 or RSA-2048.")
        ca_expires = self.certificate.not_valid_after_utc
        if ca_expires.timestamp() <= now:
            raise IssuingCaError("The issuing CA has expired: import or create a new one.")
        start = _at(now) - _BACKDATE
        end = min(start + dt.timedelta(days=days), ca_expires)
        subject = x509.Name(
            [
                x509.NameAttribute(NameOID.COMMON_NAME, common_name[:64] or username[:64]),
                x509.NameAttribute(NameOID.USER_ID, username[:256]),
            ]
        )
        try:
            ca_key_id = self.certificate.extensions.get_extension_for_class(
                x509.SubjectKeyIdentifier
            ).value
            authority = x509.AuthorityKeyIdentifier.from_issuer_subject_key_identifier(ca_key_id)
        except x509.ExtensionNotFound:
            authority = x509.AuthorityKeyIdentifier.from_issuer_public_key(
                self.private_key.public_key()
            )
        builder = (
            authentication_certificate_builder(
                subject=subject,
                issuer_name=self.certificate.subject,
                public_key=public_key,
                not_before=start,
                not_after=end,
                upn=upn,
            )
            .add_extension(x509.SubjectKeyIdentifier.from_public_key(public_key), False)
            .add_extension(authority, False)
        )
        return builder.sign(self.private_key, _hash_for(self.private_key))

    # -- revocation -----------------------------------------------------------------------------

    def crl(
        self, revoked: Sequence[tuple[int, float]], *, now: float, hours: int
    ) -> x509.CertificateRevocationList:
        """A CRL of ``revoked`` (serial number, revocation time), valid ``hours``."""
        this_update = _at(now)
        builder = (
            x509.CertificateRevocationListBuilder()
            .issuer_name(self.certificate.subject)
            .last_update(this_update)
            .next_update(this_update + dt.timedelta(hours=hours))
            .add_extension(x509.CRLNumber(int(now * 1000)), critical=False)
            .add_extension(
                x509.AuthorityKeyIdentifier.from_issuer_public_key(self.private_key.public_key()),
                critical=False,
            )
        )
        for serial, revoked_at in sorted(revoked):
            builder = builder.add_revoked_certificate(
                x509.RevokedCertificateBuilder()
                .serial_number(serial)
                .revocation_date(_at(revoked_at))
                .build()
            )
        return builder.sign(self.private_key, _hash_for(self.private_key))

    def issued(self, certificate: x509.Certificate) -> bool:
        """Whether this CA signed ``certificate``."""
        if certificate.issuer != self.certificate.subject:
            return False
        try:
            certificate.verify_directly_issued_by(self.certificate)
        except (ValueError, TypeError, InvalidSignature, UnsupportedAlgorithm):
            return False
        return True


def _usable_ca_key(key: object) -> bool:
    if isinstance(key, ec.EllipticCurvePrivateKey):
        return isinstance(key.curve, ec.SECP256R1 | ec.SECP384R1)
    return isinstance(key, rsa.RSAPrivateKey) and key.key_size >= 2048
