"""Where the session is kept: the OS keychain through ``keyring`` (service ``tokenstile``).

Secret Service (gnome-keyring, KWallet 6), the macOS Keychain and the Windows Credential
Locker are all reached through ``keyring``. There is no silent plaintext fallback: when
``keyring`` finds no real keychain (its ``fail`` or ``null`` backend, or a file backend of
``keyrings.alt``), every call raises :class:`KeychainUnavailable` with a sentence that
names the fix. A headless host opts into the encrypted file store explicitly
(:mod:`tokenstile.broker.file_store`, ``TOKENSTILE_BROKER_STORE=encrypted-file``).

On Linux the Secret Service backend is built directly: ``keyring``'s discovery of every
installed backend costs tens of milliseconds that ``tokenstile token`` cannot spare. It
is keyring's own backend on one D-Bus connection per process
(:mod:`tokenstile.broker.keyring_backend`; why one: :mod:`tokenstile.broker.secret_service`).
A backend named in ``PYTHON_KEYRING_BACKEND`` or keyring's config file still wins, and
without a Secret Service the normal discovery runs. For the same reason a plain read
(``load``) on Linux asks the Secret Service for keyring's item through that connection
without importing ``keyring`` (the default collection, the attributes ``service`` and
``username``) when no other backend is configured; anything unusual there (no bus, a
locked collection) goes the ``keyring`` way. Writes always do.

**The kiosk demo's session.** ``tokenstile kiosk --demo`` (and ``tokenstile demo``) keep
their session under the item ``demo-session``, never ``session``, so a demo can never
replace a real session. While one runs, it leaves a marker, ``kiosk-demo.json`` in the
user's runtime directory (mode 0600, written and removed under the broker's lock), naming
its process. A store made without an explicit item (what ``Broker()``, ``tokenstile
token`` and ``tokenstile status`` use) reads the marker on every call and, while it names
a live process of this user, uses ``demo-session``; otherwise ``session``. The marker
chooses only between those two fixed names: it names no item, server or file of its own.
See ``docs/demo.md``.
"""

from __future__ import annotations

import contextlib
import json
import os
import secrets
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Final, Protocol, TypeVar

from tokenstile.broker.errors import KeychainUnavailable

if TYPE_CHECKING:
    from keyring.backend import KeyringBackend

_T = TypeVar("_T")
_T_co = TypeVar("_T_co", covariant=True)

SERVICE: Final = "tokenstile"
SESSION_ITEM: Final = "session"
DEMO_SESSION_ITEM: Final = "demo-session"  # the kiosk demo's: never the real one
DEMO_MARKER_FILE: Final = "kiosk-demo.json"  # in the runtime directory while a demo runs

NO_KEYCHAIN: Final = (
    "No OS keychain is available to keep the session{why}: start the desktop's keyring "
    "(gnome-keyring or KWallet on Linux, with a D-Bus session), or on a headless host set "
    "TOKENSTILE_BROKER_STORE=encrypted-file with TOKENSTILE_BROKER_STORE_PASSPHRASE_FILE."
)


class SessionStore(Protocol):
    """Keeps one document (the session JSON): the keychain, or an encrypted file."""

    @property
    def location(self) -> str:
        """Where the session is, for ``tokenstile status`` (no secret)."""
        ...

    def load(self) -> str | None: ...

    def save(self, document: str) -> None: ...

    def clear(self) -> None: ...


def _refused(backend: KeyringBackend) -> str | None:
    """Why ``backend`` is no keychain (None: it is one).

    Refused: keyring's ``fail`` and ``null`` backends; every backend of ``keyrings.alt``
    (its plaintext and home-made encrypted files, its keyczar, multipart and legacy
    wrappers: none is the OS keychain) and of ``keyrings.cryptfile``; and any backend
    that keeps its items in a file of its own (a ``file_path``, as ``keyrings.alt``'s
    ``FileBacked`` has) or calls itself plaintext.
    """
    kind = type(backend)
    module, name = kind.__module__, kind.__name__
    if module in ("keyring.backends.fail", "keyring.backends.null"):
        return ""
    lower = name.lower()
    if _file_backend_name(module) or hasattr(kind, "file_path") or "file" in lower:
        return _IN_A_FILE.format(name=f"{module}.{name}")
    if "plaintext" in lower:
        return _IN_A_FILE.format(name=f"{module}.{name}")
    return None


_IN_A_FILE: Final = " ({name} keeps it in a file, not in the OS keychain)"


