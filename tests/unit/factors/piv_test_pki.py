"""A small PKI for the PIV tests: CAs, card certificates and what a card would sign.

Every certificate is built with ``cryptography`` around ``NOW`` (the tests' frozen
clock), so validity windows are exact. RSA keys are slow to make: a few are made once.
"""

from __future__ import annotations

import datetime as dt
import functools
from collections.abc import Sequence
from dataclasses import dataclass

from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID, ObjectIdentifier

from tokenstile.factors.piv import UPN_OID, der_utf8_string

NOW = 1_800_000_000.0
DAY = 86_400.0
PrivateKey = ec.EllipticCurvePrivateKey | rsa.RSAPrivateKey


def at(epoch: float) -> dt.datetime:
    return dt.datetime.fromtimestamp(epoch, dt.UTC)


@functools.cache
def rsa_key(number: int = 0, size: int = 2048) -> rsa.RSAPrivateKey:
    return rsa.generate_private_key(public_exponent=65537, key_size=size)


def new_key(algorithm: str = "ECCP256") -> PrivateKey:
    if algorithm == "ECCP256":
        return ec.generate_private_key(ec.SECP256R1())
    if algorithm == "ECCP384":
        return ec.generate_private_key(ec.SECP384R1())
    if algorithm == "RSA2048":
        return rsa_key(0)
    if algorithm == "RSA3072":
        return rsa_key(0, 3072)
    raise ValueError(algorithm)


def _usage(*, digital_signature: bool = False, cert_sign: bool = False) -> x509.KeyUsage:
    return x509.KeyUsage(
        digital_signature=digital_signature,
        content_commitment=False,
        key_encipherment=False,
        data_encipherment=False,
        key_agreement=False,
        key_cert_sign=cert_sign,
        crl_sign=cert_sign,
        encipher_only=False,
        decipher_only=False,
    )


@dataclass(frozen=True)
class Authority:
    certificate: x509.Certificate
    key: PrivateKey

    @property
    def name(self) -> x509.Name:
        return self.certificate.subject

    def pem(self) -> bytes:
        from cryptography.hazmat.primitives.serialization import Encoding

        return self.certificate.public_bytes(Encoding.PEM)


def make_ca(
    name: str = "Test Root CA",
    *,
    parent: Authority | None = None,
    not_before: float = NOW - 365 * DAY,
    not_after: float = NOW + 3650 * DAY,
    key_usage: bool = True,
    is_ca: bool = True,
) -> Authority:
    key = ec.generate_private_key(ec.SECP256R1())
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)])
    builder = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(parent.name if parent else subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(at(not_before))
        .not_valid_after(at(not_after))
        .add_extension(x509.BasicConstraints(ca=is_ca, path_length=None), critical=True)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), False)
    )
    if key_usage:
        builder = builder.add_extension(_usage(cert_sign=True), critical=True)
    if parent is not None:
        builder = builder.add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(parent.key.public_key()), False
        )
    return Authority(builder.sign(parent.key if parent else key, hashes.SHA256()), key)


def make_card_certificate(
    ca: Authority | None = None,
    *,
    key: PrivateKey | None = None,
    algorithm: str = "ECCP256",
    name: str = "Alice Example",
    not_before: float = NOW - DAY,
    not_after: float = NOW + 365 * DAY,
    key_usage: bool = True,
    digital_signature: bool = True,
    extended: Sequence[ObjectIdentifier] | None = (ExtendedKeyUsageOID.CLIENT_AUTH,),
    upn: str | None = None,
    is_ca: bool = False,
) -> tuple[x509.Certificate, PrivateKey]:
    """A card's 9A certificate (self-signed without ``ca``) and the card's private key."""
    key = key or new_key(algorithm)
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)])
    builder = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(ca.name if ca else subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(at(not_before))
        .not_valid_after(at(not_after))
        .add_extension(x509.BasicConstraints(ca=is_ca, path_length=None), critical=True)
    )
    if key_usage:
        builder = builder.add_extension(
            _usage(digital_signature=digital_signature, cert_sign=is_ca), critical=True
        )
    if extended is not None:
        builder = builder.add_extension(x509.ExtendedKeyUsage(list(extended)), critical=False)
    if upn is not None:
        builder = builder.add_extension(
            x509.SubjectAlternativeName([x509.OtherName(UPN_OID, der_utf8_string(upn))]), False
        )
    if ca is not None:
        builder = builder.add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(ca.key.public_key()), False
        )
    return builder.sign(ca.key if ca else key, hashes.SHA256()), key


def card_signature(key: PrivateKey, challenge: bytes) -> bytes:
    """What the card's GENERAL AUTHENTICATE gives for SHA-256(challenge)."""
    if isinstance(key, ec.EllipticCurvePrivateKey):
        return key.sign(challenge, ec.ECDSA(hashes.SHA256()))
    return key.sign(challenge, padding.PKCS1v15(), hashes.SHA256())


SERVICE_ORIGIN = "https://auth.example"  # the issuer of ``tests.conftest.make_deployment``


def login_signature(key: PrivateKey, challenge: bytes, origin: str = SERVICE_ORIGIN) -> bytes:
    """What the card signs at a login at ``origin``: SHA-256 of the login message the
    client builds around the server's challenge (``protocol.piv_message``)."""
    from tokenstile.protocol.piv_message import login_message

    return card_signature(key, login_message(origin, challenge))
