"""Attestation of the software key: a per-key attestation certificate and its statements.

Each virtual key gets its own root ("Tokenstile Virtual Key CA") and an attestation
certificate under it that meets WebAuthn Level 2 section 8.2.1 (packed attestation
certificate requirements: version 3, the OU "Authenticator Attestation", CA=false, and
the id-fido-gen-ce-aaguid extension). An RP that wants to trust this key trusts its root.
The attestation certificate names the key for what it is, a software key
(``factors.webauthn_registration.says_software``): a service enrolls it only when its
deployment allows software keys, and never stamps its logins as a hardware key's.
"""

from __future__ import annotations

import datetime
from dataclasses import dataclass
from enum import Enum
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from tokenstile.factors.webauthn_registration import (
    SOFTWARE_KEY_ATTESTATION_NAME,
    SOFTWARE_KEY_ORGANIZATION,
)
from tokenstile.virtual import credential_keys

# id-fido-gen-ce-aaguid (FIDO Metadata / WebAuthn section 8.2.1)
OID_FIDO_AAGUID = x509.ObjectIdentifier("1.3.6.1.4.1.45724.1.1.4")
_VALIDITY = datetime.timedelta(days=20 * 365)


def _name(organization: str, common_name: str, *, unit: str | None = None) -> x509.Name:
    attributes = [
        x509.NameAttribute(NameOID.COUNTRY_NAME, "DE"),
        x509.NameAttribute(NameOID.ORGANIZATION_NAME, organization),
    ]
    if unit is not None:
        attributes.append(x509.NameAttribute(NameOID.ORGANIZATIONAL_UNIT_NAME, unit))
    attributes.append(x509.NameAttribute(NameOID.COMMON_NAME, common_name))
    return x509.Name(attributes)


class AttestationMode(Enum):
    PACKED = "packed"  # packed, signed by the attestation certificate (x5c)
    SELF = "self"  # packed self attestation, signed by the credential key
    NONE = "none"


@dataclass(frozen=True, kw_only=True)
class AttestationIdentity:
    private_key: bytes  # PKCS#8 DER, P-256
    certificate: bytes  # DER
    root_certificate: bytes  # DER

    @classmethod
    def create(
        cls,
        aaguid: bytes,
        now: float,
        *,
        maker: str = SOFTWARE_KEY_ORGANIZATION,
        root_name: str = "Tokenstile Virtual Key CA",
        key_name: str = SOFTWARE_KEY_ATTESTATION_NAME,
    ) -> AttestationIdentity:
        """A new root and an attestation certificate under it, valid from a day before
        ``now``. The defaults name the software key for what it is; the tests name a
        (test) hardware maker instead (``maker``, the root's and the key's common names)."""
        start = datetime.datetime.fromtimestamp(now, datetime.UTC) - datetime.timedelta(days=1)
        root_key = ec.generate_private_key(ec.SECP256R1())
        root_subject = _name(maker, root_name)
        root = (
            x509.CertificateBuilder()
            .subject_name(root_subject)
            .issuer_name(root_subject)
            .public_key(root_key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(start)
            .not_valid_after(start + _VALIDITY)
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
            .sign(root_key, hashes.SHA256())
        )
        leaf_key = ec.generate_private_key(ec.SECP256R1())
        leaf = (
            x509.CertificateBuilder()
            .subject_name(_name(maker, key_name, unit="Authenticator Attestation"))
            .issuer_name(root_subject)
            .public_key(leaf_key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(start)
            .not_valid_after(start + _VALIDITY)
            .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
            # The extension value is an OCTET STRING holding the 16-byte AAGUID.
            .add_extension(
                x509.UnrecognizedExtension(OID_FIDO_AAGUID, b"\x04\x10" + aaguid),
                critical=False,
            )
            .sign(root_key, hashes.SHA256())
        )
        der = serialization.Encoding.DER
        return cls(
            private_key=leaf_key.private_bytes(
                der, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
            ),
            certificate=leaf.public_bytes(der),
            root_certificate=root.public_bytes(der),
        )

    @property
    def signing_key(self) -> ec.EllipticCurvePrivateKey:
        """The attestation certificate's private key."""
        key = serialization.load_der_private_key(self.private_key, password=None)
        assert isinstance(key, ec.EllipticCurvePrivateKey)  # noqa: S101 - create makes P-256
        return key

    @property
    def root_certificate_pem(self) -> str:
        cert = x509.load_der_x509_certificate(self.root_certificate)
        return cert.public_bytes(serialization.Encoding.PEM).decode("ascii")


def attestation_statement(
    mode: AttestationMode,
    identity: AttestationIdentity,
    *,
    alg: int,
    credential_private_key: bytes,
    auth_data: bytes,
    client_data_hash: bytes,
) -> tuple[str, dict[str, Any]]:
    """The ``fmt`` and ``attStmt`` of a new credential (WebAuthn section 8.2 and 8.7)."""
    signed = auth_data + client_data_hash
    if mode is AttestationMode.NONE:
        return "none", {}
    if mode is AttestationMode.SELF:
        sig = credential_keys.sign(alg, credential_private_key, signed)
        return "packed", {"alg": alg, "sig": sig}
    sig = credential_keys.sign(credential_keys.ES256, identity.private_key, signed)
    return "packed", {"alg": credential_keys.ES256, "sig": sig, "x5c": [identity.certificate]}
