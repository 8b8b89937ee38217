"""PIV card certificates as the token service judges them, and the card's signature.

A card is known by the SHA-256 fingerprint of its 9A (PIV Authentication) certificate.
:class:`CertificateChecker` decides whether a certificate may sign someone in, at
enrollment and at every login:

- the key is ECC P-256 or RSA-2048 (what a PIV card signs a challenge with);
- ``now`` lies between ``notBefore`` and ``notAfter``;
- the key usage extension is present with ``digitalSignature``; an extended key usage,
  when present, allows client authentication (TLS client, Microsoft smart card logon,
  PKINIT client, or any);
- when trust anchors are configured, the certificate chains to one of them, or to one
  of the service's own issuing CAs (RFC 5280 path validation by
  ``cryptography.x509.verification``, at ``now``). Without configured anchors a
  certificate is trusted because an admin enrolled it: pinned by its fingerprint.

With UPN mapping on, a certificate nobody enrolled still maps to a person through its
User Principal Name (``otherName`` 1.3.6.1.4.1.311.20.2.3 in the subject alternative
name) — only when it chains to a configured trust anchor, never on its own word.

The card signs SHA-256 of the server's challenge (:func:`verify_challenge_signature`):
ECDSA P-256 with a DER signature, or RSA-2048 PKCS#1 v1.5 over the SHA-256 DigestInfo —
what :meth:`tokenstile.devices.piv.PivCard.sign` produces.

The errors of this factor::

    TokenstileError
    └── PivError                       piv_error
        ├── MalformedCertificate       piv_malformed_certificate
        ├── CertificateRefused(reason) piv_certificate_refused
        ├── UnsupportedPublicKey       piv_unsupported_key
        └── IssuingCaError             piv_ca_error
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

from cryptography import x509
from cryptography.exceptions import InvalidSignature, UnsupportedAlgorithm
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa
from cryptography.x509 import verification
from cryptography.x509.oid import ExtendedKeyUsageOID, ObjectIdentifier

from tokenstile.errors import TokenstileError

KeyAlgorithmName = Literal["ECCP256", "RSA2048"]
PivPublicKey = ec.EllipticCurvePublicKey | rsa.RSAPublicKey

# Why a certificate cannot sign anyone in (audit log and admin messages only).
RefusalReason = Literal[
    "unsupported_key",
    "not_yet_valid",
    "expired",
    "key_usage",
    "untrusted",
    "malformed",
]

MAX_CERTIFICATE_BYTES = 16 * 1024
MAX_SIGNATURE_BYTES = 512
FINGERPRINT_HEX = 64

UPN_OID = ObjectIdentifier("1.3.6.1.4.1.311.20.2.3")  # Microsoft User Principal Name
SMARTCARD_LOGON_OID = ObjectIdentifier("1.3.6.1.4.1.311.20.2.2")
PKINIT_CLIENT_OID = ObjectIdentifier("1.3.6.1.5.2.3.4")
# id-PIV-cardAuth (FIPS 201-3, SP 800-73-4): the card authentication key (slot 9E), which
# signs without the PIN. A certificate with it never signs anyone in with the PIN's
# assurance; it serves only the card tap of tap-and-go (``factors.piv_tap``).
CARD_AUTH_OID = ObjectIdentifier("2.16.840.1.101.3.6.8")
CLIENT_AUTH_USAGES = frozenset(
    {
        ExtendedKeyUsageOID.CLIENT_AUTH,
        ExtendedKeyUsageOID.ANY_EXTENDED_KEY_USAGE,
        SMARTCARD_LOGON_OID,
        PKINIT_CLIENT_OID,
    }
)

_HEX = re.compile(r"[0-9a-f]+")
_FINGERPRINT_NOISE = str.maketrans("", "", ": \t")


class PivError(TokenstileError):
    code = "piv_error"


class MalformedCertificate(PivError):
    """Bytes that are not one DER X.509 certificate (or one we cannot read)."""

    code = "piv_malformed_certificate"


class CertificateRefused(PivError):
    """A well-formed certificate that may not be used; ``reason`` says why."""

    code = "piv_certificate_refused"

    def __init__(self, reason: RefusalReason, message: str) -> None:
        super().__init__(message)
        self.reason: RefusalReason = reason


class UnsupportedPublicKey(PivError):
    code = "piv_unsupported_key"


class IssuingCaError(PivError):
    code = "piv_ca_error"


# -- certificates ---------------------------------------------------------------------------


def load_certificate(der: bytes) -> x509.Certificate:
    """One DER certificate, or :class:`MalformedCertificate`."""
    if not der or len(der) > MAX_CERTIFICATE_BYTES:
        raise MalformedCertificate(f"A certificate is 1 to {MAX_CERTIFICATE_BYTES} bytes of DER.")
    try:
        certificate = x509.load_der_x509_certificate(der)
        # Parse what later checks read, so a bad extension fails here and only here.
        _ = certificate.extensions, certificate.not_valid_after_utc, certificate.serial_number
    except ValueError as exc:
        raise MalformedCertificate("The certificate is not DER-encoded X.509.") from exc
    return certificate


def load_pem_certificates(pem: bytes, *, limit: int = 64) -> list[x509.Certificate]:
    """Every certificate of a PEM file (a bundle), or :class:`MalformedCertificate`."""
    try:
        certificates = x509.load_pem_x509_certificates(pem)
        for certificate in certificates:
            _ = certificate.extensions, certificate.not_valid_after_utc
    except ValueError as exc:
        raise MalformedCertificate("The file holds no readable PEM certificate.") from exc
    if len(certificates) > limit:
        raise MalformedCertificate(f"A file of more than {limit} certificates is refused.")
    return certificates


def fingerprint(certificate: x509.Certificate) -> str:
    """SHA-256 of the DER certificate, lowercase hex: the card's identity."""
    return certificate.fingerprint(hashes.SHA256()).hex()


