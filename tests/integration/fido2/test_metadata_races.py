"""FIDO metadata loads racing on SQLite and a real PostgreSQL (issue 16).

Two replicas of a fleet refresh from the same URL and may load the same BLOB at the same
moment; an admin may enroll a key while a BLOB that refuses its model is being loaded.
Each replica here is a deployment of its own (its own engine and connection pool) on the
one database, its service a ``WebAuthnService`` of its own (its own metadata cache):

- two loads of one BLOB: one loads it and suspends the key; the other changes nothing and
  says the BLOB is not newer: one load row, one suspension row;
- an enrollment racing the load of a BLOB that refuses its model: the key ends up refused
  at enrollment or suspended by the load, never active.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives import serialization

from tests.adversarial.test_fido2_metadata import MdsStandIn, entry
from tests.conftest import add_user
from tests.integration.fido2.test_webauthn_store import audit, enroll
from tests.integration.store.races import at_once
from tests.unit.factors.webauthn_keys import RP, SOFTWARE_KEYS_ALLOWED, Kiosk
from tokenstile.clock import FrozenClock
from tokenstile.deployment import Deployment
from tokenstile.factors.webauthn import CeremonyRejected
from tokenstile.factors.webauthn_metadata import MetadataNotNewer
from tokenstile.factors.webauthn_registration import Registration, parse_registration
from tokenstile.factors.webauthn_service import LoadedMetadata, WebAuthnService
from tokenstile.store.webauthn_repository import SqlWebAuthnStore

ROUNDS = 4


@pytest.fixture
def replicas(
    any_deployment: Deployment, db_url: str, fido2_clock: FrozenClock, tmp_path: Path
) -> Iterator[tuple[MdsStandIn, list[WebAuthnService]]]:
    mds = MdsStandIn(tmp_path)
    root = mds.root.public_bytes(serialization.Encoding.DER)
    add_user(any_deployment)
    second = Deployment(any_deployment.settings, clock=fido2_clock)
    services = [
        WebAuthnService(
            SqlWebAuthnStore(dep.store),
            rp=RP,
            clock=fido2_clock,
            policy=SOFTWARE_KEYS_ALLOWED,
            mds_root=root,
        )
        for dep in (any_deployment, second)
    ]
    yield mds, services
    second.close()


def _blob(mds: MdsStandIn, no: int, aaguid: str, status: str) -> bytes:
    pem = mds.root.public_bytes(serialization.Encoding.PEM)  # any certificate will do
    return mds.blob(no, [entry(aaguid, pem, status)]).read_bytes()


def _aaguid(kiosk: Kiosk) -> str:
    return str(uuid.UUID(bytes=kiosk.device.authenticator.aaguid))


def test_two_replicas_loading_one_blob_suspend_once(
    any_deployment: Deployment, replicas: tuple[MdsStandIn, list[WebAuthnService]]
) -> None:
    mds, services = replicas
    no = 0
    for round_ in range(1, ROUNDS + 1):
        kiosk = Kiosk()
        aaguid = _aaguid(kiosk)
        no += 1
        services[0].load_metadata(_blob(mds, no, aaguid, "FIDO_CERTIFIED_L1"), by="admin")
        enroll(services[round_ % 2], kiosk)
        no += 1
        revoking = _blob(mds, no, aaguid, "REVOKED")
        results: list[Any] = at_once(
            2, lambda i, blob=revoking: services[i].load_metadata(blob, by=f"replica {i}")
        )
        loaded = [r for r in results if isinstance(r, LoadedMetadata)]
        assert len(loaded) == 1, results
        assert [len(r.suspended) for r in loaded] == [1]
        assert [type(r) for r in results if not isinstance(r, LoadedMetadata)] == [
            MetadataNotNewer
        ], results
        suspended = audit(any_deployment, "fido2_credential_suspended")
        assert len(suspended) == round_
        assert suspended[-1]["detail"]["metadata_no"] == no
        assert [e["detail"]["no"] for e in audit(any_deployment, "fido2_metadata_loaded")] == list(
            range(1, no + 1)
        )
    states = {(c.state, c.state_reason) for c in services[1].credentials()}
    assert states == {("suspended", "metadata_status")}


def _enroll_or_load(
    services: list[WebAuthnService], handle: str, registration: Registration, blob: bytes
) -> Callable[[int], Any]:
    """Thread 0 completes the enrollment, thread 1 loads ``blob``."""

    def work(i: int) -> Any:
        if i == 0:
            return services[0].complete_registration(handle, registration, by="admin")
        return services[1].load_metadata(blob, by="replica 1")

    return work


def test_an_enrollment_racing_a_refusing_blob_never_stays_active(
    any_deployment: Deployment, replicas: tuple[MdsStandIn, list[WebAuthnService]]
) -> None:
    mds, services = replicas
    outcomes: set[str] = set()
    for round_ in range(ROUNDS):
        kiosk = Kiosk()
        aaguid = _aaguid(kiosk)
        services[1].load_metadata(_blob(mds, 2 * round_ + 1, aaguid, "FIDO_CERTIFIED_L1"), by="a")
        options = services[0].begin_registration("alice", label="key", by="admin")
        registration = parse_registration(kiosk.register(options.public_key))
        revoking = _blob(mds, 2 * round_ + 2, aaguid, "USER_KEY_REMOTE_COMPROMISE")

        enrolled, loaded = at_once(
            2, _enroll_or_load(services, options.handle, registration, revoking)
        )
        assert isinstance(loaded, LoadedMetadata), loaded
        if isinstance(enrolled, CeremonyRejected):
            assert enrolled.reason == "authenticator_status"
            assert loaded.suspended == []
            outcomes.add("refused")
        else:
            assert not isinstance(enrolled, Exception), enrolled
            assert [s.credential_id for s in loaded.suspended] == [enrolled.credential_id]
            outcomes.add("suspended")
    assert {c.state for c in services[0].credentials()} <= {"suspended"}
    assert outcomes  # which order won each round is up to the scheduler
