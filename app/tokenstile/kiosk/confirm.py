"""The confirm prompt: "<App> wants you to confirm: <reason>", answered with the key.

An app asks over the confirm channel (:mod:`tokenstile.kiosk.confirm_channel`); the
:class:`ConfirmDesk` takes the request to the GUI thread and decides:

- nobody signed in here -> ``not_signed_in``; a sign-in under way -> ``busy`` (and the
  channel answers ``busy`` to a second request while a prompt is open);
- else a :class:`ConfirmPrompt` opens on top of whatever is on screen. The app's name
  (the asking process's) and the reason are shown as plain text, never markup. The
  window leaves the devices to the prompt meanwhile (``KioskWindow.devices_held``): the
  person touches their key and enters its PIN through the same ceremony as a sign-in
  (``devices.key_ceremonies``), and the service checks that the key is the signed-in
  person's and answers a single-use confirm token, which goes back to the app;
- Cancel, Escape, closing the prompt, or ``prompt_seconds`` without an answer ->
  the service is told (``/login/confirm/cancelled``, an audit row) and then the app
  gets ``cancelled``.

The ceremony and the service calls run on the desk's own worker thread.
"""

from __future__ import annotations

import contextlib
import logging
import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from typing import Any, Protocol

from PySide6.QtCore import QObject, Qt, QTimer, Signal
from PySide6.QtGui import QCloseEvent
from PySide6.QtWidgets import QDialog, QHBoxLayout, QLabel, QLineEdit, QVBoxLayout, QWidget

from tokenstile.broker import TokenGrant
from tokenstile.broker.errors import NotLoggedIn, ServerRefusal
from tokenstile.devices.fido2_client import PinPrompt as KeyPinPrompt
from tokenstile.devices.fido2_errors import KeyCancelled, KeyWrongPin
from tokenstile.devices.piv import PivCard
from tokenstile.devices.piv_login import PinPrompt as CardPinPrompt
from tokenstile.devices.piv_login import PinRequest
from tokenstile.devices.security_keys import SecurityKey
from tokenstile.errors import TokenstileError
from tokenstile.kiosk.confirm_channel import ConfirmAsk, failure
from tokenstile.kiosk.devices import CardOpener, KeyLookup, key_identity
from tokenstile.kiosk.messages import Factor, explain
from tokenstile.kiosk.service import KeyPrompts
from tokenstile.kiosk.tasks import Task, TaskContext, TaskRunner
from tokenstile.kiosk.widgets import PinQuestion, button

logger = logging.getLogger(__name__)

FIRST_STAGE = "N_A"  # a four-eyes confirm's first-stage answer (RFC 8693's "not an access token")


class ConfirmService(Protocol):
    """What the prompt needs of the service (``BrokerSignIn`` is one)."""

    def confirm_fido2(
        self, key: SecurityKey, prompts: KeyPrompts, asked: Mapping[str, Any]
    ) -> TokenGrant: ...

    def confirm_piv(
        self,
        card: PivCard,
        ask_pin: CardPinPrompt,
        asked: Mapping[str, Any],
        *,
        cancel: threading.Event,
    ) -> TokenGrant: ...

    def confirm_cancelled(self, asked: Mapping[str, Any]) -> None: ...


class KioskState(Protocol):
    """What the prompt needs of the window."""

    @property
    def session(self) -> object | None: ...

    @property
    def busy(self) -> bool: ...

    @property
    def session_reader(self) -> str | None: ...

    devices_held: bool


@dataclass(slots=True)
class _Pending:
    """One request between the channel's thread and the GUI thread."""

    ask: ConfirmAsk
    done: threading.Event = field(default_factory=threading.Event)
    answer: dict[str, Any] = field(default_factory=dict)

    def settle(self, answer: dict[str, Any]) -> None:
        if not self.done.is_set():
            self.answer = answer
            self.done.set()


