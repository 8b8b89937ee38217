"""Making virtual PIV cards, certifying their keys, and keeping them in a file."""

from __future__ import annotations

import datetime as dt
import json
import stat
import time
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from tokenstile.factors.piv import CARD_AUTH_OID, UPN_OID, CertificateChecker
from tokenstile.virtual.piv_card import PivCardApplet
from tokenstile.virtual.piv_objects import ObjectTag, Slot, parse_tlv
from tokenstile.virtual.piv_provision import (
    CertificateRequest,
    build_certificate,
    create_piv_card,
    issue_certificate,
)
from tokenstile.virtual.piv_state import MemoryPivStore, VirtualCardFileError

VERIFY_PIN = bytes.fromhex("0020008008") + b"123456\xff\xff"
WRONG_PIN = bytes.fromhex("0020008008") + b"000000\xff\xff"


def _certificate(card: PivCardApplet, slot: Slot = Slot.AUTHENTICATION) -> x509.Certificate:
    tag = {
        Slot.AUTHENTICATION: ObjectTag.CERT_AUTHENTICATION,
        Slot.CARD_AUTHENTICATION: ObjectTag.CERT_CARD_AUTHENTICATION,
    }[slot]
    return x509.load_der_x509_certificate(parse_tlv(card.state.objects[tag])[0x70])


class IssuingCa:
    """A stand-in for the token service's issuing CA."""

    def __init__(self) -> None:
        self.key = ec.generate_private_key(ec.SECP256R1())
        self.name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "Tokenstile Test CA")])
        self.requests: list[CertificateRequest] = []

    def __call__(self, request: CertificateRequest) -> x509.Certificate:
        self.requests.append(request)
        return build_certificate(request, issuer_name=self.name, signing_key=self.key)


def test_self_signed_card_by_default() -> None:
    card = create_piv_card(holder="Alice Example", upn="alice@example.com")
    certificate = _certificate(card)
    assert certificate.subject == certificate.issuer
    assert certificate.subject.get_attributes_for_oid(NameOID.COMMON_NAME)[0].value == (
        "Alice Example"
    )
    san = certificate.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    [upn] = san.get_values_for_type(x509.OtherName)
    assert upn.type_id == UPN_OID
    assert upn.value == b"\x0c\x11alice@example.com"
    key_usage = certificate.extensions.get_extension_for_class(x509.KeyUsage).value
    assert key_usage.digital_signature
    public_key = certificate.public_key()
    assert isinstance(public_key, ec.EllipticCurvePublicKey)
    public_key.verify(
        certificate.signature, certificate.tbs_certificate_bytes, ec.ECDSA(hashes.SHA256())
    )


def test_a_ca_issues_the_certificate() -> None:
    ca = IssuingCa()
    card = create_piv_card(issuer=ca, upn="bob@example.com")
    certificate = _certificate(card)
    assert certificate.issuer == ca.name
    # 9A, then the card authentication key 9E (a virtual card carries both by default).
    request, card_auth = ca.requests
    assert (request.slot, card_auth.slot) == (Slot.AUTHENTICATION, Slot.CARD_AUTHENTICATION)
    assert request.upn == "bob@example.com"
    assert request.public_key == card.state.keys[Slot.AUTHENTICATION].private_key.public_key()
    certificate.verify_directly_issued_by(
        x509.CertificateBuilder()
        .subject_name(ca.name)
        .issuer_name(ca.name)
        .public_key(ca.key.public_key())
        .serial_number(1)
        .not_valid_before(dt.datetime(2020, 1, 1, tzinfo=dt.UTC))
        .not_valid_after(dt.datetime(2040, 1, 1, tzinfo=dt.UTC))
        .sign(ca.key, hashes.SHA256())
    )


