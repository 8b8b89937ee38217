"""RFC 8693 token exchange at ``POST /token``, through the real ASGI app and a real server.

An app trades the access token of a live session for one of its own audience and scope:
the session says who and how strongly (``acr``, ``amr``), the client registry says which
app may obtain which audience with which scopes, and the audience's minimum ``acr`` holds
here too.
"""

from __future__ import annotations

import dataclasses
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
from tokenstile.errors import UnauthorizedClient
from tokenstile.protocol.dpop import dpop_public_jwk, make_dpop_proof
from tokenstile.protocol.jose import jwk_thumbprint
from tokenstile.protocol.scopes import ADMIN_SCOPE
from tokenstile.server.app import create_app
from tokenstile.tokens import AccessTokenVerifier
from tokenstile.tokens.model import AudiencePolicy, AuditEvent
from tokenstile.tokens.service import TokenResponse

ISSUER = "https://auth.example"
FILES = "https://files.example"
PAYROLL = "https://payroll.example"
EXCHANGE = "urn:ietf:params:oauth:grant-type:token-exchange"
ACCESS = "urn:ietf:params:oauth:token-type:access_token"
Json = dict[str, Any]


@pytest.fixture
def http(deployment: Deployment) -> Iterator[TestClient]:
    with TestClient(create_app(deployment), base_url=ISSUER) as client:
        yield client


@pytest.fixture
def files_app(deployment: Deployment) -> str:
    client, _ = deployment.add_client(
        "files", kind="app", audiences=[FILES], scopes=["openid", "profile"], client_id="files"
    )
    return client.client_id


def sign_in(dep: Deployment, username: str = "alice", **kwargs: Any) -> TokenResponse:
    user = dep.store.find_user(username) or add_user(dep, username)
    return dep.token_service().sessions.open_session(
        user=user, client=kiosk_client(dep), factor="otp", amr=["otp"], acr="otp", **kwargs
    )


def exchange(
    http: TestClient | httpx.Client,
    subject: str,
    *,
    client_id: str = "files",
    audience: str | None = FILES,
    headers: dict[str, str] | None = None,
    **extra: str,
) -> httpx.Response:
    form = {
        "grant_type": EXCHANGE,
        "subject_token": subject,
        "subject_token_type": ACCESS,
        "client_id": client_id,
        **extra,
    }
    if audience is not None:
        form["audience"] = audience
    return http.post("/token", data=form, headers=headers or {})


def claims(token: str) -> Json:
    decoded: Json = jwt.decode(token, options={"verify_signature": False})
    return decoded


def refused(response: httpx.Response, error: str) -> str:
    assert response.status_code == (401 if error == "invalid_client" else 400), response.text
    assert response.headers["cache-control"] == "no-store"
    body: Json = response.json()
    assert body["error"] == error, body
    description: str = body["error_description"]
    assert description.endswith(".")
    return description


def exchanges(dep: Deployment) -> list[Json]:
    return [e for e in dep.store.audit_entries() if e["event"] == "token_exchange"]


def refreshed_token(http: TestClient, session: TokenResponse) -> str:
    """A fresh access token of the same session (same sign-in, same auth_time)."""
    refreshed = http.post(
        "/token",
        data={
            "grant_type": "refresh_token",
            "refresh_token": session.refresh_token,
            "client_id": DEFAULT_KIOSK_CLIENT_ID,
        },
    )
    assert refreshed.status_code == 200, refreshed.text
    token: str = refreshed.json()["access_token"]
    return token


def test_an_app_gets_a_token_for_its_own_audience_from_the_session(
    http: TestClient, deployment: Deployment, files_app: str, clock: FrozenClock
) -> None:
    session = sign_in(deployment)
    response = exchange(http, session.access_token)
    assert response.status_code == 200, response.text
    assert response.headers["cache-control"] == "no-store"
    body = response.json()
    assert set(body) == {"access_token", "issued_token_type", "token_type", "expires_in", "scope"}
    assert (body["issued_token_type"], body["token_type"]) == (ACCESS, "Bearer")
    assert body["scope"] == "openid profile"  # all the app is registered for
    subject, issued = claims(session.access_token), claims(body["access_token"])
    assert issued["aud"] == FILES
    assert issued["client_id"] == files_app
    assert issued["scope"] == "openid profile"
    for same in ("sub", "sid", "acr", "amr", "auth_time", "iss"):
        assert issued[same] == subject[same]
    assert "act" not in issued
    assert issued["jti"] != subject["jti"]
    # A resource server of that audience accepts it, verifying offline from the JWKS.
    verifier = AccessTokenVerifier(ISSUER, FILES, http.get("/jwks.json").json(), clock=clock)
    assert verifier.verify(body["access_token"])["sub"] == "alice"
    [audit] = exchanges(deployment)
    assert (audit["outcome"], audit["client_id"], audit["sid"]) == ("success", "files", session.sid)
    assert audit["detail"]["subject_client_id"] == DEFAULT_KIOSK_CLIENT_ID
    # The session's own tokens are untouched: no refresh token comes out of an exchange.
    assert "refresh_token" not in body
    assert refreshed_token(http, session)


