"""The kiosk window's screens: sign-in, busy (checking, touch your key), PIN pad, code
entry, signed-in and locked, stacked under the header and the message banner.

:class:`KioskScreens` builds them and knows which one shows and where the keyboard goes
on each; it decides nothing. :class:`~tokenstile.kiosk.window.KioskWindow` says which
screen to show and what they say, and connects their buttons to its actions.

The words keep the window's translation context (``KioskWindow``), spelled out at every
call so that lupdate finds them.
"""

from __future__ import annotations

import time
from enum import Enum

from PySide6.QtCore import QCoreApplication, Qt
from PySide6.QtWidgets import (
    QHBoxLayout,
    QLabel,
    QSpacerItem,
    QStackedWidget,
    QVBoxLayout,
    QWidget,
)

from tokenstile.broker import SessionInfo
from tokenstile.kiosk.assets import style_sheet
from tokenstile.kiosk.messages import Factor, Problem
from tokenstile.kiosk.widgets import (
    COMPACT_ICON_SCALE,
    CodeEntry,
    FactorTile,
    PinPad,
    button,
    header_bar,
    icon_label,
    scale_icons,
    set_icon,
    text_label,
)

# Below this width or height the screens are laid out compact (small touch panels such as
# 800x480 or 1024x600): smaller type and margins, the PIN pad's keys beside its field.
# The regular layout was drawn for 1024x720 and up.
COMPACT_BELOW = (1024, 720)


def is_compact(width: int, height: int) -> bool:
    return width < COMPACT_BELOW[0] or height < COMPACT_BELOW[1]


class Screen(Enum):
    SIGN_IN = "sign_in"
    BUSY = "busy"  # checking, or "touch your key"
    PIN = "pin"
    CODE = "code"
    SIGNED_IN = "signed_in"
    LOCKED = "locked"


class _Page(QWidget):
    def __init__(self, name: str) -> None:
        super().__init__()
        self.setObjectName(name)
        self.layout_ = QVBoxLayout(self)
        self.set_compact(False)

    def set_compact(self, compact: bool) -> None:
        if compact:
            self.layout_.setContentsMargins(16, 8, 16, 8)
            self.layout_.setSpacing(8)
        else:
            self.layout_.setContentsMargins(48, 24, 48, 48)
            self.layout_.setSpacing(18)


class SignInPage(_Page):
    """The invitation and a tile for each kind of factor this deployment has enrolled."""

    def __init__(self) -> None:
        super().__init__("signInPage")
        self.layout_.addStretch(1)
        self.layout_.addWidget(
            text_label(QCoreApplication.translate("KioskWindow", "Sign in"), "title")
        )
        self.invitation = text_label("", "subtitle")
        self.layout_.addWidget(self.invitation)
        tiles = QHBoxLayout()
        tiles.setSpacing(24)
        self.key_tile = FactorTile(
            "key",
            QCoreApplication.translate("KioskWindow", "Security key"),
            QCoreApplication.translate(
                "KioskWindow", "Tap it on the reader or plug it in, then touch it."
            ),
        )
        self.card_tile = FactorTile(
            "card",
            QCoreApplication.translate("KioskWindow", "Smart card"),
            QCoreApplication.translate("KioskWindow", "Insert your card, then enter its PIN."),
        )
        self.code_tile = FactorTile(
            "fob",
            QCoreApplication.translate("KioskWindow", "Code"),
            QCoreApplication.translate(
                "KioskWindow", "Type your username and the code your fob shows."
            ),
        )
        tiles.addStretch(0)  # what the tiles leave at their widest: either side, not between
        for tile in (self.key_tile, self.card_tile, self.code_tile):
            tiles.addWidget(tile, 1)
        tiles.addStretch(0)
        self._gaps = [QSpacerItem(0, 16), QSpacerItem(0, 16)]
        self.layout_.addItem(self._gaps[0])
        self.layout_.addLayout(tiles)
        # The light fob: the dark one vanishes on the dark button.
        self.code_button = button(
            QCoreApplication.translate("KioskWindow", "Enter a code"),
            "primary",
            icon_name="fob-light",
        )
        self.layout_.addItem(self._gaps[1])
        self.layout_.addLayout(centered(self.code_button))
        self.layout_.addStretch(2)

    def set_compact(self, compact: bool) -> None:
        super().set_compact(compact)
        for gap in getattr(self, "_gaps", ()):
            gap.changeSize(0, 4 if compact else 16)
        for tile in (getattr(self, name, None) for name in ("key_tile", "card_tile", "code_tile")):
            if isinstance(tile, FactorTile):
                tile.set_compact(compact)

    def invite(self, kinds: tuple[str, ...]) -> None:
        self.key_tile.setVisible("fido2" in kinds)
        self.card_tile.setVisible("piv" in kinds)
        codes = "totp" in kinds or "tac" in kinds  # a fob's code, or a temporary one
        self.code_tile.setVisible(codes)
        self.code_button.setVisible(codes)
        parts = []
        if "fido2" in kinds:
            parts.append(
                QCoreApplication.translate("KioskWindow", "Tap or insert your security key")
            )
        if "piv" in kinds:
            parts.append(QCoreApplication.translate("KioskWindow", "Insert your card"))
        if "totp" in kinds:
            parts.append(QCoreApplication.translate("KioskWindow", "Enter the code from your fob"))
        sign_in = QCoreApplication.translate("KioskWindow", "Sign in")
        _show_text(self.invitation, " · ".join(parts), sign_in)


