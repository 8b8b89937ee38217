"""Every endpoint of the token service, in-process through the ASGI app."""

from __future__ import annotations

import base64
from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient

from tests.conftest import add_user, kiosk_client
from tokenstile.clock import FrozenClock
from tokenstile.deployment import DEFAULT_KIOSK_CLIENT_ID, Deployment
from tokenstile.server.app import create_app
from tokenstile.tokens.model import AudiencePolicy, AuditEvent
from tokenstile.tokens.service import TokenResponse

KIOSK = DEFAULT_KIOSK_CLIENT_ID


@pytest.fixture
def http(deployment: Deployment) -> Iterator[TestClient]:
    with TestClient(create_app(deployment), base_url="https://auth.example") as client:
        yield client


def session_for(dep: Deployment, username: str = "alice") -> TokenResponse:
    user = dep.store.find_user(username) or add_user(dep, username)
    return dep.token_service().sessions.open_session(
        user=user, client=kiosk_client(dep), factor="otp", amr=["otp"], acr="otp"
    )


def basic(client_id: str, secret: str) -> dict[str, str]:
    raw = base64.b64encode(f"{client_id}:{secret}".encode()).decode()
    return {"Authorization": f"Basic {raw}"}


def refresh(http: TestClient, token: str, **extra: str) -> object:
    return http.post(
        "/token",
        data={"grant_type": "refresh_token", "refresh_token": token, "client_id": KIOSK, **extra},
    )


@pytest.mark.parametrize(
    "path", ["/.well-known/openid-configuration", "/.well-known/oauth-authorization-server"]
)
def test_metadata(http: TestClient, path: str) -> None:
    response = http.get(path)
    assert response.status_code == 200
    body = response.json()
    assert body["issuer"] == "https://auth.example"
    for name in ("jwks", "token", "revocation", "introspection", "userinfo"):
        key = "jwks_uri" if name == "jwks" else f"{name}_endpoint"
        assert body[key].startswith("https://auth.example/")
    assert "refresh_token" in body["grant_types_supported"]
    assert "client_secret_basic" in body["introspection_endpoint_auth_methods_supported"]


def test_jwks(http: TestClient, deployment: Deployment) -> None:
    response = http.get("/jwks.json")
    assert response.status_code == 200
    assert response.headers["cache-control"] == "public, max-age=300"
    keys = response.json()["keys"]
    assert [k["kid"] for k in keys] == [k.kid for k in deployment.keyring().published(0)]
    assert all("d" not in k for k in keys)


def test_jwks_shows_a_rotated_key_before_it_signs(
    http: TestClient, deployment: Deployment, clock: FrozenClock
) -> None:
    new = deployment.rotate_keys()
    clock.advance(11)  # past the key-ring reload interval
    kids = [k["kid"] for k in http.get("/jwks.json").json()["keys"]]
    assert new.kid in kids
    assert len(kids) == 2


def test_refresh_grant(http: TestClient, deployment: Deployment) -> None:
    first = session_for(deployment)
    response = refresh(http, first.refresh_token)
    assert response.status_code == 200  # type: ignore[attr-defined]
    assert response.headers["cache-control"] == "no-store"  # type: ignore[attr-defined]
    body = response.json()  # type: ignore[attr-defined]
    assert set(body) >= {"access_token", "token_type", "expires_in", "refresh_token", "scope"}
    assert body["token_type"] == "Bearer"
    assert body["refresh_token"] != first.refresh_token


@pytest.mark.parametrize(
    ("data", "error"),
    [
        ({}, "invalid_request"),
        ({"grant_type": "password"}, "unsupported_grant_type"),
        ({"grant_type": "refresh_token", "client_id": KIOSK}, "invalid_request"),
        ({"grant_type": "refresh_token", "refresh_token": "x"}, "invalid_client"),
        (
            {"grant_type": "refresh_token", "refresh_token": "x", "client_id": "nope"},
            "invalid_client",
        ),
        (
            {"grant_type": "refresh_token", "refresh_token": "x", "client_id": KIOSK},
            "invalid_grant",
        ),
    ],
)
def test_token_errors(http: TestClient, data: dict[str, str], error: str) -> None:
    response = http.post("/token", data=data)
    assert response.json()["error"] == error
    assert response.status_code == (401 if error == "invalid_client" else 400)
    assert response.headers["cache-control"] == "no-store"
    assert "error_description" in response.json()