def test_the_apps_registration_bounds_the_scope_not_the_sessions(
    http: TestClient, deployment: Deployment, files_app: str
) -> None:
    subject = sign_in(deployment).access_token
    assert "payroll" not in claims(subject)["scope"]
    deployment.add_client(
        "payroll", kind="app", audiences=[PAYROLL], scopes=["payroll"], client_id="payroll"
    )
    # An app scope the kiosk session never had: the app is registered for it.
    payroll = exchange(http, subject, client_id="payroll", audience=PAYROLL)
    assert payroll.status_code == 200, payroll.text
    assert payroll.json()["scope"] == "payroll"
    assert claims(payroll.json()["access_token"])["scope"] == "payroll"
    assert claims(payroll.json()["access_token"])["client_id"] == "payroll"
    narrow = exchange(http, subject, scope="openid")
    assert claims(narrow.json()["access_token"])["scope"] == "openid"
    # offline_access: the session has it, the app is not registered for it.
    assert "offline_access" in refused(
        exchange(http, subject, scope="openid offline_access"), "invalid_scope"
    )
    refused(exchange(http, subject, scope="payroll"), "invalid_scope")  # another app's
    assert [e["outcome"] for e in exchanges(deployment)] == [
        "success",
        "success",
        "failure",
        "failure",
    ]


def test_only_the_sessions_own_token_is_a_subject_token(
    http: TestClient, deployment: Deployment, files_app: str
) -> None:
    deployment.add_client(
        "payroll", kind="app", audiences=[PAYROLL], scopes=["payroll"], client_id="payroll"
    )
    session = sign_in(deployment)
    files = exchange(http, session.access_token).json()["access_token"]
    # Whoever received the files app's token (the files API) cannot trade it for a
    # token of another app, nor of the same one.
    for client_id, audience in (("payroll", PAYROLL), ("files", FILES)):
        description = refused(
            exchange(http, files, client_id=client_id, audience=audience), "invalid_grant"
        )
        assert "session's own access token" in description
    # A refreshed session token is the session's own too.
    refreshed = http.post(
        "/token",
        data={
            "grant_type": "refresh_token",
            "refresh_token": session.refresh_token,
            "client_id": DEFAULT_KIOSK_CLIENT_ID,
        },
    ).json()["access_token"]
    assert exchange(http, refreshed, client_id="payroll", audience=PAYROLL).status_code == 200
    assert [e["detail"].get("reason") for e in exchanges(deployment)] == [
        None,
        "not_a_session_token",
        "not_a_session_token",
        None,
    ]


def test_the_admin_scope_is_only_for_an_admin(http: TestClient, deployment: Deployment) -> None:
    deployment.add_client(
        "console",
        kind="app",
        audiences=[PAYROLL],
        scopes=["payroll", ADMIN_SCOPE],
        client_id="console",
    )
    plain = sign_in(deployment).access_token
    assert ADMIN_SCOPE in refused(
        exchange(http, plain, client_id="console", audience=PAYROLL, scope=ADMIN_SCOPE),
        "invalid_scope",
    )
    # Asked for nothing in particular: everything but the admin scope.
    everything = exchange(http, plain, client_id="console", audience=PAYROLL)
    assert everything.json()["scope"] == "payroll"
    # Nor for an admin: a privileged scope never comes out of an exchange (issue 13), only
    # from a factor login at a client registered for it.
    add_user(deployment, "root", is_admin=True)
    admin = sign_in(deployment, "root").access_token
    assert "privileged" in refused(
        exchange(http, admin, client_id="console", audience=PAYROLL, scope=ADMIN_SCOPE),
        "invalid_scope",
    )
    assert exchange(http, admin, client_id="console", audience=PAYROLL).json()["scope"] == (
        "payroll"
    )


