"""The kiosk window: sign-in, touch-your-key, PIN pad, code entry, signed-in, locked.

The window owns the shared-workstation rules (see :class:`~tokenstile.kiosk.rules.KioskRules`):
card pulled -> signed out; idle -> locked; session lifetime over -> signed out; a second
person's key, card or code -> the first session is revoked and wiped, then the second
saved; Sign out -> revoked at the service. Nothing here blocks: the service, the
keychain and the devices are reached on the one thread of a
:class:`~tokenstile.kiosk.tasks.TaskRunner`, and every failure is shown through
:func:`~tokenstile.kiosk.messages.explain`.
"""

from __future__ import annotations

import contextlib
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from enum import Enum

from PySide6.QtCore import QObject, Qt, QTimer, Signal
from PySide6.QtGui import QCloseEvent, QKeyEvent
from PySide6.QtWidgets import (
    QHBoxLayout,
    QLabel,
    QMainWindow,
    QStackedWidget,
    QVBoxLayout,
    QWidget,
)

from tokenstile.broker import SessionInfo, TokenGrant
from tokenstile.clock import Clock, SystemClock
from tokenstile.devices.errors import CardRemoved, DeviceError
from tokenstile.devices.fido2_client import PinPrompt as KeyPinPrompt
from tokenstile.devices.fido2_errors import KeyRemoved, KeyWrongPin
from tokenstile.devices.monitor import CardEvent, CardEventKind
from tokenstile.devices.piv_login import PinRequest
from tokenstile.devices.security_keys import SecurityKey
from tokenstile.errors import TokenstileError
from tokenstile.kiosk.devices import CardWatch, KeyWatcher, KioskDevices, key_identity
from tokenstile.kiosk.idle import InputWatch
from tokenstile.kiosk.messages import Factor, Problem, Severity, explain
from tokenstile.kiosk.rules import KioskRules
from tokenstile.kiosk.service import FactorOffer, KeyPrompts, SignInService, grant_subject
from tokenstile.kiosk.tasks import Task, TaskContext, TaskRunner
from tokenstile.kiosk.widgets import (
    CodeEntry,
    FactorTile,
    PinPad,
    PinQuestion,
    button,
    escape_shortcut,
    header_bar,
    icon_label,
    set_icon,
    text_label,
)

logger = logging.getLogger(__name__)


class Screen(Enum):
    SIGN_IN = "sign_in"
    BUSY = "busy"  # checking, or "touch your key"
    PIN = "pin"
    CODE = "code"
    SIGNED_IN = "signed_in"
    LOCKED = "locked"


class EndReason(Enum):
    SIGNED_OUT = "signed_out"
    CARD_REMOVED = "card_removed"
    SESSION_ENDED = "session_ended"
    SWITCHED = "switched"


@dataclass(frozen=True, slots=True)
class SignedIn:
    info: SessionInfo
    switched: bool


@dataclass(frozen=True, slots=True)
class Unlocked:
    subject: str


@dataclass(frozen=True, slots=True)
class Declined:
    """Someone else is signed in and switching user is turned off."""


FlowResult = SignedIn | Unlocked | Declined


@dataclass(slots=True, kw_only=True)
class _Flow:
    factor: Factor
    reader: str | None = None  # the card's
    key: tuple[str, str] | None = None  # the key's identity
    pulled: bool = False  # the card or key was taken away during the flow
    task: Task | None = None

    def cancel(self) -> None:
        if self.task is not None:
            self.task.cancel()

    @property
    def cancelled(self) -> bool:
        return self.task is not None and self.task.cancel_event.is_set()


class _DeviceEvents(QObject):
    """Device callbacks (their own threads) -> queued signals (the GUI thread)."""

    key_appeared = Signal(object)  # SecurityKey
    key_gone = Signal(object)  # its identity
    card_event = Signal(object)  # CardEvent


class _Page(QWidget):
    def __init__(self, name: str) -> None:
        super().__init__()
        self.setObjectName(name)
        self.layout_ = QVBoxLayout(self)
        self.layout_.setContentsMargins(48, 24, 48, 48)
        self.layout_.setSpacing(18)


