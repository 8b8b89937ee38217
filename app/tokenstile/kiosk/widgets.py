"""The kiosk's building blocks: icons, the PIN pad, the code entry, the factor tiles."""

from __future__ import annotations

from dataclasses import dataclass

from PySide6.QtCore import QCoreApplication, QRegularExpression, QSize, Qt, Signal
from PySide6.QtGui import (
    QHideEvent,
    QIcon,
    QKeyEvent,
    QKeySequence,
    QPixmap,
    QRegularExpressionValidator,
    QShortcut,
)
from PySide6.QtWidgets import (
    QFrame,
    QGridLayout,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QPushButton,
    QSizePolicy,
    QVBoxLayout,
    QWidget,
)

from tokenstile.kiosk.assets import icon_path
from tokenstile.kiosk.messages import Factor, tries_left


@dataclass(frozen=True, slots=True, kw_only=True)
class PinQuestion:
    """What the PIN pad shows."""

    factor: Factor
    retries_left: int | None
    wrong: bool = False

    @property
    def min_length(self) -> int:
        return 6 if self.factor is Factor.CARD else 4

    @property
    def max_length(self) -> int:
        return 8 if self.factor is Factor.CARD else 63


def icon(name: str) -> QIcon:
    path = icon_path(name)
    return QIcon(str(path)) if path is not None else QIcon()


# Compact screens (see :func:`compact_layout`) draw icons at this share of their size.
COMPACT_ICON_SCALE = 0.6


def icon_label(name: str, size: int, accessible: str) -> QLabel:
    """An icon drawn at ``size`` px (its regular size: compact screens draw it smaller)."""
    label = QLabel()
    label.setObjectName("icon")
    label.setAlignment(Qt.AlignmentFlag.AlignCenter)
    label.setAccessibleName(accessible)
    label.setProperty("iconSize", size)
    label.setProperty("iconScale", 1.0)
    set_icon(label, name)
    return label


def set_icon(label: QLabel, name: str, size: int | None = None) -> None:
    """Show icon ``name`` on ``label`` (at ``size``, its regular size, when given), scaled
    as the label's screen is."""
    if size is not None:
        label.setProperty("iconSize", size)
    label.setProperty("iconName", name)
    regular = int(label.property("iconSize") or 48)
    shown = round(regular * float(label.property("iconScale") or 1.0))
    label.setPixmap(icon(name).pixmap(QSize(shown, shown)) if icon_path(name) else QPixmap())
    label.setMinimumSize(shown, shown)


def scale_icons(root: QWidget, scale: float) -> None:
    """Draw every icon under ``root`` at ``scale`` times its regular size."""
    for label in root.findChildren(QLabel, "icon"):
        name = label.property("iconName")
        if isinstance(name, str) and label.property("iconScale") != scale:
            label.setProperty("iconScale", scale)
            set_icon(label, name)


def text_label(text: str, object_name: str, *, wrap: bool = True) -> QLabel:
    label = QLabel(text)
    label.setObjectName(object_name)
    label.setWordWrap(wrap)
    label.setAlignment(Qt.AlignmentFlag.AlignCenter)
    label.setAccessibleName(text or object_name)
    return label


def header_bar(section: str | None = None) -> tuple[QFrame, QHBoxLayout]:
    """The white bar across the top of the kiosk and the console: the logo and the name
    (and the part of the product, e.g. "Administration"); the caller adds the right side."""
    header = QFrame()
    header.setObjectName("header")
    row = QHBoxLayout(header)
    row.setContentsMargins(32, 16, 32, 16)
    row.setSpacing(12)
    name = QCoreApplication.translate("Header", "Tokenstile")
    row.addWidget(icon_label("logo", 40, name))
    brand = QLabel(name)
    brand.setObjectName("brand")
    brand.setAccessibleName(name)
    row.addWidget(brand)
    if section:
        part = QLabel(section)
        part.setObjectName("section")
        part.setAccessibleName(section)
        row.addWidget(part)
    row.addStretch(1)
    return header, row


class KioskButton(QPushButton):
    """A push button that Enter and Return press too (not only Space), as people expect."""

    def keyPressEvent(self, event: QKeyEvent) -> None:  # noqa: N802 - Qt's name
        if event.key() in (Qt.Key.Key_Return, Qt.Key.Key_Enter) and self.isEnabled():
            self.animateClick()
            return
        super().keyPressEvent(event)


