"""Where a demo keeps its session, so that every local app sees who is signed in.

The kiosk demo (and the terminal demo) keep their session where real sessions live,
through the broker's normal store: the OS keychain, or the encrypted file when
``TOKENSTILE_BROKER_STORE=encrypted-file`` chooses it. Never under the real session's
name: the keychain item is ``demo-session`` (the file ``demo-broker-session.enc``), so a
demo can never replace, revoke or read a real session.

While the demo runs, a marker in the user's runtime directory
(:func:`tokenstile.broker.store.write_demo_marker`) makes every store built without an
explicit item (``Broker()``, ``tokenstile token``, ``tokenstile status``) use the demo's
item, so that other programs on the machine see whoever is signed in at the demo
kiosk, and nobody after a sign-out. The marker is written and removed under the broker's
cross-process lock, the one every refresh holds, so no process reads one item and writes
the other. When the demo ends, its session is revoked, the item wiped, the marker
removed: the real session, if any, is the one apps see again.

With no keychain and no encrypted file chosen, the demo keeps its session in memory and
says so: nothing is ever written in plaintext.
"""

from __future__ import annotations

import contextlib
import logging
import shutil
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from tokenstile.broker.errors import BrokerError, KeychainUnavailable
from tokenstile.broker.memory_store import MemorySessionStore
from tokenstile.errors import TokenstileError

if TYPE_CHECKING:
    from tokenstile.broker.session import Broker
    from tokenstile.broker.store import SessionStore
    from tokenstile.config import Settings

logger = logging.getLogger(__name__)


class DemoSessionError(TokenstileError):
    """Another demo's session is the one apps see now."""

    code = "demo_session_error"


@dataclass(frozen=True, slots=True)
class DemoStore:
    """The store the demo uses, and whether other programs can see it."""

    store: SessionStore
    shared: bool
    why_not: str = ""  # when not shared: the one sentence saying why


def open_demo_store(settings: Settings) -> DemoStore:
    """The demo's own store: the keychain item ``demo-session`` or the demo's encrypted
    file (as the settings choose), checked now; else memory, with the reason."""
    from tokenstile.broker.options import BrokerOptions
    from tokenstile.broker.store import DEMO_SESSION_ITEM, KeyringStore

    options = BrokerOptions.from_settings(settings)
    store: SessionStore
    try:
        if options.store == "encrypted-file":
            from tokenstile.broker.file_store import EncryptedFileStore

            store = EncryptedFileStore.from_options(options, demo=True)
        else:
            store = KeyringStore(item=DEMO_SESSION_ITEM)
        store.load()  # the keychain answers (or the passphrase opens the file) now
    except (KeychainUnavailable, BrokerError) as exc:
        return DemoStore(store=MemorySessionStore(), shared=False, why_not=exc.message)
    return DemoStore(store=store, shared=True)


class DemoSession:
    """The demo's session made visible to the machine's apps (see the module docstring).

    :meth:`publish` at the start (``DemoSessionError`` when another demo runs),
    :meth:`withdraw` at the end; both are no-ops for a store in memory.
    """

    def __init__(self, broker: Broker, server: str, *, shared: bool) -> None:
        self.broker = broker
        self.server = server
        self.shared = shared
        self._published = False

    def publish(self) -> None:
        if not self.shared:
            return
        from tokenstile.broker.store import running_demo, write_demo_marker

        with self._lock():
            other = running_demo()
            if other is not None:
                raise DemoSessionError(
                    f"Another kiosk demo is running (process {other.pid}): end it first."
                )
            write_demo_marker(self.server)
            self.broker.store.clear()  # what a demo killed earlier may have left
        self._published = True
        self.broker.logout()  # nothing to revoke: it tells every process's memory

    def withdraw(self, *, revoke: bool = True) -> None:
        """Revoke the demo's session (``revoke``: while its service still runs), wipe it,
        and give the real one back to the apps."""
        if not self._published:
            return
        self._published = False
        try:
            if revoke:
                self.broker.logout()
            else:
                self.broker.store.clear()
        except TokenstileError as exc:
            logger.warning("the demo's session could not be wiped: %s", exc.message)
        from tokenstile.broker.store import remove_demo_marker

        with self._lock():
            remove_demo_marker()
        with contextlib.suppress(TokenstileError):
            self.broker.logout()  # empty now: tells every process's memory again

    @contextlib.contextmanager
    def _lock(self) -> Iterator[None]:
        """The broker's cross-process lock (``broker.lock`` in the runtime directory)."""
        from filelock import FileLock

        from tokenstile import paths
        from tokenstile.broker.session_lock import LOCK_FILE

        runtime = paths.runtime_dir()
        runtime.mkdir(mode=0o700, parents=True, exist_ok=True)
        lock = FileLock(str(runtime / LOCK_FILE), mode=0o600)
        with lock.acquire(timeout=self.broker.options.lock_timeout):
            yield


def tokenstile_command() -> str:
    """How to call ``tokenstile`` from another terminal: the name when it is on PATH."""
    beside = Path(sys.executable).parent / "tokenstile"
    found = shutil.which("tokenstile")
    if found is not None and Path(found).resolve() == beside.resolve():
        return "tokenstile"
    return str(beside) if beside.exists() else "tokenstile"


def other_terminal_lines(
    demo: DemoStore, *, sample_app: str | None = None, signed_in: str | None = None
) -> list[str]:
    """The "try it from another terminal" lines both demos print (``signed_in``: who
    already is, in the terminal demo; the kiosk demo waits for someone)."""
    if not demo.shared:
        return [
            f"Other programs cannot see the demo's session: {demo.why_not}",
            "The demo keeps it in memory instead (never in a plain file).",
        ]
    command = tokenstile_command()
    lines = [
        f"The demo's session is kept in {demo.store.location}.",
        f"Try it from another terminal ({signed_in} is signed in):"
        if signed_in
        else "Try it from another terminal while someone is signed in here:",
        f"  {command} token      # their access token, refreshed when due",
        f"  {command} status     # who is signed in, until when, kept where",
        "  (after a sign-out both say: Not signed in, exit status 2)",
    ]
    if sample_app is not None:
        lines.append(f"  {sample_app}   # the sample desktop app")
    lines.append("When the demo ends, its session is revoked and wiped; yours is untouched.")
    return lines
