"""``slapd``: one real OpenLDAP server for the whole session (its start and the base
entries cost a second; every test makes its own organisational unit under it, so tests
never see each other's people). ``people_ou``: a fresh unit for one test."""

from __future__ import annotations

import itertools
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.integration.directory.slapd import BASE_LDIF, SUFFIX, SYNC_PASSWORD, Slapd, ou_ldif
from tests.integration.store.conftest import db_url  # noqa: F401 - a fixture

_units = itertools.count()


@pytest.fixture(scope="session")
def slapd(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Slapd]:
    server = Slapd(tmp_path_factory.mktemp("slapd"))
    server.configure()
    server.start()
    try:
        server.add(BASE_LDIF)
        yield server
    finally:
        server.stop()


@pytest.fixture
def people_ou(slapd: Slapd) -> str:
    dn = f"ou=unit{next(_units)},{SUFFIX}"
    slapd.add(ou_ldif(dn))
    return dn


@pytest.fixture
def password_file(tmp_path: Path) -> Path:
    path = tmp_path / "bind-password"
    path.write_text(SYNC_PASSWORD + "\n")
    path.chmod(0o600)
    return path
