"""Parked sessions at the kiosk (issue 17), and the walk-away lock: the real window over
the real broker and a real token service process, virtual keys and cards.

With ``kiosk_park_sessions`` on, switching user parks the first person (the service stops
serving their session; the apps are told) instead of signing them out; the sign-in and
locked screens list the parked people by name; a parked person signs in again and gets
their own session back; their deadline signs them out. The "off" state of switching user
(the first person revoked and wiped) is ``test_kiosk_flows.py``'s
``test_a_second_person_switches_user_after_the_first_is_revoked_and_wiped``; a failed
revoke while switching, and switching declined, are in ``test_kiosk_rules.py``.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any

import httpx
import pytest
from PySide6.QtCore import Qt

from tests.gui.conftest import CARD_PIN, GUI_RULES, GuiService, Kiosk
from tests.gui.test_kiosk_flows import (
    WAIT,
    banner,
    enter_code,
    settled,
    signed_in_as,
    type_pin,
    wait_screen,
)
from tests.unit.virtual.ceremony import PIN as KEY_PIN
from tokenstile.broker.errors import Parked
from tokenstile.kiosk.window import EndReason, Screen

PARKING = replace(GUI_RULES, park_sessions=True)


def tick(kiosk: Kiosk, seconds: float) -> None:
    kiosk.clock.advance(seconds)
    kiosk.window._on_tick()


def parked_names(kiosk: Kiosk) -> tuple[str, ...]:
    return tuple(p.name for p in kiosk.window.parked)


def session_row(service: GuiService, sid: str) -> Any:
    with service.deployment.store.read() as tx:
        return tx.get_session(sid)


def test_switching_parks_the_first_person_who_then_comes_back_to_their_own_session(
    qtbot: Any, make_kiosk: Any, gui_service: GuiService
) -> None:
    alice = gui_service.person()
    bob = gui_service.person()
    kiosk = make_kiosk(gui_service, rules=PARKING)
    ended: list[EndReason] = []
    kiosk.window.session_ended.connect(ended.append)
    kiosk.reader.insert(alice.card)
    type_pin(qtbot, kiosk, CARD_PIN)
    signed_in_as(qtbot, kiosk, alice)
    first = kiosk.window.session
    assert first is not None
    alice_refresh = kiosk.store.refresh_token
    assert alice_refresh is not None

    # Bob's key: Alice is parked, not signed out; Bob is signed in.
    kiosk.keys.present(bob.key)
    type_pin(qtbot, kiosk, KEY_PIN)
    signed_in_as(qtbot, kiosk, bob)
    settled(qtbot, kiosk)
    kiosk.keys.remove()
    assert ended == [EndReason.PARKED]
    assert kiosk.store.events == ["save", "save", "save"]  # parked, then Bob: never cleared
    qtbot.waitUntil(lambda: parked_names(kiosk) == (alice.display_name,), timeout=WAIT)
    row = session_row(gui_service, first.sid)
    assert row.parked_until is not None
    assert row.revoked_at is None
    # An app holding Alice's refresh token gets nothing from the service meanwhile.
    assert not gui_service.refresh_works(alice_refresh)
    assert kiosk.service.broker.access_token()  # Bob's, served

    # Bob locks: the banner says who is signed in; Alice is listed by name only.
    kiosk.window.lock()
    wait_screen(qtbot, kiosk, Screen.LOCKED)
    assert kiosk.window._locked_banner.text() == f"Signed in: {bob.display_name}"
    strip = kiosk.window._screens.parked
    assert strip.isVisible()
    assert strip.names == (alice.display_name,)

    # Alice's card again: Bob is parked in turn, and Alice has her own session back.
    kiosk.reader.pull()
    kiosk.reader.insert(alice.card)
    type_pin(qtbot, kiosk, CARD_PIN)
    signed_in_as(qtbot, kiosk, alice)
    settled(qtbot, kiosk)
    back = kiosk.window.session
    assert back is not None
    assert back.sid == first.sid
    assert session_row(gui_service, first.sid).parked_until is None
    qtbot.waitUntil(lambda: parked_names(kiosk) == (bob.display_name,), timeout=WAIT)
    assert kiosk.service.broker.access_token()
    resumes = [
        e for e in gui_service.deployment.store.audit_entries() if e["event"] == "session_resume"
    ]
    assert [(e["outcome"], e["sid"]) for e in resumes][-1] == ("success", first.sid)


def test_switch_user_parks_and_the_deadline_signs_the_parked_person_out(
    qtbot: Any, make_kiosk: Any, gui_service: GuiService
) -> None:
    alice = gui_service.person()
    kiosk = make_kiosk(gui_service, rules=PARKING)
    kiosk.keys.present(alice.key)
    type_pin(qtbot, kiosk, KEY_PIN)
    signed_in_as(qtbot, kiosk, alice)
    kiosk.keys.remove()
    sid = kiosk.window.session.sid  # type: ignore[union-attr]
    assert kiosk.window._switch_button.isVisible()
    with qtbot.waitSignal(kiosk.window.session_ended, timeout=WAIT) as ended:
        qtbot.mouseClick(kiosk.window._switch_button, Qt.MouseButton.LeftButton)
    assert ended.args == [EndReason.PARKED]
    assert kiosk.window.current_screen is Screen.SIGN_IN
    assert kiosk.window.session is None
    qtbot.waitUntil(lambda: parked_names(kiosk) == (alice.display_name,), timeout=WAIT)
    assert kiosk.window._screens.parked.isVisible()
    with pytest.raises(Parked):
        kiosk.service.broker.access_token()

    # Past the deadline the kiosk signs them out: revoked at the service, gone from here.
    tick(kiosk, PARKING.park_seconds + 60)
    qtbot.waitUntil(lambda: parked_names(kiosk) == (), timeout=WAIT)
    settled(qtbot, kiosk)
    assert session_row(gui_service, sid).revoked_at is not None
    assert kiosk.store.document is None
    assert not kiosk.window._screens.parked.isVisible()


def test_parking_one_more_than_allowed_is_declined_with_a_message(
    qtbot: Any, make_kiosk: Any, gui_service: GuiService
) -> None:
    alice, bob, carol = gui_service.person(), gui_service.person(), gui_service.person()
    kiosk = make_kiosk(gui_service, rules=replace(PARKING, park_max=1))
    enter_code(qtbot, kiosk, alice.username, alice.code())
    signed_in_as(qtbot, kiosk, alice)
    kiosk.keys.present(bob.key)
    type_pin(qtbot, kiosk, KEY_PIN)
    signed_in_as(qtbot, kiosk, bob)
    kiosk.keys.remove()
    qtbot.waitUntil(lambda: parked_names(kiosk) == (alice.display_name,), timeout=WAIT)
    bob_session = kiosk.window.session

    kiosk.reader.insert(carol.card)
    type_pin(qtbot, kiosk, CARD_PIN)
    qtbot.waitUntil(lambda: "No one more can step away" in banner(kiosk), timeout=WAIT)
    settled(qtbot, kiosk)
    assert alice.display_name in banner(kiosk)
    assert kiosk.window.session == bob_session  # Bob stays; Carol's sign-in was discarded
    assert parked_names(kiosk) == (alice.display_name,)
    # The Switch user button says the same, and Bob stays signed in (locked).
    wait_screen(qtbot, kiosk, Screen.SIGNED_IN)
    qtbot.mouseClick(kiosk.window._switch_button, Qt.MouseButton.LeftButton)
    settled(qtbot, kiosk)
    qtbot.waitUntil(lambda: kiosk.window.session == bob_session, timeout=WAIT)
    assert "No one more can step away" in banner(kiosk)
    assert kiosk.service.broker.access_token()


def test_parking_off_has_no_switch_button(
    qtbot: Any, make_kiosk: Any, gui_service: GuiService
) -> None:
    alice = gui_service.person()
    kiosk = make_kiosk(gui_service)
    kiosk.keys.present(alice.key)
    type_pin(qtbot, kiosk, KEY_PIN)
    signed_in_as(qtbot, kiosk, alice)
    assert not kiosk.window._switch_button.isVisible()
    kiosk.window.park()  # ignored: parking is off
    assert kiosk.window.session is not None
    assert kiosk.window.current_screen is Screen.SIGNED_IN


def test_the_hot_key_locks_at_once_and_the_banner_names_who_is_signed_in(
    qtbot: Any, make_kiosk: Any, gui_service: GuiService
) -> None:
    alice = gui_service.person()
    kiosk = make_kiosk(gui_service)
    kiosk.keys.present(alice.key)
    type_pin(qtbot, kiosk, KEY_PIN)
    signed_in_as(qtbot, kiosk, alice)
    kiosk.window.activateWindow()
    qtbot.keyClick(kiosk.window._sign_out_button, Qt.Key.Key_L, Qt.KeyboardModifier.ControlModifier)
    wait_screen(qtbot, kiosk, Screen.LOCKED)
    assert kiosk.window.locked
    assert kiosk.window._locked_banner.text() == f"Signed in: {alice.display_name}"


def test_the_hot_key_off_does_not_lock(
    qtbot: Any, make_kiosk: Any, gui_service: GuiService
) -> None:
    alice = gui_service.person()
    kiosk = make_kiosk(gui_service, rules=replace(GUI_RULES, lock_hotkey=""))
    kiosk.keys.present(alice.key)
    type_pin(qtbot, kiosk, KEY_PIN)
    signed_in_as(qtbot, kiosk, alice)
    qtbot.keyClick(kiosk.window._sign_out_button, Qt.Key.Key_L, Qt.KeyboardModifier.ControlModifier)
    kiosk.window._on_tick()
    assert not kiosk.window.locked
    assert kiosk.window.current_screen is Screen.SIGNED_IN


class ParkFault(httpx.BaseTransport):
    """The broker's wire to the real service, with ``POST /session/park`` answering 500."""

    def __init__(self) -> None:
        self._wire = httpx.HTTPTransport()
        self.parks = 0

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        if request.method == "POST" and request.url.path == "/session/park":
            self.parks += 1
            return httpx.Response(500, json={"error": "server_error"})
        return self._wire.handle_request(request)

    def close(self) -> None:
        self._wire.close()


