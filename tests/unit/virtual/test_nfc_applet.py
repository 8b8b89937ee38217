"""The NFC applet: raw APDUs, and python-fido2's own PC/SC device driving it.

The PC/SC tests hand ``fido2.pcsc.CtapPcscDevice`` a card connection whose card is the
applet, so python-fido2's NFC code (select, chaining, GET RESPONSE, NFCCTAP_GETRESPONSE
polling) is the independent platform. Real pcscd + vpcd is the vpcd transport's test.
"""

from __future__ import annotations

import importlib
import threading
import time
from typing import Any

import pytest
from fido2 import cbor
from fido2.client import ClientError
from fido2.ctap import CtapError
from fido2.ctap2 import AttestationResponse, Ctap2, Info

from tests.unit.virtual.ceremony import (
    RP_ID,
    ScriptedUser,
    ctap_cause,
    login_usernameless,
    register,
    rp_server,
)
from tokenstile.virtual import FIDO_AID, Ctap2Authenticator, CtapNfcApplet, TouchSensor

SELECT = bytes.fromhex("00A4040008") + FIDO_AID
MAKE_CREDENTIAL = b"\x01" + cbor.encode(
    {
        1: b"\7" * 32,
        2: {"id": RP_ID, "name": "kiosk"},
        3: {"id": b"alice", "name": "alice", "displayName": "Alice Example"},
        4: [{"type": "public-key", "alg": -7}],
        7: {"rk": True},
    }
)


def _split(response: bytes) -> tuple[bytes, int]:
    return response[:-2], int.from_bytes(response[-2:], "big")


def _nfcctap_msg(request: bytes, p1: int = 0x00) -> bytes:
    return bytes([0x80, 0x10, p1, 0x00, len(request)]) + request + b"\x00"


@pytest.fixture
def applet() -> CtapNfcApplet:
    selected = CtapNfcApplet(Ctap2Authenticator())
    assert selected.handle_apdu(SELECT) == b"FIDO_2_0\x90\x00"
    return selected


def test_select_answers_fido_2_0() -> None:
    applet = CtapNfcApplet(Ctap2Authenticator())
    assert applet.handle_apdu(SELECT + b"\x00") == b"FIDO_2_0\x90\x00"


def test_select_of_another_aid_is_file_not_found() -> None:
    applet = CtapNfcApplet(Ctap2Authenticator())
    assert applet.handle_apdu(bytes.fromhex("00A4040007A0000003080000")) == b"\x6a\x82"
    # and the FIDO applet is then not selected
    assert _split(applet.handle_apdu(_nfcctap_msg(b"\x04")))[1] == 0x6985


def test_get_info_over_nfcctap_msg(applet: CtapNfcApplet) -> None:
    data, sw = _split(applet.handle_apdu(_nfcctap_msg(b"\x04")))
    assert sw == 0x9000
    assert data[0] == 0
    info = Info.from_dict(cbor.decode(data[1:]))
    assert "FIDO_2_1" in info.versions
    assert info.aaguid == applet.authenticator.aaguid


def test_long_reply_comes_in_pieces_fetched_with_get_response(applet: CtapNfcApplet) -> None:
    data, sw = _split(applet.handle_apdu(_nfcctap_msg(MAKE_CREDENTIAL)))
    assert len(data) == 256
    assert sw >> 8 == 0x61
    pieces = [data]
    while sw >> 8 == 0x61:
        data, sw = _split(applet.handle_apdu(bytes([0x00, 0xC0, 0x00, 0x00, sw & 0xFF])))
        pieces.append(data)
    assert sw == 0x9000
    reply = b"".join(pieces)
    assert len(pieces) >= 3  # the attestation certificate makes this reply long
    assert reply[0] == 0
    attestation = AttestationResponse.from_dict(cbor.decode(reply[1:]))
    assert attestation.fmt == "packed"
    assert "x5c" in attestation.att_stmt


def test_get_response_honours_a_smaller_le(applet: CtapNfcApplet) -> None:
    full, _ = _split(applet.handle_apdu(_nfcctap_msg(b"\x04")))
    data, sw = _split(applet.handle_apdu(bytes.fromhex("80100000010410")))  # Le = 16
    pieces = [data]
    while sw >> 8 == 0x61:
        data, sw = _split(applet.handle_apdu(bytes.fromhex("00C0000010")))
        pieces.append(data)
    assert sw == 0x9000
    assert all(len(piece) == 16 for piece in pieces[:-1])
    assert len(pieces) > 2
    assert b"".join(pieces) == full


