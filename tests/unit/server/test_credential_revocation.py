"""Revoking a fob, a security key or a card ends the sessions it opened (and only those):
real login routes and the admin API, in-process through the ASGI app."""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select

from tests.admin_tokens import new_admin_headers, token_for
from tests.conftest import add_user
from tests.unit.factors.webauthn_keys import Kiosk, resigned
from tests.unit.server.piv_client import HttpPivServer
from tests.unit.server.test_webauthn_routes import enroll, sign
from tokenstile.cli.main import main
from tokenstile.clock import FrozenClock
from tokenstile.deployment import Deployment
from tokenstile.devices import DirectConnection, PivCard
from tokenstile.devices.piv_login import login_with_card
from tokenstile.factors.otp import totp_code
from tokenstile.factors.otp_service import OtpService
from tokenstile.factors.piv_service import PivService
from tokenstile.server.app import create_app
from tokenstile.store import schema as t
from tokenstile.store.otp_repository import SqlOtpStore
from tokenstile.store.piv_repository import SqlPivStorage
from tokenstile.virtual.piv_provision import create_piv_card

KIOSK = "tokenstile-kiosk"
SEED_A = b"12345678901234567890"
SEED_B = b"abcdefghijabcdefghij"


@pytest.fixture
def http(deployment: Deployment) -> Iterator[TestClient]:
    with TestClient(create_app(deployment), base_url="https://auth.example") as client:
        yield client


@pytest.fixture
def admin(deployment: Deployment) -> dict[str, str]:
    return new_admin_headers(deployment)


@pytest.fixture
def introspect(http: TestClient, deployment: Deployment) -> Any:
    rs, secret = deployment.add_client(
        "rs", kind="resource-server", audiences=["urn:tokenstile:local"], scopes=[]
    )
    assert secret is not None

    def active(access_token: str) -> bool:
        answer = http.post("/introspect", data={"token": access_token}, auth=(rs.client_id, secret))
        assert answer.status_code == 200
        return bool(answer.json()["active"])

    return active


def refresh(http: TestClient, tokens: dict[str, Any]) -> Any:
    return http.post(
        "/token",
        data={
            "grant_type": "refresh_token",
            "refresh_token": tokens["refresh_token"],
            "client_id": KIOSK,
        },
    )


def assert_ended(http: TestClient, introspect: Any, tokens: dict[str, Any]) -> None:
    refused = refresh(http, tokens)
    assert refused.status_code == 400
    assert refused.json()["error"] == "invalid_grant"
    assert introspect(tokens["access_token"]) is False


def assert_alive(http: TestClient, introspect: Any, tokens: dict[str, Any]) -> None:
    assert introspect(tokens["access_token"]) is True
    assert refresh(http, tokens).status_code == 200


def ended_rows(dep: Deployment) -> list[dict[str, Any]]:
    return [e for e in dep.store.audit_entries() if e["event"] == "session_revoked"]


def session_credential(dep: Deployment, sid: str) -> str | None:
    with dep.engine.connect() as conn:
        found: str | None = conn.execute(
            select(t.sessions.c.credential).where(t.sessions.c.sid == sid)
        ).scalar_one()
    return found


def otp_login(http: TestClient, seed: bytes, clock: FrozenClock) -> dict[str, Any]:
    answer = http.post(
        "/login/totp", json={"username": "alice", "code": totp_code(seed, clock.now())}
    )
    assert answer.status_code == 200, answer.text
    tokens: dict[str, Any] = answer.json()
    return tokens


def two_otp_sessions(
    http: TestClient, deployment: Deployment, clock: FrozenClock
) -> tuple[str, dict[str, Any], dict[str, Any]]:
    add_user(deployment, "alice")
    repo = OtpService(SqlOtpStore(deployment.store), box=deployment.kek, clock=clock)
    repo.enroll_app("alice", by="test", seed=SEED_A)
    [first] = [c.serial for c in repo.credentials("alice")]
    repo.enroll_app("alice", by="test", seed=SEED_B)
    return first, otp_login(http, SEED_A, clock), otp_login(http, SEED_B, clock)


def test_revoking_a_fob_ends_its_sessions_only(
    http: TestClient,
    deployment: Deployment,
    admin: dict[str, str],
    introspect: Any,
    clock: FrozenClock,
) -> None:
    serial, stolen, other = two_otp_sessions(http, deployment, clock)
    sid = _sid_of(stolen["access_token"])
    assert session_credential(deployment, sid) == f"otp:{serial}"
    answer = http.post("/admin/otp/revoke", json={"serial": serial}, headers=admin)
    assert answer.status_code == 200, answer.text
    assert (answer.json()["state"], answer.json()["sessions_ended"]) == ("revoked", 1)
    assert_ended(http, introspect, stolen)
    assert_alive(http, introspect, other)
    [row] = ended_rows(deployment)
    assert row["sid"] == sid
    assert row["username"] == "alice"
    assert row["detail"]["reason"] == "credential_revoked"
    assert row["detail"]["credential"] == f"otp:{serial}"
    with deployment.engine.connect() as conn:
        reason = conn.execute(
            select(t.sessions.c.revoke_reason).where(t.sessions.c.sid == sid)
        ).scalar_one()
    assert reason == "credential_revoked"


