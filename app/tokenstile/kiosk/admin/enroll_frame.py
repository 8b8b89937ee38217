"""What every enrollment dialog shares: :class:`EnrollDialog` (title, steps, prompts,
status, buttons, its work on a worker) and :class:`PinRows` (the PIN field, and its
repetition when a key gets its first PIN, a card a new PIN in place of the factory one,
or a new PUK).

The dialogs open on a :class:`~tokenstile.kiosk.admin.widgets.DevicePage` (the people
page), never importing it: :mod:`~tokenstile.kiosk.admin.enroll` (a key, a card) and
:mod:`~tokenstile.kiosk.admin.enroll_otp` (an app, fobs) build on this module.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from PySide6.QtWidgets import (
    QDialog,
    QFormLayout,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QVBoxLayout,
    QWidget,
)

from tokenstile.devices.piv_setup import new_pin_refusal, new_puk_refusal
from tokenstile.kiosk.admin.messages import describe
from tokenstile.kiosk.admin.session import AdminSession, TaskCancelled
from tokenstile.kiosk.admin.widgets import DevicePage, PinField, StatusLine, button, field
from tokenstile.kiosk.tasks import Task


class EnrollDialog(QDialog):
    """The frame every enrollment shares: a title, the steps, prompts, status, buttons."""

    def __init__(self, page: DevicePage, person: dict[str, Any], title: str, **names: str) -> None:
        """``title`` (translated) names the person as ``{name}``, and ``names`` more."""
        super().__init__(page)
        self.page = page
        self.person = person
        self.username: str = person["username"]
        self.name: str = person.get("display_name") or self.username
        title = title.format(name=self.name, **names)
        self.task: Task | None = None
        self.result_record: Any = None
        self.setWindowTitle(title)
        self.setAccessibleName(title)
        self.setMinimumWidth(520)
        heading = QLabel(title)
        heading.setObjectName("dialogTitle")
        self.body = QVBoxLayout()
        self.prompt = QLabel()
        self.prompt.setObjectName("prompt")
        self.prompt.setWordWrap(True)
        self.status = StatusLine(f"{type(self).__name__}Status")
        self.start_button = button(self.tr("Start"), "enrollStart", default=True)
        self.cancel_button = button(self.tr("Cancel"), "enrollCancel")
        self.cancel_button.clicked.connect(self.cancel)
        buttons = QHBoxLayout()
        buttons.addStretch(1)
        buttons.addWidget(self.start_button)
        buttons.addWidget(self.cancel_button)
        layout = QVBoxLayout(self)
        layout.addWidget(heading)
        layout.addLayout(self.body)
        layout.addWidget(self.prompt)
        layout.addWidget(self.status)
        layout.addLayout(buttons)

    @property
    def session(self) -> AdminSession:
        session = self.page.session
        if session is None:
            raise TaskCancelled()
        return session

    def run(self, work: Any, busy: str) -> None:
        """Run ``work(ctx, session)`` on a worker; the dialog stays responsive."""
        if self.task is not None and self.task.running:
            return
        session = self.session
        self.status.show_info(busy)
        self.start_button.setEnabled(False)
        self.task = self.page.runner.start(
            lambda ctx: work(ctx, session),
            on_done=self._succeeded,
            on_error=self._failed,
            on_prompt=self.ask,
            on_progress=self.prompt.setText,
            on_end=self._ended,
            owner=self,
        )

    def label_field(self, default: str, name: str, accessible: str, row: str) -> QLineEdit:
        """What the person calls the key or app, ``default`` until typed over, in its
        own form row."""
        edit = field(default, name, accessible)
        edit.setText(default)
        form = QFormLayout()
        form.addRow(row, edit)
        self.body.addLayout(form)
        return edit

    def later(self, *widgets: QWidget) -> None:
        """Widgets the dialog shows once the first step is done."""
        for widget in widgets:
            widget.setVisible(False)
            self.body.addWidget(widget)

    def start_with(self, text: str, accessible: str, slot: Callable[[], None]) -> None:
        """What the Start button says and does."""
        self.start_button.setText(text)
        self.start_button.setAccessibleName(accessible)
        self.start_button.clicked.connect(slot)

    def cancel(self) -> None:
        if self.task is not None and self.task.running:
            self.task.cancel()
        self.reject()

    def reject(self) -> None:
        if self.task is not None:
            self.task.cancel()
        super().reject()

    def _succeeded(self, record: Any) -> None:
        self.result_record = record
        self.prompt.setText("")
        self.succeeded(record)

    def _failed(self, exc: BaseException) -> None:
        self.prompt.setText("")
        if self.task is not None and self.task.cancel_event.is_set():
            return
        self.status.show_error(describe(exc))
        self.start_button.setEnabled(True)

    def _ended(self) -> None:
        if self.task is not None and self.task.running:
            return  # a newer task already started: its prompts stay
        self.hide_prompt_fields()

    def finish(self, text: str) -> None:
        """The enrollment is done: say so, and offer only Close."""
        self.status.show_success(text)
        self.start_button.setVisible(False)
        self.cancel_button.setText(self.tr("Close"))
        self.cancel_button.setAccessibleName(self.tr("Close"))
        self.cancel_button.setFocus()

    # to override
    def succeeded(self, record: Any) -> None:
        self.finish(self.tr("Done."))

    def ask(self, kind: str, payload: object) -> None:
        pass

    def hide_prompt_fields(self) -> None:
        pass


# The kinds of prompt that choose a new secret, typed twice: a key's first PIN, a card's
# PIN in place of the factory one, a card's new PUK.
NEW_SECRET_KINDS = frozenset({"new-pin", "new-card-pin", "new-puk"})


class PinRows(QWidget):
    """The PIN field (and its repetition for a new PIN or PUK) a dialog shows when asked."""

    def __init__(self, dialog: EnrollDialog) -> None:
        super().__init__()
        self.dialog = dialog
        self.pin = PinField("enrollPin", self.tr("PIN"))
        self.repeat = PinField("enrollPinRepeat", self.tr("The same PIN again"))
        self.repeat_label = QLabel(self.tr("&Again"))
        self.repeat_label.setBuddy(self.repeat)
        self.submit = button(self.tr("OK"), "enrollPinSubmit")
        self.submit.setAccessibleName(self.tr("Send the PIN"))
        self.submit.clicked.connect(self.send)
        self.pin.returnPressed.connect(self.send)
        self.repeat.returnPressed.connect(self.send)
        form = QFormLayout(self)
        self.pin_label = QLabel(self.tr("&PIN"))
        self.pin_label.setBuddy(self.pin)
        form.addRow(self.pin_label, self.pin)
        form.addRow(self.repeat_label, self.repeat)
        form.addRow("", self.submit)
        self.kind: str | None = None
        self.close_rows()

    def open_rows(self, kind: str) -> None:
        self.kind = kind
        new = kind in NEW_SECRET_KINDS
        puk = kind == "new-puk"
        self.pin_label.setText(self.tr("&PUK") if puk else self.tr("&PIN"))
        self.pin.setAccessibleName(self.tr("PUK") if puk else self.tr("PIN"))
        self.repeat.setAccessibleName(
            self.tr("The same PUK again") if puk else self.tr("The same PIN again")
        )
        self.repeat.setVisible(new)
        self.repeat_label.setVisible(new)
        self.setVisible(True)
        self.pin.setFocus()

    def close_rows(self) -> None:
        self.kind = None
        self.pin.clear()
        self.repeat.clear()
        self.setVisible(False)

    def send(self) -> None:
        task = self.dialog.task
        if task is None or self.kind is None:
            return
        pin = self.pin.take()
        if self.kind in NEW_SECRET_KINDS:
            again = self.repeat.take()
            problem = self._refusal(self.kind, pin)
            if problem is not None:
                self.dialog.status.show_error(problem)
                return
            if pin != again:
                self.dialog.status.show_error(
                    self.tr("The two PUKs differ: type them again.")
                    if self.kind == "new-puk"
                    else self.tr("The two PINs differ: type them again.")
                )
                return
        elif not pin:
            return
        self.dialog.status.show_info("")
        self.close_rows()
        task.answer(pin)

    def _refusal(self, kind: str, chosen: str) -> str | None:
        """Why ``chosen`` will not do as the new secret of ``kind``, or None."""
        if kind == "new-card-pin":
            return new_pin_refusal(chosen)
        if kind == "new-puk":
            return new_puk_refusal(chosen)
        if len(chosen) < 4 or len(chosen.encode()) > 63:
            return self.tr("A key's PIN has 4 to 63 characters.")
        return None
