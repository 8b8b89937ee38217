"""The "demo devices" panel of ``tokenstile kiosk --demo``: the hands on the software devices.

It plugs and taps the software security key, inserts and pulls the virtual card, and
shows the one-time codes (with their QR codes) of the demo people. It knows them only
through a :class:`DemoDevices` object (``tokenstile.demo.environment.DemoEnvironment`` is
one), so the kiosk package stays free of the server. Device work (a vpcd insert waits
for pcscd) runs on a worker thread; a timer keeps the panel's state in step.

The panel is hardware, not a form: its buttons never take the keyboard focus (a click on
"Tap the key" leaves the typing where it was, in the kiosk's PIN field), and nothing
typed ever reaches it. From the keyboard it answers to F2 (plug in or unplug the key),
F3 (tap it) and F4 (insert or pull the card), wherever the focus is in the window.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Protocol

from PySide6.QtCore import Qt, QTimer, Signal
from PySide6.QtGui import QKeySequence, QPixmap, QShortcut
from PySide6.QtWidgets import (
    QFrame,
    QHBoxLayout,
    QLabel,
    QProgressBar,
    QPushButton,
    QVBoxLayout,
    QWidget,
)

REFRESH_MS = 200
QR_SIZE = 180
PLUG_KEY = "F2"
TAP_KEY = "F3"
CARD_KEY = "F4"

# The kiosk's style sheet sizes buttons for a touch screen; the panel is a side bar (its
# buttons still 48 px high: the demo runs on touch panels too).
_STYLE = """
#demoPanel { background: #e9eef4; border-left: 1px solid #c9d3de; }
#demoPanel QLabel { color: #1d2733; font-size: 14px; padding: 0; }
#demoPanel QLabel[role="title"] { font-size: 19px; font-weight: 600; }
#demoPanel QLabel[role="section"] { font-size: 15px; font-weight: 600; margin-top: 12px; }
#demoPanel QLabel[role="hint"] { color: #4b5a6b; font-size: 13px; }
#demoPanel QLabel[role="code"] { font-family: "DejaVu Sans Mono", monospace;
    font-size: 26px; font-weight: 600; }
#demoPanel QPushButton { min-width: 0; min-height: 34px; padding: 6px 14px; font-size: 14px;
    border: 1px solid #b9c7d6; border-radius: 8px; background: #ffffff; color: #1e5a8a; }
#demoPanel QPushButton:hover { background: #eef3f8; }
#demoPanel QPushButton:disabled { color: #9aa4b0; background: #f4f6f9; }
#demoPanel QPushButton[attention="true"] { background: #1e5a8a; color: #ffffff;
    border-color: #1e5a8a; font-weight: 600; }
#demoPanel QProgressBar { max-height: 6px; border: none; border-radius: 3px;
    background: #d5dde8; }
