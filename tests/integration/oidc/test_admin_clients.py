"""The admin API of web and native clients, through a real server process with an admin's
access token: registration (a web client's secret in that answer only), redirect URI
changes under the CLI's rules, secret rotation, disabling, and what a stranger, a person
who is not an admin, and bad URIs get.

Each client is changed before the token endpoint first looks it up, so no assertion
depends on the few seconds the server caches a client.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from joserfc.jwk import ECKey

from tests.admin_tokens import admin_headers, token_for
from tests.conftest import add_user
from tests.integration.oidc.conftest import WEB_REDIRECT, Provider, pkce_pair
from tokenstile.deployment import Deployment
from tokenstile.tokens.clients import client_secret_hash

pytestmark = [pytest.mark.server]

NEW_REDIRECT = "https://app.example/v2/callback"


@pytest.fixture
def minter(provider: Provider) -> Iterator[Deployment]:
    """A deployment with the server's own settings (its issuer), to mint admin tokens."""
    dep = Deployment(provider.server.settings)
    yield dep
    dep.close()


@pytest.fixture
def admin(minter: Deployment) -> dict[str, str]:
    """The admin ``root``'s header (added by the first test: the module shares a server)."""
    return admin_headers(minter)


def call(provider: Provider, path: str, body: Any, headers: dict[str, str]) -> httpx.Response:
    return httpx.post(
        f"{provider.base}/admin/clients{path}", json=body, headers=headers, timeout=10
    )


def add_web(provider: Provider, admin: dict[str, str], name: str, **extra: Any) -> dict[str, Any]:
    made = call(
        provider, "", {"name": name, "kind": "web", "redirect_uris": [WEB_REDIRECT], **extra}, admin
    )
    assert made.status_code == 201, made.text
    body: dict[str, Any] = made.json()
    return body


def secret_works(provider: Provider, client_id: str, secret: str) -> bool:
    """Whether Basic credentials authenticate at /token (a made-up refresh token: a good
    client hears invalid_grant, a bad one invalid_client)."""
    r = httpx.post(
        f"{provider.base}/token",
        data={"grant_type": "refresh_token", "refresh_token": "made-up"},
        auth=(client_id, secret),
        timeout=10,
    )
    assert r.json()["error"] in ("invalid_grant", "invalid_client"), r.text
    return bool(r.json()["error"] == "invalid_grant")


def authorize_status(provider: Provider, client_id: str, redirect_uri: str) -> int:
    _, challenge = pkce_pair()
    r = httpx.get(
        f"{provider.base}/authorize",
        params={
            "response_type": "code",
            "client_id": client_id,
            "redirect_uri": redirect_uri,
            "scope": "openid",
            "state": "s",
            "code_challenge": challenge,
            "code_challenge_method": "S256",
        },
        timeout=10,
    )
    return r.status_code


def test_a_web_client_registered_by_an_admin_authenticates_with_its_secret(
    provider: Provider, admin: dict[str, str]
) -> None:
    made = add_web(
        provider, admin, "Payroll", post_logout_redirect_uris=["https://app.example/bye"]
    )
    secret = made["client_secret"]
    assert made["token_endpoint_auth_method"] == "client_secret_basic"
    assert made["post_logout_redirect_uris"] == ["https://app.example/bye"]
    assert secret_works(provider, made["client_id"], secret)

    listed = httpx.get(f"{provider.base}/admin/clients", headers=admin, timeout=10)
    assert listed.status_code == 200
    assert secret not in listed.text
    assert client_secret_hash(secret) not in listed.text
    assert all("client_secret" not in c for c in listed.json()["clients"])
    ids = {c["client_id"] for c in listed.json()["clients"]}
    assert {made["client_id"], provider.web_id, provider.native_id} <= ids
    assert all(c["kind"] in ("web", "native") for c in listed.json()["clients"])

    (added,) = [e for e in provider.audit("client_added") if e["client_id"] == made["client_id"]]
    assert added["detail"]["by"] == "admin:root"
    assert secret not in json.dumps(provider.setup.store.audit_entries())


def test_rotating_a_secret_retires_the_old_one(provider: Provider, admin: dict[str, str]) -> None:
    made = add_web(provider, admin, "Rota")
    rotated = call(provider, "/rotate-secret", {"client_id": made["client_id"]}, admin)
    assert rotated.status_code == 200, rotated.text
    new = rotated.json()["client_secret"]
    assert new != made["client_secret"]
    assert not secret_works(provider, made["client_id"], made["client_secret"])
    assert secret_works(provider, made["client_id"], new)
    (event,) = provider.audit("client_secret_rotated")
    assert event["detail"] == {"by": "admin:root"}
    # A native client has no secret to rotate.
    native = call(provider, "/rotate-secret", {"client_id": provider.native_id}, admin)
    assert native.status_code == 400
    assert "client_secret" not in native.json()


