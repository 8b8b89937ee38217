"""Migration 0023 (built-in roles in ``user_roles``, ``access_codes``) both ways, on SQLite
and a real PostgreSQL, and ``store.roles.set_builtin_roles``."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import insert, inspect, select, update

from tests.conftest import add_user, make_deployment
from tokenstile.clock import FrozenClock
from tokenstile.deployment import Deployment
from tokenstile.errors import NotFound
from tokenstile.protocol.roles import Role
from tokenstile.store import schema as t
from tokenstile.store.database import _alembic_config, current_revision, head_revision, upgrade
from tokenstile.store.roles import roles_of, set_builtin_roles


@pytest.fixture
def dep(db_url: str) -> Iterator[Deployment]:
    deployment = make_deployment(db_url, FrozenClock())
    yield deployment
    deployment.close()


def downgrade(dep: Deployment, revision: str) -> None:
    with dep.engine.connect() as conn:
        command.downgrade(_alembic_config(conn), revision)
        if conn.in_transaction():
            conn.commit()


def role_rows(dep: Deployment) -> set[tuple[str, str]]:
    u, r = t.users, t.user_roles
    with dep.engine.connect() as conn:
        rows = conn.execute(select(u.c.username, r.c.role).join(r, r.c.user_id == u.c.id)).all()
    return {(row.username, row.role) for row in rows}


def admin_flags(dep: Deployment) -> dict[str, bool]:
    with dep.engine.connect() as conn:
        rows = conn.execute(select(t.users.c.username, t.users.c.is_admin)).all()
    return {row.username: bool(row.is_admin) for row in rows}


def test_the_migration_creates_what_the_schema_declares(dep: Deployment) -> None:
    with dep.engine.connect() as conn:
        diff = compare_metadata(MigrationContext.configure(conn), t.metadata)
    assert [d for d in diff if "access_codes" in repr(d) or "user_roles" in repr(d)] == []
    assert "ix_access_codes_user_id" in {
        i["name"] for i in inspect(dep.engine).get_indexes("access_codes")
    }


def test_the_admin_flag_becomes_the_admin_role_and_comes_back(dep: Deployment) -> None:
    downgrade(dep, "0022")
    assert "access_codes" not in inspect(dep.engine).get_table_names()
    # A database as 0022 left it: flags, and role names a four-eyes confirm used.
    with dep.engine.begin() as conn:
        for name, flag in (("root", True), ("alice", False), ("bob", False)):
            conn.execute(
                insert(t.users).values(
                    username=name, display_name="", is_admin=flag, enabled=True, created_at=1.0
                )
            )
        ids = dict(conn.execute(select(t.users.c.username, t.users.c.id)).all())
        for name, role in (("alice", "admin"), ("alice", "approver"), ("bob", "approver")):
            conn.execute(insert(t.user_roles).values(user_id=ids[name], role=role, granted_at=1.0))
    upgrade(dep.engine)
    assert current_revision(dep.engine) == head_revision()
    # root's flag is now a role; alice's old "admin" label does not make her one.
    assert role_rows(dep) == {("root", "admin"), ("alice", "approver"), ("bob", "approver")}
    with dep.engine.begin() as conn:
        set_builtin_roles(conn, ids["bob"], {Role.ADMIN, Role.HELPDESK}, at=2.0)
        set_builtin_roles(conn, ids["root"], {Role.ENROLLER}, at=2.0)
    assert admin_flags(dep) == {"root": False, "alice": False, "bob": True}
    downgrade(dep, "0022")
    # The flags follow the rows; no row is lost, so the way back up changes nothing.
    assert admin_flags(dep) == {"root": False, "alice": False, "bob": True}
    before = role_rows(dep)
    upgrade(dep.engine)
    assert role_rows(dep) == before
    assert admin_flags(dep) == {"root": False, "alice": False, "bob": True}


def test_a_downgrade_believes_the_role_over_a_stale_flag(dep: Deployment) -> None:
    root = add_user(dep, "root", is_admin=True)
    with dep.engine.begin() as conn:
        conn.execute(update(t.users).where(t.users.c.id == root.id).values(is_admin=False))
    downgrade(dep, "0022")
    assert admin_flags(dep) == {"root": True}


def test_set_builtin_roles_keeps_other_role_names(dep: Deployment) -> None:
    alice = add_user(dep, "alice")
    with dep.engine.begin() as conn:
        conn.execute(insert(t.user_roles).values(user_id=alice.id, role="approver", granted_at=1.0))
        assert set_builtin_roles(conn, alice.id, ["helpdesk", "enroller"], at=1.0) == frozenset()
        assert set_builtin_roles(conn, alice.id, [Role.ENROLLER], at=2.0) == {
            Role.HELPDESK,
            Role.ENROLLER,
        }
        assert roles_of(conn, alice.id) == {Role.ENROLLER}
        with pytest.raises(ValueError, match="superuser"):
            set_builtin_roles(conn, alice.id, ["superuser"], at=3.0)
        with pytest.raises(NotFound):
            set_builtin_roles(conn, 10_000, [Role.ADMIN], at=3.0)
    assert role_rows(dep) == {("alice", "approver"), ("alice", "enroller")}
