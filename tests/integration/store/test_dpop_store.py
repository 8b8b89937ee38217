"""Migration 0005 and the DPoP replay records on SQLite and a real PostgreSQL."""

from __future__ import annotations

import time
from collections.abc import Iterator

import pytest
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import func, inspect, select

from tests.conftest import add_user, kiosk_client, make_deployment
from tests.integration.store.races import at_once
from tokenstile.clock import FrozenClock
from tokenstile.deployment import Deployment
from tokenstile.store import schema as t
from tokenstile.store.database import _alembic_config, current_revision, head_revision, upgrade


@pytest.fixture
def dep(db_url: str) -> Iterator[Deployment]:
    deployment = make_deployment(db_url, FrozenClock())
    yield deployment
    deployment.close()


def migrate(dep: Deployment, revision: str, *, down: bool = False) -> None:
    with dep.engine.connect() as conn:
        config = _alembic_config(conn)
        if down:
            command.downgrade(config, revision)
        else:
            command.upgrade(config, revision)
        if conn.in_transaction():
            conn.commit()


def test_the_migration_creates_what_the_schema_declares(dep: Deployment) -> None:
    assert current_revision(dep.engine) == head_revision()
    with dep.engine.connect() as conn:
        diff = compare_metadata(MigrationContext.configure(conn), t.metadata)
    touched = [d for d in diff if any(n in repr(d) for n in ("dpop", "'clients'", "'sessions'"))]
    assert touched == []


def test_an_existing_database_upgrades_with_its_rows_unbound_and_downgrades(
    dep: Deployment,
) -> None:
    migrate(dep, "0004", down=True)
    columns = {c["name"] for c in inspect(dep.engine).get_columns("clients")}
    assert "dpop_bound" not in columns
    assert "dpop_replay" not in inspect(dep.engine).get_table_names()
    with dep.engine.begin() as conn:  # a client registered before the upgrade
        conn.exec_driver_sql(
            "INSERT INTO clients (client_id, name, kind, audiences, scopes, enabled, created_at)"
            " VALUES ('old-app', 'old-app', 'app', '[]', '[]', true, 0)"
        )
    upgrade(dep.engine)
    assert current_revision(dep.engine) == head_revision()
    old = dep.store.find_client("old-app")
    assert old is not None
    assert old.dpop_bound is False
    assert kiosk_client(dep).dpop_bound is False
    user = add_user(dep)
    response = dep.token_service().sessions.open_session(
        user=user, client=old, factor="otp", amr=["otp"], acr="otp", dpop_jkt="j" * 43
    )
    with dep.store.read() as tx:
        session = tx.get_session(response.sid)
    assert session is not None
    assert session.dpop_jkt == "j" * 43


def test_a_proof_is_remembered_once_and_forgotten_when_expired(dep: Deployment) -> None:
    now = 1_800_000_000.0

    def remember(key: bytes, at: float, expires: float) -> bool:
        return dep.store.run_write(
            lambda tx: tx.remember_dpop_proof(key, expires_at=expires, now=at)
        )

    assert remember(b"a" * 32, now, now + 65)
    assert not remember(b"a" * 32, now + 10, now + 75)
    assert remember(b"b" * 32, now, now + 5)
    # Past their expiry, rows are purged by the next insert: the table stays small.
    assert remember(b"c" * 32, now + 100, now + 165)
    with dep.engine.connect() as conn:
        keys = sorted(conn.execute(select(t.dpop_replay.c.key_hash)).scalars())
    assert keys == [b"c" * 32]


def test_many_connections_presenting_one_proof_at_once_see_one_winner(dep: Deployment) -> None:
    count = 8
    now = time.time()

    def remember(_: int) -> bool:
        with dep.store.write() as tx:
            return tx.remember_dpop_proof(b"k" * 32, expires_at=now + 60, now=now)

    results = at_once(count, remember)
    assert sorted(results, key=str) == [False] * (count - 1) + [True]
    with dep.engine.connect() as conn:
        assert conn.execute(select(func.count()).select_from(t.dpop_replay)).scalar() == 1