def _sid_of(access_token: str) -> str:
    import jwt

    sid: str = jwt.decode(access_token, options={"verify_signature": False})["sid"]
    return sid


def test_revoking_a_security_key_ends_its_sessions_only(
    http: TestClient, deployment: Deployment, admin: dict[str, str], introspect: Any
) -> None:
    add_user(deployment, "alice")
    stolen_key, other_key = Kiosk(), Kiosk()
    credential_id = enroll(http, admin, stolen_key)["credential_id"]
    enroll(http, admin, other_key)
    sessions = []
    for key in (stolen_key, other_key):
        handle, assertion = sign(http, key)
        answer = http.post("/login/webauthn", json={"handle": handle, "credential": assertion})
        assert answer.status_code == 200, answer.text
        sessions.append(answer.json())
    stolen, other = sessions
    sid = _sid_of(stolen["access_token"])
    assert session_credential(deployment, sid) == f"fido2:{credential_id}"
    answer = http.post("/admin/fido2/revoke", json={"credential_id": credential_id}, headers=admin)
    assert answer.status_code == 200, answer.text
    assert (answer.json()["state"], answer.json()["sessions_ended"]) == ("revoked", 1)
    assert_ended(http, introspect, stolen)
    assert_alive(http, introspect, other)
    [row] = ended_rows(deployment)
    assert (row["sid"], row["detail"]["reason"]) == (sid, "credential_revoked")
    assert row["detail"]["credential"] == f"fido2:{credential_id}"
    # Only the revoke answer carries the count; the listing is as before.
    assert (
        "sessions_ended"
        not in http.get("/admin/fido2/credentials", headers=admin).json()["credentials"][0]
    )


def test_a_cloned_key_loses_the_sessions_it_opened(
    http: TestClient, deployment: Deployment, admin: dict[str, str], introspect: Any
) -> None:
    add_user(deployment, "alice")
    key = Kiosk()
    credential_id = enroll(http, admin, key)["credential_id"]
    handle, assertion = sign(http, key)
    genuine = http.post("/login/webauthn", json={"handle": handle, "credential": assertion})
    assert genuine.status_code == 200
    handle, assertion = sign(http, key)
    clone = resigned(key, assertion, count=1)  # a copy a step behind
    refused = http.post("/login/webauthn", json={"handle": handle, "credential": clone})
    assert refused.status_code == 400
    assert_ended(http, introspect, genuine.json())
    [row] = ended_rows(deployment)
    assert row["detail"]["reason"] == "credential_suspended"
    assert row["detail"]["credential"] == f"fido2:{credential_id}"


def test_revoking_a_card_ends_its_sessions_only(
    http: TestClient,
    deployment: Deployment,
    admin: dict[str, str],
    introspect: Any,
    clock: FrozenClock,
) -> None:
    from tokenstile.virtual.piv_card import PivCardApplet

    clock.set(time.time())  # the virtual card's certificate starts now
    # The clock went back: the service refuses a token issued in its future (issue 13), so
    # the admin signs in again on the rewound clock.
    root = deployment.store.find_user("root")
    assert root is not None
    admin = {"Authorization": f"Bearer {token_for(deployment, root)}"}
    card = PivCard(DirectConnection(PivCardApplet(create_piv_card(holder="Alice").state)))
    add_user(deployment, "alice")
    info = PivService(SqlPivStorage(deployment.store), box=deployment.kek, clock=clock).register(
        "alice",
        card.read_certificate().public_bytes(_der()),
        by="test",
    )
    stolen = login_with_card(card, HttpPivServer(http), lambda _request: "123456")
    OtpService(SqlOtpStore(deployment.store), box=deployment.kek, clock=clock).enroll_app(
        "alice", by="test", seed=SEED_A
    )
    other = otp_login(http, SEED_A, clock)
    assert session_credential(deployment, _sid_of(stolen["access_token"])) == (
        f"piv:{info.fingerprint}"
    )
    answer = http.post(
        "/admin/piv/revoke", json={"fingerprint": info.fingerprint[:16]}, headers=admin
    )
    assert answer.status_code == 200, answer.text
    assert (answer.json()["state"], answer.json()["sessions_ended"]) == ("revoked", 1)
    assert_ended(http, introspect, stolen)
    assert_alive(http, introspect, other)
    [row] = ended_rows(deployment)
    assert row["detail"]["credential"] == f"piv:{info.fingerprint}"


def _der() -> Any:
    from cryptography.hazmat.primitives.serialization import Encoding

    return Encoding.DER


def test_the_cli_says_how_many_sessions_ended(
    http: TestClient,
    deployment: Deployment,
    introspect: Any,
    clock: FrozenClock,
    capsys: pytest.CaptureFixture[str],
) -> None:
    serial, stolen, _ = two_otp_sessions(http, deployment, clock)
    clock.set(clock.now() + 30)  # the next time step: the fob opens a second session
    again = otp_login(http, SEED_A, clock)
    capsys.readouterr()
    code = main(["manage", "--db", deployment.settings.db, "otp", "revoke", serial])
    out = capsys.readouterr().out
    assert (code, out.strip()) == (0, f"Revoked {serial} of alice; 2 sessions ended.")
    assert_ended(http, introspect, stolen)
    assert introspect(again["access_token"]) is False
