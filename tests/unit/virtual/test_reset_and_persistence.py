"""authenticatorReset, the key file, and the sign counters (including a cloned key)."""

from __future__ import annotations

import json
import os
import stat
from pathlib import Path

import pytest
from fido2.client import ClientError
from fido2.ctap import CtapError
from fido2.ctap2 import ClientPin, Ctap2

from tests.unit.virtual.ceremony import (
    PIN,
    RP_ID,
    client_for,
    ctap_cause,
    login_usernameless,
    new_key,
    pin_client,
    register,
    rp_server,
)
from tokenstile.clock import FrozenClock
from tokenstile.virtual import (
    CounterMode,
    Ctap2Authenticator,
    KeyFile,
    VirtualAuthenticator,
    VirtualKeyFileError,
    always_deny,
)

ERR = CtapError.ERR
KEK = bytes(range(32))


def test_reset_wipes_credentials_and_pin() -> None:
    device = new_key()
    server = rp_server()
    credential = register(client_for(device), server, "alice")
    aaguid = device.authenticator.aaguid

    Ctap2(device).reset()

    assert device.authenticator.credentials() == []
    assert not device.authenticator.pin_is_set
    assert Ctap2(device).get_info().options["clientPin"] is False
    assert device.authenticator.aaguid == aaguid  # the model stays the same
    pin_client(device).set_pin(PIN)
    with pytest.raises(ClientError) as caught:
        login_usernameless(client_for(device), server, [credential])
    assert ctap_cause(caught.value) == ERR.NO_CREDENTIALS


def test_reset_unblocks_a_blocked_pin() -> None:
    device = new_key()
    client_pin = pin_client(device)
    for _ in range(8):
        device.power_cycle()
        with pytest.raises(CtapError):
            client_pin.get_pin_token("0000", ClientPin.PERMISSION.GET_ASSERTION)
    assert device.authenticator.pin_retries == 0
    Ctap2(device).reset()
    assert device.authenticator.pin_retries == 8
    pin_client(device).set_pin(PIN)


def test_reset_only_shortly_after_power_up() -> None:
    clock = FrozenClock()
    device = new_key(clock=clock)
    clock.advance(11)
    with pytest.raises(CtapError) as caught:
        Ctap2(device).reset()
    assert caught.value.code == ERR.NOT_ALLOWED
    assert device.authenticator.pin_is_set
    device.power_cycle()
    Ctap2(device).reset()
    assert not device.authenticator.pin_is_set


def test_reset_needs_a_touch() -> None:
    device = new_key()
    device.authenticator.presence = always_deny
    with pytest.raises(CtapError) as caught:
        Ctap2(device).reset()
    assert caught.value.code == ERR.OPERATION_DENIED
    assert device.authenticator.pin_is_set


def test_key_survives_a_restart_from_its_file(tmp_path: Path) -> None:
    path = tmp_path / "keys" / "alice.key"
    device = VirtualAuthenticator.from_file(path)
    pin_client(device).set_pin(PIN)
    server = rp_server()
    credential = register(client_for(device), server, "alice")
    login_usernameless(client_for(device), server, [credential])
    pin_client(device).get_pin_retries()

    restarted = VirtualAuthenticator.from_file(path)

    assert restarted.authenticator.aaguid == device.authenticator.aaguid
    assert restarted.authenticator.pin_is_set
    found, counter, user_handle = login_usernameless(client_for(restarted), server, [credential])
    assert found.credential_id == credential.credential_id
    assert counter == 2
    assert user_handle == b"alice"


def test_wrong_pins_are_remembered_across_restarts(tmp_path: Path) -> None:
    path = tmp_path / "key.json"
    device = VirtualAuthenticator.from_file(path)
    pin_client(device).set_pin(PIN)
    with pytest.raises(CtapError):
        pin_client(device).get_pin_token("0000", ClientPin.PERMISSION.GET_ASSERTION)
    assert VirtualAuthenticator.from_file(path).authenticator.pin_retries == 7


def test_key_file_is_private_and_replaced_atomically(tmp_path: Path) -> None:
    path = tmp_path / "key.json"
    device = VirtualAuthenticator.from_file(path)
    register(client_for(device), rp_server(), "alice", user_verification="discouraged")

    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert os.listdir(tmp_path) == ["key.json"]  # no temporary files left behind
    document = json.loads(path.read_text())
    assert document["format"] == "tokenstile-virtual-key"
    assert len(document["credentials"]) == 1