def _file_backend_name(dotted: str) -> bool:
    """A module or class of ``keyrings.alt`` or ``keyrings.cryptfile``."""
    return dotted.strip().split(".")[:2] in (["keyrings", "alt"], ["keyrings", "cryptfile"])


def _configured_name() -> str | None:
    """The backend ``PYTHON_KEYRING_BACKEND`` or keyring's ``keyringrc.cfg`` names."""
    named = os.environ.get("PYTHON_KEYRING_BACKEND")
    if named:
        return named
    import configparser

    from keyring.util import platform_

    config = configparser.RawConfigParser()
    try:
        config.read(os.path.join(platform_.config_root(), "keyringrc.cfg"), encoding="utf-8")
        return config.get("backend", "default-keyring").strip() or None
    except (OSError, configparser.Error, UnicodeDecodeError):
        return None


def _chosen_backend() -> KeyringBackend:
    import keyring.core

    named = _configured_name()
    if named is not None and _file_backend_name(named):
        # Refused by name, before it is even built (some prompt for a password).
        raise KeychainUnavailable(NO_KEYCHAIN.format(why=_IN_A_FILE.format(name=named)))
    try:
        configured = keyring.core.load_env() or keyring.core.load_config()
    except Exception as exc:  # a bad PYTHON_KEYRING_BACKEND or keyringrc.cfg
        raise KeychainUnavailable(NO_KEYCHAIN.format(why=f" ({exc})")) from exc
    if configured is not None:
        return configured
    platform: str = sys.platform  # (a plain str: mypy would judge the other branch dead)
    if platform.startswith("linux"):
        from tokenstile.broker.keyring_backend import SharedConnectionKeyring

        backend: KeyringBackend = SharedConnectionKeyring()
        return backend
    chosen: KeyringBackend = keyring.get_keyring()
    return chosen


def _keychain_backend(backend: KeyringBackend) -> KeyringBackend:
    from keyring.backends.chainer import ChainerBackend

    if isinstance(backend, ChainerBackend):
        usable = [b for b in backend.backends if _refused(b) is None]
        if not usable:
            raise KeychainUnavailable(NO_KEYCHAIN.format(why=""))
        first: KeyringBackend = usable[0]
        return first
    why = _refused(backend)
    if why is not None:
        raise KeychainUnavailable(NO_KEYCHAIN.format(why=why))
    return backend


class KeyringStore:
    """The session as one keychain item: service ``tokenstile``, user ``session``.

    ``backend``: a ``keyring`` backend (tests hand in an in-memory one); default: the
    system keychain. ``item``: pinned to one item (the demo pins ``demo-session``);
    default: :func:`session_item`, asked on every call.
    """

    def __init__(self, backend: KeyringBackend | None = None, *, item: str | None = None):
        self._backend = backend
        self._checked = False
        # None: ``session``, or ``demo-session`` while a kiosk demo runs (asked per call).
        self._pinned = item
        self._discovered = False

    @property
    def _item(self) -> str:
        return self._pinned if self._pinned is not None else session_item()

    @property
    def location(self) -> str:
        backend = self._keyring()
        return f"the OS keychain ({type(backend).__module__}.{type(backend).__name__}, " + (
            f"service {SERVICE!r}, item {self._item!r})"
        )

    def _keyring(self) -> KeyringBackend:
        if self._backend is None or not self._checked:
            self._backend = _keychain_backend(self._backend or _chosen_backend())
            self._checked = True
        return self._backend

    def _fallback(self) -> bool:
        """After the directly built Secret Service failed: let ``keyring`` discover."""
        if self._discovered:
            return False
        self._discovered = True
        import keyring

        self._backend = _keychain_backend(keyring.get_keyring())
        self._checked = True
        return True

    def load(self) -> str | None:
        item = self._item
        if self._backend is None and _may_read_directly():
            found = _read_secret_service(item)
            if found is not _UNREAD:
                return found if isinstance(found, str) else None
        document: str | None = self._call(lambda b: b.get_password(SERVICE, item))
        return document

    def save(self, document: str) -> None:
        item = self._item
        self._call(lambda b: b.set_password(SERVICE, item, document))

    def clear(self) -> None:
        from keyring.errors import PasswordDeleteError

        item = self._item

        def delete(backend: KeyringBackend) -> None:
            with contextlib.suppress(PasswordDeleteError):  # nothing stored
                backend.delete_password(SERVICE, item)

        self._call(delete)

    def _call(self, action: _Action[_T]) -> _T:
        while True:
            backend = self._keyring()
            try:
                return action(backend)
            except KeychainUnavailable:
                raise
            # keyring's errors, and secretstorage's and jeepney's D-Bus failures (their own
            # trees) under it: all mean the keychain cannot be used now.
            except Exception as exc:
                if self._is_direct_secret_service(backend) and self._fallback():
                    continue
                raise KeychainUnavailable(_unavailable(exc)) from exc

    def _is_direct_secret_service(self, backend: KeyringBackend) -> bool:
        return not self._discovered and type(backend).__module__ == (
            "tokenstile.broker.keyring_backend"
        )


