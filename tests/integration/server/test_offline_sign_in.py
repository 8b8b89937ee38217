"""Offline sign-in (issue 17): the lease the service signs for a kiosk, who
may have one, and what the kiosk's reader refuses. Over HTTP to the real ASGI app, on a
frozen clock, with a key enrolled from a software authenticator and a card certified by
the built-in CA; the lease's query on SQLite and PostgreSQL."""

from __future__ import annotations

import dataclasses
import hashlib
import json
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import jwt
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec
from fastapi.testclient import TestClient
from sqlalchemy import select

from tests.conftest import add_user, kiosk_client, make_deployment
from tests.integration.fido2.test_webauthn_store import enroll
from tests.integration.store.conftest import db_url
from tests.unit.factors.webauthn_keys import Kiosk
from tokenstile.clock import FrozenClock
from tokenstile.composition import Services
from tokenstile.deployment import Deployment
from tokenstile.devices.connection import DirectConnection
from tokenstile.devices.key_ceremonies import login_with_key
from tokenstile.devices.offline_login import (
    OfflineCardLogin,
    OfflineKeyLogin,
    OfflineSignInRefused,
)
from tokenstile.devices.piv import PivCard, PivSlot
from tokenstile.devices.piv_login import PinEntryCancelled, PinRequest, login_with_card
from tokenstile.errors import OriginMismatch
from tokenstile.protocol.jose import b64url_encode
from tokenstile.protocol.offline_lease import LEASE_TYPE, Lease, LeaseInvalid, read_lease
from tokenstile.protocol.piv_message import login_message
from tokenstile.server.app import create_app
from tokenstile.store import schema as t
from tokenstile.tokens.model import AuditEvent
from tokenstile.virtual.piv_provision import DEFAULT_PIN, create_piv_card

__all__ = ["db_url"]

ISSUER = "https://auth.example"
HOURS = 8


@pytest.fixture
def leasing(tmp_path: Path, clock: FrozenClock) -> Iterator[Deployment]:
    dep = make_deployment(f"sqlite:///{tmp_path / 'ts.db'}", clock, kiosk_offline_hours=HOURS)
    yield dep
    dep.close()


@pytest.fixture
def http(leasing: Deployment) -> Iterator[TestClient]:
    with TestClient(create_app(leasing), base_url=ISSUER) as client:
        yield client


def signed_in(dep: Deployment, username: str, client_id: str | None = None) -> str:
    """The local access token of a session opened for ``username`` at a client (the
    kiosk by default), as a factor login would open it."""
    services = Services(dep)
    user = dep.store.find_user(username)
    assert user is not None
    client = kiosk_client(dep) if client_id is None else dep.store.find_client(client_id)
    assert client is not None
    opened = services.token_service().sessions.open_session(
        user=user, client=client, factor="fido2", amr=["hwk", "pin"], acr="phrh"
    )
    return opened.access_token


def enrolled_people(dep: Deployment, kiosk: Kiosk | None = None) -> tuple[bytes, str]:
    """Alice with a security key (``kiosk``'s), Bob with a card; both enabled."""
    services = Services(dep)
    add_user(dep, "alice")
    add_user(dep, "bob")
    credential_id = enroll(services.webauthn_service(), kiosk or Kiosk(), "alice")
    card_key = ec.generate_private_key(ec.SECP256R1()).public_key()
    info, certificate = services.piv_service().issue("bob", card_key, by="test")
    fingerprint = hashlib.sha256(certificate.public_bytes(serialization.Encoding.DER)).hexdigest()
    assert info.fingerprint.lower() == fingerprint
    return credential_id, fingerprint


def lease_of(http: TestClient, token: str) -> dict[str, Any]:
    answer = http.post("/kiosk/offline-lease", headers={"Authorization": f"Bearer {token}"})
    assert answer.status_code == 200, answer.text
    assert answer.headers["cache-control"] == "no-store"
    body: dict[str, Any] = answer.json()
    return body


