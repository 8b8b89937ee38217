"""The parked people in the keychain item, and the state file apps watch (no server)."""

from __future__ import annotations

import json
import threading
from dataclasses import replace
from pathlib import Path

from tests.unit.broker.fakes import fake_jwt
from tokenstile.broker.model import AccessToken, StoredSession
from tokenstile.broker.state_file import (
    STATE_FILE,
    BrokerState,
    ParkedPerson,
    StateWatch,
    read_state,
    write_state,
)


def session(sub: str, name: str) -> StoredSession:
    token = fake_jwt(sub=sub, sid=f"sid-{sub}", aud="urn:tokenstile:local")
    return StoredSession(
        server="https://auth.example",
        client_id="tokenstile-kiosk",
        refresh_token=f"refresh-{sub}",
        access=AccessToken(
            access_token=token, token_type="Bearer", expires_at=2e9, scope="openid", issued_at=1e9
        ),
        claims={"sub": sub, "sid": f"sid-{sub}", "preferred_username": sub},
        display_name=name,
    )


def test_a_parked_session_keeps_no_token_an_app_could_use() -> None:
    alice = session("alice", "Alice")
    parked = alice.parked(1_800_000_900.0)
    assert parked.access.access_token == ""
    assert parked.exchanged == {}
    assert parked.refresh_token == alice.refresh_token  # the service refuses it meanwhile
    back = StoredSession.from_json(parked.to_json())
    assert back.parked_until == 1_800_000_900.0
    assert back.name == "Alice"


def test_the_shelf_round_trips_one_level_deep() -> None:
    alice = session("alice", "Alice").parked(1.0)
    carol = session("carol", "Carol").parked(2.0)
    bob = session("bob", "Bob")
    item = json.loads(replace(bob, shelf=(alice, carol)).to_json())
    # A shelf inside a shelf entry (written by hand) is not read.
    item["shelf"][0]["shelf"] = [json.loads(bob.to_json())]
    read = StoredSession.from_json(json.dumps(item))
    assert [e.name for e in read.everyone_parked()] == ["Alice", "Carol"]
    assert read.shelf[0].shelf == ()
    assert read.parked_until is None


def test_the_state_file_is_replaced_whole_and_damage_reads_as_signed_out(tmp_path: Path) -> None:
    assert read_state(tmp_path).state == "signed_out"
    state = BrokerState(
        state="parked", parked=(ParkedPerson(name="Alice", until=5.0),), changed_at=1.0
    )
    write_state(tmp_path, state)
    assert read_state(tmp_path) == state
    assert [p.name for p in tmp_path.iterdir()] == [STATE_FILE]  # no temporary left
    (tmp_path / STATE_FILE).write_text('{"state": "owned", "token": "x"}')
    assert read_state(tmp_path).state == "signed_out"
    (tmp_path / STATE_FILE).write_bytes(b"{" * 70_000)
    assert read_state(tmp_path).state == "signed_out"


def test_a_watch_is_called_once_per_replacement(tmp_path: Path) -> None:
    seen: list[BrokerState] = []
    called = threading.Event()

    def on_change(state: BrokerState) -> None:
        seen.append(state)
        called.set()

    with StateWatch(tmp_path, on_change, interval=0.01):
        write_state(tmp_path, BrokerState(state="signed_in", name="Alice"))
        assert called.wait(10)
        called.clear()
        write_state(tmp_path, BrokerState(state="signed_out"))
        assert called.wait(10)
    assert [s.state for s in seen] == ["signed_in", "signed_out"]
    assert seen[0].name == "Alice"
