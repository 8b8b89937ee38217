"""Migration 0008 and access tokens revoked alone, on SQLite and a real PostgreSQL."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import inspect

from tests.conftest import add_user, kiosk_client, make_deployment
from tests.integration.store.test_dpop_store import migrate
from tokenstile.clock import FrozenClock
from tokenstile.deployment import Deployment
from tokenstile.store import schema as t
from tokenstile.store.database import current_revision, head_revision, upgrade


@pytest.fixture
def dep(db_url: str) -> Iterator[Deployment]:
    deployment = make_deployment(db_url, FrozenClock())
    yield deployment
    deployment.close()


def test_the_migration_creates_what_the_schema_declares_and_downgrades(dep: Deployment) -> None:
    assert current_revision(dep.engine) == head_revision()
    with dep.engine.connect() as conn:
        diff = compare_metadata(MigrationContext.configure(conn), t.metadata)
    assert [d for d in diff if "revoked_access_tokens" in repr(d)] == []
    migrate(dep, "0007", down=True)
    assert "revoked_access_tokens" not in inspect(dep.engine).get_table_names()
    upgrade(dep.engine)
    assert "revoked_access_tokens" in inspect(dep.engine).get_table_names()


def test_a_token_is_denied_once_and_an_opaque_one_deleted(dep: Deployment) -> None:
    session = dep.token_service().sessions.open_session(
        user=add_user(dep), client=kiosk_client(dep), factor="otp", amr=["otp"], acr="otp"
    )
    with dep.store.write() as tx:
        assert not tx.access_token_revoked("j1")
        assert tx.revoke_access_token("j1", sid=session.sid, expires_at=10.0, at=1.0)
        assert not tx.revoke_access_token("j1", sid=session.sid, expires_at=10.0, at=2.0)
        tx.add_opaque_token(token_hash=b"o" * 32, sid=session.sid, claims={}, expires_at=9.0)
    with dep.store.write() as tx:
        assert tx.access_token_revoked("j1")
        assert not tx.access_token_revoked("j2")
        assert tx.delete_opaque_token(b"o" * 32)
        assert not tx.delete_opaque_token(b"o" * 32)
        assert tx.find_opaque_token(b"o" * 32) is None