def jwks(http: TestClient) -> dict[str, Any]:
    body: dict[str, Any] = http.get("/jwks.json").json()
    return body


def audit(dep: Deployment) -> list[dict[str, Any]]:
    return [e for e in dep.store.audit_entries() if e["event"] == "offline_lease"]


def test_a_kiosk_gets_a_signed_lease_of_every_active_key_and_card(
    http: TestClient, leasing: Deployment, clock: FrozenClock
) -> None:
    credential_id, fingerprint = enrolled_people(leasing)
    body = lease_of(http, signed_in(leasing, "alice"))
    assert body["expires_at"] == int(clock.now()) + HOURS * 3600
    assert jwt.get_unverified_header(body["lease"])["typ"] == LEASE_TYPE

    lease = read_lease(
        body["lease"], jwks(http), issuer=ISSUER, client_id="tokenstile-kiosk", now=clock.now()
    )
    assert lease.expires_at == body["expires_at"]
    key = lease.key(credential_id)
    assert key is not None
    assert (key.username, key.display_name, key.sign_count) == ("alice", "Alice", 0)
    with leasing.engine.connect() as conn:
        stored = conn.execute(
            select(t.webauthn_credentials.c.public_key).where(
                t.webauthn_credentials.c.credential_id == credential_id
            )
        ).scalar_one()
    assert key.public_key == bytes(stored)
    card = lease.card(fingerprint)
    assert card is not None
    assert card.username == "bob"
    assert lease.rp_id == "auth.example"

    [row] = audit(leasing)
    assert row["outcome"] == "success"
    assert row["username"] == "alice"
    assert row["client_id"] == "tokenstile-kiosk"
    assert row["detail"]["keys"] == 1
    assert row["detail"]["cards"] == 1
    assert row["detail"]["lease"] == lease.lease_id


def test_the_lease_lists_the_same_on_every_database(db_url: str, clock: FrozenClock) -> None:
    dep = make_deployment(db_url, clock, kiosk_offline_hours=HOURS)
    try:
        credential_id, fingerprint = enrolled_people(dep)
        token, _ = Services(dep).offline_leases().issue(signed_in(dep, "bob"), dpop_jkt=None)
        claims = jwt.decode(token, options={"verify_signature": False})
        assert [k["id"] for k in claims["keys"]] == [b64url_encode(credential_id)]
        assert [c["fingerprint"] for c in claims["cards"]] == [fingerprint]
        assert [(k["username"], k["count"]) for k in claims["keys"]] == [("alice", 0)]
    finally:
        dep.close()


def test_revoked_factors_and_disabled_people_leave_the_next_lease(
    http: TestClient, leasing: Deployment, clock: FrozenClock
) -> None:
    credential_id, fingerprint = enrolled_people(leasing)
    token = signed_in(leasing, "alice")
    services = Services(leasing)
    services.piv_service().revoke(fingerprint, by="test")
    leasing.store.set_user_enabled(
        "alice", False, at=clock.now(), audit=AuditEvent("user_disabled", "info", username="alice")
    )
    add_user(leasing, "carol")
    lease = read_lease(
        lease_of(http, signed_in(leasing, "carol"))["lease"],
        jwks(http),
        issuer=ISSUER,
        client_id="tokenstile-kiosk",
        now=clock.now(),
    )
    assert lease.key(credential_id) is None
    assert lease.card(fingerprint) is None
    assert (lease.keys, lease.cards) == ((), ())
    # Alice's own session ended when she was disabled: her token gets nothing.
    refused = http.post("/kiosk/offline-lease", headers={"Authorization": f"Bearer {token}"})
    assert refused.status_code == 401


