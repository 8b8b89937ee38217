"""How long since the last input anywhere in the application: an application event
filter shared by the kiosk (idle lock) and the admin console (idle sign-out)."""

from __future__ import annotations

from PySide6.QtCore import QEvent, QObject
from PySide6.QtWidgets import QApplication

from tokenstile.clock import Clock

INPUT_EVENTS = frozenset(
    {
        QEvent.Type.KeyPress,
        QEvent.Type.MouseButtonPress,
        QEvent.Type.MouseMove,
        QEvent.Type.Wheel,
        QEvent.Type.TouchBegin,
        QEvent.Type.TouchUpdate,
    }
)


class InputWatch(QObject):
    """The time of the last key, click, pointer move, wheel or touch, on ``clock``."""

    def __init__(self, clock: Clock, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.clock = clock
        self.last_input = clock.now()
        self._watching = False

    def start(self) -> None:
        app = QApplication.instance()
        if app is not None and not self._watching:
            app.installEventFilter(self)
            self._watching = True

    def stop(self) -> None:
        app = QApplication.instance()
        if app is not None and self._watching:
            app.removeEventFilter(self)
        self._watching = False

    def touch(self) -> None:
        """Count now as input (a sign-in, an unlock)."""
        self.last_input = self.clock.now()

    def idle_seconds(self) -> float:
        return self.clock.now() - self.last_input

    def eventFilter(self, watched: QObject, event: QEvent) -> bool:  # noqa: N802 - Qt's name
        if event.type() in INPUT_EVENTS:
            self.last_input = self.clock.now()
        return False
