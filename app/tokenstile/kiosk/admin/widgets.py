"""Building blocks every screen of the admin console shares: the status line, the PIN
field, table helpers, times shown in local time, and the base of a page that calls the
admin API on a worker."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from datetime import datetime
from typing import Any

from PySide6.QtCore import QObject, QRect, QSize, Qt, QTimer, Signal
from PySide6.QtGui import QColor, QPainter, QPaintEvent
from PySide6.QtWidgets import (
    QAbstractItemView,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QLayout,
    QLineEdit,
    QPushButton,
    QTableWidget,
    QTableWidgetItem,
    QVBoxLayout,
    QWidget,
)

from tokenstile.kiosk.admin.environment import AdminDevices
from tokenstile.kiosk.admin.messages import describe
from tokenstile.kiosk.admin.session import AdminSession, SessionEnded
from tokenstile.kiosk.tasks import Task, TaskContext, TaskRunner
from tokenstile.kiosk.widgets import icon


def local_time(epoch: float | None) -> str:
    """A time as the admin reads it (local, to the minute), or an empty cell."""
    if epoch is None:
        return ""
    return datetime.fromtimestamp(float(epoch)).astimezone().strftime("%Y-%m-%d %H:%M")


def button(
    text: str,
    name: str,
    *,
    default: bool = False,
    role: str = "",
    icon_name: str | None = None,
) -> QPushButton:
    """A push button with an accessible name (what a screen reader says).

    ``role`` picks its look in ``admin.qss``: "" (white, outlined), ``primary`` (the one
    action a screen is for, filled) or ``danger`` (revokes something, red).
    """
    widget = QPushButton(text)
    widget.setObjectName(name)
    widget.setAccessibleName(text.replace("&", "").rstrip("…").strip())
    widget.setAutoDefault(default)
    widget.setDefault(default)
    widget.setCursor(Qt.CursorShape.PointingHandCursor)
    if role:
        widget.setProperty("role", role)
    if icon_name:
        widget.setIcon(icon(icon_name))
        widget.setIconSize(QSize(18, 18))
    return widget


def field(placeholder: str, name: str, accessible: str, *, search: bool = False) -> QLineEdit:
    widget = QLineEdit()
    widget.setObjectName(name)
    widget.setPlaceholderText(placeholder)
    widget.setAccessibleName(accessible)
    widget.setClearButtonEnabled(True)
    if search:
        widget.addAction(icon("admin-search"), QLineEdit.ActionPosition.LeadingPosition)
    return widget


# How long a search field waits after the last key before it asks the service.
SEARCH_DELAY_MS = 250


def search_as_you_type(edit: QLineEdit, search: Callable[[], None], parent: QObject) -> QTimer:
    """Run ``search`` once typing in ``edit`` pauses, and at once on Enter.

    ``search`` stops the returned timer when it runs, so a pending search is not repeated.
    """
    timer = QTimer(parent)
    timer.setSingleShot(True)
    timer.setInterval(SEARCH_DELAY_MS)
    timer.timeout.connect(search)
    edit.textChanged.connect(lambda _text: timer.start())
    edit.returnPressed.connect(search)
    return timer


def field_row(label: str, widget: QLineEdit, action: QPushButton) -> QWidget:
    """A label, its field and the button that acts on it, on one line."""
    row = QWidget()
    layout = QHBoxLayout(row)
    layout.setContentsMargins(0, 0, 0, 0)
    caption = QLabel(label)
    caption.setBuddy(widget)
    layout.addWidget(caption)
    layout.addWidget(widget, 1)
    layout.addWidget(action)
    return row


class StatusLine(QLabel):
    """One sentence: what is happening, or what went wrong and what to do next."""

    def __init__(self, name: str = "status") -> None:
        super().__init__()
        self.setObjectName(name)
        self.setWordWrap(True)
        self.setAccessibleName(self.tr("Status"))
        self.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.show_info("")

    def show_info(self, text: str) -> None:
        self.setProperty("kind", "info")
        self._set(text)

    def show_error(self, text: str) -> None:
        self.setProperty("kind", "error")
        self._set(text)

    def show_success(self, text: str) -> None:
        self.setProperty("kind", "success")
        self._set(text)

    @property
    def kind(self) -> str:
        return str(self.property("kind"))

    def _set(self, text: str) -> None:
        self.setText(text)
        self.setAccessibleDescription(text)
        self.style().unpolish(self)
        self.style().polish(self)


class PinField(QLineEdit):
    """A PIN typed on the keyboard: hidden, never logged, never kept."""

    def __init__(self, name: str, accessible: str) -> None:
        super().__init__()
        self.setObjectName(name)
        self.setEchoMode(QLineEdit.EchoMode.Password)
        self.setAccessibleName(accessible)
        self.setMaxLength(63)
        self.setInputMethodHints(
            Qt.InputMethodHint.ImhHiddenText | Qt.InputMethodHint.ImhSensitiveData
        )

    def take(self) -> str:
        """The PIN, and the field emptied."""
        text = self.text()
        self.clear()
        return text


class Table(QTableWidget):
    """A read-only table of whole rows; each row remembers the record it shows.

    Columns fit their contents except ``stretch``, which takes what is left (the one a
    reader needs whole: a name, a detail). An empty table says why in its middle
    (:meth:`set_placeholder`) instead of showing a blank box.
    """

    def __init__(
        self,
        name: str,
        accessible: str,
        headers: Sequence[str],
        *,
        stretch: int = 0,
        widths: Mapping[int, int] | None = None,
    ) -> None:
        super().__init__(0, len(headers))
        self.setObjectName(name)
        self.setAccessibleName(accessible)
        self.setHorizontalHeaderLabels(list(headers))
        self.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
        self.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.setTabKeyNavigation(False)
        self.setShowGrid(False)
        self.setAlternatingRowColors(True)
        self.setWordWrap(False)
        self.setTextElideMode(Qt.TextElideMode.ElideRight)
        self.verticalHeader().setVisible(False)
        self.verticalHeader().setDefaultSectionSize(36)
        columns = self.horizontalHeader()
        columns.setDefaultAlignment(Qt.AlignmentFlag.AlignLeft | Qt.AlignmentFlag.AlignVCenter)
        columns.setHighlightSections(False)
        columns.setSectionResizeMode(QHeaderView.ResizeMode.ResizeToContents)
        columns.setSectionResizeMode(stretch, QHeaderView.ResizeMode.Stretch)
        for column, width in (widths or {}).items():  # long values: a set width, elided
            columns.setSectionResizeMode(column, QHeaderView.ResizeMode.Interactive)
            columns.resizeSection(column, width)
        columns.setStretchLastSection(False)
        self._records: list[Any] = []
        self._placeholder = ""

    def set_placeholder(self, text: str) -> None:
        """What the empty table says ("Select a person to see…", "No sessions…")."""
        self._placeholder = text
        self.viewport().update()

    @property
    def placeholder(self) -> str:
        return self._placeholder

    def paintEvent(self, event: QPaintEvent) -> None:  # noqa: N802 - Qt's name
        super().paintEvent(event)
        if self.rowCount() or not self._placeholder:
            return
        painter = QPainter(self.viewport())
        try:
            area = self.viewport().rect()
            art = 72 if area.height() >= 180 else 0
            text_top = area.center().y() - (art // 2) + 4
            if art:
                icon("admin-empty").paint(
                    painter, QRect(area.center().x() - art // 2, text_top - art - 4, art, art)
                )
            painter.setPen(QColor("#6b7785"))
            font = painter.font()
            font.setPixelSize(16)
            painter.setFont(font)
            painter.drawText(
                QRect(area.left() + 24, text_top + 8, area.width() - 48, 60),
                int(Qt.AlignmentFlag.AlignHCenter | Qt.AlignmentFlag.AlignTop)
                | int(Qt.TextFlag.TextWordWrap),
                self._placeholder,
            )
        finally:
            painter.end()

    def show_rows(self, rows: Sequence[tuple[Any, Sequence[str]]]) -> None:
        """``rows`` of (record, cells); the selection is kept on the same record key."""
        self.setRowCount(0)
        self._records = []
        for record, cells in rows:
            row = self.rowCount()
            self.insertRow(row)
            for column, text in enumerate(cells):
                item = QTableWidgetItem(text)
                item.setToolTip(text)  # the whole value of a cell cut short
                self.setItem(row, column, item)
            self._records.append(record)

    def record(self, row: int | None = None) -> Any:
        """The record of ``row``, or of the selected row; ``None`` when there is none."""
        if row is None:
            selected = self.selectionModel().selectedRows()
            if not selected:
                return None
            row = selected[0].row()
        return self._records[row] if 0 <= row < len(self._records) else None

    def records(self) -> list[Any]:
        return list(self._records)

    def select_where(self, predicate: Callable[[Any], bool]) -> bool:
        for row, record in enumerate(self._records):
            if predicate(record):
                self.selectRow(row)
                return True
        return False


class ApiPage(QWidget):
    """A screen that calls the admin API on a worker and says how it went."""

    session_ended = Signal()

    def __init__(self, runner: TaskRunner, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setAttribute(Qt.WidgetAttribute.WA_StyledBackground, True)  # a white sheet
        self.runner = runner
        self.session: AdminSession | None = None
        self.status = StatusLine(f"{type(self).__name__}Status")
        self.pending = 0

    def set_session(self, session: AdminSession | None) -> None:
        self.session = session
        if session is None:
            self.clear()

    def clear(self) -> None:
        """Forget what the last admin saw."""
        self.status.show_info("")

    def lay_out(
        self, main: QWidget, *, above: QLayout | None = None, below: QLayout | None = None
    ) -> None:
        """The page's column: ``above`` (filters, tools), ``main`` taking the room left,
        ``below`` (paging), and the status line at the foot."""
        layout = QVBoxLayout(self)
        layout.setContentsMargins(16, 16, 16, 8)
        if above is not None:
            layout.addLayout(above)
        layout.addWidget(main, 1)
        if below is not None:
            layout.addLayout(below)
        layout.addWidget(self.status)

    def call(
        self,
        work: Callable[[AdminSession], Any],
        on_done: Callable[[Any], None],
        *,
        busy: str | None = None,
        on_error: Callable[[BaseException], None] | None = None,
    ) -> Task | None:
        """Run ``work(session)`` on a worker; ``on_done(result)`` back on this thread.

        An answer that comes back after its session was signed out (or replaced) is
        dropped: the page was cleared for the next admin, who must not see it."""
        session = self.session
        if session is None:
            return None
        if busy:
            self.status.show_info(busy)
        self.pending += 1

        def done(result: Any) -> None:
            if self.session is not session:
                return
            if busy:
                self.status.show_info("")
            on_done(result)

        def failed(exc: BaseException) -> None:
            if self.session is not session:
                return
            if isinstance(exc, SessionEnded):
                self.session_ended.emit()
            if on_error is not None:
                on_error(exc)
            else:
                self.status.show_error(describe(exc))

        def ended() -> None:
            self.pending -= 1

        def run(_: TaskContext) -> Any:
            return work(session)

        return self.runner.start(run, on_done=done, on_error=failed, on_end=ended, owner=self)


class DevicePage(ApiPage):
    """An admin page that enrolls this station's devices (the people page): what the
    enrollment dialogs open on, without importing the page itself."""

    server: str  # the service URL a key's WebAuthn origin is derived from
    devices: AdminDevices  # where security keys and cards come from
