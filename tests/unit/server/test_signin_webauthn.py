"""The sign-in page's security-key helpers: the issuer's origin as a browser writes it,
and what a challenge is bound to."""

from __future__ import annotations

import dataclasses

import pytest

from tokenstile.server.signin_webauthn import binding_of, web_origin
from tokenstile.tokens.model import Client


@pytest.mark.parametrize(
    ("issuer", "origin"),
    [
        ("https://ID.Example.com", "https://id.example.com"),
        ("https://id.example.com:443/tenant", "https://id.example.com"),
        ("https://id.example.com:8443", "https://id.example.com:8443"),
        ("http://localhost:8080", "http://localhost:8080"),
        ("http://[::1]:80", "http://[::1]"),
    ],
)
def test_the_issuer_origin_is_what_a_browser_writes(issuer: str, origin: str) -> None:
    assert web_origin(issuer) == origin


def test_a_binding_differs_for_another_browser_or_request() -> None:
    from tokenstile.server.authorize_routes import AuthorizationRequest

    ask = AuthorizationRequest(
        client=Client.__new__(Client),
        redirect_uri="https://app.example/cb",
        state="s",
        scope=("openid",),
        nonce=None,
        code_challenge="c" * 43,
        prompt=frozenset(),
        max_age=None,
        login_hint="",
        acr_values=(),
        carried=(("client_id", "app"), ("state", "s")),
    )
    other = dataclasses.replace(ask, carried=(("client_id", "app"), ("state", "t")))
    mine = binding_of("pre-a", ask)
    assert mine == binding_of("pre-a", ask)
    assert mine["browser"] != binding_of("pre-b", ask)["browser"]
    assert mine["request"] != binding_of("pre-a", other)["request"]
    assert "pre-a" not in str(mine)  # the cookie's value is not stored
