"""What SCIM 2.0 inbound provisioning (issue 18) reads and writes: the clients' bearer
tokens, the people and groups each client manages.

A SCIM client is known by the name of its token; the people it creates carry
``users.directory = "scim:<name>"`` and only that client may read or change them. A
person added by hand, or managed by another directory, is never taken over: creating
them again is a conflict that names who manages them.

Every change is one write transaction with its audit rows in it, the person's SCIM row
read ``FOR UPDATE`` first (PostgreSQL; SQLite's writers queue on ``BEGIN IMMEDIATE``), so
a PATCH is applied to the state the transaction holds and two PATCHes never lose one of
theirs. Disabling a person (``active`` false, or DELETE) ends their sessions in the same
transaction, the way ``AdminRepository.set_enabled`` does: a ``session_revoked`` row each
and a back-channel logout queued. People are never deleted.

A group whose display name is a role the client may grant (``role_of_group``) gives that
role to its members; after every change the roles the client controls are set to what
its groups say, and no other role is touched.
"""

from __future__ import annotations

import hashlib
import json
import re
import secrets
import uuid
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import Row, func, insert, select, update

from tokenstile.clock import Clock
from tokenstile.errors import NotFound, StoreError
from tokenstile.store import schema as t
from tokenstile.store.admin_repository import set_enabled_in
from tokenstile.store.repository import Store
from tokenstile.store.token_tx import SqlTx
from tokenstile.tokens.model import AuditEvent

SCIM_DIRECTORY_PREFIX = "scim:"
TOKEN_PREFIX = "tsscim_"  # noqa: S105 - the prefix of every token, not a secret
# A token name fits users.directory (String(64)) after the prefix.
TOKEN_NAME = re.compile(r"[a-z0-9][a-z0-9_.-]{0,58}")
# The roles a SCIM group can carry (issue 17's roles).
GRANTABLE_ROLES = ("admin", "helpdesk", "enroller")


class ScimConflict(StoreError):
    """The change would take over a person or a name someone else holds (409)."""

    code = "scim_conflict"


class ScimInvalid(StoreError):
    """A value the store refuses (a member who is not the client's, a name taken) (400)."""

    code = "scim_invalid"


def token_hash(token: str) -> str:
    """The stored form of a SCIM bearer token: 256 random bits need no slow hash."""
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


def directory_of(client: str) -> str:
    """``users.directory`` of the people the client named ``client`` manages."""
    return SCIM_DIRECTORY_PREFIX + client


def role_of_group(display_name: str, grantable: Iterable[str]) -> str | None:
    """The role a group gives its members: the role named like the group (case aside,
    also with a ``tokenstile-`` prefix), if the client may grant it; else none."""
    name = display_name.strip().casefold()
    name = name.removeprefix("tokenstile-")
    return name if name in set(grantable) else None


# -- tokens --------------------------------------------------------------------------


@dataclass(frozen=True, slots=True, kw_only=True)
class ScimClient:
    """A SCIM client, authenticated by its token."""

    name: str
    roles: tuple[str, ...]

    @property
    def directory(self) -> str:
        return directory_of(self.name)


@dataclass(frozen=True, slots=True, kw_only=True)
class ScimTokenInfo:
    name: str
    roles: tuple[str, ...]
    created_at: float
    revoked_at: float | None
    people: int


