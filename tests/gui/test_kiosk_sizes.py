"""The kiosk at every screen size a kiosk has: 800x480 (small touch panels), 1024x768,
1280x800, 1366x768 and 1920x1080, dressed as ``tokenstile kiosk`` dresses it (the
application's font and style sheet).

Every screen (sign-in, code entry, an error, the key's PIN pad, touch your key, signed
in, locked, the card's PIN pad) is reached through the real flows against the real
service, and at each one: every visible widget lies inside the window and inside its
parent (nothing cut off), no text needs more room than it has, every button and field is
at least 48x48 px, and no text is smaller than ``MIN_FONT_PX``.

``MIN_FONT_PX`` = 16: a touch panel is read from arm's reach, about 50 cm, where ISO
9241-303's minimum character height of 16 minutes of arc is 2.3 mm; on the densest panel
listed here (7 inch, 800x480: 0.19 mm a pixel) that is a cap height of 12 px, which
DejaVu Sans (cap height 0.73 em) reaches at 16 px. 48 px is the touch target of Android's
and Material's guidelines (about 9 mm on that panel, the width of a fingertip).
"""

from __future__ import annotations

from typing import Any

import pytest
from PySide6.QtCore import QRect
from PySide6.QtWidgets import QApplication, QWidget

from tests.gui.conftest import CARD_PIN, GuiService, Kiosk
from tests.gui.layout import SIZES, kiosk_look, layout_problems
from tests.gui.test_kiosk_flows import WAIT, enter_code, wait_screen
from tests.unit.virtual.ceremony import PIN as KEY_PIN
from tokenstile.kiosk.app import fit_window
from tokenstile.kiosk.window import Screen
from tokenstile.virtual.user_presence import TouchSensor

__all__ = ["kiosk_look"]  # a fixture, used by name


def at_size(qtbot: Any, window: QWidget, size: tuple[int, int]) -> None:
    window.resize(*size)
    qtbot.wait(1)  # the resize and the layout it sets off
    assert (window.width(), window.height()) == size, "the window cannot be made this small"


def check(window: QWidget, size: tuple[int, int], what: str) -> None:
    QApplication.processEvents()
    assert (window.width(), window.height()) == size
    problems = layout_problems(window)
    assert problems == [], f"{what} at {size[0]}x{size[1]}:\n" + "\n".join(problems)


# And a 1024x600 panel (7 inch, common too): compact by its height alone.
KIOSK_SIZES = [*SIZES, (1024, 600)]


@pytest.mark.parametrize("size", KIOSK_SIZES, ids=[f"{w}x{h}" for w, h in KIOSK_SIZES])
def test_every_screen_fits_with_touch_targets_and_readable_text(
    qtbot: Any,
    kiosk_look: QApplication,
    make_kiosk: Any,
    gui_service: GuiService,
    size: tuple[int, int],
) -> None:
    alice = gui_service.person()
    kiosk: Kiosk = make_kiosk(gui_service)
    window = kiosk.window
    at_size(qtbot, window, size)
    everything = "Tap or insert your security key · Insert your card · Enter the code from your fob"
    qtbot.waitUntil(lambda: window._invitation.text() == everything, timeout=WAIT)
    check(window, size, "sign-in")

    window.show_code_entry()
    wait_screen(qtbot, kiosk, Screen.CODE)
    window._code.username.setText(alice.username)
    window._code.code.setText("123 456")
    check(window, size, "code entry")
    wrong = f"{(int(alice.code()) + 1) % 1_000_000:06d}"
    window._code.code.setText(wrong)
    window._code.submit()
    qtbot.waitUntil(lambda: window.problem is not None, timeout=WAIT)
    wait_screen(qtbot, kiosk, Screen.SIGN_IN)
    check(window, size, "an error")

    touch = TouchSensor()
    alice.key.authenticator.presence = touch
    kiosk.keys.present(alice.key)
    wait_screen(qtbot, kiosk, Screen.PIN)
    window._pin.field.setText("98")
    check(window, size, "the key's PIN pad")
    window._pin.field.setText(KEY_PIN)
    window._pin.submit()
    qtbot.waitUntil(touch.waiting.is_set, timeout=WAIT)
    qtbot.waitUntil(lambda: window._screens.busy.title.text() == "Touch your key", timeout=WAIT)
    assert window.current_screen is Screen.BUSY
    check(window, size, "touch your key")
    touch.touch()
    wait_screen(qtbot, kiosk, Screen.SIGNED_IN)
    kiosk.keys.remove()
    check(window, size, "signed in")

    window.lock()
    wait_screen(qtbot, kiosk, Screen.LOCKED)
    check(window, size, "locked")

    window.sign_out()
    wait_screen(qtbot, kiosk, Screen.SIGN_IN)
    qtbot.waitUntil(lambda: not window.busy, timeout=WAIT)
    assert window.wait_for_worker(WAIT)
    kiosk.reader.insert(alice.card)
    wait_screen(qtbot, kiosk, Screen.PIN)
    window._pin.field.setText("999999")
    window._pin.submit()
    qtbot.waitUntil(lambda: "Wrong PIN" in window._pin.hint.text(), timeout=WAIT)
    check(window, size, "the card's PIN pad, after a wrong PIN")
    window._pin.field.setText(CARD_PIN)
    window._pin.submit()
    wait_screen(qtbot, kiosk, Screen.SIGNED_IN)


