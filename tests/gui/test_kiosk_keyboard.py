"""Keyboard first: every page that expects input takes the focus when it appears, Enter
confirms and Escape cancels, and Tab stays on the page shown (real window, real service).

The keys go where a person's would: to whatever widget has the focus
(``QApplication.focusWidget()``), never straight to the widget the test expects.
"""

from __future__ import annotations

from typing import Any

from PySide6.QtCore import Qt
from PySide6.QtWidgets import QApplication, QWidget

from tests.gui.conftest import CARD_PIN, GuiService, Kiosk
from tests.unit.virtual.ceremony import PIN as KEY_PIN
from tokenstile.kiosk.window import Screen

WAIT = 10_000


def focused() -> QWidget:
    widget = QApplication.focusWidget()
    assert widget is not None, "nothing has the keyboard focus"
    return widget


def typed(qtbot: Any, text: str) -> None:
    qtbot.keyClicks(focused(), text)


def pressed(qtbot: Any, key: Qt.Key) -> None:
    qtbot.keyClick(focused(), key)


def shows(qtbot: Any, kiosk: Kiosk, screen: Screen) -> None:
    qtbot.waitUntil(lambda: kiosk.window.current_screen is screen, timeout=WAIT)


def settled(qtbot: Any, kiosk: Kiosk) -> None:
    qtbot.waitUntil(lambda: not kiosk.window.busy, timeout=WAIT)
    assert kiosk.window.wait_for_worker(WAIT)


def focus_is(qtbot: Any, widget: QWidget) -> None:
    qtbot.waitUntil(lambda: QApplication.focusWidget() is widget, timeout=WAIT)


def test_the_key_and_card_pin_pages_take_the_focus_enter_confirms_escape_cancels(
    qtbot: Any, make_kiosk: Any, gui_service: GuiService
) -> None:
    person = gui_service.person()
    kiosk = make_kiosk(gui_service)
    window = kiosk.window
    focus_is(qtbot, window._sign_in_code)  # the sign-in screen's one control

    # The key's PIN page: the field has the focus, whatever had it before.
    kiosk.keys.present(person.key)
    shows(qtbot, kiosk, Screen.PIN)
    focus_is(qtbot, window._pin.field)
    typed(qtbot, "12")
    pressed(qtbot, Qt.Key.Key_Escape)  # cancels the sign-in
    settled(qtbot, kiosk)
    shows(qtbot, kiosk, Screen.SIGN_IN)
    assert window.problem is not None
    assert window.problem.cancelled
    assert window._pin.field.text() == ""  # nothing typed stays on a hidden page
    focus_is(qtbot, window._sign_in_code)
    kiosk.keys.remove()
    qtbot.wait(150)  # several polls of the key watcher (every 20 ms): it saw the key go

    # Again, with the PIN and Enter: signed in, and the focus on "Sign out".
    kiosk.keys.present(person.key)
    shows(qtbot, kiosk, Screen.PIN)
    focus_is(qtbot, window._pin.field)
    typed(qtbot, KEY_PIN)
    pressed(qtbot, Qt.Key.Key_Return)
    shows(qtbot, kiosk, Screen.SIGNED_IN)
    focus_is(qtbot, window._sign_out_button)
    kiosk.keys.remove()
    # Tab stays on the page: Lock and Sign out, nothing of a hidden page.
    pressed(qtbot, Qt.Key.Key_Tab)
    assert focused() in (window._lock_button, window._sign_out_button)
    pressed(qtbot, Qt.Key.Key_Tab)
    assert focused() in (window._lock_button, window._sign_out_button)
    window._sign_out_button.setFocus()
    pressed(qtbot, Qt.Key.Key_Return)  # Enter presses the focused button: signed out
    shows(qtbot, kiosk, Screen.SIGN_IN)
    settled(qtbot, kiosk)

    # The card's PIN page, the same way; Escape cancels, Enter confirms.
    kiosk.reader.insert(person.card)
    shows(qtbot, kiosk, Screen.PIN)
    focus_is(qtbot, window._pin.field)
    pressed(qtbot, Qt.Key.Key_Escape)
    settled(qtbot, kiosk)
    kiosk.reader.pull()
    kiosk.reader.insert(person.card)
    shows(qtbot, kiosk, Screen.PIN)
    focus_is(qtbot, window._pin.field)
    typed(qtbot, CARD_PIN)
    pressed(qtbot, Qt.Key.Key_Return)
    shows(qtbot, kiosk, Screen.SIGNED_IN)
    focus_is(qtbot, window._sign_out_button)


def test_the_code_entry_takes_the_focus_enter_moves_on_escape_goes_back(
    qtbot: Any, make_kiosk: Any, gui_service: GuiService
) -> None:
    person = gui_service.person()
    kiosk = make_kiosk(gui_service)
    window = kiosk.window
    focus_is(qtbot, window._sign_in_code)

    pressed(qtbot, Qt.Key.Key_Return)  # "Enter a code"
    shows(qtbot, kiosk, Screen.CODE)
    focus_is(qtbot, window._code.username)
    pressed(qtbot, Qt.Key.Key_Escape)
    shows(qtbot, kiosk, Screen.SIGN_IN)
    focus_is(qtbot, window._sign_in_code)

    pressed(qtbot, Qt.Key.Key_Return)
    focus_is(qtbot, window._code.username)
    typed(qtbot, person.username)
    pressed(qtbot, Qt.Key.Key_Return)  # on to the code
    focus_is(qtbot, window._code.code)
    typed(qtbot, person.code())
    pressed(qtbot, Qt.Key.Key_Return)
    shows(qtbot, kiosk, Screen.SIGNED_IN)
    focus_is(qtbot, window._sign_out_button)

    # Locked: its button has the focus; Enter opens the code entry with the username
    # known, so the focus is on the code; Escape goes back to the locked screen.
    window.lock()
    shows(qtbot, kiosk, Screen.LOCKED)
    focus_is(qtbot, window._locked_code)
    pressed(qtbot, Qt.Key.Key_Return)
    shows(qtbot, kiosk, Screen.CODE)
    assert window._code.username.text() == person.username
    focus_is(qtbot, window._code.code)
    pressed(qtbot, Qt.Key.Key_Escape)
    shows(qtbot, kiosk, Screen.LOCKED)
    focus_is(qtbot, window._locked_code)
