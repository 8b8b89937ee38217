"""Every sign-in flow of the kiosk window against a real token service process: the
software security key, the virtual PIV card, codes from a TOTP seed."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from PySide6.QtCore import Qt

from tests.gui.conftest import CARD_PIN, GuiService, Kiosk, Person
from tests.unit.virtual.ceremony import PIN as KEY_PIN
from tokenstile.kiosk.messages import Severity
from tokenstile.kiosk.window import EndReason, Screen
from tokenstile.virtual.piv_provision import create_piv_card

WAIT = 10_000


def wait_screen(qtbot: Any, kiosk: Kiosk, screen: Screen) -> None:
    qtbot.waitUntil(lambda: kiosk.window.current_screen is screen, timeout=WAIT)


def type_pin(qtbot: Any, kiosk: Kiosk, pin: str) -> None:
    wait_screen(qtbot, kiosk, Screen.PIN)
    field = kiosk.window._pin.field
    qtbot.keyClicks(field, pin)
    qtbot.keyClick(field, Qt.Key.Key_Return)


def tap_pin(qtbot: Any, kiosk: Kiosk, pin: str) -> None:
    """The on-screen pad, digit by digit, then OK."""
    wait_screen(qtbot, kiosk, Screen.PIN)
    pad = kiosk.window._pin
    for digit in pin:
        qtbot.mouseClick(pad.digits[digit], Qt.MouseButton.LeftButton)
    qtbot.mouseClick(pad.ok, Qt.MouseButton.LeftButton)


def pin_hint(kiosk: Kiosk) -> str:
    return kiosk.window._pin.hint.text()


def signed_in_as(qtbot: Any, kiosk: Kiosk, person: Person) -> None:
    wait_screen(qtbot, kiosk, Screen.SIGNED_IN)
    session = kiosk.window.session
    assert session is not None
    assert session.username == person.username
    assert kiosk.window._who.text() == person.display_name  # the service's name for them
    assert kiosk.window._remaining.text().endswith("left in this session")


def enter_code(qtbot: Any, kiosk: Kiosk, username: str, code: str) -> None:
    window = kiosk.window
    if window.current_screen is not Screen.CODE:
        qtbot.mouseClick(
            window._locked_code if window.locked else window._sign_in_code,
            Qt.MouseButton.LeftButton,
        )
    wait_screen(qtbot, kiosk, Screen.CODE)
    entry = window._code
    entry.username.clear()
    qtbot.keyClicks(entry.username, username)
    qtbot.keyClick(entry.username, Qt.Key.Key_Return)
    qtbot.keyClicks(entry.code, code)
    qtbot.keyClick(entry.code, Qt.Key.Key_Return)


def banner(kiosk: Kiosk) -> str:
    problem = kiosk.window.problem
    return problem.text if problem is not None else ""


def settled(qtbot: Any, kiosk: Kiosk) -> None:
    qtbot.waitUntil(lambda: not kiosk.window.busy, timeout=WAIT)
    assert kiosk.window.wait_for_worker(WAIT)


def ends_and_revokes(
    qtbot: Any, kiosk: Kiosk, service: GuiService, end: Callable[[], None], reason: EndReason
) -> None:
    """``end()`` ends the session here at once, wipes it, and the service refuses it."""
    refresh = kiosk.store.refresh_token
    assert refresh is not None
    with qtbot.waitSignal(kiosk.window.session_ended, timeout=WAIT) as ended:
        end()
    assert ended.args == [reason]
    assert kiosk.window.current_screen is Screen.SIGN_IN
    settled(qtbot, kiosk)
    assert kiosk.store.document is None
    assert not service.refresh_works(refresh)


def test_sign_in_invites_every_enrolled_factor(
    qtbot: Any, make_kiosk: Any, gui_service: GuiService
) -> None:
    kiosk = make_kiosk(gui_service)
    gui_service.person()
    kiosk.window.check_service()
    everything = "Tap or insert your security key · Insert your card · Enter the code from your fob"
    qtbot.waitUntil(lambda: kiosk.window._invitation.text() == everything, timeout=WAIT)
    assert kiosk.window.current_screen is Screen.SIGN_IN
    assert kiosk.window._sign_in_code.isVisible()


def test_key_with_a_wrong_pin_then_the_right_one_and_sign_out_revokes(
    qtbot: Any, make_kiosk: Any, gui_service: GuiService
) -> None:
    alice = gui_service.person()
    kiosk = make_kiosk(gui_service)
    kiosk.keys.present(alice.key)
    type_pin(qtbot, kiosk, "0000")
    qtbot.waitUntil(lambda: "Wrong PIN" in pin_hint(kiosk), timeout=WAIT)
    assert pin_hint(kiosk) == "Wrong PIN: 7 tries left before the key locks."
    tap_pin(qtbot, kiosk, KEY_PIN)
    signed_in_as(qtbot, kiosk, alice)
    assert kiosk.window.session is not None
    assert kiosk.window.session.factor == "fido2"

    def sign_out() -> None:
        qtbot.mouseClick(kiosk.window._sign_out_button, Qt.MouseButton.LeftButton)

    ends_and_revokes(qtbot, kiosk, gui_service, sign_out, EndReason.SIGNED_OUT)


def test_card_wrong_pin_shows_tries_left_and_pulling_it_signs_out(
    qtbot: Any, make_kiosk: Any, gui_service: GuiService
) -> None:
    alice = gui_service.person()
    kiosk = make_kiosk(gui_service)
    kiosk.reader.insert(alice.card)
    type_pin(qtbot, kiosk, "999999")
    qtbot.waitUntil(lambda: "Wrong PIN" in pin_hint(kiosk), timeout=WAIT)
    assert pin_hint(kiosk) == "Wrong PIN: 2 tries left before the card locks."
    type_pin(qtbot, kiosk, CARD_PIN)
    signed_in_as(qtbot, kiosk, alice)
    ends_and_revokes(qtbot, kiosk, gui_service, kiosk.reader.pull, EndReason.CARD_REMOVED)
    assert banner(kiosk) == "Signed out: the card was taken out."


def test_blocked_card_pin(qtbot: Any, make_kiosk: Any, gui_service: GuiService) -> None:
    alice = gui_service.person(card_pin_retries=2)
    kiosk = make_kiosk(gui_service)
    kiosk.reader.insert(alice.card)
    type_pin(qtbot, kiosk, "111111")
    qtbot.waitUntil(lambda: "1 try left" in pin_hint(kiosk), timeout=WAIT)
    type_pin(qtbot, kiosk, "222222")
    qtbot.waitUntil(lambda: kiosk.window.problem is not None, timeout=WAIT)
    assert banner(kiosk) == "Your card's PIN is blocked: take the card to the service desk."
    assert kiosk.window.current_screen is Screen.SIGN_IN
    assert kiosk.window.session is None


@pytest.mark.parametrize(
    ("device", "said"),
    [
        ("card", "The card was taken out too soon: insert it again to sign in."),
        ("key", "The key was taken away too soon: insert or tap it again."),
    ],
)
def test_taken_away_while_the_pin_is_asked(
    qtbot: Any, make_kiosk: Any, gui_service: GuiService, device: str, said: str
) -> None:
    alice = gui_service.person()
    kiosk = make_kiosk(gui_service)
    if device == "card":
        put, take, pin = (lambda: kiosk.reader.insert(alice.card)), kiosk.reader.pull, CARD_PIN
    else:
        put, take, pin = (lambda: kiosk.keys.present(alice.key)), kiosk.keys.remove, KEY_PIN
    put()
    wait_screen(qtbot, kiosk, Screen.PIN)
    take()
    qtbot.waitUntil(lambda: kiosk.window.problem is not None, timeout=WAIT)
    assert banner(kiosk) == said
    assert kiosk.window.current_screen is Screen.SIGN_IN
    settled(qtbot, kiosk)
    assert kiosk.store.document is None
    # Put back, it signs in.
    put()
    type_pin(qtbot, kiosk, pin)
    signed_in_as(qtbot, kiosk, alice)


def test_a_card_nobody_enrolled_goes_to_the_service_desk(
    qtbot: Any, make_kiosk: Any, gui_service: GuiService
) -> None:
    kiosk = make_kiosk(gui_service)
    kiosk.reader.insert(create_piv_card(holder="Stranger", pin=CARD_PIN))
    # The service answers every card's certificate alike (a stranger must not learn who
    # is enrolled), so the refusal comes after the PIN, when the card has signed.
    type_pin(qtbot, kiosk, CARD_PIN)
    qtbot.waitUntil(lambda: kiosk.window.problem is not None, timeout=WAIT)
    assert banner(kiosk) == "This card is not enrolled here: see the service desk."
    assert kiosk.window.problem is not None
    assert kiosk.window.problem.severity is Severity.ERROR


def test_code_wrong_then_right_and_cancel_with_escape(
    qtbot: Any, make_kiosk: Any, gui_service: GuiService
) -> None:
    alice = gui_service.person()
    kiosk = make_kiosk(gui_service)
    wrong = f"{(int(alice.code()) + 1) % 1_000_000:06d}"
    enter_code(qtbot, kiosk, alice.username, wrong)
    qtbot.waitUntil(lambda: kiosk.window.problem is not None, timeout=WAIT)
    assert banner(kiosk) == (
        "That username and code do not match: check the code on your fob and try again."
    )
    # Escape leaves the code entry.
    qtbot.mouseClick(kiosk.window._sign_in_code, Qt.MouseButton.LeftButton)
    wait_screen(qtbot, kiosk, Screen.CODE)
    qtbot.keyClick(kiosk.window._code.username, Qt.Key.Key_Escape)
    wait_screen(qtbot, kiosk, Screen.SIGN_IN)
    enter_code(qtbot, kiosk, alice.username, alice.code())
    signed_in_as(qtbot, kiosk, alice)
    assert kiosk.window.session is not None
    assert kiosk.window.session.factor == "totp"


def test_a_second_person_switches_user_after_the_first_is_revoked_and_wiped(
    qtbot: Any, make_kiosk: Any, gui_service: GuiService
) -> None:
    alice = gui_service.person()
    bob = gui_service.person()
    kiosk = make_kiosk(gui_service)
    enter_code(qtbot, kiosk, alice.username, alice.code())
    signed_in_as(qtbot, kiosk, alice)
    first = kiosk.store.refresh_token
    assert first is not None
    assert kiosk.store.events == ["save"]

    kiosk.keys.present(bob.key)
    type_pin(qtbot, kiosk, KEY_PIN)
    with qtbot.waitSignal(kiosk.window.session_started, timeout=WAIT):
        pass
    signed_in_as(qtbot, kiosk, bob)
    # Alice's session left the keychain before Bob's went in, and the service ended it.
    assert kiosk.store.events == ["save", "clear", "save"]
    assert not gui_service.refresh_works(first)
    assert kiosk.store.refresh_token not in (None, first)


def test_idle_locks_and_the_same_person_unlocks(
    qtbot: Any, make_kiosk: Any, gui_service: GuiService
) -> None:
    alice = gui_service.person()
    kiosk = make_kiosk(gui_service)
    kiosk.keys.present(alice.key)
    type_pin(qtbot, kiosk, KEY_PIN)
    signed_in_as(qtbot, kiosk, alice)
    session = kiosk.window.session
    assert session is not None
    kiosk.keys.remove()

    # Input keeps it unlocked; the idle time counts from the last input.
    kiosk.clock.advance(200)
    qtbot.keyClick(kiosk.window._sign_out_button, Qt.Key.Key_Shift)
    kiosk.clock.advance(200)
    qtbot.wait(100)  # a few ticks of the kiosk's clock (20 ms): still signed in
    assert kiosk.window.current_screen is Screen.SIGNED_IN
    kiosk.clock.advance(101)
    wait_screen(qtbot, kiosk, Screen.LOCKED)
    assert kiosk.window.locked
    assert kiosk.window._locked_who.text() == f"{alice.display_name} is signed in."

    kiosk.keys.present(alice.key)
    type_pin(qtbot, kiosk, KEY_PIN)
    wait_screen(qtbot, kiosk, Screen.SIGNED_IN)
    assert not kiosk.window.locked
    assert kiosk.window.session == session  # the same session, unlocked
    assert kiosk.store.events == ["save"]


def test_the_session_lifetime_ends_it(qtbot: Any, make_kiosk: Any, gui_service: GuiService) -> None:
    alice = gui_service.person()
    kiosk = make_kiosk(gui_service)
    enter_code(qtbot, kiosk, alice.username, alice.code())
    signed_in_as(qtbot, kiosk, alice)
    # The service's own end of the session (its lifetime: an hour), not the kiosk's guess.
    assert kiosk.window.session is not None
    assert kiosk.window.session.session_expires_at is not None
    assert kiosk.window._remaining.text() in (
        "1 h 00 min left in this session",
        "59 min left in this session",
    )
    ends_and_revokes(
        qtbot, kiosk, gui_service, lambda: kiosk.clock.advance(3601), EndReason.SESSION_ENDED
    )
    assert banner(kiosk) == "Your session has ended: sign in again."


def test_server_down_is_said_and_retried_until_it_is_back(
    qtbot: Any, make_kiosk: Any, own_service: GuiService
) -> None:
    from tests.conftest import start_server

    alice = own_service.person()
    kiosk = make_kiosk(own_service)
    own_service.server.stop()
    enter_code(qtbot, kiosk, alice.username, alice.code())
    qtbot.waitUntil(lambda: kiosk.window.problem is not None, timeout=WAIT)
    assert banner(kiosk) == "The sign-in service cannot be reached: retrying…"
    assert kiosk.window.current_screen is Screen.SIGN_IN
    qtbot.wait(300)  # several retries (every 0.1 s) while it is down: the banner stays
    assert banner(kiosk) == "The sign-in service cannot be reached: retrying…"

    settings = own_service.server.settings
    own_service.server = start_server(settings, own_service.server.log_path)
    qtbot.waitUntil(lambda: kiosk.window.problem is None, timeout=WAIT)
    enter_code(qtbot, kiosk, alice.username, alice.code())
    signed_in_as(qtbot, kiosk, alice)
