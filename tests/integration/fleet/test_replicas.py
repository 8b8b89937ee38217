"""Any replica completes what another began: logins, single use, keys and lockout, on two
real ``tokenstile server`` processes sharing one real PostgreSQL database."""

from __future__ import annotations

import os
import time
from concurrent.futures import ThreadPoolExecutor
from threading import Barrier
from typing import Any

import httpx
import jwt
import pytest
from cryptography.hazmat.primitives.serialization import Encoding
from sqlalchemy import select

from tests.conftest import add_user
from tests.integration.fleet.conftest import SHARED, Fleet, both
from tests.integration.otp.test_otp_servers import post_at_once
from tests.integration.server.test_refresh_concurrency import (
    Outcome,
    assert_single_rotation,
    open_sessions,
    post_refresh,
)
from tests.unit.factors.webauthn_keys import SOFTWARE_KEYS_ALLOWED, Kiosk
from tests.unit.server.piv_client import HttpPivServer
from tokenstile.devices import DirectConnection, PivCard
from tokenstile.devices.fido2_client import SecurityKeyClient
from tokenstile.devices.piv_login import login_with_card
from tokenstile.factors.otp import totp_code
from tokenstile.factors.otp_service import OtpService
from tokenstile.factors.piv_service import PivService
from tokenstile.factors.webauthn import relying_party_for
from tokenstile.factors.webauthn_registration import parse_registration
from tokenstile.factors.webauthn_service import WebAuthnService
from tokenstile.store import schema as t
from tokenstile.store.otp_repository import SqlOtpStore
from tokenstile.store.piv_repository import SqlPivStorage
from tokenstile.store.webauthn_repository import SqlWebAuthnStore
from tokenstile.tokens.verifier import AccessTokenVerifier
from tokenstile.virtual.piv_card import PivCardApplet
from tokenstile.virtual.piv_provision import create_piv_card

pytestmark = [pytest.mark.postgres, pytest.mark.server]


def claims(token: str) -> dict[str, Any]:
    decoded: dict[str, Any] = jwt.decode(token, options={"verify_signature": False})
    return decoded


def test_a_fido2_login_begun_at_one_replica_completes_at_the_other(fleet: Fleet) -> None:
    add_user(fleet.dep, "fido")
    rp = relying_party_for(fleet.replicas[0].settings.issuer_url())
    repo = WebAuthnService(
        SqlWebAuthnStore(fleet.dep.store),
        rp=rp,
        clock=fleet.dep.clock,
        policy=SOFTWARE_KEYS_ALLOWED,
    )
    kiosk = Kiosk()
    kiosk.client = SecurityKeyClient(
        kiosk.device, origin="https://localhost", on_pin=lambda _: "4711"
    )
    begun = repo.begin_registration("fido", label="key", by="test")
    registration = parse_registration(kiosk.register(begun.public_key))
    repo.complete_registration(begun.handle, registration, by="test", uv_method="pin")

    with both(fleet) as (one, two):
        options = one.post("/login/webauthn/options").json()
        credential = kiosk.authenticate(options["publicKey"])
        done = two.post(
            "/login/webauthn", json={"handle": options["handle"], "credential": credential}
        )
        assert done.status_code == 200, done.text
        # The handle is spent for the whole fleet: the first replica refuses it now.
        again = one.post(
            "/login/webauthn", json={"handle": options["handle"], "credential": credential}
        )
    assert (done.json()["token_type"], claims(done.json()["access_token"])["sub"]) == (
        "Bearer",
        "fido",
    )
    assert again.status_code == 400
    assert again.json()["error"] == "invalid_grant"


def test_a_piv_login_begun_at_one_replica_completes_at_the_other(fleet: Fleet) -> None:
    add_user(fleet.dep, "piv")
    applet = PivCardApplet(create_piv_card(holder="Alice Example").state)
    card = PivCard(DirectConnection(applet))
    der = card.read_certificate().public_bytes(Encoding.DER)
    PivService(SqlPivStorage(fleet.dep.store), box=fleet.dep.kek, clock=fleet.dep.clock).register(
        "piv", der, by="test"
    )
    with both(fleet) as (one, two):
        # The kiosk names the fleet (the balancer's URL, the issuer), not a replica.
        server = HttpPivServer(one, two, service_url=fleet.replicas[0].settings.issuer_url())
        tokens = login_with_card(card, server, lambda _request: "123456")
    access = claims(tokens["access_token"])
    assert (access["sub"], access["acr"]) == ("piv", "phrh")
    entries = [e for e in fleet.dep.store.audit_entries() if e["username"] == "piv"]
    assert [e["outcome"] for e in entries if e["event"] == "piv_challenge"] == ["success"]
    assert [e["outcome"] for e in entries if e["event"] == "piv_login"] == ["success"]


def test_one_refresh_token_sent_to_both_replicas_at_once_rotates_once(fleet: Fleet) -> None:
    rounds = 12
    sessions = open_sessions(fleet.dep, rounds)
    with both(fleet) as (one, two):
        for sid, token in sessions:
            barrier = Barrier(2)

            def send(
                client: httpx.Client, token: str = token, barrier: Barrier = barrier
            ) -> Outcome:
                barrier.wait(10)
                return post_refresh(client, token)

            with ThreadPoolExecutor(2) as pool:
                outcomes = list(pool.map(send, [one, two]))
            winner = assert_single_rotation(fleet.dep, sid, outcomes)
            # The family goes on at either replica.
            assert post_refresh(two, winner)[0] == 200