@pytest.mark.parametrize(
    "headers",
    [
        {},
        {"Authorization": "Bearer not-a-token"},
        {"Authorization": "Basic YWxpY2U6c2VjcmV0"},
    ],
    ids=["no token", "garbage", "wrong scheme"],
)
def test_a_stranger_on_the_network_gets_no_lease(
    http: TestClient, leasing: Deployment, headers: dict[str, str]
) -> None:
    enrolled_people(leasing)
    answer = http.post("/kiosk/offline-lease", headers=headers)
    assert answer.status_code == 401
    assert answer.json()["error"] == "invalid_token"
    assert "lease" not in answer.text
    assert audit(leasing) == []


def test_an_app_session_or_a_derived_token_gets_no_lease(
    http: TestClient, leasing: Deployment
) -> None:
    enrolled_people(leasing)
    # A desktop app's own client (not a kiosk): its signed-in session is refused.
    leasing.store.add_client(
        client_id="desk-app",
        name="Desk app",
        kind="app",
        secret_hash=None,
        audiences=[],
        scopes=["openid"],
        at=0.0,
        audit=AuditEvent("client_added", "info", client_id="desk-app"),
    )
    app = signed_in(leasing, "alice", client_id="desk-app")
    refused = http.post("/kiosk/offline-lease", headers={"Authorization": f"Bearer {app}"})
    assert refused.status_code == 400
    assert refused.json()["error"] == "unauthorized_client"
    [row] = audit(leasing)
    assert (row["outcome"], row["client_id"]) == ("failure", "desk-app")

    # The kiosk session's token with one character of its signature changed.
    kiosk_token = signed_in(leasing, "alice")
    head, payload, signature = kiosk_token.split(".")
    flipped = signature[:-2] + ("A" if signature[-2] != "A" else "B") + signature[-1]
    tampered = http.post(
        "/kiosk/offline-lease",
        headers={"Authorization": f"Bearer {head}.{payload}.{flipped}"},
    )
    assert tampered.status_code == 401
    assert len(audit(leasing)) == 1


def test_leases_are_off_unless_a_lifetime_is_set(tmp_path: Path, clock: FrozenClock) -> None:
    dep = make_deployment(f"sqlite:///{tmp_path / 'off.db'}", clock)
    try:
        add_user(dep, "alice")
        with TestClient(create_app(dep), base_url=ISSUER) as client:
            answer = client.post(
                "/kiosk/offline-lease",
                headers={"Authorization": f"Bearer {signed_in(dep, 'alice')}"},
            )
        assert answer.status_code == 404
        assert answer.json()["error"] == "offline_disabled"
    finally:
        dep.close()


def test_the_kiosk_refuses_a_tampered_expired_or_foreign_lease(
    http: TestClient, leasing: Deployment, clock: FrozenClock
) -> None:
    enrolled_people(leasing)
    token = lease_of(http, signed_in(leasing, "alice"))["lease"]
    keys = jwks(http)
    now = clock.now()

    def refused(text: str, **kwargs: Any) -> str:
        args: dict[str, Any] = {"issuer": ISSUER, "client_id": "tokenstile-kiosk", "now": now}
        args.update(kwargs)
        with pytest.raises(LeaseInvalid) as caught:
            read_lease(text, args.pop("jwks", keys), **args)
        return caught.value.message

    head, _payload, signature = token.split(".")
    claims = jwt.decode(token, options={"verify_signature": False})
    # A local app adds itself a key: the signature no longer holds.
    claims["keys"].append(dict(claims["keys"][0], username="mallory"))
    added = b64url_encode(jwt.utils.force_bytes(json.dumps(claims)))
    assert "does not verify" in refused(f"{head}.{added}.{signature}")
    # Past its expiry (the kiosk's clock), for another kiosk, from another issuer.
    assert "expired" in refused(token, now=now + HOURS * 3600)
    assert "does not verify" in refused(token, client_id="kiosk-ward-7")
    assert "does not verify" in refused(token, issuer="https://rogue.example")
    # Signed by a key the service does not publish (a rogue server's own key).
    rogue = ec.generate_private_key(ec.SECP256R1())
    forged = jwt.encode(
        claims, rogue, algorithm="ES256", headers={"typ": LEASE_TYPE, "kid": "rogue"}
    )
    assert "does not publish" in refused(forged)
    # The service's own access token is not a lease, nor is alg none.
    assert "not a signed lease" in refused(signed_in(leasing, "alice"))
    none_header = b64url_encode(json.dumps({"alg": "none", "typ": LEASE_TYPE}).encode())
    unsigned = f"{none_header}.{added}."
    assert "not a signed lease" in refused(unsigned)
    assert "not a signed lease" in refused("x" * 10)
    assert read_lease(token, keys, issuer=ISSUER, client_id="tokenstile-kiosk", now=now)


