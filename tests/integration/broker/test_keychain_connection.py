"""The session in the real keychain through one D-Bus connection per process
(``tokenstile.broker.secret_service``): apps keep reading while another process
replaces the item, a forked child talks on its own connection, and a running app
survives the keyring daemon being restarted.

gnome-keyring-daemon aborts on a race when clients connect, read and disconnect while
an item is replaced (it did so once under ``test_refresh.py`` in a clean-clone run);
``bench/keychain_churn.py`` measures the two ways side by side."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import SecretService, restart_keychain_daemon
from tokenstile.broker import secret_service as shared
from tokenstile.broker.store import KeyringStore

pytestmark = [pytest.mark.slow]

ROOT = Path(__file__).resolve().parents[3]

_READER = """
import json, sys, time
from tokenstile.broker.store import KeyringStore
store, seen, failed, end = KeyringStore(), set(), [], time.monotonic() + float(sys.argv[1])
while time.monotonic() < end:
    try:
        seen.add(store.load())
    except Exception as exc:
        failed.append(repr(exc)[:200])
print(json.dumps({"seen": sorted(s or "" for s in seen), "failed": failed[:5]}))
"""

_WRITER = """
import sys, time
from tokenstile.broker.store import KeyringStore
store, end, n = KeyringStore(), time.monotonic() + float(sys.argv[1]), 0
while time.monotonic() < end:
    n += 1
    store.save(f"document {n % 3}")
"""


def run(code: str, *args: str) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-c", code, *args],
        cwd=ROOT,
        env=dict(os.environ),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def test_apps_keep_reading_while_another_process_replaces_the_session(
    keychain: KeyringStore,
) -> None:
    keychain.save("document 0")
    readers = [run(_READER, "4") for _ in range(6)]
    writer = run(_WRITER, "4")
    _, err = writer.communicate(timeout=60)
    assert writer.returncode == 0, err
    for reader in readers:
        out, err = reader.communicate(timeout=60)
        assert reader.returncode == 0, err
        result = json.loads(out)
        # Every read found one whole document: never an error, never nothing.
        assert result["failed"] == [], result
        assert set(result["seen"]) <= {"document 0", "document 1", "document 2"}, result


def test_one_process_keeps_one_connection(keychain: KeyringStore) -> None:
    keychain.save("one")
    assert keychain.load() == "one"
    connection = shared.connection_of_this_process()
    assert connection is not None
    for n in range(5):
        keychain.save(f"doc {n}")
        assert KeyringStore().load() == f"doc {n}"
    assert shared.connection_of_this_process() is connection


def test_a_forked_child_talks_on_its_own_connection(keychain: KeyringStore) -> None:
    keychain.save("before the fork")
    parents = shared.connection_of_this_process()
    assert parents is not None
    read, write = os.pipe()
    child = os.fork()
    if child == 0:  # pragma: no cover - the child reports through the pipe
        try:
            answer = {"before": shared.connection_of_this_process() is None}
            answer["read"] = keychain.load() == "before the fork"
            keychain.save("from the child")
            mine = shared.connection_of_this_process()
            answer["own"] = mine is not None and mine is not parents
            os.write(write, json.dumps(answer).encode())
        finally:
            os._exit(0)
    os.close(write)
    with os.fdopen(read) as pipe:
        answer = json.loads(pipe.read() or "{}")
    os.waitpid(child, 0)
    assert answer == {"before": True, "read": True, "own": True}
    # The parent's connection was never used by the child, and still works.
    assert keychain.load() == "from the child"
    assert shared.connection_of_this_process() is parents


def test_a_running_app_survives_the_keyring_daemon_restarting(
    keychain: KeyringStore, secret_service: SecretService
) -> None:
    keychain.save("kept on disk")
    assert keychain.load() == "kept on disk"  # its connection and transfer session made
    restart_keychain_daemon(secret_service)
    # The old transfer session died with the daemon; the next call makes a new one.
    assert keychain.load() == "kept on disk"
    keychain.save("after the restart")
    assert KeyringStore().load() == "after the restart"
