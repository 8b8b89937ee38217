"""Raw CTAP2 requests at the processor and the device: canonical replies and error codes."""

from __future__ import annotations

import pytest
from fido2 import cbor
from fido2.ctap import CtapError
from fido2.ctap2 import Ctap2
from fido2.hid import CTAPHID

from tests.unit.virtual.ceremony import RP_ID, new_key
from tokenstile.virtual import Ctap2Authenticator, VirtualAuthenticator

ERR = CtapError.ERR
CLIENT_DATA_HASH = b"\7" * 32
RP = {"id": RP_ID, "name": "kiosk"}
USER = {"id": b"alice", "name": "alice"}
ES256 = [{"type": "public-key", "alg": -7}]


def _status(authenticator: Ctap2Authenticator, command: int, params: object = None) -> int:
    request = bytes([command]) + (cbor.encode(params) if params is not None else b"")  # type: ignore[arg-type]
    return authenticator.process(request)[0]


def test_get_info_reply_is_canonical_cbor() -> None:
    reply = Ctap2Authenticator().process(b"\x04")
    assert reply[0] == 0
    assert cbor.encode(cbor.decode(reply[1:])) == reply[1:]
    info = cbor.decode(reply[1:])
    assert info[1] == ["FIDO_2_0", "FIDO_2_1"]
    assert info[0x0A] == [{"alg": -7, "type": "public-key"}, {"alg": -8, "type": "public-key"}]


@pytest.mark.parametrize(
    ("request_bytes", "expected"),
    [
        (b"", ERR.INVALID_LENGTH),
        (b"\x42", ERR.INVALID_COMMAND),
        (b"\x01\xa1", ERR.INVALID_CBOR),  # a map missing its member
        (b"\x01\x83\x01\x02\x03", ERR.CBOR_UNEXPECTED_TYPE),  # an array, not a map
        (b"\x01" + b"\xa0" * 1300, ERR.REQUEST_TOO_LARGE),
        (b"\x08", ERR.NOT_ALLOWED),  # getNextAssertion with nothing to continue
    ],
)
def test_malformed_requests(request_bytes: bytes, expected: ERR) -> None:
    assert Ctap2Authenticator().process(request_bytes) == bytes([expected])


@pytest.mark.parametrize(
    ("params", "expected"),
    [
        ({2: RP, 3: USER, 4: ES256}, ERR.MISSING_PARAMETER),
        ({1: "not bytes", 2: RP, 3: USER, 4: ES256}, ERR.CBOR_UNEXPECTED_TYPE),
        ({1: CLIENT_DATA_HASH, 2: {"name": "x"}, 3: USER, 4: ES256}, ERR.MISSING_PARAMETER),
        (
            {1: CLIENT_DATA_HASH, 2: RP, 3: USER, 4: [{"type": "public-key", "alg": -257}]},
            ERR.UNSUPPORTED_ALGORITHM,
        ),
        ({1: CLIENT_DATA_HASH, 2: RP, 3: USER, 4: ES256, 7: {"up": False}}, ERR.INVALID_OPTION),
        ({1: CLIENT_DATA_HASH, 2: RP, 3: USER, 4: ES256, 7: {"uv": True}}, ERR.INVALID_OPTION),
        ({1: CLIENT_DATA_HASH, 2: RP, 3: USER, 4: ES256, 7: {"rk": 1}}, ERR.CBOR_UNEXPECTED_TYPE),
        ({1: CLIENT_DATA_HASH, 2: RP, 3: USER, 4: ES256, 8: b"\1" * 16}, ERR.MISSING_PARAMETER),
        (
            {1: CLIENT_DATA_HASH, 2: RP, 3: USER, 4: ES256, 8: b"\1" * 16, 9: 3},
            ERR.INVALID_PARAMETER,
        ),
        ({1: CLIENT_DATA_HASH, 2: RP, 3: USER, 4: ES256, 8: b"", 9: 2}, ERR.PIN_NOT_SET),
        ({1: CLIENT_DATA_HASH, 2: RP, 3: USER, 4: ES256, 0x0A: 1}, ERR.INVALID_PARAMETER),
    ],
)
def test_make_credential_errors(params: dict[int, object], expected: ERR) -> None:
    authenticator = Ctap2Authenticator()
    assert _status(authenticator, 0x01, params) == expected
    assert authenticator.credentials() == []


