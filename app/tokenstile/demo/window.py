"""The demo's window: the kiosk window with the demo panel beside it, and its test hooks.

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
LAYOUT_ENV = "TOKENSTILE_DEMO_LAYOUT"


def build_demo_window(
    environment: DemoEnvironment,
    settings: Settings | None = None,
    *,
    store: SessionStore | None = None,
) -> Any:
    """The demo's top-level widget: the kiosk window with the demo panel beside it.

    Returns a ``DemoWindow`` (a ``QWidget``: ``.kiosk`` is the
    :class:`~tokenstile.kiosk.window.KioskWindow`, ``.panel`` the demo panel, ``.broker``
    the broker over ``store``, by default one in memory). Needs the ``QApplication``;
    call ``.kiosk.start()`` once it is shown.
    """
    from PySide6.QtWidgets import QHBoxLayout, QWidget

    from tokenstile.broker import Broker
    from tokenstile.config import load_settings
    from tokenstile.demo.panel import DemoPanel
    from tokenstile.kiosk.rules import KioskRules
    from tokenstile.kiosk.service import BrokerSignIn
    from tokenstile.kiosk.window import KioskWindow

    chosen = settings or load_settings()
    broker = Broker(settings=chosen, store=store if store is not None else MemorySessionStore())
    service = BrokerSignIn(environment.server_url, broker=broker)

    class DemoWindow(QWidget):
        def __init__(self) -> None:
            super().__init__()
            self.setObjectName("kioskDemo")
            self.setWindowTitle(self.tr("Tokenstile kiosk demo"))
            self.broker = broker
            self.kiosk = KioskWindow(
                service, environment.kiosk_devices(), rules=KioskRules.from_settings(chosen)
            )
            self.panel = DemoPanel(environment)
            layout = QHBoxLayout(self)
            layout.setContentsMargins(0, 0, 0, 0)
            layout.setSpacing(0)
            layout.addWidget(self.kiosk, 1)
            layout.addWidget(self.panel)

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
