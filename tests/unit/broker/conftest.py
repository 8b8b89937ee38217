"""Fixtures for the broker's unit tests: an in-memory keychain, a fake token service."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from tests.unit.broker.fakes import SERVER, FakeTokenService, MemoryKeyring
from tokenstile.broker.model import TokenGrant
from tokenstile.broker.session import Broker
from tokenstile.broker.store import KeyringStore
from tokenstile.clock import FrozenClock


@pytest.fixture(autouse=True)
def _no_retry_pause(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TOKENSTILE_BROKER_REFRESH_RETRY_DELAY", "0")


@pytest.fixture
def keychain() -> MemoryKeyring:
    return MemoryKeyring()


@pytest.fixture
def service(clock: FrozenClock) -> FakeTokenService:
    return FakeTokenService(clock)


@pytest.fixture
def make_broker(
    keychain: MemoryKeyring, service: FakeTokenService, clock: FrozenClock
) -> Callable[[], Broker]:
    """Brokers of one user: they share the keychain and the runtime directory."""

    def make() -> Broker:
        return Broker(store=KeyringStore(keychain), clock=clock, transport=service.transport())

    return make


@pytest.fixture
def broker(make_broker: Callable[[], Broker], service: FakeTokenService) -> Broker:
    """Signed in (a FIDO2 login's grant, Bearer tokens); the requests of the login (its
    ``/userinfo``) are forgotten."""
    signed_in = make_broker()
    grant = TokenGrant.from_json(service.grant())
    signed_in.save_login(grant, server=SERVER, client_id="tokenstile-kiosk")
    service.requests.clear()
    return signed_in
