"""Confirm with your key at ``POST /login/webauthn`` (the ``confirm`` member), through the
ASGI app with the software key driven by python-fido2's client; and the confirm token's
life afterwards: single use at ``/introspect``, never a session's token, short-lived.

The attacks: replay at introspection, the confirm token offered to token exchange, the
refresh grant and userinfo, someone else's key on the signed-in person's kiosk, a
confirm too weak for what the app asked, an expired one, and a reason with control
characters or too long.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import jwt
import pytest
from cryptography.hazmat.primitives.asymmetric import ec
from fastapi.testclient import TestClient

from tests.admin_tokens import new_admin_headers
from tests.conftest import add_user
from tests.unit.factors.webauthn_keys import Kiosk
from tests.unit.server.test_webauthn_routes import enroll, sign
from tokenstile.clock import FrozenClock
from tokenstile.deployment import Deployment
from tokenstile.protocol.dpop import make_dpop_proof
from tokenstile.server.app import create_app
from tokenstile.store.admin_repository import AdminRepository
from tokenstile.tokens.model import LOCAL_AUDIENCE

Json = dict[str, Any]
PAYROLL = "https://payroll.example"
EXCHANGE = "urn:ietf:params:oauth:grant-type:token-exchange"
ACCESS = "urn:ietf:params:oauth:token-type:access_token"


@pytest.fixture
def http(deployment: Deployment) -> Iterator[TestClient]:
    with TestClient(create_app(deployment), base_url="https://auth.example") as client:
        yield client


@pytest.fixture
def keys(http: TestClient, deployment: Deployment) -> dict[str, Kiosk]:
    """Alice's and Bob's keys, enrolled; a kiosk client that may also ask for payroll."""
    admin = new_admin_headers(deployment)
    found: dict[str, Kiosk] = {}
    for name in ("alice", "bob"):
        add_user(deployment, name)
        found[name] = Kiosk()
        enroll(http, admin, found[name], name)
    deployment.add_client(
        "Ward kiosk",
        kind="kiosk",
        audiences=[LOCAL_AUDIENCE, PAYROLL],
        scopes=["openid", "profile"],
        client_id="ward",
    )
    return found


@pytest.fixture
def payroll_rs(deployment: Deployment) -> tuple[str, str]:
    client, secret = deployment.add_client(
        "payroll-api", kind="resource-server", audiences=[PAYROLL], scopes=[]
    )
    assert secret is not None
    return client.client_id, secret


def sign_in(http: TestClient, key: Kiosk) -> Json:
    handle, credential = sign(http, key)
    response = http.post(
        "/login/webauthn", json={"handle": handle, "credential": credential, "client_id": "ward"}
    )
    assert response.status_code == 200, response.text
    body: Json = response.json()
    return body


def confirm(http: TestClient, key: Kiosk, session_token: str, **extra: Any) -> Any:
    handle, credential = sign(http, key)
    request = {"session_token": session_token, "reason": "approve refund #1234", "app": "Payroll"}
    return http.post(
        "/login/webauthn",
        json={
            "handle": handle,
            "credential": credential,
            "client_id": "ward",
            "confirm": {**request, **extra},
        },
    )


def claims(token: str) -> Json:
    decoded: Json = jwt.decode(token, options={"verify_signature": False})
    return decoded


def confirms(dep: Deployment) -> list[Json]:
    return [e for e in dep.store.audit_entries() if e["event"] == "confirm"]


def introspect(http: TestClient, rs: tuple[str, str], token: str) -> Json:
    response = http.post("/introspect", data={"token": token}, auth=rs)
    assert response.status_code == 200, response.text
    body: Json = response.json()
    return body


def test_a_confirm_gives_a_short_single_use_token_of_the_ceremony(
    http: TestClient,
    deployment: Deployment,
    clock: FrozenClock,
    keys: dict[str, Kiosk],
    payroll_rs: tuple[str, str],
) -> None:
    session = sign_in(http, keys["alice"])
    clock.advance(500)  # the sign-in is minutes old; the confirm is now
    response = confirm(http, keys["alice"], session["access_token"], audience=PAYROLL)
    assert response.status_code == 200, response.text
    body = response.json()
    assert set(body) == {"access_token", "token_type", "expires_in"}  # no refresh token
    assert body["expires_in"] == 60
    token = claims(body["access_token"])
    assert token["sub"] == "alice"
    assert token["aud"] == PAYROLL
    assert token["auth_time"] == int(clock.now())
    assert token["exp"] - token["iat"] == 60
    assert token["acr"] == "phr"
    assert token["amr"] == ["swk", "pin", "mfa"]
    assert token["confirm"] == {"reason": "approve refund #1234", "app": "Payroll"}
    assert token["sid"] == claims(session["access_token"])["sid"]
    row = confirms(deployment)[-1]
    assert row["outcome"] == "success"
    assert row["detail"]["reason"] == "approve refund #1234"
    assert row["detail"]["app"] == "Payroll"
    assert row["detail"]["credential"].startswith("fido2:")
    assert row["detail"]["jti"] == token["jti"]
    # Replay: active once at introspection, then never again.
    first = introspect(http, payroll_rs, body["access_token"])
    assert first["active"] is True
    assert first["confirm"]["reason"] == "approve refund #1234"
    assert introspect(http, payroll_rs, body["access_token"]) == {"active": False}
    # The session lives on and its own token still works.
    assert http.get(
        "/userinfo", headers={"Authorization": f"Bearer {session['access_token']}"}
    ).is_success


def test_a_confirm_token_is_never_a_session_token(
    http: TestClient, deployment: Deployment, keys: dict[str, Kiosk]
) -> None:
    session = sign_in(http, keys["alice"])
    token = confirm(http, keys["alice"], session["access_token"]).json()["access_token"]
    assert claims(token)["aud"] == LOCAL_AUDIENCE  # the default audience, yet:
    deployment.add_client("files", kind="app", audiences=[PAYROLL], scopes=[], client_id="files")
    exchanged = http.post(
        "/token",
        data={
            "grant_type": EXCHANGE,
            "subject_token": token,
            "subject_token_type": ACCESS,
            "client_id": "files",
            "audience": PAYROLL,
        },
    )
    assert exchanged.status_code == 400, exchanged.text
    assert exchanged.json()["error"] == "invalid_grant"
    refreshed = http.post(
        "/token", data={"grant_type": "refresh_token", "refresh_token": token, "client_id": "ward"}
    )
    assert refreshed.status_code == 400
    assert refreshed.json()["error"] == "invalid_grant"
    assert http.get("/userinfo", headers={"Authorization": f"Bearer {token}"}).status_code == 401
    # Revoking it (the kiosk's client may) ends it alone, never the session.
    assert http.post("/revoke", data={"token": token, "client_id": "ward"}).is_success
    after = http.get("/userinfo", headers={"Authorization": f"Bearer {session['access_token']}"})
    assert after.is_success


def test_someone_elses_key_cannot_confirm_for_the_person_signed_in(
    http: TestClient, deployment: Deployment, keys: dict[str, Kiosk]
) -> None:
    session = sign_in(http, keys["alice"])
    response = confirm(http, keys["bob"], session["access_token"])
    assert response.status_code == 400
    assert response.json()["error"] == "invalid_grant"
    assert "someone other than the person signed in" in response.json()["error_description"]
    row = confirms(deployment)[-1]
    assert row["outcome"] == "failure"
    assert row["username"] == "bob"
    assert row["detail"]["refused"] == "other_person"
    assert row["detail"]["reason"] == "approve refund #1234"
    assert row["detail"]["credential"].startswith("fido2:")


def test_a_confirm_weaker_than_asked_is_refused_and_audited(
    http: TestClient, deployment: Deployment, keys: dict[str, Kiosk]
) -> None:
    session = sign_in(http, keys["alice"])
    # The test key is a software key (phr); the app asked for hardware (phrh).
    response = confirm(http, keys["alice"], session["access_token"], min_acr="phrh")
    assert response.status_code == 400
    assert response.json()["error"] == "insufficient_user_authentication"
    assert confirms(deployment)[-1]["detail"]["refused"] == "insufficient_acr"
    # An audience this kiosk is not registered for is refused too.
    other = confirm(http, keys["alice"], session["access_token"], audience="https://else")
    assert other.status_code == 400
    assert other.json()["error"] == "invalid_target"


def test_a_stale_confirm_token_is_inactive(
    http: TestClient,
    clock: FrozenClock,
    keys: dict[str, Kiosk],
    payroll_rs: tuple[str, str],
) -> None:
    session = sign_in(http, keys["alice"])
    token = confirm(http, keys["alice"], session["access_token"], audience=PAYROLL).json()
    clock.advance(61)
    assert introspect(http, payroll_rs, token["access_token"]) == {"active": False}


def test_a_confirm_needs_the_live_session_of_this_kiosk(
    http: TestClient, deployment: Deployment, keys: dict[str, Kiosk]
) -> None:
    session = sign_in(http, keys["alice"])
    for token in (
        "junk",
        confirm(http, keys["alice"], session["access_token"]).json()["access_token"],
    ):
        response = confirm(http, keys["alice"], token)
        assert response.status_code == 400
        assert response.json()["error_description"] == "Nobody is signed in at this kiosk."
    assert http.post("/revoke", data={"token": session["refresh_token"], "client_id": "ward"})
    ended = confirm(http, keys["alice"], session["access_token"])
    assert ended.json()["error_description"] == "Nobody is signed in at this kiosk."


@pytest.mark.parametrize(
    ("member", "value"),
    [
        ("reason", "approve\nrefund"),
        ("reason", "approve \u202erefund"),
        ("reason", "x" * 201),
        ("reason", ""),
        ("app", "Pay\x1broll"),
        ("app", 7),
        ("min_acr", "platinum"),
        ("surprise", "yes"),
    ],
)
def test_a_confirm_request_that_breaks_a_rule_is_refused_before_anything_changes(
    http: TestClient, deployment: Deployment, keys: dict[str, Kiosk], member: str, value: Any
) -> None:
    session = sign_in(http, keys["alice"])
    before = len(deployment.store.audit_entries())
    response = confirm(http, keys["alice"], session["access_token"], **{member: value})
    assert response.status_code == 400
    assert response.json()["error"] == "invalid_request"
    assert len(deployment.store.audit_entries()) == before


def test_a_dpop_bound_session_confirms_only_with_its_own_key(
    http: TestClient, deployment: Deployment, clock: FrozenClock, keys: dict[str, Kiosk]
) -> None:
    """A kiosk session bound to a DPoP key: a thief with its token but not its key cannot
    have a confirm issued on it (no proof, or a proof of another key)."""
    owner, thief = ec.generate_private_key(ec.SECP256R1()), ec.generate_private_key(ec.SECP256R1())

    def proof(key: ec.EllipticCurvePrivateKey) -> dict[str, str]:
        url = "https://auth.example/login/webauthn"
        return {"DPoP": make_dpop_proof(key, method="POST", url=url, now=clock.now())}

    handle, credential = sign(http, keys["alice"])
    body = {"handle": handle, "credential": credential, "client_id": "ward"}
    session = http.post("/login/webauthn", json=body, headers=proof(owner)).json()
    assert session["token_type"] == "DPoP"

    def confirm_with(headers: dict[str, str]) -> Any:
        handle, credential = sign(http, keys["alice"])
        asked = {"session_token": session["access_token"], "reason": "approve", "app": "Payroll"}
        return http.post(
            "/login/webauthn",
            json={
                "handle": handle,
                "credential": credential,
                "client_id": "ward",
                "confirm": asked,
            },
            headers=headers,
        )

    for headers in ({}, proof(thief)):
        refused = confirm_with(headers)
        assert refused.status_code in (400, 401), refused.text
        assert refused.json()["error"] == "invalid_dpop_proof"
        assert confirms(deployment)[-1]["detail"]["refused"] == "dpop"
    confirmed = confirm_with(proof(owner))
    assert confirmed.status_code == 200, confirmed.text
    assert "cnf" not in claims(confirmed.json()["access_token"])  # the confirm token is a bearer


# -- four eyes: a second person with a role confirms too ------------------------------------


def test_four_eyes_the_second_person_with_the_role_completes_the_confirm(
    http: TestClient, deployment: Deployment, keys: dict[str, Kiosk], payroll_rs: tuple[str, str]
) -> None:
    AdminRepository(deployment.store, clock=deployment.clock).set_role(
        "bob", "supervisor", True, by="test", origin=None
    )
    session = sign_in(http, keys["alice"])
    asked = {"audience": PAYROLL, "second_person": "supervisor"}
    stage = confirm(http, keys["alice"], session["access_token"], **asked)
    assert stage.status_code == 200, stage.text
    first = stage.json()
    assert first["token_type"] == "N_A"
    assert first["issued_token_type"] == "urn:tokenstile:params:oauth:token-type:confirm-first"
    assert jwt.get_unverified_header(first["access_token"])["typ"] == "confirm-first+jwt"
    # The first stage alone is worth nothing: no resource server takes it.
    assert introspect(http, payroll_rs, first["access_token"]) == {"active": False}
    done = confirm(http, keys["bob"], session["access_token"], **asked, first=first["access_token"])
    assert done.status_code == 200, done.text
    token = claims(done.json()["access_token"])
    assert token["sub"] == "alice"
    assert token["aud"] == PAYROLL
    second = token["confirm"]["second_person"]
    assert (second["sub"], second["role"], second["acr"]) == ("bob", "supervisor", "phr")
    assert token["confirm"]["reason"] == "approve refund #1234"
    rows = confirms(deployment)
    assert [(r["username"], r["detail"].get("stage")) for r in rows[-2:]] == [
        ("alice", "first"),
        ("bob", "second"),
    ]
    assert rows[-1]["detail"]["credential"] != rows[-2]["detail"]["credential"]
    assert introspect(http, payroll_rs, done.json()["access_token"])["active"] is True
    # The first stage is spent: a replay of the second step is refused.
    again = confirm(
        http, keys["bob"], session["access_token"], **asked, first=first["access_token"]
    )
    assert again.status_code == 400
    assert confirms(deployment)[-1]["detail"]["refused"] == "first_invalid"


def test_four_eyes_refuses_the_same_person_someone_without_the_role_and_another_request(
    http: TestClient, deployment: Deployment, clock: FrozenClock, keys: dict[str, Kiosk]
) -> None:
    session = sign_in(http, keys["alice"])
    asked = {"second_person": "supervisor"}
    first = confirm(http, keys["alice"], session["access_token"], **asked).json()["access_token"]
    cases = [
        (keys["alice"], {}, "same_person"),  # alice again is not a second pair of eyes
        (keys["bob"], {}, "no_role"),  # bob holds no role yet
        (keys["bob"], {"reason": "approve refund #9999"}, "first_invalid"),  # another request
    ]
    for key, changed, why in cases:
        refused = confirm(http, key, session["access_token"], **asked, first=first, **changed)
        assert refused.status_code == 400, refused.text
        assert refused.json()["error"] == "invalid_grant"
        assert confirms(deployment)[-1]["detail"]["refused"] == why
    # A first-stage token is no subject of exchange and no confirm token by itself.
    deployment.add_client("files", kind="app", audiences=[PAYROLL], scopes=[], client_id="files")
    exchanged = http.post(
        "/token",
        data={
            "grant_type": EXCHANGE,
            "subject_token": first,
            "subject_token_type": ACCESS,
            "client_id": "files",
            "audience": PAYROLL,
        },
    )
    assert exchanged.json()["error"] == "invalid_grant"
    bad = confirm(http, keys["alice"], session["access_token"], first=first)
    assert bad.json()["error"] == "invalid_request"  # first without second_person
    # A first step older than the confirm lifetime is over, even for the right person.
    AdminRepository(deployment.store, clock=deployment.clock).set_role(
        "bob", "supervisor", True, by="test", origin=None
    )
    clock.advance(61)
    late = confirm(http, keys["bob"], session["access_token"], **asked, first=first)
    assert late.status_code == 400
    assert confirms(deployment)[-1]["detail"]["refused"] == "first_invalid"