# -- the kiosk demo's marker ----------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class RunningDemo:
    """A kiosk demo that runs now: its process and its token service."""

    pid: int
    server: str


def demo_marker_path() -> Path:
    from tokenstile import paths

    return paths.runtime_dir() / DEMO_MARKER_FILE


def running_demo() -> RunningDemo | None:
    """The demo whose session the default stores use now, or None.

    A marker counts only when it is this user's, writable by nobody else, and names a
    process that is alive and (on Linux) started when the marker says, so a demo that was
    killed, or a PID reused since, never hides the real session.
    """
    path = demo_marker_path()
    try:
        with path.open("rb") as handle:
            info = os.fstat(handle.fileno())
            text = handle.read(4096)
    except OSError:
        return None
    if info.st_uid != os.getuid() or info.st_mode & 0o022:
        return None
    try:
        marker = json.loads(text)
        pid, server, started = marker["pid"], marker["server"], marker.get("started")
    except (ValueError, KeyError, TypeError):
        return None
    if not isinstance(pid, int) or pid <= 0 or not isinstance(server, str):
        return None
    if not _alive(pid, started):
        return None
    return RunningDemo(pid=pid, server=server)


def session_item() -> str:
    """The keychain item a store without an explicit item uses right now."""
    return DEMO_SESSION_ITEM if running_demo() is not None else SESSION_ITEM


def write_demo_marker(server: str) -> Path:
    """Mark this process as the running demo (the caller holds the broker's lock)."""
    path = demo_marker_path()
    path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    body = {"pid": os.getpid(), "server": server, "started": _process_start(os.getpid())}
    temporary = path.with_name(f".{path.name}.{secrets.token_hex(4)}")
    fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as out:
            json.dump(body, out)
        os.replace(temporary, path)
    except BaseException:
        with contextlib.suppress(OSError):
            temporary.unlink()
        raise
    return path


def remove_demo_marker() -> None:
    """Remove the marker if this process wrote it (the caller holds the broker's lock)."""
    found = running_demo()
    if found is not None and found.pid != os.getpid():
        return  # another demo's
    with contextlib.suppress(FileNotFoundError):
        demo_marker_path().unlink()


def _process_start(pid: int) -> str | None:
    """When ``pid`` started (field 22 of ``/proc/<pid>/stat``), None without ``/proc``."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as handle:
            stat = handle.read()
    except OSError:
        return None
    fields = stat.rpartition(b")")[2].split()  # the name may hold spaces and parentheses
    return fields[19].decode("ascii") if len(fields) > 19 else None


def _alive(pid: int, started: object) -> bool:
    if isinstance(started, str):
        return _process_start(pid) == started
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        pass  # alive, though not ours to signal
    return True


_UNREAD: Final = object()


def _may_read_directly() -> bool:
    """Linux, and no other keyring backend chosen (by environment or keyringrc.cfg)."""
    if not sys.platform.startswith("linux") or os.environ.get("PYTHON_KEYRING_BACKEND"):
        return False
    config = os.environ.get("XDG_CONFIG_HOME") or os.path.expanduser("~/.config")
    return not os.path.exists(os.path.join(config, "python_keyring", "keyringrc.cfg"))


def _read_secret_service(item: str) -> object:
    """The item's secret, None when there is none, or ``_UNREAD`` (let keyring try)."""
    from tokenstile.broker import secret_service

    attributes = {"username": item, "service": SERVICE}
    try:
        return secret_service.using(lambda c: secret_service.first_secret(c, attributes))
    except Exception:  # noqa: BLE001 - locked, or any trouble: the keyring path reports it
        return _UNREAD


def _unavailable(exc: BaseException) -> str:
    text = str(exc).strip().rstrip(".") or type(exc).__name__
    return NO_KEYCHAIN.format(why=f" ({text})")


class _Action(Protocol[_T_co]):
    def __call__(self, backend: KeyringBackend, /) -> _T_co: ...
