"""The serving functions behind ``tokenstile virtual-card serve`` and ``virtual-key serve-nfc``."""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from fido2.ctap2 import Ctap2
from fido2.pcsc import CtapPcscDevice

from tests.integration.pcsc.conftest import (
    READERS,
    Pcscd,
    card_present,
    reader_lock,
    wait_until,
)
from tokenstile.devices.pcsc import open_piv_card
from tokenstile.virtual import VirtualAuthenticator
from tokenstile.virtual.key_file import VirtualKeyFileError
from tokenstile.virtual.piv_provision import create_piv_card
from tokenstile.virtual.piv_state import VirtualCardFileError
from tokenstile.virtual.vpcd import serve_virtual_card, serve_virtual_key_nfc

pytestmark = pytest.mark.pcsc


@pytest.fixture
def reader_1(pcscd: Pcscd) -> Iterator[str]:
    """vpcd reader 1, empty, held for this test (the functions insert the cards)."""
    with reader_lock(1):
        assert wait_until(lambda: not card_present(READERS[1]), 10)
        yield READERS[1]


def run_in_background(
    target: Callable[..., None], path: Path
) -> tuple[threading.Event, threading.Thread]:
    stop = threading.Event()
    thread = threading.Thread(
        target=target, args=(path,), kwargs={"reader": 1, "stop": stop}, daemon=True
    )
    thread.start()
    return stop, thread


def test_serve_a_card_file_until_stopped(reader_1: str, tmp_path: Path) -> None:
    path = tmp_path / "card.json"
    create_piv_card(path, holder="Served Card")
    stop, thread = run_in_background(serve_virtual_card, path)
    try:
        assert wait_until(lambda: card_present(reader_1), 10)
        card = open_piv_card(reader_1)
        try:
            card.verify_pin("123456")
            assert card.read_certificate().subject.rfc4514_string() == "CN=Served Card"
        finally:
            card.close()
    finally:
        stop.set()
        thread.join(10)
    assert not thread.is_alive()
    assert wait_until(lambda: not card_present(reader_1), 10)


def test_serve_a_key_file_over_nfc(reader_1: str, tmp_path: Path) -> None:
    path = tmp_path / "key.json"
    aaguid = VirtualAuthenticator.from_file(path).authenticator.aaguid  # creates the key
    stop, thread = run_in_background(serve_virtual_key_nfc, path)
    try:
        assert wait_until(lambda: card_present(reader_1), 10)
        [device] = list(CtapPcscDevice.list_devices(reader_1))
        try:
            info = Ctap2(device).get_info()
        finally:
            device.close()
        assert info.aaguid == aaguid
        assert info.transports == ["nfc"]
    finally:
        stop.set()
        thread.join(10)
    assert not thread.is_alive()


def test_serving_a_missing_file_says_so(tmp_path: Path) -> None:
    with pytest.raises(VirtualCardFileError, match="create one first"):
        serve_virtual_card(tmp_path / "none.json", stop=threading.Event())
    with pytest.raises(VirtualKeyFileError, match="create one first"):
        serve_virtual_key_nfc(tmp_path / "none.json", stop=threading.Event())
