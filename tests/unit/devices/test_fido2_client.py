"""The kiosk's FIDO2 client over the software key: callbacks, the cancel event, and every
CTAP failure the GUI must tell apart, each with its stable code."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import Any

import pytest
from fido2.ctap import STATUS, CtapDevice, CtapError
from fido2.hid import CTAPHID

from tests.unit.factors.webauthn_keys import (
    ORIGIN,
    Kiosk,
    new_challenge,
    registration_options,
    request_options,
)
from tests.unit.virtual.ceremony import PIN, new_key
from tokenstile.devices.errors import NoSecurityKey
from tokenstile.devices.fido2_client import Account, PinPrompt, SecurityKeyClient
from tokenstile.devices.fido2_errors import (
    KeyAlreadyEnrolled,
    KeyCancelled,
    KeyDenied,
    KeyNoCredential,
    KeyPinAuthBlocked,
    KeyPinBlocked,
    KeyPinNotSet,
    KeyPinPolicy,
    KeyPinRequired,
    KeyRemoved,
    KeyTimedOut,
    KeyUvBlocked,
    KeyWrongPin,
    SecurityKeyError,
)
from tokenstile.devices.security_keys import FixedKeys, KeyFinder
from tokenstile.virtual import TouchSensor, VirtualAuthenticator, always_deny


def enrolled(kiosk: Kiosk, name: str = "alice") -> None:
    kiosk.register(
        registration_options(challenge=new_challenge(), user_handle=name.encode(), name=name)
    )


def sign_in(client: SecurityKeyClient) -> dict[str, Any]:
    return client.authenticate(request_options(new_challenge()))


def failure(call: Callable[[], object]) -> SecurityKeyError:
    with pytest.raises(SecurityKeyError) as caught:
        call()
    return caught.value


def test_info_and_the_uv_method_of_a_pin_only_key() -> None:
    kiosk = Kiosk()
    info = kiosk.client.info()
    assert info.pin_set
    assert not info.builtin_uv
    assert info.uv_method == "pin"
    assert info.resident_keys
    assert info.transports == ("nfc", "usb")
    assert set(info.algorithms) == {-7, -8}
    assert kiosk.client.pin_retries() == 8


def test_callbacks_see_touches_and_pin_prompts_with_retries() -> None:
    kiosk = Kiosk()
    enrolled(kiosk)
    assert kiosk.touches == 1
    assert kiosk.pin_prompts == [PinPrompt("auth.example", 8)]
    response = sign_in(kiosk.client)
    assert response["type"] == "public-key"
    assert kiosk.touches == 2


def test_wrong_pin_counts_down_until_the_key_blocks() -> None:
    kiosk = Kiosk()
    enrolled(kiosk)
    kiosk.pin = "0000"
    seen: list[tuple[str, int | None]] = []
    for _ in range(12):
        error = failure(lambda: sign_in(kiosk.client))
        seen.append((error.code, getattr(error, "retries_left", None)))
        if isinstance(error, KeyPinAuthBlocked):
            kiosk.device.power_cycle()  # "remove the key and insert it again"
        if isinstance(error, KeyPinBlocked):
            break
    codes = [code for code, _ in seen]
    assert codes[:3] == ["key_wrong_pin", "key_wrong_pin", "key_pin_auth_blocked"]
    assert seen[0] == ("key_wrong_pin", 7)
    assert seen[1] == ("key_wrong_pin", 6)
    assert codes[-1] == "key_pin_blocked"
    assert "reset" in str(failure(lambda: sign_in(kiosk.client)))
    # Even the right PIN cannot help now.
    kiosk.pin = PIN
    assert isinstance(failure(lambda: sign_in(kiosk.client)), KeyPinBlocked)
    assert KeyWrongPin(1).message == "Wrong PIN: 1 try left before the key locks."


def test_no_pin_yet_then_set_one() -> None:
    kiosk = Kiosk(new_key(pin=None))
    error = failure(lambda: enrolled(kiosk))
    assert isinstance(error, KeyPinNotSet)
    assert error.code == "key_pin_not_set"
    assert isinstance(failure(lambda: kiosk.client.set_pin("12")), KeyPinPolicy)
    kiosk.client.set_pin(PIN)
    enrolled(kiosk)


def test_nobody_types_the_pin() -> None:
    kiosk = Kiosk(pin=None)
    assert isinstance(failure(lambda: enrolled(kiosk)), KeyPinRequired)


def test_no_credential_for_this_site_and_already_enrolled() -> None:
    kiosk = Kiosk()
    assert isinstance(failure(lambda: sign_in(kiosk.client)), KeyNoCredential)
    enrolled(kiosk)
    stored = kiosk.device.authenticator.credentials()[0].credential_id
    options = registration_options(challenge=new_challenge(), exclude=[stored])
    assert isinstance(failure(lambda: kiosk.register(options)), KeyAlreadyEnrolled)


def test_the_person_refuses_on_the_key() -> None:
    kiosk = Kiosk()
    enrolled(kiosk)
    kiosk.device.authenticator.presence = always_deny
    assert isinstance(failure(lambda: sign_in(kiosk.client)), KeyDenied)


def test_nobody_touches_the_key_in_time() -> None:
    kiosk = Kiosk()
    enrolled(kiosk)
    kiosk.device.authenticator.presence = TouchSensor(timeout=0.05)
    assert isinstance(failure(lambda: sign_in(kiosk.client)), KeyTimedOut)
    # The kiosk's own limit, while the key would wait longer: a time-out, not a cancel.
    kiosk.device.authenticator.presence = TouchSensor(timeout=30)
    kiosk.client.timeout = 0.1
    started = time.monotonic()
    error = failure(lambda: sign_in(kiosk.client))
    assert isinstance(error, KeyTimedOut)
    assert time.monotonic() - started < 5


def test_the_cancel_event_stops_a_key_waiting_for_a_touch() -> None:
    kiosk = Kiosk()
    enrolled(kiosk)
    sensor = TouchSensor(timeout=30)
    kiosk.device.authenticator.presence = sensor
    cancel = threading.Event()
    client = SecurityKeyClient(kiosk.device, origin=ORIGIN, on_pin=lambda _: PIN, cancel=cancel)

    def press_cancel() -> None:
        sensor.waiting.wait(10)
        cancel.set()

    threading.Thread(target=press_cancel, daemon=True).start()
    error = failure(lambda: sign_in(client))
    assert isinstance(error, KeyCancelled)
    assert error.code == "key_cancelled"
    # Still set: the next call is cancelled at once.
    assert isinstance(failure(lambda: sign_in(client)), KeyCancelled)


class FlakyKey(CtapDevice):
    """The software key, pulled out (OSError, as hidraw says it) after ``calls`` calls,
    or answering ``status`` to getAssertion."""

    def __init__(self, inner: VirtualAuthenticator, *, calls: int = 10**6, status: int = 0) -> None:
        self.inner = inner
        self.calls_left = calls
        self.status = status

    @property
    def capabilities(self) -> int:
        return self.inner.capabilities

    def call(
        self,
        cmd: int,
        data: bytes = b"",
        event: threading.Event | None = None,
        on_keepalive: Callable[[STATUS], None] | None = None,
    ) -> bytes:
        self.calls_left -= 1
        if self.calls_left < 0:
            raise OSError(19, "No such device")
        if self.status and cmd == CTAPHID.CBOR and data[:1] == b"\x02":
            return bytes([self.status])
        return self.inner.call(cmd, data, event, on_keepalive)

    @classmethod
    def list_devices(cls) -> Any:
        return iter(())


def test_a_key_pulled_out_mid_ceremony() -> None:
    kiosk = Kiosk()
    enrolled(kiosk)
    flaky = FlakyKey(kiosk.device)
    client = SecurityKeyClient(flaky, origin=ORIGIN, on_pin=lambda _: PIN)
    flaky.calls_left = 2
    error = failure(lambda: sign_in(client))
    assert isinstance(error, KeyRemoved)
    assert error.code == "key_removed"


def test_built_in_verification_blocked() -> None:
    kiosk = Kiosk()
    enrolled(kiosk)
    client = SecurityKeyClient(
        FlakyKey(kiosk.device, status=CtapError.ERR.UV_BLOCKED), origin=ORIGIN, on_pin=lambda _: PIN
    )
    error = failure(lambda: sign_in(client))
    assert isinstance(error, KeyUvBlocked)
    assert error.code == "key_uv_blocked"


def test_choosing_between_people_on_one_key() -> None:
    kiosk = Kiosk()
    enrolled(kiosk, "alice")
    enrolled(kiosk, "bob")
    offered: list[Account] = []

    def choose(accounts: Any) -> int:
        offered.extend(accounts)
        return 1

    response = kiosk.client.authenticate(request_options(new_challenge()), choose=choose)
    assert [a.name for a in offered] == ["bob", "alice"]
    from tests.unit.factors.webauthn_keys import unb64

    assert unb64(response["response"]["userHandle"]) == b"alice"
    assert isinstance(
        failure(
            lambda: kiosk.client.authenticate(request_options(new_challenge()), choose=lambda _: 5)
        ),
        KeyCancelled,
    )


def test_keys_are_found_through_a_key_finder() -> None:
    device = new_key()
    client = SecurityKeyClient.find(KeyFinder([FixedKeys([device])]), origin=ORIGIN, wait=1)
    assert client.device is device
    with pytest.raises(NoSecurityKey):
        SecurityKeyClient.find(KeyFinder([]), origin=ORIGIN, wait=0.05)
