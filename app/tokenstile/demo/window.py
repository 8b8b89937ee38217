"""The demo's window: the kiosk window with the demo panel beside it, and its test hooks.

On a screen narrower than the kiosk's minimum width plus the panel (a 1024x768 or an
800x480 one), the panel folds into a drawer over the kiosk's right side, opened and closed
by a "Demo devices" tab in the bottom right corner (F2, F3 and F4 work either way); the
panel scrolls when the screen is shorter than its content.

:func:`build_demo_window` builds it over a broker (by default one with an in-memory session
store). Two hooks let tests and benchmarks drive it: :class:`DemoScript`
(``TOKENSTILE_DEMO_SCRIPT=key``) signs in once with the software key by itself, and
:class:`DemoLayout` (``TOKENSTILE_DEMO_LAYOUT=FILE``) writes where the buttons are on the
screen.
"""

from __future__ import annotations

import os
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

from tokenstile.broker.memory_store import MemorySessionStore
from tokenstile.demo.people import KEY_PIN

if TYPE_CHECKING:
    from tokenstile.broker.store import SessionStore
    from tokenstile.config import Settings
    from tokenstile.demo.environment import DemoEnvironment

SCRIPT_ENV = "TOKENSTILE_DEMO_SCRIPT"
DEMO_SIZE = (1400, 820)  # the demo window where the screen has room for it
PANEL_WIDTH = 340  # the demo devices panel, docked or in its drawer
_HANDLE_STYLE = """
QPushButton#demoHandle { min-width: 0; min-height: 34px; padding: 6px 16px; font-size: 16px;
    border: 1px solid #1e5a8a; border-radius: 10px; background: #1e5a8a; color: #ffffff;
    font-weight: 600; }
QPushButton#demoHandle:checked { background: #ffffff; color: #1e5a8a; }
"""
LAYOUT_ENV = "TOKENSTILE_DEMO_LAYOUT"


def build_demo_window(
    environment: DemoEnvironment,
    settings: Settings | None = None,
    *,
    store: SessionStore | None = None,
) -> Any:
    """The demo's top-level widget: the kiosk window with the demo panel beside it (or,
    on a screen too narrow for both, in a drawer over it).

    Returns a ``DemoWindow`` (a ``QWidget``: ``.kiosk`` is the
    :class:`~tokenstile.kiosk.window.KioskWindow`, ``.panel`` the demo panel, ``.handle``
    the tab that opens its drawer, ``.broker`` the broker over ``store``, by default one in
    memory). Needs the ``QApplication``; ``.fit_to(screen.availableGeometry())`` sizes it
    for a screen and says how to show it; call ``.kiosk.start()`` once it is shown.
    """
    from PySide6.QtCore import QRect, Qt
    from PySide6.QtGui import QResizeEvent
    from PySide6.QtWidgets import QFrame, QPushButton, QScrollArea, QWidget

    from tokenstile.broker import Broker
    from tokenstile.config import load_settings
    from tokenstile.demo.panel import DemoPanel
    from tokenstile.kiosk.app import fit_window
    from tokenstile.kiosk.rules import KioskRules
    from tokenstile.kiosk.service import BrokerSignIn
    from tokenstile.kiosk.window import KioskWindow

    chosen = settings or load_settings()
    broker = Broker(settings=chosen, store=store if store is not None else MemorySessionStore())
    service = BrokerSignIn(environment.server_url, broker=broker)

    class DemoWindow(QWidget):
        """The kiosk, and the demo devices docked beside it when the window is wide
        enough for both (the kiosk keeps at least its minimum width), else in a drawer
        over the kiosk's right side that the "Demo devices" tab opens and closes."""

        def __init__(self) -> None:
            super().__init__()
            self.setObjectName("kioskDemo")
            self.setWindowTitle(self.tr("Tokenstile kiosk demo"))
            self.broker = broker
            self.kiosk = KioskWindow(
                service, environment.kiosk_devices(), rules=KioskRules.from_settings(chosen)
            )
            self.kiosk.setParent(self)
            self.panel = DemoPanel(environment, shortcut_owner=self)
            # Tall content (four people's codes and QR codes) scrolls on a short screen.
            self.drawer = QScrollArea(self)
            self.drawer.setObjectName("demoDrawer")
            self.drawer.setFrameShape(QFrame.Shape.NoFrame)
            self.drawer.setWidgetResizable(True)
            self.drawer.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
            self.drawer.setFocusPolicy(Qt.FocusPolicy.NoFocus)
            self.drawer.setWidget(self.panel)
            self.handle = QPushButton(self.tr("Demo devices"), self)
            self.handle.setObjectName("demoHandle")
            self.handle.setCheckable(True)
            self.handle.setFocusPolicy(Qt.FocusPolicy.NoFocus)  # hardware, not a form
            self.handle.setAccessibleName(self.tr("Show or hide the demo devices"))
            self.handle.setStyleSheet(_HANDLE_STYLE)
            self.handle.toggled.connect(self._folded)
            minimum = self.kiosk.minimumSize()
            self.setMinimumSize(minimum)
            self.resize(*DEMO_SIZE)

        @property
        def docked(self) -> bool:
            """The panel beside the kiosk (True) or in the drawer (False)."""
            return self.width() - PANEL_WIDTH >= self.kiosk.minimumWidth()

        def fit_to(self, available: QRect) -> str:
            """Size and place the window inside ``available`` (a screen's available
            geometry) and say how to show it: ``"normal"`` at its usual size where that
            fits, ``"maximized"`` when it had to shrink, ``"fullscreen"`` when even the
            kiosk's minimum leaves no room for a frame (an 800x480 panel)."""
            return fit_window(self, available, DEMO_SIZE)

        def resizeEvent(self, event: QResizeEvent) -> None:  # noqa: N802 - Qt's name
            super().resizeEvent(event)
            self._arrange()

        def _folded(self, _open: bool) -> None:
            self._arrange()

        def _arrange(self) -> None:
            width, height = self.width(), self.height()
            panel = min(PANEL_WIDTH, width)
            if self.docked:
                self.kiosk.setGeometry(0, 0, width - panel, height)
                self.drawer.setGeometry(width - panel, 0, panel, height)
                self.drawer.show()
                self.handle.hide()
                return
            self.kiosk.setGeometry(0, 0, width, height)
            self.drawer.setGeometry(width - panel, 0, panel, height)
            opened = self.handle.isChecked()
            self.drawer.setVisible(opened)
            self.handle.setText(self.tr("Hide devices") if opened else self.tr("Demo devices"))
            self.handle.adjustSize()
            # Bottom right, where no kiosk screen puts anything; left of the open drawer.
            right = width - panel if opened else width
            margin = 12
            self.handle.move(
                max(0, right - self.handle.width() - margin),
                height - self.handle.height() - margin,
            )
            self.handle.show()
            self.drawer.raise_()
            self.handle.raise_()

    return DemoWindow()