def test_a_disabled_client_is_refused_and_enabled_again(
    provider: Provider, admin: dict[str, str]
) -> None:
    made = add_web(provider, admin, "Gone")
    off = call(provider, "/disable", {"client_id": made["client_id"]}, admin)
    assert off.status_code == 200, off.text
    assert off.json()["enabled"] is False
    assert "client_secret" not in off.json()
    assert not secret_works(provider, made["client_id"], made["client_secret"])
    assert authorize_status(provider, made["client_id"], WEB_REDIRECT) == 400
    assert [e["detail"]["by"] for e in provider.audit("client_disabled")] == ["admin:root"]
    on = call(provider, "/enable", {"client_id": made["client_id"]}, admin)
    assert on.json()["enabled"] is True
    # A resource server or the kiosk is not a client this API changes.
    unknown = call(provider, "/disable", {"client_id": "no-such-client"}, admin)
    assert unknown.status_code == 404


def test_redirect_uris_change_under_the_cli_rules(
    provider: Provider, admin: dict[str, str]
) -> None:
    made = add_web(provider, admin, "Moving")
    cid = made["client_id"]
    for bad in (
        "http://app.example/callback",  # http off loopback
        "https://app.example/callback#frag",  # a fragment
        "https://*.example/callback",  # a wildcard
        "https://app.example/*",
    ):
        refused = call(provider, "/update", {"client_id": cid, "redirect_uris": [bad]}, admin)
        assert refused.status_code == 400, (bad, refused.text)
        assert refused.json()["error"] == "invalid_request"
        refused = call(
            provider,
            "",
            {"name": "Bad " + bad, "kind": "web", "redirect_uris": [bad]},
            admin,
        )
        assert refused.status_code == 400, (bad, refused.text)
    bad_bcl = call(
        provider,
        "/update",
        {"client_id": cid, "backchannel_logout_uri": "http://a.example/b"},
        admin,
    )
    assert bad_bcl.status_code == 400
    changed = call(
        provider,
        "/update",
        {
            "client_id": cid,
            "redirect_uris": [NEW_REDIRECT],
            "backchannel_logout_uri": "https://app.example/bcl",
        },
        admin,
    )
    assert changed.status_code == 200, changed.text
    assert changed.json()["redirect_uris"] == [NEW_REDIRECT]
    assert "client_secret" not in changed.json()
    assert authorize_status(provider, cid, NEW_REDIRECT) == 200
    assert authorize_status(provider, cid, WEB_REDIRECT) == 400
    (event,) = provider.audit("client_updated")
    assert event["detail"]["redirect_uris"] == [NEW_REDIRECT]
    assert event["detail"]["by"] == "admin:root"
    removed = call(provider, "/update", {"client_id": cid, "backchannel_logout_uri": None}, admin)
    assert removed.json()["backchannel_logout_uri"] is None
    assert removed.json()["redirect_uris"] == [NEW_REDIRECT]
    # A native client's loopback redirect is fine; http on a real host is not.
    native = call(
        provider,
        "/update",
        {"client_id": provider.native_id, "redirect_uris": ["http://10.0.0.1/cb"]},
        admin,
    )
    assert native.status_code == 400


def test_a_key_client_and_a_jwks_with_a_private_key(
    provider: Provider, admin: dict[str, str]
) -> None:
    key = ECKey.generate_key("P-256")
    made = add_web(provider, admin, "Keys", jwks={"keys": [key.as_dict(private=False)]})
    assert made["client_secret"] is None
    assert made["token_endpoint_auth_method"] == "private_key_jwt"
    leaky = call(
        provider,
        "",
        {
            "name": "Leaky",
            "kind": "web",
            "redirect_uris": [WEB_REDIRECT],
            "jwks": {"keys": [key.as_dict(private=True)]},
        },
        admin,
    )
    assert leaky.status_code == 400
    assert "private members" in leaky.json()["error_description"]
    assert key.as_dict(private=True)["d"] not in leaky.text
    assert provider.setup.store.find_client_by_name("Leaky") is None


def test_strangers_and_people_who_are_not_admins_are_refused(
    provider: Provider, minter: Deployment
) -> None:
    person = add_user(minter, "bob")
    not_admin = {"Authorization": f"Bearer {token_for(minter, person)}"}
    body = {"name": "Sneaky", "kind": "web", "redirect_uris": [WEB_REDIRECT]}
    for headers, status in (({}, 401), (not_admin, 403), ({"Authorization": "Bearer x"}, 401)):
        assert call(provider, "", body, headers).status_code == status
        assert (
            call(provider, "/rotate-secret", {"client_id": provider.web_id}, headers).status_code
            == status
        )
        listed = httpx.get(f"{provider.base}/admin/clients", headers=headers, timeout=10)
        assert listed.status_code == status
    assert provider.setup.store.find_client_by_name("Sneaky") is None
    assert secret_works(provider, provider.web_id, provider.web_secret)


def test_a_taken_name_is_a_conflict(provider: Provider, admin: dict[str, str]) -> None:
    taken = call(
        provider,
        "",
        {"name": provider.web_name, "kind": "web", "redirect_uris": [WEB_REDIRECT]},
        admin,
    )
    assert taken.status_code == 409