def normalise_fingerprint(text: str) -> str:
    """A fingerprint (or the start of one) as typed: colons, spaces and case ignored."""
    cleaned = text.translate(_FINGERPRINT_NOISE).lower()
    if not cleaned or len(cleaned) > FINGERPRINT_HEX or not _HEX.fullmatch(cleaned):
        raise PivError(f"{text!r} is not a SHA-256 fingerprint (64 hex digits).")
    return cleaned


def serial_hex(certificate: x509.Certificate) -> str:
    return format(certificate.serial_number, "x")


def key_algorithm(public_key: object) -> KeyAlgorithmName | None:
    """The PIV algorithm of a public key a login can use, or None."""
    if isinstance(public_key, ec.EllipticCurvePublicKey) and isinstance(
        public_key.curve, ec.SECP256R1
    ):
        return "ECCP256"
    if isinstance(public_key, rsa.RSAPublicKey) and public_key.key_size == 2048:
        return "RSA2048"
    return None


def card_public_key(certificate: x509.Certificate) -> PivPublicKey:
    """The certificate's key when a login can use it, else :class:`UnsupportedPublicKey`."""
    try:
        public_key = certificate.public_key()
    except (ValueError, UnsupportedAlgorithm) as exc:
        raise UnsupportedPublicKey("The certificate's public key cannot be read.") from exc
    if key_algorithm(public_key) is None:
        raise UnsupportedPublicKey("The certificate's key is neither ECC P-256 nor RSA-2048.")
    assert isinstance(public_key, ec.EllipticCurvePublicKey | rsa.RSAPublicKey)  # noqa: S101
    return public_key


def _der_length(data: bytes, at: int) -> tuple[int, int]:
    """(length, offset of the content) of the DER length octets at ``at``."""
    first = data[at]
    if first < 0x80:
        return first, at + 1
    count = first & 0x7F
    if not 1 <= count <= 2 or at + 1 + count > len(data):
        raise ValueError("unsupported DER length")
    length = int.from_bytes(data[at + 1 : at + 1 + count], "big")
    if length < 0x80 or (count == 2 and length < 0x100):
        raise ValueError("non-minimal DER length")
    return length, at + 1 + count


