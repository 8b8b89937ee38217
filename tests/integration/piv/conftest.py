"""Fixtures for the PIV integration tests: real pcscd + vpcd (shared with the PC/SC
tests), a database on SQLite or a real PostgreSQL, and the enrollment ``station`` the
card set-up and attestation tests share."""

from __future__ import annotations

import contextlib
import json
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import add_user, make_deployment

# Real pcscd with the vpcd driver (started here when the machine does not run one), and
# the vpcd readers, held per test: the same fixtures the PC/SC tests use; and the store
# tests' database on SQLite and on PostgreSQL.
from tests.integration.pcsc.conftest import READERS, pcscd, vpcd_slot
from tests.integration.store.conftest import db_url
from tokenstile.cli.main import main
from tokenstile.deployment import Deployment
from tokenstile.devices.pcsc import open_piv_card
from tokenstile.devices.piv import PivCard
from tokenstile.virtual.piv_attestation import AttestationAuthority

__all__ = ["Station", "db_url", "pcscd", "station", "vpcd_slot"]


@dataclass
class Station:
    """An enrollment station: a database with ``alice``, ``tokenstile manage piv enroll``
    against it for the card in vpcd reader 0, and that card as PC/SC opens it."""

    deployment: Deployment
    capsys: pytest.CaptureFixture[str]
    monkeypatch: pytest.MonkeyPatch
    folder: Path

    def enroll(self, *extra: str) -> tuple[int, str]:
        """``manage piv enroll alice --reader <reader 0> *extra``: status and output."""
        argv = ["manage", "--db", str(self.deployment.engine.url), "piv", "enroll", "alice"]
        code = main([*argv, "--reader", READERS[0], *extra])
        out, err = self.capsys.readouterr()
        return code, out + err

    def audit(self, event: str) -> list[dict[str, Any]]:
        return [e for e in self.deployment.store.audit_entries() if e["event"] == event]

    @contextlib.contextmanager
    def card(self) -> Iterator[PivCard]:
        """The card in reader 0 through pcscd, closed afterwards."""
        card = open_piv_card(READERS[0])
        try:
            yield card
        finally:
            card.close()

    def configure_attestation(
        self, root: AttestationAuthority | None, *, require: bool = False
    ) -> None:
        """The station's ``piv_attestation_roots`` (``root`` only) and
        ``piv_require_attestation``, as the command reads them from its environment."""
        roots = []
        if root is not None:
            path = self.folder / f"{root.certificate.serial_number}.pem"
            path.write_bytes(root.pem())
            roots.append(str(path))
        self.monkeypatch.setenv("TOKENSTILE_PIV_ATTESTATION_ROOTS", json.dumps(roots))
        self.monkeypatch.setenv(
            "TOKENSTILE_PIV_REQUIRE_ATTESTATION", "true" if require else "false"
        )


@pytest.fixture
def station(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> Iterator[Station]:
    dep = make_deployment(f"sqlite:///{tmp_path / 'station.db'}")
    add_user(dep, "alice")
    yield Station(deployment=dep, capsys=capsys, monkeypatch=monkeypatch, folder=tmp_path)
    dep.close()
