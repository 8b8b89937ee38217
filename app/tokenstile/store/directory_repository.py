"""The directories people are synced from, their sync leases, and applying a sync plan.

**One sync at a time.** A replica (or ``manage directory sync``) syncs a directory only
while it holds the directory's lease: ``claim`` is one conditional UPDATE that writes the
caller's random ``lease`` where no lease is held or the one held has run out, so of two
replicas claiming at once exactly one gets it (on SQLite the writes are serialised; on
PostgreSQL the second UPDATE waits on the row and then finds the lease held). The lease
runs out by itself (``lease_until``) if its holder dies.

**Nothing half-applied.** ``apply`` writes a whole plan (``tokens.directory.SyncPlan``) in
one transaction whose first statement re-checks the lease: a holder whose lease ran out
and was taken by another writes nothing. Disabling goes through the admin path's own
``set_enabled_in``: every open session of the person is revoked (reason
``user_disabled``, back-channel logouts queued) and their shift grants end. Each change
has its audit row, ``detail.by`` = ``directory NAME``.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from sqlalchemy import RowMapping, insert, or_, select, update

from tokenstile.clock import Clock
from tokenstile.errors import NotFound, StoreError
from tokenstile.protocol.roles import Role
from tokenstile.store import schema as t
from tokenstile.store.admin_repository import AdminConflict, last_disabled_by, set_enabled_in
from tokenstile.store.repository import Store
from tokenstile.store.roles import hold_role
from tokenstile.store.token_tx import SqlTx
from tokenstile.tokens.directory import (
    DirectoryBusy,
    DirectoryConfig,
    LocalPerson,
    SyncPlan,
    directory_by,
)
from tokenstile.tokens.model import AuditEvent

LEASE_SECONDS = 900.0  # longer than any sync takes; a dead holder's lease runs out


@dataclass(frozen=True, slots=True, kw_only=True)
class DirectoryStatus:
    config: DirectoryConfig
    last_sync_at: float | None
    last_result: Mapping[str, int] | None
    last_error: str | None


def _config(m: RowMapping) -> DirectoryConfig:
    return DirectoryConfig(
        name=m["name"],
        url=m["url"],
        bind_dn=m["bind_dn"],
        password_file=m["password_file"],
        base_dn=m["base_dn"],
        search_filter=m["search_filter"],
        group_dn=m["group_dn"],
        admin_group_dn=m["admin_group_dn"],
        attribute_map=json.loads(m["attribute_map"]),
        ca_file=m["ca_file"],
        starttls=bool(m["starttls"]),
    )


class DirectoryRepository:
    def __init__(self, store: Store, *, clock: Clock) -> None:
        self._store = store
        self._clock = clock

    def add(self, config: DirectoryConfig, *, origin: str) -> None:
        d = t.directories
        now = self._clock.now()
        with self._store.write() as tx:
            taken = tx.connection.execute(select(d.c.name).where(d.c.name == config.name))
            if taken.first() is not None:
                raise AdminConflict(f"A directory named {config.name!r} exists already.")
            tx.connection.execute(
                insert(d).values(
                    name=config.name,
                    url=config.url,
                    bind_dn=config.bind_dn,
                    password_file=config.password_file,
                    base_dn=config.base_dn,
                    search_filter=config.search_filter,
                    group_dn=config.group_dn,
                    admin_group_dn=config.admin_group_dn,
                    attribute_map=json.dumps(dict(config.attribute_map), sort_keys=True),
                    ca_file=config.ca_file,
                    starttls=config.starttls,
                    created_at=now,
                )
            )
            tx.audit(
                AuditEvent(
                    "directory_added",
                    "info",
                    origin=origin,
                    detail={"directory": config.name, "url": config.url},
                ),
                at=now,
            )

    def statuses(self) -> list[DirectoryStatus]:
        d = t.directories
        with self._store.read() as tx:
            rows = tx.connection.execute(select(d).order_by(d.c.name)).mappings().all()
        return [
            DirectoryStatus(
                config=_config(m),
                last_sync_at=m["last_sync_at"],
                last_result=json.loads(m["last_result"]) if m["last_result"] else None,
                last_error=m["last_error"],
            )
            for m in rows
        ]

    def config(self, name: str) -> DirectoryConfig:
        d = t.directories
        with self._store.read() as tx:
            row = tx.connection.execute(select(d).where(d.c.name == name)).mappings().first()
        if row is None:
            raise NotFound(f"No directory named {name!r} (see: tokenstile manage directory list).")
        return _config(row)

    def names(self) -> list[str]:
        d = t.directories
        with self._store.read() as tx:
            return list(tx.connection.execute(select(d.c.name).order_by(d.c.name)).scalars())

    # -- the lease ------------------------------------------------------------------------

    def claim(self, name: str, holder: str, *, hold: float = LEASE_SECONDS) -> None:
        """Take the sync lease of ``name`` for ``holder``, or ``DirectoryBusy``."""
        d, now = t.directories, self._clock.now()
        with self._store.write() as tx:
            taken = tx.connection.execute(
                update(d)
                .where(
                    d.c.name == name,
                    or_(d.c.lease.is_(None), d.c.lease_until <= now, d.c.lease == holder),
                )
                .values(lease=holder, lease_until=now + hold)
            ).rowcount
            if taken == 1:
                return
            held = tx.connection.execute(select(d.c.lease_until).where(d.c.name == name)).first()
        if held is None:
            raise NotFound(f"No directory named {name!r}.")
        raise DirectoryBusy(
            f"Directory {name}: another sync holds it (for at most "
            f"{max(0, int(float(held.lease_until) - now))} s more); try again later."
        )

    def release(self, name: str, holder: str, *, error: str | None = None) -> None:
        """Give the lease back; ``error``: why this sync failed (kept for ``list``)."""
        d = t.directories
        values: dict[str, Any] = {"lease": None, "lease_until": None}
        if error is not None:
            values.update(last_error=error[:2000], last_sync_at=self._clock.now())
        with self._store.write() as tx:
            tx.connection.execute(
                update(d).where(d.c.name == name, d.c.lease == holder).values(**values)
            )

    # -- people -----------------------------------------------------------------------------

    def local_people(self, name: str) -> list[LocalPerson]:
        """Every person (a directory entry may collide with any of them), and for those
        ``name`` manages that are disabled, whether ``name`` disabled them."""
        u = t.users
        with self._store.read() as tx:
            rows = tx.connection.execute(
                select(u.c.username, u.c.display_name, u.c.is_admin, u.c.enabled, u.c.directory)
            ).all()
            disabled = [r.username for r in rows if r.directory == name and not r.enabled]
            by = last_disabled_by(tx, disabled) if disabled else {}
        mine = directory_by(name)
        return [
            LocalPerson(
                username=r.username,
                display_name=r.display_name,
                is_admin=bool(r.is_admin),
                enabled=bool(r.enabled),
                directory=r.directory,
                disabled_by_directory=by.get(r.username) == mine,
            )
            for r in rows
        ]

    def apply(self, name: str, holder: str, plan: SyncPlan) -> dict[str, int]:
        """Write ``plan`` in one transaction while ``holder`` still holds the lease, and
        record the result; the counts. Raises ``DirectoryBusy`` (nothing written) when the
        lease was lost."""
        d, now = t.directories, self._clock.now()
        counts = plan.counts()
        with self._store.write() as tx:
            kept = tx.connection.execute(
                update(d)
                .where(d.c.name == name, d.c.lease == holder)
                .values(
                    lease=None,
                    lease_until=None,
                    last_sync_at=now,
                    last_result=json.dumps(counts, sort_keys=True),
                    last_error=None,
                )
            ).rowcount
            if kept != 1:
                raise DirectoryBusy(
                    f"Directory {name}: this sync's lease ran out and another took it; "
                    "nothing was written."
                )
            _apply(tx, name, plan, at=now)
        return counts


def _apply(tx: SqlTx, name: str, plan: SyncPlan, *, at: float) -> None:
    u, conn, by = t.users, tx.connection, directory_by(name)
    origin = f"directory sync {name}"

    def user_id(username: str) -> int:
        found = conn.execute(
            select(u.c.id).where(u.c.username == username, u.c.directory == name)
        ).scalar()
        if found is None:  # changed since the plan was made: fail the whole sync
            raise StoreError(f"Directory {name}: {username!r} changed during the sync.")
        return int(found)

    for person in plan.create:
        conn.execute(
            insert(u).values(
                username=person.username,
                display_name=person.display_name,
                is_admin=False,
                enabled=True,
                created_at=at,
                directory=name,
            )
        )
        if person.is_admin:  # the admin role's row, with users.is_admin (store.roles)
            hold_role(conn, user_id(person.username), Role.ADMIN, True, at=at)
        tx.audit(
            AuditEvent(
                "user_added",
                "info",
                username=person.username,
                origin=origin,
                detail={"admin": person.is_admin, "by": by},
            ),
            at=at,
        )
    for change in plan.update:
        fields = dict(change.changes)
        admin = fields.pop("is_admin", None)
        if fields:
            conn.execute(update(u).where(u.c.id == user_id(change.username)).values(**fields))
        if admin is not None:
            hold_role(conn, user_id(change.username), Role.ADMIN, bool(admin), at=at)
        tx.audit(
            AuditEvent(
                "user_updated",
                "info",
                username=change.username,
                origin=origin,
                detail={"by": by, "changes": dict(change.changes)},
            ),
            at=at,
        )
    for username, _why in plan.disable:
        set_enabled_in(tx, user_id(username), username, False, by=by, origin=origin, at=at)
    for username in plan.enable:
        set_enabled_in(tx, user_id(username), username, True, by=by, origin=origin, at=at)
    tx.audit(
        AuditEvent("directory_synced", "info", origin=origin, detail={"by": by, **plan.counts()}),
        at=at,
    )
