"""The ISO 7816-4 layer: chaining long commands, collecting long replies, status words."""

from __future__ import annotations

import pytest

from tokenstile.devices import ApduChannel, CardCommandError, DirectConnection
from tokenstile.devices.errors import CardCommunicationError


class ScriptedCard:
    """Answers from a script and records what it was sent."""

    def __init__(self, *responses: bytes) -> None:
        self.responses = list(responses)
        self.received: list[bytes] = []

    def handle_apdu(self, apdu: bytes) -> bytes:
        self.received.append(apdu)
        return self.responses.pop(0)


def test_long_data_is_chained_in_255_byte_links() -> None:
    card = ScriptedCard(b"\x90\x00", b"\x90\x00", b"\xab\x90\x00")
    data = bytes(range(256)) * 2 + b"xyz"  # 515 bytes
    assert ApduChannel(DirectConnection(card)).send(0x00, 0xDB, 0x3F, 0xFF, data) == b"\xab"
    first, second, last = card.received
    assert first[:5] == bytes([0x10, 0xDB, 0x3F, 0xFF, 255])
    assert second[:5] == bytes([0x10, 0xDB, 0x3F, 0xFF, 255])
    assert last[:5] == bytes([0x00, 0xDB, 0x3F, 0xFF, 5])
    assert last[-1] == 0x00  # Le
    assert first[5:] + second[5:] + last[5:-1] == data


def test_a_refused_link_stops_the_chain() -> None:
    card = ScriptedCard(b"\x6a\x80")
    with pytest.raises(CardCommandError) as caught:
        ApduChannel(DirectConnection(card)).send(0x00, 0xDB, 0x3F, 0xFF, bytes(600))
    assert caught.value.sw == 0x6A80
    assert len(card.received) == 1


def test_long_reply_is_collected_with_get_response() -> None:
    card = ScriptedCard(b"a" * 256 + b"\x61\x00", b"b" * 256 + b"\x61\x10", b"c" * 16 + b"\x90\x00")
    reply = ApduChannel(DirectConnection(card)).send(0x00, 0xCB, 0x3F, 0xFF, b"\x5c\x01\x7e")
    assert reply == b"a" * 256 + b"b" * 256 + b"c" * 16
    assert card.received[1] == bytes.fromhex("00C0000000")
    assert card.received[2] == bytes.fromhex("00C0000010")


def test_wrong_le_is_resent_with_the_length_the_card_names() -> None:
    card = ScriptedCard(b"\x6c\x08", b"12345678\x90\x00")
    assert ApduChannel(DirectConnection(card)).send(0x00, 0xCA, 0x00, 0x00) == b"12345678"
    assert card.received == [bytes.fromhex("00CA000000"), bytes.fromhex("00CA000008")]


def test_no_le_for_commands_without_reply_data() -> None:
    card = ScriptedCard(b"\x90\x00")
    ApduChannel(DirectConnection(card)).send(0x00, 0x20, 0x00, 0x80, b"1" * 8, le=None)
    assert card.received == [bytes.fromhex("0020008008") + b"1" * 8]


def test_a_reply_without_status_word() -> None:
    with pytest.raises(CardCommunicationError):
        ApduChannel(DirectConnection(ScriptedCard(b"\x90"))).send(0x00, 0xA4, 0x04, 0x00)


def test_a_card_that_never_stops_sending() -> None:
    class Endless:
        def handle_apdu(self, apdu: bytes) -> bytes:
            return bytes(256) + b"\x61\x00"

    with pytest.raises(CardCommunicationError, match="without end"):
        ApduChannel(DirectConnection(Endless())).send(0x00, 0xCB, 0x3F, 0xFF)


def test_closed_direct_connection() -> None:
    connection = DirectConnection(ScriptedCard())
    connection.close()
    with pytest.raises(CardCommunicationError):
        connection.transmit(b"\x00\xa4\x04\x00")
