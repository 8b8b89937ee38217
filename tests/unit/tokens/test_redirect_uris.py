"""Redirect URI matching: exact, except a native app's loopback redirect at any port."""

from __future__ import annotations

import pytest

from tokenstile.tokens.redirect_uris import (
    RedirectUriRefused,
    check_registration,
    redirect_uri_matches,
)

LOOPBACK = ("http://127.0.0.1/callback", "http://[::1]/cb")


@pytest.mark.parametrize(
    "presented",
    [
        "http://127.0.0.1/callback",
        "http://127.0.0.1:1/callback",
        "http://127.0.0.1:65535/callback",
        "http://[::1]:51000/cb",
    ],
)
def test_a_native_loopback_redirect_matches_at_any_port(presented: str) -> None:
    assert redirect_uri_matches("native", LOOPBACK, presented)


@pytest.mark.parametrize(
    "presented",
    [
        "http://127.0.0.1:0/callback",
        "http://127.0.0.1:65536/callback",
        "http://127.0.0.1:5000/callback/",
        "http://127.0.0.1:5000/Callback",
        "http://127.0.0.1:5000/callback?a=1",
        "http://127.0.0.1:5000/callback#a",
        "http://127.0.0.1:5000@evil.example/callback",
        "http://127.0.0.1.evil.example/callback",
        "http://[::1]:5000/callback",
        "http://127.0.0.1:5000/cb",
        "http://localhost:5000/callback",
        "http://127.0.0.1:5000/call\\back",
        "http://127.0.0.1:5000/callback\n",
        "http://127.0.0.1:+5000/callback",
    ],
)
def test_anything_else_does_not(presented: str) -> None:
    assert not redirect_uri_matches("native", LOOPBACK, presented)


def test_a_web_app_matches_exactly_even_on_loopback() -> None:
    registered = ("http://127.0.0.1:8080/cb", "https://app.example/cb")
    assert redirect_uri_matches("web", registered, "http://127.0.0.1:8080/cb")
    assert not redirect_uri_matches("web", registered, "http://127.0.0.1:8081/cb")
    assert not redirect_uri_matches("web", registered, "https://app.example:443/cb")


def test_registration_rules() -> None:
    assert check_registration("native", ["https://app.example/oauth"]) == (
        "https://app.example/oauth",
    )
    assert check_registration("web", ["http://[::1]:8080/cb"]) == ("http://[::1]:8080/cb",)
    with pytest.raises(RedirectUriRefused):
        check_registration("web", ["https://a.example/cb"] * 21)
    with pytest.raises(RedirectUriRefused):
        check_registration("web", ["https://" + "a" * 2000 + ".example/cb"])