def test_token_refuses_json_bodies(http: TestClient) -> None:
    response = http.post("/token", json={"grant_type": "refresh_token"})
    assert response.status_code == 400
    assert response.json()["error"] == "invalid_request"


def test_token_refuses_repeated_parameters(http: TestClient, deployment: Deployment) -> None:
    first = session_for(deployment)
    body = f"grant_type=refresh_token&client_id={KIOSK}&refresh_token={first.refresh_token}" * 2
    response = http.post(
        "/token", content=body, headers={"Content-Type": "application/x-www-form-urlencoded"}
    )
    assert response.status_code == 400
    assert "repeated" in response.json()["error_description"]


def test_token_refuses_oversized_bodies(http: TestClient) -> None:
    response = http.post("/token", data={"grant_type": "refresh_token", "x": "a" * 20_000})
    assert response.status_code == 400


def test_confidential_client_must_authenticate(http: TestClient, deployment: Deployment) -> None:
    rs, secret = deployment.add_client(
        "api", kind="resource-server", audiences=["https://api"], scopes=[]
    )
    assert secret is not None
    no_secret = http.post(
        "/token",
        data={"grant_type": "refresh_token", "refresh_token": "x", "client_id": rs.client_id},
    )
    assert no_secret.status_code == 401
    assert no_secret.headers["www-authenticate"].startswith("Basic")
    wrong = http.post(
        "/token",
        data={"grant_type": "refresh_token", "refresh_token": "x"},
        headers=basic(rs.client_id, "wrong"),
    )
    assert wrong.status_code == 401
    garbage = http.post(
        "/token", data={"grant_type": "refresh_token"}, headers={"Authorization": "Basic !!!"}
    )
    assert garbage.status_code == 401


def test_revocation(http: TestClient, deployment: Deployment) -> None:
    first = session_for(deployment)
    response = http.post("/revoke", data={"token": first.refresh_token, "client_id": KIOSK})
    assert response.status_code == 200
    assert refresh(http, first.refresh_token).status_code == 400  # type: ignore[attr-defined]
    unknown = http.post("/revoke", data={"token": "unknown", "client_id": KIOSK})
    assert unknown.status_code == 200
    missing = http.post("/revoke", data={"client_id": KIOSK})
    assert missing.status_code == 400


def test_revocation_by_access_token(http: TestClient, deployment: Deployment) -> None:
    first = session_for(deployment)
    assert (
        http.post("/revoke", data={"token": first.access_token, "client_id": KIOSK}).status_code
        == 200
    )
    assert refresh(http, first.refresh_token).status_code == 400  # type: ignore[attr-defined]


def test_revocation_by_another_client_is_refused(http: TestClient, deployment: Deployment) -> None:
    first = session_for(deployment)
    other, _ = deployment.add_client("other", kind="app", audiences=[], scopes=[])
    response = http.post(
        "/revoke", data={"token": first.refresh_token, "client_id": other.client_id}
    )
    assert response.status_code == 400
    assert refresh(http, first.refresh_token).status_code == 200  # type: ignore[attr-defined]


def test_introspection(http: TestClient, deployment: Deployment) -> None:
    rs, secret = deployment.add_client(
        "rs", kind="resource-server", audiences=["urn:tokenstile:local"], scopes=[]
    )
    assert secret is not None
    first = session_for(deployment)
    active = http.post(
        "/introspect", data={"token": first.access_token}, headers=basic(rs.client_id, secret)
    )
    assert active.status_code == 200
    body = active.json()
    assert body["active"] is True
    assert body["sub"] == "alice"
    assert body["sid"] == first.sid
    http.post("/revoke", data={"token": first.refresh_token, "client_id": KIOSK})
    after = http.post(
        "/introspect", data={"token": first.access_token}, headers=basic(rs.client_id, secret)
    )
    assert after.json() == {"active": False}
    junk = http.post("/introspect", data={"token": "junk"}, headers=basic(rs.client_id, secret))
    assert junk.json() == {"active": False}


def test_introspection_hides_tokens_for_other_audiences(
    http: TestClient, deployment: Deployment
) -> None:
    rs, secret = deployment.add_client(
        "rs", kind="resource-server", audiences=["https://api"], scopes=[]
    )
    assert secret is not None
    first = session_for(deployment)
    response = http.post(
        "/introspect", data={"token": first.access_token}, headers=basic(rs.client_id, secret)
    )
    assert response.json() == {"active": False}