def test_the_ca_can_issue_later_and_a_foreign_key_is_refused() -> None:
    card = create_piv_card()
    self_signed = _certificate(card)
    ca = IssuingCa()
    issued = issue_certificate(card, Slot.AUTHENTICATION, ca, holder="Carol")
    assert _certificate(card) == issued != self_signed

    def foreign(request: CertificateRequest) -> x509.Certificate:
        other = CertificateRequest(
            slot=request.slot,
            public_key=ec.generate_private_key(ec.SECP256R1()).public_key(),
            subject=request.subject,
        )
        return ca(other)

    with pytest.raises(ValueError, match="not the card's"):
        issue_certificate(card, Slot.AUTHENTICATION, foreign)
    assert _certificate(card) == issued


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"pin": "12345"}, "6 to 8 digits"),
        ({"pin": "abcdef"}, "6 to 8 digits"),
        ({"puk": "123"}, "PUK"),
        ({"management_key": b"short"}, "24 bytes"),
        ({"pin_retries": 0}, "retry"),
    ],
)
def test_bad_provisioning_options(options: dict[str, object], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        create_piv_card(**options)  # type: ignore[arg-type]


# -- the card file --------------------------------------------------------------------


def test_card_file_is_private_and_survives_a_restart(tmp_path: Path) -> None:
    path = tmp_path / "cards" / "alice.json"
    card = create_piv_card(path)
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert card.handle_apdu(WRONG_PIN)[-2:] == b"\x63\xc2"

    again = PivCardApplet.from_file(path)  # a new process, the same card
    assert again.pin_retries == 2
    assert _certificate(again) == _certificate(card)
    assert again.handle_apdu(VERIFY_PIN)[-2:] == b"\x90\x00"
    assert PivCardApplet.from_file(path).pin_retries == 3
    assert [p.name for p in path.parent.iterdir()] == ["alice.json"]  # no temporary left

    text = path.read_text()
    assert "123456" not in text  # the PIN is hashed
    assert json.loads(text)["format"] == "tokenstile-virtual-piv-card"


def test_an_existing_card_is_not_replaced(tmp_path: Path) -> None:
    path = tmp_path / "card.json"
    create_piv_card(path)
    with pytest.raises(VirtualCardFileError, match="exists"):
        create_piv_card(path)
    create_piv_card(path, overwrite=True)


def test_sealed_card_file(tmp_path: Path) -> None:
    path = tmp_path / "card.json"
    kek = bytes(range(32))
    card = create_piv_card(path, kek=kek)
    document = json.loads(path.read_text())
    assert set(document) == {"format", "version", "sealed"}
    assert _certificate(PivCardApplet.from_file(path, kek=kek)) == _certificate(card)
    with pytest.raises(VirtualCardFileError, match="wrong key-encryption key"):
        PivCardApplet.from_file(path, kek=bytes(32))
    with pytest.raises(VirtualCardFileError, match="sealed"):
        PivCardApplet.from_file(path)


@pytest.mark.parametrize("content", [b"", b"[]", b"{}", b'{"format": "other"}', b"\xff\xfe"])
def test_damaged_card_file(tmp_path: Path, content: bytes) -> None:
    path = tmp_path / "card.json"
    path.write_bytes(content)
    with pytest.raises(VirtualCardFileError):
        PivCardApplet.from_file(path)


def test_missing_card_file(tmp_path: Path) -> None:
    with pytest.raises(VirtualCardFileError, match="create one first"):
        PivCardApplet.from_file(tmp_path / "none.json")


def test_every_counter_change_is_saved_before_the_answer() -> None:
    template = create_piv_card()
    store = MemoryPivStore(template.state)
    state = store.load()
    assert state is not None
    card = PivCardApplet(state, store=store)
    card.handle_apdu(WRONG_PIN)
    assert store.saves == 1
    reloaded = store.load()
    assert reloaded is not None
    assert reloaded.pin_retries == 2
    card.handle_apdu(bytes.fromhex("0020008000"))  # a status query saves nothing
    assert store.saves == 1
    card.handle_apdu(VERIFY_PIN)  # back to 3
    assert store.saves == 2


def test_the_card_authentication_certificate_names_card_auth_and_no_upn() -> None:
    """9E signs without the PIN: its certificate must never pass for a login one."""
    card = create_piv_card(issuer=IssuingCa(), upn="bob@example.com")
    certificate = _certificate(card, Slot.CARD_AUTHENTICATION)
    usage = certificate.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value
    assert list(usage) == [CARD_AUTH_OID]
    with pytest.raises(x509.ExtensionNotFound):
        certificate.extensions.get_extension_for_class(x509.SubjectAlternativeName)
    checker = CertificateChecker()
    now = time.time()
    assert checker.card_auth_refusal(certificate, now) is None
    refused = checker.refusal(certificate, now)
    assert refused is not None
    assert refused.reason == "key_usage"
    # And the 9A certificate is no card authentication certificate.
    assert checker.card_auth_refusal(_certificate(card), now) is not None