#demoPanel QProgressBar::chunk { background: #1e5a8a; border-radius: 3px; }
"""


class DemoDevices(Protocol):
    """What the panel drives: the software devices of the demo."""

    @property
    def key_plugged(self) -> bool: ...

    @property
    def key_waiting(self) -> bool:
        """The key waits for a touch."""
        ...

    @property
    def key_hint(self) -> str: ...

    def plug_key(self, plugged: bool) -> None: ...

    def tap_key(self) -> bool: ...

    @property
    def card_inserted(self) -> bool: ...

    @property
    def card_hint(self) -> str: ...

    def insert_card(self) -> None: ...

    def pull_card(self) -> None: ...

    def otp_accounts(self) -> list[str]: ...

    def otp_qr_png(self, username: str) -> bytes: ...

    def otp_code(self, username: str, at: float | None = None) -> tuple[str, int]:
        """The current code and the seconds it has left."""
        ...


def _label(text: str, role: str | None = None) -> QLabel:
    label = QLabel(text)
    label.setWordWrap(True)
    if role is not None:
        label.setProperty("role", role)
    return label


def _button(
    text: str, accessible: str, slot: Callable[[], None], shortcut: str | None = None
) -> QPushButton:
    button = QPushButton(text)
    button.setAccessibleName(accessible)
    # Like the kiosk's on-screen PIN pad keys: a click must not take the kiosk's focus.
    button.setFocusPolicy(Qt.FocusPolicy.NoFocus)
    if shortcut is not None:
        button.setToolTip(shortcut)
        button.setAccessibleDescription(shortcut)
    button.clicked.connect(slot)
    return button


class _OtpAccount(QWidget):
    """One person's code: big digits, the time it has left, and its QR on demand."""

    def __init__(self, devices: DemoDevices, username: str, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self._devices = devices
        self.username = username
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 4, 0, 4)
        row = QHBoxLayout()
        self.name = _label(username, "hint")
        self.code = _label("", "code")
        self.code.setAccessibleName(self.tr("Current one-time code of %1").replace("%1", username))
        self.code.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        row.addWidget(self.name)
        row.addStretch(1)
        row.addWidget(self.code)
        layout.addLayout(row)
        self.remaining = QProgressBar()
        self.remaining.setRange(0, 30)
        self.remaining.setTextVisible(False)
        self.remaining.setAccessibleName(self.tr("Seconds the code has left"))
        layout.addWidget(self.remaining)
        self.show_qr = _button(
            self.tr("Show QR"),
            self.tr("Show the QR code of %1").replace("%1", username),
            self._toggle_qr,
        )
        layout.addWidget(self.show_qr, 0, Qt.AlignmentFlag.AlignLeft)
        self.qr = QLabel()
        self.qr.setAccessibleName(self.tr("QR code for an authenticator app"))
        self.qr.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.qr.hide()
        layout.addWidget(self.qr)

    def _toggle_qr(self) -> None:
        if self.qr.isVisible():
            self.qr.hide()
            self.show_qr.setText(self.tr("Show QR"))
            return
        if self.qr.pixmap().isNull():
            pixmap = QPixmap()
            pixmap.loadFromData(self._devices.otp_qr_png(self.username), "PNG")
            self.qr.setPixmap(
                pixmap.scaled(
                    QR_SIZE,
                    QR_SIZE,
                    Qt.AspectRatioMode.KeepAspectRatio,
                    Qt.TransformationMode.FastTransformation,
                )
            )
        self.qr.show()
        self.show_qr.setText(self.tr("Hide QR"))

    def refresh(self) -> None:
        code, left = self._devices.otp_code(self.username)
        shown = f"{code[:3]} {code[3:]}" if len(code) == 6 else code
        if self.code.text() != shown:
            self.code.setText(shown)
        self.remaining.setValue(left)


