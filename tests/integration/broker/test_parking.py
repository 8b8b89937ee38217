"""Parked sessions through the broker (issue 17): a real token service process, the real
keychain (gnome-keyring), ``tokenstile`` commands in their own processes, and a malicious
app that reads the keychain item itself."""

from __future__ import annotations

import json
import threading
from collections.abc import Callable
from pathlib import Path

import httpx
import pytest

from tests.integration.broker.conftest import TokenService, secret_tool, sign_in, tokenstile
from tokenstile import paths
from tokenstile.broker import Broker
from tokenstile.broker.errors import Parked, ParkingFull
from tokenstile.broker.state_file import STATE_FILE, BrokerState
from tokenstile.broker.store import SERVICE, SESSION_ITEM, KeyringStore
from tokenstile.deployment import DEFAULT_KIOSK_CLIENT_ID

pytestmark = [pytest.mark.server]


def stolen_item() -> dict[str, object]:
    """What any app of the same OS user reads from the keychain, outside Python's SDK."""
    found = secret_tool("lookup", "service", SERVICE, "username", SESSION_ITEM).stdout
    item: dict[str, object] = json.loads(found)
    return item


def enroll_virtual_key(service: TokenService, key: Path) -> None:
    assert tokenstile("virtual-key", "create", str(key), "--pin", "4711").returncode == 0
    enrolled = tokenstile(
        "manage", "--db", service.db, "fido2", "enroll", "alice",
        "--device", f"virtual:{key}", "--pin", "4711",
    )  # fmt: skip
    assert enrolled.returncode == 0, enrolled.stderr


def key_login(service: TokenService, key: Path) -> None:
    login = tokenstile(
        "login", "--server", service.url, "--factor", "fido2", "--device", f"virtual:{key}",
        stdin="4711\n",
    )  # fmt: skip
    assert login.returncode == 0, login.stderr


def test_park_then_resume_with_the_virtual_key_across_processes(
    token_service: Callable[..., TokenService], keychain: KeyringStore, tmp_path: Path
) -> None:
    service = token_service()
    key = tmp_path / "key.json"
    enroll_virtual_key(service, key)
    sign_in(Broker(), service)
    before = Broker().session()
    assert before is not None
    copied_access = Broker().access_token()
    changes: list[BrokerState] = []
    seen = threading.Event()

    def on_change(state: BrokerState) -> None:
        changes.append(state)
        seen.set()

    watch = Broker().watch(on_change, interval=0.05)
    try:
        Broker().park()
        assert seen.wait(10)
        assert changes[-1].state == "parked"
        assert [p.name for p in changes[-1].parked] == ["Alice"]

        # Another process asks for a token: "parked", its own exit status, no token.
        token = tokenstile("token")
        assert token.returncode == 3, token
        assert token.stdout == ""
        assert "Parked: Alice stepped away" in token.stderr
        status = tokenstile("status", "--json")
        assert status.returncode == 3
        body = json.loads(status.stdout)
        assert body["state"] == "parked"
        assert [p["name"] for p in body["parked"]] == ["Alice"]
        assert "token" not in status.stdout  # names only
        text = tokenstile("status")
        assert text.returncode == 3
        assert "parked at the kiosk" in text.stdout
        assert "Alice" in text.stdout
        assert Broker.watched_state().state == "parked"
        with pytest.raises(Parked) as parked:
            Broker().access_token()
        assert parked.value.names == ("Alice",)

        # The malicious app: it reads the item and goes to the service itself.
        item = stolen_item()
        assert item["parked_until"]
        assert item["access"]["access_token"] == ""  # type: ignore[index]
        assert item["exchanged"] == {}
        with httpx.Client(base_url=service.url) as http:
            answer = http.post(
                "/token",
                data={
                    "grant_type": "refresh_token",
                    "refresh_token": str(item["refresh_token"]),
                    "client_id": DEFAULT_KIOSK_CLIENT_ID,
                },
            )
            assert answer.status_code == 400
            assert answer.json()["error"] == "session_parked"
            # An access token it copied before the park: userinfo calls it inactive.
            me = http.get("/userinfo", headers={"Authorization": f"Bearer {copied_access}"})
            assert me.status_code == 401

        # Alice comes back and signs in with her key in another process: resumed.
        seen.clear()
        key_login(service, key)
        assert seen.wait(10)
        assert changes[-1].state == "signed_in"
        assert changes[-1].name == "Alice"
        assert changes[-1].parked == ()
    finally:
        watch.stop()
    after = Broker().session()
    assert after is not None
    assert after.sid == before.sid  # the same session, not a new one
    token = tokenstile("token")
    assert token.returncode == 0, token.stderr
    assert token.stdout.strip()
    resumed = service.audit("session_resume")
    assert [e["outcome"] for e in resumed] == ["success"]
    # The refresh token the malicious app copied while Alice was away is spent: using it
    # now is reuse, and the service ends the session for safety.
    with httpx.Client(base_url=service.url) as http:
        answer = http.post(
            "/token",
            data={
                "grant_type": "refresh_token",
                "refresh_token": str(item["refresh_token"]),
                "client_id": DEFAULT_KIOSK_CLIENT_ID,
            },
        )
    assert answer.json()["error"] == "invalid_grant"
    state = json.loads((paths.runtime_dir() / STATE_FILE).read_text())
    assert state["state"] == "signed_in"


def test_another_person_signs_in_while_one_is_parked_and_the_cap_holds(
    token_service: Callable[..., TokenService], keychain: KeyringStore
) -> None:
    service = token_service()
    service.add_person("bob")
    sign_in(Broker(), service)
    Broker().park(max_parked=1)
    sign_in(Broker(), service, "bob")
    # Bob is served; Alice stays parked (not revoked) on the item's shelf.
    assert Broker().session() is not None
    assert Broker().access_token()
    assert Broker().state().state == "signed_in"
    assert [p.name for p in Broker().state().parked] == ["Alice"]
    assert service.audit("revoke") == []
    with pytest.raises(ParkingFull, match="1 people are parked"):
        Broker().park(max_parked=1)
    assert Broker().state().state == "signed_in"  # nothing changed
    # Signing Bob out leaves Alice parked; signing everyone out ends her too.
    Broker().logout()
    assert Broker().state().state == "parked"
    assert tokenstile("token").returncode == 3
    Broker().logout(everyone=True)
    assert Broker().state().state == "signed_out"
    assert Broker.watched_state().state == "signed_out"  # what watching apps see
    assert tokenstile("token").returncode == 2


def test_a_parked_session_the_service_ended_gives_way_to_a_new_sign_in(
    token_service: Callable[..., TokenService], keychain: KeyringStore, tmp_path: Path
) -> None:
    service = token_service()
    key = tmp_path / "key.json"
    enroll_virtual_key(service, key)
    sign_in(Broker(), service)
    parked_sid = Broker().park().sid
    # Ended at the service meanwhile (an admin, or anyone holding the refresh token).
    item = stolen_item()
    with httpx.Client(base_url=service.url) as http:
        ended = http.post(
            "/revoke",
            data={"token": str(item["refresh_token"]), "client_id": DEFAULT_KIOSK_CLIENT_ID},
        )
        assert ended.status_code == 200
    key_login(service, key)
    info = Broker().session()
    assert info is not None
    assert info.sid != parked_sid  # a new session, not the ended one
    assert Broker().parked_people() == ()
    assert Broker().access_token()
    refused = [e for e in service.audit("session_resume") if e["outcome"] != "success"]
    assert [e["detail"]["reason"] for e in refused] == ["session_revoked"]  # type: ignore[index]