# -- the kiosk's own check of a security key against the lease ----------------------------


def offline_lease(http: TestClient, dep: Deployment, clock: FrozenClock) -> Lease:
    token = lease_of(http, signed_in(dep, "bob"))["lease"]
    return read_lease(
        token, jwks(http), issuer=ISSUER, client_id="tokenstile-kiosk", now=clock.now()
    )


def test_a_key_on_the_lease_signs_in_offline_with_its_pin(
    http: TestClient, leasing: Deployment, clock: FrozenClock
) -> None:
    kiosk = Kiosk()
    credential_id, _ = enrolled_people(leasing, kiosk)
    lease = offline_lease(http, leasing, clock)
    counters: dict[str, int] = {}
    steps = OfflineKeyLogin(lease, origin=ISSUER, clock=clock, counters=counters)

    signed = login_with_key(kiosk.client, steps)
    assert (signed.username, signed.display_name, signed.factor) == ("alice", "Alice", "fido2")
    assert signed.credential == b64url_encode(credential_id)
    assert (signed.acr, signed.amr, signed.lease_id) == ("phr", ("hwk", "pin"), lease.lease_id)
    assert signed.auth_time == clock.now()
    assert kiosk.pin_prompts  # the PIN was asked for
    assert counters[signed.credential] > 0

    # The same answer again (a replay from a recording): its challenge is spent.
    options = steps.begin()
    answer = kiosk.authenticate(options["publicKey"])
    steps.complete(options["handle"], answer)
    with pytest.raises(OfflineSignInRefused, match="expired"):
        steps.complete(options["handle"], answer)
    # ... and under a fresh challenge it does not verify.
    fresh = steps.begin()
    with pytest.raises(OfflineSignInRefused, match="challenge"):
        steps.complete(fresh["handle"], answer)


def test_the_kiosk_refuses_what_the_service_would(
    http: TestClient, leasing: Deployment, clock: FrozenClock
) -> None:
    kiosk = Kiosk()
    credential_id, _ = enrolled_people(leasing, kiosk)
    lease = offline_lease(http, leasing, clock)
    ref = b64url_encode(credential_id)

    # A touch without the PIN (user verification off in what reaches the key).
    steps = OfflineKeyLogin(lease, origin=ISSUER, clock=clock)
    options = steps.begin()
    weak = dict(options["publicKey"], userVerification="discouraged")
    no_pin = Kiosk(kiosk.device, pin=None)
    with pytest.raises(OfflineSignInRefused, match="verif"):
        steps.complete(options["handle"], no_pin.authenticate(weak))

    # A copy of the key: its counter is behind what this kiosk has already seen.
    copied = OfflineKeyLogin(lease, origin=ISSUER, clock=clock, counters={ref: 10**6})
    with pytest.raises(OfflineSignInRefused, match="backwards"):
        login_with_key(kiosk.client, copied)

    # A key enrolled after the lease was signed is not on it.
    newcomer = Kiosk()
    add_user(leasing, "dave")
    enroll(Services(leasing).webauthn_service(), newcomer, "dave")
    with pytest.raises(OfflineSignInRefused, match="not on the kiosk's offline list"):
        login_with_key(newcomer.client, OfflineKeyLogin(lease, origin=ISSUER, clock=clock))

    # The lease runs out (the kiosk's clock): no sign-in, not even one begun before.
    late = OfflineKeyLogin(lease, origin=ISSUER, clock=clock)
    begun = late.begin()
    answer = kiosk.authenticate(begun["publicKey"])
    clock.advance(HOURS * 3600)
    with pytest.raises(OfflineSignInRefused, match="expired"):
        late.complete(begun["handle"], answer)
    with pytest.raises(OfflineSignInRefused, match="expired"):
        late.begin()


