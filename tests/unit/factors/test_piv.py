"""Card certificates as the token service judges them: parsing, dates, key usage, chains,
UPN mapping, and the card's signature over the challenge."""

from __future__ import annotations

import os

import pytest
from cryptography.hazmat.primitives.serialization import Encoding
from cryptography.x509.oid import ExtendedKeyUsageOID

from tests.unit.factors.piv_test_pki import (
    DAY,
    NOW,
    card_signature,
    make_ca,
    make_card_certificate,
    new_key,
)
from tokenstile.factors.piv import (
    MAX_CERTIFICATE_BYTES,
    SMARTCARD_LOGON_OID,
    CertificateChecker,
    CertificateSummary,
    MalformedCertificate,
    PivError,
    UnsupportedPublicKey,
    card_public_key,
    certificate_upn,
    der_utf8_string,
    fingerprint,
    load_certificate,
    load_pem_certificates,
    normalise_fingerprint,
    verify_challenge_signature,
)

CHALLENGE = os.urandom(32)


def der(certificate: object) -> bytes:
    return certificate.public_bytes(Encoding.DER)  # type: ignore[attr-defined,no-any-return]


# -- parsing ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "data",
    [b"", b"\x00", b"garbage" * 10, b"\x30\x82\xff\xff" + b"\x00" * 40],
    ids=["empty", "one byte", "text", "truncated DER"],
)
def test_bytes_that_are_no_certificate_are_malformed(data: bytes) -> None:
    with pytest.raises(MalformedCertificate):
        load_certificate(data)


def test_an_oversized_blob_is_refused_before_parsing() -> None:
    with pytest.raises(MalformedCertificate, match="1 to"):
        load_certificate(b"\x30" * (MAX_CERTIFICATE_BYTES + 1))


def test_a_certificate_with_trailing_bytes_is_malformed() -> None:
    certificate, _ = make_card_certificate()
    with pytest.raises(MalformedCertificate):
        load_certificate(der(certificate) + b"\x00")


def test_fingerprint_summary_and_normalised_input() -> None:
    certificate, _ = make_card_certificate(upn="alice@corp.example")
    loaded = load_certificate(der(certificate))
    summary = CertificateSummary.of(loaded)
    assert summary.fingerprint == fingerprint(loaded)
    assert len(summary.fingerprint) == 64
    assert summary.serial == format(certificate.serial_number, "x")
    assert (summary.key_algorithm, summary.upn) == ("ECCP256", "alice@corp.example")
    assert summary.not_after == NOW + 365 * DAY
    spaced = ":".join(summary.fingerprint[i : i + 2] for i in range(0, 64, 2)).upper()
    assert normalise_fingerprint(spaced) == summary.fingerprint
    assert normalise_fingerprint(" ABCD ") == "abcd"
    for bad in ("", "xyz", "0" * 65):
        with pytest.raises(PivError):
            normalise_fingerprint(bad)


def test_pem_bundle_and_garbage_pem() -> None:
    root = make_ca("Root")
    sub = make_ca("Sub", parent=root)
    assert len(load_pem_certificates(root.pem() + sub.pem())) == 2
    with pytest.raises(MalformedCertificate):
        load_pem_certificates(b"-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n")


# -- UPN -------------------------------------------------------------------------------------


@pytest.mark.parametrize("upn", ["a@b.example", "x" * 120 + "@corp.example", "ü" * 200 + "@d"])
def test_upn_round_trips_short_and_long_form_lengths(upn: str) -> None:
    certificate, _ = make_card_certificate(upn=upn)
    assert certificate_upn(certificate) == upn


