"""Finding FIDO2 keys: the in-process virtual key drives a whole ceremony through the
finder; failing sources are skipped; waiting times out or is cancelled.

(USB HID is not exercised: there is no hidraw device here. NFC through real pcscd is
in tests/integration/pcsc/test_fido_nfc.py.)
"""

from __future__ import annotations

import threading
import time

import pytest
from fido2.client import DefaultClientDataCollector, Fido2Client

from tests.unit.virtual.ceremony import (
    ORIGIN,
    ScriptedUser,
    login_usernameless,
    new_key,
    register,
    rp_server,
)
from tokenstile.devices import (
    DeviceError,
    FixedKeys,
    KeyFinder,
    KeyTransport,
    NoSecurityKey,
    PcscUnavailable,
    SecurityKey,
    default_key_finder,
)


def test_virtual_key_through_the_finder_runs_a_ceremony() -> None:
    finder = default_key_finder(usb=False, nfc=False, devices=[new_key()])
    key = finder.wait_for_key(timeout=1)
    assert key.transport is KeyTransport.VIRTUAL
    client = Fido2Client(
        key.device, DefaultClientDataCollector(ORIGIN), user_interaction=ScriptedUser()
    )
    server = rp_server()
    credential = register(client, server, "alice")
    _, counter, user_handle = login_usernameless(client, server, [credential])
    assert user_handle == b"alice"
    assert counter == 1


class Broken:
    def __init__(self, error: DeviceError) -> None:
        self.error = error
        self.calls = 0

    def find(self) -> list[SecurityKey]:
        self.calls += 1
        raise self.error


def test_a_failing_source_does_not_hide_the_others() -> None:
    broken = Broken(PcscUnavailable("pcscd is not running"))
    device = new_key(pin=None)
    finder = KeyFinder([broken, FixedKeys([device])])
    [key] = finder.find()
    assert key.device is device
    assert broken.calls == 1


def test_waiting_until_a_key_appears() -> None:
    class Later:
        def __init__(self) -> None:
            self.looks = 0
            self.device = new_key(pin=None)

        def find(self) -> list[SecurityKey]:
            self.looks += 1
            if self.looks < 3:
                return []
            return [SecurityKey(device=self.device, transport=KeyTransport.NFC, name="tap")]

    source = Later()
    key = KeyFinder([source]).wait_for_key(timeout=5, poll_interval=0.01)
    assert key.device is source.device
    assert source.looks == 3


def test_waiting_times_out() -> None:
    started = time.monotonic()
    with pytest.raises(NoSecurityKey) as caught:
        KeyFinder([]).wait_for_key(timeout=0.1, poll_interval=0.02)
    assert caught.value.code == "no_security_key"
    assert time.monotonic() - started < 2


def test_waiting_is_cancelled() -> None:
    cancel = threading.Event()
    threading.Timer(0.05, cancel.set).start()
    with pytest.raises(NoSecurityKey, match="cancelled"):
        KeyFinder([]).wait_for_key(cancel=cancel, poll_interval=0.01)
