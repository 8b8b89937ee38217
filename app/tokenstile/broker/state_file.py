"""What apps may know of the session without a token: ``broker-state.json`` in the user's
runtime directory, and :class:`StateWatch`, the SDK's way to be told when it changes.

The file says who is signed in and who is parked, by name only, and never a token::

    {"state": "signed_in" | "parked" | "signed_out", "name": "Alice" | null,
     "parked": [{"name": "Alice", "until": 1800000900.0}], "changed_at": 1800000000.0}

It is written to a temporary name and renamed over the old one (``os.replace``), so a
reader never sees half a file and an inotify watch on the runtime directory sees one
``IN_MOVED_TO`` per change: apps in any language watch that instead of polling the
keychain (which may ask the person to unlock it, and costs a D-Bus round trip). Every
process of the user writes it under the session lock, after the keychain item changed.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import secrets
import threading
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final, Literal

log = logging.getLogger(__name__)

STATE_FILE: Final = "broker-state.json"
MAX_STATE_BYTES: Final = 64 * 1024

SessionState = Literal["signed_in", "parked", "signed_out"]


@dataclass(frozen=True, slots=True, kw_only=True)
class ParkedPerson:
    name: str
    until: float


@dataclass(frozen=True, slots=True, kw_only=True)
class BrokerState:
    """The session as apps may see it: whether someone is served, and names only."""

    state: SessionState
    name: str | None = None
    parked: tuple[ParkedPerson, ...] = ()
    changed_at: float = 0.0

    def to_json(self) -> dict[str, Any]:
        return {
            "state": self.state,
            "name": self.name,
            "parked": [{"name": p.name, "until": p.until} for p in self.parked],
            "changed_at": self.changed_at,
        }

    @classmethod
    def from_json(cls, data: Any) -> BrokerState:
        """Raise ``ValueError`` for anything this module did not write."""
        if not isinstance(data, dict) or data.get("state") not in (
            "signed_in",
            "parked",
            "signed_out",
        ):
            raise ValueError("not a broker state")
        name = data.get("name")
        parked = data.get("parked") or []
        if not isinstance(parked, list):
            raise ValueError("parked is not a list")  # noqa: TRY004
        return cls(
            state=data["state"],
            name=str(name) if name is not None else None,
            parked=tuple(
                ParkedPerson(name=str(p["name"]), until=float(p["until"]))
                for p in parked
                if isinstance(p, dict) and "name" in p and "until" in p
            ),
            changed_at=float(data.get("changed_at") or 0.0),
        )


def write_state(runtime: Path, state: BrokerState) -> None:
    """Replace the state file at once (a failure is logged: the keychain stays the truth)."""
    path = runtime / STATE_FILE
    temporary = runtime / f"{STATE_FILE}.{secrets.token_hex(4)}"
    try:
        fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w", encoding="utf-8") as out:
            json.dump(state.to_json(), out, separators=(",", ":"))
        os.replace(temporary, path)
    except OSError as exc:
        with contextlib.suppress(OSError):
            os.unlink(temporary)
        log.warning("could not write the session state to %s: %s", path, exc)


def read_state(runtime: Path) -> BrokerState:
    """The state file as it is (signed out when there is none or it cannot be read)."""
    try:
        with (runtime / STATE_FILE).open("rb") as src:
            raw = src.read(MAX_STATE_BYTES + 1)
        if len(raw) > MAX_STATE_BYTES:
            return BrokerState(state="signed_out")
        return BrokerState.from_json(json.loads(raw))
    except (OSError, ValueError, KeyError, TypeError):
        return BrokerState(state="signed_out")


def _identity(path: Path) -> tuple[int, int] | None:
    try:
        st = os.stat(path)
    except OSError:
        return None
    return (st.st_ino, st.st_mtime_ns)


class StateWatch:
    """Calls ``callback(state)`` on a daemon thread each time the state file is replaced
    (sign-in, park, resume, sign-out, in any process of the user); never the keychain.
    ``stop()`` ends it.

    On Linux an inotify watch on the runtime directory wakes it the moment the file is
    renamed into place, so an app hears of a sign-in without waiting out a poll; it still
    compares the file's inode every ``interval`` seconds, which is all it does where
    inotify is missing (another system), or until the runtime directory exists (the
    first sign-in makes it; the watch is set the tick after).
    """

    def __init__(
        self, runtime: Path, callback: Callable[[BrokerState], None], *, interval: float = 0.2
    ) -> None:
        self._path = runtime / STATE_FILE
        self._runtime = runtime
        self._callback = callback
        self._interval = interval
        self._stop = threading.Event()
        self._seen = _identity(self._path)
        self._wake = _RenameWatch.open(runtime)
        self._thread = threading.Thread(target=self._run, name="tokenstile-watch", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        try:
            while not self._stop.is_set():
                if self._wake is not None:
                    self._wake.wait(self._interval)
                elif self._stop.wait(self._interval):
                    break
                else:  # the runtime directory may exist by now (made at the first sign-in)
                    self._wake = _RenameWatch.open(self._runtime)
                now = _identity(self._path)
                if now == self._seen or self._stop.is_set():
                    continue
                self._seen = now
                try:
                    self._callback(read_state(self._runtime))
                except Exception:
                    log.exception("a session watch callback failed")
        finally:
            if self._wake is not None:
                self._wake.close()

    def stop(self) -> None:
        self._stop.set()
        if threading.current_thread() is not self._thread:
            self._thread.join(timeout=5)

    def __enter__(self) -> StateWatch:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


class _RenameWatch:
    """An inotify watch for ``broker-state.json`` renamed or written into ``runtime``."""

    def __init__(self, inotify: Any) -> None:
        self._inotify = inotify

    @classmethod
    def open(cls, runtime: Path) -> _RenameWatch | None:
        """The watch, or None where inotify is not to be had (then the watch polls)."""
        try:
            import inotify_simple
        except ImportError:  # not Linux
            return None
        try:
            inotify = inotify_simple.INotify()
        except OSError as exc:  # out of inotify instances: polling still works
            log.info("no inotify for the session watch (%s): polling", exc)
            return None
        mask = inotify_simple.flags.MOVED_TO | inotify_simple.flags.CLOSE_WRITE
        try:
            inotify.add_watch(str(runtime), mask)
        except OSError:  # the runtime directory does not exist yet
            inotify.close()
            return None
        return cls(inotify)

    def wait(self, timeout: float) -> None:
        """Back when the state file changed, or after ``timeout`` seconds."""
        for event in self._inotify.read(timeout=max(1, int(timeout * 1000))):
            if event.name == STATE_FILE:
                return

    def close(self) -> None:
        self._inotify.close()