class ConfirmPrompt(QDialog):
    """The prompt itself: who asks, what for, touch your key, the PIN, Cancel."""

    pin_entered = Signal(str)

    def __init__(self, ask: ConfirmAsk, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("confirmPrompt")
        self.setWindowTitle(self.tr("Confirm it's you"))
        self.setWindowFlag(Qt.WindowType.WindowStaysOnTopHint, True)
        self.setModal(True)
        layout = QVBoxLayout(self)
        self.heading = _plain_label(
            self.tr("%1 wants you to confirm:").replace("%1", ask.app), "confirmHeading"
        )
        self.reason = _plain_label(ask.reason, "confirmReason")
        self.status = _plain_label(
            self.tr("Touch your security key or insert your card."), "confirmStatus"
        )
        self.pin = QLineEdit()
        self.pin.setObjectName("confirmPin")
        self.pin.setEchoMode(QLineEdit.EchoMode.Password)
        self.pin.setMinimumHeight(48)
        self.pin.hide()
        self.pin.returnPressed.connect(self._submit)
        self.ok_button = button(self.tr("OK"), "confirmOk")
        self.ok_button.hide()
        self.ok_button.clicked.connect(self._submit)
        self.cancel_button = button(self.tr("Cancel"), "confirmCancel")
        self.cancel_button.clicked.connect(self.reject)
        for widget in (self.heading, self.reason, self.status, self.pin):
            layout.addWidget(widget)
        row = QHBoxLayout()
        row.addWidget(self.cancel_button)
        row.addWidget(self.ok_button)
        layout.addLayout(row)

    def ask_pin(self, question: PinQuestion) -> None:
        if question.factor is Factor.CARD:
            text = self.tr("Enter your card's PIN.")
        else:
            text = self.tr("Enter your key's PIN.")
        if question.wrong:
            text = self.tr("Wrong PIN.") + " " + text
        if question.retries_left is not None:
            text += " " + self.tr("%n tries left.", "", question.retries_left)
        self.status.setText(text)
        self.pin.clear()
        self.pin.show()
        self.ok_button.show()
        self.pin.setFocus()

    def checking(self) -> None:
        self.status.setText(self.tr("Checking…"))
        self.pin.hide()
        self.ok_button.hide()

    def touch(self) -> None:
        self.status.setText(self.tr("Touch your security key."))

    def second_stage(self, role: str) -> None:
        """Four eyes: the signed-in person has confirmed; now someone holding ``role``."""
        self.status.setText(
            self.tr("Now someone with the role %1: touch your key or insert your card.").replace(
                "%1", role
            )
        )
        self.pin.hide()
        self.ok_button.hide()

    def _submit(self) -> None:
        pin = self.pin.text()
        self.pin.clear()
        if pin:
            self.checking()
            self.pin_entered.emit(pin)

    def closeEvent(self, event: QCloseEvent) -> None:  # noqa: N802 - Qt's name
        self.reject()
        event.accept()


def _plain_label(text: str, name: str) -> QLabel:
    label = QLabel()
    label.setObjectName(name)
    label.setTextFormat(Qt.TextFormat.PlainText)  # an app's words are never markup
    label.setWordWrap(True)
    label.setText(text)
    return label


class ConfirmDesk(QObject):
    """Takes confirm requests from the channel to a prompt, and the answers back."""

    _asked = Signal(object)  # _Pending: from the channel's thread
    prompt_opened = Signal(object)  # ConfirmPrompt
    answered = Signal(object)  # the answer sent to the app

    def __init__(
        self,
        window: KioskState,
        service: ConfirmService,
        keys: KeyLookup | None,
        open_card: CardOpener | None = None,
        *,
        parent: QObject | None = None,
        poll_seconds: float = 0.3,
        prompt_seconds: float = 120.0,
    ) -> None:
        super().__init__(parent)
        self._window = window
        self._service = service
        self._keys = keys
        self._open_card = open_card
        self._card = _CardSlot()
        self._poll = poll_seconds
        self._tasks = TaskRunner(self, threads=1)
        self._pending: _Pending | None = None
        self._prompt: ConfirmPrompt | None = None
        self._task: Task | None = None
        self._timer = QTimer(self)
        self._timer.setSingleShot(True)
        self._timer.setInterval(int(prompt_seconds * 1000))
        self._timer.timeout.connect(self.cancel)
        self._asked.connect(self._on_asked)

    @property
    def prompt(self) -> ConfirmPrompt | None:
        return self._prompt

    def handle(self, ask: ConfirmAsk) -> dict[str, Any]:
        """The channel's handler (its thread): blocks until the GUI has answered."""
        pending = _Pending(ask)
        self._asked.emit(pending)
        if not pending.done.wait(self._timer.interval() / 1000 + 60):
            return failure("unavailable", "The kiosk did not answer.")
        return pending.answer

    def card_inserted(self, reader: str) -> None:
        """A card arrived in ``reader`` while the prompt holds the devices (GUI thread)."""
        if self._pending is not None:
            self._card.put(reader)

    def cancel(self) -> None:
        """Close the prompt as the person's Cancel does."""
        if self._prompt is not None:
            self._prompt.reject()

    def shutdown(self) -> None:
        self.cancel()
        self._tasks.shutdown()

    # GUI thread.

    def _on_asked(self, pending: _Pending) -> None:
        if self._window.session is None:
            self._settle(pending, failure("not_signed_in", "Nobody is signed in at the kiosk."))
            return
        if self._window.busy or self._pending is not None:
            self._settle(pending, failure("busy", "The kiosk is busy: try again in a moment."))
            return
        if self._keys is None and self._open_card is None:
            self._settle(pending, failure("unavailable", "This kiosk has no key or card reader."))
            return
        self._pending = pending
        self._card.clear()
        if self._window.session_reader is not None and self._open_card is not None:
            self._card.put(self._window.session_reader)  # the card that signed in is there
        self._window.devices_held = True
        prompt = ConfirmPrompt(pending.ask, self._parent_widget())
        self._prompt = prompt
        prompt.rejected.connect(self._on_rejected)
        asked = pending.ask.to_service()
        service = self._service
        factors = _Factors(self._keys, self._card, self._open_card, self._poll)

        def work(ctx: TaskContext) -> TokenGrant:
            return _confirm_all(service, ctx, factors, asked)

        self._task = self._tasks.start(
            work,
            on_done=lambda grant: self._on_done(pending, grant),
            on_error=lambda error: self._on_error(pending, error),
            on_prompt=lambda _kind, question: self._on_pin(prompt, question),
            on_progress=lambda said: self._on_progress(prompt, said),
        )
        prompt.pin_entered.connect(self._on_pin_entered)
        prompt.show()
        self._timer.start()
        self.prompt_opened.emit(prompt)

    def _parent_widget(self) -> QWidget | None:
        return self._window if isinstance(self._window, QWidget) else None

    def _on_pin(self, prompt: ConfirmPrompt, question: object) -> None:
        if isinstance(question, PinQuestion) and prompt is self._prompt:
            prompt.ask_pin(question)

    def _on_progress(self, prompt: ConfirmPrompt, said: str) -> None:
        if prompt is not self._prompt:
            return
        if said == "second" and self._pending is not None:
            prompt.second_stage(str(self._pending.ask.second_person))
        else:
            prompt.touch()

    def _on_pin_entered(self, pin: str) -> None:
        if self._task is not None:
            self._task.answer(pin)

    def _on_rejected(self) -> None:
        task = self._task
        if task is not None:
            task.cancel()  # the ceremony ends; _on_error reports the cancel

    def _on_done(self, pending: _Pending, grant: object) -> None:
        assert isinstance(grant, TokenGrant)  # noqa: S101 - the work's own type
        answer = {"ok": True, "token": grant.access_token, "expires_in": grant.expires_in}
        self._finish(pending, answer)

    def _on_error(self, pending: _Pending, error: BaseException) -> None:
        task = self._task
        if task is not None and task.cancel_event.is_set():
            asked = pending.ask.to_service()
            service = self._service
            self._close_prompt()

            def report(_ctx: TaskContext) -> None:
                service.confirm_cancelled(asked)

            cancelled = failure("cancelled", "The person cancelled the confirmation at the kiosk.")
            self._tasks.start(
                report,
                on_error=lambda exc: logger.warning("confirm: cancel not reported: %s", exc),
                on_end=lambda: self._finish(pending, cancelled),
            )
            return
        if isinstance(error, NotLoggedIn):
            answer = failure("not_signed_in", "Nobody is signed in at the kiosk.")
        elif isinstance(error, ServerRefusal):
            answer = failure("refused", error.message)
        else:
            text = explain(error, factor=Factor.KEY).text
            logger.warning(
                "confirm failed: %s",
                error.code if isinstance(error, TokenstileError) else type(error).__name__,
            )
            answer = failure("unavailable", text)
        self._finish(pending, answer)

    def _finish(self, pending: _Pending, answer: dict[str, Any]) -> None:
        self._close_prompt()
        self._task = None
        self._pending = None
        self._window.devices_held = False
        self._settle(pending, answer)

    def _close_prompt(self) -> None:
        self._timer.stop()
        prompt, self._prompt = self._prompt, None
        if prompt is not None:
            prompt.rejected.disconnect(self._on_rejected)
            prompt.close()
            prompt.deleteLater()

    def _settle(self, pending: _Pending, answer: dict[str, Any]) -> None:
        pending.settle(answer)
        self.answered.emit(answer)


# The worker thread.


class _CardSlot:
    """The reader a card arrived in during the prompt, handed to the worker."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._reader: str | None = None

    def put(self, reader: str) -> None:
        with self._lock:
            self._reader = reader

    def clear(self) -> None:
        with self._lock:
            self._reader = None

    def take(self) -> str | None:
        with self._lock:
            reader, self._reader = self._reader, None
            return reader


@dataclass(frozen=True, slots=True)
class _Factors:
    keys: KeyLookup | None
    card: _CardSlot
    open_card: CardOpener | None
    poll: float
    not_key: tuple[str, str] | None = None  # four eyes: the first person's key


Used = tuple[str, str] | str  # the key's identity, or the card's reader


def _wait_for_factor(factors: _Factors, cancel: threading.Event) -> SecurityKey | str:
    """The first security key found, or the reader a card arrived in."""
    while True:
        reader = factors.card.take()
        if reader is not None and factors.open_card is not None:
            return reader
        found = factors.keys.find() if factors.keys is not None else []
        usable = [key for key in found if key_identity(key) != factors.not_key]
        for extra in found:
            if extra is not (usable[0] if usable else None):
                extra.close()
        if usable:
            return usable[0]
        if cancel.wait(factors.poll):
            raise KeyCancelled()


def _confirm_all(
    service: ConfirmService, ctx: TaskContext, factors: _Factors, asked: Mapping[str, Any]
) -> TokenGrant:
    """The signed-in person's ceremony; for four eyes (the service answers a first-stage
    token, ``N_A``), then a second person's, with another key or a card put in now."""
    grant, used = _confirm(service, ctx, factors, asked)
    if grant.token_type != FIRST_STAGE:
        return grant
    ctx.say("second")
    second = replace(factors, not_key=used if isinstance(used, tuple) else None)
    final, _ = _confirm(service, ctx, second, {**asked, "first": grant.access_token})
    if final.token_type == FIRST_STAGE:
        raise TokenstileError("The sign-in service answered a second first stage.")
    return final