def button(text: str, object_name: str, *, icon_name: str | None = None) -> QPushButton:
    widget = KioskButton(text)
    widget.setObjectName(object_name)
    widget.setAccessibleName(text)
    widget.setCursor(Qt.CursorShape.PointingHandCursor)
    widget.setMinimumHeight(64)
    if icon_name:
        widget.setIcon(icon(icon_name))
        widget.setIconSize(QSize(28, 28))
    return widget


def escape_shortcut(parent: QWidget, slot: object) -> QShortcut:
    shortcut = QShortcut(QKeySequence(Qt.Key.Key_Escape), parent)
    shortcut.setContext(Qt.ShortcutContext.WidgetWithChildrenShortcut)
    shortcut.activated.connect(slot)
    return shortcut


class FactorTile(QFrame):
    """One way to sign in, on the sign-in screen: an icon, a heading, one line."""

    def __init__(self, icon_name: str, heading: str, detail: str) -> None:
        super().__init__()
        self.setObjectName("tile")
        self.setAccessibleName(heading)
        # The width comes from the row's equal stretch alone, never from the text: the
        # tiles stay the same width at any window size (the style sheet bounds it).
        self.setSizePolicy(QSizePolicy.Policy.Ignored, QSizePolicy.Policy.Preferred)
        self._layout = QVBoxLayout(self)
        self._layout.addWidget(icon_label(icon_name, 88, heading))
        self._layout.addWidget(text_label(heading, "tileHeading"))
        self.detail = text_label(detail, "tileDetail")
        self._layout.addWidget(self.detail)
        self._layout.addStretch(1)
        self.set_compact(False)

    def set_compact(self, compact: bool) -> None:
        if compact:
            self._layout.setContentsMargins(12, 12, 12, 12)
            self._layout.setSpacing(6)
        else:
            self._layout.setContentsMargins(28, 32, 28, 28)
            self._layout.setSpacing(14)


