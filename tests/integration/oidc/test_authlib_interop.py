"""Authlib, an independent OpenID Connect client, signs in against a real server process.

Authlib builds the authorization URL (PKCE S256, state, nonce), our test browser fills in
the sign-in page with a TOTP code from ``oathtool``, Authlib exchanges the code and checks
the ID token against the served JWKS with its own ``CodeIDToken`` rules (iss, aud, exp,
iat, nonce, at_hash), then refreshes with ``offline_access``.
"""

from __future__ import annotations

import os
import secrets
import warnings

import httpx
import pytest

from tests.conftest import add_user
from tests.integration.oidc.conftest import (
    NATIVE_REDIRECT,
    WEB_REDIRECT,
    Provider,
    oathtool_totp,
    query_of,
)
from tokenstile.factors.otp_service import OtpService
from tokenstile.store.otp_repository import SqlOtpStore

with warnings.catch_warnings():
    # authlib.jose is deprecated in favour of joserfc, but CodeIDToken still stands on it;
    # authlib.deprecate shows its warnings "always" on import, so it is imported first.
    import authlib.deprecate  # noqa: F401

    warnings.simplefilter("ignore", DeprecationWarning)
    from authlib.common.security import generate_token
    from authlib.integrations.httpx_client import OAuth2Client
    from authlib.jose import JsonWebKey
    from authlib.jose import jwt as authlib_jwt
    from authlib.oidc.core import CodeIDToken

pytestmark = [
    pytest.mark.server,
    pytest.mark.filterwarnings("ignore:authlib.jose module is deprecated"),
]


def enroll_totp(provider: Provider, username: str) -> bytes:
    add_user(provider.setup, username)
    seed = os.urandom(20)
    otp = OtpService(
        SqlOtpStore(provider.setup.store), box=provider.setup.kek, clock=provider.setup.clock
    )
    otp.enroll_app(username, by="test", seed=seed)
    return seed


def check_id_token(
    provider: Provider, id_token: str, *, client_id: str, nonce: str, access_token: str
) -> CodeIDToken:
    jwks = JsonWebKey.import_key_set(httpx.get(f"{provider.base}/jwks.json", timeout=10).json())
    claims = authlib_jwt.decode(
        id_token,
        jwks,
        claims_cls=CodeIDToken,
        claims_options={
            "iss": {"essential": True, "value": provider.base},
            "aud": {"essential": True, "value": client_id},
            "sid": {"essential": True},
        },
        claims_params={"nonce": nonce, "client_id": client_id, "access_token": access_token},
    )
    claims.validate()
    return claims


def test_authlib_web_app_signs_in_with_a_totp_code_and_refreshes(provider: Provider) -> None:
    seed = enroll_totp(provider, "alice")
    discovery = httpx.get(f"{provider.base}/.well-known/openid-configuration", timeout=10).json()
    assert discovery["authorization_endpoint"] == f"{provider.base}/authorize"
    assert discovery["code_challenge_methods_supported"] == ["S256"]
    app = provider.keep(
        OAuth2Client(
            provider.web_id,
            provider.web_secret,
            scope="openid offline_access",
            redirect_uri=WEB_REDIRECT,
            code_challenge_method="S256",
            token_endpoint_auth_method="client_secret_basic",
        )
    )
    verifier = generate_token(48)
    nonce = generate_token(20)
    url, state = app.create_authorization_url(
        discovery["authorization_endpoint"], code_verifier=verifier, nonce=nonce
    )
    browser = provider.browser()
    done = browser.sign_in(url, "alice", oathtool_totp(seed))
    assert done.status_code == 303, done.text
    location = done.headers["location"]
    assert location.startswith(WEB_REDIRECT + "?")
    answer = query_of(location)
    assert answer["state"] == state
    assert answer["iss"] == provider.base  # RFC 9207

    token = app.fetch_token(
        discovery["token_endpoint"], authorization_response=location, code_verifier=verifier
    )
    assert token["token_type"] == "Bearer"
    assert "refresh_token" in token
    claims = check_id_token(
        provider,
        token["id_token"],
        client_id=provider.web_id,
        nonce=nonce,
        access_token=token["access_token"],
    )
    assert claims["sub"] == "alice"
    assert claims["acr"] == "otp"
    assert claims["amr"] == ["otp"]
    assert "auth_time" in claims
    served = httpx.get(f"{provider.base}/jwks.json", timeout=10).json()["keys"]
    assert claims.header["kid"] in {k["kid"] for k in served}
    assert claims.header["typ"] == "JWT"  # never taken for an RFC 9068 access token

    # The ID token's sid is the provider session the browser holds; the session exists.
    sessions = provider.setup.store.sessions_of("alice")
    provider_session = next(s for s in sessions if s.sid == claims["sid"])
    assert provider_session.parent_sid is None
    app_session = next(s for s in sessions if s.parent_sid == claims["sid"])
    assert app_session.client_id == provider.web_id

    refreshed = app.refresh_token(discovery["token_endpoint"])
    assert refreshed["refresh_token"] != token["refresh_token"]
    assert refreshed["access_token"] != token["access_token"]

    # A second app visit in the same browser: no sign-in page, a code at once (SSO).
    verifier2 = generate_token(48)
    url2, _ = app.create_authorization_url(
        discovery["authorization_endpoint"], code_verifier=verifier2, nonce=generate_token(20)
    )
    again = browser.get(url2)
    assert again.status_code == 302, again.text
    assert query_of(again.headers["location"])["code"]


def test_authlib_native_app_with_a_loopback_port_and_no_secret(provider: Provider) -> None:
    seed = enroll_totp(provider, "bob")
    port = 40000 + secrets.randbelow(20000)
    redirect = NATIVE_REDIRECT.replace("127.0.0.1", f"127.0.0.1:{port}")
    app = provider.keep(
        OAuth2Client(
            provider.native_id,
            scope="openid",
            redirect_uri=redirect,
            code_challenge_method="S256",
            token_endpoint_auth_method="none",
        )
    )
    verifier = generate_token(48)
    nonce = generate_token(20)
    url, _ = app.create_authorization_url(
        f"{provider.base}/authorize", code_verifier=verifier, nonce=nonce
    )
    done = provider.browser().sign_in(url, "bob", oathtool_totp(seed))
    assert done.status_code == 303, done.text
    assert done.headers["location"].startswith(redirect + "?")
    token = app.fetch_token(
        f"{provider.base}/token",
        authorization_response=done.headers["location"],
        code_verifier=verifier,
    )
    assert "refresh_token" not in token  # no offline_access asked
    claims = check_id_token(
        provider,
        token["id_token"],
        client_id=provider.native_id,
        nonce=nonce,
        access_token=token["access_token"],
    )
    assert claims["sub"] == "bob"
