"""Which URLs a DPoP proof's ``htu`` may name: the configured ones, never the request's."""

from __future__ import annotations

import pytest

from tokenstile.config import load_settings
from tokenstile.errors import ConfigError
from tokenstile.server.dpop import service_urls


def test_a_public_issuer_is_its_own_only_url() -> None:
    assert service_urls("https://auth.example/") == ("https://auth.example",)


def test_configured_public_urls_are_added() -> None:
    urls = service_urls("https://auth.example", ("https://login.example/tokenstile",))
    assert urls == ("https://auth.example", "https://login.example/tokenstile")


@pytest.mark.parametrize(
    ("issuer", "spellings"),
    [
        ("http://127.0.0.1:8600", ("http://127.0.0.1:8600", "http://localhost:8600")),
        ("http://[::1]:8600", ("http://[::1]:8600", "http://localhost:8600")),
        (
            "http://localhost:8600",
            ("http://localhost:8600", "http://127.0.0.1:8600", "http://[::1]:8600"),
        ),
        ("http://127.0.0.2:8600", ("http://127.0.0.2:8600",)),  # localhost is not .2
    ],
)
def test_a_loopback_issuer_has_its_other_spelling_at_the_same_port(
    issuer: str, spellings: tuple[str, ...]
) -> None:
    assert service_urls(issuer) == spellings


@pytest.mark.parametrize(
    "url",
    [
        "http://login.example",  # plain HTTP off loopback
        "ftp://login.example",
        "https://",
        "https://login.example/?next=1",
        "https://login.example/#x",
        "https://user@login.example",
        "https://login.example:99999",
    ],
)
def test_a_bad_public_url_is_a_config_error(url: str) -> None:
    with pytest.raises(ConfigError, match="public_urls"):
        load_settings(public_urls=[url])


def test_public_urls_come_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TOKENSTILE_PUBLIC_URLS", '["https://login.example/", "http://localhost:9"]')
    assert load_settings().public_urls == ["https://login.example", "http://localhost:9"]