class BusyPage(_Page):
    """Reading your key or card, checking, touch your key, cancelling."""

    def __init__(self) -> None:
        super().__init__("busyPage")
        self.layout_.addStretch(1)
        self.icon = icon_label("key", 120, QCoreApplication.translate("KioskWindow", "Working"))
        self.layout_.addWidget(self.icon)
        self.title = text_label(QCoreApplication.translate("KioskWindow", "Checking…"), "title")
        self.layout_.addWidget(self.title)
        self.detail = text_label("", "hint")
        self.detail.setAccessibleName(QCoreApplication.translate("KioskWindow", "Details"))
        self.layout_.addWidget(self.detail)
        self.cancel = button(QCoreApplication.translate("KioskWindow", "Cancel"), "secondary")
        self.cancel.setAccessibleName(
            QCoreApplication.translate("KioskWindow", "Cancel the sign-in")
        )
        self.layout_.addLayout(centered(self.cancel))
        self.layout_.addStretch(2)

    def reading(self, factor: Factor, *, checking: bool = False) -> None:
        names = {Factor.KEY: "key", Factor.CARD: "card", Factor.CODE: "fob"}
        set_icon(self.icon, names[factor], 120)
        titles = {
            Factor.KEY: QCoreApplication.translate("KioskWindow", "Reading your key…"),
            Factor.CARD: QCoreApplication.translate("KioskWindow", "Reading your card…"),
            Factor.CODE: QCoreApplication.translate("KioskWindow", "Checking your code…"),
        }
        self.title.setText(
            QCoreApplication.translate("KioskWindow", "Checking…") if checking else titles[factor]
        )
        self.detail.setText(QCoreApplication.translate("KioskWindow", "This takes a moment."))
        self.cancel.setVisible(factor is not Factor.CODE)

    def touch_needed(self) -> None:
        set_icon(self.icon, "key", 120)
        self.title.setText(QCoreApplication.translate("KioskWindow", "Touch your key"))
        self.detail.setText(
            QCoreApplication.translate(
                "KioskWindow", "Touch the button or the gold disc on your security key now."
            )
        )

    def cancelling(self) -> None:
        self.title.setText(QCoreApplication.translate("KioskWindow", "Cancelling…"))
        self.detail.setText("")


AVATAR = 132  # px; the style sheets round it with half of it (compact: AVATAR_COMPACT)
AVATAR_COMPACT = 88