def test_one_otp_code_sent_to_both_replicas_at_once_signs_in_once(fleet: Fleet) -> None:
    repo = OtpService(SqlOtpStore(fleet.dep.store), box=fleet.dep.kek, clock=fleet.dep.clock)
    seeds = {}
    for name in (f"racer{n}" for n in range(6)):
        add_user(fleet.dep, name)
        seeds[name] = os.urandom(20)
        repo.enroll_app(name, by="test", seed=seeds[name])
    with both(fleet) as (one, two):
        for name, seed in seeds.items():
            body = {"username": name, "code": totp_code(seed, time.time())}
            assert post_at_once([one, two], body) == [200, 400], name
    logins = [
        e
        for e in fleet.dep.store.audit_entries()
        if e["event"] == "otp_login" and e["username"] in seeds
    ]
    assert sorted(e["outcome"] for e in logins) == ["failure"] * 6 + ["success"] * 6
    assert {e["detail"].get("reason") for e in logins if e["outcome"] == "failure"} == {"replayed"}


def jwks_kids(client: httpx.Client) -> set[str]:
    response = client.get("/jwks.json")
    assert response.headers["cache-control"] == f"public, max-age={JWKS_MAX_AGE}"
    return {key["kid"] for key in response.json()["keys"]}


JWKS_MAX_AGE = SHARED["jwks_max_age"]


def test_a_key_rotation_is_seen_by_both_replicas(fleet: Fleet) -> None:
    # A new key is in the JWKS for the JWKS max-age (the publish lead) before it signs, so
    # a resource server that cached the JWKS has it in time; replicas reload every 0.2 s.
    [(_sid, token)] = open_sessions(fleet.dep, 1)
    with both(fleet) as (one, two):
        [old] = jwks_kids(one)
        assert jwks_kids(two) == {old}
        key = fleet.dep.rotate_keys()
        deadline = time.monotonic() + 10
        while not jwks_kids(one) == jwks_kids(two) == {old, key.kid}:
            assert time.monotonic() < deadline, "a replica never published the new key"
            time.sleep(0.05)
        # (replica, request sent, answer received, kid of the access token)
        signed: list[tuple[int, float, float, str]] = []
        while time.monotonic() < deadline + 10:
            for replica, client in enumerate((one, two)):
                sent = time.time()
                status, body = post_refresh(client, token)
                assert status == 200, body
                token = body["refresh_token"]
                kid = jwt.get_unverified_header(body["access_token"])["kid"]
                signed.append((replica, sent, time.time(), kid))
            late = {(r, kid) for r, sent, _, kid in signed if sent > key.sign_from}
            if {r for r, _ in late} == {0, 1}:
                break
            time.sleep(0.1)
        jwks = one.get("/jwks.json").json()
    early = {kid for _, _, answered, kid in signed if answered < key.sign_from}
    assert early == {old}, signed  # nobody signed with the new key before its time
    assert late == {(0, key.kid), (1, key.kid)}, signed  # both switched after it
    # A resource server holding replica one's JWKS verifies what replica two signed.
    access = body["access_token"]
    verifier = AccessTokenVerifier(
        fleet.replicas[0].settings.issuer_url(), claims(access)["aud"], jwks
    )
    assert verifier.verify(access)["sub"] == "alice"


def test_lockout_counts_attempts_spread_over_both_replicas(fleet: Fleet) -> None:
    # The shared fleet locks after 6 failures (SHARED).
    repo = OtpService(SqlOtpStore(fleet.dep.store), box=fleet.dep.kek, clock=fleet.dep.clock)
    add_user(fleet.dep, "locky")
    seed = os.urandom(20)
    info, _ = repo.enroll_app("locky", by="test", seed=seed)
    good = totp_code(seed, time.time())
    wrong = f"{(int(good) + 1) % 1_000_000:06d}"
    with both(fleet) as (one, two):
        for attempt in range(6):  # three wrong codes at each replica, alternating
            client = (one, two)[attempt % 2]
            refused = client.post("/login/totp", json={"username": "locky", "code": wrong})
            assert refused.status_code == 400, refused.text
        # Six failures in all: locked, so the right code is refused at both.
        late = [c.post("/login/totp", json={"username": "locky", "code": good}) for c in (one, two)]
    assert [r.status_code for r in late] == [400, 400]
    c = t.otp_credentials
    with fleet.dep.engine.connect() as conn:
        row = conn.execute(select(c.c.state, c.c.failures).where(c.c.serial == info.serial)).one()
    assert (row.state, row.failures) == ("locked", 6)
    reasons = [
        e["detail"].get("reason")
        for e in fleet.dep.store.audit_entries()
        if e["event"] == "otp_login" and e["username"] == "locky"
    ]
    assert reasons == ["wrong_code"] * 6 + ["locked"] * 2
