"""A SCIM client disabling a person (issue 18) tells every app they signed in to, by
back-channel logout, like an admin's disable: against a real server process and a real
relying party that receives and verifies the logout token."""

from __future__ import annotations

import os
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from tests.conftest import ServerProcess
from tests.integration.oidc.conftest import Fob, Provider, provider_on, shared_server_of
from tests.integration.oidc.logout_support import (
    live_sids,
    register_app,
    relying_party,
    sign_in_to,
    verify_logout_token,
)
from tokenstile.factors.otp_service import OtpService
from tokenstile.store.otp_repository import SqlOtpStore
from tokenstile.store.scim_repository import ScimTokens

pytestmark = [
    pytest.mark.server,
    pytest.mark.filterwarnings("ignore:authlib.jose module is deprecated"),
]

FAST: dict[str, Any] = {
    "backchannel_poll_interval": 0.05,
    "backchannel_backoff": 0.05,
    "backchannel_max_backoff": 0.2,
    "backchannel_attempts": 3,
    "backchannel_timeout": 3,
}


@pytest.fixture(scope="module")
def fast_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    yield from shared_server_of(tmp_path_factory, **FAST)


@pytest.fixture
def provider(fast_server: ServerProcess, monkeypatch: pytest.MonkeyPatch) -> Iterator[Provider]:
    yield from provider_on(fast_server, monkeypatch)


def scim_person(provider: Provider, headers: dict[str, str], username: str) -> str:
    """``username`` created over SCIM, with a one-time-code fob to sign in: their SCIM id."""
    made = httpx.post(
        f"{provider.base}/scim/v2/Users",
        json={"schemas": ["urn:ietf:params:scim:schemas:core:2.0:User"], "userName": username},
        headers=headers,
        timeout=10,
    )
    assert made.status_code == 201, made.text
    fob = Fob(os.urandom(20))
    setup = provider.setup
    OtpService(SqlOtpStore(setup.store), box=setup.kek, clock=setup.clock).enroll_hotp(
        username, fob.seed, by="test"
    )
    provider.fobs[username] = fob
    scim_id: str = made.json()["id"]
    return scim_id


@pytest.mark.parametrize("how", ["patch", "delete"])
def test_a_scim_disable_tells_every_app(provider: Provider, how: str) -> None:
    token = ScimTokens(provider.setup.store, clock=provider.setup.clock).create(
        f"idp-{how}", roles=(), by="test"
    )
    headers = {"Authorization": f"Bearer {token}"}
    username = f"sam-{how}"
    scim_id = scim_person(provider, headers, username)
    with relying_party() as shop_rp:
        shop = register_app(provider, shop_rp.url, "Shop")
        browser = provider.browser()
        sign_in_to(provider, browser, shop, username)
        assert live_sids(provider, username)
        url = f"{provider.base}/scim/v2/Users/{scim_id}"
        if how == "patch":
            body = {
                "schemas": ["urn:ietf:params:scim:api:messages:2.0:PatchOp"],
                "Operations": [{"op": "replace", "path": "active", "value": False}],
            }
            done = httpx.patch(url, json=body, headers=headers, timeout=10)
            assert done.status_code == 200, done.text
        else:
            assert httpx.delete(url, headers=headers, timeout=10).status_code == 204
        claims = verify_logout_token(provider.base, shop_rp.take().token, client_id=shop.client_id)
        assert claims["sub"]
        assert live_sids(provider, username) == set()
        ended = provider.audit("session_revoked")
        assert ended
        # the provider (browser) session ended by the client; the app's session with it
        assert {e["detail"]["by"] for e in ended} == {f"scim:idp-{how}", "provider session"}
