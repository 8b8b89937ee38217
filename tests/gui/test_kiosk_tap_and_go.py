"""Tap-and-go in the kiosk window (issue 17), against a real token service process whose
default kiosk is in the group ``ward-3`` (8-hour shifts), in both states of the kiosk's
``kiosk_tap_and_go``: the *End shift* button (``POST /logout/shift``: the shift ends, the
next sign-in needs the PIN), a fob's code alone at the code entry, and a refused tap
shown on screen with the service's sentence instead of falling back silently."""

from __future__ import annotations

import time
from dataclasses import replace
from typing import Any

import jwt
import pytest
from PySide6.QtCore import Qt

from tests.gui.conftest import GUI_RULES, GuiService, Kiosk, Person
from tests.gui.test_kiosk_flows import WAIT, banner, enter_code, signed_in_as, wait_screen
from tokenstile.broker import Broker
from tokenstile.kiosk.window import Screen
from tokenstile.store.shift_repository import KioskGroups
from tokenstile.tokens.shifts import TAP_REFUSALS

KIOSK = "tokenstile-kiosk"


def ward(service: GuiService) -> None:
    groups = KioskGroups(service.deployment.store, clock=service.deployment.clock)
    groups.set_shift_hours("ward-3", 8, by="test")
    groups.assign(KIOSK, "ward-3", by="test")


def kiosk_for(make_kiosk: Any, service: GuiService, tap_and_go: bool) -> Kiosk:
    kiosk: Kiosk = make_kiosk(service, rules=replace(GUI_RULES, tap_and_go=tap_and_go))
    kiosk.service.tap_and_go = tap_and_go  # the same setting drives the sign-in service
    return kiosk


def events(service: GuiService, event: str) -> list[dict[str, Any]]:
    return [e for e in service.deployment.store.audit_entries() if e["event"] == event]


def full_code_sign_in(qtbot: Any, kiosk: Kiosk, person: Person) -> None:
    enter_code(qtbot, kiosk, person.username, person.code())
    signed_in_as(qtbot, kiosk, person)


def acr(kiosk: Kiosk) -> str:
    claims = jwt.decode(
        Broker(store=kiosk.store).access_token(), options={"verify_signature": False}
    )
    value: str = claims["acr"]
    return value


@pytest.mark.parametrize("tap_and_go", [True, False])
def test_the_end_shift_button_ends_the_shift(
    qtbot: Any, make_kiosk: Any, own_service: GuiService, tap_and_go: bool
) -> None:
    ward(own_service)
    alice = own_service.person()
    kiosk = kiosk_for(make_kiosk, own_service, tap_and_go)
    full_code_sign_in(qtbot, kiosk, alice)
    button = kiosk.window._end_shift_button
    assert button.isVisible() is tap_and_go
    assert kiosk.window._sign_out_button.isVisible()
    if not tap_and_go:
        return
    qtbot.mouseClick(button, Qt.MouseButton.LeftButton)
    wait_screen(qtbot, kiosk, Screen.SIGN_IN)
    assert banner(kiosk) == "Your shift has ended: sign in with your PIN."
    assert kiosk.window.wait_for_worker(WAIT)
    qtbot.waitUntil(lambda: bool(events(own_service, "shift_grant_ended")), timeout=WAIT)
    [ended] = events(own_service, "shift_grant_ended")
    assert ended["detail"]["reason"] == "shift_end"
    assert kiosk.store.document is None  # wiped here as Sign out wipes it


@pytest.mark.parametrize("tap_and_go", [True, False])
def test_a_code_alone_signs_in_inside_the_shift_and_a_refusal_is_shown(
    qtbot: Any, make_kiosk: Any, own_service: GuiService, tap_and_go: bool
) -> None:
    ward(own_service)
    alice = own_service.person()
    kiosk = kiosk_for(make_kiosk, own_service, tap_and_go)
    window = kiosk.window
    qtbot.mouseClick(window._sign_in_code, Qt.MouseButton.LeftButton)
    wait_screen(qtbot, kiosk, Screen.CODE)
    entry = window._code
    entry.username.clear()
    qtbot.keyClicks(entry.code, alice.code())
    assert entry.sign_in.isEnabled() is tap_and_go  # the code alone, only with taps on
    if not tap_and_go:
        return
    # No shift open yet: the service's own sentence, on screen.
    qtbot.keyClick(entry.code, Qt.Key.Key_Return)
    qtbot.waitUntil(lambda: banner(kiosk) == TAP_REFUSALS["fob_no_match"], timeout=WAIT)
    # A full sign-in opens the shift; after a plain sign-out the code alone re-enters.
    full_code_sign_in(qtbot, kiosk, alice)
    qtbot.mouseClick(window._sign_out_button, Qt.MouseButton.LeftButton)
    wait_screen(qtbot, kiosk, Screen.SIGN_IN)
    assert window.wait_for_worker(WAIT)
    # The service's clock is the real one: the fob's next code (the full sign-in used
    # this step's; the service's window takes the next step too).
    enter_code(qtbot, kiosk, "", alice.code(at=time.time() + 30))
    signed_in_as(qtbot, kiosk, alice)
    assert acr(kiosk) == "tap"


@pytest.mark.parametrize("tap_and_go", [True, False])
def test_a_refused_key_tap_is_shown_above_the_pin_pad(
    qtbot: Any, make_kiosk: Any, own_service: GuiService, tap_and_go: bool
) -> None:
    ward(own_service)
    alice = own_service.person()
    kiosk = kiosk_for(make_kiosk, own_service, tap_and_go)
    kiosk.keys.present(alice.key)  # no shift open: a tap is refused, the PIN follows
    wait_screen(qtbot, kiosk, Screen.PIN)
    if tap_and_go:
        assert banner(kiosk) == TAP_REFUSALS["no_grant"]
    else:
        assert banner(kiosk) == ""
        assert events(own_service, "tap_refused") == []
