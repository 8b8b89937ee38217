"""The demo's API and the sample desktop app's copyable part (``SessionWatch``): the API
takes only a token narrowed to its own audience, which the app obtains by token exchange
as its registered client; the session's own token is refused there."""

from __future__ import annotations

import importlib.util
import sys
from collections.abc import Iterator
from types import ModuleType

import httpx
import jwt
import pytest

from tests.conftest import ROOT
from tokenstile.broker import Broker
from tokenstile.broker.memory_store import MemorySessionStore
from tokenstile.demo.environment import DemoEnvironment, start_demo
from tokenstile.demo.sample_app import DEMO_API_AUDIENCE, DEMO_APP_CLIENT_ID, HELLO_PATH

pytestmark = pytest.mark.server


def sample_app() -> ModuleType:
    path = ROOT / "examples" / "desktop-app" / "desktop_app.py"
    spec = importlib.util.spec_from_file_location("desktop_app", path)
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # its dataclasses look their module up there
    spec.loader.exec_module(module)
    return module


@pytest.fixture
def demo() -> Iterator[DemoEnvironment]:
    environment = start_demo(pcsc=False, resource_server=True)
    try:
        yield environment
    finally:
        environment.close()


def test_the_api_takes_only_a_token_narrowed_to_it_and_the_app_follows_the_session(
    demo: DemoEnvironment,
) -> None:
    app = sample_app()
    assert (app.APP_ID, app.API_AUDIENCE) == (DEMO_APP_CLIENT_ID, DEMO_API_AUDIENCE)
    broker = Broker(store=MemorySessionStore(), app_id=DEMO_APP_CLIENT_ID)
    with broker.login_client(demo.service.url) as client:
        grant = client.login_totp("taylor", demo.otp_code("taylor")[0])
        broker.save_login(grant, server=client.server, client_id=client.client_id)
    assert demo.resource_url is not None
    hello = demo.resource_url + HELLO_PATH

    own = broker.access_token()
    refused = httpx.get(hello, headers={"Authorization": f"Bearer {own}"})
    assert refused.status_code == 401, refused.text
    assert refused.json()["error"] == "invalid_token"

    narrowed = broker.access_token(audience=DEMO_API_AUDIENCE)
    claims = jwt.decode(narrowed, options={"verify_signature": False})
    assert (claims["aud"], claims["client_id"], claims["sub"]) == (
        DEMO_API_AUDIENCE,
        DEMO_APP_CLIENT_ID,
        "taylor",
    )
    accepted = httpx.get(hello, headers={"Authorization": f"Bearer {narrowed}"})
    assert accepted.status_code == 200, accepted.text

    watch = app.SessionWatch(broker, demo.resource_url)
    try:
        seen = watch.look()
        assert seen is not None
        assert seen.signed_in
        assert seen.username == "taylor"
        assert "your token checks out" in seen.api, seen.api
        assert watch.look() is None  # nothing changed: nothing new, no request
        broker.logout()
        gone = watch.look()
        assert gone is not None
        assert not gone.signed_in
    finally:
        watch.close()
