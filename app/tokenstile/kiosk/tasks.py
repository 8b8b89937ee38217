"""Blocking work off the GUI thread, for the kiosk and the admin console alike.

A :class:`Task` runs ``work(context)`` on a :class:`TaskRunner`'s threads. The work calls
the token service, the keychain or a device (all block: a key waits for a touch), and may
ask the GUI something on the way — ``context.ask("pin", question)`` emits a prompt and
waits until the GUI calls :meth:`Task.answer`, or the task is cancelled (then it returns
``None``). Results and failures come back as queued Qt signals, so the callbacks run on
the GUI thread::

    task = runner.start(work, on_done=show, on_error=explain, on_prompt=ask_pin)
    cancel_button.clicked.connect(task.cancel)

A runner with one thread runs its tasks one at a time, in the order they were started:
the kiosk relies on that so that a sign-out and the next sign-in reach the keychain in
the order they were asked for.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from typing import Any

import shiboken6
from PySide6.QtCore import QObject, QRunnable, Qt, QThreadPool, Signal, Slot

logger = logging.getLogger(__name__)


class TaskSignals(QObject):
    """Lives on the GUI thread; the worker emits, and the queued connections to this
    object's own slots run the callbacks on the GUI thread whatever kind they are."""

    succeeded = Signal(object)
    failed = Signal(object)
    prompted = Signal(str, object)
    progressed = Signal(str)
    ended = Signal()

    def __init__(self, owner: QObject | None = None) -> None:
        super().__init__()
        self.owner = owner
        self.on_done: list[Callable[[Any], None]] = []
        self.on_error: list[Callable[[BaseException], None]] = []
        self.on_prompt: list[Callable[[str, Any], None]] = []
        self.on_progress: list[Callable[[str], None]] = []
        self.on_end: list[Callable[[], None]] = []
        self.forget: Callable[[], None] = lambda: None
        queued = Qt.ConnectionType.QueuedConnection
        self.succeeded.connect(self._done, queued)
        self.failed.connect(self._error, queued)
        self.prompted.connect(self._prompt, queued)
        self.progressed.connect(self._progress, queued)
        self.ended.connect(self._end, queued)

    def silence(self) -> None:
        """Drop every callback: what is still queued is delivered to nobody."""
        for calls in (self.on_done, self.on_error, self.on_prompt, self.on_progress):
            calls.clear()

    def _live(self) -> bool:
        """False once the widget that started the task is gone (a closed dialog)."""
        return self.owner is None or shiboken6.isValid(self.owner)

    def _deliver(self, calls: list[Callable[..., None]], *args: object) -> None:
        if self._live():
            for call in list(calls):
                call(*args)

    @Slot(object)
    def _done(self, result: object) -> None:
        self._deliver(self.on_done, result)

    @Slot(object)
    def _error(self, exc: BaseException) -> None:
        self._deliver(self.on_error, exc)

    @Slot(str, object)
    def _prompt(self, kind: str, payload: object) -> None:
        self._deliver(self.on_prompt, kind, payload)

    @Slot(str)
    def _progress(self, text: str) -> None:
        self._deliver(self.on_progress, text)

    @Slot()
    def _end(self) -> None:
        live = self._live()
        for call in list(self.on_end):
            if live or call is self.forget:
                call()


class TaskContext:
    """What the work sees: the cancel event, a way to ask and a way to tell the GUI."""

    def __init__(self, task: Task) -> None:
        self._task = task

    @property
    def cancel(self) -> threading.Event:
        return self._task.cancel_event

    def ask(self, kind: str, payload: object = None) -> Any:
        """The GUI's answer to ``kind`` (``None`` when cancelled); blocks the worker."""
        return self._task.ask(kind, payload)

    def ask_text(self, kind: str, payload: object = None) -> str | None:
        """The text the person gave for ``kind`` (a PIN), or ``None`` when cancelled."""
        answer = self.ask(kind, payload)
        return answer if isinstance(answer, str) else None

    def say(self, text: str) -> None:
        """A status line for the GUI ("Touch the key")."""
        self._task.signals.progressed.emit(text)