def test_chained_command(applet: CtapNfcApplet) -> None:
    head, tail = MAKE_CREDENTIAL[:60], MAKE_CREDENTIAL[60:]
    chained = bytes([0x90, 0x10, 0x00, 0x00, len(head)]) + head
    assert applet.handle_apdu(chained) == b"\x90\x00"
    data, sw = _split(applet.handle_apdu(_nfcctap_msg(tail)))
    assert data[0] == 0
    assert sw >> 8 == 0x61
    assert len(applet.authenticator.credentials()) == 1


def test_extended_length_command_gets_the_whole_reply(applet: CtapNfcApplet) -> None:
    apdu = bytes([0x80, 0x10, 0x00, 0x00, 0x00]) + len(MAKE_CREDENTIAL).to_bytes(2, "big")
    data, sw = _split(applet.handle_apdu(apdu + MAKE_CREDENTIAL))
    assert sw == 0x9000
    assert len(data) > 256
    AttestationResponse.from_dict(cbor.decode(data[1:]))


@pytest.mark.parametrize(
    ("apdu", "sw"),
    [
        (b"\x80\x10", 0x6700),
        (bytes.fromhex("8010000005040000"), 0x6700),  # Lc says 5, 3 bytes follow
        (bytes.fromhex("80FF0000"), 0x6D00),
        (bytes.fromhex("A0100000"), 0x6E00),
        (bytes.fromhex("00C0000000"), 0x6985),  # GET RESPONSE with nothing to get
        (bytes.fromhex("80110000"), 0x6985),  # NFCCTAP_GETRESPONSE with nothing running
    ],
)
def test_bad_apdus(applet: CtapNfcApplet, apdu: bytes, sw: int) -> None:
    assert applet.handle_apdu(apdu) == sw.to_bytes(2, "big")


def test_power_cycle_deselects_and_voids_pin_state(applet: CtapNfcApplet) -> None:
    applet.power_cycle()
    assert _split(applet.handle_apdu(_nfcctap_msg(b"\x04")))[1] == 0x6985
    assert applet.handle_apdu(SELECT) == b"FIDO_2_0\x90\x00"


def test_keepalive_while_waiting_for_a_touch_then_cancel() -> None:
    sensor = TouchSensor(timeout=10)
    applet = CtapNfcApplet(Ctap2Authenticator(presence=sensor), keepalive_interval=0.01)
    applet.handle_apdu(SELECT)

    data, sw = _split(applet.handle_apdu(_nfcctap_msg(MAKE_CREDENTIAL, p1=0x80)))
    assert sensor.waiting.wait(5)
    data, sw = _split(applet.handle_apdu(bytes.fromhex("8011000000")))
    assert (data, sw) == (b"\x02", 0x9100)  # STATUS_UPNEEDED
    # a second command while one runs is refused, the running one goes on
    assert (
        applet.handle_apdu(_nfcctap_msg(b"\x04"))
        == bytes([CtapError.ERR.CHANNEL_BUSY]) + b"\x90\x00"
    )

    data, sw = _split(applet.handle_apdu(bytes.fromhex("8011110000")))  # P1 0x11: cancel
    deadline = time.monotonic() + 5
    while sw == 0x9100 and time.monotonic() < deadline:
        data, sw = _split(applet.handle_apdu(bytes.fromhex("8011000000")))
    assert (data, sw) == (bytes([CtapError.ERR.KEEPALIVE_CANCEL]), 0x9000)
    assert applet.authenticator.credentials() == []


class AppletConnection:
    """A pyscard-style card connection to a reader holding the applet."""

    def __init__(self, applet: CtapNfcApplet) -> None:
        self.applet = applet
        self.apdus: list[bytes] = []

    def connect(self, *args: Any, **kwargs: Any) -> None:
        self.applet.power_cycle()  # a (re)connect powers the card

    def disconnect(self) -> None:
        pass

    def getATR(self) -> list[int]:  # noqa: N802 - pyscard's name
        return list(bytes.fromhex("3B8080010101"))

    def transmit(self, apdu: list[int], protocol: int | None = None) -> tuple[list[int], int, int]:
        self.apdus.append(bytes(apdu))
        response = self.applet.handle_apdu(bytes(apdu))
        return list(response[:-2]), response[-2], response[-1]


