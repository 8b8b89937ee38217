"""The session's two marks in the user's runtime directory, shared by every process.

- ``broker.lock``: the cross-process refresh lock (a ``flock`` that dies with its
  holder), taken with this process's own lock so threads queue here first;
- ``broker-session.stamp``: replaced on every login and logout, so each process's
  memory of the session can tell, with one ``stat``, that another process changed it.
"""

from __future__ import annotations

import contextlib
import logging
import os
import secrets
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Final

from tokenstile.broker.errors import BrokerError

if TYPE_CHECKING:
    from filelock import FileLock

log = logging.getLogger(__name__)

LOCK_FILE: Final = "broker.lock"
STAMP_FILE: Final = "broker-session.stamp"


class SessionLock:
    """The refresh lock and the change stamp of the session, in ``runtime``."""

    def __init__(self, runtime: Path, *, timeout: float) -> None:
        self.runtime = runtime
        self.timeout = timeout
        self._stamp_path = str(runtime / STAMP_FILE)
        self._mutex = threading.RLock()
        self._file_lock: FileLock | None = None

    def stamp(self) -> tuple[int, int] | None:
        """What the stamp file is now (None when there is none)."""
        try:
            st = os.stat(self._stamp_path)
        except OSError:
            return None
        return (st.st_ino, st.st_mtime_ns)

    def restamp(self) -> None:
        """Tell every process's memory that the session changed (login, logout)."""
        temporary = f"{self._stamp_path}.{secrets.token_hex(4)}"
        try:
            with open(temporary, "w", encoding="ascii") as out:
                out.write(secrets.token_hex(8))
            os.replace(temporary, self._stamp_path)
        except OSError as exc:
            with contextlib.suppress(OSError):
                os.unlink(temporary)
            log.warning("could not mark the session change in %s: %s", self.runtime, exc)

    @contextlib.contextmanager
    def held(self) -> Iterator[None]:
        """This process's and every other process's refresh lock for the session."""
        from filelock import Timeout

        with self._mutex:
            if self._file_lock is None:
                self._file_lock = self._make_file_lock()
            try:
                self._file_lock.acquire(timeout=self.timeout)
            except Timeout as exc:
                raise BrokerError(
                    f"Another program has held the session lock for {self.timeout:g} s; try again."
                ) from exc
            try:
                yield
            finally:
                self._file_lock.release()

    def _make_file_lock(self) -> FileLock:
        from filelock import FileLock

        try:
            self.runtime.mkdir(mode=0o700, parents=True, exist_ok=True)
        except OSError as exc:
            raise BrokerError(
                f"Cannot create the runtime directory {self.runtime} ({exc.strerror})."
            ) from exc
        return FileLock(str(self.runtime / LOCK_FILE), mode=0o600)
