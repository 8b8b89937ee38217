"""authenticatorClientPIN through python-fido2's ClientPin, with both PIN/UV protocols."""

from __future__ import annotations

import hashlib

import pytest
from fido2.ctap import CtapError
from fido2.ctap2 import ClientPin, Ctap2
from fido2.ctap2.pin import PinProtocol, PinProtocolV1, PinProtocolV2

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
from tokenstile.virtual import VirtualAuthenticator

ERR = CtapError.ERR
PROTOCOLS = [
    pytest.param(PinProtocolV1, id="protocol-1"),
    pytest.param(PinProtocolV2, id="protocol-2"),
]
WRONG = "0000"


def _pin_error(client_pin: ClientPin, pin: str) -> ERR:
    with pytest.raises(CtapError) as caught:
        client_pin.get_pin_token(pin, ClientPin.PERMISSION.GET_ASSERTION, RP_ID)
    return caught.value.code


def test_info_tells_whether_a_pin_is_set() -> None:
    device = new_key(pin=None)
    assert Ctap2(device).get_info().options["clientPin"] is False
    pin_client(device).set_pin(PIN)
    info = Ctap2(device).get_info()
    assert info.options["clientPin"] is True
    assert info.pin_uv_protocols == [2, 1]
    assert info.options["pinUvAuthToken"] is True


@pytest.mark.parametrize("protocol", PROTOCOLS)
def test_set_pin_and_get_a_token(protocol: type[PinProtocol]) -> None:
    device = new_key(pin=None)
    client_pin = pin_client(device, protocol())
    client_pin.set_pin(PIN)
    token = client_pin.get_pin_token(PIN, ClientPin.PERMISSION.MAKE_CREDENTIAL, RP_ID)
    assert len(token) == 32
    assert client_pin.get_pin_retries() == (8, False)


@pytest.mark.parametrize("protocol", PROTOCOLS)
def test_set_pin_twice_is_not_allowed(protocol: type[PinProtocol]) -> None:
    client_pin = pin_client(new_key(), protocol())
    with pytest.raises(CtapError) as caught:
        client_pin.set_pin("9999")
    assert caught.value.code == ERR.NOT_ALLOWED


def test_a_too_short_pin_violates_the_policy() -> None:
    device = new_key(pin=None)
    client_pin = pin_client(device)
    # python-fido2 refuses short PINs itself; send one by hand to reach the key
    key_agreement, shared = client_pin._get_shared_secret()
    enc = client_pin.protocol.encrypt(shared, b"123".ljust(64, b"\0"))
    with pytest.raises(CtapError) as caught:
        client_pin.ctap.client_pin(
            client_pin.protocol.VERSION,
            ClientPin.CMD.SET_PIN,
            key_agreement=key_agreement,
            new_pin_enc=enc,
            pin_uv_param=client_pin.protocol.authenticate(shared, enc),
        )
    assert caught.value.code == ERR.PIN_POLICY_VIOLATION
    assert not device.authenticator.pin_is_set


def test_set_pin_with_a_bad_mac_is_refused() -> None:
    device = new_key(pin=None)
    client_pin = pin_client(device)
    key_agreement, shared = client_pin._get_shared_secret()
    enc = client_pin.protocol.encrypt(shared, PIN.encode().ljust(64, b"\0"))
    with pytest.raises(CtapError) as caught:
        client_pin.ctap.client_pin(
            2,
            ClientPin.CMD.SET_PIN,
            key_agreement=key_agreement,
            new_pin_enc=enc,
            pin_uv_param=b"\0" * 32,
        )
    assert caught.value.code == ERR.PIN_AUTH_INVALID
    assert not device.authenticator.pin_is_set


@pytest.mark.parametrize("protocol", PROTOCOLS)
def test_wrong_pin_decrements_retries_and_a_right_one_restores_them(
    protocol: type[PinProtocol],
) -> None:
    client_pin = pin_client(new_key(), protocol())
    assert _pin_error(client_pin, WRONG) == ERR.PIN_INVALID
    assert client_pin.get_pin_retries() == (7, False)
    assert _pin_error(client_pin, WRONG) == ERR.PIN_INVALID
    assert client_pin.get_pin_retries() == (6, False)
    client_pin.get_pin_token(PIN, ClientPin.PERMISSION.GET_ASSERTION, RP_ID)
    assert client_pin.get_pin_retries() == (8, False)


