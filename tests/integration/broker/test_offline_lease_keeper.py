"""The kiosk keeps its offline lease (issue 17): fetched from a real server process while
someone is signed in, kept in the real keychain (gnome-keyring), and used for a security
key's sign-in after the server process has stopped; that sign-in exchanged for a real
session once a server runs again; what is kept and then changed is refused, never used."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import jwt
import pytest

from tests.conftest import ServerProcess, add_user
from tests.integration.broker.conftest import tokenstile
from tests.integration.fido2.test_webauthn_store import enroll
from tests.unit.factors.webauthn_keys import ISSUER, Kiosk
from tokenstile.broker.client import TokenServiceClient
from tokenstile.broker.errors import LoginRefused, ServerUnreachable
from tokenstile.broker.offline import (
    KEY_ITEM,
    LEASE_ITEM,
    LeaseKeeper,
    OfflineSigner,
    open_offline_session,
)
from tokenstile.broker.session import Broker
from tokenstile.broker.store import KeyringStore
from tokenstile.clock import SystemClock
from tokenstile.composition import Services
from tokenstile.deployment import DEFAULT_KIOSK_CLIENT_ID, Deployment
from tokenstile.devices.key_ceremonies import login_with_key
from tokenstile.devices.offline_login import OfflineKeyLogin
from tokenstile.errors import InvalidToken
from tokenstile.protocol.jose import b64url_encode
from tokenstile.protocol.offline_lease import LeaseInvalid
from tokenstile.tokens.model import LOCAL_AUDIENCE
from tokenstile.tokens.verifier import AccessTokenVerifier


def alice_signed_in(server: ServerProcess, kiosk: Kiosk) -> tuple[str, bytes]:
    """Alice enrolled with ``kiosk``'s key in the server's database, and the local access
    token of a kiosk session of hers (as a sign-in there would have opened it)."""
    dep = Deployment(server.settings)
    try:
        add_user(dep, "alice")
        services = Services(dep)
        credential_id = enroll(services.webauthn_service(), kiosk, "alice")
        user = dep.store.find_user("alice")
        client = dep.store.find_client(DEFAULT_KIOSK_CLIENT_ID)
        assert user is not None
        assert client is not None
        opened = services.token_service().sessions.open_session(
            user=user, client=client, factor="fido2", amr=["hwk", "pin"], acr="phrh"
        )
    finally:
        dep.close()
    return opened.access_token, credential_id


def test_the_lease_outlives_the_server_and_a_changed_copy_is_refused(
    server_factory: Callable[..., ServerProcess], keychain: Any
) -> None:
    server = server_factory(issuer=ISSUER, kiosk_offline_hours=8)
    kiosk = Kiosk()
    token, credential_id = alice_signed_in(server, kiosk)
    store = KeyringStore(item=LEASE_ITEM)
    keeper = LeaseKeeper(store, client_id=DEFAULT_KIOSK_CLIENT_ID, clock=SystemClock())
    with TokenServiceClient(server.base_url, client_id=DEFAULT_KIOSK_CLIENT_ID) as client:
        renewed = keeper.renew(client, token)
        offline_jwks = client.jwks()
    assert renewed.key(credential_id) is not None
    # In the keychain item beside the session, not in it.
    assert keychain.load() is None
    assert json.loads(store.load() or "{}")["lease"]

    # The service goes away; the kiosk signs alice in against what it kept.
    server.stop()
    with (
        TokenServiceClient(server.base_url, client_id=DEFAULT_KIOSK_CLIENT_ID) as client,
        pytest.raises(ServerUnreachable),
    ):
        keeper.renew(client, token)
    loaded = keeper.load()
    assert loaded is not None
    lease, counters = loaded
    assert lease.lease_id == renewed.lease_id
    signed = login_with_key(
        kiosk.client, OfflineKeyLogin(lease, origin=ISSUER, clock=SystemClock(), counters=counters)
    )
    assert signed.username == "alice"
    keeper.save_counters(counters)
    ref = b64url_encode(credential_id)

    # Her offline session: the apps of this workstation read it as always (another
    # process, `tokenstile token`); anything needing the service hears "offline".
    signer = OfflineSigner(
        KeyringStore(item=KEY_ITEM), client_id=DEFAULT_KIOSK_CLIENT_ID, clock=SystemClock()
    )
    info = open_offline_session(
        Broker(store=keychain),
        signer,
        server=server.base_url,
        client_id=DEFAULT_KIOSK_CLIENT_ID,
        username=signed.username,
        display_name=signed.display_name,
        amr=signed.amr,
        acr=signed.acr,
        auth_time=signed.auth_time,
        lease=lease,
    )
    assert (info.username, info.offline) == ("alice", True)
    served = tokenstile("token")
    assert served.returncode == 0, served.stderr
    offline_token = served.stdout.strip()
    claims = jwt.decode(offline_token, options={"verify_signature": False})
    assert (claims["sub"], claims["aud"], claims["offline"]) == ("alice", LOCAL_AUDIENCE, True)
    status = tokenstile("status")
    assert "offline:" in status.stdout
    elsewhere = tokenstile("token", "--audience", "https://payroll.example")
    assert elsewhere.returncode != 0
    assert "offline" in elsewhere.stderr
    # A resource server checking against the service's keys never accepts it.
    verifier = AccessTokenVerifier(ISSUER, LOCAL_AUDIENCE, jwks=offline_jwks)
    with pytest.raises(InvalidToken):
        verifier.verify(offline_token)

    # The link returns (the service started again on its database): the offline
    # sign-in becomes a real session, once.
    back = server_factory(db=server.settings.db, issuer=ISSUER, kiosk_offline_hours=8)
    with TokenServiceClient(back.base_url, client_id=DEFAULT_KIOSK_CLIENT_ID) as client:
        grant = client.exchange_offline("fido2", signed.evidence, [{"event": "offline"}])
        assert jwt.decode(grant.access_token, options={"verify_signature": False})["sub"] == (
            "alice"
        )
        with pytest.raises(LoginRefused, match="already exchanged"):
            client.exchange_offline("fido2", signed.evidence)
    seen = counters[ref]

    # The counter seen is kept with the lease (the floor for the next offline sign-in).
    loaded = keeper.load()
    assert loaded is not None
    assert loaded[1][ref] == seen > 0

    # A local program adds itself to the kept lease: the signature no longer holds.
    document = json.loads(store.load() or "{}")
    head, _, signature = document["lease"].split(".")
    claims = jwt.decode(document["lease"], options={"verify_signature": False})
    claims["keys"].append(dict(claims["keys"][0], username="mallory"))
    forged = b64url_encode(json.dumps(claims).encode())
    store.save(json.dumps({**document, "lease": f"{head}.{forged}.{signature}"}))
    with pytest.raises(LeaseInvalid, match="does not verify"):
        keeper.load()
    # ... or writes rubbish there.
    store.save("{not json")
    with pytest.raises(LeaseInvalid, match="damaged"):
        keeper.load()
    keeper.forget()
    assert keeper.load() is None
