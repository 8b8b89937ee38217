"""The kiosk window: sign-in, touch-your-key, PIN pad, code entry, signed-in, locked.

The window owns the shared-workstation rules (see :class:`~tokenstile.kiosk.rules.KioskRules`):
card pulled -> signed out; idle -> locked; session lifetime over -> signed out; a second
person's key, card or code -> the first session is revoked and wiped, then the second
saved; Sign out -> revoked at the service. Nothing here blocks: the service, the
keychain and the devices are reached on the one thread of a
:class:`~tokenstile.kiosk.tasks.TaskRunner`, and every failure is shown through
:func:`~tokenstile.kiosk.messages.explain`.

The screens themselves are built in :mod:`tokenstile.kiosk.screens`; the work a sign-in
does on the worker thread, and what it ends in, is in :mod:`tokenstile.kiosk.flows`.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable

from PySide6.QtCore import QObject, Qt, QTimer, Signal
from PySide6.QtGui import QCloseEvent, QKeyEvent, QKeySequence, QResizeEvent, QShortcut
from PySide6.QtWidgets import QMainWindow, QWidget

from tokenstile.broker import SessionInfo, TokenGrant
from tokenstile.clock import Clock, SystemClock
from tokenstile.devices.errors import CardRemoved
from tokenstile.devices.fido2_errors import KeyRemoved
from tokenstile.devices.monitor import CardEvent, CardEventKind
from tokenstile.devices.security_keys import SecurityKey
from tokenstile.errors import TokenstileError
from tokenstile.kiosk.devices import CardWatch, KeyWatcher, KioskDevices, key_identity
from tokenstile.kiosk.flows import (
    Declined,
    EndReason,
    Flow,
    FlowResult,
    SignedIn,
    Unlocked,
    card_login,
    finish_login,
    key_login,
    session_end,
    session_over,
    sign_out_if,
)
from tokenstile.kiosk.idle import InputWatch
from tokenstile.kiosk.messages import Factor, Problem, Severity, explain
from tokenstile.kiosk.rules import KioskRules
from tokenstile.kiosk.screens import KioskScreens, Screen, is_compact
from tokenstile.kiosk.service import FactorOffer, ParkedPerson, SignInService
from tokenstile.kiosk.tasks import TaskContext, TaskRunner
from tokenstile.kiosk.widgets import PinQuestion, escape_shortcut

logger = logging.getLogger(__name__)

TAC_CHARS = 12  # a temporary access code's characters, without its hyphens


class _DeviceEvents(QObject):
    """Device callbacks (their own threads) -> queued signals (the GUI thread)."""

    key_appeared = Signal(object)  # SecurityKey
    key_gone = Signal(object)  # its identity
    card_event = Signal(object)  # CardEvent


class KioskWindow(QMainWindow):
    """The kiosk. Call :meth:`start` once shown, :meth:`shutdown` before it goes."""

    screen_changed = Signal(object)  # Screen
    session_started = Signal(object)  # SessionInfo
    session_ended = Signal(object)  # EndReason
    problem_shown = Signal(object)  # Problem
    held_card_inserted = Signal(str)  # a card arrived while a confirm prompt holds the devices

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
        # The smallest touch panel a kiosk has (800x480); below 1024x720 the screens are
        # laid out compact (see KioskScreens.set_compact).
        self.setMinimumSize(800, 480)

        # One thread: the service and the keychain see the calls in the order they were made.
        self._tasks = TaskRunner(self, threads=1)
        self._events = _DeviceEvents(self)
        self._events.key_appeared.connect(self._on_key_appeared)
        self._events.key_gone.connect(self._on_key_gone)
        self._events.card_event.connect(self._on_card_event)
        self._flow: Flow | None = None
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
        # A confirm prompt (kiosk/confirm.py) has the key and card to itself while open:
        # a key or card arriving then is not a sign-in.
        self.devices_held = False
        self._parked: tuple[ParkedPerson, ...] = ()
        self._ending_parked: set[str] = set()

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
        self._refresh_parked()

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
        return self._screens.current

    @property
    def session(self) -> SessionInfo | None:
        return self._session

    @property
    def session_reader(self) -> str | None:
        """The reader whose card opened the session (None: not a card session)."""
        return self._session_reader

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
        self._start_flow(
            Factor.KEY, lambda ctx: key_login(self.service, ctx, key), key=key_identity(key)
        )
        return True

    def card_inserted(self, reader: str) -> bool:
        """Start a card sign-in with the card in ``reader``; False if busy or no cards."""
        if self._flow is not None or self.devices.open_card is None:
            return False
        self._start_flow(
            Factor.CARD,
            lambda ctx: card_login(self.service, ctx, self.devices.open_card, reader),
            reader=reader,
        )
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
        # A fob's code is 6 or 8 digits; a temporary access code is 12 characters
        # (``K7QD-3MXP-W9TR``): the one code field takes both.
        plain = "".join(ch for ch in code if ch not in " -")
        login = self.service.login_tac if len(plain) == TAC_CHARS else self.service.login_totp
        self._start_flow(Factor.CODE, lambda _ctx: login(username, code))

    def lock(self) -> None:
        if self._session is None or self._locked:
            return
        self._locked = True
        if self._flow is None:
            self._show(Screen.LOCKED)

    @property
    def parked(self) -> tuple[ParkedPerson, ...]:
        """Who is parked at this kiosk, as last read from the keychain."""
        return self._parked

    def park(self) -> None:
        """ "Switch user" with parking on: park the signed-in person (the service stops
        serving their session) and invite the next person to sign in."""
        info = self._session
        if info is None or self._flow is not None or not self.rules.park_sessions:
            return
        self._session = None
        self._session_reader = None
        self._locked = False
        self._show(Screen.SIGN_IN)
        limit = self.rules.park_max
        self._run(
            lambda: self.service.park(limit),
            lambda _none: self._parked_one(),
            lambda error: self._park_failed(info, error),
        )

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
            EndReason.SHIFT_ENDED: self.tr("Your shift has ended: sign in with your PIN."),
        }.get(reason)
        if note is not None:
            self._show_problem(Problem(text=note, severity=Severity.INFO))
        self.session_ended.emit(reason)
        sid, shift = info.sid, reason is EndReason.SHIFT_ENDED
        self._run(
            lambda: sign_out_if(self.service, sid, end_shift=shift),
            _ignore,
            self._sign_out_failed,
        )

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

    def resizeEvent(self, event: QResizeEvent) -> None:  # noqa: N802 - Qt's name
        size = event.size()
        self._screens.set_compact(is_compact(size.width(), size.height()))
        super().resizeEvent(event)

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
        flow = Flow(factor=factor, reader=reader, key=key)
        self._flow = flow
        self._clear_problem()
        self._show_busy(factor)
        current = self._session
        if current is not None and self._over(current):
            # Kept past its end (kiosk_sign_out_at_session_end off): the service no longer
            # honours it, so this is a fresh sign-in (replacing it), never an unlock.
            current = None
        switch = self.rules.switch_user
        park = self.rules.park_max if self.rules.park_sessions else None

        def run(ctx: TaskContext) -> FlowResult:
            return finish_login(self.service, work(ctx), current, switch=switch, park=park)

        flow.task = self._tasks.start(
            run,
            on_done=lambda result: self._flow_done(flow, result),
            on_error=lambda error: self._flow_failed(flow, error),
            on_prompt=lambda _kind, question: self._on_pin_needed(flow, question),
            on_progress=lambda _said: self._on_touch_needed(flow),
        )

    # Back on the GUI thread.

    def _flow_done(self, flow: Flow, result: object) -> None:
        self._flow = None
        if isinstance(result, SignedIn):
            held = self._session
            if held is not None and result.switched:
                self.session_ended.emit(EndReason.PARKED if result.parked else EndReason.SWITCHED)
            elif held is not None and held.sid != result.info.sid:
                self.session_ended.emit(EndReason.SESSION_ENDED)  # an ended one, replaced
            self._session = result.info
            self._session_reader = flow.reader if flow.factor is Factor.CARD else None
            self._locked = False
            self._input.touch()
            self._update_session_labels()
            self._show(Screen.SIGNED_IN)
            if not result.first_revoked:
                self._first_not_revoked(held)
            self.session_started.emit(result.info)
            self._refresh_parked()
            return
        if isinstance(result, Unlocked):
            if self._session is not None and self._session.subject == result.subject:
                self._locked = False
                self._input.touch()
        elif isinstance(result, Declined) and result.parking_full is not None:
            self._show_problem(
                Problem(
                    text=self.tr(
                        "No one more can step away at this kiosk: %1 is parked here already. "
                        "Sign out instead, or wait until someone parked signs in again."
                    ).replace("%1", ", ".join(p.name for p in self._parked))
                )
            )
        elif isinstance(result, Declined):
            self._show_problem(
                Problem(text=self.tr("Someone else is signed in here: they must sign out first."))
            )
        self._go_home()

    def _flow_failed(self, flow: Flow, error: BaseException) -> None:
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

    def _cancel(self, flow: Flow) -> None:
        flow.cancel()
        self._screens.busy.cancelling()
        self._show(Screen.BUSY)

    def _on_touch_needed(self, flow: Flow) -> None:
        if self._flow is not flow:
            return
        self._screens.busy.touch_needed()
        self._show(Screen.BUSY)

    def _on_pin_needed(self, flow: Flow, question: object) -> None:
        if self._flow is not flow:
            return
        assert isinstance(question, PinQuestion)  # noqa: S101 - the flow's own type
        self._pin.ask(question)
        self._show(Screen.PIN)
        refused = getattr(self.service, "last_tap", None)  # a tap refused just before
        if isinstance(refused, str) and refused and not question.wrong:
            self._show_problem(Problem(text=refused, severity=Severity.INFO))

    def _pin_entered(self, pin: str) -> None:
        flow = self._flow
        if flow is None or flow.task is None:
            return
        flow.task.answer(pin)
        self._show_busy(flow.factor, checking=True)

    # -- the devices --------------------------------------------------------------------------

    def _on_key_appeared(self, key: object) -> None:
        assert isinstance(key, SecurityKey)  # noqa: S101 - the watcher's own type
        if self.devices_held or not self.sign_in_with_key(key):
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
            if self.devices_held:
                self.held_card_inserted.emit(event.reader)
            else:
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

    def back_online(self, info: SessionInfo) -> None:
        """The offline session on screen was exchanged for a real one (kiosk.offline):
        the same person, now with the service's session (so signing out ends that)."""
        held = self._session
        if held is not None and held.offline and info.username == held.username:
            self._session = info
            self._update_session_labels()

    def offline_ended(self, why: str) -> None:
        """The service refused the offline sign-in when the link returned (the factor was
        revoked meanwhile...): the person is signed out, and told why."""
        held = self._session
        if held is None or not held.offline:
            return
        self.sign_out(EndReason.SESSION_ENDED)
        self._show_problem(Problem(text=why))

    def _first_not_revoked(self, first: SessionInfo | None) -> None:
        """Switching user, the first person's session was wiped here but the service could
        not be told: say so rather than let it pass for ended everywhere."""
        name = (first.display_name or first.username) if first is not None else ""
        text = self.tr(
            "%1 was signed out here, but the sign-in service could not be told to end "
            "their session: tell the service desk."
        ).replace("%1", name or self.tr("The previous person"))
        self._show_problem(Problem(text=text))

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
        self._screens.clock.setText(time.strftime("%H:%M", time.localtime(now)))
        self._end_overdue_parked(now)
        info = self._session
        if info is None:
            return
        self._update_session_labels()
        if self.rules.sign_out_at_session_end and self._over(info):
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

    # -- parked people (kiosk_park_sessions) --------------------------------------------------

    def _refresh_parked(self) -> None:
        if self.rules.park_sessions:
            self._run(self.service.parked, self._parked_answered, self._log_failure)

    def _parked_answered(self, people: object) -> None:
        assert isinstance(people, tuple)  # noqa: S101 - the service's own type
        self._parked = people
        self._screens.show_parked(tuple(p.name for p in people))

    def _parked_one(self) -> None:
        self.session_ended.emit(EndReason.PARKED)
        self._refresh_parked()

    def _park_failed(self, info: SessionInfo, error: BaseException) -> None:
        """Not parked (as many as allowed are, or the service said no): the person stays
        signed in, locked, and the screen says why."""
        if self._session is None and self._flow is None:
            self._session = info
            self._locked = True
            self._go_home()
        code = error.code if isinstance(error, TokenstileError) else ""
        if code == "parking_full":
            names = ", ".join(p.name for p in self._parked)
            text = self.tr(
                "No one more can step away at this kiosk: %1 is parked here already. "
                "Sign out instead, or wait until someone parked signs in again."
            ).replace("%1", names)
            self._show_problem(Problem(text=text))
        else:
            self._show_problem(explain(error))

    def _end_overdue_parked(self, now: float) -> None:
        """A parked person's deadline passed: the service revoked their session (or will on
        its next use); sign them out here too."""
        for person in self._parked:
            if person.until <= now and person.sid not in self._ending_parked:
                self._ending_parked.add(person.sid)
                sid = person.sid
                self._run(
                    lambda sid=sid: self.service.end_parked(sid),  # type: ignore[misc]
                    lambda _none, sid=sid: self._parked_ended(sid),  # type: ignore[misc]
                    lambda error, sid=sid: self._parked_ended(sid, error),  # type: ignore[misc]
                )

    def _parked_ended(self, sid: str, error: BaseException | None = None) -> None:
        self._ending_parked.discard(sid)
        if error is not None:
            logger.info("a parked session's end: the service was not told (%s)", error)
        self._refresh_parked()

    # -- screens ------------------------------------------------------------------------------

    def _go_home(self) -> None:
        if self._session is None:
            self._show(Screen.SIGN_IN)
        else:
            self._update_session_labels()
            self._show(Screen.LOCKED if self._locked else Screen.SIGNED_IN)

    def _show(self, screen: Screen) -> None:
        self._screens.show(screen)
        self.screen_changed.emit(screen)

    def _focus(self, screen: Screen) -> None:
        self._screens.focus(screen)

    def _show_busy(self, factor: Factor, *, checking: bool = False) -> None:
        self._screens.busy.reading(factor, checking=checking)
        self._show(Screen.BUSY)

    def _show_problem(self, problem: Problem) -> None:
        self._problem = problem
        self._screens.show_problem(problem)
        self.problem_shown.emit(problem)

    def _clear_problem(self) -> None:
        self._problem = None
        self._screens.clear_problem()

    def _apply_offer(self) -> None:
        # Nobody enrolled yet: still show every way in rather than an empty screen.
        self._screens.invite(self._offer.kinds or FactorOffer().kinds)

    def _over(self, info: SessionInfo) -> bool:
        return session_over(info, self.rules.session_lifetime_seconds, self.clock.now())

    def _update_session_labels(self) -> None:
        info = self._session
        if info is None:
            return
        end = session_end(info, self.rules.session_lifetime_seconds)
        self._screens.show_session(info, max(0, int(end - self.clock.now())))

    # -- building -----------------------------------------------------------------------------

    def _build(self) -> None:
        screens = KioskScreens(self)
        self._screens = screens
        screens.sign_in.code_button.clicked.connect(self.show_code_entry)
        screens.busy.cancel.clicked.connect(self.cancel_sign_in)
        escape_shortcut(screens.busy, self.cancel_sign_in)
        screens.pin.submitted.connect(self._pin_entered)
        screens.pin.cancelled.connect(self.cancel_sign_in)
        screens.code.submitted.connect(self.submit_code)
        screens.code.cancelled.connect(self._go_home)
        screens.signed_in.lock_button.clicked.connect(self.lock)
        screens.signed_in.switch_button.setVisible(self.rules.park_sessions)
        screens.signed_in.switch_button.clicked.connect(self.park)
        if self.rules.lock_hotkey:
            # Walk-away: lock at once, from any screen of the kiosk.
            self._lock_shortcut = QShortcut(QKeySequence(self.rules.lock_hotkey), self)
            self._lock_shortcut.setContext(Qt.ShortcutContext.WindowShortcut)
            self._lock_shortcut.activated.connect(self.lock)
        screens.signed_in.sign_out_button.clicked.connect(
            lambda: self.sign_out(EndReason.SIGNED_OUT)
        )
        screens.locked.code_button.clicked.connect(self.show_code_entry)
        screens.signed_in.end_shift_button.setVisible(self.rules.tap_and_go)
        screens.signed_in.end_shift_button.clicked.connect(
            lambda: self.sign_out(EndReason.SHIFT_ENDED)
        )
        screens.code.allow_code_alone(self.rules.tap_and_go)
        # What the tests, the demo and the screenshots script reach for by these names.
        self._invitation = screens.sign_in.invitation
        self._key_tile = screens.sign_in.key_tile
        self._card_tile = screens.sign_in.card_tile
        self._code_tile = screens.sign_in.code_tile
        self._sign_in_code = screens.sign_in.code_button
        self._pin = screens.pin
        self._code = screens.code
        self._who = screens.signed_in.who
        self._remaining = screens.signed_in.remaining
        self._lock_button = screens.signed_in.lock_button
        self._sign_out_button = screens.signed_in.sign_out_button
        self._end_shift_button = screens.signed_in.end_shift_button
        self._locked_who = screens.locked.who
        self._locked_banner = screens.locked.signed_in_banner
        self._switch_button = screens.signed_in.switch_button
        self._locked_code = screens.locked.code_button
        self.setCentralWidget(screens.root)
        self._apply_offer()


def _ignore(_value: object) -> None:
    return None


__all__ = ["EndReason", "KioskWindow", "Screen"]