def test_a_lease_for_another_site_is_never_signed_for(
    http: TestClient, leasing: Deployment, clock: FrozenClock
) -> None:
    kiosk = Kiosk()
    enrolled_people(leasing, kiosk)
    lease = offline_lease(http, leasing, clock)
    # A rogue lease naming another rp id (the key would sign for the rogue site).
    rogue = dataclasses.replace(lease, rp_id="rogue.example")
    touched = kiosk.touches
    with pytest.raises(OriginMismatch):
        login_with_key(kiosk.client, OfflineKeyLogin(rogue, origin=ISSUER, clock=clock))
    assert kiosk.touches == touched


# -- the kiosk's own check of a card against the lease ------------------------------------


def card_of(holder: str) -> tuple[PivCard, bytes]:
    card = PivCard(DirectConnection(create_piv_card(holder=holder)))
    der = card.read_certificate(PivSlot.AUTHENTICATION).public_bytes(serialization.Encoding.DER)
    return card, der


def test_a_card_on_the_lease_signs_in_offline_with_its_pin(
    http: TestClient, leasing: Deployment, clock: FrozenClock
) -> None:
    enrolled_people(leasing)
    add_user(leasing, "erin")
    card, der = card_of("Erin")
    Services(leasing).piv_service().register("erin", der, by="test")
    lease = offline_lease(http, leasing, clock)
    steps = OfflineCardLogin(lease, origin=ISSUER, clock=clock)

    # A wrong PIN, then the person gives up: the card signs nothing, nobody signs in.
    with pytest.raises(PinEntryCancelled):
        login_with_card(card, steps, wrong_then_cancel())

    asked: list[PinRequest] = []
    signed = login_with_card(card, steps, lambda request: asked.append(request) or DEFAULT_PIN)
    assert (signed.username, signed.factor, signed.acr) == ("erin", "piv", "phr")
    assert signed.credential == hashlib.sha256(der).hexdigest()
    assert signed.amr == ("sc", "pin")
    assert len(asked) == 1

    # A replayed signature: the handle is spent, and a new challenge needs a new one.
    challenge = steps.begin(der)
    message = login_message(steps.origin, challenge.challenge)
    signature = card.sign(message, pin=DEFAULT_PIN)
    steps.complete(challenge.handle, signature)
    with pytest.raises(OfflineSignInRefused, match="expired"):
        steps.complete(challenge.handle, signature)
    again = steps.begin(der)
    with pytest.raises(OfflineSignInRefused, match="does not verify"):
        steps.complete(again.handle, signature)


def test_a_card_not_on_the_lease_is_refused_before_the_pin(
    http: TestClient, leasing: Deployment, clock: FrozenClock
) -> None:
    enrolled_people(leasing)
    lease = offline_lease(http, leasing, clock)
    stranger, _ = card_of("Mallory")
    asked: list[PinRequest] = []
    with pytest.raises(OfflineSignInRefused, match="not on the kiosk's offline list"):
        login_with_card(
            stranger,
            OfflineCardLogin(lease, origin=ISSUER, clock=clock),
            lambda request: asked.append(request) or DEFAULT_PIN,
        )
    assert asked == []


def wrong_then_cancel() -> Callable[[PinRequest], str | None]:
    answers = iter(["000000", None])
    return lambda _request: next(answers)