@pytest.fixture
def ctap_pcsc_device() -> type[Any]:
    """python-fido2's own ``CtapPcscDevice`` (pyscard is a dependency), on our connection."""
    return importlib.import_module("fido2.pcsc").CtapPcscDevice  # type: ignore[no-any-return]


def test_python_fido2_pcsc_device_runs_a_whole_ceremony(ctap_pcsc_device: type[Any]) -> None:
    from fido2.client import DefaultClientDataCollector, Fido2Client

    from tests.unit.virtual.ceremony import ORIGIN, PIN, pin_client

    applet = CtapNfcApplet(Ctap2Authenticator(transports=["nfc"]))
    connection = AppletConnection(applet)
    device = ctap_pcsc_device(connection, "Virtual PCD 00 00")
    pin_client(device).set_pin(PIN)
    client = Fido2Client(
        device, DefaultClientDataCollector(ORIGIN), user_interaction=ScriptedUser()
    )
    server = rp_server()

    alice = register(client, server, "alice")
    bob = register(client, server, "bob")
    _, counter, user_handle = login_usernameless(client, server, [alice, bob], index=1)

    assert user_handle == b"alice"
    assert counter == 1
    assert Ctap2(device).get_info().transports == ["nfc"]
    assert any(apdu[:2] == b"\x00\xc0" for apdu in connection.apdus), "no GET RESPONSE used"


def test_pcsc_device_with_extended_apdus(ctap_pcsc_device: type[Any]) -> None:
    applet = CtapNfcApplet(Ctap2Authenticator())
    connection = AppletConnection(applet)
    device = ctap_pcsc_device(connection, "Virtual PCD 00 00")
    device.use_ext_apdu = True
    made = Ctap2(device).make_credential(
        b"\7" * 32,
        {"id": RP_ID, "name": "kiosk"},
        {"id": b"u", "name": "u"},
        [{"type": "public-key", "alg": -8}],
    )
    assert made.fmt == "packed"
    assert not any(apdu[:2] == b"\x00\xc0" for apdu in connection.apdus)


def test_pcsc_device_touch_and_cancel(ctap_pcsc_device: type[Any]) -> None:
    sensor = TouchSensor(timeout=10)
    applet = CtapNfcApplet(Ctap2Authenticator(presence=sensor), keepalive_interval=0.01)
    device = ctap_pcsc_device(AppletConnection(applet), "Virtual PCD 00 00")
    ctap = Ctap2(device)
    statuses: list[int] = []
    cancel = threading.Event()
    errors: list[BaseException] = []

    def select() -> None:
        try:
            ctap.selection(event=cancel, on_keepalive=statuses.append)
        except BaseException as exc:
            errors.append(exc)

    worker = threading.Thread(target=select, daemon=True)
    worker.start()
    assert sensor.waiting.wait(5)
    cancel.set()
    worker.join(5)
    assert not worker.is_alive()
    [error] = errors
    assert isinstance(error, CtapError)
    assert error.code == CtapError.ERR.KEEPALIVE_CANCEL
    assert statuses[0] == 2

    sensor.touch()
    ctap.selection()


def test_pcsc_device_wrong_pin_reports_through_the_client(ctap_pcsc_device: type[Any]) -> None:
    from fido2.client import DefaultClientDataCollector, Fido2Client

    from tests.unit.virtual.ceremony import ORIGIN, PIN, pin_client

    applet = CtapNfcApplet(Ctap2Authenticator())
    device = ctap_pcsc_device(AppletConnection(applet), "Virtual PCD 00 00")
    pin_client(device).set_pin(PIN)
    client = Fido2Client(
        device, DefaultClientDataCollector(ORIGIN), user_interaction=ScriptedUser(pin="0000")
    )
    with pytest.raises(ClientError) as caught:
        register(client, rp_server(), "alice")
    assert ctap_cause(caught.value) == CtapError.ERR.PIN_INVALID
    assert applet.authenticator.pin_retries == 7
