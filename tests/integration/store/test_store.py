"""The store on both databases it supports: SQLite and a real PostgreSQL."""

from __future__ import annotations

import threading
from collections.abc import Iterator

import pytest
from sqlalchemy import text

from tests.conftest import add_user, kiosk_client, make_deployment
from tokenstile.clock import FrozenClock
from tokenstile.deployment import Deployment
from tokenstile.errors import InvalidGrant, StoreError
from tokenstile.store.database import current_revision, head_revision


@pytest.fixture
def any_deployment(db_url: str) -> Iterator[Deployment]:
    dep = make_deployment(db_url, FrozenClock())
    yield dep
    dep.close()


def test_schema_is_at_head_and_init_is_idempotent(any_deployment: Deployment) -> None:
    assert current_revision(any_deployment.engine) == head_revision()
    report = any_deployment.init()
    assert (report.created_schema, report.created_key, report.created_client) == (False, None, None)


@pytest.mark.parametrize("statement", ["UPDATE audit SET event = 'x'", "DELETE FROM audit"])
def test_audit_log_is_append_only(any_deployment: Deployment, statement: str) -> None:
    before = any_deployment.store.audit_entries()
    assert before
    with pytest.raises(StoreError, match="append-only"), any_deployment.store.write() as tx:
        tx.connection.execute(text(statement))
    assert any_deployment.store.audit_entries() == before


def test_rotation_has_one_winner_across_connections(any_deployment: Deployment) -> None:
    """Threads with their own connections race the same token through the database."""
    dep = any_deployment
    svc = dep.token_service()
    client = kiosk_client(dep)
    first = svc.sessions.open_session(
        user=add_user(dep), client=client, factor="otp", amr=["otp"], acr="otp"
    )
    dep.clock.advance(1)  # type: ignore[attr-defined]
    barrier = threading.Barrier(8)
    outcomes: list[str] = []
    started = dep.clock.now()

    def attempt() -> None:
        barrier.wait()
        try:
            svc.refresh_grant.refresh(
                refresh_token=first.refresh_token, client=client, received_at=started
            )
            outcomes.append("ok")
        except InvalidGrant:
            outcomes.append("refused")

    threads = [threading.Thread(target=attempt) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    assert sorted(outcomes) == ["ok"] + ["refused"] * 7
    assert dep.store.sessions_of("alice")[0].revoked_at is None


def test_duplicate_user_is_a_clear_error(any_deployment: Deployment) -> None:
    add_user(any_deployment, "dup")
    with pytest.raises(StoreError, match="already exists"):
        add_user(any_deployment, "dup")
