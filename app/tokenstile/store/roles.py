"""A person's built-in roles in ``user_roles`` (``protocol.roles``), read and written here.

``user_roles`` is where roles live: the admin API reads a caller's roles from it on every
request. ``users.is_admin`` stays, written as a mirror of the ``admin`` role by every
function here, so code and tools that read the old flag (and a database taken back below
migration 0023) still see who the administrators are. Other role names in ``user_roles``
(a four-eyes confirm's, issue 17) are left alone by ``set_builtin_roles``.

Directory sync (LDAP groups, SCIM groups) calls ``set_builtin_roles`` inside its own
transaction, so a person's roles change with the rest of their record or not at all.
"""

from __future__ import annotations

from collections.abc import Iterable

from sqlalchemy import Connection, select, update

from tokenstile.errors import NotFound
from tokenstile.protocol.roles import BUILTIN_ROLES, Role
from tokenstile.store import schema as t

_BUILTIN_NAMES = tuple(r.value for r in BUILTIN_ROLES)


def roles_of(conn: Connection, user_id: int) -> frozenset[Role]:
    """The built-in roles ``user_id`` holds."""
    r = t.user_roles
    found = conn.execute(
        select(r.c.role).where(r.c.user_id == user_id, r.c.role.in_(_BUILTIN_NAMES))
    ).scalars()
    return frozenset(Role(name) for name in found)


def set_builtin_roles(
    conn: Connection, user_id: int, roles: Iterable[Role | str], *, at: float
) -> frozenset[Role]:
    """Make ``user_id``'s built-in roles exactly ``roles`` (added and removed as needed;
    other role names untouched; ``users.is_admin`` follows ``admin``). Returns the roles
    before the change, so a caller can audit the difference. ``ValueError`` for a name that
    is not a built-in role; ``NotFound`` for an unknown person."""
    wanted = frozenset(Role(name) for name in roles)
    u, r = t.users, t.user_roles
    if conn.execute(select(u.c.id).where(u.c.id == user_id)).first() is None:
        raise NotFound(f"No person has the id {user_id}.")
    before = roles_of(conn, user_id)
    gone = [role.value for role in before - wanted]
    if gone:
        conn.execute(r.delete().where(r.c.user_id == user_id, r.c.role.in_(gone)))
    for role in sorted(wanted - before):
        conn.execute(r.insert().values(user_id=user_id, role=role.value, granted_at=at))
    conn.execute(update(u).where(u.c.id == user_id).values(is_admin=Role.ADMIN in wanted))
    return before


def grant_role(conn: Connection, user_id: int, role: Role, *, at: float) -> None:
    """Add one built-in role (nothing if held already)."""
    set_builtin_roles(conn, user_id, roles_of(conn, user_id) | {role}, at=at)


def hold_role(conn: Connection, user_id: int, role: Role, held: bool, *, at: float) -> bool:
    """Give (``held``) or take one built-in role, the others as they are; whether that
    changed anything. What a directory or SCIM client that owns one role calls (an
    admin group gives ``admin``), so ``users.is_admin`` stays in step with the rows."""
    before = roles_of(conn, user_id)
    after = before | {role} if held else before - {role}
    if after == before:
        return False
    set_builtin_roles(conn, user_id, after, at=at)
    return True