def _confirm(
    service: ConfirmService, ctx: TaskContext, factors: _Factors, asked: Mapping[str, Any]
) -> tuple[TokenGrant, Used]:
    factor = _wait_for_factor(factors, ctx.cancel)
    if isinstance(factor, str):
        assert factors.open_card is not None  # noqa: S101 - _wait_for_factor checked it
        return _confirm_with_card(service, ctx, factors.open_card(factor), asked), factor
    identity = key_identity(factor)
    return _confirm_with_key(service, ctx, factor, asked), identity


def _confirm_with_card(
    service: ConfirmService, ctx: TaskContext, card: PivCard, asked: Mapping[str, Any]
) -> TokenGrant:
    def ask(request: PinRequest) -> str | None:
        question = PinQuestion(
            factor=Factor.CARD, retries_left=request.retries_left, wrong=request.wrong_pin
        )
        return ctx.ask_text("pin", question)

    try:
        return service.confirm_piv(card, ask, asked, cancel=ctx.cancel)
    finally:
        with contextlib.suppress(TokenstileError):
            card.close()


def _confirm_with_key(
    service: ConfirmService, ctx: TaskContext, key: SecurityKey, asked: Mapping[str, Any]
) -> TokenGrant:
    wrong = False

    def on_pin(prompt: KeyPinPrompt) -> str | None:
        question = PinQuestion(factor=Factor.KEY, retries_left=prompt.retries_left, wrong=wrong)
        return ctx.ask_text("pin", question)

    touch: Callable[[], None] = lambda: ctx.say("touch")  # noqa: E731
    try:
        while True:
            try:
                prompts = KeyPrompts(on_touch=touch, on_pin=on_pin, cancel=ctx.cancel)
                return service.confirm_fido2(key, prompts, asked)
            except KeyWrongPin as exc:
                if ctx.cancel.is_set() or exc.retries_left == 0:
                    raise
                wrong = True
    finally:
        key.close()
