"""Migration 0010 (``webauthn_credentials.assurance``) on SQLite and a real PostgreSQL:
what enrollment verified is stored with the credential and read back at login; the
database itself refuses any other value; credentials from before the revision come back
``unverified``, and the revision downgrades."""

from __future__ import annotations

import pytest
from alembic import command
from sqlalchemy import inspect, update
from sqlalchemy.exc import IntegrityError

from tests.conftest import add_user
from tests.integration.fido2.test_webauthn_store import enroll, row
from tests.unit.factors.webauthn_keys import Kiosk
from tokenstile.deployment import Deployment
from tokenstile.factors.webauthn_service import WebAuthnService
from tokenstile.store import schema as t
from tokenstile.store.database import _alembic_config, current_revision, head_revision, upgrade
from tokenstile.store.webauthn_repository import SqlWebAuthnTx


def _downgrade(dep: Deployment, revision: str) -> None:
    with dep.engine.connect() as conn:
        command.downgrade(_alembic_config(conn), revision)
        if conn.in_transaction():
            conn.commit()


def test_the_assurance_is_stored_checked_and_survives_a_downgrade(
    any_deployment: Deployment, repo: WebAuthnService
) -> None:
    dep = any_deployment
    add_user(dep, "alice")
    credential_id = enroll(repo, Kiosk())
    assert row(dep).assurance == "software"
    with dep.store.read() as tx:
        found = SqlWebAuthnTx(tx).find_credential(credential_id)
    assert found is not None
    assert (found.assurance, found.hardware) == ("software", False)

    with pytest.raises(IntegrityError), dep.engine.begin() as conn:
        conn.execute(update(t.webauthn_credentials).values(assurance="hardware-ish"))

    _downgrade(dep, "0009")
    columns = {c["name"] for c in inspect(dep.engine).get_columns("webauthn_credentials")}
    assert "assurance" not in columns
    upgrade(dep.engine)
    assert current_revision(dep.engine) == head_revision()
    # Nothing was verified the new way before the revision: unverified, never hardware.
    assert row(dep).assurance == "unverified"
