"""Migration 0011 (redirect URIs, provider sessions, authorization codes) on SQLite and a
real PostgreSQL: it creates what the schema declares, existing clients keep working with
no redirect URI, and it goes back down."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import inspect

from tests.conftest import kiosk_client, make_deployment
from tokenstile.clock import FrozenClock
from tokenstile.deployment import Deployment
from tokenstile.store import schema as t
from tokenstile.store.database import _alembic_config, current_revision, head_revision, upgrade
from tokenstile.store.purge import purge_expired

NEW_TABLES = ("browser_sessions", "authorization_codes")


@pytest.fixture
def dep(db_url: str) -> Iterator[Deployment]:
    deployment = make_deployment(db_url, FrozenClock())
    yield deployment
    deployment.close()


def test_the_migration_creates_what_the_schema_declares(dep: Deployment) -> None:
    with dep.engine.connect() as conn:
        diff = compare_metadata(MigrationContext.configure(conn), t.metadata)
    touched = ("clients", "sessions", *NEW_TABLES)
    assert [d for d in diff if any(name in repr(d) for name in touched)] == []


def test_existing_clients_upgrade_with_no_redirect_uri_and_it_downgrades(
    dep: Deployment,
) -> None:
    with dep.engine.connect() as conn:
        command.downgrade(_alembic_config(conn), "0010")
        if conn.in_transaction():
            conn.commit()
    tables = set(inspect(dep.engine).get_table_names())
    assert not tables & set(NEW_TABLES)
    assert "redirect_uris" not in {c["name"] for c in inspect(dep.engine).get_columns("clients")}
    upgrade(dep.engine)
    assert current_revision(dep.engine) == head_revision()
    kiosk = kiosk_client(dep)
    assert kiosk.redirect_uris == ()
    assert kiosk.kind == "kiosk"
    web, secret = dep.add_client(
        "Records", kind="web", audiences=[], scopes=[], redirect_uris=["https://r.example/cb"]
    )
    assert secret is not None
    assert dep.store.find_client(web.client_id) == web


def test_the_purge_takes_codes_and_browser_sessions_with_their_session(dep: Deployment) -> None:
    from tests.conftest import add_user
    from tokenstile.store.authorization_repository import SqlCodeStore
    from tokenstile.tokens.authorization_code import AuthorizationCodeFlow

    add_user(dep, "alice")
    web, _ = dep.add_client(
        "Records", kind="web", audiences=[], scopes=[], redirect_uris=["https://r.example/cb"]
    )
    user = dep.store.find_user("alice")
    assert user is not None
    flow = AuthorizationCodeFlow(dep.token_service().minter, SqlCodeStore(dep.store))
    _, provider = flow.sign_in(
        user=user, client=web, factor="otp", amr=["otp"], acr="otp", origin=None
    )
    flow.issue_code(
        provider,
        client=web,
        redirect_uri="https://r.example/cb",
        code_challenge="A" * 43,
        scope=["openid"],
        nonce=None,
    )
    now = dep.clock.now()
    report = purge_expired(dep.store, now=now + 2 * 86_400, keep_seconds=3600)
    assert report.counts["sessions"] == 1
    assert report.counts["authorization_codes"] == 1
    assert report.counts["browser_sessions"] == 1
