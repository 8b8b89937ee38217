"""Each shared-workstation rule in its other state, against a real token service process:
card removal that does not sign out, switching user turned off (the second person is
declined), no sign-out at the session's end, no idle lock, and a switch whose revocation
of the first person fails (the service down, or answering 500).

The "on" paths are in ``test_kiosk_flows.py``. The kiosk's clock is a ``FrozenClock``: a
rule is enforced on the window's tick, so a test moves the clock and runs one tick
(``tick``) rather than waiting for one.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace
from typing import Any
from urllib.parse import parse_qs

import httpx

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
from tokenstile.kiosk.window import EndReason, Screen


def tick(kiosk: Kiosk, seconds: float) -> None:
    """Move the kiosk's clock on and run its tick, where the rules are enforced."""
    kiosk.clock.advance(seconds)
    kiosk.window._on_tick()


def record_ends(kiosk: Kiosk) -> list[EndReason]:
    ended: list[EndReason] = []
    kiosk.window.session_ended.connect(ended.append)
    return ended


class RevokeFault(httpx.BaseTransport):
    """The broker's wire to the real service, with a hand on ``POST /revoke``: ``fault``
    runs first and may answer in the service's place (None: the request goes on)."""

    def __init__(self) -> None:
        self._wire = httpx.HTTPTransport()
        self.fault: Callable[[httpx.Request], httpx.Response | None] | None = None
        self.revoked: list[str] = []  # the tokens asked to be revoked, in order

    @property
    def revokes(self) -> int:
        return len(self.revoked)

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        if request.method == "POST" and request.url.path == "/revoke":
            form = parse_qs(request.read().decode())
            self.revoked.append(form["token"][0])
            if self.fault is not None:
                answer = self.fault(request)
                if answer is not None:
                    return answer
        return self._wire.handle_request(request)

    def close(self) -> None:
        self._wire.close()


# -- card removal off -------------------------------------------------------------------------


def test_card_removal_off_pulling_the_card_keeps_the_session(
    qtbot: Any, make_kiosk: Any, gui_service: GuiService
) -> None:
    alice = gui_service.person()
    kiosk = make_kiosk(gui_service, rules=replace(GUI_RULES, sign_out_on_card_removal=False))
    ended = record_ends(kiosk)
    kiosk.reader.insert(alice.card)
    type_pin(qtbot, kiosk, CARD_PIN)
    signed_in_as(qtbot, kiosk, alice)
    session = kiosk.window.session
    refresh = kiosk.store.refresh_token
    assert refresh is not None

    kiosk.reader.pull()  # the event reaches the window on this thread, before pull returns
    tick(kiosk, 1)
    # Still signed in, on the signed-in screen, with no message; nothing revoked or wiped.
    assert kiosk.window.current_screen is Screen.SIGNED_IN
    assert kiosk.window.session == session
    assert kiosk.window.problem is None
    assert ended == []
    settled(qtbot, kiosk)
    assert kiosk.store.events == ["save"]
    assert gui_service.refresh_works(refresh)

    # The card back in: its PIN unlocks the same session (proof of who, nothing new saved).
    kiosk.window.lock()
    kiosk.reader.insert(alice.card)
    type_pin(qtbot, kiosk, CARD_PIN)
    wait_screen(qtbot, kiosk, Screen.SIGNED_IN)
    settled(qtbot, kiosk)
    assert kiosk.window.session == session
    assert kiosk.store.events == ["save"]


# -- switching user off: the second person is declined ------------------------------------------


def test_switch_user_off_declines_a_second_person_and_keeps_the_first(
    qtbot: Any, make_kiosk: Any, gui_service: GuiService
) -> None:
    alice = gui_service.person()
    bob = gui_service.person()
    wire = RevokeFault()
    kiosk = make_kiosk(gui_service, rules=replace(GUI_RULES, switch_user=False), transport=wire)
    ended = record_ends(kiosk)
    enter_code(qtbot, kiosk, alice.username, alice.code())
    signed_in_as(qtbot, kiosk, alice)
    session = kiosk.window.session
    first = kiosk.store.refresh_token
    assert first is not None

    kiosk.keys.present(bob.key)
    type_pin(qtbot, kiosk, KEY_PIN)
    qtbot.waitUntil(lambda: kiosk.window.problem is not None, timeout=WAIT)
    assert banner(kiosk) == "Someone else is signed in here: they must sign out first."
    settled(qtbot, kiosk)
    assert kiosk.window.current_screen is Screen.SIGNED_IN
    assert kiosk.window.session == session
    assert ended == []
    # Bob's grant was never kept, and revoked; Alice's is untouched here and at the service.
    assert kiosk.store.events == ["save"]
    assert kiosk.store.refresh_token == first
    assert len(wire.revoked) == 1
    assert wire.revoked[0] != first
    assert not gui_service.refresh_works(wire.revoked[0])
    assert gui_service.refresh_works(first)


