"""The kiosk's side of tap-and-go (issue 17), against a real ``tokenstile server`` process,
with the software key (a file, opened as the kiosk opens one) and the session saved in the
real keychain (gnome-keyring): the kiosk's ``BrokerSignIn`` first tries a tap when the
service says the kiosk's group takes taps, and falls back to the full sign-in (PIN) when
the service refuses it. Both states of each switch: the service's kiosk group (shift
length 0 or 8 hours) and the kiosk's ``kiosk_tap_and_go`` setting."""

from __future__ import annotations

import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

import jwt
import pytest
from sqlalchemy import select

from tests.integration.broker.conftest import TokenService, tokenstile
from tokenstile.broker import Broker
from tokenstile.broker.store import KeyringStore
from tokenstile.cli.fido2 import open_security_key
from tokenstile.kiosk.service import BrokerSignIn, KeyPrompts
from tokenstile.store import schema as t

pytestmark = [pytest.mark.server]

PIN = "4711"


class Person:
    """Alice at the kiosk with her key: what the kiosk asked of her, in order."""

    def __init__(self, key: Path) -> None:
        self.key = key
        self.asked: list[str] = []

    def prompts(self) -> KeyPrompts:
        def on_pin(_prompt: Any) -> str:
            self.asked.append("pin")
            return PIN

        return KeyPrompts(
            on_touch=lambda: self.asked.append("touch"), on_pin=on_pin, cancel=threading.Event()
        )

    def sign_in(self, kiosk: BrokerSignIn) -> dict[str, Any]:
        """A key sign-in at ``kiosk``, saved to the keychain as the kiosk saves it; the
        access token's claims."""
        self.asked.clear()
        key = open_security_key(f"virtual:{self.key}")
        try:
            grant = kiosk.login_fido2(key, self.prompts())
        finally:
            key.close()
        kiosk.save(grant)
        claims: dict[str, Any] = jwt.decode(
            Broker().access_token(), options={"verify_signature": False}
        )
        return claims


def manage(service: TokenService, *args: str) -> None:
    done = tokenstile("manage", "--db", service.db, *args)
    assert done.returncode == 0, done.stderr


@pytest.fixture
def ward(token_service: Callable[..., TokenService], tmp_path: Path) -> tuple[TokenService, Person]:
    """A real server whose default kiosk is in the group ``ward-3`` (shift length set by
    the test), and alice with an enrolled key."""
    service = token_service()
    key = tmp_path / "alice.key"
    assert tokenstile("virtual-key", "create", str(key), "--pin", PIN).returncode == 0
    manage(service, "fido2", "enroll", "alice", "--device", f"virtual:{key}", "--pin", PIN)
    manage(service, "kiosk-group", "set", "ward-3", "--shift-hours", "8")
    manage(service, "kiosk-group", "assign", "tokenstile-kiosk", "ward-3")
    return service, Person(key)


def open_shifts(service: TokenService) -> list[Any]:
    setup = service.deployment()
    try:
        with setup.engine.connect() as conn:
            return list(
                conn.execute(select(t.shift_grants).where(t.shift_grants.c.ended_at.is_(None)))
            )
    finally:
        setup.close()


def test_a_refused_tap_falls_back_to_the_pin_and_the_next_touch_is_a_tap(
    ward: tuple[TokenService, Person], keychain: KeyringStore
) -> None:
    service, alice = ward
    kiosk = BrokerSignIn(service.url, broker=Broker())
    try:
        # No shift yet: the tap is refused, the full sign-in follows (a second touch).
        full = alice.sign_in(kiosk)
        assert (full["acr"], alice.asked) == ("phr", ["touch", "pin", "touch"])
        assert kiosk.last_tap is not None
        assert kiosk.last_tap.startswith("No shift is open for you")
        assert len(open_shifts(service)) == 1
        # Inside the shift: one touch, no PIN, a tap session in the keychain.
        tapped = alice.sign_in(kiosk)
        assert (tapped["acr"], tapped["amr"], alice.asked) == ("tap", ["swk", "user"], ["touch"])
        assert kiosk.last_tap is None
        assert keychain.load() is not None
        session = Broker().session()
        assert session is not None
        assert (session.username, session.acr) == ("alice", "tap")
    finally:
        kiosk.close()
    refused = service.audit("tap_refused")
    assert [r["detail"]["reason"] for r in refused] == ["no_grant"]  # type: ignore[index]


def test_with_the_kiosk_setting_off_every_sign_in_is_a_full_one(
    ward: tuple[TokenService, Person], keychain: KeyringStore
) -> None:
    service, alice = ward
    kiosk = BrokerSignIn(service.url, broker=Broker(), tap_and_go=False)
    try:
        for _ in range(2):  # the second inside the shift the first one opened
            claims = alice.sign_in(kiosk)
            assert (claims["acr"], alice.asked) == ("phr", ["pin", "touch"])
            assert kiosk.last_tap is None
    finally:
        kiosk.close()
    assert len(open_shifts(service)) == 1  # the service still opens the shift
    assert service.audit("tap_refused") == []
    assert keychain.load() is not None


def test_with_the_service_off_no_tap_is_tried_and_no_shift_opens(
    ward: tuple[TokenService, Person], keychain: KeyringStore
) -> None:
    service, alice = ward
    manage(service, "kiosk-group", "set", "ward-3", "--shift-hours", "0")
    kiosk = BrokerSignIn(service.url, broker=Broker())
    try:
        for _ in range(2):
            claims = alice.sign_in(kiosk)
            assert (claims["acr"], alice.asked) == ("phr", ["pin", "touch"])
    finally:
        kiosk.close()
    assert open_shifts(service) == []
    assert service.audit("tap_refused") == []
    assert service.audit("shift_grant") == []
    assert keychain.load() is not None


def test_signing_out_at_the_end_of_the_shift_ends_it(
    ward: tuple[TokenService, Person], keychain: KeyringStore
) -> None:
    service, alice = ward
    kiosk = BrokerSignIn(service.url, broker=Broker())
    try:
        alice.sign_in(kiosk)  # refused tap, then the full sign-in opens the shift
        assert alice.sign_in(kiosk)["acr"] == "tap"
        assert kiosk.end_shift() is True
        assert keychain.load() is None
        assert open_shifts(service) == []
        # The next touch is refused as a tap and becomes a full sign-in again.
        assert alice.sign_in(kiosk)["acr"] == "phr"
        assert alice.asked == ["touch", "pin", "touch"]
        assert kiosk.last_tap is not None
        assert kiosk.last_tap.startswith("Your shift was ended")
        # A plain sign-out leaves the shift open: the next touch is a tap.
        kiosk.sign_out()
        assert alice.sign_in(kiosk)["acr"] == "tap"
    finally:
        kiosk.close()
    [ended] = service.audit("shift_grant_ended")
    assert ended["detail"] == {"group": "ward-3", "reason": "shift_end"}