def der_utf8_string(text: str) -> bytes:
    """``text`` as a DER UTF8String (the value of a UPN ``otherName``)."""
    encoded = text.encode("utf-8")
    if len(encoded) > 0xFFFF:
        raise ValueError("string too long")
    if len(encoded) < 0x80:
        header = bytes([len(encoded)])
    elif len(encoded) < 0x100:
        header = bytes([0x81, len(encoded)])
    else:
        header = b"\x82" + len(encoded).to_bytes(2, "big")
    return b"\x0c" + header + encoded


def authentication_certificate_builder(
    *,
    subject: x509.Name,
    issuer_name: x509.Name,
    public_key: PivPublicKey,
    not_before: dt.datetime,
    not_after: dt.datetime,
    upn: str | None = None,
) -> x509.CertificateBuilder:
    """The PIV authentication (slot 9A) certificate profile, unsigned.

    An end entity for digital signatures, client authentication and smart-card logon,
    with the UPN as an ``otherName`` when given. Every issuer (the built-in CA, the
    virtual card's test issuer) starts here and adds only what is its own.
    """
    builder = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(issuer_name)
        .public_key(public_key)
        .serial_number(x509.random_serial_number())
        .not_valid_before(not_before)
        .not_valid_after(not_after)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=True,
                content_commitment=False,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=False,
                key_cert_sign=False,
                crl_sign=False,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        .add_extension(
            x509.ExtendedKeyUsage([ExtendedKeyUsageOID.CLIENT_AUTH, SMARTCARD_LOGON_OID]),
            critical=False,
        )
    )
    if upn:
        builder = builder.add_extension(
            x509.SubjectAlternativeName([x509.OtherName(UPN_OID, der_utf8_string(upn))]),
            critical=False,
        )
    return builder


def card_authentication_certificate_builder(
    *,
    subject: x509.Name,
    issuer_name: x509.Name,
    public_key: PivPublicKey,
    not_before: dt.datetime,
    not_after: dt.datetime,
) -> x509.CertificateBuilder:
    """The card authentication (slot 9E) certificate profile, unsigned: digital signatures
    for ``id-PIV-cardAuth`` only, no UPN (it must never pass for a login certificate)."""
    return (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(issuer_name)
        .public_key(public_key)
        .serial_number(x509.random_serial_number())
        .not_valid_before(not_before)
        .not_valid_after(not_after)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=True,
                content_commitment=False,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=False,
                key_cert_sign=False,
                crl_sign=False,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        .add_extension(x509.ExtendedKeyUsage([CARD_AUTH_OID]), critical=False)
    )


def certificate_upn(certificate: x509.Certificate) -> str | None:
    """The User Principal Name in the subject alternative name, if there is exactly one."""
    try:
        names = certificate.extensions.get_extension_for_class(x509.SubjectAlternativeName)
    except x509.ExtensionNotFound:
        return None
    found: list[str] = []
    for other in names.value.get_values_for_type(x509.OtherName):
        if other.type_id != UPN_OID:
            continue
        value = other.value
        try:
            if len(value) < 2 or value[0] != 0x0C:  # UTF8String
                return None
            length, start = _der_length(value, 1)
            if start + length != len(value):
                return None
            found.append(value[start:].decode("utf-8"))
        except (ValueError, UnicodeDecodeError):
            return None
    if len(found) != 1 or not found[0] or "\x00" in found[0]:
        return None
    return found[0]