class ScimTokens:
    """The SCIM clients' bearer tokens: created (shown once), listed, revoked, checked."""

    def __init__(self, store: Store, *, clock: Clock) -> None:
        self._store = store
        self._clock = clock

    def create(self, name: str, *, roles: Sequence[str], by: str) -> str:
        """A new token for the client ``name``; the token itself, which is not stored."""
        if not TOKEN_NAME.fullmatch(name):
            raise ScimInvalid(
                "A SCIM client name is 1 to 59 characters: lowercase letters, digits, "
                "'.', '_' or '-', starting with a letter or digit."
            )
        unknown = sorted(set(roles) - set(GRANTABLE_ROLES))
        if unknown:
            raise ScimInvalid(
                f"Unknown role {unknown[0]!r}: a SCIM client may grant "
                f"{', '.join(GRANTABLE_ROLES)}."
            )
        token = TOKEN_PREFIX + secrets.token_urlsafe(32)
        now = self._clock.now()
        with self._store.write() as tx:
            conn = tx.connection
            if conn.execute(
                select(t.scim_tokens.c.name).where(t.scim_tokens.c.name == name)
            ).first():
                raise ScimConflict(
                    f"A SCIM token named {name!r} exists (revoked tokens keep their name, so "
                    "that no new token takes over their people)."
                )
            conn.execute(
                insert(t.scim_tokens).values(
                    name=name,
                    token_hash=token_hash(token),
                    roles=json.dumps(sorted(set(roles))),
                    created_at=now,
                )
            )
            tx.audit(
                AuditEvent(
                    "scim_token_created",
                    "info",
                    detail={"by": by, "client": name, "roles": sorted(set(roles))},
                ),
                at=now,
            )
        return token

    def tokens(self) -> list[ScimTokenInfo]:
        k, u = t.scim_tokens, t.users
        people = (
            select(func.count())
            .select_from(u)
            .where(u.c.directory == SCIM_DIRECTORY_PREFIX + k.c.name)
            .correlate(k)
            .scalar_subquery()
        )
        with self._store.read() as tx:
            rows = tx.connection.execute(
                select(
                    k.c.name, k.c.roles, k.c.created_at, k.c.revoked_at, people.label("n")
                ).order_by(k.c.name)
            ).all()
        return [
            ScimTokenInfo(
                name=r.name,
                roles=tuple(json.loads(r.roles)),
                created_at=float(r.created_at),
                revoked_at=r.revoked_at,
                people=int(r.n),
            )
            for r in rows
        ]

    def revoke(self, name: str, *, by: str) -> bool:
        """Revoke the token of ``name``; False when it was revoked already."""
        k, now = t.scim_tokens, self._clock.now()
        with self._store.write() as tx:
            conn = tx.connection
            if conn.execute(select(k.c.name).where(k.c.name == name)).first() is None:
                raise NotFound(f"No SCIM token is named {name!r}.")
            done = conn.execute(
                update(k).where(k.c.name == name, k.c.revoked_at.is_(None)).values(revoked_at=now)
            ).rowcount
            if done:
                tx.audit(
                    AuditEvent("scim_token_revoked", "info", detail={"by": by, "client": name}),
                    at=now,
                )
        return bool(done)

    def client(self, token: str) -> ScimClient | None:
        """The client of a presented token, or None (unknown or revoked)."""
        if not token.startswith(TOKEN_PREFIX) or len(token) > 128:
            return None
        k = t.scim_tokens
        with self._store.read() as tx:
            row = tx.connection.execute(
                select(k.c.name, k.c.roles, k.c.revoked_at).where(
                    k.c.token_hash == token_hash(token)
                )
            ).first()
        if row is None or row.revoked_at is not None:
            return None
        return ScimClient(name=row.name, roles=tuple(json.loads(row.roles)))


# -- people and groups ----------------------------------------------------------------


@dataclass(frozen=True, slots=True, kw_only=True)
class PersonFields:
    """What a SCIM client writes about a person."""

    user_name: str
    display_name: str
    active: bool
    external_id: str | None
    profile: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True, slots=True, kw_only=True)
class ScimPerson:
    scim_id: str
    fields: PersonFields
    created_at: float
    updated_at: float
    version: int
    groups: tuple[tuple[str, str], ...]  # (group id, display name)


@dataclass(frozen=True, slots=True, kw_only=True)
class GroupFields:
    display_name: str
    external_id: str | None
    members: tuple[str, ...]  # people's SCIM ids


@dataclass(frozen=True, slots=True, kw_only=True)
class ScimGroup:
    scim_id: str
    fields: GroupFields
    created_at: float
    updated_at: float
    version: int
    member_names: tuple[str, ...]  # usernames, in the order of ``fields.members``


@dataclass(frozen=True, slots=True, kw_only=True)
class Page:
    """One page of a list: ``items`` from ``start`` (1-based) and how many match."""

    items: list[Any]
    total: int


_PERSON = select(
    t.users.c.id,
    t.users.c.username,
    t.users.c.display_name,
    t.users.c.enabled,
    t.users.c.directory,
    t.scim_users.c.scim_id,
    t.scim_users.c.external_id,
    t.scim_users.c.profile,
    t.scim_users.c.created_at,
    t.scim_users.c.updated_at,
    t.scim_users.c.version,
).select_from(t.users.join(t.scim_users, t.scim_users.c.user_id == t.users.c.id))