@pytest.mark.parametrize(
    "change", [{"enabled": False}, {"kind": "resource-server"}], ids=["disabled", "api"]
)
def test_only_an_enabled_app_or_kiosk_may_exchange(
    deployment: Deployment, files_app: str, change: Json
) -> None:
    subject = sign_in(deployment).access_token
    client = deployment.store.find_client(files_app)
    assert client is not None
    with pytest.raises(UnauthorizedClient):
        deployment.token_service().exchange_grant.exchange(
            client=dataclasses.replace(client, **change),
            subject_token=subject,
            subject_token_type=ACCESS,
            audience=FILES,
        )
    assert exchanges(deployment) == []


def test_an_audience_the_app_is_not_registered_for_is_refused(
    http: TestClient, deployment: Deployment, files_app: str
) -> None:
    subject = sign_in(deployment).access_token
    assert PAYROLL in refused(exchange(http, subject, audience=PAYROLL), "invalid_target")
    refused(exchange(http, subject, client_id=DEFAULT_KIOSK_CLIENT_ID), "invalid_target")


@pytest.mark.parametrize(
    ("change", "error"),
    [
        ({"audience": None}, "invalid_request"),
        (
            {"subject_token_type": "urn:ietf:params:oauth:token-type:refresh_token"},
            "invalid_request",
        ),
        ({"requested_token_type": "urn:ietf:params:oauth:token-type:id_token"}, "invalid_request"),
        ({"actor_token": "x", "actor_token_type": ACCESS}, "invalid_request"),
        ({"subject_token": ""}, "invalid_request"),
        ({"subject_token": "not-a-token"}, "invalid_grant"),
        ({"client_id": "nobody"}, "invalid_client"),
    ],
)
def test_malformed_exchanges_are_refused(
    http: TestClient, deployment: Deployment, files_app: str, change: Json, error: str
) -> None:
    subject = sign_in(deployment).access_token
    kwargs: Json = {"audience": FILES}
    form_extra = {k: v for k, v in change.items() if k not in ("audience", "subject_token")}
    if "audience" in change:
        kwargs["audience"] = change["audience"]
    token = change.get("subject_token", subject)
    refused(exchange(http, token, **kwargs, **form_extra), error)


def test_a_requested_token_type_of_access_token_is_fine(
    http: TestClient, deployment: Deployment, files_app: str
) -> None:
    subject = sign_in(deployment).access_token
    assert exchange(http, subject, requested_token_type=ACCESS).status_code == 200


def test_a_dead_session_or_an_expired_subject_token_gets_nothing(
    http: TestClient, deployment: Deployment, files_app: str, clock: FrozenClock
) -> None:
    # Revoked (the person signed out).
    revoked = sign_in(deployment)
    http.post(
        "/revoke", data={"token": revoked.refresh_token, "client_id": DEFAULT_KIOSK_CLIENT_ID}
    )
    assert "ended" in refused(exchange(http, revoked.access_token), "invalid_grant")
    # Idle too long: the access token still looks valid but the session is gone.
    idle = sign_in(deployment)
    clock.advance(deployment.settings.session_idle + 1)
    subject_exp = claims(idle.access_token)["exp"]
    assert subject_exp < clock.now()  # (access tokens live shorter than the idle limit)
    refused(exchange(http, idle.access_token), "invalid_grant")
    # An expired access token of a live session.
    live = sign_in(deployment)
    clock.advance(deployment.settings.access_token_lifetime + 1)
    assert "not a valid access token" in refused(exchange(http, live.access_token), "invalid_grant")
    reasons = [e["detail"]["reason"] for e in exchanges(deployment)]
    assert reasons == ["session_revoked", "invalid_subject_token", "invalid_subject_token"]


def test_a_session_idle_but_whose_token_is_valid_is_refused(
    http: TestClient, deployment: Deployment, files_app: str, clock: FrozenClock
) -> None:
    deployment.store.set_audience(
        AudiencePolicy("urn:tokenstile:local", lifetime=7200),
        at=clock.now(),
        audit=AuditEvent("audience_set", "info"),
    )
    session = sign_in(deployment)
    clock.advance(deployment.settings.session_idle + 1)
    assert claims(session.access_token)["exp"] > clock.now()
    refused(exchange(http, session.access_token), "invalid_grant")
    assert exchanges(deployment)[-1]["detail"]["reason"] == "session_idle"
    assert deployment.store.sessions_of("alice")[0].revoke_reason == "idle"