# -- back online: the evidence exchanged for a real session -------------------------------


def exchange(
    http: TestClient, factor: str, evidence: Any, **extra: Any
) -> tuple[int, dict[str, Any]]:
    body = {"factor": factor, "evidence": evidence, "client_id": "tokenstile-kiosk", **extra}
    answer = http.post("/kiosk/offline-session", json=body)
    result: dict[str, Any] = answer.json()
    return answer.status_code, result


def exchanges(dep: Deployment) -> list[dict[str, Any]]:
    return [e for e in dep.store.audit_entries() if e["event"] == "offline_exchange"]


def test_back_online_a_key_sign_in_becomes_a_session_once(
    http: TestClient, leasing: Deployment, clock: FrozenClock
) -> None:
    kiosk = Kiosk()
    enrolled_people(leasing, kiosk)
    lease = offline_lease(http, leasing, clock)
    signed = login_with_key(kiosk.client, OfflineKeyLogin(lease, origin=ISSUER, clock=clock))
    clock.advance(3600)  # an hour offline

    events = [{"event": "offline_sign_in", "outcome": "success", "username": "alice", "at": 1.0}]
    status, body = exchange(http, "fido2", signed.evidence, events=events)
    assert status == 200, body
    claims = jwt.decode(body["access_token"], options={"verify_signature": False})
    assert claims["sub"] == "alice"
    assert claims["acr"] == "phr"
    assert claims["auth_time"] == int(signed.auth_time)  # when the key signed, not now
    [done] = exchanges(leasing)
    assert (done["outcome"], done["username"]) == ("success", "alice")
    reported = [e for e in leasing.store.audit_entries() if e["event"] == "offline_kiosk_event"]
    assert [r["detail"]["reported"]["event"] for r in reported] == ["offline_sign_in"]

    # The same evidence again (a copy a local program kept): spent.
    status, body = exchange(http, "fido2", signed.evidence)
    assert status == 400
    assert "already exchanged" in body["error_description"]
    assert exchanges(leasing)[-1]["detail"]["reason"] == "replayed"


def test_back_online_what_changed_meanwhile_ends_the_offline_session(
    http: TestClient, leasing: Deployment, clock: FrozenClock
) -> None:
    kiosk = Kiosk()
    credential_id, _ = enrolled_people(leasing, kiosk)
    lease = offline_lease(http, leasing, clock)
    steps = OfflineKeyLogin(lease, origin=ISSUER, clock=clock)
    first = login_with_key(kiosk.client, steps)
    second = login_with_key(kiosk.client, steps)

    # A changed answer does not verify (and is not spent).
    tampered = json.loads(json.dumps(first.evidence))
    tampered["response"]["signature"] = b64url_encode(b"\x30\x06\x02\x01\x01\x02\x01\x01")
    status, body = exchange(http, "fido2", tampered)
    assert status == 400
    assert "does not verify" in body["error_description"]

    # The key signed in online since the first offline sign-in: its counter moved on.
    assert exchange(http, "fido2", second.evidence)[0] == 200
    status, body = exchange(http, "fido2", first.evidence)
    assert status == 400
    assert "counter" in body["error_description"]
    # ... and the key is not suspended for it (a late exchange is not a clone).
    with leasing.engine.connect() as conn:
        state = conn.execute(
            select(t.webauthn_credentials.c.state).where(
                t.webauthn_credentials.c.credential_id == credential_id
            )
        ).scalar_one()
    assert state == "active"

    # Revoked while the kiosk was offline: the next exchange is refused.
    third = login_with_key(kiosk.client, steps)
    services = Services(leasing)
    services.webauthn_service().revoke(credential_id, by="test")
    status, body = exchange(http, "fido2", third.evidence)
    assert status == 400
    assert "revoked" in body["error_description"]
    assert exchanges(leasing)[-1]["detail"]["reason"] == "credential_revoked"


