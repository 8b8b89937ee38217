"""The SQL PIV store on SQLite and a real PostgreSQL: the migration, single use of a
challenge across connections and deployments, first UPN logins and CA creation racing,
revocation seen at once."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from cryptography.hazmat.primitives.serialization import Encoding
from sqlalchemy import func, select

from tests.conftest import add_user, make_deployment
from tests.integration.store.races import at_once
from tests.unit.factors.piv_test_pki import (
    NOW,
    SERVICE_ORIGIN,
    make_ca,
    make_card_certificate,
)
from tests.unit.factors.piv_test_pki import login_signature as card_signature
from tokenstile.clock import FrozenClock
from tokenstile.config import load_settings
from tokenstile.deployment import Deployment
from tokenstile.factors.piv_config import PivSettings
from tokenstile.factors.piv_service import PivService
from tokenstile.store import schema as t
from tokenstile.store.database import current_revision, head_revision
from tokenstile.store.piv_repository import SqlPivStorage


@pytest.fixture
def dep(db_url: str) -> Iterator[Deployment]:
    deployment = make_deployment(db_url, FrozenClock(NOW))
    yield deployment
    deployment.close()


def repository(dep: Deployment, **settings: Any) -> PivService:
    settings.setdefault("service_origin", SERVICE_ORIGIN)
    return PivService(
        SqlPivStorage(dep.store),
        box=dep.kek,
        clock=dep.clock,
        settings=PivSettings(**settings),
        cache_seconds=0,
    )


def test_migration_creates_what_the_schema_declares(dep: Deployment) -> None:
    assert current_revision(dep.engine) == head_revision()
    with dep.engine.connect() as conn:
        diff = compare_metadata(MigrationContext.configure(conn), t.metadata)
    assert [d for d in diff if "piv_" in repr(d)] == []


def test_a_handle_presented_at_once_on_many_connections_signs_in_once(dep: Deployment) -> None:
    add_user(dep)
    repo = repository(dep)
    certificate, key = make_card_certificate()
    repo.register("alice", certificate.public_bytes(Encoding.DER), by="test")
    begun = repo.begin_login(certificate.public_bytes(Encoding.DER), client_id="tokenstile-kiosk")
    assert begun.handle is not None
    assert begun.challenge is not None
    signature = card_signature(key, begun.challenge)
    outcomes = at_once(8, lambda _: repo.complete_login(begun.handle or "", signature).status)
    assert sorted(outcomes) == ["accepted"] + ["reused"] * 7
    logged = [e["outcome"] for e in dep.store.audit_entries() if e["event"] == "piv_login"]
    assert sorted(logged) == ["failure"] * 7 + ["success"]


def test_begun_by_one_deployment_completed_by_another(dep: Deployment, db_url: str) -> None:
    add_user(dep)
    certificate, key = make_card_certificate()
    der = certificate.public_bytes(Encoding.DER)
    repository(dep).register("alice", der, by="test")
    begun = repository(dep).begin_login(der, client_id="tokenstile-kiosk")
    assert begun.handle is not None
    assert begun.challenge is not None
    other = Deployment(load_settings(db=db_url), clock=FrozenClock(NOW + 30))
    try:
        done = repository(other).complete_login(begun.handle, card_signature(key, begun.challenge))
        assert done.accepted
        assert done.user is not None
        assert done.user.username == "alice"
        # ... and a card revoked through one is refused by the other at once.
        second = repository(dep).begin_login(der, client_id="tokenstile-kiosk")
        assert second.handle is not None
        assert second.challenge is not None
        repository(other).revoke(done.certificate.fingerprint if done.certificate else "", by="t")
        late = repository(dep).complete_login(second.handle, card_signature(key, second.challenge))
        assert late.status == "revoked"
    finally:
        other.close()


def test_two_first_logins_of_one_upn_card_record_one_card(dep: Deployment) -> None:
    add_user(dep)
    corp = make_ca("Corp Root")
    repo = repository(dep, map_upn=True, upn_domain="corp.example")
    repo.add_trust_anchors(corp.pem(), by="test")
    certificate, key = make_card_certificate(corp, upn="alice@corp.example")
    der = certificate.public_bytes(Encoding.DER)
    begun = [repo.begin_login(der, client_id="tokenstile-kiosk") for _ in range(4)]
    assert all(b.accepted and b.card is None for b in begun)

    def complete(index: int) -> str:
        handle, challenge = begun[index].handle, begun[index].challenge
        assert handle is not None
        assert challenge is not None
        return repo.complete_login(handle, card_signature(key, challenge)).status

    assert at_once(4, complete) == ["accepted"] * 4
    with dep.engine.connect() as conn:
        count = conn.execute(select(func.count()).select_from(t.piv_cards)).scalar()
    assert count == 1
    [card] = repo.cards("alice")
    assert (card.source, card.upn) == ("upn", "alice@corp.example")


def test_the_builtin_ca_is_created_once_when_two_stations_ask_at_once(dep: Deployment) -> None:
    repos = [repository(dep) for _ in range(4)]
    made = at_once(4, lambda i: repos[i].issuing_ca(by=f"station{i}").fingerprint)
    assert all(isinstance(m, str) for m in made), made
    assert len(set(made)) == 1
    with dep.engine.connect() as conn:
        rows = conn.execute(select(t.piv_issuing_cas.c.active)).all()
    assert [r.active for r in rows] == [1]
    created = [e for e in dep.store.audit_entries() if e["event"] == "piv_ca_created"]
    assert len(created) == 1


def test_strangers_challenges_leave_the_cardholder_hers(dep: Deployment) -> None:
    add_user(dep)
    certificate, key = make_card_certificate()
    der = certificate.public_bytes(Encoding.DER)
    unknown = make_card_certificate()[0].public_bytes(Encoding.DER)
    repo = repository(dep)
    repo.register("alice", der, by="test")
    strangers = [repo.begin_login(d, client_id="tokenstile-kiosk") for d in [der, unknown] * 40]
    assert all(b.issued for b in strangers)
    assert {b.status for b in strangers} == {"accepted", "unknown_certificate"}
    with dep.engine.connect() as conn:
        rows = conn.execute(select(t.piv_challenges.c.user_id, t.piv_challenges.c.refusal)).all()
    assert sorted({(r.user_id is None, r.refusal) for r in rows}, key=str) == [
        (False, None),
        (True, "unknown_certificate"),
    ]
    mine = repo.begin_login(der, client_id="tokenstile-kiosk")
    assert mine.handle is not None
    assert mine.challenge is not None
    assert repo.complete_login(mine.handle, card_signature(key, mine.challenge)).accepted
    # An unknown certificate's challenge is refused at the second step, whatever is signed.
    stranger = strangers[1]
    assert stranger.handle is not None
    refused = repo.complete_login(stranger.handle, b"\x01")
    assert (refused.status, refused.accepted) == ("unknown_certificate", False)


def test_the_global_bound_counts_everyones_challenges(dep: Deployment) -> None:
    add_user(dep)
    certificate, _ = make_card_certificate()
    der = certificate.public_bytes(Encoding.DER)
    repo = repository(dep, max_pending_challenges=5)
    repo.register("alice", der, by="test")
    statuses = [repo.begin_login(der, client_id="tokenstile-kiosk").status for _ in range(7)]
    assert statuses == ["accepted"] * 5 + ["busy"] * 2
    dep.clock.advance(121)  # type: ignore[attr-defined]
    assert repo.begin_login(der, client_id="tokenstile-kiosk").accepted


def test_the_second_step_needs_the_service_origin(dep: Deployment) -> None:
    from tokenstile.errors import ConfigError

    repo = PivService(SqlPivStorage(dep.store), box=dep.kek, clock=dep.clock)
    with pytest.raises(ConfigError, match="origin"):
        repo.complete_login("A" * 43, b"\x01")


def test_trust_anchors_reach_every_repository(dep: Deployment) -> None:
    add_user(dep)
    stranger = make_ca("Stranger")
    certificate, _ = make_card_certificate(stranger)
    der = certificate.public_bytes(Encoding.DER)
    kiosk_side = repository(dep)
    kiosk_side.register("alice", der, by="test")
    assert kiosk_side.begin_login(der, client_id="tokenstile-kiosk").accepted
    repository(dep).add_trust_anchors(make_ca("Corp Root").pem(), by="test")
    assert kiosk_side.begin_login(der, client_id="tokenstile-kiosk").status == "untrusted"
