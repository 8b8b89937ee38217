"""The issuing CA: built in or imported, its key sealed under the KEK, what it issues."""

from __future__ import annotations

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from tests.unit.factors.piv_test_pki import DAY, NOW, card_signature, make_ca, new_key
from tokenstile.errors import KeyEncryptionError
from tokenstile.factors.piv import (
    SMARTCARD_LOGON_OID,
    CertificateChecker,
    IssuingCaError,
    MalformedCertificate,
    card_public_key,
    certificate_upn,
    verify_challenge_signature,
)
from tokenstile.factors.piv_ca import IssuingCa, load_trust_anchors
from tokenstile.tokens.keys import KeyEncryptionKey


@pytest.fixture(scope="module")
def builtin() -> IssuingCa:
    return IssuingCa.generate("Tokenstile PIV Issuing CA", now=NOW, days=3650)


def pem_key(
    key: ec.EllipticCurvePrivateKey | rsa.RSAPrivateKey, password: bytes | None = None
) -> bytes:
    encryption: serialization.KeySerializationEncryption = (
        serialization.BestAvailableEncryption(password)
        if password
        else serialization.NoEncryption()
    )
    return key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, encryption
    )


def test_builtin_ca_is_a_ca_that_issues_end_entities_only(builtin: IssuingCa) -> None:
    certificate = builtin.certificate
    constraints = certificate.extensions.get_extension_for_class(x509.BasicConstraints).value
    assert (constraints.ca, constraints.path_length) == (True, 0)
    assert certificate.extensions.get_extension_for_class(x509.KeyUsage).value.key_cert_sign
    assert certificate.not_valid_after_utc.timestamp() == pytest.approx(NOW + 3650 * DAY, abs=600)
    assert builtin.source == "builtin"
    assert "CN=Tokenstile PIV Issuing CA" in builtin.subject  # and a random OU: names differ


@pytest.mark.parametrize("algorithm", ["ECCP256", "RSA2048"])
def test_issued_certificate_is_a_piv_authentication_certificate(
    builtin: IssuingCa, algorithm: str
) -> None:
    card_key = new_key(algorithm)
    certificate = builtin.issue(
        card_key.public_key(),  # type: ignore[arg-type]
        common_name="Alice Example",
        username="alice",
        upn="alice@corp.example",
        now=NOW,
        days=365,
    )
    names = certificate.subject
    assert names.get_attributes_for_oid(NameOID.COMMON_NAME)[0].value == "Alice Example"
    assert names.get_attributes_for_oid(NameOID.USER_ID)[0].value == "alice"
    assert certificate.issuer == builtin.certificate.subject
    usages = certificate.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value
    assert set(usages) == {ExtendedKeyUsageOID.CLIENT_AUTH, SMARTCARD_LOGON_OID}
    assert certificate_upn(certificate) == "alice@corp.example"
    assert certificate.public_key() == card_key.public_key()
    # It chains to the CA once anchors are in force, and the card's key signs for it.
    checker = CertificateChecker([make_ca("Corp Root").certificate], [builtin.certificate])
    checker.check(certificate, NOW)
    challenge = b"c" * 32
    assert verify_challenge_signature(
        card_public_key(certificate), challenge, card_signature(card_key, challenge)
    )


def test_issued_certificate_never_outlives_the_ca() -> None:
    short = IssuingCa.generate("Short CA", now=NOW, days=30)
    certificate = short.issue(
        new_key().public_key(),  # type: ignore[arg-type]
        common_name="A",
        username="a",
        upn=None,
        now=NOW,
        days=1000,
    )
    assert certificate.not_valid_after_utc == short.certificate.not_valid_after_utc
    with pytest.raises(IssuingCaError, match="expired"):
        short.issue(
            new_key().public_key(),  # type: ignore[arg-type]
            common_name="A",
            username="a",
            upn=None,
            now=NOW + 31 * DAY,
            days=1,
        )