@pytest.mark.parametrize("protocol", PROTOCOLS)
def test_three_wrong_pins_in_a_row_need_a_power_cycle(protocol: type[PinProtocol]) -> None:
    device = new_key()
    client_pin = pin_client(device, protocol())
    assert [_pin_error(client_pin, WRONG) for _ in range(3)] == [
        ERR.PIN_INVALID,
        ERR.PIN_INVALID,
        ERR.PIN_AUTH_BLOCKED,
    ]
    # even the right PIN is refused, and nothing more is counted
    assert _pin_error(client_pin, PIN) == ERR.PIN_AUTH_BLOCKED
    assert client_pin.get_pin_retries() == (5, True)

    device.power_cycle()

    assert client_pin.get_pin_retries() == (5, False)
    client_pin.get_pin_token(PIN, ClientPin.PERMISSION.GET_ASSERTION, RP_ID)
    assert client_pin.get_pin_retries() == (8, False)


def test_eight_wrong_pins_block_the_pin_for_good() -> None:
    device = new_key()
    client_pin = pin_client(device)
    seen = []
    for _ in range(8):
        if client_pin.get_pin_retries()[1]:
            device.power_cycle()
        seen.append(_pin_error(client_pin, WRONG))
    assert seen == [
        ERR.PIN_INVALID,
        ERR.PIN_INVALID,
        ERR.PIN_AUTH_BLOCKED,
        ERR.PIN_INVALID,
        ERR.PIN_INVALID,
        ERR.PIN_AUTH_BLOCKED,
        ERR.PIN_INVALID,
        ERR.PIN_BLOCKED,
    ]
    device.power_cycle()
    assert _pin_error(client_pin, PIN) == ERR.PIN_BLOCKED
    assert client_pin.get_pin_retries()[0] == 0
    with pytest.raises(CtapError) as caught:
        client_pin.change_pin(PIN, "5678")
    assert caught.value.code == ERR.PIN_BLOCKED


def test_a_blocked_pin_stops_the_login_ceremony() -> None:
    device = new_key()
    server = rp_server()
    credential = register(client_for(device), server, "alice")
    client_pin = pin_client(device)
    for _ in range(8):
        device.power_cycle()
        _pin_error(client_pin, WRONG)
    from fido2.client import ClientError

    with pytest.raises(ClientError) as caught:
        login_usernameless(client_for(device), server, [credential])
    assert ctap_cause(caught.value) == ERR.PIN_BLOCKED


@pytest.mark.parametrize("protocol", PROTOCOLS)
def test_change_pin(protocol: type[PinProtocol]) -> None:
    device = new_key()
    client_pin = pin_client(device, protocol())
    old_token = client_pin.get_pin_token(PIN, ClientPin.PERMISSION.GET_ASSERTION, RP_ID)
    client_pin.change_pin(PIN, "246810")

    assert _pin_error(client_pin, PIN) == ERR.PIN_INVALID
    client_pin.get_pin_token("246810", ClientPin.PERMISSION.GET_ASSERTION, RP_ID)
    # tokens from before the change are void
    ctap = Ctap2(device)
    with pytest.raises(CtapError) as caught:
        ctap.get_assertion(
            RP_ID,
            b"\1" * 32,
            pin_uv_param=client_pin.protocol.authenticate(old_token, b"\1" * 32),
            pin_uv_protocol=client_pin.protocol.VERSION,
        )
    assert caught.value.code == ERR.PIN_AUTH_INVALID


def test_change_pin_with_the_wrong_old_pin_counts_as_a_wrong_pin() -> None:
    client_pin = pin_client(new_key())
    with pytest.raises(CtapError) as caught:
        client_pin.change_pin(WRONG, "13579")
    assert caught.value.code == ERR.PIN_INVALID
    assert client_pin.get_pin_retries() == (7, False)
    client_pin.get_pin_token(PIN, ClientPin.PERMISSION.GET_ASSERTION, RP_ID)


def test_get_pin_token_without_a_pin_set() -> None:
    client_pin = pin_client(new_key(pin=None))
    key_agreement, shared = client_pin._get_shared_secret()
    with pytest.raises(CtapError) as caught:
        client_pin.ctap.client_pin(
            2,
            ClientPin.CMD.GET_TOKEN_USING_PIN,
            key_agreement=key_agreement,
            pin_hash_enc=client_pin.protocol.encrypt(shared, hashlib.sha256(b"1234").digest()[:16]),
            permissions=ClientPin.PERMISSION.GET_ASSERTION,
        )
    assert caught.value.code == ERR.PIN_NOT_SET