def test_switch_user_off_declines_at_the_locked_screen_and_the_owner_still_unlocks(
    qtbot: Any, make_kiosk: Any, gui_service: GuiService
) -> None:
    alice = gui_service.person()
    bob = gui_service.person()
    kiosk = make_kiosk(gui_service, rules=replace(GUI_RULES, switch_user=False))
    kiosk.keys.present(alice.key)
    type_pin(qtbot, kiosk, KEY_PIN)
    signed_in_as(qtbot, kiosk, alice)
    kiosk.keys.remove()
    session = kiosk.window.session
    kiosk.window.lock()
    wait_screen(qtbot, kiosk, Screen.LOCKED)

    enter_code(qtbot, kiosk, bob.username, bob.code())
    qtbot.waitUntil(lambda: kiosk.window.problem is not None, timeout=WAIT)
    assert banner(kiosk) == "Someone else is signed in here: they must sign out first."
    settled(qtbot, kiosk)
    assert kiosk.window.current_screen is Screen.LOCKED
    assert kiosk.window.locked
    assert kiosk.window.session == session

    kiosk.keys.present(alice.key)
    type_pin(qtbot, kiosk, KEY_PIN)
    wait_screen(qtbot, kiosk, Screen.SIGNED_IN)
    assert kiosk.window.session == session
    assert kiosk.store.events == ["save"]


# -- no sign-out at the session's end --------------------------------------------------------------


def test_session_end_off_keeps_the_screen_says_it_ended_and_the_next_sign_in_is_fresh(
    qtbot: Any, make_kiosk: Any, gui_service: GuiService
) -> None:
    alice = gui_service.person()
    rules = replace(GUI_RULES, sign_out_at_session_end=False, idle_lock_seconds=0.0)
    kiosk = make_kiosk(gui_service, rules=rules)
    ended = record_ends(kiosk)
    enter_code(qtbot, kiosk, alice.username, alice.code())
    signed_in_as(qtbot, kiosk, alice)
    session = kiosk.window.session
    assert session is not None
    assert session.session_expires_at is not None  # the service's end: an hour

    tick(kiosk, 3601)
    # Not signed out, nothing revoked or wiped by the kiosk; the screen says it is over.
    assert kiosk.window.current_screen is Screen.SIGNED_IN
    assert kiosk.window.session == session
    assert ended == []
    assert kiosk.window._remaining.text() == "This session has ended: sign in again to go on."
    settled(qtbot, kiosk)
    assert kiosk.store.events == ["save"]

    # The same person again (by key: a code is taken once): a fresh session replaces the
    # ended one (not an "unlock" of a session the service no longer honours), and the ended
    # one is reported ended.
    kiosk.keys.present(alice.key)
    type_pin(qtbot, kiosk, KEY_PIN)
    qtbot.waitUntil(lambda: ended == [EndReason.SESSION_ENDED], timeout=WAIT)
    wait_screen(qtbot, kiosk, Screen.SIGNED_IN)
    fresh = kiosk.window.session
    assert fresh is not None
    assert (fresh.username, fresh.factor) == (alice.username, "fido2")
    assert fresh.sid != session.sid
    assert kiosk.store.events == ["save", "save"]


def test_session_end_off_lets_another_person_in_even_with_switching_off(
    qtbot: Any, make_kiosk: Any, gui_service: GuiService
) -> None:
    alice = gui_service.person()
    bob = gui_service.person()
    rules = replace(
        GUI_RULES, sign_out_at_session_end=False, switch_user=False, idle_lock_seconds=0.0
    )
    kiosk = make_kiosk(gui_service, rules=rules)
    enter_code(qtbot, kiosk, alice.username, alice.code())
    signed_in_as(qtbot, kiosk, alice)
    tick(kiosk, 3601)
    # Alice's session is over: nobody is really signed in, so Bob is not declined.
    enter_code(qtbot, kiosk, bob.username, bob.code())
    qtbot.waitUntil(
        lambda: kiosk.window.session is not None and kiosk.window.session.username == bob.username,
        timeout=WAIT,
    )
    assert kiosk.window.current_screen is Screen.SIGNED_IN
    assert banner(kiosk) == ""


# -- no idle lock -----------------------------------------------------------------------------


def test_idle_lock_off_never_locks(qtbot: Any, make_kiosk: Any, gui_service: GuiService) -> None:
    alice = gui_service.person()
    kiosk = make_kiosk(gui_service, rules=replace(GUI_RULES, idle_lock_seconds=0.0))
    enter_code(qtbot, kiosk, alice.username, alice.code())
    signed_in_as(qtbot, kiosk, alice)
    for _ in range(5):  # 50 minutes without input, inside the hour the session lasts
        tick(kiosk, 600)
    assert kiosk.window._input.idle_seconds() >= 3000
    assert kiosk.window.current_screen is Screen.SIGNED_IN
    assert not kiosk.window.locked
    kiosk.window.lock()  # Lock still locks
    assert kiosk.window.current_screen is Screen.LOCKED