class SignedInPage(_Page):
    """Who is signed in, since when, how long is left; Lock and Sign out."""

    def __init__(self) -> None:
        super().__init__("signedInPage")
        self.layout_.addStretch(1)
        self.avatar = QLabel()
        self.avatar.setObjectName("avatar")
        self.avatar.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.avatar.setFixedSize(AVATAR, AVATAR)
        self.layout_.addLayout(centered(self.avatar))
        self.who = text_label("", "title")
        self.layout_.addWidget(self.who)
        self.since = text_label("", "subtitle")
        self.layout_.addWidget(self.since)
        self.remaining = text_label("", "remaining")
        self.layout_.addWidget(self.remaining)
        self.layout_.addSpacing(24)
        self.lock_button = button(
            QCoreApplication.translate("KioskWindow", "Lock"), "secondary", icon_name="lock"
        )
        self.lock_button.setAccessibleName(
            QCoreApplication.translate("KioskWindow", "Lock the screen")
        )
        self.sign_out_button = button(
            QCoreApplication.translate("KioskWindow", "Sign out"), "primary", icon_name="sign-out"
        )
        # Parks this person (kiosk_park_sessions): shown only when parking is on.
        self.switch_button = button(
            QCoreApplication.translate("KioskWindow", "Switch user"), "secondary", icon_name="lock"
        )
        self.switch_button.setAccessibleName(
            QCoreApplication.translate("KioskWindow", "Step away and let someone else sign in")
        )
        self.switch_button.setVisible(False)
        # Tap-and-go: sign out and end the shift (no more taps until the next full
        # sign-in); shown only when kiosk_tap_and_go is on.
        self.end_shift_button = button(
            QCoreApplication.translate("KioskWindow", "End shift"),
            "secondary",
            icon_name="sign-out",
        )
        self.end_shift_button.setAccessibleName(
            QCoreApplication.translate("KioskWindow", "Sign out and end your shift")
        )
        self.end_shift_button.setVisible(False)
        row = QHBoxLayout()
        row.setSpacing(20)
        row.addStretch(1)
        row.addWidget(self.lock_button)
        row.addWidget(self.switch_button)
        row.addWidget(self.end_shift_button)
        row.addWidget(self.sign_out_button)
        row.addStretch(1)
        self.layout_.addLayout(row)
        self.layout_.addStretch(2)
        QWidget.setTabOrder(self.lock_button, self.switch_button)
        QWidget.setTabOrder(self.switch_button, self.end_shift_button)
        QWidget.setTabOrder(self.end_shift_button, self.sign_out_button)

    def set_compact(self, compact: bool) -> None:
        super().set_compact(compact)
        avatar = getattr(self, "avatar", None)
        if avatar is not None:
            side = AVATAR_COMPACT if compact else AVATAR
            avatar.setFixedSize(side, side)

    def show_session(self, name: str, info: SessionInfo, seconds_left: int) -> None:
        self.avatar.setText(initials(name))
        self.avatar.setAccessibleName(
            QCoreApplication.translate("KioskWindow", "Signed in as %1").replace("%1", name)
        )
        _show_text(self.who, name)
        since = time.strftime("%H:%M", time.localtime(info.auth_time))
        signed_in_since = QCoreApplication.translate("KioskWindow", "Signed in since %1")
        _show_text(self.since, signed_in_since.replace("%1", since))
        session_time = QCoreApplication.translate("KioskWindow", "Session time")
        _show_text(self.remaining, _remaining_text(seconds_left), session_time)


class LockedPage(_Page):
    """Someone is signed in and away: the same key, card or code unlocks."""

    def __init__(self) -> None:
        super().__init__("lockedPage")
        # Who is signed in, at the top where a passer-by sees it (walk-away lock).
        self.signed_in_banner = text_label("", "lockedBanner")
        self.signed_in_banner.setObjectName("signedInBanner")
        self.layout_.addWidget(self.signed_in_banner)
        self.layout_.addStretch(1)
        locked = QCoreApplication.translate("KioskWindow", "Locked")
        self.layout_.addWidget(icon_label("lock", 120, locked))
        self.layout_.addWidget(text_label(locked, "title"))
        self.who = text_label("", "subtitle")
        self.layout_.addWidget(self.who)
        self.layout_.addWidget(
            text_label(
                QCoreApplication.translate(
                    "KioskWindow",
                    "To unlock, use the same key, card or code. Someone else signing in "
                    "signs them out.",
                ),
                "hint",
            )
        )
        self.code_button = button(
            QCoreApplication.translate("KioskWindow", "Enter a code"), "secondary", icon_name="fob"
        )
        self.code_button.setAccessibleName(
            QCoreApplication.translate("KioskWindow", "Unlock with a code")
        )
        self.layout_.addLayout(centered(self.code_button))
        self.layout_.addStretch(2)

    def show_name(self, name: str) -> None:
        _show_text(
            self.who,
            QCoreApplication.translate("KioskWindow", "%1 is signed in.").replace("%1", name),
        )
        _show_text(
            self.signed_in_banner,
            QCoreApplication.translate("KioskWindow", "Signed in: %1").replace("%1", name),
        )