def test_back_online_stale_or_foreign_evidence_is_refused(
    http: TestClient, leasing: Deployment, clock: FrozenClock
) -> None:
    kiosk = Kiosk()
    enrolled_people(leasing, kiosk)
    lease = offline_lease(http, leasing, clock)
    signed = login_with_key(kiosk.client, OfflineKeyLogin(lease, origin=ISSUER, clock=clock))
    # Older than any lease lives.
    clock.advance(HOURS * 3600 + 1)
    status, body = exchange(http, "fido2", signed.evidence)
    assert status == 400
    assert "older than any lease" in body["error_description"]

    # An online login's answer (a server's random challenge, not a kiosk's dated one)
    # replayed here is not an offline sign-in: its date is nonsense.
    services = Services(leasing)
    options = services.webauthn_service().login_options()
    online = kiosk.authenticate(options.public_key)
    status, body = exchange(http, "fido2", online)
    assert status == 400
    reason = exchanges(leasing)[-1]["detail"]["reason"]
    assert reason in {"too_old", "future"}

    # Events ride only on an exchange that succeeded: nothing of a refused one is kept.
    assert not [e for e in leasing.store.audit_entries() if e["event"] == "offline_kiosk_event"]
    # A client that is not a kiosk cannot bring one.
    status, body = exchange(http, "fido2", signed.evidence, client_id="tokenstile-nope")
    assert status in {400, 401}


@pytest.mark.parametrize(
    "body",
    [
        {"factor": "otp", "evidence": {}},
        {"factor": "fido2", "evidence": "x"},
        {"factor": "fido2", "evidence": {}, "events": [{"event": "x" * 500}]},
        {"factor": "fido2", "evidence": {}, "events": [{"event": "a"}] * 51},
        {"factor": "fido2", "evidence": {}, "events": [{"event": "a", "at": "\u0000"}]},
        {"factor": "piv", "evidence": {"challenge": "!!", "signature": "", "certificate": ""}},
    ],
    ids=["otp", "not an object", "long event", "too many events", "control", "bad base64"],
)
def test_bad_offline_exchanges_are_clear_requests_errors(
    http: TestClient, leasing: Deployment, body: dict[str, Any]
) -> None:
    answer = http.post("/kiosk/offline-session", json=body)
    assert answer.status_code == 400
    assert answer.json()["error"] in {"invalid_request", "invalid_grant"}
    assert not [e for e in leasing.store.audit_entries() if e["event"] == "offline_kiosk_event"]


def test_back_online_a_card_sign_in_becomes_a_session_unless_revoked(
    http: TestClient, leasing: Deployment, clock: FrozenClock
) -> None:
    enrolled_people(leasing)
    add_user(leasing, "erin")
    card, der = card_of("Erin")
    piv = Services(leasing).piv_service()
    piv.register("erin", der, by="test")
    lease = offline_lease(http, leasing, clock)
    steps = OfflineCardLogin(lease, origin=ISSUER, clock=clock)
    first = login_with_card(card, steps, lambda _request: DEFAULT_PIN)
    second = login_with_card(card, steps, lambda _request: DEFAULT_PIN)

    status, body = exchange(http, "piv", first.evidence)
    assert status == 200, body
    claims = jwt.decode(body["access_token"], options={"verify_signature": False})
    assert (claims["sub"], claims["amr"]) == ("erin", ["sc", "pin"])
    assert exchange(http, "piv", first.evidence)[0] == 400  # spent

    # Another card's certificate with this card's signature: not this card.
    _, other = card_of("Other")
    swapped = dict(second.evidence, certificate=b64url_encode(other))
    assert exchange(http, "piv", swapped)[0] == 400
    piv.revoke(hashlib.sha256(der).hexdigest(), by="test")
    status, body = exchange(http, "piv", second.evidence)
    assert status == 400
    assert "revoked" in body["error_description"]