class ScimRepository:
    """The people and groups of SCIM clients; every call names the client it acts for."""

    def __init__(self, store: Store, *, clock: Clock) -> None:
        self._store = store
        self._clock = clock

    # -- people -------------------------------------------------------------------------

    def create_person(
        self, client: ScimClient, fields: PersonFields, *, origin: str | None
    ) -> ScimPerson:
        try:
            return self._create_person(client, fields, origin=origin)
        except ScimConflict:
            raise
        except StoreError as exc:  # the name taken by a concurrent request since the check
            with self._store.read() as tx:
                taken = tx.connection.execute(
                    select(t.users.c.directory).where(t.users.c.username == fields.user_name)
                ).first()
            if taken is not None:
                raise ScimConflict(_taken(fields.user_name, taken.directory, client)) from exc
            raise

    def _create_person(
        self, client: ScimClient, fields: PersonFields, *, origin: str | None
    ) -> ScimPerson:
        now, u = self._clock.now(), t.users
        by = f"scim:{client.name}"
        with self._store.write() as tx:
            conn = tx.connection
            taken = conn.execute(
                select(u.c.id, u.c.directory).where(u.c.username == fields.user_name)
            ).first()
            if taken is not None:
                raise ScimConflict(_taken(fields.user_name, taken.directory, client))
            self._check_external_id(tx, client, fields.external_id, None)
            key = conn.execute(
                insert(u).values(
                    username=fields.user_name,
                    display_name=fields.display_name,
                    is_admin=False,
                    enabled=fields.active,
                    created_at=now,
                    directory=client.directory,
                )
            ).inserted_primary_key
            assert key is not None  # noqa: S101
            scim_id = str(uuid.uuid4())
            conn.execute(
                insert(t.scim_users).values(
                    user_id=int(key[0]),
                    scim_id=scim_id,
                    external_id=fields.external_id,
                    profile=json.dumps(fields.profile, sort_keys=True),
                    created_at=now,
                    updated_at=now,
                    version=1,
                )
            )
            tx.audit(
                AuditEvent(
                    "user_added",
                    "info",
                    username=fields.user_name,
                    origin=origin,
                    detail={"by": by, "admin": False, "active": fields.active},
                ),
                at=now,
            )
            return self._person(tx, client, scim_id)

    def person(self, client: ScimClient, scim_id: str) -> ScimPerson:
        with self._store.read() as tx:
            return self._person(tx, client, scim_id)

    def people(
        self,
        client: ScimClient,
        *,
        user_name: str | None = None,
        external_id: str | None = None,
        start: int = 1,
        count: int = 100,
    ) -> Page:
        u, s = t.users, t.scim_users
        where = [u.c.directory == client.directory]
        if user_name is not None:
            # RFC 7643 section 4.1.1: userName is caseExact false.
            where.append(func.lower(u.c.username) == user_name.lower())
        if external_id is not None:
            where.append(s.c.external_id == external_id)
        base = _PERSON.where(*where)
        with self._store.read() as tx:
            conn = tx.connection
            total = int(
                conn.execute(select(func.count()).select_from(base.subquery())).scalar_one()
            )
            ids = (
                conn.execute(
                    select(s.c.scim_id)
                    .select_from(u.join(s, s.c.user_id == u.c.id))
                    .where(*where)
                    .order_by(u.c.id)
                    .limit(count)
                    .offset(start - 1)
                )
                .scalars()
                .all()
                if count > 0
                else []
            )
            return Page(items=[self._person(tx, client, i) for i in ids], total=total)

    def update_person(
        self,
        client: ScimClient,
        scim_id: str,
        change: Callable[[ScimPerson], PersonFields],
        *,
        if_version: int | None = None,
        origin: str | None,
    ) -> ScimPerson:
        """Replace or patch a person: ``change`` turns the state this transaction holds
        (locked) into the new one; whatever it raises leaves everything as it was."""
        now, u = self._clock.now(), t.users
        by = f"scim:{client.name}"
        with self._store.write() as tx:
            conn = tx.connection
            before = self._person(tx, client, scim_id, lock=True)
            if if_version is not None and before.version != if_version:
                raise ScimStale("The person changed since that version (If-Match).")
            after = change(before)
            old, user_id = before.fields, self._user_id(tx, scim_id)
            if after.user_name != old.user_name:
                taken = conn.execute(
                    select(u.c.directory).where(u.c.username == after.user_name, u.c.id != user_id)
                ).first()
                if taken is not None:
                    raise ScimConflict(_taken(after.user_name, taken.directory, client))
            self._check_external_id(tx, client, after.external_id, user_id)
            if after.active != old.active:
                self._set_enabled(
                    tx, user_id, after.active, username=old.user_name, by=by, origin=origin, now=now
                )
            conn.execute(
                update(u)
                .where(u.c.id == user_id)
                .values(username=after.user_name, display_name=after.display_name)
            )
            conn.execute(
                update(t.scim_users)
                .where(t.scim_users.c.user_id == user_id)
                .values(
                    external_id=after.external_id,
                    profile=json.dumps(after.profile, sort_keys=True),
                    updated_at=now,
                    version=before.version + 1,
                )
            )
            changed = sorted(
                name
                for name in ("user_name", "display_name", "external_id", "profile")
                if getattr(after, name) != getattr(old, name)
            )
            if changed:
                detail: dict[str, Any] = {"by": by, "changed": changed}
                if after.user_name != old.user_name:
                    detail["previous_username"] = old.user_name
                tx.audit(
                    AuditEvent(
                        "user_updated",
                        "info",
                        username=after.user_name,
                        origin=origin,
                        detail=detail,
                    ),
                    at=now,
                )
            return self._person(tx, client, scim_id)

    def disable_person(
        self,
        client: ScimClient,
        scim_id: str,
        *,
        if_version: int | None = None,
        origin: str | None,
    ) -> None:
        """DELETE: the person is disabled (sessions ended), never removed."""

        def disabled(before: ScimPerson) -> PersonFields:
            f = before.fields
            return PersonFields(
                user_name=f.user_name,
                display_name=f.display_name,
                active=False,
                external_id=f.external_id,
                profile=f.profile,
            )

        self.update_person(client, scim_id, disabled, if_version=if_version, origin=origin)

    # -- groups -------------------------------------------------------------------------

    def create_group(
        self, client: ScimClient, fields: GroupFields, *, origin: str | None
    ) -> ScimGroup:
        now, g = self._clock.now(), t.scim_groups
        scim_id = str(uuid.uuid4())
        with self._store.write() as tx:
            conn = tx.connection
            member_ids = self._member_user_ids(tx, client, fields.members)
            conn.execute(
                insert(g).values(
                    scim_id=scim_id,
                    directory=client.directory,
                    display_name=fields.display_name,
                    external_id=fields.external_id,
                    created_at=now,
                    updated_at=now,
                    version=1,
                )
            )
            self._set_members(tx, scim_id, member_ids)
            self._settle_roles(tx, client, member_ids, origin=origin, now=now)
            tx.audit(_group_event("scim_group_added", client, fields, origin), at=now)
            return self._group(tx, client, scim_id)

    def group(self, client: ScimClient, scim_id: str) -> ScimGroup:
        with self._store.read() as tx:
            return self._group(tx, client, scim_id)

    def groups(
        self,
        client: ScimClient,
        *,
        display_name: str | None = None,
        external_id: str | None = None,
        start: int = 1,
        count: int = 100,
    ) -> Page:
        g = t.scim_groups
        where = [g.c.directory == client.directory]
        if display_name is not None:
            where.append(func.lower(g.c.display_name) == display_name.lower())
        if external_id is not None:
            where.append(g.c.external_id == external_id)
        with self._store.read() as tx:
            conn = tx.connection
            total = int(
                conn.execute(select(func.count()).select_from(g).where(*where)).scalar_one()
            )
            ids = (
                conn.execute(
                    select(g.c.scim_id)
                    .where(*where)
                    .order_by(g.c.created_at, g.c.scim_id)
                    .limit(count)
                    .offset(start - 1)
                )
                .scalars()
                .all()
                if count > 0
                else []
            )
            return Page(items=[self._group(tx, client, i) for i in ids], total=total)

    def update_group(
        self,
        client: ScimClient,
        scim_id: str,
        change: Callable[[ScimGroup], GroupFields],
        *,
        if_version: int | None = None,
        origin: str | None,
    ) -> ScimGroup:
        now, g = self._clock.now(), t.scim_groups
        with self._store.write() as tx:
            conn = tx.connection
            before = self._group(tx, client, scim_id, lock=True)
            if if_version is not None and before.version != if_version:
                raise ScimStale("The group changed since that version (If-Match).")
            after = change(before)
            old_ids = set(self._member_user_ids(tx, client, before.fields.members))
            new_ids = self._member_user_ids(tx, client, after.members)
            conn.execute(
                update(g)
                .where(g.c.scim_id == scim_id)
                .values(
                    display_name=after.display_name,
                    external_id=after.external_id,
                    updated_at=now,
                    version=before.version + 1,
                )
            )
            self._set_members(tx, scim_id, new_ids)
            self._settle_roles(tx, client, old_ids | set(new_ids), origin=origin, now=now)
            tx.audit(_group_event("scim_group_updated", client, after, origin), at=now)
            return self._group(tx, client, scim_id)

    def delete_group(self, client: ScimClient, scim_id: str, *, origin: str | None) -> None:
        """A group is the client's own construct: deleting it ends the roles it gave."""
        now, g, m = self._clock.now(), t.scim_groups, t.scim_group_members
        with self._store.write() as tx:
            conn = tx.connection
            before = self._group(tx, client, scim_id, lock=True)
            members = set(self._member_user_ids(tx, client, before.fields.members))
            conn.execute(m.delete().where(m.c.group_id == scim_id))
            conn.execute(g.delete().where(g.c.scim_id == scim_id))
            self._settle_roles(tx, client, members, origin=origin, now=now)
            tx.audit(_group_event("scim_group_deleted", client, before.fields, origin), at=now)

    # -- inside a transaction -----------------------------------------------------------

    @staticmethod
    def _user_id(tx: SqlTx, scim_id: str) -> int:
        s = t.scim_users
        return int(
            tx.connection.execute(select(s.c.user_id).where(s.c.scim_id == scim_id)).scalar_one()
        )

    @staticmethod
    def _person(tx: SqlTx, client: ScimClient, scim_id: str, *, lock: bool = False) -> ScimPerson:
        stmt = _PERSON.where(
            t.scim_users.c.scim_id == scim_id, t.users.c.directory == client.directory
        )
        if lock:
            stmt = stmt.with_for_update()
        row = tx.connection.execute(stmt).first()
        if row is None:
            # Another client's person is as unknown as no person: nothing leaks.
            raise NotFound(f"No user has the id {scim_id!r}.")
        g, m = t.scim_groups, t.scim_group_members
        groups = tx.connection.execute(
            select(g.c.scim_id, g.c.display_name)
            .select_from(g.join(m, m.c.group_id == g.c.scim_id))
            .where(m.c.user_id == row.id)
            .order_by(g.c.display_name, g.c.scim_id)
        ).all()
        return _scim_person(row, tuple((x.scim_id, x.display_name) for x in groups))

    @staticmethod
    def _group(tx: SqlTx, client: ScimClient, scim_id: str, *, lock: bool = False) -> ScimGroup:
        g, m, s, u = t.scim_groups, t.scim_group_members, t.scim_users, t.users
        stmt = select(g).where(g.c.scim_id == scim_id, g.c.directory == client.directory)
        if lock:
            stmt = stmt.with_for_update()
        row = tx.connection.execute(stmt).first()
        if row is None:
            raise NotFound(f"No group has the id {scim_id!r}.")
        members = tx.connection.execute(
            select(s.c.scim_id, u.c.username)
            .select_from(m.join(s, s.c.user_id == m.c.user_id).join(u, u.c.id == m.c.user_id))
            .where(m.c.group_id == scim_id)
            .order_by(u.c.username)
        ).all()
        return ScimGroup(
            scim_id=row.scim_id,
            fields=GroupFields(
                display_name=row.display_name,
                external_id=row.external_id,
                members=tuple(x.scim_id for x in members),
            ),
            created_at=float(row.created_at),
            updated_at=float(row.updated_at),
            version=int(row.version),
            member_names=tuple(x.username for x in members),
        )

    @staticmethod
    def _check_external_id(
        tx: SqlTx, client: ScimClient, external_id: str | None, user_id: int | None
    ) -> None:
        """RFC 7643 section 3.1: externalId is unique within the client's people."""
        if external_id is None:
            return
        s, u = t.scim_users, t.users
        where = [s.c.external_id == external_id, u.c.directory == client.directory]
        if user_id is not None:
            where.append(s.c.user_id != user_id)
        clash = tx.connection.execute(
            select(s.c.scim_id).select_from(s.join(u, u.c.id == s.c.user_id)).where(*where)
        ).first()
        if clash is not None:
            raise ScimConflict(f"Another user of this client has the externalId {external_id!r}.")

    @staticmethod
    def _member_user_ids(tx: SqlTx, client: ScimClient, members: Sequence[str]) -> list[int]:
        """The users.id of each member; every one must be a person of this client."""
        wanted = list(dict.fromkeys(members))
        if not wanted:
            return []
        s, u = t.scim_users, t.users
        found = dict(
            tx.connection.execute(
                select(s.c.scim_id, s.c.user_id)
                .select_from(s.join(u, u.c.id == s.c.user_id))
                .where(s.c.scim_id.in_(wanted), u.c.directory == client.directory)
            ).all()
        )
        missing = [i for i in wanted if i not in found]
        if missing:
            raise ScimInvalid(f"The member {missing[0]!r} is not a user of this SCIM client.")
        return [int(found[i]) for i in wanted]

    @staticmethod
    def _set_members(tx: SqlTx, group_id: str, user_ids: Sequence[int]) -> None:
        m = t.scim_group_members
        tx.connection.execute(m.delete().where(m.c.group_id == group_id))
        if user_ids:
            tx.connection.execute(
                insert(m), [{"group_id": group_id, "user_id": uid} for uid in user_ids]
            )

    @staticmethod
    def _settle_roles(
        tx: SqlTx, client: ScimClient, user_ids: Iterable[int], *, origin: str | None, now: float
    ) -> None:
        """Set the roles the client controls, of each of ``user_ids``, to its groups'."""
        if not client.roles:
            return
        g, m, r, u = t.scim_groups, t.scim_group_members, t.user_roles, t.users
        conn = tx.connection
        for user_id in sorted(set(user_ids)):
            names = conn.execute(
                select(g.c.display_name)
                .select_from(g.join(m, m.c.group_id == g.c.scim_id))
                .where(m.c.user_id == user_id, g.c.directory == client.directory)
            ).scalars()
            wanted = {role for n in names if (role := role_of_group(n, client.roles))}
            held = set(
                conn.execute(
                    select(r.c.role).where(r.c.user_id == user_id, r.c.role.in_(client.roles))
                ).scalars()
            )
            username = conn.execute(select(u.c.username).where(u.c.id == user_id)).scalar_one()
            for role in sorted(wanted - held):
                conn.execute(insert(r).values(user_id=user_id, role=role, granted_at=now))
            if held - wanted:
                conn.execute(r.delete().where(r.c.user_id == user_id, r.c.role.in_(held - wanted)))
            if "admin" in wanted ^ held:  # users.is_admin follows the admin role (store.roles)
                conn.execute(update(u).where(u.c.id == user_id).values(is_admin="admin" in wanted))
            for role, granted in [(x, True) for x in sorted(wanted - held)] + [
                (x, False) for x in sorted(held - wanted)
            ]:
                tx.audit(
                    AuditEvent(
                        "role_granted" if granted else "role_removed",
                        "info",
                        username=username,
                        origin=origin,
                        detail={"by": f"scim:{client.name}", "role": role},
                    ),
                    at=now,
                )

    @staticmethod
    def _set_enabled(
        tx: SqlTx,
        user_id: int,
        enabled: bool,
        *,
        username: str,
        by: str,
        origin: str | None,
        now: float,
    ) -> None:
        set_enabled_in(tx, user_id, username, enabled, by=by, origin=origin, at=now)