@pytest.mark.parametrize(
    ("params", "expected"),
    [
        ({2: CLIENT_DATA_HASH}, ERR.MISSING_PARAMETER),
        ({1: RP_ID, 2: CLIENT_DATA_HASH}, ERR.NO_CREDENTIALS),
        ({1: RP_ID, 2: CLIENT_DATA_HASH, 5: {"rk": True}}, ERR.UNSUPPORTED_OPTION),
        ({1: RP_ID, 2: CLIENT_DATA_HASH, 5: {"uv": True}}, ERR.INVALID_OPTION),
        (
            {1: RP_ID, 2: CLIENT_DATA_HASH, 3: [{"type": "public-key", "id": b"?"}]},
            ERR.NO_CREDENTIALS,
        ),
        ({1: RP_ID, 2: CLIENT_DATA_HASH, 3: ["not a descriptor"]}, ERR.CBOR_UNEXPECTED_TYPE),
    ],
)
def test_get_assertion_errors(params: dict[int, object], expected: ERR) -> None:
    assert _status(Ctap2Authenticator(), 0x02, params) == expected


def test_empty_pin_uv_auth_param_with_a_pin_set_is_pin_invalid() -> None:
    device = new_key()
    params = {1: CLIENT_DATA_HASH, 2: RP, 3: USER, 4: ES256, 8: b"", 9: 2}
    assert _status(device.authenticator, 0x01, params) == ERR.PIN_INVALID


def test_non_resident_credential_is_found_through_the_allow_list_only() -> None:
    authenticator = Ctap2Authenticator()
    ctap = Ctap2(VirtualAuthenticator(authenticator))
    made = ctap.make_credential(CLIENT_DATA_HASH, RP, USER, ES256)
    assert made.auth_data.credential_data is not None
    credential_id = made.auth_data.credential_data.credential_id
    [stored] = authenticator.credentials()
    assert not stored.discoverable

    with pytest.raises(CtapError) as caught:
        ctap.get_assertion(RP_ID, CLIENT_DATA_HASH)
    assert caught.value.code == ERR.NO_CREDENTIALS

    assertion = ctap.get_assertion(
        RP_ID, CLIENT_DATA_HASH, [{"type": "public-key", "id": credential_id}]
    )
    assertion.verify(CLIENT_DATA_HASH, made.auth_data.credential_data.public_key)
    assert assertion.user is None
    assert assertion.number_of_credentials is None
    assert assertion.auth_data.flags & assertion.auth_data.FLAG.UP


def test_get_assertion_without_up_sets_no_up_flag() -> None:
    ctap = Ctap2(VirtualAuthenticator())
    made = ctap.make_credential(CLIENT_DATA_HASH, RP, USER, ES256, options={"rk": True})
    assertion = ctap.get_assertion(RP_ID, CLIENT_DATA_HASH, options={"up": False})
    assert not assertion.auth_data.is_user_present()
    assert made.auth_data.credential_data is not None
    assertion.verify(CLIENT_DATA_HASH, made.auth_data.credential_data.public_key)


def test_get_next_assertion_walks_the_batch_then_stops() -> None:
    ctap = Ctap2(VirtualAuthenticator())
    for name in (b"a", b"b", b"c"):
        ctap.make_credential(
            CLIENT_DATA_HASH, RP, {"id": name, "name": name.decode()}, ES256, options={"rk": True}
        )
    first = ctap.get_assertion(RP_ID, CLIENT_DATA_HASH)
    assert first.number_of_credentials == 3
    users = [first.user, ctap.get_next_assertion().user, ctap.get_next_assertion().user]
    assert users == [{"id": b"c"}, {"id": b"b"}, {"id": b"a"}]  # no names without UV
    with pytest.raises(CtapError) as caught:
        ctap.get_next_assertion()
    assert caught.value.code == ERR.NOT_ALLOWED


def test_device_transport_commands() -> None:
    device = VirtualAuthenticator()
    assert device.call(CTAPHID.PING, b"hello") == b"hello"
    assert device.call(CTAPHID.WINK) == b""
    assert device.winks == 1
    with pytest.raises(CtapError) as caught:
        device.call(CTAPHID.MSG, bytes.fromhex("00010000"))
    assert caught.value.code == ERR.INVALID_COMMAND
    assert list(VirtualAuthenticator.list_devices()) == []