@dataclass(frozen=True, slots=True, kw_only=True)
class CertificateSummary:
    """What the store and the audit log keep of a card certificate."""

    fingerprint: str
    serial: str
    subject: str
    issuer: str
    not_before: float
    not_after: float
    key_algorithm: KeyAlgorithmName | None  # None: a key a login cannot use
    upn: str | None

    @classmethod
    def of(cls, certificate: x509.Certificate) -> CertificateSummary:
        try:
            algorithm = key_algorithm(certificate.public_key())
        except (ValueError, UnsupportedAlgorithm):
            algorithm = None
        return cls(
            fingerprint=fingerprint(certificate),
            serial=serial_hex(certificate),
            subject=_name_text(certificate.subject),
            issuer=_name_text(certificate.issuer),
            not_before=certificate.not_valid_before_utc.timestamp(),
            not_after=certificate.not_valid_after_utc.timestamp(),
            key_algorithm=algorithm,
            upn=certificate_upn(certificate),
        )


def _name_text(name: x509.Name) -> str:
    try:
        return name.rfc4514_string()[:512]
    except ValueError:
        return "?"


def _when(epoch: float) -> str:
    return dt.datetime.fromtimestamp(epoch, dt.UTC).isoformat(timespec="seconds")


# -- the checks -----------------------------------------------------------------------------


def _ca_policy() -> verification.ExtensionPolicy:
    return verification.ExtensionPolicy.webpki_defaults_ca()


class CertificateChecker:
    """Judges card certificates against the anchors known at one moment (pure, reusable).

    ``anchors`` are the configured trust anchors (``trust add``, ``piv_trust_anchors``);
    ``issuers`` the certificates of this service's issuing CAs. Chains are checked only
    when there is at least one anchor; the issuers then count as anchors too.
    """

    def __init__(
        self,
        anchors: Sequence[x509.Certificate] = (),
        issuers: Sequence[x509.Certificate] = (),
        *,
        map_upn: bool = False,
        upn_domain: str | None = None,
    ) -> None:
        self.anchors = tuple(anchors)
        self.issuers = tuple(issuers)
        self.map_upn = map_upn
        self.upn_domain = upn_domain.lower().lstrip("@") if upn_domain else None
        trusted = {fingerprint(c): c for c in (*self.anchors, *self.issuers)}
        self._store = verification.Store(list(trusted.values())) if self.anchors else None

    @property
    def checks_chains(self) -> bool:
        return self._store is not None

    def refusal(self, certificate: x509.Certificate, now: float) -> CertificateRefused | None:
        """Why ``certificate`` may not sign anyone in at ``now``, or None."""
        try:
            card_public_key(certificate)
        except UnsupportedPublicKey as exc:
            return CertificateRefused("unsupported_key", exc.message)
        not_before = certificate.not_valid_before_utc.timestamp()
        not_after = certificate.not_valid_after_utc.timestamp()
        if now < not_before:
            return CertificateRefused(
                "not_yet_valid", f"The certificate is valid only from {_when(not_before)}."
            )
        if now > not_after:
            return CertificateRefused("expired", f"The certificate expired on {_when(not_after)}.")
        usage = _usage_problem(certificate)
        if usage is not None:
            return CertificateRefused("key_usage", usage)
        if self._store is not None and not self._chains(certificate, now):
            return CertificateRefused(
                "untrusted", "The certificate does not chain to a configured trust anchor."
            )
        return None

    def card_auth_refusal(
        self, certificate: x509.Certificate, now: float
    ) -> CertificateRefused | None:
        """Why ``certificate`` cannot be a card authentication (9E) certificate for a card
        tap at ``now``, or None: the same key, validity and chain checks as a login
        certificate, but its extended key usage must name ``id-PIV-cardAuth``."""
        try:
            card_public_key(certificate)
        except UnsupportedPublicKey as exc:
            return CertificateRefused("unsupported_key", exc.message)
        not_before = certificate.not_valid_before_utc.timestamp()
        not_after = certificate.not_valid_after_utc.timestamp()
        if now < not_before:
            return CertificateRefused(
                "not_yet_valid", f"The certificate is valid only from {_when(not_before)}."
            )
        if now > not_after:
            return CertificateRefused("expired", f"The certificate expired on {_when(not_after)}.")
        if not is_card_authentication(certificate):
            return CertificateRefused(
                "key_usage",
                "The certificate is not a card authentication (slot 9E) certificate: its "
                "extended key usage does not name id-PIV-cardAuth.",
            )
        if self._store is not None and not self._chains(certificate, now):
            return CertificateRefused(
                "untrusted", "The certificate does not chain to a configured trust anchor."
            )
        return None

    def check(self, certificate: x509.Certificate, now: float) -> None:
        refusal = self.refusal(certificate, now)
        if refusal is not None:
            raise refusal

    def chains_to_anchor(self, certificate: x509.Certificate, now: float) -> bool:
        """True when chain checks are on and ``certificate`` chains (what UPN mapping needs)."""
        return self._store is not None and self._chains(certificate, now)

    def _chains(self, certificate: x509.Certificate, now: float) -> bool:
        assert self._store is not None  # noqa: S101
        builder = (
            verification.PolicyBuilder()
            .store(self._store)
            .time(dt.datetime.fromtimestamp(now, dt.UTC))
            .max_chain_depth(4)
            # The end-entity profile is ours (above): PIV certificates carry neither the
            # AKI nor the SAN a Web PKI client certificate must have.
            .extension_policies(
                ca_policy=_ca_policy(), ee_policy=verification.ExtensionPolicy.permit_all()
            )
        )
        try:
            builder.build_client_verifier().verify(certificate, [])
        except verification.VerificationError:
            return False
        return True

    def upn_username(self, certificate: x509.Certificate) -> str | None:
        """The username a certificate's UPN maps to, when UPN mapping is on."""
        if not self.map_upn:
            return None
        upn = certificate_upn(certificate)
        if upn is None:
            return None
        if self.upn_domain is None:
            return upn
        local, at, domain = upn.rpartition("@")
        if not at or not local or domain.lower() != self.upn_domain:
            return None
        return local


