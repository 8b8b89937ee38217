"""The demo window from the keyboard (offscreen): the demo panel is hardware, not a form.

Its buttons never take the focus, so a click on "Tap the key" while the PIN page shows
leaves the typing in the PIN field; F2, F3 and F4 work the key and the card from
anywhere in the window.
"""

from __future__ import annotations

import os

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")  # before pytest-qt loads Qt

from collections.abc import Iterator
from typing import Any

import pytest
from PySide6.QtCore import Qt
from PySide6.QtWidgets import QApplication

from tokenstile.demo.environment import DemoEnvironment, start_demo
from tokenstile.demo.people import CARD_PIN, KEY_PIN
from tokenstile.demo.window import build_demo_window
from tokenstile.kiosk.window import Screen

pytestmark = pytest.mark.server
WAIT = 10_000


@pytest.fixture
def demo_window(qtbot: Any) -> Iterator[Any]:
    environment: DemoEnvironment = start_demo(pcsc=False)
    window = build_demo_window(environment)
    qtbot.addWidget(window)
    window.resize(1400, 820)
    window.show()
    window.activateWindow()
    window.kiosk.start()
    try:
        yield window
    finally:
        window.kiosk.shutdown()
        window.broker.close()
        environment.close()


def test_the_panel_never_takes_the_focus_and_answers_to_function_keys(
    qtbot: Any, demo_window: Any
) -> None:
    kiosk, panel = demo_window.kiosk, demo_window.panel
    devices = panel.devices
    for button in (panel.plug, panel.tap, panel.card, *(a.show_qr for a in panel.accounts)):
        assert button.focusPolicy() is Qt.FocusPolicy.NoFocus

    def typing_to() -> Any:
        return QApplication.focusWidget()

    qtbot.waitUntil(lambda: typing_to() is kiosk._sign_in_code, timeout=WAIT)
    qtbot.keyClick(typing_to(), Qt.Key.Key_F2)  # plug in the key
    qtbot.waitUntil(lambda: kiosk.current_screen is Screen.PIN, timeout=WAIT)
    assert devices.key_plugged
    assert typing_to() is kiosk._pin.field
    # A click on the panel (nothing waits for a touch yet) leaves the focus in the field.
    qtbot.mouseClick(panel.tap, Qt.MouseButton.LeftButton)
    assert typing_to() is kiosk._pin.field
    qtbot.keyClicks(typing_to(), KEY_PIN)
    qtbot.keyClick(typing_to(), Qt.Key.Key_Return)
    qtbot.waitUntil(lambda: devices.key_waiting, timeout=WAIT)
    qtbot.keyClick(typing_to(), Qt.Key.Key_F3)  # tap the key
    qtbot.waitUntil(lambda: kiosk.current_screen is Screen.SIGNED_IN, timeout=WAIT)
    assert kiosk.session is not None
    assert kiosk.session.username == "alex"
    qtbot.keyClick(typing_to(), Qt.Key.Key_F2)  # unplug it
    assert not devices.key_plugged

    # The card: F4 puts it in, its PIN page takes the keyboard; F4 pulls it again.
    qtbot.keyClick(typing_to(), Qt.Key.Key_F4)
    qtbot.waitUntil(lambda: kiosk.current_screen is Screen.PIN, timeout=WAIT)
    assert typing_to() is kiosk._pin.field
    qtbot.keyClicks(typing_to(), CARD_PIN)
    qtbot.keyClick(typing_to(), Qt.Key.Key_Return)
    qtbot.waitUntil(
        lambda: kiosk.session is not None and kiosk.session.username == "casey", timeout=WAIT
    )
    qtbot.waitUntil(lambda: not panel._busy.is_set(), timeout=WAIT)
    qtbot.keyClick(typing_to(), Qt.Key.Key_F4)
    qtbot.waitUntil(lambda: kiosk.current_screen is Screen.SIGN_IN, timeout=WAIT)
    assert kiosk.session is None
    assert typing_to() is kiosk._sign_in_code
