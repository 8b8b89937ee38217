"""The admin sign-in screen: the admin's own security key, smart card or one-time code.

The console signs in as the client ``tokenstile-admin-console``; only an administrator's
session carries the ``tokenstile:admin`` scope, so anyone else is told so in one
sentence and their session is revoked at once (:func:`~.session.admit`).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

from PySide6.QtCore import QSize, Qt, Signal
from PySide6.QtWidgets import (
    QButtonGroup,
    QFrame,
    QGridLayout,
    QHBoxLayout,
    QLabel,
    QSizePolicy,
    QStackedWidget,
    QVBoxLayout,
    QWidget,
)

from tokenstile.broker.client import TokenServiceClient
from tokenstile.devices.fido2_client import PinPrompt, SecurityKeyClient
from tokenstile.devices.key_ceremonies import login_with_key
from tokenstile.devices.piv_login import PinRequest, login_with_card
from tokenstile.kiosk.admin.environment import AdminDevices
from tokenstile.kiosk.admin.messages import describe
from tokenstile.kiosk.admin.session import AdminSession, TaskCancelled, admit
from tokenstile.kiosk.admin.widgets import PinField, StatusLine, button, field
from tokenstile.kiosk.service import key_origin
from tokenstile.kiosk.tasks import Task, TaskContext, TaskRunner


@contextmanager
def _closed_on_failure(client: TokenServiceClient) -> Iterator[None]:
    """Close the client a sign-in opened when the sign-in fails (or is cancelled)."""
    try:
        yield
    except BaseException:
        client.close()
        raise


class SignInPage(QWidget):
    """Choose a factor, then follow the prompts (touch, PIN, code)."""

    signed_in = Signal(object)  # an AdminSession

    def __init__(  # noqa: PLR0915 - one screen's widgets, in reading order
        self,
        *,
        server: str,
        connect: Callable[[], TokenServiceClient],
        devices: AdminDevices,
        runner: TaskRunner,
        rp_id: str | None = None,
        parent: QWidget | None = None,
    ) -> None:
        super().__init__(parent)
        self.setObjectName("adminSignIn")
        self.server = server
        self.rp_id = rp_id  # a pin (the kiosk_rp_id setting); checked against ``server``
        self._connect = connect
        self._devices = devices
        self._runner = runner
        self.task: Task | None = None

        title = QLabel(self.tr("Administrator sign-in"))
        title.setObjectName("signInTitle")
        title.setAccessibleName(title.text())
        lead = QLabel(self.tr("Sign in with your own security key, smart card or one-time code."))
        lead.setObjectName("lead")
        lead.setWordWrap(True)
        where = QLabel(self.tr("Token service: {server}").format(server=server))
        where.setObjectName("serviceHint")

        self.key_button = button(self.tr("Security key"), "factorKey", icon_name="key")
        self.card_button = button(self.tr("Smart card"), "factorCard", icon_name="card")
        self.code_button = button(self.tr("One-time code"), "factorCode", icon_name="fob")
        self.factors = QButtonGroup(self)
        choices = QHBoxLayout()
        for index, choice in enumerate((self.key_button, self.card_button, self.code_button)):
            choice.setCheckable(True)
            choice.setProperty("role", "factor")
            choice.setIconSize(QSize(26, 26))
            self.factors.addButton(choice, index)
            choices.addWidget(choice)
        self.factors.idClicked.connect(self._choose)

        self.steps = QStackedWidget()
        self.steps.setObjectName("factorSteps")
        self.key_start = button(self.tr("Start"), "keyStart", default=True)
        self.key_start.setAccessibleName(self.tr("Start the security key sign-in"))
        self.key_start.clicked.connect(self.start_key)
        self.card_start = button(self.tr("Start"), "cardStart", default=True)
        self.card_start.setAccessibleName(self.tr("Start the smart card sign-in"))
        self.card_start.clicked.connect(self.start_card)
        self.steps.addWidget(
            self._step(
                self.tr("Insert or tap your security key, then press Start."), self.key_start
            )
        )
        self.steps.addWidget(
            self._step(self.tr("Insert your smart card, then press Start."), self.card_start)
        )
        self.username = field(self.tr("Username"), "username", self.tr("Username"))
        self.code = field(self.tr("6 or 8 digits"), "code", self.tr("One-time code"))
        self.code.setInputMethodHints(Qt.InputMethodHint.ImhDigitsOnly)
        self.code.setMaxLength(12)
        self.code_submit = button(self.tr("Sign in"), "codeSubmit", default=True)
        self.code_submit.clicked.connect(self.start_code)
        self.code.returnPressed.connect(self.start_code)
        self.username.returnPressed.connect(self.code.setFocus)
        code_form = QGridLayout()  # labels centred on their fields (a form layout tops them)
        for row, (text, entry) in enumerate(
            ((self.tr("&Username"), self.username), (self.tr("&Code"), self.code))
        ):
            label = QLabel(text)
            label.setBuddy(entry)
            code_form.addWidget(label, row, 0)
            code_form.addWidget(entry, row, 1)
        code_page = QWidget()
        code_layout = QVBoxLayout(code_page)
        code_layout.addLayout(code_form)
        code_layout.addWidget(self.code_submit, alignment=Qt.AlignmentFlag.AlignLeft)
        self.steps.addWidget(code_page)

        # What a running sign-in asks for: a touch, or a PIN.
        self.prompt = QLabel()
        self.prompt.setObjectName("prompt")
        self.prompt.setWordWrap(True)
        self.pin = PinField("signInPin", self.tr("PIN"))
        self.pin_submit = button(self.tr("OK"), "signInPinSubmit")
        self.pin_submit.setAccessibleName(self.tr("Send the PIN"))
        self.pin_submit.clicked.connect(self._send_pin)
        self.pin.returnPressed.connect(self._send_pin)
        self.cancel_button = button(self.tr("Cancel"), "signInCancel")
        self.cancel_button.clicked.connect(self.cancel)
        pin_row = QHBoxLayout()
        pin_row.addWidget(self.pin, 1)
        pin_row.addWidget(self.pin_submit)
        pin_row.addWidget(self.cancel_button)
        self.status = StatusLine("signInStatus")

        column = QFrame()
        column.setObjectName("signInCard")
        column.setMaximumWidth(780)
        column.setMinimumWidth(720)
        layout = QVBoxLayout(column)
        layout.setContentsMargins(36, 32, 36, 28)
        layout.setSpacing(10)
        for widget in (title, lead, where):
            layout.addWidget(widget)
        layout.addSpacing(12)
        layout.addLayout(choices)
        self.steps.setSizePolicy(QSizePolicy.Policy.Preferred, QSizePolicy.Policy.Maximum)
        layout.addWidget(self.steps)
        layout.addWidget(self.prompt)
        layout.addLayout(pin_row)
        layout.addWidget(self.status)
        outer = QVBoxLayout(self)
        outer.addStretch(1)
        outer.addWidget(column, 0, Qt.AlignmentFlag.AlignHCenter)
        outer.addStretch(2)
        self._asking: str | None = None
        self._idle()
        self.code_button.setChecked(True)
        self._choose(2)

    def _step(self, text: str, start: QWidget) -> QWidget:
        page = QWidget()
        layout = QVBoxLayout(page)
        label = QLabel(text)
        label.setWordWrap(True)
        layout.addWidget(label)
        layout.addWidget(start, alignment=Qt.AlignmentFlag.AlignLeft)
        return page

    def _choose(self, index: int) -> None:
        self.steps.setCurrentIndex(index)
        self.status.show_info("")
        focus = (self.key_start, self.card_start, self.username)[index]
        focus.setFocus()

    # -- the three flows --------------------------------------------------------------

    def start_code(self) -> None:
        username, code = self.username.text().strip(), self.code.text().strip()
        self.code.clear()
        if not username or not code:
            self.status.show_error(
                self.tr("Enter your username and the code from your fob or app.")
            )
            return

        def work(ctx: TaskContext) -> AdminSession:
            client = self._connect()
            return self._admit(client, lambda: client.login_totp(username, code))

        self._run(work, self.tr("Checking the code…"))

    def start_key(self) -> None:
        devices = self._devices

        def work(ctx: TaskContext) -> AdminSession:
            client = self._connect()
            with _closed_on_failure(client):
                # The origin comes from the console's own server URL (and its pin); the
                # service's announcement is only checked: a mismatch stops here.
                origin = key_origin(self.server, client.login_options().webauthn_rp_id, self.rp_id)
                ctx.say(self.tr("Insert or tap your security key."))
                key = devices.key_finder.wait_for_key(timeout=devices.key_wait, cancel=ctx.cancel)

            def on_pin(prompt: PinPrompt) -> str | None:
                return ctx.ask_text("key-pin", prompt)

            key_client = SecurityKeyClient(
                key,
                origin=origin,
                on_touch=lambda: ctx.say(self.tr("Touch your security key.")),
                on_pin=on_pin,
                cancel=ctx.cancel,
            )
            try:
                return self._admit(
                    client,
                    lambda: login_with_key(
                        key_client, client.webauthn_login_steps(), cancel=ctx.cancel
                    ),
                )
            finally:
                key_client.close()

        self._run(work, self.tr("Looking for your security key…"))

    def start_card(self) -> None:
        devices = self._devices

        def work(ctx: TaskContext) -> AdminSession:
            client = self._connect()
            with _closed_on_failure(client):
                card = devices.open_card()

            def ask_pin(request: PinRequest) -> str | None:
                return ctx.ask_text("card-pin", request)

            try:
                return self._admit(
                    client,
                    lambda: login_with_card(
                        card, client.piv_login_steps(), ask_pin, cancel=ctx.cancel
                    ),
                )
            finally:
                card.close()

        self._run(work, self.tr("Reading your card…"))

    @staticmethod
    def _admit(client: TokenServiceClient, login: Callable[[], Any]) -> AdminSession:
        with _closed_on_failure(client):
            return admit(client, login())

    # -- running one ------------------------------------------------------------------

    def _run(self, work: Callable[[TaskContext], AdminSession], busy: str) -> None:
        if self.task is not None and self.task.running:
            return
        self.status.show_info(busy)
        for choice in self.factors.buttons():
            choice.setEnabled(False)
        self.steps.setEnabled(False)
        self.cancel_button.setVisible(True)
        self.cancel_button.setEnabled(True)
        self.task = self._runner.start(
            work,
            on_done=self._done,
            on_error=self._failed,
            on_prompt=self._ask,
            on_progress=self.prompt.setText,
            on_end=self._idle,
            owner=self,
        )

    def cancel(self) -> None:
        if self.task is not None:
            self.task.cancel()
        self._hide_pin()

    def _done(self, session: AdminSession) -> None:
        self.status.show_info("")
        self.signed_in.emit(session)

    def _failed(self, exc: BaseException) -> None:
        if isinstance(exc, TaskCancelled) or (
            self.task is not None and self.task.cancel_event.is_set()
        ):
            self.status.show_info(self.tr("Cancelled."))
            return
        self.status.show_error(describe(exc))

    def _idle(self) -> None:
        if self.task is not None and self.task.running:
            return  # a newer sign-in already started
        self._hide_pin()
        self.prompt.setText("")
        for choice in self.factors.buttons():
            choice.setEnabled(True)
        self.steps.setEnabled(True)
        self.cancel_button.setVisible(False)

    def _ask(self, kind: str, payload: object) -> None:
        retries: int | None = None
        wrong = False
        if isinstance(payload, PinPrompt):
            retries = payload.retries_left
        elif isinstance(payload, PinRequest):
            retries, wrong = payload.retries_left, payload.wrong_pin
        what = self.tr("your security key") if kind == "key-pin" else self.tr("your card")
        text = self.tr("Enter the PIN of {what}.").format(what=what)
        if retries is not None:
            text = self.tr("Enter the PIN of {what} ({n} tries left).").format(what=what, n=retries)
        if wrong:
            text = self.tr("Wrong PIN. ") + text
        self.prompt.setText(text)
        self._asking = kind
        self.pin.setVisible(True)
        self.pin_submit.setVisible(True)
        self.pin.setFocus()

    def _send_pin(self) -> None:
        if self.task is None or self._asking is None:
            return
        pin = self.pin.take()
        if not pin:
            return
        self._asking = None
        self._hide_pin()
        self.prompt.setText(self.tr("Checking the PIN…"))
        self.task.answer(pin)

    def _hide_pin(self) -> None:
        self.pin.clear()
        self.pin.setVisible(False)
        self.pin_submit.setVisible(False)

    def reset(self, message: str = "") -> None:
        """Back to a clean screen (after sign-out), with ``message`` if any."""
        self.username.clear()
        self.code.clear()
        if message:
            self.status.show_info(message)
        else:
            self.status.show_info("")
