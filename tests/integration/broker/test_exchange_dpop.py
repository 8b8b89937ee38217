"""Per-app tokens by token exchange, and DPoP-bound sessions, through the broker against
a real token service and the real keychain."""

from __future__ import annotations

from collections.abc import Callable

import httpx
import jwt
import pytest

from tests.integration.broker.conftest import TokenService, keychain_item, sign_in
from tokenstile.broker import Broker, DpopKey, TokenRefused, TokenstileAuth
from tokenstile.broker.model import StoredSession
from tokenstile.broker.store import KeyringStore
from tokenstile.tokens.model import LOCAL_AUDIENCE, AudiencePolicy, AuditEvent

pytestmark = [pytest.mark.server]

PAYROLL = "https://payroll.example"
HR = "https://hr.example"


def register_desk(service: TokenService, *, dpop_bound: bool = False) -> str:
    """A kiosk client that may obtain tokens for payroll and HR (HR wants a hardware key)."""
    setup = service.deployment()
    try:
        client, _ = setup.add_client(
            "Front desk",
            kind="kiosk",
            audiences=[LOCAL_AUDIENCE, PAYROLL, HR],
            scopes=["openid", "profile", "offline_access", "payroll:read", "payroll:write"],
            dpop_bound=dpop_bound,
        )
        setup.store.set_audience(
            AudiencePolicy(HR, "jwt", None, "phrh"),
            at=setup.clock.now(),
            audit=AuditEvent("audience_set", "info"),
        )
    finally:
        setup.close()
    return client.client_id


def claims(token: str) -> dict[str, object]:
    decoded: dict[str, object] = jwt.decode(token, options={"verify_signature": False})
    return decoded


def test_an_app_gets_a_token_narrowed_to_its_audience_by_exchange(
    token_service: Callable[..., TokenService], keychain: KeyringStore
) -> None:
    service = token_service()
    desk = register_desk(service)
    sign_in(Broker(), service, client_id=desk)

    payroll = Broker().access_token(audience=PAYROLL, scope="payroll:read")
    got = claims(payroll)
    assert (got["aud"], got["scope"], got["sub"], got["client_id"]) == (
        PAYROLL,
        "payroll:read",
        "alice",
        desk,
    )
    session = claims(Broker().access_token())
    assert got["sid"] == session["sid"]
    # Another app asks for the same: it comes from the keychain, not the server.
    assert Broker().access_token(audience=PAYROLL, scope="payroll:read") == payroll
    assert len(service.audit("token_exchange")) == 1
    assert [k.split()[0] for k in StoredSession.from_json(keychain_item()).exchanged] == [PAYROLL]

    # The audience's minimum acr holds here too: a TOTP session is not enough for HR.
    with pytest.raises(TokenRefused) as refused:
        Broker().access_token(audience=HR)
    assert refused.value.oauth_error in ("invalid_target", "insufficient_user_authentication")

    # /userinfo answers the session's own token only, never one for an app's audience.
    with httpx.Client(base_url=service.url, auth=TokenstileAuth(audience=PAYROLL)) as http:
        assert http.get("/userinfo").status_code == 401
    with httpx.Client(base_url=service.url, auth=TokenstileAuth()) as http:
        assert http.get("/userinfo").json()["sub"] == "alice"


def test_a_dpop_bound_session_and_a_stolen_token(
    token_service: Callable[..., TokenService],
    keychain: KeyringStore,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    service = token_service()
    desk = register_desk(service, dpop_bound=True)
    monkeypatch.setenv("TOKENSTILE_BROKER_DPOP", "true")
    sign_in(Broker(), service, client_id=desk)

    info = Broker().session()
    assert info is not None
    assert info.dpop_jkt
    stored = StoredSession.from_json(keychain_item())
    assert stored.dpop_key is not None
    assert "d" in stored.dpop_key
    token = Broker().token()
    assert token.token_type == "DPoP"
    assert claims(token.access_token)["cnf"] == {"jkt": info.dpop_jkt}

    with httpx.Client(base_url=service.url, auth=TokenstileAuth()) as http:
        assert http.get("/userinfo").json()["sub"] == "alice"

    # Stolen: without the key the token is useless, as a Bearer token or with a proof
    # made by another key.
    url = f"{service.url}/userinfo"
    thief = DpopKey.generate()
    with httpx.Client() as http:
        bearer = http.get(url, headers={"Authorization": f"Bearer {token.access_token}"})
        assert bearer.status_code == 401
        forged = http.get(
            url,
            headers={
                "Authorization": f"DPoP {token.access_token}",
                "DPoP": thief.proof("GET", url, access_token=token.access_token),
            },
        )
        assert forged.status_code == 401

    # Refresh and exchange prove the same key; the new tokens stay bound to it.
    renewed = Broker().token(min_ttl=10**6)
    assert renewed.access_token != token.access_token
    assert claims(renewed.access_token)["cnf"] == {"jkt": info.dpop_jkt}
    payroll = Broker().token(audience=PAYROLL)
    assert payroll.token_type == "DPoP"
    assert claims(payroll.access_token)["cnf"] == {"jkt": info.dpop_jkt}
