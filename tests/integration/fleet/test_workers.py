"""``tokenstile server`` with ``workers`` > 1: forked workers share one socket; a worker
that dies is replaced; SIGTERM stops them all."""

from __future__ import annotations

import os
import signal
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from tests.conftest import ServerProcess
from tests.integration.server.test_refresh_concurrency import open_sessions, post_refresh
from tokenstile.deployment import Deployment

pytestmark = [pytest.mark.postgres, pytest.mark.server]


def workers_of(pid: int) -> set[int]:
    return {int(p) for p in Path(f"/proc/{pid}/task/{pid}/children").read_text().split()}


def alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    # A zombie is gone for our purpose.
    return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] != "Z"


def test_two_workers_serve_one_port_and_a_dead_one_is_replaced(
    server_factory: Callable[..., ServerProcess], postgres_url: str
) -> None:
    server = server_factory(db=postgres_url, workers=2)
    supervisor = server.process.pid
    first = workers_of(supervisor)
    assert len(first) == 2
    dep = Deployment(server.settings)
    try:
        sessions = open_sessions(dep, 8)
        with server.client() as http:
            assert all(post_refresh(http, token)[0] == 200 for _, token in sessions[:4])
            victim = min(first)
            os.kill(victim, signal.SIGKILL)
            deadline = time.monotonic() + 20
            while len(workers_of(supervisor) - {victim}) < 2:
                assert time.monotonic() < deadline, "the dead worker was not replaced"
                time.sleep(0.05)
        # New connections: whichever worker takes them answers.
        with server.client() as http:
            assert all(post_refresh(http, token)[0] == 200 for _, token in sessions[4:])
    finally:
        dep.close()
    workers = workers_of(supervisor)
    server.stop()  # SIGTERM to the supervisor
    assert server.process.returncode == 0
    assert not any(alive(pid) for pid in workers)
    assert f"worker {victim} ended (signal 9); starting another" in server.log_path.read_text()
