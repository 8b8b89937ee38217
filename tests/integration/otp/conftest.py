"""Fixtures for the OTP store tests: a deployment on SQLite or a real PostgreSQL."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.conftest import make_deployment
from tests.integration.store.conftest import db_url
from tokenstile.clock import FrozenClock
from tokenstile.deployment import Deployment
from tokenstile.factors.otp_service import OtpService
from tokenstile.store.otp_repository import SqlOtpStore

__all__ = ["db_url"]

START = 1_800_000_000.0  # a multiple of 30 and 60


@pytest.fixture
def otp_clock() -> FrozenClock:
    return FrozenClock(START)


@pytest.fixture
def any_deployment(db_url: str, otp_clock: FrozenClock) -> Iterator[Deployment]:
    dep = make_deployment(db_url, otp_clock)
    yield dep
    dep.close()


@pytest.fixture
def repo(any_deployment: Deployment, otp_clock: FrozenClock) -> OtpService:
    return OtpService(SqlOtpStore(any_deployment.store), box=any_deployment.kek, clock=otp_clock)
