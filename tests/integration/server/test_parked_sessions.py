"""Parked sessions (issue 17) at ``POST /session/park`` and ``POST /session/resume``,
through the real ASGI app over httpx (a frozen clock) and through a real server process.

The attacker is a desktop app of the same OS user: it can read the keychain, so it holds
the parked session's refresh token (and its DPoP key, when it steals that too). The
service must refuse it everything until the same person signs in again at the kiosk.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import httpx
import jwt
import pytest
from cryptography.hazmat.primitives.asymmetric import ec
from fastapi.testclient import TestClient

from tests.conftest import ServerProcess, add_user, kiosk_client
from tokenstile.clock import FrozenClock
from tokenstile.config import load_settings
from tokenstile.deployment import DEFAULT_KIOSK_CLIENT_ID, Deployment
from tokenstile.protocol.dpop import dpop_public_jwk, make_dpop_proof
from tokenstile.protocol.jose import jwk_thumbprint
from tokenstile.server.app import create_app
from tokenstile.store.purge import purge_expired
from tokenstile.tokens.model import LOCAL_AUDIENCE
from tokenstile.tokens.service import TokenResponse

ISSUER = "https://auth.example"
FILES = "https://files.example"
EXCHANGE = "urn:ietf:params:oauth:grant-type:token-exchange"
ACCESS = "urn:ietf:params:oauth:token-type:access_token"
PARK_SECONDS = 15 * 60  # the default kiosk_park_minutes
Json = dict[str, Any]


@pytest.fixture
def http(deployment: Deployment) -> Iterator[TestClient]:
    with TestClient(create_app(deployment), base_url=ISSUER) as client:
        yield client


def sign_in(
    dep: Deployment, username: str = "alice", *, acr: str = "otp", **kwargs: Any
) -> TokenResponse:
    user = dep.store.find_user(username) or add_user(dep, username)
    return dep.token_service().sessions.open_session(
        user=user, client=kiosk_client(dep), factor="otp", amr=["otp"], acr=acr, **kwargs
    )


def post(
    http: TestClient | httpx.Client,
    path: str,
    headers: dict[str, str] | None = None,
    **form: str,
) -> httpx.Response:
    return http.post(
        path, data={"client_id": DEFAULT_KIOSK_CLIENT_ID, **form}, headers=headers or {}
    )


def park(http: TestClient | httpx.Client, refresh: str, **kw: Any) -> httpx.Response:
    return post(http, "/session/park", refresh_token=refresh, **kw)


def resume(http: TestClient | httpx.Client, refresh: str, proof: str, **kw: Any) -> httpx.Response:
    return post(http, "/session/resume", refresh_token=refresh, proof_token=proof, **kw)


def refresh(http: TestClient | httpx.Client, token: str, **kw: Any) -> httpx.Response:
    return post(http, "/token", grant_type="refresh_token", refresh_token=token, **kw)


def exchange(http: TestClient | httpx.Client, subject: str) -> httpx.Response:
    return http.post(
        "/token",
        data={
            "grant_type": EXCHANGE,
            "subject_token": subject,
            "subject_token_type": ACCESS,
            "audience": FILES,
            "client_id": "files",
        },
    )


def refused(response: httpx.Response, error: str) -> str:
    assert response.status_code == (401 if error == "invalid_client" else 400), response.text
    assert response.headers["cache-control"] == "no-store"
    body: Json = response.json()
    assert body["error"] == error, body
    description: str = body["error_description"]
    assert description.endswith(".")
    return description


def claims(token: str) -> Json:
    decoded: Json = jwt.decode(token, options={"verify_signature": False})
    return decoded


def events(dep: Deployment, name: str) -> list[Json]:
    return [e for e in dep.store.audit_entries() if e["event"] == name]


def session_row(dep: Deployment, sid: str) -> Any:
    with dep.store.read() as tx:
        return tx.get_session(sid)


@pytest.fixture
def files_app(deployment: Deployment) -> str:
    client, _ = deployment.add_client(
        "files", kind="app", audiences=[FILES], scopes=["openid"], client_id="files"
    )
    return client.client_id


def test_a_parked_session_is_refused_to_whoever_holds_its_tokens(
    http: TestClient, deployment: Deployment, clock: FrozenClock, files_app: str
) -> None:
    alice = sign_in(deployment)
    answer = park(http, alice.refresh_token)
    assert answer.status_code == 200, answer.text
    assert answer.json() == {"sid": alice.sid, "parked_until": clock.now() + PARK_SECONDS}
    assert answer.headers["cache-control"] == "no-store"
    # The malicious app that read the keychain: refresh, exchange, introspection, userinfo.
    clock.advance(5)
    assert "parked" in refused(refresh(http, alice.refresh_token), "session_parked")
    refused(exchange(http, alice.access_token), "session_parked")
    info = http.get("/userinfo", headers={"Authorization": f"Bearer {alice.access_token}"})
    assert info.status_code == 401
    reasons = [e["detail"]["reason"] for e in events(deployment, "refresh")]
    assert reasons == ["session_parked"]
    assert [e["detail"]["reason"] for e in events(deployment, "token_exchange")] == [
        "session_parked"
    ]
    parked = events(deployment, "session_park")
    assert [(e["outcome"], e["username"], e["sid"]) for e in parked] == [
        ("success", "alice", alice.sid)
    ]
    # The refusals ended nothing: the session is still parked, not revoked.
    row = session_row(deployment, alice.sid)
    assert row.revoked_at is None
    assert row.parked_until == clock.now() - 5 + PARK_SECONDS
    # Parking it again does not move its deadline.
    refused(park(http, alice.refresh_token), "session_parked")
    assert session_row(deployment, alice.sid).parked_until == row.parked_until


def test_the_same_person_resumes_with_a_fresh_sign_in_and_the_old_token_is_spent(
    http: TestClient, deployment: Deployment, clock: FrozenClock
) -> None:
    alice = sign_in(deployment)
    assert park(http, alice.refresh_token).status_code == 200
    clock.advance(300)
    tap = sign_in(deployment, acr="otp")  # any acr proves the person (a tap, later)
    answer = resume(http, alice.refresh_token, tap.refresh_token)
    assert answer.status_code == 200, answer.text
    body = answer.json()
    assert body["refresh_token"] not in (alice.refresh_token, tap.refresh_token)
    # The original sign-in's claims: the proof shows presence, not a newer sign-in.
    before, after = claims(alice.access_token), claims(body["access_token"])
    assert (after["sid"], after["acr"], after["auth_time"]) == (
        alice.sid,
        before["acr"],
        before["auth_time"],
    )
    assert body["scope"] == alice.scope
    row = session_row(deployment, alice.sid)
    assert (row.parked_at, row.parked_until, row.revoked_at) == (None, None, None)
    proof = session_row(deployment, tap.sid)
    assert (proof.revoked_at, proof.revoke_reason) == (clock.now(), "resumed")
    # The apps get the same person's session back: the new refresh token works...
    assert refresh(http, body["refresh_token"]).status_code == 200
    # ... and the copy an app took from the keychain while Alice was away is a used
    # token now, retired too: even within the refresh grace period (where a lost
    # response's retry would pass) presenting it is reuse, which ends the session.
    clock.advance(2)
    refused(refresh(http, alice.refresh_token), "invalid_grant")
    assert session_row(deployment, alice.sid).revoke_reason == "refresh_token_reuse"
    resumed = events(deployment, "session_resume")
    assert [(e["outcome"], e["detail"].get("proof_sid")) for e in resumed] == [("success", tap.sid)]
    assert resumed[0]["detail"]["proof_acr"] == "otp"


def test_a_proof_of_another_person_is_refused_and_nothing_is_unparked(
    http: TestClient, deployment: Deployment, clock: FrozenClock
) -> None:
    alice = sign_in(deployment)
    park(http, alice.refresh_token)
    bob = sign_in(deployment, "bob")
    message = refused(resume(http, alice.refresh_token, bob.refresh_token), "invalid_grant")
    assert "Only the person who was parked" in message
    assert session_row(deployment, alice.sid).parked_until is not None
    assert session_row(deployment, bob.sid).revoked_at is None  # Bob's own sign-in stands
    alert = events(deployment, "session_resume")
    assert [(e["outcome"], e["username"], e["detail"]["reason"]) for e in alert] == [
        ("alert", "alice", "different_person")
    ]
    refused(refresh(http, alice.refresh_token), "session_parked")


def test_stale_early_or_foreign_proofs_are_refused(
    http: TestClient, deployment: Deployment, clock: FrozenClock
) -> None:
    before = sign_in(deployment)  # a session of Alice opened before the park
    clock.advance(1)
    alice = sign_in(deployment)
    park(http, alice.refresh_token)
    refused(resume(http, alice.refresh_token, before.refresh_token), "invalid_grant")
    refused(resume(http, alice.refresh_token, alice.refresh_token), "invalid_grant")
    refused(resume(http, alice.refresh_token, "not-a-token"), "invalid_grant")
    refused(resume(http, alice.refresh_token, ""), "invalid_request")
    stale = sign_in(deployment)
    clock.advance(121)  # past the resume window
    refused(resume(http, alice.refresh_token, stale.refresh_token), "invalid_grant")
    # a sign-in of Alice at another client is no proof of her at this kiosk
    other, _ = deployment.add_client(
        "kiosk-2", kind="kiosk", audiences=[], scopes=["openid"], client_id="kiosk-2"
    )
    user = deployment.store.find_user("alice")
    assert user is not None
    elsewhere = deployment.token_service().sessions.open_session(
        user=user, client=other, factor="otp", amr=["otp"], acr="otp"
    )
    refused(resume(http, alice.refresh_token, elsewhere.refresh_token), "invalid_grant")
    reasons = [e["detail"]["reason"] for e in events(deployment, "session_resume")]
    assert reasons == [
        "proof_before_park",
        "proof_is_parked_session",
        "unknown_proof",
        "proof_stale",
        "proof_client_mismatch",
    ]
    assert session_row(deployment, alice.sid).parked_until is not None


def test_a_resume_cannot_be_replayed(
    http: TestClient, deployment: Deployment, clock: FrozenClock
) -> None:
    alice = sign_in(deployment)
    park(http, alice.refresh_token)
    tap = sign_in(deployment)
    first = resume(http, alice.refresh_token, tap.refresh_token)
    assert first.status_code == 200
    again = resume(http, alice.refresh_token, tap.refresh_token)
    refused(again, "invalid_grant")
    # Parked again, the spent proof still resumes nothing.
    assert park(http, first.json()["refresh_token"]).status_code == 200
    refused(resume(http, first.json()["refresh_token"], tap.refresh_token), "invalid_grant")
    reasons = [e["detail"].get("reason") for e in events(deployment, "session_resume")]
    assert reasons == [None, "token_used", "proof_ended"]


def test_after_the_deadline_the_parked_session_is_revoked(
    http: TestClient, deployment: Deployment, clock: FrozenClock
) -> None:
    alice = sign_in(deployment)
    park(http, alice.refresh_token)
    clock.advance(PARK_SECONDS)
    tap = sign_in(deployment)
    message = refused(resume(http, alice.refresh_token, tap.refresh_token), "invalid_grant")
    assert "deadline" in message
    row = session_row(deployment, alice.sid)
    assert (row.revoked_at, row.revoke_reason) == (clock.now(), "park_expired")
    assert session_row(deployment, tap.sid).revoked_at is None  # the proof is not spent
    refused(refresh(http, alice.refresh_token), "invalid_grant")


def test_the_purge_ends_parked_sessions_past_their_deadline(
    http: TestClient, deployment: Deployment, clock: FrozenClock
) -> None:
    alice = sign_in(deployment)
    bob = sign_in(deployment, "bob")
    park(http, alice.refresh_token)
    clock.advance(60)
    park(http, bob.refresh_token)
    clock.advance(PARK_SECONDS - 30)  # Alice is overdue, Bob is not
    dry = purge_expired(deployment.store, now=clock.now(), dry_run=True)
    assert dry.parked_ended == 1
    report = purge_expired(deployment.store, now=clock.now())
    assert report.parked_ended == 1
    assert session_row(deployment, alice.sid).revoke_reason == "park_expired"
    assert session_row(deployment, bob.sid).revoked_at is None
    ended = [e for e in events(deployment, "session_revoked") if e["sid"] == alice.sid]
    assert [e["detail"]["reason"] for e in ended] == ["park_expired"]
    assert purge_expired(deployment.store, now=clock.now()).parked_ended == 0


def test_parking_needs_the_sessions_current_token_from_its_own_client(
    http: TestClient, deployment: Deployment, clock: FrozenClock
) -> None:
    alice = sign_in(deployment)
    bob = sign_in(deployment, "bob")
    # Someone else's session: a token one does not hold is just an unknown token.
    refused(park(http, "x" * 43), "invalid_grant")
    refused(park(http, ""), "invalid_request")
    # Another client presenting Bob's refresh token (an app registered at the service).
    deployment.add_client(
        "files", kind="app", audiences=[FILES], scopes=["openid"], client_id="files"
    )
    answer = http.post(
        "/session/park", data={"client_id": "files", "refresh_token": bob.refresh_token}
    )
    refused(answer, "invalid_grant")
    # A rotated (used) token parks nothing.
    new = refresh(http, alice.refresh_token).json()["refresh_token"]
    refused(park(http, alice.refresh_token), "invalid_grant")
    assert session_row(deployment, alice.sid).parked_until is None
    assert park(http, new).status_code == 200
    assert session_row(deployment, bob.sid).parked_until is None


def test_a_dpop_bound_session_parks_and_resumes_only_with_its_key(
    http: TestClient, deployment: Deployment, clock: FrozenClock
) -> None:
    key = ec.generate_private_key(ec.SECP256R1())
    thief = ec.generate_private_key(ec.SECP256R1())
    alice = sign_in(deployment, dpop_jkt=jwk_thumbprint(dpop_public_jwk(key)))

    def proof(path: str, signer: Any = key) -> dict[str, str]:
        return {
            "DPoP": make_dpop_proof(signer, method="POST", url=f"{ISSUER}{path}", now=clock.now())
        }

    refused(park(http, alice.refresh_token), "invalid_dpop_proof")
    refused(
        park(http, alice.refresh_token, headers=proof("/session/park", thief)), "invalid_dpop_proof"
    )
    assert park(http, alice.refresh_token, headers=proof("/session/park")).status_code == 200
    # The thief has the refresh token and its own key: refused before anything else.
    refused(
        refresh(http, alice.refresh_token, headers=proof("/token", thief)), "invalid_dpop_proof"
    )
    tap = sign_in(deployment)
    refused(
        resume(
            http, alice.refresh_token, tap.refresh_token, headers=proof("/session/resume", thief)
        ),
        "invalid_dpop_proof",
    )
    answer = resume(http, alice.refresh_token, tap.refresh_token, headers=proof("/session/resume"))
    assert answer.status_code == 200, answer.text
    assert answer.json()["token_type"] == "DPoP"


@pytest.mark.server
def test_park_and_resume_through_a_real_server(
    server_factory: Callable[..., ServerProcess],
) -> None:
    server = server_factory(kiosk_park_minutes=1)
    setup = Deployment(load_settings(db=server.settings.db, issuer=server.settings.issuer))
    try:
        alice = sign_in(setup)
        with server.client() as http:
            answer = park(http, alice.refresh_token)
            assert answer.status_code == 200, answer.text
            # the kiosk_park_minutes setting reached the server process
            assert answer.json()["parked_until"] - setup.clock.now() <= 60
            refused(refresh(http, alice.refresh_token), "session_parked")
            intro = http.post(
                "/userinfo", headers={"Authorization": f"Bearer {alice.access_token}"}
            )
            assert intro.status_code == 401
            refused(
                resume(http, alice.refresh_token, sign_in(setup, "bob").refresh_token),
                "invalid_grant",
            )
            back = resume(http, alice.refresh_token, sign_in(setup).refresh_token)
            assert back.status_code == 200, back.text
            me = http.get(
                "/userinfo", headers={"Authorization": f"Bearer {back.json()['access_token']}"}
            )
            assert me.json()["sub"] == "alice" or me.json()["preferred_username"] == "alice"
            assert refresh(http, back.json()["refresh_token"]).status_code == 200
        assert LOCAL_AUDIENCE
    finally:
        setup.close()