class KioskWindow(QMainWindow):
    """The kiosk. Call :meth:`start` once shown, :meth:`shutdown` before it goes."""

    screen_changed = Signal(object)  # Screen
    session_started = Signal(object)  # SessionInfo
    session_ended = Signal(object)  # EndReason
    problem_shown = Signal(object)  # Problem

    def __init__(
        self,
        service: SignInService,
        devices: KioskDevices | None = None,
        *,
        rules: KioskRules | None = None,
        clock: Clock | None = None,
        tick_ms: int = 1000,
        parent: QWidget | None = None,
    ) -> None:
        super().__init__(parent)
        self.service = service
        self.devices = devices or KioskDevices()
        self.rules = rules or KioskRules()
        self.clock: Clock = clock or SystemClock()
        self.setObjectName("kiosk")
        self.setWindowTitle(self.tr("Tokenstile sign-in"))
        self.setMinimumSize(1024, 720)

        # One thread: the service and the keychain see the calls in the order they were made.
        self._tasks = TaskRunner(self, threads=1)
        self._events = _DeviceEvents(self)
        self._events.key_appeared.connect(self._on_key_appeared)
        self._events.key_gone.connect(self._on_key_gone)
        self._events.card_event.connect(self._on_card_event)
        self._flow: _Flow | None = None
        self._session: SessionInfo | None = None
        self._session_reader: str | None = None
        self._locked = False
        self._offer = FactorOffer()
        self._problem: Problem | None = None
        self._service_down = False
        self._checking = False
        self._input = InputWatch(self.clock, self)
        self._key_watcher: KeyWatcher | None = None
        self._monitor: CardWatch | None = None
        self._started = False

        self._build()
        self._tick = QTimer(self)
        self._tick.setInterval(tick_ms)
        self._tick.timeout.connect(self._on_tick)
        self._retry = QTimer(self)
        self._retry.setSingleShot(True)
        self._retry.timeout.connect(self.check_service)
        self._show(Screen.SIGN_IN)
        self._on_tick()

    # -- public: lifecycle ------------------------------------------------------------------

    def start(self) -> None:
        """Watch the devices and the clock, ask the service what to invite, and pick up a
        session a previous run left in the keychain (locked: its owner unlocks it)."""
        if self._started:
            return
        self._started = True
        self._input.start()
        if self.devices.keys is not None:
            self._key_watcher = KeyWatcher(
                self.devices.keys,
                self._events.key_appeared.emit,
                interval=self.rules.key_poll_seconds,
                on_gone=self._events.key_gone.emit,
            )
            self._key_watcher.start()
        if self.devices.card_monitor is not None:
            self._monitor = self.devices.card_monitor(self._events.card_event.emit)
            self._monitor.start()
        self._tick.start()
        self._focus(self.current_screen)  # now that the window is shown
        self.check_service()
        self._run(self.service.session, self._restored, self._log_failure)

    def shutdown(self) -> None:
        """Stop watching and wait for the worker (a pending sign-out still happens)."""
        self._tick.stop()
        self._retry.stop()
        self._input.stop()
        if self._flow is not None:
            self._flow.cancel()
        if self._key_watcher is not None:
            self._key_watcher.stop()
            self._key_watcher = None
        if self._monitor is not None:
            self._monitor.stop()
            self._monitor = None
        self._tasks.wait(15_000)
        self._started = False

    def closeEvent(self, event: QCloseEvent) -> None:  # noqa: N802 - Qt's name
        self.shutdown()
        super().closeEvent(event)

    # -- public: state and actions (the demo panel and the tests use these) -------------------

    @property
    def current_screen(self) -> Screen:
        return self._screens_by_index[self._stack.currentIndex()]

    @property
    def session(self) -> SessionInfo | None:
        return self._session

    @property
    def locked(self) -> bool:
        return self._locked

    @property
    def problem(self) -> Problem | None:
        return self._problem

    @property
    def busy(self) -> bool:
        """A sign-in is under way."""
        return self._flow is not None

    def sign_in_with_key(self, key: SecurityKey) -> bool:
        """Start a key sign-in with ``key`` (what a key appearing does); False if busy."""
        if self._flow is not None:
            return False
        self._start_flow(Factor.KEY, lambda ctx: self._key_login(ctx, key), key=key_identity(key))
        return True

    def card_inserted(self, reader: str) -> bool:
        """Start a card sign-in with the card in ``reader``; False if busy or no cards."""
        if self._flow is not None or self.devices.open_card is None:
            return False
        self._start_flow(Factor.CARD, lambda ctx: self._card_login(ctx, reader), reader=reader)
        return True

    def card_removed(self, reader: str) -> None:
        flow = self._flow
        if flow is not None and flow.reader == reader:
            flow.pulled = True
            self._cancel(flow)
        if (
            self._session is not None
            and self._session_reader == reader
            and self.rules.sign_out_on_card_removal
        ):
            self.sign_out(EndReason.CARD_REMOVED)

    def show_code_entry(self) -> None:
        if self._flow is not None:
            return
        username = self._session.username if self._session is not None else ""
        self._code.reset(username)
        self._show(Screen.CODE)  # focus: the username, or the code when it is known

    def submit_code(self, username: str, code: str) -> None:
        if self._flow is not None:
            return
        self._start_flow(Factor.CODE, lambda _ctx: self.service.login_totp(username, code))

    def lock(self) -> None:
        if self._session is None or self._locked:
            return
        self._locked = True
        if self._flow is None:
            self._show(Screen.LOCKED)

    def sign_out(self, reason: EndReason = EndReason.SIGNED_OUT) -> None:
        """End the session here at once; revoke it at the service and wipe it (worker)."""
        info = self._session
        if info is None:
            return
        self._session = None
        self._session_reader = None
        self._locked = False
        if self._flow is None:
            self._show(Screen.SIGN_IN)
        note = {
            EndReason.CARD_REMOVED: self.tr("Signed out: the card was taken out."),
            EndReason.SESSION_ENDED: self.tr("Your session has ended: sign in again."),
        }.get(reason)
        if note is not None:
            self._show_problem(Problem(text=note, severity=Severity.INFO))
        self.session_ended.emit(reason)
        sid = info.sid
        self._run(lambda: self._sign_out_if(sid), _ignore, self._sign_out_failed)

    def cancel_sign_in(self) -> None:
        if self._flow is not None:
            self._cancel(self._flow)

    def check_service(self) -> None:
        """Ask the service which factors to invite; while it cannot be reached, keep asking."""
        if self._checking:
            return
        self._checking = True
        self._run(self.service.factors, self._service_answered, self._service_failed)

    def wait_for_worker(self, msecs: int = 10_000) -> bool:
        return self._tasks.wait(msecs)

    # -- Qt plumbing --------------------------------------------------------------------------

    def keyPressEvent(self, event: QKeyEvent) -> None:  # noqa: N802 - Qt's name
        # Keys no focused widget took: Escape still cancels what the screen offers to.
        if event.key() == Qt.Key.Key_Escape:
            screen = self.current_screen
            if screen in (Screen.BUSY, Screen.PIN):
                self.cancel_sign_in()
                return
            if screen is Screen.CODE:
                self._go_home()
                return
        super().keyPressEvent(event)

    # -- the flows ---------------------------------------------------------------------------

    def _run(
        self,
        call: Callable[[], object],
        on_done: Callable[[object], None],
        on_error: Callable[[BaseException], None],
    ) -> None:
        self._tasks.start(lambda _ctx: call(), on_done=on_done, on_error=on_error)

    def _start_flow(
        self,
        factor: Factor,
        work: Callable[[TaskContext], TokenGrant],
        *,
        reader: str | None = None,
        key: tuple[str, str] | None = None,
    ) -> None:
        flow = _Flow(factor=factor, reader=reader, key=key)
        self._flow = flow
        self._clear_problem()
        self._show_busy(factor)
        current = self._session
        switch = self.rules.switch_user

        def run(ctx: TaskContext) -> FlowResult:
            return self._finish_login(work(ctx), current, switch=switch)

        flow.task = self._tasks.start(
            run,
            on_done=lambda result: self._flow_done(flow, result),
            on_error=lambda error: self._flow_failed(flow, error),
            on_prompt=lambda _kind, question: self._on_pin_needed(flow, question),
            on_progress=lambda _said: self._on_touch_needed(flow),
        )

    # These run on the worker thread: no widgets here.

    @staticmethod
    def _ask_pin(ctx: TaskContext, question: PinQuestion) -> str | None:
        answer = ctx.ask("pin", question)
        return answer if isinstance(answer, str) else None

    def _key_login(self, ctx: TaskContext, key: SecurityKey) -> TokenGrant:
        wrong = False

        def on_pin(prompt: KeyPinPrompt) -> str | None:
            question = PinQuestion(factor=Factor.KEY, retries_left=prompt.retries_left, wrong=wrong)
            return self._ask_pin(ctx, question)

        try:
            while True:
                try:
                    prompts = KeyPrompts(
                        on_touch=lambda: ctx.say("touch"), on_pin=on_pin, cancel=ctx.cancel
                    )
                    return self.service.login_fido2(key, prompts)
                except KeyWrongPin as exc:
                    # A fresh challenge and the PIN pad again, saying how many tries are left.
                    if ctx.cancel.is_set() or exc.retries_left == 0:
                        raise
                    wrong = True
        finally:
            key.close()

    def _card_login(self, ctx: TaskContext, reader: str) -> TokenGrant:
        open_card = self.devices.open_card
        if open_card is None:
            raise DeviceError("This kiosk has no card reader.")
        card = open_card(reader)

        def ask(request: PinRequest) -> str | None:
            question = PinQuestion(
                factor=Factor.CARD, retries_left=request.retries_left, wrong=request.wrong_pin
            )
            return self._ask_pin(ctx, question)

        try:
            return self.service.login_piv(card, ask, cancel=ctx.cancel)
        finally:
            with contextlib.suppress(DeviceError):
                card.close()

    def _finish_login(
        self, grant: TokenGrant, current: SessionInfo | None, *, switch: bool
    ) -> FlowResult:
        if current is None:
            return SignedIn(self.service.save(grant), switched=False)
        subject = grant_subject(grant)
        if subject == current.subject:
            self.service.discard(grant)  # proof of who it is; the session stays the same
            return Unlocked(subject)
        if not switch:
            self.service.discard(grant)
            return Declined()
        # The first person's session is revoked and wiped before the second one is saved.
        try:
            self.service.sign_out()
        except TokenstileError as exc:
            logger.warning("switching user: the first session could not be revoked: %s", exc.code)
        return SignedIn(self.service.save(grant), switched=True)

    def _sign_out_if(self, sid: str) -> None:
        current = self.service.session()
        if current is not None and current.sid == sid:
            self.service.sign_out()

    # Back on the GUI thread.

    def _flow_done(self, flow: _Flow, result: object) -> None:
        self._flow = None
        if isinstance(result, SignedIn):
            if self._session is not None and result.switched:
                self.session_ended.emit(EndReason.SWITCHED)
            self._session = result.info
            self._session_reader = flow.reader if flow.factor is Factor.CARD else None
            self._locked = False
            self._input.touch()
            self._update_session_labels()
            self._show(Screen.SIGNED_IN)
            self.session_started.emit(result.info)
            return
        if isinstance(result, Unlocked):
            if self._session is not None and self._session.subject == result.subject:
                self._locked = False
                self._input.touch()
        elif isinstance(result, Declined):
            self._show_problem(
                Problem(text=self.tr("Someone else is signed in here: they must sign out first."))
            )
        self._go_home()

    def _flow_failed(self, flow: _Flow, error: BaseException) -> None:
        self._flow = None
        if flow.pulled:
            pulled = (
                CardRemoved("The card was removed.") if flow.factor is Factor.CARD else KeyRemoved()
            )
            problem = explain(pulled, factor=flow.factor)
        elif flow.cancelled:
            problem = Problem(
                text=self.tr("Sign-in cancelled."), severity=Severity.INFO, cancelled=True
            )
        else:
            problem = explain(error, factor=flow.factor)
        code = error.code if isinstance(error, TokenstileError) else ""
        if code == "not_piv_card" and self._key_watcher is not None:
            # Maybe a security key on the contactless reader: let the key watcher have it.
            self._key_watcher.rescan()
        self._show_problem(problem)
        if problem.service_down:
            self._service_down = True
            self._retry.start(int(self.rules.retry_seconds * 1000))
        if self._session is not None:
            self._run(self.service.session, self._reconciled, self._log_failure)
        self._go_home()

    def _cancel(self, flow: _Flow) -> None:
        flow.cancel()
        self._busy_title.setText(self.tr("Cancelling…"))
        self._busy_detail.setText("")
        self._show(Screen.BUSY)

    def _on_touch_needed(self, flow: _Flow) -> None:
        if self._flow is not flow:
            return
        set_icon(self._busy_icon, "key", 120)
        self._busy_title.setText(self.tr("Touch your key"))
        self._busy_detail.setText(
            self.tr("Touch the button or the gold disc on your security key now.")
        )
        self._show(Screen.BUSY)

    def _on_pin_needed(self, flow: _Flow, question: object) -> None:
        if self._flow is not flow:
            return
        assert isinstance(question, PinQuestion)  # noqa: S101 - the flow's own type
        self._pin.ask(question)
        self._show(Screen.PIN)

    def _pin_entered(self, pin: str) -> None:
        flow = self._flow
        if flow is None or flow.task is None:
            return
        flow.task.answer(pin)
        self._show_busy(flow.factor, checking=True)

    # -- the devices --------------------------------------------------------------------------

    def _on_key_appeared(self, key: object) -> None:
        assert isinstance(key, SecurityKey)  # noqa: S101 - the watcher's own type
        if not self.sign_in_with_key(key):
            key.close()

    def _on_key_gone(self, identity: object) -> None:
        flow = self._flow
        if flow is not None and flow.key is not None and flow.key == identity:
            flow.pulled = True
            self._cancel(flow)

    def _on_card_event(self, event: object) -> None:
        assert isinstance(event, CardEvent)  # noqa: S101 - the monitor's own type
        if event.kind is CardEventKind.SERVICE_UNAVAILABLE:
            # pcscd went away: a card session cannot be known to be still in the reader.
            if self._session_reader is not None:
                self.card_removed(self._session_reader)
            return
        if not self.devices.heeds(event.reader):
            return
        if event.kind is CardEventKind.CARD_INSERTED:
            self.card_inserted(event.reader)
        elif event.kind in (CardEventKind.CARD_REMOVED, CardEventKind.READER_REMOVED):
            self.card_removed(event.reader)

    # -- the service ------------------------------------------------------------------------------

    def _service_answered(self, offer: object) -> None:
        self._checking = False
        assert isinstance(offer, FactorOffer)  # noqa: S101 - the service's own type
        self._offer = offer
        self._apply_offer()
        if self._service_down:
            self._service_down = False
            if self._problem is not None and self._problem.service_down:
                self._clear_problem()

    def _service_failed(self, error: BaseException) -> None:
        self._checking = False
        problem = explain(error)
        if not problem.service_down:
            # The service answers but cannot say: invite every kind of factor.
            logger.warning("the service did not list its factors: %s", error)
            return
        self._service_down = True
        if self._flow is None:
            self._show_problem(problem)
        self._retry.start(int(self.rules.retry_seconds * 1000))

    def _restored(self, info: object) -> None:
        if info is None or self._session is not None or self._flow is not None:
            return
        assert isinstance(info, SessionInfo)  # noqa: S101 - the service's own type
        self._session = info
        self._locked = True
        self._update_session_labels()
        self._show(Screen.LOCKED)

    def _reconciled(self, info: object) -> None:
        """After a failed switch: follow what the keychain really holds."""
        held = self._session
        if held is None or self._flow is not None:
            return
        if not isinstance(info, SessionInfo) or info.sid != held.sid:
            self._session = None
            self._session_reader = None
            self._locked = False
            self.session_ended.emit(EndReason.SIGNED_OUT)
            self._go_home()

    def _sign_out_failed(self, error: BaseException) -> None:
        logger.warning("sign-out: the service could not be told: %s", error)
        self._show_problem(
            Problem(
                text=self.tr(
                    "Signed out here, but the sign-in service could not be told: "
                    "tell the service desk if this keeps happening."
                ),
                severity=Severity.INFO,
            )
        )

    def _log_failure(self, error: BaseException) -> None:
        logger.warning("kiosk: %s", explain(error).text)

    # -- the clock: session time, lifetime, idle ------------------------------------------------

    def _on_tick(self) -> None:
        now = self.clock.now()
        self._clock_label.setText(time.strftime("%H:%M", time.localtime(now)))
        info = self._session
        if info is None:
            return
        self._update_session_labels()
        if self.rules.sign_out_at_session_end and now >= self._session_end(info):
            self.sign_out(EndReason.SESSION_ENDED)
            return
        idle = self.rules.idle_lock_seconds
        if (
            idle > 0
            and not self._locked
            and self._flow is None
            and self._input.idle_seconds() >= idle
        ):
            self.lock()

    # -- screens ------------------------------------------------------------------------------

    def _go_home(self) -> None:
        if self._session is None:
            self._show(Screen.SIGN_IN)
        else:
            self._update_session_labels()
            self._show(Screen.LOCKED if self._locked else Screen.SIGNED_IN)

    def _show(self, screen: Screen) -> None:
        self._stack.setCurrentWidget(self._pages[screen])
        self._focus(screen)
        self.screen_changed.emit(screen)

    def _focus(self, screen: Screen) -> None:
        """Keyboard focus to what ``screen`` expects: the PIN field, the username (or the
        code when the username is known), else its main button. Taken from wherever it
        was, the demo panel included, so that nothing typed goes to another page."""
        focus = {
            Screen.SIGN_IN: self._sign_in_code,
            Screen.BUSY: self._busy_cancel,
            Screen.PIN: self._pin.field,
            Screen.CODE: self._code.first_field(),
            Screen.SIGNED_IN: self._sign_out_button,
            Screen.LOCKED: self._locked_code,
        }[screen]
        if focus.isVisible():
            focus.setFocus(Qt.FocusReason.OtherFocusReason)
        elif self.isVisible():
            self._pages[screen].setFocus(Qt.FocusReason.OtherFocusReason)

    def _show_busy(self, factor: Factor, *, checking: bool = False) -> None:
        names = {Factor.KEY: "key", Factor.CARD: "card", Factor.CODE: "fob"}
        set_icon(self._busy_icon, names[factor], 120)
        titles = {
            Factor.KEY: self.tr("Reading your key…"),
            Factor.CARD: self.tr("Reading your card…"),
            Factor.CODE: self.tr("Checking your code…"),
        }
        self._busy_title.setText(self.tr("Checking…") if checking else titles[factor])
        self._busy_detail.setText(self.tr("This takes a moment."))
        self._busy_cancel.setVisible(factor is not Factor.CODE)
        self._show(Screen.BUSY)

    def _show_problem(self, problem: Problem) -> None:
        self._problem = problem
        self._banner.setText(problem.text)
        self._banner.setAccessibleName(problem.text)
        self._banner.setProperty("severity", problem.severity.value)
        self._banner.style().unpolish(self._banner)
        self._banner.style().polish(self._banner)
        self._banner.setVisible(True)
        self.problem_shown.emit(problem)

    def _clear_problem(self) -> None:
        self._problem = None
        self._banner.setText("")
        self._banner.setVisible(False)

    def _apply_offer(self) -> None:
        # Nobody enrolled yet: still show every way in rather than an empty screen.
        kinds = self._offer.kinds or FactorOffer().kinds
        self._key_tile.setVisible("fido2" in kinds)
        self._card_tile.setVisible("piv" in kinds)
        self._code_tile.setVisible("totp" in kinds)
        self._sign_in_code.setVisible("totp" in kinds)
        self._locked_code.setVisible("totp" in kinds)
        parts = []
        if "fido2" in kinds:
            parts.append(self.tr("Tap or insert your security key"))
        if "piv" in kinds:
            parts.append(self.tr("Insert your card"))
        if "totp" in kinds:
            parts.append(self.tr("Enter the code from your fob"))
        self._invitation.setText(" · ".join(parts))
        self._invitation.setAccessibleName(self._invitation.text() or self.tr("Sign in"))

    def _update_session_labels(self) -> None:
        info = self._session
        if info is None:
            return
        name = info.display_name or info.username or info.subject
        self._avatar.setText(_initials(name))
        self._avatar.setAccessibleName(self.tr("Signed in as %1").replace("%1", name))
        self._who.setText(name)
        self._who.setAccessibleName(name)
        since = time.strftime("%H:%M", time.localtime(info.auth_time))
        self._since.setText(self.tr("Signed in since %1").replace("%1", since))
        self._since.setAccessibleName(self._since.text())
        self._remaining.setText(self._remaining_text(info))
        self._remaining.setAccessibleName(self._remaining.text() or self.tr("Session time"))
        self._locked_who.setText(self.tr("%1 is signed in.").replace("%1", name))
        self._locked_who.setAccessibleName(self._locked_who.text())

    def _session_end(self, info: SessionInfo) -> float:
        if info.session_expires_at is not None:
            return info.session_expires_at
        return info.auth_time + self.rules.session_lifetime_seconds

    def _remaining_text(self, info: SessionInfo) -> str:
        left = max(0, int(self._session_end(info) - self.clock.now()))
        hours, minutes = divmod(left // 60, 60)
        if hours:
            text = self.tr("%1 h %2 min left in this session").replace("%1", str(hours))
            return text.replace("%2", f"{minutes:02d}")
        if minutes:
            return self.tr("%1 min left in this session").replace("%1", str(minutes))
        return self.tr("%1 s left in this session").replace("%1", str(left))

    # -- building -----------------------------------------------------------------------------

    def _build(self) -> None:
        root = QWidget()
        root.setObjectName("root")
        outer = QVBoxLayout(root)
        outer.setContentsMargins(0, 0, 0, 0)
        outer.setSpacing(0)
        outer.addWidget(self._header())
        self._banner = QLabel()
        self._banner.setObjectName("banner")
        self._banner.setWordWrap(True)
        self._banner.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self._banner.setAccessibleName(self.tr("Message"))
        self._banner.setVisible(False)
        outer.addWidget(self._banner)
        self._stack = QStackedWidget()
        self._stack.setObjectName("screens")
        self._pages: dict[Screen, QWidget] = {
            Screen.SIGN_IN: self._sign_in_page(),
            Screen.BUSY: self._busy_page(),
            Screen.PIN: self._pin_page(),
            Screen.CODE: self._code_page(),
            Screen.SIGNED_IN: self._signed_in_page(),
            Screen.LOCKED: self._locked_page(),
        }
        self._screens_by_index: dict[int, Screen] = {}
        for screen, page in self._pages.items():
            self._screens_by_index[self._stack.addWidget(page)] = screen
        outer.addWidget(self._stack, 1)
        self.setCentralWidget(root)
        self._apply_offer()

    def _header(self) -> QWidget:
        header, row = header_bar()
        self._clock_label = QLabel()
        self._clock_label.setObjectName("clock")
        self._clock_label.setAccessibleName(self.tr("Time"))
        row.addWidget(self._clock_label)
        return header

    def _sign_in_page(self) -> QWidget:
        page = _Page("signInPage")
        page.layout_.addStretch(1)
        page.layout_.addWidget(text_label(self.tr("Sign in"), "title"))
        self._invitation = text_label("", "subtitle")
        page.layout_.addWidget(self._invitation)
        tiles = QHBoxLayout()
        tiles.setSpacing(24)
        self._key_tile = FactorTile(
            "key",
            self.tr("Security key"),
            self.tr("Tap it on the reader or plug it in, then touch it."),
        )
        self._card_tile = FactorTile(
            "card", self.tr("Smart card"), self.tr("Insert your card, then enter its PIN.")
        )
        self._code_tile = FactorTile(
            "fob", self.tr("Code"), self.tr("Type your username and the code your fob shows.")
        )
        tiles.addStretch(0)  # what the tiles leave at their widest: either side, not between
        for tile in (self._key_tile, self._card_tile, self._code_tile):
            tiles.addWidget(tile, 1)
        tiles.addStretch(0)
        page.layout_.addSpacing(16)
        page.layout_.addLayout(tiles)
        # The light fob: the dark one vanishes on the dark button.
        self._sign_in_code = button(self.tr("Enter a code"), "primary", icon_name="fob-light")
        self._sign_in_code.clicked.connect(self.show_code_entry)
        page.layout_.addSpacing(16)
        page.layout_.addLayout(_centered(self._sign_in_code))
        page.layout_.addStretch(2)
        return page

    def _busy_page(self) -> QWidget:
        page = _Page("busyPage")
        page.layout_.addStretch(1)
        self._busy_icon = icon_label("key", 120, self.tr("Working"))
        page.layout_.addWidget(self._busy_icon)
        self._busy_title = text_label(self.tr("Checking…"), "title")
        page.layout_.addWidget(self._busy_title)
        self._busy_detail = text_label("", "hint")
        self._busy_detail.setAccessibleName(self.tr("Details"))
        page.layout_.addWidget(self._busy_detail)
        self._busy_cancel = button(self.tr("Cancel"), "secondary")
        self._busy_cancel.setAccessibleName(self.tr("Cancel the sign-in"))
        self._busy_cancel.clicked.connect(self.cancel_sign_in)
        page.layout_.addLayout(_centered(self._busy_cancel))
        page.layout_.addStretch(2)
        escape_shortcut(page, self.cancel_sign_in)
        return page

    def _pin_page(self) -> QWidget:
        self._pin = PinPad()
        self._pin.submitted.connect(self._pin_entered)
        self._pin.cancelled.connect(self.cancel_sign_in)
        return self._pin

    def _code_page(self) -> QWidget:
        self._code = CodeEntry()
        self._code.submitted.connect(self.submit_code)
        self._code.cancelled.connect(self._go_home)
        return self._code

    def _signed_in_page(self) -> QWidget:
        page = _Page("signedInPage")
        page.layout_.addStretch(1)
        self._avatar = QLabel()
        self._avatar.setObjectName("avatar")
        self._avatar.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self._avatar.setFixedSize(132, 132)
        page.layout_.addLayout(_centered(self._avatar))
        self._who = text_label("", "title")
        page.layout_.addWidget(self._who)
        self._since = text_label("", "subtitle")
        page.layout_.addWidget(self._since)
        self._remaining = text_label("", "remaining")
        page.layout_.addWidget(self._remaining)
        page.layout_.addSpacing(24)
        self._lock_button = button(self.tr("Lock"), "secondary", icon_name="lock")
        self._lock_button.setAccessibleName(self.tr("Lock the screen"))
        self._lock_button.clicked.connect(self.lock)
        self._sign_out_button = button(self.tr("Sign out"), "primary", icon_name="sign-out")
        self._sign_out_button.clicked.connect(lambda: self.sign_out(EndReason.SIGNED_OUT))
        row = QHBoxLayout()
        row.setSpacing(20)
        row.addStretch(1)
        row.addWidget(self._lock_button)
        row.addWidget(self._sign_out_button)
        row.addStretch(1)
        page.layout_.addLayout(row)
        page.layout_.addStretch(2)
        self.setTabOrder(self._lock_button, self._sign_out_button)
        return page

    def _locked_page(self) -> QWidget:
        page = _Page("lockedPage")
        page.layout_.addStretch(1)
        page.layout_.addWidget(icon_label("lock", 120, self.tr("Locked")))
        page.layout_.addWidget(text_label(self.tr("Locked"), "title"))
        self._locked_who = text_label("", "subtitle")
        page.layout_.addWidget(self._locked_who)
        page.layout_.addWidget(
            text_label(
                self.tr(
                    "To unlock, use the same key, card or code. Someone else signing in "
                    "signs them out."
                ),
                "hint",
            )
        )
        self._locked_code = button(self.tr("Enter a code"), "secondary", icon_name="fob")
        self._locked_code.setAccessibleName(self.tr("Unlock with a code"))
        self._locked_code.clicked.connect(self.show_code_entry)
        page.layout_.addLayout(_centered(self._locked_code))
        page.layout_.addStretch(2)
        return page


def _centered(widget: QWidget) -> QHBoxLayout:
    row = QHBoxLayout()
    row.addStretch(1)
    row.addWidget(widget)
    row.addStretch(1)
    return row


def _initials(name: str) -> str:
    parts = [p for p in name.replace(".", " ").replace("_", " ").split() if p]
    if not parts:
        return "?"
    if len(parts) == 1:
        return parts[0][:2].upper()
    return (parts[0][0] + parts[-1][0]).upper()


def _ignore(_value: object) -> None:
    return None


__all__ = ["EndReason", "KioskWindow", "Screen"]
