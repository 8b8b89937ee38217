"""The vpcd transport against a stand-in vpcd (a loopback TCP server speaking its protocol),
and the multi-applet card. The real pcscd + vpcd path is in tests/integration/pcsc.
"""

from __future__ import annotations

import socket
import struct
from collections.abc import Iterator

import pytest

from tokenstile.virtual import FIDO_AID, Ctap2Authenticator, CtapNfcApplet
from tokenstile.virtual.piv_objects import PIV_AID
from tokenstile.virtual.piv_provision import create_piv_card
from tokenstile.virtual.vpcd import DEFAULT_ATR, MultiAppletCard, VpcdCard, VpcdError


class EchoCard:
    """Answers every APDU with its bytes reversed + 9000, and counts power cycles."""

    def __init__(self) -> None:
        self.power_cycles = 0

    def handle_apdu(self, apdu: bytes) -> bytes:
        return apdu[::-1] + b"\x90\x00"

    def power_cycle(self) -> None:
        self.power_cycles += 1


class FakeVpcd:
    """What the vpcd driver in pcscd does on its side of the socket."""

    def __init__(self) -> None:
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.listener.settimeout(5)
        self.port = self.listener.getsockname()[1]
        self.connection: socket.socket | None = None

    def accept(self) -> None:
        if self.connection is not None:
            self.connection.close()
        self.connection, _ = self.listener.accept()
        self.connection.settimeout(5)

    def send(self, payload: bytes) -> None:
        assert self.connection is not None
        self.connection.sendall(struct.pack(">H", len(payload)) + payload)

    def receive(self) -> bytes:
        assert self.connection is not None
        header = self._exactly(2)
        return self._exactly(struct.unpack(">H", header)[0])

    def _exactly(self, count: int) -> bytes:
        assert self.connection is not None
        data = b""
        while len(data) < count:
            chunk = self.connection.recv(count - len(data))
            if not chunk:
                raise ConnectionError("card went away")
            data += chunk
        return data

    def exchange(self, apdu: bytes) -> bytes:
        self.send(apdu)
        return self.receive()

    def card_gone(self) -> bool:
        assert self.connection is not None
        try:
            return self.connection.recv(1) == b""
        except ConnectionResetError:
            return True

    def drop(self) -> None:
        assert self.connection is not None
        self.connection.close()
        self.connection = None

    def close(self) -> None:
        if self.connection is not None:
            self.connection.close()
        self.listener.close()


@pytest.fixture
def vpcd() -> Iterator[FakeVpcd]:
    server = FakeVpcd()
    yield server
    server.close()


def test_atr_power_and_apdus(vpcd: FakeVpcd) -> None:
    card = EchoCard()
    with VpcdCard(card, port=vpcd.port) as reader:
        reader.insert()
        vpcd.accept()
        assert reader.inserted
        assert vpcd.exchange(b"\x04") == DEFAULT_ATR
        vpcd.send(b"\x01")  # power on: no answer
        assert vpcd.exchange(b"\x00\xa4\x04\x00") == b"\x00\x04\xa4\x00\x90\x00"
        before = card.power_cycles
        vpcd.send(b"\x02")  # reset
        vpcd.send(b"\x00")  # power off
        assert vpcd.exchange(b"\x04") == DEFAULT_ATR  # the controls got no answer
        assert card.power_cycles == before + 2


def test_default_atr_is_well_formed() -> None:
    assert DEFAULT_ATR[0] == 0x3B
    historical = DEFAULT_ATR[1] & 0x0F
    assert DEFAULT_ATR[4 : 4 + historical] == b"Tokenstile"
    check = 0
    for byte in DEFAULT_ATR[1:]:
        check ^= byte
    assert check == 0  # TCK makes the XOR of T0..TCK zero


def test_remove_and_insert_again(vpcd: FakeVpcd) -> None:
    card = EchoCard()
    with VpcdCard(card, port=vpcd.port) as reader:
        reader.insert()
        vpcd.accept()
        assert vpcd.exchange(b"\x04") == DEFAULT_ATR
        reader.remove()
        assert not reader.inserted
        assert vpcd.card_gone()
        reader.insert()
        vpcd.accept()
        assert vpcd.exchange(b"\x01\x02\x03\x04\x05") == b"\x05\x04\x03\x02\x01\x90\x00"
        assert reader.connections == 2