def test_idle_lock_on_locks_on_the_same_tick(
    qtbot: Any, make_kiosk: Any, gui_service: GuiService
) -> None:
    """The control for the test above: the same clock and tick lock when the rule is on."""
    alice = gui_service.person()
    kiosk = make_kiosk(gui_service)
    enter_code(qtbot, kiosk, alice.username, alice.code())
    signed_in_as(qtbot, kiosk, alice)
    tick(kiosk, 600)
    assert kiosk.window.locked
    assert kiosk.window.current_screen is Screen.LOCKED


# -- a switch whose revocation of the first person fails ------------------------------------------


def _switch_with_a_failing_revoke(
    qtbot: Any,
    make_kiosk: Any,
    service: GuiService,
    fault: Callable[[httpx.Request], httpx.Response | None],
) -> tuple[Kiosk, str, list[EndReason]]:
    """Alice signs in by code, Bob by key; Alice's revocation meets ``fault``. Returns the
    kiosk, Alice's refresh token and the ends reported."""
    alice = service.person()
    bob = service.person()
    wire = RevokeFault()
    kiosk = make_kiosk(service, transport=wire)
    ended = record_ends(kiosk)
    enter_code(qtbot, kiosk, alice.username, alice.code())
    signed_in_as(qtbot, kiosk, alice)
    first = kiosk.store.refresh_token
    assert first is not None

    wire.fault = fault
    kiosk.keys.present(bob.key)
    type_pin(qtbot, kiosk, KEY_PIN)
    settled(qtbot, kiosk)
    assert kiosk.window.current_screen is Screen.SIGNED_IN
    assert kiosk.window.session is not None
    assert kiosk.window.session.username == bob.username  # (named so when /userinfo answers)
    kiosk.keys.remove()
    assert wire.revokes == 1
    # Alice's session is wiped here before Bob's is saved: no app on this machine gets it.
    assert kiosk.store.events == ["save", "clear", "save"]
    assert kiosk.store.refresh_token not in (None, first)
    assert ended == [EndReason.SWITCHED]
    # And the kiosk does not let it pass for ended at the service.
    assert kiosk.window.problem is not None
    assert banner(kiosk) == (
        f"{alice.display_name} was signed out here, but the sign-in service could not be "
        "told to end their session: tell the service desk."
    )
    return kiosk, first, ended


def test_switch_when_the_service_answers_500_to_the_revocation(
    qtbot: Any, make_kiosk: Any, gui_service: GuiService
) -> None:
    def answer_500(_request: httpx.Request) -> httpx.Response:
        return httpx.Response(500, json={"error": "server_error"})

    _kiosk, first, _ended = _switch_with_a_failing_revoke(
        qtbot, make_kiosk, gui_service, answer_500
    )
    # What the banner says is true: the service still takes Alice's session.
    assert gui_service.refresh_works(first)


def test_switch_when_the_service_goes_down_before_the_revocation(
    qtbot: Any, make_kiosk: Any, own_service: GuiService
) -> None:
    def stop_the_service(_request: httpx.Request) -> None:
        own_service.server.stop()  # the request then goes on to a port nobody listens on

    _switch_with_a_failing_revoke(qtbot, make_kiosk, own_service, stop_the_service)
    assert own_service.server.process.poll() is not None


def test_switch_whose_revocation_works_says_nothing_more(
    qtbot: Any, make_kiosk: Any, gui_service: GuiService
) -> None:
    """The control: through the same wire, without a fault, no message and Alice revoked."""
    alice = gui_service.person()
    bob = gui_service.person()
    wire = RevokeFault()
    kiosk = make_kiosk(gui_service, transport=wire)
    enter_code(qtbot, kiosk, alice.username, alice.code())
    signed_in_as(qtbot, kiosk, alice)
    first = kiosk.store.refresh_token
    assert first is not None
    kiosk.keys.present(bob.key)
    type_pin(qtbot, kiosk, KEY_PIN)
    signed_in_as(qtbot, kiosk, bob)
    settled(qtbot, kiosk)
    assert wire.revokes == 1
    assert kiosk.window.problem is None
    assert not gui_service.refresh_works(first)


def test_sign_out_when_the_service_answers_500_wipes_here_and_says_so(
    qtbot: Any, make_kiosk: Any, gui_service: GuiService
) -> None:
    alice = gui_service.person()
    wire = RevokeFault()
    kiosk = make_kiosk(gui_service, transport=wire)
    enter_code(qtbot, kiosk, alice.username, alice.code())
    signed_in_as(qtbot, kiosk, alice)
    refresh = kiosk.store.refresh_token
    assert refresh is not None
    wire.fault = lambda _request: httpx.Response(500, json={"error": "server_error"})
    kiosk.window.sign_out()
    qtbot.waitUntil(lambda: kiosk.window.problem is not None, timeout=WAIT)
    settled(qtbot, kiosk)
    assert banner(kiosk) == (
        "Signed out here, but the sign-in service could not be told: "
        "tell the service desk if this keeps happening."
    )
    assert kiosk.window.current_screen is Screen.SIGN_IN
    assert kiosk.store.document is None
    assert wire.revoked == [refresh]
    assert gui_service.refresh_works(refresh)  # what the message says: the service still has it
