"""User presence for the software key: who "touches" it.

The authenticator asks a :class:`UserPresence` callable whenever CTAP 2.1 requires evidence
of user interaction (makeCredential, getAssertion with ``up``, excluded credentials, reset,
selection). The callable gets the platform's cancel event and must return promptly once
that event is set; the authenticator then answers ``CTAP2_ERR_KEEPALIVE_CANCEL``.
"""

from __future__ import annotations

import queue
import threading
import time
from dataclasses import dataclass
from enum import Enum
from typing import Protocol


class PresenceOutcome(Enum):
    APPROVED = "approved"
    DENIED = "denied"  # the authenticator answers CTAP2_ERR_OPERATION_DENIED
    TIMED_OUT = "timed_out"  # CTAP2_ERR_USER_ACTION_TIMEOUT


@dataclass(frozen=True, kw_only=True)
class PresenceRequest:
    """What the key wants a touch for: a CTAP command name and the RP it concerns."""

    command: str
    rp_id: str | None = None


class UserPresence(Protocol):
    def __call__(self, request: PresenceRequest, cancel: threading.Event) -> PresenceOutcome:
        """Wait for the user (or return at once); stop waiting when ``cancel`` is set."""
        ...


def always_approve(request: PresenceRequest, cancel: threading.Event) -> PresenceOutcome:
    """The default: a key whose button is held down."""
    return PresenceOutcome.APPROVED


def always_deny(request: PresenceRequest, cancel: threading.Event) -> PresenceOutcome:
    """A key whose user refuses every request (as a biometric key that rejects the finger)."""
    return PresenceOutcome.DENIED


class TouchSensor:
    """A button that a test or the demo GUI presses from another thread.

    A call waits until :meth:`touch` or :meth:`deny` is called, the platform cancels, or
    ``timeout`` seconds pass (CTAP 2.1 leaves the time-out to the authenticator; 30 s is
    what hardware keys use). A touch given while nothing waits is kept for the next
    request, so a test never races the authenticator. ``waiting`` is set while a request
    is pending and ``requests`` records what was asked for.
    """

    def __init__(self, timeout: float = 30.0, poll_interval: float = 0.01) -> None:
        self.timeout = timeout
        self._poll_interval = poll_interval
        self._decisions: queue.SimpleQueue[PresenceOutcome] = queue.SimpleQueue()
        self.waiting = threading.Event()
        self.requests: list[PresenceRequest] = []

    def touch(self) -> None:
        self._decisions.put(PresenceOutcome.APPROVED)

    def deny(self) -> None:
        self._decisions.put(PresenceOutcome.DENIED)

    def __call__(self, request: PresenceRequest, cancel: threading.Event) -> PresenceOutcome:
        self.requests.append(request)
        deadline = time.monotonic() + self.timeout
        self.waiting.set()
        try:
            while not cancel.is_set():
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    return PresenceOutcome.TIMED_OUT
                try:
                    return self._decisions.get(timeout=min(self._poll_interval, remaining))
                except queue.Empty:
                    continue
            return PresenceOutcome.DENIED  # the caller sees the cancel event and reports it
        finally:
            self.waiting.clear()