class DemoScript:
    """``TOKENSTILE_DEMO_SCRIPT=key``: sign in once with the software key, by itself.

    For the end-to-end test and the benchmark: plugs the key in (it approves touches at
    once), types its PIN on the PIN pad when asked, and prints
    ``demo script: signed in as <user> in <ms> ms`` (the time without the PIN typing).
    """

    def __init__(self, environment: DemoEnvironment, window: Any) -> None:
        from tokenstile.kiosk.widgets import PinPad
        from tokenstile.kiosk.window import Screen

        self.environment = environment
        self.kiosk = window.kiosk
        self._pin_pad: PinPad = self.kiosk.findChild(PinPad)
        self._pin_screen = Screen.PIN
        self._busy_screen = Screen.BUSY
        self._began = 0.0
        self._seen = 0.0
        self._typing = 0.0
        self.kiosk.screen_changed.connect(self._screen)
        self.kiosk.session_started.connect(self._signed_in)
        self.kiosk.problem_shown.connect(self._problem)

    def start(self) -> None:
        self.environment.key.touch.auto = True
        self._began = time.perf_counter()
        self.environment.plug_key(True)

    def _screen(self, screen: object) -> None:
        if screen is self._busy_screen and not self._seen:
            self._seen = time.perf_counter()
        if screen is self._pin_screen:
            asked = time.perf_counter()
            self._pin_pad.field.setText(KEY_PIN)
            self._pin_pad.submit()
            self._typing += time.perf_counter() - asked

    def _signed_in(self, info: Any) -> None:
        done = time.perf_counter()
        total = (done - self._began - self._typing) * 1000
        after_seen = (done - self._seen - self._typing) * 1000
        print(
            f"demo script: signed in as {info.username} in {total:.0f} ms "
            f"({after_seen:.0f} ms after the kiosk saw the key)",
            flush=True,
        )
        self.environment.plug_key(False)

    def _problem(self, problem: Any) -> None:
        print(f"demo script: the kiosk says: {problem.text}", flush=True)


class DemoLayout:
    """``TOKENSTILE_DEMO_LAYOUT=FILE``: where the demo's buttons are on the screen.

    For the test that drives the demo with real X mouse and key events: a JSON object of
    ``name: [x, y, width, height]`` in screen pixels (the visible ones only), written
    again whenever the kiosk changes screen or the panel changes state.
    """

    def __init__(self, window: Any, path: Path) -> None:
        from PySide6.QtCore import QTimer

        self.window = window
        self.path = path
        self._last = ""
        self._timer = QTimer(window)
        self._timer.setInterval(100)
        self._timer.timeout.connect(self.write)
        self._timer.start()
        window.kiosk.screen_changed.connect(lambda _screen: self.write())
        self.write()

    def widgets(self) -> dict[str, Any]:
        kiosk, panel = self.window.kiosk, self.window.panel
        return {
            "plug": panel.plug,
            "tap": panel.tap,
            "card": panel.card,
            "pin_field": kiosk._pin.field,
            "sign_out": kiosk._sign_out_button,
            "lock": kiosk._lock_button,
            "enter_code": kiosk._sign_in_code,
        }

    def write(self) -> None:
        import json

        from PySide6.QtCore import QPoint

        shown: dict[str, list[int]] = {}
        for name, widget in self.widgets().items():
            if widget.isVisible():
                corner = widget.mapToGlobal(QPoint(0, 0))
                shown[name] = [corner.x(), corner.y(), widget.width(), widget.height()]
        state = {
            "screen": self.window.kiosk.current_screen.value,
            "key_waiting": self.window.panel.devices.key_waiting,
            "widgets": shown,
        }
        text = json.dumps(state, sort_keys=True)
        if text == self._last:
            return
        self._last = text
        temporary = self.path.with_name(self.path.name + ".tmp")
        temporary.write_text(text, encoding="utf-8")
        os.replace(temporary, self.path)
