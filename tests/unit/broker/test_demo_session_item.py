"""The kiosk demo's session item: chosen by a marker that only a live demo of this user
makes count, never the real session's item, and the CLI's login refused meanwhile."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.unit.broker.fakes import MemoryKeyring
from tokenstile.broker.file_store import EncryptedFileStore
from tokenstile.broker.options import BrokerOptions
from tokenstile.broker.store import (
    DEMO_SESSION_ITEM,
    SESSION_ITEM,
    KeyringStore,
    demo_marker_path,
    remove_demo_marker,
    running_demo,
    session_item,
    write_demo_marker,
)
from tokenstile.cli import session as cli_session
from tokenstile.errors import TokenstileError


def test_a_store_without_an_item_follows_a_running_demo_and_a_pinned_one_never() -> None:
    keychain = MemoryKeyring()
    default, real = KeyringStore(keychain), KeyringStore(keychain, item=SESSION_ITEM)
    demo = KeyringStore(keychain, item=DEMO_SESSION_ITEM)
    real.save("real")
    assert session_item() == SESSION_ITEM
    assert default.load() == "real"

    path = write_demo_marker("http://127.0.0.1:8600")
    assert path == demo_marker_path()
    assert path.stat().st_mode & 0o777 == 0o600
    marker = running_demo()
    assert marker is not None
    assert (marker.pid, marker.server) == (os.getpid(), "http://127.0.0.1:8600")
    assert session_item() == DEMO_SESSION_ITEM
    assert default.load() is None  # the demo's (empty) item: the real one is not seen
    default.save("demo")  # what a refresh in another app writes back
    assert keychain.items[("tokenstile", SESSION_ITEM)] == "real"
    assert demo.load() == "demo"
    assert "item 'demo-session'" in default.location

    remove_demo_marker()
    assert running_demo() is None
    assert default.load() == "real"
    demo.clear()
    assert keychain.items == {("tokenstile", SESSION_ITEM): "real"}


def test_a_marker_of_a_dead_process_or_another_writer_does_not_count(tmp_path: Path) -> None:
    path = write_demo_marker("http://127.0.0.1:8600")
    # A demo that was killed: its PID is gone (or taken since by another process).
    ended = subprocess.run(
        [sys.executable, "-c", "import os; print(os.getpid())"],
        check=True,
        capture_output=True,
        text=True,
    )
    body = json.loads(path.read_text())
    path.write_text(json.dumps({**body, "pid": int(ended.stdout)}))
    assert running_demo() is None
    path.write_text(json.dumps({**body, "started": "1"}))  # this PID, another start
    assert running_demo() is None
    path.write_text(json.dumps(body))
    assert running_demo() is not None
    path.chmod(0o666)  # writable by others: not trusted
    assert running_demo() is None
    path.chmod(0o600)
    path.write_text("{not json")
    assert running_demo() is None
    path.write_text(json.dumps({"pid": "1", "server": 3}))
    assert running_demo() is None
    # Another live demo's marker is left alone by this process.
    path.write_text(json.dumps({**body, "pid": os.getppid(), "started": None}))
    assert running_demo() is not None
    remove_demo_marker()
    assert path.exists()


def test_the_encrypted_file_store_has_a_demo_file_beside_the_real_one(tmp_path: Path) -> None:
    options = BrokerOptions(
        store="encrypted-file", store_file=tmp_path / "s.enc", store_passphrase="pass phrase"
    )
    default = EncryptedFileStore.from_options(options)
    demo = EncryptedFileStore.from_options(options, demo=True)
    default.save("real")
    write_demo_marker("http://127.0.0.1:8600")
    assert default.load() is None
    default.save("demo")
    assert demo.location == f"the encrypted file {tmp_path / 'demo-s.enc'}"
    assert demo.load() == "demo"
    remove_demo_marker()
    assert default.load() == "real"


def test_login_is_refused_while_a_demo_runs(capsys: pytest.CaptureFixture[str]) -> None:
    write_demo_marker("http://127.0.0.1:8600")
    args = cli_session.argparse.Namespace(server="http://127.0.0.1:1", client_id=None)
    with pytest.raises(TokenstileError, match="A kiosk demo is running"):
        cli_session._login(args, broker=None)  # type: ignore[arg-type]
