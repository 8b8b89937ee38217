"""A directory sync from start to end, once (``manage directory sync``) or every
``directory_sync_interval`` seconds in the server (``PeriodicDirectorySync``).

One sync: take the directory's lease (``store.directory_repository``), read its bind
password from its file, read the whole directory (``fetch.ldap_directory``), plan against
every person Tokenstile has (``tokens.directory.plan_sync``) and apply the plan in one
transaction. A failure anywhere before that transaction writes no person; it is kept as
the directory's ``last_error`` and the lease is given back. A dry run reads and plans,
takes no lease and writes nothing.

The password file must not be readable by every user of the machine; its content (one
line) is never logged nor stored.
"""

from __future__ import annotations

import logging
import secrets
import stat
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from tokenstile.background import BackgroundLoop
from tokenstile.clock import Clock
from tokenstile.errors import ConfigError, TokenstileError
from tokenstile.fetch.ldap_directory import read_directory
from tokenstile.store.directory_repository import DirectoryRepository
from tokenstile.store.repository import Store
from tokenstile.tokens.directory import (
    DirectoryBusy,
    DirectoryConfig,
    DirectorySnapshot,
    SyncPlan,
    plan_sync,
)

if TYPE_CHECKING:
    from tokenstile.deployment import Deployment

log = logging.getLogger(__name__)

Reader = Callable[[DirectoryConfig, str], DirectorySnapshot]


def read_password_file(path: str) -> str:
    """The bind password: the file's first line. Refused when others may read it."""
    file = Path(path)
    try:
        mode = file.stat().st_mode
        text = file.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"Cannot read the password file {path}: {exc}") from exc
    if mode & stat.S_IROTH:
        raise ConfigError(
            f"The password file {path} is readable by every user: chmod o-r {path} first."
        )
    password = text.splitlines()[0] if text else ""
    if not password:
        raise ConfigError(f"The password file {path} is empty.")
    return password


@dataclass(frozen=True, slots=True, kw_only=True)
class SyncReport:
    name: str
    plan: SyncPlan
    applied: bool


def _read(config: DirectoryConfig, password: str) -> DirectorySnapshot:
    return read_directory(config, password)


class DirectorySync:
    """Syncs directories for one process; ``holder`` names it in the leases."""

    def __init__(
        self,
        store: Store,
        clock: Clock,
        *,
        holder: str | None = None,
        reader: Reader | None = None,
    ) -> None:
        self.directories = DirectoryRepository(store, clock=clock)
        self.holder = holder or secrets.token_hex(16)
        self._reader: Reader = reader or _read

    def run(self, name: str, *, dry_run: bool = False) -> SyncReport:
        config = self.directories.config(name)
        if dry_run:
            snapshot = self._reader(config, read_password_file(config.password_file))
            plan = plan_sync(name, snapshot, self.directories.local_people(name))
            return SyncReport(name=name, plan=plan, applied=False)
        self.directories.claim(name, self.holder)
        try:
            snapshot = self._reader(config, read_password_file(config.password_file))
            plan = plan_sync(name, snapshot, self.directories.local_people(name))
            counts = self.directories.apply(name, self.holder, plan)
        except DirectoryBusy:
            raise
        except TokenstileError as exc:
            self.directories.release(name, self.holder, error=exc.message)
            raise
        except BaseException:
            self.directories.release(name, self.holder, error="the sync failed unexpectedly")
            raise
        log.info("directory %s synced: %s", name, counts)
        return SyncReport(name=name, plan=plan, applied=True)


class PeriodicDirectorySync(BackgroundLoop):
    """Every directory, every ``interval`` seconds. Replicas that run one each share the
    directories through the leases: a directory another replica is syncing is skipped."""

    def __init__(self, sync: DirectorySync, *, interval: float) -> None:
        super().__init__("tokenstile-directory-sync", interval)
        self._sync = sync

    def run_once(self) -> dict[str, SyncReport | None]:
        done: dict[str, SyncReport | None] = {}
        try:
            names = self._sync.directories.names()
        except TokenstileError as exc:
            log.warning("directory sync: cannot list the directories: %s", exc.message)
            return done
        for name in names:
            if self._stop.is_set():
                break
            try:
                done[name] = self._sync.run(name)
            except DirectoryBusy:
                log.info("directory %s: another replica is syncing it", name)
                done[name] = None
            except TokenstileError as exc:
                log.warning("directory %s: sync failed: %s", name, exc.message)
                done[name] = None
            except Exception:
                log.exception("directory %s: sync failed", name)
                done[name] = None
        return done

    def _loop(self) -> None:
        while not self._stop.wait(self._interval):
            self.run_once()


def directory_sync_loop(deployment: Deployment) -> PeriodicDirectorySync:
    """The server's periodic directory sync, as the settings set it (0: off)."""
    return PeriodicDirectorySync(
        DirectorySync(deployment.store, deployment.clock),
        interval=deployment.settings.directory_sync_interval,
    )