class ParkedStrip(QWidget):
    """The people parked at this kiosk (``kiosk_park_sessions``), by initials and name
    only: shown on the sign-in and locked screens; each signs in again to come back."""

    def __init__(self) -> None:
        super().__init__()
        self.setObjectName("parkedPeople")
        self._row = QHBoxLayout(self)
        self._row.setContentsMargins(16, 8, 16, 8)
        self._row.setSpacing(16)
        self.names: tuple[str, ...] = ()
        self.setVisible(False)

    def show_people(self, names: tuple[str, ...]) -> None:
        if names == self.names:
            return
        self.names = names
        while self._row.count():
            item = self._row.takeAt(0)
            widget = item.widget() if item is not None else None
            if widget is not None:
                widget.deleteLater()
        if not names:
            return
        self._row.addStretch(1)
        title = QCoreApplication.translate("KioskWindow", "Parked here (sign in to come back):")
        self._row.addWidget(text_label(title, "hint"))
        for name in names:
            avatar = QLabel(initials(name))
            avatar.setObjectName("parkedAvatar")
            avatar.setAlignment(Qt.AlignmentFlag.AlignCenter)
            avatar.setFixedSize(48, 48)
            avatar.setAccessibleName(name)
            self._row.addWidget(avatar)
            self._row.addWidget(text_label(name, "subtitle"))
        self._row.addStretch(1)