def test_the_new_token_never_outlives_the_session(
    http: TestClient, deployment: Deployment, files_app: str, clock: FrozenClock
) -> None:
    deployment.store.set_audience(
        AudiencePolicy(FILES, lifetime=3600), at=clock.now(), audit=AuditEvent("a", "info")
    )
    session = sign_in(deployment)
    ends = deployment.store.sessions_of("alice")[0].expires_at
    # Keep the session alive with refreshes until 20 minutes before its absolute end.
    token, body = session.refresh_token, {"access_token": session.access_token}
    while clock.now() < ends - 1200:
        clock.advance(min(1800.0, ends - 1200 - clock.now()))
        body = http.post(
            "/token",
            data={
                "grant_type": "refresh_token",
                "refresh_token": token,
                "client_id": DEFAULT_KIOSK_CLIENT_ID,
            },
        ).json()
        token = body["refresh_token"]
    response = exchange(http, body["access_token"])
    assert response.status_code == 200, response.text
    assert response.json()["expires_in"] <= 1200
    assert claims(response.json()["access_token"])["exp"] <= ends


def test_the_audience_minimum_assurance_holds(
    http: TestClient, deployment: Deployment, files_app: str, clock: FrozenClock
) -> None:
    deployment.store.set_audience(
        AudiencePolicy(FILES, min_acr="phrh"), at=clock.now(), audit=AuditEvent("a", "info")
    )
    subject = sign_in(deployment).access_token
    assert "assurance" in refused(exchange(http, subject), "invalid_target")
    assert exchanges(deployment)[-1]["detail"]["reason"] == "invalid_target"
    card = deployment.token_service().sessions.open_session(
        user=add_user(deployment, "bob"),
        client=kiosk_client(deployment),
        factor="piv",
        amr=["sc", "pin", "mfa"],
        acr="phrh",
    )
    assert exchange(http, card.access_token).status_code == 200


def test_an_opaque_audience_gets_an_opaque_token_that_introspects(
    http: TestClient, deployment: Deployment, clock: FrozenClock
) -> None:
    deployment.store.set_audience(
        AudiencePolicy(PAYROLL, token_format="opaque"),
        at=clock.now(),
        audit=AuditEvent("a", "info"),
    )
    deployment.add_client(
        "payroll-app", kind="app", audiences=[PAYROLL], scopes=["openid"], client_id="payroll-app"
    )
    api, secret = deployment.add_client(
        "payroll-api", kind="resource-server", audiences=[PAYROLL], scopes=[]
    )
    assert secret is not None
    response = exchange(
        http, sign_in(deployment).access_token, client_id="payroll-app", audience=PAYROLL
    )
    assert response.status_code == 200, response.text
    token = response.json()["access_token"]
    assert token.count(".") == 0
    seen = http.post("/introspect", data={"token": token}, auth=(api.client_id, secret)).json()
    assert (seen["active"], seen["aud"], seen["client_id"], seen["scope"]) == (
        True,
        PAYROLL,
        "payroll-app",
        "openid",
    )
    # An opaque session token is a subject token too (the exchanged one is not).
    deployment.store.set_audience(
        AudiencePolicy("urn:tokenstile:local", token_format="opaque"),
        at=clock.now(),
        audit=AuditEvent("a", "info"),
    )
    deployment.add_client(
        "files", kind="app", audiences=[FILES], scopes=["openid"], client_id="files"
    )
    refused(exchange(http, token), "invalid_grant")
    opaque_session = sign_in(deployment, "bob").access_token
    assert opaque_session.count(".") == 0
    assert exchange(http, opaque_session).status_code == 200


def test_a_resource_server_cannot_exchange(http: TestClient, deployment: Deployment) -> None:
    api, secret = deployment.add_client(
        "files-api", kind="resource-server", audiences=[FILES], scopes=[]
    )
    assert secret is not None
    form = {
        "grant_type": EXCHANGE,
        "subject_token": sign_in(deployment).access_token,
        "subject_token_type": ACCESS,
        "audience": FILES,
    }
    response = http.post("/token", data=form, auth=(api.client_id, secret))
    refused(response, "unauthorized_client")


def test_a_dpop_bound_session_exchanges_only_with_its_key(
    http: TestClient, deployment: Deployment, files_app: str, clock: FrozenClock
) -> None:
    key = ec.generate_private_key(ec.SECP256R1())
    jkt = jwk_thumbprint(dpop_public_jwk(key))
    session = sign_in(deployment, dpop_jkt=jkt)
    assert session.token_type == "DPoP"

    def proof(signer: Any = key) -> dict[str, str]:
        return {
            "DPoP": make_dpop_proof(signer, method="POST", url=f"{ISSUER}/token", now=clock.now())
        }

    refused(exchange(http, session.access_token), "invalid_dpop_proof")
    other = ec.generate_private_key(ec.SECP256R1())
    refused(exchange(http, session.access_token, headers=proof(other)), "invalid_dpop_proof")
    response = exchange(http, session.access_token, headers=proof())
    assert response.status_code == 200, response.text
    assert response.json()["token_type"] == "DPoP"
    assert claims(response.json()["access_token"])["cnf"] == {"jkt": jkt}
    # A DPoP-bound app must always send a proof; an unbound session's token is bound
    # to the proof's key then.
    deployment.add_client(
        "strict",
        kind="app",
        audiences=[FILES],
        scopes=["openid"],
        client_id="strict",
        dpop_bound=True,
    )
    plain = sign_in(deployment, "bob").access_token
    refused(exchange(http, plain, client_id="strict"), "invalid_dpop_proof")
    bound = exchange(http, plain, client_id="strict", headers=proof(other))
    assert claims(bound.json()["access_token"])["cnf"] == {
        "jkt": jwk_thumbprint(dpop_public_jwk(other))
    }