def is_card_authentication(certificate: x509.Certificate) -> bool:
    """The certificate names ``id-PIV-cardAuth`` (slot 9E), with digital signatures."""
    extensions = certificate.extensions
    try:
        usage = extensions.get_extension_for_class(x509.KeyUsage).value
        extended = extensions.get_extension_for_class(x509.ExtendedKeyUsage).value
    except x509.ExtensionNotFound:
        return False
    return usage.digital_signature and CARD_AUTH_OID in extended


def _usage_problem(certificate: x509.Certificate) -> str | None:
    extensions = certificate.extensions
    try:
        usage = extensions.get_extension_for_class(x509.KeyUsage).value
    except x509.ExtensionNotFound:
        return "The certificate has no key usage extension (digitalSignature is required)."
    if not usage.digital_signature:
        return "The certificate's key usage does not allow digital signatures."
    try:
        if extensions.get_extension_for_class(x509.BasicConstraints).value.ca:
            return "A CA certificate cannot be a card's login certificate."
    except x509.ExtensionNotFound:
        pass
    try:
        extended = extensions.get_extension_for_class(x509.ExtendedKeyUsage).value
    except x509.ExtensionNotFound:
        return None
    if CARD_AUTH_OID in extended:
        return (
            "This is a card authentication (slot 9E) certificate: its key signs without "
            "the PIN, so it cannot sign anyone in with the PIN's assurance."
        )
    if not CLIENT_AUTH_USAGES.intersection(extended):
        return "The certificate's extended key usage does not allow client authentication."
    return None


# -- the card's signature --------------------------------------------------------------------


def verify_challenge_signature(
    public_key: PivPublicKey, challenge: bytes, signature: bytes
) -> bool:
    """The card's GENERAL AUTHENTICATE answer over SHA-256(``challenge``)."""
    if not signature or len(signature) > MAX_SIGNATURE_BYTES:
        return False
    try:
        if isinstance(public_key, ec.EllipticCurvePublicKey):
            public_key.verify(signature, challenge, ec.ECDSA(hashes.SHA256()))
        else:
            if len(signature) != public_key.key_size // 8:
                return False
            public_key.verify(signature, challenge, padding.PKCS1v15(), hashes.SHA256())
    except (InvalidSignature, ValueError):
        return False
    return True