def test_no_san_or_a_upn_that_is_not_a_utf8_string_gives_none() -> None:
    from cryptography import x509

    from tokenstile.factors.piv import UPN_OID

    plain, _ = make_card_certificate()
    assert certificate_upn(plain) is None
    key = new_key()
    for value in (b"\x16\x03abc", b"\x0c\x05ab", b"\x0c\x81\x03abc", b""):
        builder = x509.CertificateBuilder(
            issuer_name=plain.subject,
            subject_name=plain.subject,
            public_key=key.public_key(),
            serial_number=1,
            not_valid_before=plain.not_valid_before_utc,
            not_valid_after=plain.not_valid_after_utc,
        ).add_extension(x509.SubjectAlternativeName([x509.OtherName(UPN_OID, value)]), False)
        from cryptography.hazmat.primitives import hashes

        try:
            odd = builder.sign(key, hashes.SHA256())
        except ValueError:
            continue  # cryptography refuses to encode it at all: fine
        assert certificate_upn(odd) is None, value
    assert der_utf8_string("ab") == b"\x0c\x02ab"


# -- the checker -----------------------------------------------------------------------------


def reason(checker: CertificateChecker, certificate: object, now: float = NOW) -> str | None:
    refusal = checker.refusal(certificate, now)  # type: ignore[arg-type]
    return refusal.reason if refusal is not None else None


def test_a_good_self_signed_card_certificate_passes_without_anchors() -> None:
    checker = CertificateChecker()
    certificate, _ = make_card_certificate()
    assert not checker.checks_chains
    assert reason(checker, certificate) is None
    checker.check(certificate, NOW)


def test_dates_are_checked_to_the_second() -> None:
    checker = CertificateChecker()
    certificate, _ = make_card_certificate(not_before=NOW - 10, not_after=NOW + 10)
    assert reason(checker, certificate, NOW - 11) == "not_yet_valid"
    assert reason(checker, certificate, NOW - 10) is None
    assert reason(checker, certificate, NOW + 10) is None
    assert reason(checker, certificate, NOW + 11) == "expired"
    refusal = checker.refusal(certificate, NOW + 11)
    assert refusal is not None
    assert "expired on 2027-01-15" in refusal.message


@pytest.mark.parametrize(
    ("kwargs", "expected"),
    [
        ({"key_usage": False}, "key_usage"),
        ({"digital_signature": False}, "key_usage"),
        ({"extended": [ExtendedKeyUsageOID.SERVER_AUTH]}, "key_usage"),
        ({"extended": [ExtendedKeyUsageOID.CODE_SIGNING, SMARTCARD_LOGON_OID]}, None),
        ({"extended": [ExtendedKeyUsageOID.ANY_EXTENDED_KEY_USAGE]}, None),
        ({"extended": None}, None),
        ({"is_ca": True}, "key_usage"),
        ({"algorithm": "ECCP384"}, "unsupported_key"),
        ({"algorithm": "RSA3072"}, "unsupported_key"),
        ({"algorithm": "RSA2048"}, None),
    ],
)
def test_key_usage_and_key_type(kwargs: dict[str, object], expected: str | None) -> None:
    certificate, _ = make_card_certificate(**kwargs)  # type: ignore[arg-type]
    assert reason(CertificateChecker(), certificate) == expected


def test_unsupported_key_has_its_own_error() -> None:
    certificate, _ = make_card_certificate(algorithm="ECCP384")
    with pytest.raises(UnsupportedPublicKey):
        card_public_key(certificate)
    assert CertificateSummary.of(certificate).key_algorithm is None


def test_with_an_anchor_only_certificates_that_chain_pass() -> None:
    root = make_ca("Corp Root")
    issuing = make_ca("Corp Issuing", parent=root)
    stranger = make_ca("Stranger Root")
    from_issuing, _ = make_card_certificate(issuing)
    from_root, _ = make_card_certificate(root)
    from_stranger, _ = make_card_certificate(stranger)
    self_signed, _ = make_card_certificate()
    # The anchor may be the root (the kiosk sends no intermediates) ...
    by_root = CertificateChecker([root.certificate])
    assert by_root.checks_chains
    assert reason(by_root, from_root) is None
    assert reason(by_root, from_issuing) == "untrusted"
    assert reason(by_root, from_stranger) == "untrusted"
    assert reason(by_root, self_signed) == "untrusted"
    # ... or the issuing CA itself.
    by_issuing = CertificateChecker([issuing.certificate])
    assert reason(by_issuing, from_issuing) is None
    assert reason(by_issuing, from_root) == "untrusted"


