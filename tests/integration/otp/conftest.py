"""Fixtures for the OTP store tests: a deployment on SQLite or a real PostgreSQL."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.conftest import make_deployment
from tokenstile.clock import FrozenClock
from tokenstile.deployment import Deployment
from tokenstile.store.otp_repository import OtpRepository

START = 1_800_000_000.0  # a multiple of 30 and 60


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def db_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'otp.db'}"
    url: str = request.getfixturevalue("postgres_url")
    return url


@pytest.fixture
def otp_clock() -> FrozenClock:
    return FrozenClock(START)


@pytest.fixture
def any_deployment(db_url: str, otp_clock: FrozenClock) -> Iterator[Deployment]:
    dep = make_deployment(db_url, otp_clock)
    yield dep
    dep.close()


@pytest.fixture
def repo(any_deployment: Deployment, otp_clock: FrozenClock) -> OtpRepository:
    return OtpRepository(any_deployment.store, box=any_deployment.kek, clock=otp_clock)
