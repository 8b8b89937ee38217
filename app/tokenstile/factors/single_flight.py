"""``SingleFlight``: concurrent calls under one key share one call.

The first caller of a key makes the call; whoever asks for the same key while it runs
waits for its result, or its error, instead of making the call again. Used by the
revocation checks (``piv_revocation``) so that many logins at once ask a slow or dead
source once, not once each. Nothing is kept after the call ends: a later caller calls
again (remembering results is the caller's business).
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Hashable
from concurrent.futures import Future
from typing import Generic, TypeVar

T = TypeVar("T")


class SingleFlight(Generic[T]):
    """One call per key at a time; thread-safe."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._calls: dict[Hashable, Future[T]] = {}
        self._waiting = 0

    @property
    def waiting(self) -> int:
        """How many callers are waiting on another's call now."""
        with self._lock:
            return self._waiting

    def run(self, key: Hashable, call: Callable[[], T]) -> T:
        """The result of ``call``, or of the call already running under ``key``."""
        with self._lock:
            pending = self._calls.get(key)
            if pending is None:
                mine: Future[T] = Future()
                self._calls[key] = mine
            else:
                self._waiting += 1
        if pending is not None:
            try:
                return pending.result()
            finally:
                with self._lock:
                    self._waiting -= 1
        try:
            result = call()
        except BaseException as exc:
            mine.set_exception(exc)
            raise
        finally:
            with self._lock:
                del self._calls[key]
        mine.set_result(result)
        return result
