"""Parking and resuming raced through the database (SQLite and a real PostgreSQL), each
thread on its own connection: check-then-act is a race, so one conditional UPDATE decides.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.conftest import add_user, kiosk_client, make_deployment
from tests.integration.store.races import at_once
from tokenstile.clock import FrozenClock
from tokenstile.deployment import Deployment
from tokenstile.errors import InvalidGrant, SessionParked
from tokenstile.tokens.service import TokenResponse


@pytest.fixture
def any_deployment(db_url: str) -> Iterator[Deployment]:
    dep = make_deployment(db_url, FrozenClock())
    yield dep
    dep.close()


def sign_in(dep: Deployment) -> TokenResponse:
    user = dep.store.find_user("alice") or add_user(dep)
    return dep.token_service().sessions.open_session(
        user=user, client=kiosk_client(dep), factor="otp", amr=["otp"], acr="otp"
    )


def test_of_racing_parks_one_wins_and_the_deadline_is_its(any_deployment: Deployment) -> None:
    dep = any_deployment
    parking = dep.token_service().parking
    alice = sign_in(dep)
    results = at_once(
        8, lambda _i: parking.park(refresh_token=alice.refresh_token, client=kiosk_client(dep))
    )
    won = [r for r in results if not isinstance(r, Exception)]
    assert len(won) == 1, results
    assert all(isinstance(r, SessionParked) for r in results if r not in won), results
    with dep.store.read() as tx:
        session = tx.get_session(alice.sid)
    assert session is not None
    assert session.parked_until == won[0].parked_until  # type: ignore[union-attr]


def test_of_racing_resumes_one_wins_and_the_others_get_nothing(
    any_deployment: Deployment,
) -> None:
    dep = any_deployment
    service = dep.token_service()
    alice = sign_in(dep)
    service.parking.park(refresh_token=alice.refresh_token, client=kiosk_client(dep))
    dep.clock.advance(1)  # type: ignore[attr-defined]
    proof = sign_in(dep)
    results = at_once(
        8,
        lambda _i: service.parking.resume(
            refresh_token=alice.refresh_token,
            proof_token=proof.refresh_token,
            client=kiosk_client(dep),
        ),
    )
    won = [r for r in results if isinstance(r, TokenResponse)]
    assert len(won) == 1, results
    assert all(isinstance(r, InvalidGrant) for r in results if r not in won), results
    with dep.store.read() as tx:
        session = tx.get_session(alice.sid)
        spent = tx.get_session(proof.sid)
    assert session is not None
    assert spent is not None
    assert (session.parked_until, session.revoked_at) == (None, None)
    assert spent.revoke_reason == "resumed"
    # Exactly one new refresh token works: the winner's.
    refreshed = service.refresh_grant.refresh(
        refresh_token=won[0].refresh_token, client=kiosk_client(dep)
    )
    assert refreshed.sid == alice.sid