class PinPad(QWidget):
    """An on-screen PIN pad that also takes the keyboard (digits, Backspace, Enter, Escape).

    Key PINs may hold letters: typed on a keyboard they go into the field as well.
    """

    submitted = Signal(str)
    cancelled = Signal()

    def __init__(self) -> None:
        super().__init__()
        self.setObjectName("pinPad")
        self.question: PinQuestion | None = None
        outer = QVBoxLayout(self)
        outer.setSpacing(18)
        outer.addStretch(1)
        # Title, hint, field and Cancel in one column; the keypad under the field (tall
        # screens) or beside the column (short ones: see set_compact).
        self._body = QGridLayout()
        self._body.setHorizontalSpacing(40)
        self._body.setVerticalSpacing(18)
        outer.addLayout(self._body)
        outer.addStretch(1)
        self.title = text_label(self.tr("Enter your PIN"), "title")
        self.hint = text_label("", "hint")
        self.hint.setAccessibleName(self.tr("PIN hint"))

        self.field = QLineEdit()
        self.field.setObjectName("pinField")
        self.field.setEchoMode(QLineEdit.EchoMode.Password)
        self.field.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.field.setAccessibleName(self.tr("PIN"))
        self.field.setPlaceholderText(self.tr("PIN"))
        self.field.setMaxLength(63)
        self.field.returnPressed.connect(self.submit)
        self.field.textChanged.connect(self._changed)

        self.keypad = QWidget()
        self.keypad.setObjectName("keypad")
        self.keypad.setLayout(self._keypad())

        self.cancel = button(self.tr("Cancel"), "secondary")
        self.cancel.setAccessibleName(self.tr("Cancel the sign-in"))
        self.cancel.clicked.connect(self.cancelled.emit)
        self.compact = True
        self.set_compact(False)
        escape_shortcut(self, self.cancelled.emit)
        self.setTabOrder(self.field, self.ok)
        self.setTabOrder(self.ok, self.cancel)

    def set_compact(self, compact: bool) -> None:
        """Short screens (a 480 px panel): the keypad beside the title and the field, not
        under them, so that every key keeps its full touch size."""
        if compact == self.compact:
            return
        self.compact = compact
        body = self._body
        for widget in (self.title, self.hint, self.field, self.keypad, self.cancel):
            body.removeWidget(widget)
        center = Qt.AlignmentFlag.AlignHCenter
        body.addWidget(self.title, 0, 0)
        body.addWidget(self.hint, 1, 0)
        body.addWidget(self.field, 2, 0, center)
        if compact:
            body.addWidget(self.cancel, 3, 0, center)
            body.addWidget(self.keypad, 0, 1, 4, 1, Qt.AlignmentFlag.AlignCenter)
            body.setVerticalSpacing(12)
        else:
            body.addWidget(self.keypad, 3, 0, center)
            body.addWidget(self.cancel, 4, 0, center)
            body.setVerticalSpacing(18)

    def _keypad(self) -> QGridLayout:
        grid = QGridLayout()
        grid.setContentsMargins(0, 0, 0, 0)
        grid.setSpacing(12)
        self.digits: dict[str, QPushButton] = {}
        for index, digit in enumerate("123456789"):
            grid.addWidget(self._digit(digit), index // 3, index % 3)
        self.backspace = button("", "padKey", icon_name="backspace")
        self.backspace.setAccessibleName(self.tr("Delete the last digit"))
        self.backspace.setFocusPolicy(Qt.FocusPolicy.NoFocus)
        self.backspace.clicked.connect(self.field.backspace)
        grid.addWidget(self.backspace, 3, 0)
        grid.addWidget(self._digit("0"), 3, 1)
        self.ok = button(self.tr("OK"), "padOk")
        self.ok.setAccessibleName(self.tr("Confirm the PIN"))
        self.ok.clicked.connect(self.submit)
        grid.addWidget(self.ok, 3, 2)
        return grid

    def _digit(self, digit: str) -> QPushButton:
        key = button(digit, "padKey")
        key.setAccessibleName(digit)
        key.setFocusPolicy(Qt.FocusPolicy.NoFocus)  # a tap must not take the field's focus
        key.clicked.connect(lambda: self.field.insert(digit))
        self.digits[digit] = key
        return key

    def ask(self, question: PinQuestion) -> None:
        self.question = question
        if question.factor is Factor.CARD:
            self.title.setText(self.tr("Enter your card's PIN"))
        else:
            self.title.setText(self.tr("Enter your key's PIN"))
        self.title.setAccessibleName(self.title.text())
        if question.wrong:
            self.hint.setText(tries_left(question.retries_left, device=question.factor))
            self.hint.setProperty("severity", "error")
        else:
            self.hint.setText(self.tr("Type it here or on your keyboard, then press OK."))
            self.hint.setProperty("severity", "info")
        self.hint.style().unpolish(self.hint)
        self.hint.style().polish(self.hint)
        self.field.setMaxLength(question.max_length)
        self.field.clear()
        self._changed("")
        self.field.setFocus(Qt.FocusReason.OtherFocusReason)

    def submit(self) -> None:
        if self.ok.isEnabled():
            pin = self.field.text()
            self.field.clear()
            self.submitted.emit(pin)

    def hideEvent(self, event: QHideEvent) -> None:  # noqa: N802 - Qt's name
        self.field.clear()  # a PIN typed and then cancelled never waits on a hidden page
        super().hideEvent(event)

    def _changed(self, text: str) -> None:
        minimum = self.question.min_length if self.question is not None else 4
        self.ok.setEnabled(len(text) >= minimum)


class CodeEntry(QWidget):
    """Username and the code from a fob or an authenticator app."""

    submitted = Signal(str, str)
    cancelled = Signal()

    def __init__(self) -> None:
        super().__init__()
        self.setObjectName("codeEntry")
        outer = QVBoxLayout(self)
        outer.setSpacing(18)
        outer.addStretch(1)
        outer.addWidget(icon_label("fob", 96, self.tr("Code from your fob")))
        self.title = text_label(self.tr("Enter the code from your fob"), "title")
        outer.addWidget(self.title)
        self._code_alone = False
        self.hint = text_label(
            self.tr("Your username, then the 6 or 8 digits your fob shows."), "hint"
        )
        outer.addWidget(self.hint)
        self.username, self.code = self._fields()
        self.username.returnPressed.connect(self._next)
        self.code.returnPressed.connect(self.submit)
        self.username.textChanged.connect(self._changed)
        self.code.textChanged.connect(self._changed)
        form = QVBoxLayout()
        form.setSpacing(14)
        form.addWidget(self.username)
        form.addWidget(self.code)
        self.sign_in = button(self.tr("Sign in"), "primary")
        self.sign_in.clicked.connect(self.submit)
        self.cancel = button(self.tr("Cancel"), "secondary")
        self.cancel.setAccessibleName(self.tr("Cancel the code entry"))
        self.cancel.clicked.connect(self.cancelled.emit)
        buttons = QHBoxLayout()
        buttons.addWidget(self.cancel)
        buttons.addWidget(self.sign_in)
        form.addLayout(buttons)
        form.addWidget(self._tac_button())
        row = QHBoxLayout()
        row.addStretch(1)
        row.addLayout(form, 0)
        row.addStretch(1)
        outer.addLayout(row)
        outer.addStretch(1)
        escape_shortcut(self, self.cancelled.emit)
        self.setTabOrder(self.username, self.code)
        self.setTabOrder(self.code, self.sign_in)
        self.setTabOrder(self.sign_in, self.cancel)
        self._changed()

    def allow_code_alone(self, allowed: bool) -> None:
        """Tap-and-go: the code alone signs in the one person on shift whose fob shows it
        (the service decides), so the username may stay empty."""
        self._code_alone = allowed
        if not self.tac_mode:
            self.hint.setText(self._fob_hint())
        self._changed()

    def _fob_hint(self) -> str:
        if self._code_alone:
            return self.tr("On shift here: the code alone. Else your username, then the code.")
        return self.tr("Your username, then the 6 or 8 digits your fob shows.")

    def _fields(self) -> tuple[QLineEdit, QLineEdit]:
        """The username and code fields, the code taking a fob's digits to start with."""
        username = QLineEdit()
        username.setObjectName("field")
        username.setAccessibleName(self.tr("Username"))
        username.setPlaceholderText(self.tr("Username"))
        username.setMaxLength(128)
        self.code = QLineEdit()
        self.code.setObjectName("codeField")
        self.code.setAccessibleName(self.tr("Code"))
        self.code.setPlaceholderText(self.tr("Code"))
        self.tac_mode = False
        self._set_code_rules()
        return username, self.code

    def _tac_button(self) -> QPushButton:
        """A person who lost their key and was given a temporary access code by the
        service desk types it here too (12 letters and digits instead of a fob's code)."""
        self.tac_button = button(self.tr("I have a temporary access code"), "secondary")
        self.tac_button.setAccessibleName(self.tr("Switch to a temporary access code"))
        self.tac_button.clicked.connect(lambda: self.set_tac_mode(not self.tac_mode))
        return self.tac_button

    def set_tac_mode(self, on: bool) -> None:
        """Take a temporary access code (``on``) or a fob's digits."""
        self.tac_mode = on
        self.code.clear()
        self._set_code_rules()
        if on:
            self.title.setText(self.tr("Enter your temporary access code"))
            self.hint.setText(
                self.tr("Your username, then the 12-character code the service desk gave you.")
            )
            self.tac_button.setText(self.tr("I have a code from my fob"))
        else:
            self.title.setText(self.tr("Enter the code from your fob"))
            self.hint.setText(self._fob_hint())
            self.tac_button.setText(self.tr("I have a temporary access code"))
        self._changed()
        self.first_field().setFocus(Qt.FocusReason.OtherFocusReason)

    def _set_code_rules(self) -> None:
        if self.tac_mode:
            self.code.setMaxLength(16)
            allowed = r"[0-9A-Za-z -]{0,16}"
            self.code.setInputMethodHints(
                Qt.InputMethodHint.ImhPreferUppercase | Qt.InputMethodHint.ImhNoPredictiveText
            )
        else:
            self.code.setMaxLength(9)
            allowed = r"[0-9 ]{0,9}"
            self.code.setInputMethodHints(Qt.InputMethodHint.ImhDigitsOnly)
        self.code.setValidator(QRegularExpressionValidator(QRegularExpression(allowed), self.code))

    def reset(self, username: str = "") -> None:
        if self.tac_mode:
            self.set_tac_mode(False)
        self.username.setText(username)
        self.code.clear()
        self.first_field().setFocus(Qt.FocusReason.OtherFocusReason)

    def first_field(self) -> QLineEdit:
        """Where typing starts: the username, or the code when the username is there."""
        return self.code if self.username.text().strip() else self.username

    def submit(self) -> None:
        if self.sign_in.isEnabled():
            code = self.code.text().replace(" ", "")
            self.code.clear()
            self.submitted.emit(self.username.text().strip(), code)

    def _next(self) -> None:
        self.code.setFocus(Qt.FocusReason.TabFocusReason)

    def hideEvent(self, event: QHideEvent) -> None:  # noqa: N802 - Qt's name
        self.code.clear()  # a code typed and then left never waits on a hidden page
        super().hideEvent(event)

    def _changed(self) -> None:
        typed = len(self.code.text().replace(" ", "").replace("-", ""))
        wanted = (12,) if self.tac_mode else (6, 7, 8)
        # a temporary access code always needs the username; a fob's code on shift may not
        named = bool(self.username.text().strip()) or (self._code_alone and not self.tac_mode)
        self.sign_in.setEnabled(named and typed in wanted)
