"""Migration 0007 (``sessions.credential``) on SQLite and a real PostgreSQL."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import inspect

from tests.conftest import add_user, kiosk_client, make_deployment
from tokenstile.clock import FrozenClock
from tokenstile.deployment import Deployment
from tokenstile.store import schema as t
from tokenstile.store.database import _alembic_config, current_revision, head_revision, upgrade
from tokenstile.tokens.model import CREDENTIAL_REVOKED


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


def test_the_migration_creates_what_the_schema_declares(dep: Deployment) -> None:
    with dep.engine.connect() as conn:
        diff = compare_metadata(MigrationContext.configure(conn), t.metadata)
    assert [d for d in diff if "sessions" in repr(d)] == []
    indexes = {i["name"] for i in inspect(dep.engine).get_indexes("sessions")}
    assert "ix_sessions_credential" in indexes


def test_older_sessions_upgrade_without_a_credential_and_it_downgrades(dep: Deployment) -> None:
    user = add_user(dep)
    service = dep.token_service()
    old = service.sessions.open_session(
        user=user, client=kiosk_client(dep), factor="otp", amr=["otp"], acr="otp"
    )
    downgrade(dep, "0006")
    columns = {c["name"] for c in inspect(dep.engine).get_columns("sessions")}
    assert "credential" not in columns
    upgrade(dep.engine)
    assert current_revision(dep.engine) == head_revision()
    new = service.sessions.open_session(
        user=user,
        client=kiosk_client(dep),
        factor="otp",
        amr=["otp"],
        acr="otp",
        credential="otp:FOB-1",
    )
    with dep.store.write() as tx:
        before = tx.get_session(old.sid)
        assert before is not None
        assert before.credential is None
        ended = tx.end_sessions_of(
            "otp:FOB-1", reason=CREDENTIAL_REVOKED, by="test", origin=None, at=dep.clock.now()
        )
        after = tx.get_session(new.sid)
        untouched = tx.get_session(old.sid)
    assert ended == 1
    assert after is not None
    assert (after.credential, after.revoke_reason) == ("otp:FOB-1", CREDENTIAL_REVOKED)
    assert untouched is not None
    assert untouched.revoked_at is None
