"""Fixtures for the FIDO2 integration tests: a deployment on SQLite or a real PostgreSQL, and
real pcscd with the vpcd readers (the fixtures of ``tests/integration/pcsc``, shared
unchanged: importing them here registers them for this directory too)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.conftest import make_deployment
from tests.integration.pcsc.conftest import pcscd, vpcd_slot
from tests.integration.store.conftest import db_url
from tests.unit.factors.webauthn_keys import RP, SOFTWARE_KEYS_ALLOWED
from tokenstile.clock import FrozenClock
from tokenstile.deployment import Deployment
from tokenstile.factors.webauthn_service import WebAuthnService
from tokenstile.store.webauthn_repository import SqlWebAuthnStore

__all__ = ["db_url", "pcscd", "vpcd_slot"]

START = 1_800_000_000.0


@pytest.fixture
def fido2_clock() -> FrozenClock:
    return FrozenClock(START)


@pytest.fixture
def any_deployment(db_url: str, fido2_clock: FrozenClock) -> Iterator[Deployment]:
    dep = make_deployment(db_url, fido2_clock)
    yield dep
    dep.close()


@pytest.fixture
def repo(any_deployment: Deployment, fido2_clock: FrozenClock) -> WebAuthnService:
    return WebAuthnService(
        SqlWebAuthnStore(any_deployment.store),
        rp=RP,
        clock=fido2_clock,
        policy=SOFTWARE_KEYS_ALLOWED,
    )