def test_permissions_the_key_does_not_offer_are_refused() -> None:
    client_pin = pin_client(new_key())
    with pytest.raises(CtapError) as caught:
        client_pin.get_pin_token(PIN, ClientPin.PERMISSION.BIO_ENROLL)
    assert caught.value.code == ERR.UNAUTHORIZED_PERMISSION


def _make_credential_with(device: VirtualAuthenticator, token: bytes, rp_id: str = RP_ID) -> None:
    protocol = PinProtocolV2()
    client_data_hash = b"\2" * 32
    Ctap2(device).make_credential(
        client_data_hash,
        {"id": rp_id, "name": rp_id},
        {"id": b"alice", "name": "alice"},
        [{"type": "public-key", "alg": -7}],
        options={"rk": True},
        pin_uv_param=protocol.authenticate(token, client_data_hash),
        pin_uv_protocol=protocol.VERSION,
    )


def test_a_token_is_good_for_its_permissions_only() -> None:
    device = new_key()
    token = pin_client(device).get_pin_token(PIN, ClientPin.PERMISSION.GET_ASSERTION, RP_ID)
    with pytest.raises(CtapError) as caught:
        _make_credential_with(device, token)
    assert caught.value.code == ERR.PIN_AUTH_INVALID


def test_a_token_is_good_for_its_rp_only() -> None:
    device = new_key()
    token = pin_client(device).get_pin_token(PIN, ClientPin.PERMISSION.MAKE_CREDENTIAL, RP_ID)
    with pytest.raises(CtapError) as caught:
        _make_credential_with(device, token, rp_id="elsewhere.example")
    assert caught.value.code == ERR.PIN_AUTH_INVALID


def test_a_token_serves_one_touch() -> None:
    device = new_key()
    token = pin_client(device).get_pin_token(PIN, ClientPin.PERMISSION.MAKE_CREDENTIAL, RP_ID)
    _make_credential_with(device, token)
    with pytest.raises(CtapError) as caught:
        _make_credential_with(device, token)
    assert caught.value.code == ERR.PIN_AUTH_INVALID


def test_a_token_expires() -> None:
    clock = FrozenClock()
    device = new_key(clock=clock)
    token = pin_client(device).get_pin_token(PIN, ClientPin.PERMISSION.MAKE_CREDENTIAL, RP_ID)
    clock.advance(31)  # never used within the initial usage time limit
    with pytest.raises(CtapError) as caught:
        _make_credential_with(device, token)
    assert caught.value.code == ERR.PIN_AUTH_INVALID


def test_a_power_cycle_voids_the_token() -> None:
    device = new_key()
    token = pin_client(device).get_pin_token(PIN, ClientPin.PERMISSION.MAKE_CREDENTIAL, RP_ID)
    device.power_cycle()
    with pytest.raises(CtapError) as caught:
        _make_credential_with(device, token)
    assert caught.value.code == ERR.PIN_AUTH_INVALID


def test_a_protected_key_makes_no_credential_without_a_token() -> None:
    device = new_key()
    with pytest.raises(CtapError) as caught:
        Ctap2(device).make_credential(
            b"\3" * 32,
            {"id": RP_ID, "name": RP_ID},
            {"id": b"alice", "name": "alice"},
            [{"type": "public-key", "alg": -7}],
        )
    assert caught.value.code == ERR.PUAT_REQUIRED
    assert device.authenticator.credentials() == []


def test_legacy_get_pin_token_still_works() -> None:
    device = new_key()
    token = pin_client(device).get_pin_token(PIN)  # no permissions: subcommand 0x05
    _make_credential_with(device, token)
    assert len(device.authenticator.credentials()) == 1


def test_provisioned_pin_works_like_a_set_one() -> None:
    device = new_key(pin=None)
    device.authenticator.provision_pin("8642")
    with pytest.raises(ValueError, match="PIN"):
        device.authenticator.provision_pin("2468")
    pin_client(device).get_pin_token("8642", ClientPin.PERMISSION.GET_ASSERTION)