def test_introspection_needs_a_resource_server(http: TestClient, deployment: Deployment) -> None:
    first = session_for(deployment)
    anonymous = http.post("/introspect", data={"token": first.access_token})
    assert anonymous.status_code == 401
    public = http.post("/introspect", data={"token": first.access_token, "client_id": KIOSK})
    assert public.status_code == 401


def test_introspection_of_opaque_tokens(http: TestClient, deployment: Deployment) -> None:
    dep = deployment
    dep.store.set_audience(
        AudiencePolicy("https://vault", token_format="opaque"),
        at=dep.clock.now(),
        audit=AuditEvent("audience_set", "info"),
    )
    app, _ = dep.add_client("vault-app", kind="app", audiences=["https://vault"], scopes=[])
    rs, secret = dep.add_client(
        "vault", kind="resource-server", audiences=["https://vault"], scopes=[]
    )
    assert secret is not None
    result = dep.token_service().sessions.open_session(
        user=add_user(dep), client=app, factor="otp", amr=["otp"], acr="otp"
    )
    body = http.post(
        "/introspect", data={"token": result.access_token}, headers=basic(rs.client_id, secret)
    ).json()
    assert body["active"] is True
    assert body["aud"] == "https://vault"


def test_userinfo(http: TestClient, deployment: Deployment) -> None:
    first = session_for(deployment)
    for method in ("GET", "POST"):
        response = http.request(
            method, "/userinfo", headers={"Authorization": f"Bearer {first.access_token}"}
        )
        assert response.status_code == 200
        assert response.json()["sub"] == "alice"
        assert response.json()["name"] == "Alice"


def test_userinfo_errors(http: TestClient, deployment: Deployment) -> None:
    missing = http.get("/userinfo")
    assert missing.status_code == 401
    assert missing.headers["www-authenticate"].startswith("Bearer")
    bad = http.get("/userinfo", headers={"Authorization": "Bearer nonsense"})
    assert bad.status_code == 401
    assert 'error="invalid_token"' in bad.headers["www-authenticate"]
    first = session_for(deployment)
    http.post("/revoke", data={"token": first.refresh_token, "client_id": KIOSK})
    revoked = http.get("/userinfo", headers={"Authorization": f"Bearer {first.access_token}"})
    assert revoked.status_code == 401


def test_openapi_describes_every_endpoint(http: TestClient) -> None:
    spec = http.get("/openapi.json").json()
    paths = spec["paths"]
    for path in (
        "/.well-known/openid-configuration",
        "/.well-known/oauth-authorization-server",
        "/jwks.json",
        "/token",
        "/revoke",
        "/introspect",
        "/userinfo",
    ):
        assert path in paths
    token_body = paths["/token"]["post"]["requestBody"]["content"]
    assert "application/x-www-form-urlencoded" in token_body
    assert "400" in paths["/token"]["post"]["responses"]


def test_unknown_path_is_json(http: TestClient) -> None:
    response = http.get("/nope")
    assert response.status_code == 404
    assert response.json()["error"] == "invalid_request"


def test_store_outage_is_a_503(deployment: Deployment, tmp_path: object) -> None:
    first = session_for(deployment)
    app = create_app(deployment)
    deployment.engine.dispose()
    db_path = str(deployment.engine.url.database)
    import os

    os.rename(db_path, db_path + ".moved")
    os.mkdir(db_path)  # the database path is now a directory: SQLite cannot open it
    with TestClient(app) as http:
        response = refresh(http, first.refresh_token)
    assert response.status_code == 503  # type: ignore[attr-defined]
    assert response.json()["error"] == "temporarily_unavailable"  # type: ignore[attr-defined]


def test_bad_refresh_tokens_change_nothing(http: TestClient, deployment: Deployment) -> None:
    first = session_for(deployment)
    real = first.refresh_token
    for bad in (
        real[:-1],  # truncated
        real + "A",  # extended
        real.replace("-", "+").replace("_", "/"),  # re-encoded as standard base64
        real.upper(),
        " " + real,
        "x" * 5000,  # oversized
        "\u00e9" * 10,
        "",
    ):
        if bad == real:
            continue  # a re-encoding that happens to change nothing
        response = refresh(http, bad)
        assert response.status_code == 400, bad  # type: ignore[attr-defined]
        assert response.json()["error"] in ("invalid_grant", "invalid_request")  # type: ignore[attr-defined]
    assert deployment.store.sessions_of("alice")[0].revoked_at is None
    assert refresh(http, real).status_code == 200  # type: ignore[attr-defined]
