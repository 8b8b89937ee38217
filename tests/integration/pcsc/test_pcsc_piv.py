"""The kiosk's PIV code through pyscard and real pcscd: the login, and what goes wrong."""

from __future__ import annotations

import pytest
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec

from tests.integration.pcsc.conftest import READERS, VpcdSlot
from tokenstile.devices import (
    CardInUse,
    CardRemoved,
    NoCard,
    NoReader,
    NotPivCard,
    PinBlocked,
    WrongPin,
)
from tokenstile.devices.pcsc import (
    PcscConnection,
    list_readers,
    open_connection,
    open_piv_card,
)
from tokenstile.virtual import Ctap2Authenticator, CtapNfcApplet
from tokenstile.virtual.piv_card import PivCardApplet
from tokenstile.virtual.piv_provision import create_piv_card
from tokenstile.virtual.vpcd import DEFAULT_ATR, VpcdCard

pytestmark = pytest.mark.pcsc

CHALLENGE = b"\x5a" * 32


def test_readers_are_listed(vpcd_slot: VpcdSlot) -> None:
    assert set(READERS) <= set(list_readers())


def test_login_through_pcscd(vpcd_slot: VpcdSlot) -> None:
    vpcd_slot(create_piv_card(holder="Alice Example"))
    card = open_piv_card(READERS[0])
    try:
        assert card.connection.atr == DEFAULT_ATR
        certificate = card.read_certificate()
        with pytest.raises(WrongPin) as wrong:
            card.verify_pin("000000")
        assert wrong.value.retries_left == 2
        card.verify_pin("123456")
        signature = card.sign(CHALLENGE)
    finally:
        card.close()
    public_key = certificate.public_key()
    assert isinstance(public_key, ec.EllipticCurvePublicKey)
    public_key.verify(signature, CHALLENGE, ec.ECDSA(hashes.SHA256()))


def test_closing_resets_the_card_so_the_pin_does_not_linger(vpcd_slot: VpcdSlot) -> None:
    vpcd_slot(create_piv_card())
    first = open_piv_card()
    first.verify_pin("123456")
    assert first.pin_status().verified
    first.close()
    second = open_piv_card()
    try:
        assert not second.pin_status().verified
    finally:
        second.close()


def test_pin_blocked_then_unblocked_with_the_puk(vpcd_slot: VpcdSlot) -> None:
    vpcd_slot(create_piv_card(pin_retries=2))
    card = open_piv_card()
    try:
        with pytest.raises(WrongPin):
            card.verify_pin("000000")
        with pytest.raises(PinBlocked):
            card.verify_pin("000000")
        assert card.pin_status().blocked
        card.unblock_pin("12345678", "654321")
        card.verify_pin("654321")
    finally:
        card.close()


def test_card_pulled_between_pin_and_signature(vpcd_slot: VpcdSlot) -> None:
    inserted = vpcd_slot(create_piv_card())
    card = open_piv_card()
    try:
        card.verify_pin("123456")
        inserted.pull()
        with pytest.raises(CardRemoved) as caught:
            card.sign(CHALLENGE)
        assert caught.value.code == "card_removed"
    finally:
        card.close()


def test_card_pulled_while_it_is_signing(vpcd_slot: VpcdSlot) -> None:
    """The card leaves the reader in the middle of GENERAL AUTHENTICATE."""
    piv = create_piv_card()
    reader: list[VpcdCard] = []

    class PulledWhileSigning:
        def handle_apdu(self, apdu: bytes) -> bytes:
            if apdu[1] == 0x87:
                reader[0].remove(timeout=0)  # gone before the answer leaves
            return piv.handle_apdu(apdu)

        def power_cycle(self) -> None:
            piv.power_cycle()

    reader.append(vpcd_slot(PulledWhileSigning()).vpcd)
    card = open_piv_card()
    try:
        card.verify_pin("123456")
        with pytest.raises(CardRemoved):
            card.sign(CHALLENGE)
    finally:
        card.close()
    with pytest.raises(NoCard):
        open_piv_card(READERS[0])


def test_a_fido_only_card_is_not_a_piv_card(vpcd_slot: VpcdSlot) -> None:
    vpcd_slot(CtapNfcApplet(Ctap2Authenticator()), reader=1)
    with pytest.raises(NotPivCard) as caught:
        open_piv_card(READERS[1])
    assert caught.value.code == "not_piv_card"


def test_first_piv_card_skips_other_cards(vpcd_slot: VpcdSlot) -> None:
    vpcd_slot(CtapNfcApplet(Ctap2Authenticator()), reader=0)
    vpcd_slot(create_piv_card(holder="Second Reader"), reader=1)
    card = open_piv_card()
    try:
        assert card.connection.transmit(bytes.fromhex("00CB3FFF035C017E00"))[-2:] == b"\x90\x00"
    finally:
        card.close()


def test_empty_reader_and_unknown_reader(pcscd: object) -> None:
    with pytest.raises(NoReader, match="no reader named"):
        open_connection("No Such Reader 99")


def test_exclusive_connection_keeps_others_out(vpcd_slot: VpcdSlot) -> None:
    piv: PivCardApplet = create_piv_card()
    vpcd_slot(piv)
    with PcscConnection(READERS[0], exclusive=True):
        with pytest.raises(CardInUse) as caught:
            PcscConnection(READERS[0])
        assert caught.value.code == "card_in_use"
    PcscConnection(READERS[0]).close()
