"""Two real ``tokenstile server`` replicas on one PostgreSQL database refreshing the FIDO
metadata from one URL (issue 16): each fetches the same BLOB, one loads it and suspends the
key its statuses refuse, the other finds it loaded and changes nothing; neither calls that
a failure. The BLOB is served by a real HTTP server on loopback."""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives import serialization

from tests.adversarial.test_fido2_metadata import MdsStandIn, entry
from tests.adversarial.test_fido2_metadata_url import BlobServer, wait_until
from tests.conftest import add_user
from tests.integration.fido2.test_webauthn_store import enroll
from tests.integration.fleet.conftest import Fleet
from tests.unit.factors.webauthn_keys import RP, SOFTWARE_KEYS_ALLOWED, Kiosk
from tokenstile.factors.webauthn_service import WebAuthnService
from tokenstile.store.webauthn_repository import SqlWebAuthnStore

pytestmark = [pytest.mark.postgres, pytest.mark.server]


@pytest.fixture
def blobs() -> Iterator[BlobServer]:
    server = BlobServer()
    yield server
    server.close()


def test_replicas_refreshing_one_blob_load_it_once(
    fleet_factory: Callable[..., Fleet], blobs: BlobServer, tmp_path: Path
) -> None:
    mds = MdsStandIn(tmp_path)
    blobs.serve(b"not yet", status=404)
    fleet = fleet_factory(
        webauthn_mds_root=str(mds.root_pem),
        webauthn_mds_url=blobs.url,
        webauthn_mds_refresh_hours=0.0002,  # 0.72 s
    )

    def audit(event: str) -> list[dict[str, Any]]:
        return [e for e in fleet.dep.store.audit_entries() if e["event"] == event]

    # Each replica found nothing at start-up and said so once.
    wait_until(lambda: len(audit("fido2_metadata_refresh_failed")) == 2, "two failures")
    add_user(fleet.dep, "alice")
    kiosk = Kiosk()
    seeding = WebAuthnService(
        SqlWebAuthnStore(fleet.dep.store),
        rp=RP,
        clock=fleet.dep.clock,
        policy=SOFTWARE_KEYS_ALLOWED,
    )
    enroll(seeding, kiosk)
    aaguid = str(uuid.UUID(bytes=kiosk.device.authenticator.aaguid))
    pem = mds.root.public_bytes(serialization.Encoding.PEM)

    before = blobs.serve(
        mds.blob(1, [entry(aaguid, pem, "ATTESTATION_KEY_COMPROMISE")]).read_bytes()
    )
    blobs.wait_requests(before + 8)  # both replicas fetched it, and more than once
    assert [e["detail"]["no"] for e in audit("fido2_metadata_loaded")] == [1]
    [alert] = audit("fido2_credential_suspended")
    assert alert["detail"]["status"] == "ATTESTATION_KEY_COMPROMISE"
    failures = audit("fido2_metadata_refresh_failed")
    assert len(failures) == 2
    assert all("HTTP 404" in f["detail"]["reason"] for f in failures)
    [info] = seeding.credentials("alice")
    assert (info.state, info.state_reason) == ("suspended", "metadata_status")