def test_own_issuing_cas_count_only_once_anchors_are_set() -> None:
    ours = make_ca("Tokenstile PIV Issuing CA")
    corp = make_ca("Corp Root")
    from_ours, _ = make_card_certificate(ours)
    self_signed, _ = make_card_certificate()
    pinned_only = CertificateChecker([], [ours.certificate])
    assert not pinned_only.checks_chains
    assert reason(pinned_only, self_signed) is None  # trusted because enrolled
    with_anchor = CertificateChecker([corp.certificate], [ours.certificate])
    assert reason(with_anchor, from_ours) is None
    assert reason(with_anchor, self_signed) == "untrusted"


def test_an_expired_anchor_or_a_ca_without_key_usage_does_not_chain() -> None:
    old = make_ca("Old Root", not_after=NOW - DAY)
    bare = make_ca("Bare Root", key_usage=False)
    for anchor in (old, bare):
        certificate, _ = make_card_certificate(anchor)
        assert reason(CertificateChecker([anchor.certificate]), certificate) == "untrusted"


def test_a_certificate_signed_by_another_key_under_the_same_name_is_untrusted() -> None:
    root = make_ca("Corp Root")
    impostor = make_ca("Corp Root")  # same name, other key
    forged, _ = make_card_certificate(impostor)
    assert reason(CertificateChecker([root.certificate]), forged) == "untrusted"


# -- UPN mapping -----------------------------------------------------------------------------


def test_upn_mapping_is_off_by_default_and_follows_the_domain() -> None:
    certificate, _ = make_card_certificate(upn="alice@corp.example")
    assert CertificateChecker().upn_username(certificate) is None
    assert CertificateChecker(map_upn=True).upn_username(certificate) == "alice@corp.example"
    by_domain = CertificateChecker(map_upn=True, upn_domain="@Corp.Example")
    assert by_domain.upn_username(certificate) == "alice"
    other, _ = make_card_certificate(upn="alice@evil.example")
    assert by_domain.upn_username(other) is None
    bare, _ = make_card_certificate(upn="@corp.example")
    assert by_domain.upn_username(bare) is None
    none, _ = make_card_certificate()
    assert by_domain.upn_username(none) is None


def test_chains_to_anchor_is_false_without_anchors() -> None:
    certificate, _ = make_card_certificate(upn="alice@corp.example")
    assert not CertificateChecker(map_upn=True).chains_to_anchor(certificate, NOW)


# -- the signature ---------------------------------------------------------------------------


@pytest.mark.parametrize("algorithm", ["ECCP256", "RSA2048"])
def test_the_cards_signature_verifies_over_its_challenge_only(algorithm: str) -> None:
    certificate, key = make_card_certificate(algorithm=algorithm)
    public_key = card_public_key(certificate)
    signature = card_signature(key, CHALLENGE)
    assert verify_challenge_signature(public_key, CHALLENGE, signature)
    assert not verify_challenge_signature(public_key, os.urandom(32), signature)
    assert not verify_challenge_signature(public_key, CHALLENGE, signature[:-1])
    assert not verify_challenge_signature(public_key, CHALLENGE, b"")
    assert not verify_challenge_signature(public_key, CHALLENGE, b"\x30" * 600)
    assert not verify_challenge_signature(public_key, CHALLENGE, os.urandom(len(signature)))
    other, other_key = make_card_certificate(algorithm=algorithm, key=new_key("ECCP256"))
    assert not verify_challenge_signature(
        public_key, CHALLENGE, card_signature(other_key, CHALLENGE)
    )
    del other


def test_a_raw_ecdsa_signature_is_not_der_and_is_refused() -> None:
    certificate, key = make_card_certificate()
    from cryptography.hazmat.primitives.asymmetric.utils import decode_dss_signature

    r, s = decode_dss_signature(card_signature(key, CHALLENGE))
    raw = r.to_bytes(32, "big") + s.to_bytes(32, "big")
    assert not verify_challenge_signature(card_public_key(certificate), CHALLENGE, raw)