class DemoPanel(QFrame):
    """The demo devices, beside the kiosk window."""

    # Emitted after a device changed (the window may want to look at once).
    devices_changed = Signal()

    def __init__(
        self,
        devices: DemoDevices,
        parent: QWidget | None = None,
        *,
        shortcut_owner: QWidget | None = None,
    ) -> None:
        """``shortcut_owner``: the widget whose window F2, F3 and F4 work in (default the
        panel; the demo window gives itself, so that they work while the panel is folded
        away on a small screen)."""
        super().__init__(parent)
        self.devices = devices
        self.setObjectName("demoPanel")
        self.setAttribute(Qt.WidgetAttribute.WA_StyledBackground, True)
        self.setStyleSheet(_STYLE)
        self.setAccessibleName(self.tr("Demo devices"))
        self.setMinimumWidth(300)
        self.setMaximumWidth(360)
        self._busy = threading.Event()  # a card insert or pull is under way

        layout = QVBoxLayout(self)
        layout.setContentsMargins(18, 18, 18, 18)
        layout.setSpacing(6)
        layout.addWidget(_label(self.tr("Demo devices"), "title"))
        layout.addWidget(
            _label(self.tr("Stand-ins for the hardware: use them as you would the real thing."))
        )
        keys_hint = self.tr("Keyboard: %1 plug in or unplug the key, %2 tap it, %3 the card.")
        keys_hint = keys_hint.replace("%1", PLUG_KEY).replace("%2", TAP_KEY)
        layout.addWidget(_label(keys_hint.replace("%3", CARD_KEY), "hint"))

        layout.addWidget(_label(self.tr("Security key"), "section"))
        layout.addWidget(_label(devices.key_hint, "hint"))
        layout.addWidget(
            _label(self.tr("The demo allows this software key; it signs in as one (swk)."), "hint")
        )
        self.key_state = _label("")
        layout.addWidget(self.key_state)
        keys = QHBoxLayout()
        self.plug = _button(
            self.tr("Plug in"), self.tr("Plug in the security key"), self._plug, PLUG_KEY
        )
        self.tap = _button(
            self.tr("Tap the key"), self.tr("Tap the security key"), self._tap, TAP_KEY
        )
        keys.addWidget(self.plug)
        keys.addWidget(self.tap)
        layout.addLayout(keys)

        layout.addWidget(_label(self.tr("Smart card"), "section"))
        layout.addWidget(_label(devices.card_hint, "hint"))
        self.card_state = _label("")
        layout.addWidget(self.card_state)
        self.card = _button(
            self.tr("Insert card"), self.tr("Insert the smart card"), self._card, CARD_KEY
        )
        layout.addWidget(self.card, 0, Qt.AlignmentFlag.AlignLeft)

        layout.addWidget(_label(self.tr("One-time codes"), "section"))
        self.accounts = [_OtpAccount(devices, name, self) for name in devices.otp_accounts()]
        for account in self.accounts:
            layout.addWidget(account)
        layout.addStretch(1)
        self.setFocusPolicy(Qt.FocusPolicy.NoFocus)
        for sequence, slot in (
            (PLUG_KEY, self._plug),
            (TAP_KEY, self._tap),
            (CARD_KEY, self._card),
        ):
            shortcut = QShortcut(QKeySequence(sequence), shortcut_owner or self)
            shortcut.setContext(Qt.ShortcutContext.WindowShortcut)
            shortcut.activated.connect(slot)

        self._timer = QTimer(self)
        self._timer.setInterval(REFRESH_MS)
        self._timer.timeout.connect(self.refresh)
        self._timer.start()
        self.refresh()

    # -- the buttons ----------------------------------------------------------------------

    def _plug(self) -> None:
        self.devices.plug_key(not self.devices.key_plugged)
        self.refresh()
        self.devices_changed.emit()

    def _tap(self) -> None:
        if self.devices.key_plugged:
            self.devices.tap_key()
        self.refresh()

    def _card(self) -> None:
        if self._busy.is_set():
            return
        self._busy.set()
        action = self.devices.pull_card if self.devices.card_inserted else self.devices.insert_card

        def work() -> None:
            try:
                action()
            finally:
                self._busy.clear()

        threading.Thread(target=work, name="demo-card", daemon=True).start()
        self.refresh()

    # -- what the panel shows ---------------------------------------------------------------

    def refresh(self) -> None:
        plugged = self.devices.key_plugged
        waiting = self.devices.key_waiting
        if not plugged:
            state = self.tr("Not plugged in.")
        elif waiting:
            state = self.tr("Blinking: it waits for a touch.")
        else:
            state = self.tr("Plugged in.")
        self._set_text(self.key_state, state)
        self._set_text(self.plug, self.tr("Unplug") if plugged else self.tr("Plug in"))
        self.plug.setAccessibleName(
            self.tr("Unplug the security key") if plugged else self.tr("Plug in the security key")
        )
        self.tap.setEnabled(plugged)
        if self.tap.property("attention") != waiting:
            self.tap.setProperty("attention", waiting)
            self.tap.style().unpolish(self.tap)
            self.tap.style().polish(self.tap)

        inserted = self.devices.card_inserted
        busy = self._busy.is_set()
        self._set_text(
            self.card_state, self.tr("In the reader.") if inserted else self.tr("Not in a reader.")
        )
        self._set_text(self.card, self.tr("Pull card") if inserted else self.tr("Insert card"))
        self.card.setAccessibleName(
            self.tr("Pull the smart card") if inserted else self.tr("Insert the smart card")
        )
        self.card.setEnabled(not busy)
        for account in self.accounts:
            account.refresh()

    @staticmethod
    def _set_text(widget: QLabel | QPushButton, text: str) -> None:
        if widget.text() != text:
            widget.setText(text)
