"""The software FIDO2 key tapped on the reader: found and driven by python-fido2's own
PC/SC code through real pcscd, and its results accepted by python-fido2's server.
"""

from __future__ import annotations

import time

import pytest
from fido2.client import DefaultClientDataCollector, Fido2Client
from fido2.pcsc import CtapPcscDevice

from tests.integration.pcsc.conftest import READERS, VpcdSlot
from tests.unit.virtual.ceremony import (
    ORIGIN,
    PIN,
    ScriptedUser,
    login_usernameless,
    pin_client,
    register,
    rp_server,
)
from tokenstile.devices import KeyTransport, NfcKeys, PivCard
from tokenstile.devices.pcsc import PcscConnection
from tokenstile.virtual import FIDO_AID, Ctap2Authenticator, CtapNfcApplet, always_approve
from tokenstile.virtual.piv_objects import PIV_AID
from tokenstile.virtual.piv_provision import create_piv_card
from tokenstile.virtual.vpcd import MultiAppletCard

pytestmark = pytest.mark.pcsc

READER = READERS[1]


class CountingApplet:
    """The NFC applet, counting the power cycles the reader gives it."""

    def __init__(self) -> None:
        # A tap is presence: the key in the field has nothing else to press.
        self.applet = CtapNfcApplet(Ctap2Authenticator(presence=always_approve, transports=["nfc"]))
        self.power_cycles = 0

    def handle_apdu(self, apdu: bytes) -> bytes:
        return self.applet.handle_apdu(apdu)

    def power_cycle(self) -> None:
        self.power_cycles += 1
        self.applet.power_cycle()


def find_key(timeout: float = 10) -> CtapPcscDevice:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        for device in CtapPcscDevice.list_devices(READER):
            return device
        time.sleep(0.05)
    pytest.fail(f"python-fido2 found no FIDO key in {READER}")


def test_register_and_sign_in_over_nfc(vpcd_slot: VpcdSlot) -> None:
    key = CountingApplet()
    vpcd_slot(key, reader=1)
    device = find_key()
    try:
        pin_client(device).set_pin(PIN)
        client = Fido2Client(
            device, DefaultClientDataCollector(ORIGIN), user_interaction=ScriptedUser()
        )
        server = rp_server()
        alice = register(client, server, "alice")
        bob = register(client, server, "bob")
        _, counter, user_handle = login_usernameless(client, server, [alice, bob], index=1)
    finally:
        device.close()
    assert user_handle == b"alice"
    assert counter == 1
    assert len(key.applet.authenticator.credentials()) == 2


def test_nfc_key_source_and_reset_power_cycles_the_key(vpcd_slot: VpcdSlot) -> None:
    key = CountingApplet()
    vpcd_slot(key, reader=1)
    deadline = time.monotonic() + 10
    while not (found := NfcKeys(READER).find()) and time.monotonic() < deadline:
        time.sleep(0.05)
    [security_key] = found
    assert security_key.transport is KeyTransport.NFC
    assert security_key.name == READER
    before = key.power_cycles
    security_key.device.close()  # python-fido2's disconnect
    with PcscConnection(READER) as connection:  # reset on close
        connection.transmit(b"\x00\xa4\x04\x00\x08" + FIDO_AID)
    assert key.power_cycles > before


def test_one_card_with_piv_and_fido(vpcd_slot: VpcdSlot) -> None:
    fido = CountingApplet()
    vpcd_slot(MultiAppletCard([(PIV_AID, create_piv_card()), (FIDO_AID, fido)]), reader=1)
    with PcscConnection(READER) as connection:
        card = PivCard(connection)
        card.verify_pin("123456")
        card.read_certificate()
    device = find_key()
    try:
        pin_client(device).set_pin(PIN)
        client = Fido2Client(
            device, DefaultClientDataCollector(ORIGIN), user_interaction=ScriptedUser()
        )
        register(client, rp_server(), "carol")
    finally:
        device.close()
    assert len(fido.applet.authenticator.credentials()) == 1
