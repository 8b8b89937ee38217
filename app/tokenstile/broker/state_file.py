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
    (sign-in, park, resume, sign-out, in any process of the user). It looks at the file's
    inode every ``interval`` seconds (one ``stat``; never the keychain). ``stop()`` ends it."""

    def __init__(
        self, runtime: Path, callback: Callable[[BrokerState], None], *, interval: float = 0.2
    ) -> None:
        self._path = runtime / STATE_FILE
        self._runtime = runtime
        self._callback = callback
        self._interval = interval
        self._stop = threading.Event()
        self._seen = _identity(self._path)
        self._thread = threading.Thread(target=self._run, name="tokenstile-watch", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while not self._stop.wait(self._interval):
            now = _identity(self._path)
            if now == self._seen:
                continue
            self._seen = now
            try:
                self._callback(read_state(self._runtime))
            except Exception:
                log.exception("a session watch callback failed")

    def stop(self) -> None:
        self._stop.set()
        if threading.current_thread() is not self._thread:
            self._thread.join(timeout=5)

    def __enter__(self) -> StateWatch:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()
