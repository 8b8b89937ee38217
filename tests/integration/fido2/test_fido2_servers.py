"""Two real ``tokenstile server`` processes on one SQLite file: a login begun at one
replica is completed at the other, and a handle sent to both at once signs in once."""

from __future__ import annotations

from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from threading import Barrier
from typing import Any

import httpx
import jwt
import pytest

from tests.conftest import ServerProcess, add_user
from tests.unit.factors.webauthn_keys import SOFTWARE_KEYS_ALLOWED, Kiosk
from tokenstile.config import load_settings
from tokenstile.deployment import Deployment
from tokenstile.devices.fido2_client import SecurityKeyClient
from tokenstile.factors.webauthn import relying_party_for
from tokenstile.factors.webauthn_registration import parse_registration
from tokenstile.factors.webauthn_service import WebAuthnService
from tokenstile.store.webauthn_repository import SqlWebAuthnStore

pytestmark = pytest.mark.server


def test_a_login_begun_at_one_replica_completes_at_the_other(
    server_factory: Callable[..., ServerProcess], tmp_path: Any
) -> None:
    db = f"sqlite:///{tmp_path / 'shared.db'}"
    first = server_factory(db=db)
    setup = Deployment(load_settings(db=db))
    try:
        add_user(setup, "alice")
        # Servers on loopback: the RP ID is localhost, the kiosk's origin https://localhost.
        rp = relying_party_for(first.settings.issuer_url())
        assert rp.id == "localhost"
        repo = WebAuthnService(
            SqlWebAuthnStore(setup.store), rp=rp, clock=setup.clock, policy=SOFTWARE_KEYS_ALLOWED
        )
        kiosk = Kiosk()
        kiosk.client = SecurityKeyClient(
            kiosk.device, origin="https://localhost", on_pin=lambda _: "4711"
        )
        options = repo.begin_registration("alice", label="k", by="test")
        repo.complete_registration(
            options.handle,
            parse_registration(kiosk.register(options.public_key)),
            by="test",
            uv_method="pin",
        )
        second = server_factory(db=db)
        with first.client() as one, second.client() as two:
            begun = one.post("/login/webauthn/options").json()
            credential = kiosk.authenticate(begun["publicKey"])
            done = two.post(
                "/login/webauthn", json={"handle": begun["handle"], "credential": credential}
            )
            assert done.status_code == 200, done.text
            claims = jwt.decode(done.json()["access_token"], options={"verify_signature": False})
            assert (claims["sub"], claims["amr"], claims["acr"]) == (
                "alice",
                ["swk", "pin", "mfa"],  # the software key (issue 16)
                "phr",
            )

            begun = two.post("/login/webauthn/options").json()
            body = {"handle": begun["handle"], "credential": kiosk.authenticate(begun["publicKey"])}
            barrier = Barrier(2)

            def send(client: httpx.Client) -> int:
                barrier.wait(10)
                return client.post("/login/webauthn", json=body).status_code

            with ThreadPoolExecutor(2) as pool:
                assert sorted(pool.map(send, [one, two])) == [200, 400]
        logins = [e for e in setup.store.audit_entries() if e["event"] == "fido2_login"]
    finally:
        setup.close()
    assert [e["outcome"] for e in logins].count("success") == 2
    assert [e["detail"].get("reason") for e in logins if e["outcome"] == "failure"] == [
        "unknown_handle"
    ]
