"""The SQL FIDO2 store on SQLite and a real PostgreSQL: the migration, single-use handles
under concurrency, the forward-only sign counter, suspension, registration, the audit."""

from __future__ import annotations

import hashlib
import threading
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import select

from tests.conftest import add_user
from tests.unit.factors.webauthn_keys import Kiosk, resigned
from tokenstile.clock import FrozenClock
from tokenstile.deployment import Deployment
from tokenstile.errors import NotFound
from tokenstile.factors.webauthn import ChallengeRefused, parse_assertion
from tokenstile.factors.webauthn_registration import parse_registration
from tokenstile.factors.webauthn_service import (
    WebAuthnConflict,
    WebAuthnService,
    parse_credential_id,
)
from tokenstile.store import schema as t
from tokenstile.store.database import current_revision, head_revision


def enroll(repo: WebAuthnService, kiosk: Kiosk, username: str = "alice") -> bytes:
    options = repo.begin_registration(username, label="Blue key", by="test")
    info = repo.complete_registration(
        options.handle,
        parse_registration(kiosk.register(options.public_key)),
        by="test",
        uv_method="pin",
    )
    return parse_credential_id(info.credential_id)


def row(dep: Deployment) -> Any:
    with dep.engine.connect() as conn:
        return conn.execute(
            select(t.webauthn_credentials).order_by(t.webauthn_credentials.c.id)
        ).first()


def audit(dep: Deployment, event: str) -> list[dict[str, Any]]:
    return [e for e in dep.store.audit_entries() if e["event"] == event]


def test_migration_creates_what_the_schema_declares(any_deployment: Deployment) -> None:
    assert current_revision(any_deployment.engine) == head_revision()
    with any_deployment.engine.connect() as conn:
        diff = compare_metadata(MigrationContext.configure(conn), t.metadata)
    assert [d for d in diff if "webauthn_" in repr(d)] == []


def test_register_sign_in_and_the_counter_moves_forward(
    any_deployment: Deployment, repo: WebAuthnService
) -> None:
    add_user(any_deployment)
    kiosk = Kiosk()
    credential_id = enroll(repo, kiosk)
    stored = row(any_deployment)
    assert bytes(stored.credential_id) == credential_id
    assert (stored.state, stored.sign_count, stored.uv_method) == ("active", 0, "pin")
    assert stored.label == "Blue key"
    for expected in (1, 2, 3):
        options = repo.login_options()
        outcome = repo.login(
            options.handle, parse_assertion(kiosk.authenticate(options.public_key))
        )
        assert outcome.accepted
        assert row(any_deployment).sign_count == expected
    # A second key for the same person shares the person's user handle.
    enroll(repo, Kiosk())
    with any_deployment.engine.connect() as conn:
        handles = conn.execute(select(t.webauthn_credentials.c.user_handle)).scalars().all()
    assert len(handles) == 2
    assert len(set(map(bytes, handles))) == 1
    assert [i.username for i in repo.credentials("alice")] == ["alice", "alice"]


def test_the_store_keeps_only_a_hash_of_each_handle(
    any_deployment: Deployment, repo: WebAuthnService
) -> None:
    options = repo.login_options()
    with any_deployment.engine.connect() as conn:
        [stored] = conn.execute(select(t.webauthn_challenges)).all()
    assert bytes(stored.handle_hash) == hashlib.sha256(options.handle.encode()).digest()
    assert stored.purpose == "login"
    assert len(bytes(stored.challenge)) == 32


def test_one_handle_presented_at_once_by_many_signs_in_once(
    any_deployment: Deployment, repo: WebAuthnService
) -> None:
    add_user(any_deployment)
    kiosk = Kiosk()
    enroll(repo, kiosk)
    options = repo.login_options()
    assertion = parse_assertion(kiosk.authenticate(options.public_key))
    barrier = threading.Barrier(6)

    def attempt(_: int) -> str:
        barrier.wait(10)
        return repo.login(options.handle, assertion).status

    with ThreadPoolExecutor(6) as pool:
        statuses = sorted(pool.map(attempt, range(6)))
    assert statuses == ["accepted"] + ["unknown_handle"] * 5
    assert row(any_deployment).sign_count == 1
    outcomes = sorted(e["outcome"] for e in audit(any_deployment, "fido2_login"))
    assert outcomes == ["failure"] * 5 + ["success"]


def test_two_clones_racing_suspend_the_credential(
    any_deployment: Deployment, repo: WebAuthnService
) -> None:
    add_user(any_deployment)
    kiosk = Kiosk()
    enroll(repo, kiosk)
    first, second = repo.login_options(), repo.login_options()
    one = kiosk.authenticate(first.public_key)
    two = resigned(kiosk, kiosk.authenticate(second.public_key), count=1)  # same count: a copy
    assert repo.login(first.handle, parse_assertion(one)).accepted
    outcome = repo.login(second.handle, parse_assertion(two))
    assert outcome.status == "counter_regression"
    assert outcome.suspended
    stored = row(any_deployment)
    assert (stored.state, stored.state_reason, stored.sign_count) == (
        "suspended",
        "counter_regression",
        1,
    )
    [alert] = audit(any_deployment, "fido2_credential_suspended")
    assert (alert["outcome"], alert["username"]) == ("alert", "alice")


def test_revoke_and_unsuspend(any_deployment: Deployment, repo: WebAuthnService) -> None:
    add_user(any_deployment)
    credential_id = enroll(repo, Kiosk())
    with pytest.raises(WebAuthnConflict, match="only a suspended"):
        repo.unsuspend(credential_id, by="test")
    assert repo.revoke(credential_id, by="test").info.state == "revoked"
    with pytest.raises(WebAuthnConflict):
        repo.revoke(credential_id, by="test")
    with pytest.raises(NotFound):
        repo.revoke(b"nothing", by="test")
    with pytest.raises(NotFound):
        repo.credentials("nobody")
    [revoked] = audit(any_deployment, "fido2_revoked")
    assert revoked["detail"]["was"] == "active"


def test_registration_handles_are_single_use_and_expire(
    any_deployment: Deployment, repo: WebAuthnService, fido2_clock: FrozenClock
) -> None:
    add_user(any_deployment)
    kiosk = Kiosk()
    options = repo.begin_registration("alice", label="k", by="test")
    response = parse_registration(kiosk.register(options.public_key))
    repo.complete_registration(options.handle, response, by="test")
    with pytest.raises(ChallengeRefused, match="already used"):
        repo.complete_registration(options.handle, response, by="test")
    other = Kiosk()
    options = repo.begin_registration("alice", label="k", by="test")
    assert len(options.public_key["excludeCredentials"]) == 1
    response = parse_registration(other.register(options.public_key))
    fido2_clock.advance(121)
    with pytest.raises(ChallengeRefused, match="expired"):
        repo.complete_registration(options.handle, response, by="test")
    assert len(repo.credentials()) == 1
    with pytest.raises(NotFound):
        repo.begin_registration("nobody", label="k", by="test")
