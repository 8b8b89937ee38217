"""The security key's ceremonies over stand-in server steps: enrollment with a first PIN,
in either order of the server's options and the key's checks, and a usernameless login
that refuses a foreign rp id before the key is touched."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import pytest

from tests.unit.factors.webauthn_keys import (
    ORIGIN,
    new_challenge,
    registration_options,
    request_options,
)
from tests.unit.virtual.ceremony import PIN, new_key
from tokenstile.devices.fido2_client import PinPrompt, SecurityKeyClient
from tokenstile.devices.key_ceremonies import enroll_security_key, login_with_key
from tokenstile.errors import OriginMismatch


class Server:
    """The two steps of a registration and of a login, recording what happened when."""

    def __init__(self) -> None:
        self.steps: list[str] = []
        self.origin = "http://127.0.0.1:8000"

    def begin_registration(self) -> Mapping[str, Any]:
        self.steps.append("begin")
        return {"handle": "h1", "publicKey": registration_options(challenge=new_challenge())}

    def complete_registration(
        self, handle: Any, credential: dict[str, Any], uv_method: str
    ) -> tuple[Any, str, str]:
        self.steps.append("complete")
        return handle, credential["type"], uv_method

    # the login steps (``KeyLoginServer``)
    def begin(self) -> Mapping[str, Any]:
        self.steps.append("options")
        return {"handle": "h2", "publicKey": request_options(new_challenge())}

    def complete(self, handle: Any, credential: Mapping[str, Any]) -> tuple[Any, Any]:
        self.steps.append("login")
        return handle, credential["type"]


def test_a_key_without_a_pin_gets_one_and_is_not_asked_it_again() -> None:
    server, asked, set_pins = Server(), [], []
    key = new_key(pin=None)

    def on_pin(prompt: PinPrompt) -> str | None:
        asked.append(prompt)
        return None

    def new_pin() -> str:
        server.steps.append("new pin")
        return PIN

    answer = enroll_security_key(
        key,
        server.begin_registration,
        server.complete_registration,
        origin=ORIGIN,
        new_pin=new_pin,
        on_pin=on_pin,
        on_pin_set=lambda: set_pins.append(True),
    )
    assert answer == ("h1", "public-key", "pin")
    assert server.steps == ["new pin", "begin", "complete"]  # the key checked first
    assert asked == []
    assert set_pins == [True]
    # The PIN set is the key's PIN from now on.
    login = SecurityKeyClient(key, origin=ORIGIN, on_pin=lambda _prompt: PIN)
    assert login_with_key(login, server) == ("h2", "public-key")


def test_an_origin_decided_from_the_options_asks_the_server_first() -> None:
    server, origins = Server(), []

    def origin(public_key: Mapping[str, Any]) -> str:
        origins.append(public_key["rp"]["id"])
        return ORIGIN

    enroll_security_key(
        new_key(),
        server.begin_registration,
        server.complete_registration,
        origin=origin,
        new_pin=lambda: pytest.fail("the key has a PIN"),
        on_pin=lambda _prompt: PIN,
    )
    assert server.steps == ["begin", "complete"]
    assert origins == ["auth.example"]


def test_options_for_another_rp_id_never_reach_the_key() -> None:
    server = Server()
    key = SecurityKeyClient(new_key(), origin="https://elsewhere.example")
    with pytest.raises(OriginMismatch) as refused:
        login_with_key(key, server)
    assert server.origin in refused.value.message
    assert server.steps == ["options"]
