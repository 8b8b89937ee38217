"""The kiosk's offline sign-in end to end (issue 17), through the kiosk's sign-in service
(what its window calls): a real server process, a software security key from a file,
gnome-keyring. Online first (the lease is renewed after the sign-in), then the server
process is stopped (offline sign-in, the apps of the workstation served), then started
again on the same address (the sign-in exchanged for a real session, or ended when the
key was revoked meanwhile)."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import jwt
import pytest

from tests.conftest import ServerProcess, start_server
from tests.integration.broker.conftest import TokenService, tokenstile
from tokenstile.broker import Broker
from tokenstile.broker.offline import KEY_ITEM, LEASE_ITEM
from tokenstile.broker.store import KeyringStore
from tokenstile.clock import SystemClock
from tokenstile.composition import Services
from tokenstile.factors.webauthn_service import parse_credential_id
from tokenstile.kiosk.offline import OfflineDesk
from tokenstile.kiosk.service import BrokerSignIn, KeyPrompts
from tokenstile.virtual.ctap_device import VirtualAuthenticator

pytestmark = [pytest.mark.server]

PIN = "4711"
HOURS = "8"


def enrolled_key(service: TokenService, path: Path) -> VirtualAuthenticator:
    assert tokenstile("virtual-key", "create", str(path), "--pin", PIN).returncode == 0
    args = ["manage", "--db", service.db, "fido2", "enroll", "alice"]
    enrolled = tokenstile(*args, "--device", f"virtual:{path}", "--pin", PIN)
    assert enrolled.returncode == 0, enrolled.stderr
    return VirtualAuthenticator.from_file(path)


def restarted(server: ServerProcess, log: Path) -> ServerProcess:
    """The same service on the same address, as after a network or server outage."""
    return start_server(server.settings, log, {"TOKENSTILE_KIOSK_OFFLINE_HOURS": HOURS})


@pytest.fixture
def kiosks() -> Iterator[list[BrokerSignIn]]:
    made: list[BrokerSignIn] = []
    yield made
    for sign_in in made:
        sign_in.close()


def kiosk(
    service: TokenService, keychain: Any, runtime: Path, made: list[BrokerSignIn]
) -> tuple[BrokerSignIn, OfflineDesk]:
    broker = Broker(store=keychain)
    desk = OfflineDesk(
        broker=broker,
        server=service.url,
        client_id="tokenstile-kiosk",
        clock=SystemClock(),
        lease_store=KeyringStore(item=LEASE_ITEM),
        key_store=KeyringStore(item=KEY_ITEM),
        runtime=runtime,
    )
    sign_in = BrokerSignIn(service.url, broker=broker, offline=desk)
    made.append(sign_in)
    return sign_in, desk


def prompts() -> KeyPrompts:
    return KeyPrompts(on_touch=lambda: None, on_pin=lambda _prompt: PIN, cancel=threading.Event())


def wait_for_lease(desk: OfflineDesk) -> None:
    deadline = time.monotonic() + 20
    while desk.keeper.load() is None:
        assert time.monotonic() < deadline, "no lease was kept after the sign-in"
        time.sleep(0.05)


def test_offline_and_back_the_person_stays_signed_in(
    token_service: Callable[..., TokenService],
    keychain: Any,
    tmp_path: Path,
    kiosks: list[BrokerSignIn],
) -> None:
    service = token_service(kiosk_offline_hours=int(HOURS))
    key = enrolled_key(service, tmp_path / "key.json")
    sign_in, desk = kiosk(service, keychain, tmp_path / "run", kiosks)

    online = sign_in.save(sign_in.login_fido2(key, prompts()))
    assert not online.offline
    wait_for_lease(desk)
    sign_in.sign_out()

    service.server.stop()  # the link goes down
    grant = sign_in.login_fido2(key, prompts())
    info = sign_in.save(grant)
    assert (info.username, info.offline) == ("alice", True)
    served = tokenstile("token")
    assert served.returncode == 0, served.stderr
    assert jwt.decode(served.stdout.strip(), options={"verify_signature": False})["offline"]
    assert (tmp_path / "run" / "offline-key.json").exists()
    assert desk.tick(sign_in.client) == "offline"  # still down: nothing changes

    back = restarted(service.server, tmp_path / "back.log")
    try:
        assert desk.tick(sign_in.client) == "online"
        now = Broker(store=keychain).session()
        assert now is not None
        assert (now.username, now.offline, now.acr) == ("alice", False, "phr")
        real = tokenstile("token")
        assert real.returncode == 0, real.stderr
        claims = jwt.decode(real.stdout.strip(), options={"verify_signature": False})
        assert claims["iss"] == service.url
        assert "offline" not in claims
        exchanged = service.audit("offline_exchange")
        assert [(e["outcome"], e["username"]) for e in exchanged] == [("success", "alice")]
        reported = [e["detail"]["reported"]["event"] for e in service.audit("offline_kiosk_event")]
        assert "offline_sign_in" in reported
    finally:
        back.stop()


def test_a_key_revoked_while_the_kiosk_was_offline_ends_the_offline_session(
    token_service: Callable[..., TokenService],
    keychain: Any,
    tmp_path: Path,
    kiosks: list[BrokerSignIn],
) -> None:
    service = token_service(kiosk_offline_hours=int(HOURS))
    key = enrolled_key(service, tmp_path / "key.json")
    sign_in, desk = kiosk(service, keychain, tmp_path / "run", kiosks)
    sign_in.save(sign_in.login_fido2(key, prompts()))
    wait_for_lease(desk)
    sign_in.sign_out()

    service.server.stop()
    assert sign_in.save(sign_in.login_fido2(key, prompts())).offline
    # Meanwhile, at the service: the key is revoked.
    setup = service.deployment()
    try:
        webauthn = Services(setup).webauthn_service()
        [credential] = webauthn.credentials("alice")
        webauthn.revoke(parse_credential_id(credential.credential_id), by="test")
    finally:
        setup.close()

    back = restarted(service.server, tmp_path / "back.log")
    try:
        assert desk.tick(sign_in.client) == "ended"
        assert desk.ended_because is not None
        assert "revoked" in desk.ended_because
        assert Broker(store=keychain).session() is None
        assert tokenstile("token").returncode != 0
        [refused] = service.audit("offline_exchange")
        assert refused["detail"]["reason"] == "credential_revoked"
    finally:
        back.stop()
