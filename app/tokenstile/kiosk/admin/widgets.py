"""Building blocks every screen of the admin console shares: the status line, the PIN
field, table helpers, times shown in local time, and the base of a page that calls the
admin API on a worker."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import datetime
from typing import Any

from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import (
    QAbstractItemView,
    QHeaderView,
    QLabel,
    QLineEdit,
    QPushButton,
    QTableWidget,
    QTableWidgetItem,
    QWidget,
)

from tokenstile.kiosk.admin.messages import describe
from tokenstile.kiosk.admin.session import AdminSession, SessionEnded
from tokenstile.kiosk.admin.tasks import Task, TaskContext, TaskRunner


def local_time(epoch: float | None) -> str:
    """A time as the admin reads it (local, to the minute), or an empty cell."""
    if epoch is None:
        return ""
    return datetime.fromtimestamp(float(epoch)).astimezone().strftime("%Y-%m-%d %H:%M")


def button(text: str, name: str, *, default: bool = False) -> QPushButton:
    """A push button with an accessible name (what a screen reader says)."""
    widget = QPushButton(text)
    widget.setObjectName(name)
    widget.setAccessibleName(text.rstrip("…").strip())
    widget.setAutoDefault(default)
    widget.setDefault(default)
    return widget


def field(placeholder: str, name: str, accessible: str) -> QLineEdit:
    widget = QLineEdit()
    widget.setObjectName(name)
    widget.setPlaceholderText(placeholder)
    widget.setAccessibleName(accessible)
    widget.setClearButtonEnabled(True)
    return widget


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
    """A read-only table of whole rows; each row remembers the record it shows."""

    def __init__(self, name: str, accessible: str, headers: Sequence[str]) -> None:
        super().__init__(0, len(headers))
        self.setObjectName(name)
        self.setAccessibleName(accessible)
        self.setHorizontalHeaderLabels(list(headers))
        self.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
        self.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.setTabKeyNavigation(False)
        self.verticalHeader().setVisible(False)
        self.horizontalHeader().setSectionResizeMode(QHeaderView.ResizeMode.ResizeToContents)
        self.horizontalHeader().setStretchLastSection(True)
        self._records: list[Any] = []

    def show_rows(self, rows: Sequence[tuple[Any, Sequence[str]]]) -> None:
        """``rows`` of (record, cells); the selection is kept on the same record key."""
        self.setRowCount(0)
        self._records = []
        for record, cells in rows:
            row = self.rowCount()
            self.insertRow(row)
            for column, text in enumerate(cells):
                self.setItem(row, column, QTableWidgetItem(text))
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

    def call(
        self,
        work: Callable[[AdminSession], Any],
        on_done: Callable[[Any], None],
        *,
        busy: str | None = None,
        on_error: Callable[[BaseException], None] | None = None,
    ) -> Task | None:
        """Run ``work(session)`` on a worker; ``on_done(result)`` back on this thread."""
        session = self.session
        if session is None:
            return None
        if busy:
            self.status.show_info(busy)
        self.pending += 1

        def done(result: Any) -> None:
            if busy:
                self.status.show_info("")
            on_done(result)

        def failed(exc: BaseException) -> None:
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
