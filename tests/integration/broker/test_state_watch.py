"""An app's session watch hears of a change made by another process at once, not at its
next poll: the SDK's ``StateWatch`` wakes on inotify's rename event for
``broker-state.json`` (Linux). The poll interval here is an hour, so a watch that only
polled would never call back within the test's wait."""

from __future__ import annotations

import subprocess
import sys
import threading
import time
from pathlib import Path

from tokenstile.broker.state_file import BrokerState, StateWatch, write_state

HOUR = 3600.0


def write_from_another_process(runtime: Path, name: str) -> None:
    code = (
        "import sys; from pathlib import Path; "
        "from tokenstile.broker.state_file import BrokerState, write_state; "
        "write_state(Path(sys.argv[1]), BrokerState(state='signed_in', name=sys.argv[2]))"
    )
    subprocess.run([sys.executable, "-c", code, str(runtime), name], check=True, timeout=60)


def test_a_sign_in_in_another_process_wakes_the_watch_before_its_poll(tmp_path: Path) -> None:
    heard: list[BrokerState] = []
    called = threading.Event()

    def on_change(state: BrokerState) -> None:
        heard.append(state)
        called.set()

    with StateWatch(tmp_path, on_change, interval=HOUR):
        write_from_another_process(tmp_path, "Alice")
        assert called.wait(30), "the watch waited for its poll: no inotify wake-up"
        called.clear()
        write_from_another_process(tmp_path, "Bob")
        assert called.wait(30)
    assert [s.name for s in heard] == ["Alice", "Bob"]


def test_other_files_in_the_runtime_directory_do_not_call_back(tmp_path: Path) -> None:
    heard: list[BrokerState] = []
    called = threading.Event()

    def on_change(state: BrokerState) -> None:
        heard.append(state)
        called.set()

    with StateWatch(tmp_path, on_change, interval=HOUR):
        (tmp_path / "offline-key.json").write_text("{}")
        write_state(tmp_path, BrokerState(state="signed_out"))
        assert called.wait(30)
    assert [s.state for s in heard] == ["signed_out"]


def test_without_the_runtime_directory_the_watch_polls_then_sets_its_watch(
    tmp_path: Path,
) -> None:
    """An app that starts before anyone signed in on the machine: no runtime directory
    yet. It polls, and once the first sign-in made the directory it waits on inotify."""
    runtime = tmp_path / "not-yet"
    called = threading.Event()
    with StateWatch(runtime, lambda _state: called.set(), interval=0.05) as watch:
        runtime.mkdir()
        write_state(runtime, BrokerState(state="signed_in", name="Alice"))
        assert called.wait(30)
        deadline = time.monotonic() + 30
        while watch._wake is None:  # is the inotify watch set by now?
            assert time.monotonic() < deadline, "the watch kept polling"
            time.sleep(0.05)
