"""Fixtures for the PIV integration tests: real pcscd + vpcd (shared with the PC/SC
tests), and a database on SQLite or a real PostgreSQL."""

from __future__ import annotations

from pathlib import Path

import pytest

# Real pcscd with the vpcd driver (started here when the machine does not run one), and
# the vpcd readers, held per test: the same fixtures the PC/SC tests use.
from tests.integration.pcsc.conftest import pcscd, vpcd_slot

__all__ = ["pcscd", "vpcd_slot"]


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def db_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'piv.db'}"
    url: str = request.getfixturevalue("postgres_url")
    return url