class KioskScreens:
    """The window's central widget (:attr:`root`): the header with the clock, the
    message banner, and the stack of screens."""

    def __init__(self, owner: QWidget) -> None:
        self._owner = owner  # the window: is it on screen yet?
        self.root = QWidget()
        self.root.setObjectName("root")
        column = QVBoxLayout(self.root)
        column.setContentsMargins(0, 0, 0, 0)
        column.setSpacing(0)
        header, row = header_bar()
        self.clock = QLabel()
        self.clock.setObjectName("clock")
        self.clock.setAccessibleName(QCoreApplication.translate("KioskWindow", "Time"))
        row.addWidget(self.clock)
        column.addWidget(header)
        self.banner = QLabel()
        self.banner.setObjectName("banner")
        self.banner.setWordWrap(True)
        self.banner.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.banner.setAccessibleName(QCoreApplication.translate("KioskWindow", "Message"))
        self.banner.setVisible(False)
        column.addWidget(self.banner)
        self.parked = ParkedStrip()
        column.addWidget(self.parked)
        self.sign_in = SignInPage()
        self.busy = BusyPage()
        self.pin = PinPad()
        self.code = CodeEntry()
        self.signed_in = SignedInPage()
        self.locked = LockedPage()
        self.pages: dict[Screen, QWidget] = {
            Screen.SIGN_IN: self.sign_in,
            Screen.BUSY: self.busy,
            Screen.PIN: self.pin,
            Screen.CODE: self.code,
            Screen.SIGNED_IN: self.signed_in,
            Screen.LOCKED: self.locked,
        }
        self.stack = QStackedWidget()
        self.stack.setObjectName("screens")
        self._by_index: dict[int, Screen] = {}
        for screen, page in self.pages.items():
            self._by_index[self.stack.addWidget(page)] = screen
        column.addWidget(self.stack, 1)
        self._header_row = row
        self.compact = False

    def set_compact(self, compact: bool) -> None:
        """The compact layout (small panels) or the regular one: type and margins from
        ``resources/style/kiosk-compact.qss`` over the application's sheet, icons smaller,
        the PIN pad's keys beside its field."""
        if compact == self.compact:
            return
        self.compact = compact
        self.root.setStyleSheet(style_sheet("kiosk-compact") if compact else "")
        if compact:
            self._header_row.setContentsMargins(16, 6, 16, 6)
        else:
            self._header_row.setContentsMargins(32, 16, 32, 16)
        scale_icons(self.root, COMPACT_ICON_SCALE if compact else 1.0)
        for page in self.pages.values():
            if isinstance(page, (_Page, PinPad)):
                page.set_compact(compact)

    @property
    def current(self) -> Screen:
        return self._by_index[self.stack.currentIndex()]

    def show(self, screen: Screen) -> None:
        self.stack.setCurrentWidget(self.pages[screen])
        self._show_parked()
        self.focus(screen)

    def show_parked(self, names: tuple[str, ...]) -> None:
        """Who is parked here (names only), on the sign-in and locked screens."""
        self.parked.show_people(names)
        self._show_parked()

    def _show_parked(self) -> None:
        on_screen = self.current in (Screen.SIGN_IN, Screen.LOCKED)
        self.parked.setVisible(bool(self.parked.names) and on_screen)

    def focus(self, screen: Screen) -> None:
        """Keyboard focus to what ``screen`` expects: the PIN field, the username (or the
        code when the username is known), else its main button. Taken from wherever it
        was, the demo panel included, so that nothing typed goes to another page."""
        focus = {
            Screen.SIGN_IN: self.sign_in.code_button,
            Screen.BUSY: self.busy.cancel,
            Screen.PIN: self.pin.field,
            Screen.CODE: self.code.first_field(),
            Screen.SIGNED_IN: self.signed_in.sign_out_button,
            Screen.LOCKED: self.locked.code_button,
        }[screen]
        if focus.isVisible():
            focus.setFocus(Qt.FocusReason.OtherFocusReason)
        elif self._owner.isVisible():
            self.pages[screen].setFocus(Qt.FocusReason.OtherFocusReason)

    def invite(self, kinds: tuple[str, ...]) -> None:
        """Show the ways in that ``kinds`` (``fido2``, ``piv``, ``totp``) offer."""
        self.sign_in.invite(kinds)
        self.locked.code_button.setVisible("totp" in kinds or "tac" in kinds)

    def show_problem(self, problem: Problem) -> None:
        self.banner.setText(problem.text)
        self.banner.setAccessibleName(problem.text)
        self.banner.setProperty("severity", problem.severity.value)
        self.banner.style().unpolish(self.banner)
        self.banner.style().polish(self.banner)
        self.banner.setVisible(True)

    def clear_problem(self) -> None:
        self.banner.setText("")
        self.banner.setVisible(False)

    def show_session(self, info: SessionInfo, seconds_left: int) -> None:
        name = info.display_name or info.username or info.subject
        self.signed_in.show_session(name, info, seconds_left)
        self.locked.show_name(name)


def _show_text(label: QLabel, text: str, fallback: str = "") -> None:
    """Show ``text`` on ``label`` and say it to a screen reader (``fallback`` when empty)."""
    label.setText(text)
    label.setAccessibleName(text or fallback)


def _remaining_text(left: int) -> str:
    if left <= 0:  # only seen with kiosk_sign_out_at_session_end off
        return QCoreApplication.translate(
            "KioskWindow", "This session has ended: sign in again to go on."
        )
    hours, minutes = divmod(left // 60, 60)
    if hours:
        text = QCoreApplication.translate("KioskWindow", "%1 h %2 min left in this session")
        return text.replace("%1", str(hours)).replace("%2", f"{minutes:02d}")
    if minutes:
        return QCoreApplication.translate("KioskWindow", "%1 min left in this session").replace(
            "%1", str(minutes)
        )
    return QCoreApplication.translate("KioskWindow", "%1 s left in this session").replace(
        "%1", str(left)
    )


def centered(widget: QWidget) -> QHBoxLayout:
    row = QHBoxLayout()
    row.addStretch(1)
    row.addWidget(widget)
    row.addStretch(1)
    return row


def initials(name: str) -> str:
    parts = [p for p in name.replace(".", " ").replace("_", " ").split() if p]
    if not parts:
        return "?"
    if len(parts) == 1:
        return parts[0][:2].upper()
    return (parts[0][0] + parts[-1][0]).upper()