class ScimStale(StoreError):
    """An ``If-Match`` version that is not the current one (412)."""

    code = "scim_stale"


def _taken(user_name: str, directory: str | None, client: ScimClient) -> str:
    if directory == client.directory:
        return f"The userName {user_name!r} is taken by another user of this client."
    if directory is None:
        return (
            f"The userName {user_name!r} belongs to a person added by hand in Tokenstile; "
            "a SCIM client cannot take them over."
        )
    return (
        f"The userName {user_name!r} belongs to a person managed by the directory "
        f"{directory!r}; a SCIM client cannot take them over."
    )


def _scim_person(row: Row[*tuple[Any, ...]], groups: tuple[tuple[str, str], ...]) -> ScimPerson:
    return ScimPerson(
        scim_id=row.scim_id,
        fields=PersonFields(
            user_name=row.username,
            display_name=row.display_name,
            active=bool(row.enabled),
            external_id=row.external_id,
            profile=json.loads(row.profile),
        ),
        created_at=float(row.created_at),
        updated_at=float(row.updated_at),
        version=int(row.version),
        groups=groups,
    )


def _group_event(
    event: str, client: ScimClient, fields: GroupFields, origin: str | None
) -> AuditEvent:
    return AuditEvent(
        event,
        "info",
        origin=origin,
        detail={
            "by": f"scim:{client.name}",
            "group": fields.display_name,
            "members": len(fields.members),
        },
    )