class Task(QRunnable):
    def __init__(self, work: Callable[[TaskContext], object], owner: QObject | None = None) -> None:
        super().__init__()
        self.setAutoDelete(False)
        self.signals = TaskSignals(owner)
        self.cancel_event = threading.Event()
        self._work = work
        self._answered = threading.Event()
        self._answer: object = None
        self._lock = threading.Lock()
        self.done = threading.Event()

    def run(self) -> None:
        # ``done`` is set before the outcome is emitted, so a slot reacting to it may
        # start the next task at once.
        try:
            result = self._work(TaskContext(self))
        except BaseException as exc:  # noqa: BLE001 - every failure goes to the GUI as a sentence
            logger.debug("task failed: %s", type(exc).__name__)
            self.done.set()
            self.signals.failed.emit(exc)
        else:
            self.done.set()
            self.signals.succeeded.emit(result)
        finally:
            self.done.set()
            self.signals.ended.emit()

    def ask(self, kind: str, payload: object) -> Any:
        with self._lock:
            self._answered.clear()  # nothing stale from an earlier question
            self._answer = None
        if self.cancel_event.is_set():
            return None
        self.signals.prompted.emit(kind, payload)
        self._answered.wait()
        with self._lock:
            return None if self.cancel_event.is_set() else self._answer

    def answer(self, value: object) -> None:
        """Called by the GUI: the value ``ask`` returns."""
        with self._lock:
            self._answer = value
            self._answered.set()

    def cancel(self) -> None:
        self.cancel_event.set()
        self._answered.set()

    @property
    def running(self) -> bool:
        return not self.done.is_set()


class TaskRunner(QObject):
    """Starts tasks on its own pool and keeps them alive until they end."""

    def __init__(self, parent: QObject | None = None, *, threads: int = 4) -> None:
        super().__init__(parent)
        self._pool = QThreadPool(self)
        self._pool.setMaxThreadCount(threads)
        self._pool.setExpiryTimeout(-1)  # a kiosk works all day: keep the threads
        self._tasks: set[Task] = set()

    def start(
        self,
        work: Callable[[TaskContext], object],
        *,
        on_done: Callable[[Any], None] | None = None,
        on_error: Callable[[BaseException], None] | None = None,
        on_prompt: Callable[[str, Any], None] | None = None,
        on_progress: Callable[[str], None] | None = None,
        on_end: Callable[[], None] | None = None,
        owner: QObject | None = None,
    ) -> Task:
        """Run ``work`` on the pool; the callbacks run on the GUI thread while ``owner``
        (the widget that asked; None: always) still exists."""
        task = Task(work, owner)
        signals = task.signals
        if on_done is not None:
            signals.on_done.append(on_done)
        if on_error is not None:
            signals.on_error.append(on_error)
        if on_prompt is not None:
            signals.on_prompt.append(on_prompt)
        if on_progress is not None:
            signals.on_progress.append(on_progress)
        if on_end is not None:
            signals.on_end.append(on_end)
        signals.forget = lambda: self._tasks.discard(task)
        signals.on_end.append(signals.forget)
        self._tasks.add(task)
        self._pool.start(task)
        return task

    @property
    def pending(self) -> int:
        """Tasks whose end the GUI thread has not handled yet."""
        return len(self._tasks)

    @property
    def busy(self) -> bool:
        return any(task.running for task in self._tasks)

    def wait(self, msecs: int = 10_000) -> bool:
        """Wait for the tasks already started (shutdown and tests); False on time-out."""
        return bool(self._pool.waitForDone(msecs))

    def shutdown(self, timeout_ms: int = 5000) -> None:
        """Cancel every task and wait for the workers (a device call ends at its time-out)."""
        for task in list(self._tasks):
            task.cancel()
            task.signals.silence()
        self._pool.waitForDone(timeout_ms)
