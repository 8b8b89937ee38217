"""The demo window on every screen size a kiosk has (offscreen, the embedded service).

``fit_to`` is given each screen's available geometry: the window must lie inside it, the
kiosk in it must pass the kiosk's own size checks (nothing cut off, 48 px targets, 16 px
type), and the demo devices must be reachable: docked beside the kiosk where there is
room, else in a drawer that the "Demo devices" tab opens (and that then fits too).
"""

from __future__ import annotations

import os

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")  # before pytest-qt loads Qt

from collections.abc import Iterator
from typing import Any

import pytest
from PySide6.QtCore import QRect, Qt
from PySide6.QtWidgets import QApplication

from tests.gui.layout import SIZES, kiosk_look, layout_problems
from tokenstile.demo.environment import DemoEnvironment, start_demo
from tokenstile.demo.people import KEY_PIN
from tokenstile.demo.window import DEMO_SIZE, build_demo_window
from tokenstile.kiosk.window import Screen

pytestmark = pytest.mark.server
__all__ = ["kiosk_look"]  # a fixture, used by name
WAIT = 10_000
PANEL_FONT_PX = (
    13  # the panel stands in for hardware: its small print is a label's, not the kiosk's
)


@pytest.fixture(scope="module")
def environment() -> Iterator[DemoEnvironment]:
    demo = start_demo(pcsc=False)
    try:
        yield demo
    finally:
        demo.close()


@pytest.fixture
def make_demo(qtbot: Any, environment: DemoEnvironment) -> Iterator[Any]:
    made: list[Any] = []

    def make() -> Any:
        window = build_demo_window(environment)
        qtbot.addWidget(window)
        made.append(window)
        return window

    yield make
    for window in made:
        window.kiosk.shutdown()
        window.broker.close()
    environment.plug_key(False)


def _fits(window: Any, screen: QRect, *, framed: bool = True) -> None:
    QApplication.processEvents()
    # The window with its title bar and borders (full screen: without them).
    frame = window.frameGeometry() if framed else window.geometry()
    assert screen.contains(frame), (frame.getRect(), screen.getRect())
    assert layout_problems(window.kiosk) == []
    assert layout_problems(window, min_font_px=PANEL_FONT_PX) == []


@pytest.mark.parametrize("size", SIZES, ids=[f"{w}x{h}" for w, h in SIZES])
def test_the_demo_window_fits_the_screen_and_its_devices_stay_reachable(
    qtbot: Any, kiosk_look: QApplication, make_demo: Any, size: tuple[int, int]
) -> None:
    # A screen with a 32 px bar along its top, as a desktop's available geometry often is.
    screen = QRect(0, 32, size[0], size[1] - 32) if size[1] > 480 else QRect(0, 0, *size)
    window = make_demo()
    how = window.fit_to(screen)
    # (Offscreen, the window is shown plainly: its one screen is not the size tested.)
    window.show()
    window.kiosk.start()
    qtbot.waitUntil(lambda: "security key" in window.kiosk._invitation.text(), timeout=WAIT)
    expected = {(1920, 1080): "normal", (800, 480): "fullscreen"}.get(size, "maximized")
    assert how == expected
    assert (how == "normal") == (window.size().toTuple() == DEMO_SIZE)
    framed = how != "fullscreen"
    if not framed:
        window.setWindowFlag(Qt.WindowType.FramelessWindowHint)  # as full screen shows it
        window.setGeometry(screen)
        window.show()
    _fits(window, screen, framed=framed)
    assert window.docked == (size[0] >= 1280)
    if window.docked:
        assert window.panel.isVisible()
        assert not window.handle.isVisible()
        assert window.kiosk.width() >= window.kiosk.minimumWidth()
        assert window.kiosk.geometry().right() < window.drawer.geometry().left()
    else:
        assert window.kiosk.width() == window.width()
        assert not window.panel.isVisible()
        assert window.handle.isVisible()
        qtbot.mouseClick(window.handle, Qt.MouseButton.LeftButton)
        assert window.panel.isVisible()
        _fits(window, screen, framed=framed)
    # The devices work from there: the key plugged in by its button asks for the PIN.
    environment_key = window.panel.devices
    environment_key.key.touch.auto = True
    qtbot.mouseClick(window.panel.plug, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: window.kiosk.current_screen is Screen.PIN, timeout=WAIT)
    _fits(window, screen, framed=framed)
    window.kiosk._pin.field.setText(KEY_PIN)
    window.kiosk._pin.submit()
    qtbot.waitUntil(lambda: window.kiosk.current_screen is Screen.SIGNED_IN, timeout=WAIT)
    environment_key.key.touch.auto = False
    _fits(window, screen, framed=framed)


def test_function_keys_work_with_the_drawer_closed(
    qtbot: Any, kiosk_look: QApplication, make_demo: Any
) -> None:
    window = make_demo()
    window.fit_to(QRect(0, 0, 1024, 768))
    window.show()
    window.activateWindow()
    window.kiosk.start()
    assert not window.docked
    assert not window.panel.isVisible()
    qtbot.waitUntil(lambda: QApplication.focusWidget() is not None, timeout=WAIT)
    qtbot.keyClick(QApplication.focusWidget(), Qt.Key.Key_F2)  # plug in the key
    qtbot.waitUntil(lambda: window.kiosk.current_screen is Screen.PIN, timeout=WAIT)
    assert window.panel.devices.key_plugged