def test_the_checks_see_a_cut_off_window(
    qtbot: Any, kiosk_look: QApplication, make_kiosk: Any, gui_service: GuiService
) -> None:
    """The checks above can fail: a window forced below what its screens need, and a
    font below the floor, are both reported."""
    window = make_kiosk(gui_service).window
    window.setMinimumSize(200, 200)
    window.resize(420, 300)
    qtbot.waitUntil(lambda: window.width() == 420, timeout=WAIT)
    QApplication.processEvents()
    problems = layout_problems(window)
    assert any("outside the window" in p or "cut off" in p or "needs" in p for p in problems)
    window.resize(1280, 800)
    qtbot.waitUntil(lambda: window.width() == 1280, timeout=WAIT)
    QApplication.processEvents()
    assert layout_problems(window) == []
    assert any("a font of" in p for p in layout_problems(window, min_font_px=100))


def test_enter_code_helper_still_reaches_the_code_entry_at_the_smallest_size(
    qtbot: Any, kiosk_look: QApplication, make_kiosk: Any, gui_service: GuiService
) -> None:
    """Worked by clicks at 800x480: the code sign-in goes through."""
    alice = gui_service.person()
    kiosk = make_kiosk(gui_service)
    at_size(qtbot, kiosk.window, (800, 480))
    enter_code(qtbot, kiosk, alice.username, alice.code())
    wait_screen(qtbot, kiosk, Screen.SIGNED_IN)


@pytest.mark.parametrize("size", KIOSK_SIZES, ids=[f"{w}x{h}" for w, h in KIOSK_SIZES])
def test_the_kiosk_window_opens_inside_the_screen(
    qtbot: Any, kiosk_look: QApplication, make_kiosk: Any, gui_service: GuiService, size: Any
) -> None:
    """``tokenstile kiosk`` without --fullscreen: its usual 1280x800 where that fits, else
    the screen's available size (a 32 px bar along the top, as desktops have), else full
    screen (no room for a frame)."""
    window = make_kiosk(gui_service).window
    screen = QRect(0, 32, size[0], size[1] - 32) if size[1] > 480 else QRect(0, 0, *size)
    how = fit_window(window, screen)
    QApplication.processEvents()
    expected = {(1920, 1080): "normal", (1366, 768): "maximized", (800, 480): "fullscreen"}
    assert how == expected.get(size, "maximized")
    shown = window.geometry() if how == "fullscreen" else window.frameGeometry()
    assert screen.contains(shown), (shown.getRect(), screen.getRect())
    assert layout_problems(window) == []