def test_reconnects_when_vpcd_drops_the_card(vpcd: FakeVpcd) -> None:
    """pcscd restarting looks like this: the connection ends, the card comes back."""
    with VpcdCard(EchoCard(), port=vpcd.port, retry_interval=0.02) as reader:
        reader.insert()
        vpcd.accept()
        vpcd.drop()
        vpcd.accept()
        assert vpcd.exchange(b"\x04") == DEFAULT_ATR
        assert reader.connections == 2


def test_insert_waits_for_vpcd_and_says_when_it_is_not_there() -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]  # nothing listens here
    with VpcdCard(EchoCard(), port=port, retry_interval=0.02) as reader:
        with pytest.raises(VpcdError, match="pcscd running"):
            reader.insert(timeout=0.2)
        assert not reader.inserted


def test_close_stops_a_card_that_keeps_retrying() -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    reader = VpcdCard(EchoCard(), port=port, retry_interval=0.02)
    reader.insert(timeout=None)
    reader.close()
    reader.close()
    with pytest.raises(VpcdError, match="closed"):
        reader.insert()


def test_a_card_bug_answers_6f00_and_the_reader_lives_on(vpcd: FakeVpcd) -> None:
    class Broken(EchoCard):
        def handle_apdu(self, apdu: bytes) -> bytes:
            raise RuntimeError("bug")

    with VpcdCard(Broken(), port=vpcd.port) as reader:
        reader.insert()
        vpcd.accept()
        assert vpcd.exchange(b"\x00\xa4\x04\x00") == b"\x6f\x00"
        assert vpcd.exchange(b"\x04") == DEFAULT_ATR


def test_reader_number_picks_the_port() -> None:
    assert VpcdCard(EchoCard(), reader=1).address == ("127.0.0.1", 35964)
    with pytest.raises(ValueError, match="readers 0 and 1"):
        VpcdCard(EchoCard(), reader=2)


# -- several applets on one card ------------------------------------------------------


def _select(aid: bytes) -> bytes:
    return bytes([0x00, 0xA4, 0x04, 0x00, len(aid)]) + aid


def test_multi_applet_card_routes_by_aid() -> None:
    piv = create_piv_card()
    fido = CtapNfcApplet(Ctap2Authenticator())
    card = MultiAppletCard([(PIV_AID, piv), (FIDO_AID, fido)])
    get_discovery = bytes.fromhex("00CB3FFF035C017E00")

    assert card.handle_apdu(get_discovery)[-2:] == b"\x90\x00"  # PIV is the default
    assert card.handle_apdu(_select(FIDO_AID)) == b"FIDO_2_0\x90\x00"
    assert card.current is fido
    assert card.handle_apdu(bytes.fromhex("80100000010400"))[-2:] in (b"\x90\x00", b"\x61\x00")
    assert card.handle_apdu(_select(bytes.fromhex("D2760001240102"))) == b"\x6a\x82"
    assert card.current is fido  # an unknown AID leaves the current applet current
    assert card.handle_apdu(_select(PIV_AID[:5]))[-2:] == b"\x90\x00"
    assert card.current is piv
    card.handle_apdu(_select(FIDO_AID))
    card.power_cycle()
    assert card.current is piv


def test_a_card_that_connects_to_itself_is_not_in_a_reader(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """vpcd's ports are in Linux's ephemeral range: with nothing listening, a connect can
    get the same port as its source and reach itself (TCP simultaneous open). Forced here
    by binding the source to the destination port: the card must not take that socket
    for vpcd (it once waited on it forever), and must leave no TIME_WAIT on the port."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    real = socket.create_connection
    attempts: list[int] = []

    def to_itself(address: tuple[str, int], timeout: float = 1.0) -> socket.socket:
        attempts.append(address[1])
        return real(address, timeout, source_address=address)

    monkeypatch.setattr(socket, "create_connection", to_itself)
    card = VpcdCard(EchoCard(), port=port, retry_interval=0.05)
    try:
        card.insert(timeout=None)
        assert not card.wait_inserted(0.5)
        assert len(attempts) >= 2  # it kept trying instead of serving itself
    finally:
        card.close()
    monkeypatch.undo()
    # the port is free for a reader at once (no TIME_WAIT left by the self-connection);
    # bound without SO_REUSEADDR, as pcscd's vpcd driver binds it
    with socket.socket() as reader:
        reader.bind(("127.0.0.1", port))
        reader.listen()
