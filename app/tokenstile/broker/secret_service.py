"""The Secret Service (gnome-keyring, KWallet) over one D-Bus connection per process.

``keyring``'s Secret Service backend opens a D-Bus connection for every call and closes
it after. gnome-keyring-daemon (seen with 42.1 here; reported up to 50) aborts on a race
in that pattern: clients that connect, read and disconnect while another process
replaces an item (``gkd_secret_service_get_pkcs11_session: assertion 'client' failed``,
then GLib's ``invoke_get_property_in_idle_cb`` assertion). Eight processes reading
the broker's item that way while one replaced it brought the daemon down within 10 to
35 s; with one connection per process it stayed up (``bench/keychain_churn.py``,
results in ``bench/RESULTS.md``). A crashed daemon takes the unlocked keyring with it,
and with it every app's session.

So each process keeps one connection, its default collection and one encrypted
transfer session, made on first use, made again after a ``fork`` (a child never talks
on its parent's socket), when ``DBUS_SESSION_BUS_ADDRESS`` changes, and after any
failure (the daemon restarted: its sessions are gone). Calls from threads are
serialised by a lock. Locked collections are the caller's to unlock
(:class:`~tokenstile.broker.errors.KeychainLocked`), since unlocking may ask the person.

Only ``secretstorage`` is imported here, never ``keyring`` (tens of milliseconds that
``tokenstile token`` cannot spare); :mod:`tokenstile.broker.keyring_backend` puts
``keyring``'s interface on top.
"""

from __future__ import annotations

import contextlib
import os
import threading
from collections.abc import Callable
from typing import TYPE_CHECKING, TypeVar

from tokenstile.broker.errors import KeychainLocked

if TYPE_CHECKING:
    from secretstorage.collection import Collection

_T = TypeVar("_T")


class _Shared:
    """This process's connection: its default collection, and whose it is (the process
    and the session bus address it was opened for)."""

    lock = threading.RLock()
    collection: Collection | None = None
    owner: tuple[int, str | None] | None = None


def _after_fork_in_child() -> None:
    # A lock another thread held at the fork would stay held in the child forever; the
    # parent's connection is the parent's (dropped, never closed: its socket is shared).
    _Shared.lock = threading.RLock()
    _Shared.collection = None


os.register_at_fork(after_in_child=_after_fork_in_child)


def _owner() -> tuple[int, str | None]:
    return os.getpid(), os.environ.get("DBUS_SESSION_BUS_ADDRESS")


def _default_collection() -> Collection:
    if _Shared.collection is None or _Shared.owner != _owner():
        import secretstorage

        _forget()  # another bus's (a parent's is left alone)
        connection = secretstorage.dbus_init()
        try:
            collection = secretstorage.get_default_collection(connection)
        except BaseException:
            connection.close()
            raise
        _Shared.collection, _Shared.owner = collection, _owner()
    return _Shared.collection


def _forget() -> None:
    if _Shared.collection is not None and _Shared.owner and _Shared.owner[0] == os.getpid():
        with contextlib.suppress(Exception):  # already broken: nothing to keep
            _Shared.collection.connection.close()
    _Shared.collection = None


def using(action: Callable[[Collection], _T]) -> _T:
    """``action`` on this process's default collection.

    A failure other than a lock is tried once more on a new connection: the daemon may
    have restarted (its transfer sessions died with it), or an item been replaced by
    another process between a search and a read. Each action here is safe to repeat.
    """
    from secretstorage.exceptions import LockedException

    with _Shared.lock:
        for attempt in range(2):
            collection = _default_collection()
            try:
                return action(collection)
            except LockedException as exc:
                raise KeychainLocked(str(exc)) from exc
            except Exception:
                _forget()
                if attempt:
                    raise
    raise AssertionError("unreachable")  # pragma: no cover


def first_secret(collection: Collection, attributes: dict[str, str]) -> str | None:
    """The secret of the first item with these attributes (UTF-8), None when none."""
    for item in collection.search_items(attributes):
        item.session = collection.session  # one transfer session for the process
        secret = item.get_secret()
        collection.session = item.session
        return secret.decode("utf-8")
    return None


def store(collection: Collection, label: str, attributes: dict[str, str], secret: str) -> None:
    """Create the item, or replace the one with the same attributes."""
    collection.create_item(label, attributes, secret.encode("utf-8"), replace=True)


def delete_first(collection: Collection, attributes: dict[str, str]) -> bool:
    """Delete the first item with these attributes; False when there was none."""
    for item in collection.search_items(attributes):
        item.delete()
        return True
    return False


def unlock() -> bool:
    """Ask for the default collection to be unlocked; True when it now is."""
    with _Shared.lock:
        collection = _default_collection()
        dismissed = collection.unlock()
        return not dismissed and not collection.is_locked()


def connection_of_this_process() -> object | None:
    """The connection in use (for tests: one per process), None before the first call."""
    shared = _Shared.collection
    return shared.connection if shared is not None and _Shared.owner == _owner() else None