def test_sealed_key_file_needs_its_kek(tmp_path: Path) -> None:
    path = tmp_path / "key.json"
    device = VirtualAuthenticator.from_file(path, kek=KEK)
    pin_client(device).set_pin(PIN)
    register(client_for(device), rp_server(), "alice")

    text = path.read_text()
    assert "private_key" not in text
    assert "credentials" not in text
    with pytest.raises(VirtualKeyFileError, match="wrong key-encryption key"):
        KeyFile(path, kek=bytes(32)).load()
    with pytest.raises(VirtualKeyFileError, match="key-encryption key is needed"):
        KeyFile(path).load()
    reopened = VirtualAuthenticator.from_file(path, kek=KEK)
    assert len(reopened.authenticator.credentials()) == 1


def test_a_damaged_key_file_is_a_clear_error(tmp_path: Path) -> None:
    path = tmp_path / "key.json"
    path.write_text('{"format": "tokenstile-virtual-key", "version": 1}')
    with pytest.raises(VirtualKeyFileError, match="not a readable virtual key file"):
        VirtualAuthenticator.from_file(path)
    path.write_text("[]")
    with pytest.raises(VirtualKeyFileError):
        VirtualAuthenticator.from_file(path)


def test_in_memory_keys_are_independent() -> None:
    first, second = new_key(), new_key()
    register(client_for(first), rp_server(), "alice")
    assert second.authenticator.credentials() == []
    assert first.authenticator.aaguid != second.authenticator.aaguid


def test_fixed_aaguid() -> None:
    aaguid = bytes.fromhex("00112233445566778899aabbccddeeff")
    device = new_key(aaguid=aaguid)
    assert Ctap2(device).get_info().aaguid == aaguid


def test_global_counter_mode_counts_across_credentials() -> None:
    device = new_key(counter_mode=CounterMode.GLOBAL)
    client = client_for(device)
    server = rp_server()
    alice = register(client, server, "alice")
    bob = register(client, server, "bob")
    counters = [login_usernameless(client, server, [alice, bob], index=i)[1] for i in (0, 1)]
    # registrations took 1 and 2; each login signs both credentials, bob (newest) first:
    # bob 3, alice 4, then bob 5, alice 6
    assert counters == [3, 6]
    assert device.authenticator.global_sign_count == 6


def test_a_cloned_key_repeats_counter_values() -> None:
    original = new_key()
    server = rp_server()
    credential = register(client_for(original), server, "alice")
    login_usernameless(client_for(original), server, [credential])
    clone = VirtualAuthenticator(original.authenticator.clone())

    after_original = login_usernameless(client_for(original), server, [credential])[1]
    after_clone = login_usernameless(client_for(clone), server, [credential])[1]

    assert after_original == after_clone == 2  # the RP sees a counter that did not increase


def test_counter_can_be_set_for_a_test() -> None:
    device = new_key()
    server = rp_server()
    credential = register(client_for(device), server, "alice")
    device.authenticator.set_sign_count(41, credential.credential_id)
    assert login_usernameless(client_for(device), server, [credential])[1] == 42
    with pytest.raises(ValueError, match="32-bit"):
        device.authenticator.set_sign_count(-1)


def test_resident_credential_for_the_same_user_is_replaced() -> None:
    device = new_key()
    client = client_for(device)
    server = rp_server()
    register(client, server, "alice")
    newer = register(client, server, "alice")
    [stored] = device.authenticator.credentials(RP_ID)
    assert stored.credential_id == newer.credential_id


def test_resident_credential_store_can_fill_up() -> None:
    device = new_key(max_resident_credentials=1)
    client = client_for(device)
    server = rp_server()
    register(client, server, "alice")
    assert Ctap2(device).get_info().remaining_disc_creds == 0
    with pytest.raises(ClientError) as caught:
        register(client, server, "bob")
    assert ctap_cause(caught.value) == ERR.KEY_STORE_FULL


def test_authenticator_built_on_an_existing_store_keeps_its_identity(tmp_path: Path) -> None:
    store = KeyFile(tmp_path / "key.json")
    first = Ctap2Authenticator(store)
    second = Ctap2Authenticator(store, aaguid=bytes(16))  # options for a new key are ignored
    assert second.aaguid == first.aaguid