def test_when_the_service_cannot_park_switching_signs_the_first_person_out(
    qtbot: Any, make_kiosk: Any, gui_service: GuiService
) -> None:
    alice = gui_service.person()
    bob = gui_service.person()
    wire = ParkFault()
    kiosk = make_kiosk(gui_service, rules=PARKING, transport=wire)
    ended: list[EndReason] = []
    kiosk.window.session_ended.connect(ended.append)
    kiosk.reader.insert(alice.card)
    type_pin(qtbot, kiosk, CARD_PIN)
    signed_in_as(qtbot, kiosk, alice)
    first = kiosk.store.refresh_token
    assert first is not None
    kiosk.keys.present(bob.key)
    type_pin(qtbot, kiosk, KEY_PIN)
    signed_in_as(qtbot, kiosk, bob)
    settled(qtbot, kiosk)
    assert wire.parks == 1
    # Not parked: signed out as with parking off (revoked, wiped), and nobody is listed.
    assert ended == [EndReason.SWITCHED]
    assert kiosk.store.events == ["save", "clear", "save"]
    assert not gui_service.refresh_works(first)
    assert parked_names(kiosk) == ()


def test_a_parked_person_alone_at_the_kiosk_resumes_with_their_factor(
    qtbot: Any, make_kiosk: Any, gui_service: GuiService
) -> None:
    alice = gui_service.person()
    kiosk = make_kiosk(gui_service, rules=PARKING)
    kiosk.keys.present(alice.key)
    type_pin(qtbot, kiosk, KEY_PIN)
    signed_in_as(qtbot, kiosk, alice)
    kiosk.keys.remove()
    first = kiosk.window.session
    assert first is not None
    with qtbot.waitSignal(kiosk.window.session_ended, timeout=WAIT):
        kiosk.window.park()
    qtbot.waitUntil(lambda: parked_names(kiosk) == (alice.display_name,), timeout=WAIT)
    kiosk.keys.present(alice.key)
    type_pin(qtbot, kiosk, KEY_PIN)
    signed_in_as(qtbot, kiosk, alice)
    settled(qtbot, kiosk)
    back = kiosk.window.session
    assert back is not None
    assert back.sid == first.sid
    qtbot.waitUntil(lambda: parked_names(kiosk) == (), timeout=WAIT)
    assert not kiosk.window._screens.parked.isVisible()
    assert kiosk.service.broker.access_token()