def test_only_card_keys_are_certified(builtin: IssuingCa) -> None:
    with pytest.raises(IssuingCaError, match="P-256 or RSA-2048"):
        builtin.issue(
            new_key("ECCP384").public_key(),  # type: ignore[arg-type]
            common_name="A",
            username="a",
            upn=None,
            now=NOW,
            days=1,
        )


def test_the_key_is_sealed_under_the_kek_and_bound_to_the_ca(builtin: IssuingCa) -> None:
    kek, _ = KeyEncryptionKey.generate()
    sealed = builtin.sealed_key(kek)
    der = builtin.certificate.public_bytes(serialization.Encoding.DER)
    opened = IssuingCa.unseal(der, sealed, kek, "builtin")
    assert opened.private_key.private_numbers() == builtin.private_key.private_numbers()  # type: ignore[union-attr]
    other_kek, _ = KeyEncryptionKey.generate()
    with pytest.raises(KeyEncryptionError):
        IssuingCa.unseal(der, sealed, other_kek, "builtin")
    another = IssuingCa.generate("Another", now=NOW, days=10)
    with pytest.raises(KeyEncryptionError):  # a blob moved to another CA's row
        IssuingCa.unseal(
            another.certificate.public_bytes(serialization.Encoding.DER), sealed, kek, "builtin"
        )


def test_import_an_organisations_ca() -> None:
    corp = make_ca("Corp Issuing CA")
    imported = IssuingCa.from_pem(corp.pem(), pem_key(corp.key), now=NOW)
    assert (imported.source, imported.certificate) == ("imported", corp.certificate)


@pytest.mark.parametrize(
    ("case", "message"),
    [
        ("other key", "does not belong"),
        ("not a ca", "not a CA"),
        ("no key usage", "key usage"),
        ("expired", "expired"),
        ("encrypted key", "encrypted"),
        ("garbage key", "no readable PEM private key"),
        ("two certificates", "exactly one"),
        ("weak key", "2048"),
    ],
)
def test_import_refuses_what_cannot_issue(case: str, message: str) -> None:
    corp = make_ca("Corp Issuing CA")
    cert_pem, key_pem = corp.pem(), pem_key(corp.key)
    if case == "other key":
        key_pem = pem_key(make_ca("Other").key)
    elif case == "not a ca":
        leaf = make_ca("Leaf", is_ca=False)
        cert_pem, key_pem = leaf.pem(), pem_key(leaf.key)
    elif case == "no key usage":
        bare = make_ca("Bare", key_usage=False)
        cert_pem, key_pem = bare.pem(), pem_key(bare.key)
    elif case == "expired":
        old = make_ca("Old", not_after=NOW - 1)
        cert_pem, key_pem = old.pem(), pem_key(old.key)
    elif case == "encrypted key":
        key_pem = pem_key(corp.key, b"secret")
    elif case == "garbage key":
        key_pem = b"-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n"
    elif case == "two certificates":
        cert_pem += make_ca("Second").pem()
    elif case == "weak key":
        weak = rsa.generate_private_key(public_exponent=65537, key_size=1024)  # noqa: S505
        key_pem = pem_key(weak)
    with pytest.raises(IssuingCaError, match=message):
        IssuingCa.from_pem(cert_pem, key_pem, now=NOW)


def test_trust_anchor_files_hold_cas_only() -> None:
    root, sub = make_ca("Root"), make_ca("Sub")
    assert len(load_trust_anchors(root.pem() + sub.pem(), now=NOW)) == 2
    with pytest.raises(IssuingCaError, match="not a CA"):
        load_trust_anchors(make_ca("Leaf", is_ca=False).pem(), now=NOW)
    with pytest.raises(MalformedCertificate):
        load_trust_anchors(b"not pem", now=NOW)
    with pytest.raises(MalformedCertificate, match="KiB"):
        load_trust_anchors(b" " * (65 * 1024), now=NOW)
