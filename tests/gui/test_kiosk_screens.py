"""The kiosk's look and reach: every control named for assistive technology, the whole
window worked from the keyboard, one sentence per failure, and the self-test command."""

from __future__ import annotations

import os
import subprocess
import sys
from typing import Any

from PySide6.QtCore import QSize, Qt
from PySide6.QtGui import QColor
from PySide6.QtWidgets import QAbstractButton, QLineEdit

from tests.gui.conftest import GuiService
from tokenstile.broker import LoginRefused, ServerUnreachable
from tokenstile.devices.errors import CardRemoved, PinBlocked, WrongPin
from tokenstile.devices.fido2_errors import KeyPinBlocked, KeyTimedOut, KeyWrongPin
from tokenstile.devices.piv_login import ForeignChallengeRefused
from tokenstile.errors import OriginMismatch, TokenstileError
from tokenstile.kiosk.messages import Factor, explain
from tokenstile.kiosk.window import Screen


def test_every_control_has_an_accessible_name(make_kiosk: Any, gui_service: GuiService) -> None:
    window = make_kiosk(gui_service).window
    controls = window.findChildren(QAbstractButton) + window.findChildren(QLineEdit)
    assert len(controls) > 20
    unnamed = [c.objectName() or type(c).__name__ for c in controls if not c.accessibleName()]
    assert unnamed == []


def test_the_keyboard_reaches_the_code_entry_and_escape_comes_back(
    qtbot: Any, make_kiosk: Any, gui_service: GuiService
) -> None:
    window = make_kiosk(gui_service).window
    window.activateWindow()
    window._sign_in_code.setFocus()
    qtbot.keyClick(window._sign_in_code, Qt.Key.Key_Return)
    qtbot.waitUntil(lambda: window.current_screen is Screen.CODE)
    entry = window._code
    assert not entry.sign_in.isEnabled()
    qtbot.keyClicks(entry.username, "someone")
    qtbot.keyClick(entry.username, Qt.Key.Key_Return)  # Enter moves on to the code
    assert entry.code.hasFocus()
    qtbot.keyClicks(entry.code, "12ab34")  # letters are refused
    assert entry.code.text() == "1234"
    qtbot.keyClick(entry.code, Qt.Key.Key_Escape)
    qtbot.waitUntil(lambda: window.current_screen is Screen.SIGN_IN)
    assert window.session is None


def test_failures_are_one_sentence_with_what_to_do() -> None:
    cases: list[tuple[BaseException, Factor | None, str]] = [
        (WrongPin(2, 0x63C2), Factor.CARD, "Wrong PIN: 2 tries left before the card locks."),
        (KeyWrongPin(1), Factor.KEY, "Wrong PIN: 1 try left before the key locks."),
        (
            PinBlocked(),
            Factor.CARD,
            "Your card's PIN is blocked: take the card to the service desk.",
        ),
        (
            KeyPinBlocked(),
            Factor.KEY,
            "Your key's PIN is blocked: take the key to the service desk.",
        ),
        (
            LoginRefused("The smart card was not accepted.", oauth_error="invalid_grant"),
            Factor.CARD,
            "This card is not enrolled here: see the service desk.",
        ),
        (
            LoginRefused("Slow down.", oauth_error="invalid_grant", retry_after=29.6),
            Factor.CODE,
            "Too many tries: wait 30 seconds, then try again.",
        ),
        (ServerUnreachable("no"), None, "The sign-in service cannot be reached: retrying…"),
        (
            CardRemoved("gone"),
            Factor.CARD,
            "The card was taken out too soon: insert it again to sign in.",
        ),
        (KeyTimedOut(), Factor.KEY, "The key was not touched in time: tap or insert it again."),
        (
            OriginMismatch("a server is pretending to be another"),
            Factor.KEY,
            "This sign-in service is pretending to be another one, so your key was not used: "
            "tell the service desk.",
        ),
        (
            ForeignChallengeRefused("130 bytes"),
            Factor.CARD,
            "This sign-in service asked the card to sign something else, so it signed "
            "nothing: tell the service desk.",
        ),
        (TokenstileError("odd"), None, "Something went wrong: try again, or see the service desk."),
    ]
    for error, factor, sentence in cases:
        problem = explain(error, factor=factor)
        assert problem.text == sentence, error
        assert problem.text.count(": ") <= 1
    assert explain(ServerUnreachable("no")).service_down


def test_self_test_command_draws_the_window_without_a_server() -> None:
    env = {**os.environ, "QT_QPA_PLATFORM": "offscreen"}
    result = subprocess.run(
        [sys.executable, "-m", "tokenstile.cli", "kiosk", "--self-test"],
        capture_output=True,
        text=True,
        env=env,
        timeout=60,
        check=False,
    )
    assert (result.returncode, result.stdout.strip()) == (0, "kiosk ok"), result.stderr


def test_the_sign_in_tiles_keep_one_width_at_any_window_width(
    qtbot: Any, make_kiosk: Any, gui_service: GuiService
) -> None:
    window = make_kiosk(gui_service).window
    tiles = (window._key_tile, window._card_tile, window._code_tile)
    for width in (1024, 1180, 1366, 1920):
        window.resize(width, 800)
        qtbot.waitUntil(lambda w=width: window.width() == w)  # type: ignore[misc]
        widths = [tile.width() for tile in tiles]
        assert max(widths) - min(widths) <= 1, (width, widths)  # a pixel of rounding


def test_the_dark_button_carries_a_light_icon(make_kiosk: Any, gui_service: GuiService) -> None:
    button = make_kiosk(gui_service).window._sign_in_code
    image = button.icon().pixmap(QSize(28, 28)).toImage()
    shown = [
        QColor(image.pixel(x, y))
        for x in range(image.width())
        for y in range(image.height())
        if QColor.fromRgba(image.pixel(x, y)).alpha() > 128
    ]
    assert shown
    light = [c for c in shown if c.lightnessF() > 0.7]
    assert len(light) > len(shown) / 2  # mostly light on the dark blue
