"""The virtual PIV card's YubiKey extensions at the APDU level: ATTEST (``F9``), SET
MANAGEMENT KEY (``FF``) and the PIVMAN objects, in raw bytes with no ``tokenstile.devices``."""

from __future__ import annotations

import pytest
from cryptography import x509

from tests.unit.virtual.test_piv_card import (
    TDES_KEY,
    apdu,
    authenticate_management,
    get_data,
    split,
    tlv,
    transceive,
    verify,
)
from tokenstile.virtual.piv_attestation import AttestationAuthority
from tokenstile.virtual.piv_card import PivCardApplet
from tokenstile.virtual.piv_objects import Algorithm, Slot, parse_tlv
from tokenstile.virtual.piv_provision import create_piv_card
from tokenstile.virtual.piv_state import PivCardState

ROOT = AttestationAuthority.create()
AES_KEY = bytes(range(24))


@pytest.fixture
def card() -> PivCardApplet:
    return create_piv_card(attestation=ROOT)


def test_attest_answers_a_certificate_for_the_slot_key_under_the_f9_key(
    card: PivCardApplet,
) -> None:
    der, sw = transceive(card, apdu(0xF9, 0x9A, 0x00))
    assert sw == 0x9000
    attestation = x509.load_der_x509_certificate(der)
    f9_container, sw = get_data(card, 0x5FFF01)
    assert sw == 0x9000
    f9 = x509.load_der_x509_certificate(parse_tlv(parse_tlv(f9_container)[0x53])[0x70])
    attestation.verify_directly_issued_by(f9)
    f9.verify_directly_issued_by(ROOT.certificate)
    assert attestation.public_key() == card.state.keys[Slot.AUTHENTICATION].private_key.public_key()


@pytest.mark.parametrize(
    ("command", "sw"),
    [
        (apdu(0xF9, 0x9C, 0x00), 0x6A88),  # a slot without a key
        (apdu(0xF9, 0x42, 0x00), 0x6A86),  # not a slot
        (apdu(0xF9, 0x9A, 0x01), 0x6A86),
    ],
)
def test_attest_refuses_what_it_cannot_attest(card: PivCardApplet, command: bytes, sw: int) -> None:
    assert transceive(card, command)[1] == sw


def test_a_card_without_an_attestation_key_does_not_know_attest() -> None:
    assert transceive(create_piv_card(), apdu(0xF9, 0x9A, 0x00))[1] == 0x6D00


def test_the_attestation_key_survives_the_state_file(card: PivCardApplet) -> None:
    again = PivCardApplet(PivCardState.from_json(card.state.to_json()))
    der, sw = transceive(again, apdu(0xF9, 0x9A, 0x00))
    assert sw == 0x9000
    assert x509.load_der_x509_certificate(der).issuer.rfc4514_string().startswith("CN=Tokenstile")


def set_key(card: PivCardApplet, data: bytes, p1p2: tuple[int, int] = (0xFF, 0xFF)) -> int:
    return split(card.handle_apdu(apdu(0xFF, *p1p2, data, le=None)))[1]


def test_set_management_key_needs_the_old_one_then_the_new_one_works(
    card: PivCardApplet,
) -> None:
    data = bytes([Algorithm.AES192]) + tlv(0x9B, AES_KEY)
    assert set_key(card, data) == 0x6982
    authenticate_management(card)
    assert set_key(card, data) == 0x9000
    assert card.state.management_algorithm == Algorithm.AES192
    card.power_cycle()
    sw = transceive(card, apdu(0x87, 0x03, 0x9B, tlv(0x7C, tlv(0x80))))[1]
    assert sw == 0x6A86  # 3DES is no longer the algorithm
    authenticate_management(card, AES_KEY, 0x0A)


@pytest.mark.parametrize(
    ("data", "p1p2", "sw"),
    [
        (bytes([Algorithm.AES192]) + tlv(0x9B, AES_KEY), (0x00, 0x00), 0x6A86),
        (bytes([Algorithm.AES192]) + tlv(0x9B, AES_KEY[:16]), (0xFF, 0xFF), 0x6A80),
        (bytes([Algorithm.ECCP256]) + tlv(0x9B, AES_KEY), (0xFF, 0xFF), 0x6A80),
        (bytes([0x42]) + tlv(0x9B, AES_KEY), (0xFF, 0xFF), 0x6A80),
        (bytes([Algorithm.AES192]) + tlv(0x9C, AES_KEY), (0xFF, 0xFF), 0x6A80),
        (b"", (0xFF, 0xFF), 0x6A80),
    ],
    ids=["p1p2", "short-key", "asymmetric", "unknown-algorithm", "wrong-tag", "empty"],
)
def test_malformed_set_management_key_changes_nothing(
    card: PivCardApplet, data: bytes, p1p2: tuple[int, int], sw: int
) -> None:
    authenticate_management(card)
    assert set_key(card, data, p1p2) == sw
    assert (card.state.management_algorithm, card.state.management_key) == (
        Algorithm.TDES,
        TDES_KEY,
    )


def test_pivman_data_is_writable_and_the_protected_key_needs_the_pin(card: PivCardApplet) -> None:
    authenticate_management(card)
    for tag, content in ((0x5FFF00, tlv(0x80, tlv(0x81, b"\x02"))), (0x5FC109, tlv(0x88))):
        put = tlv(0x5C, tag.to_bytes(3, "big")) + tlv(0x53, content)
        assert transceive(card, apdu(0xDB, 0x3F, 0xFF, put, le=None))[1] == 0x9000
    assert get_data(card, 0x5FFF00)[1] == 0x9000
    assert get_data(card, 0x5FC109)[1] == 0x6982
    assert verify(card) == 0x9000
    assert get_data(card, 0x5FC109)[1] == 0x9000