@pytest.mark.server
def test_token_exchange_through_a_real_server(
    server_factory: Callable[..., ServerProcess],
) -> None:
    server = server_factory()
    setup = Deployment(load_settings(db=server.settings.db, issuer=server.settings.issuer))
    try:
        setup.add_client(
            "files", kind="app", audiences=[FILES], scopes=["openid"], client_id="files"
        )
        subject = sign_in(setup).access_token
    finally:
        setup.close()
    with server.client() as http:
        response = exchange(http, subject)
        assert response.status_code == 200, response.text
        assert claims(response.json()["access_token"])["aud"] == FILES
        assert response.json()["scope"] == "openid"
        refused(exchange(http, subject, audience=PAYROLL), "invalid_target")
        metadata = http.get("/.well-known/oauth-authorization-server").json()
        assert EXCHANGE in metadata["grant_types_supported"]
        # step-up, over the wire too
        refused(exchange(http, subject, acr_values="phrh"), "insufficient_user_authentication")
        refused(exchange(http, subject, max_age="x"), "invalid_request")
        assert exchange(http, subject, max_age="3600", acr_values="otp").status_code == 200


# -- step-up: max_age and acr_values (issue 17, "confirm with your key") -------------------


def step_up_failures(dep: Deployment) -> list[Json]:
    return [
        e
        for e in exchanges(dep)
        if e["outcome"] == "failure"
        and e["detail"].get("reason") == "insufficient_user_authentication"
    ]


def test_an_app_can_ask_for_a_recent_sign_in(
    http: TestClient, deployment: Deployment, files_app: str, clock: FrozenClock
) -> None:
    session = sign_in(deployment)
    assert exchange(http, session.access_token, max_age="300").status_code == 200
    clock.advance(301)
    # the session and its token are fine, but the sign-in is older than the app allows
    subject = refreshed_token(http, session)
    description = refused(
        exchange(http, subject, max_age="300"), "insufficient_user_authentication"
    )
    assert "last 300 s" in description
    assert "301 s old" in description
    assert exchange(http, subject).status_code == 200  # without max_age: as before
    assert exchange(http, subject, max_age="400").status_code == 200
    [failure] = step_up_failures(deployment)
    assert (failure["username"], failure["sid"]) == ("alice", session.sid)


def test_an_app_can_ask_for_a_stronger_sign_in(
    http: TestClient, deployment: Deployment, files_app: str
) -> None:
    code = sign_in(deployment)  # acr otp
    description = refused(
        exchange(http, code.access_token, acr_values="phr"), "insufficient_user_authentication"
    )
    assert "phr" in description
    assert "otp" in description
    assert exchange(http, code.access_token, acr_values="otp").status_code == 200
    assert exchange(http, code.access_token, acr_values="phrh otp").status_code == 200
    key = deployment.token_service().sessions.open_session(
        user=add_user(deployment, "bob"),
        client=kiosk_client(deployment),
        factor="webauthn",
        amr=["hwk", "pin"],
        acr="phrh",
    )
    assert exchange(http, key.access_token, acr_values="phr").status_code == 200
    assert len(step_up_failures(deployment)) == 1


def test_bad_step_up_parameters_are_refused_and_nothing_is_issued(
    http: TestClient, deployment: Deployment, files_app: str
) -> None:
    subject = sign_in(deployment).access_token
    for extra in (
        {"max_age": "-1"},
        {"max_age": "soon"},
        {"max_age": "1" * 11},
        {"max_age": "٣"},  # a digit, but not an ASCII one
        {"acr_values": "bogus"},
        {"acr_values": "otp " * 70},
        {"acr_values": " ".join(["otp"] * 9)},
    ):
        refused(exchange(http, subject, **extra), "invalid_request")
    assert [e for e in exchanges(deployment) if e["outcome"] == "success"] == []
