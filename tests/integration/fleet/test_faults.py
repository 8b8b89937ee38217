"""Faults under load: a replica killed, PostgreSQL restarted, SQLite on a full or read-only
filesystem. Clients retry (with the token they hold, the grace-period retry covers an
answer lost in the fault); afterwards every refresh family is consistent and the audit
log has one row per rotation.

The filesystem faults use a small tmpfs mounted for the test (the tests run as root).
"""

from __future__ import annotations

import shlex
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import Connection, func, select, text

from tests.conftest import PostgresCluster, ServerProcess, make_deployment, running_cluster
from tests.integration.fleet.conftest import SHARED, Fleet, error_of
from tests.integration.server.test_crash import (
    Chain,
    count_audit,
    count_tokens,
    family_problems,
    refresh_form,
    token_row,
)
from tests.integration.server.test_refresh_concurrency import open_sessions
from tokenstile.deployment import Deployment
from tokenstile.store import schema as t

pytestmark = pytest.mark.server

RETRY_AFTER = SHARED["refresh_retry_after"]  # of these servers: a retry waits a bit longer
PAUSE = RETRY_AFTER + 0.1


class Client:
    """Refreshes its chains at its replica; on a lost answer or a 503 it waits, moves to
    the next replica, and presents the same token again."""

    def __init__(self, fleet: Fleet, chains: list[Chain], first: int) -> None:
        self.fleet = fleet
        self.chains = chains
        self.replica = first
        self.statuses: list[int] = []
        self.unavailable: list[httpx.Response] = []
        self.done = 0  # rotations so far, read by the test while the load runs

    def run(self, stop: threading.Event) -> int:
        while not stop.is_set():
            for chain in self.chains:
                self.done += self.rotate(chain)
        return self.done

    def rotate(self, chain: Chain) -> int:
        for _ in range(200):
            chain.in_flight = chain.received[-1]
            try:
                response = httpx.post(
                    f"{self.fleet.url(self.replica)}/token",
                    data=refresh_form(chain.received[-1]),
                    timeout=10,
                )
            except httpx.TransportError:
                self.replica += 1  # the balancer takes the dead replica out
                time.sleep(PAUSE)
                continue
            self.statuses.append(response.status_code)
            if response.status_code == 503:
                self.unavailable.append(response)
                time.sleep(PAUSE)
                continue
            chain.in_flight = None
            if response.status_code != 200:
                chain.failures.append((response.status_code, response.text))
                return 0
            chain.received.append(response.json()["refresh_token"])
            return 1
        chain.failures.append("no answer after 200 tries")
        return 0


def chains_of(dep: Deployment, count: int) -> list[Chain]:
    return [Chain(sid, [token]) for sid, token in open_sessions(dep, count)]


def load(
    fleet: Fleet, chains: list[Chain], threads: int
) -> tuple[list[Client], threading.Event, Any]:
    clients = [Client(fleet, chains[i::threads], i) for i in range(threads)]
    stop = threading.Event()
    pool = ThreadPoolExecutor(threads)
    futures = [pool.submit(c.run, stop) for c in clients]
    return clients, stop, (pool, futures)


def rotations_reach(clients: list[Client], count: int, what: str, timeout: float = 60) -> None:
    """Wait until the load has rotated ``count`` tokens in all: progress, not a fixed sleep,
    so a busy machine makes the test slower, never wrong."""
    deadline = time.monotonic() + timeout
    while sum(c.done for c in clients) < count:
        assert time.monotonic() < deadline, f"{what}: {sum(c.done for c in clients)} rotations"
        time.sleep(0.05)


def finish(stop: threading.Event, running: Any) -> int:
    pool, futures = running
    stop.set()
    done = sum(f.result(timeout=60) for f in futures)
    pool.shutdown()
    return done


def assert_consistent(conn: Connection, chains: list[Chain]) -> None:
    """Families intact, every token a client received stored, one audit row per rotation."""
    assert [c.failures for c in chains if c.failures] == []
    assert family_problems(conn) == []
    assert (
        conn.execute(select(func.count()).where(t.sessions.c.revoked_at.is_not(None))).scalar_one()
        == 0
    )
    used = count_tokens(conn, t.refresh_tokens.c.used_at.is_not(None))
    superseded = count_tokens(conn, t.refresh_tokens.c.superseded_at.is_not(None))
    assert count_audit(conn, "refresh", "success") == used
    assert count_audit(conn, "refresh_retry", "success") == superseded
    assert count_audit(conn, "refresh", "alert") == 0
    for chain in chains:
        rows = [token_row(conn, token) for token in chain.received]
        assert all(r is not None for r in rows), f"{chain.sid}: a received token is missing"
        assert (rows[-1].used_at, rows[-1].superseded_at) == (None, None), chain.sid


@pytest.mark.postgres
def test_sigkill_one_replica_under_load_clients_go_on_at_the_other(
    fleet_factory: Callable[..., Fleet],
) -> None:
    fleet = fleet_factory(refresh_retry_after=RETRY_AFTER, refresh_grace=60)
    chains = chains_of(fleet.dep, 24)
    clients, stop, running = load(fleet, chains, 4)
    rotations_reach(clients, 30, "the load never got going")
    fleet.replicas[0].process.kill()  # SIGKILL: mid-request, nothing flushed
    fleet.replicas[0].process.wait(10)
    after_kill = sum(c.done for c in clients)
    rotations_reach(clients, after_kill + 30, "the survivor never took the load")
    rotations = finish(stop, running)

    assert rotations > 50, "the load never got going"
    assert all(c.replica % 2 == 1 for c in clients)  # everyone ended at the survivor
    with fleet.dep.engine.connect() as conn:
        assert_consistent(conn, chains)
    assert "Traceback" not in fleet.replicas[1].log_path.read_text()


def restart_with_a_pause(cluster: PostgresCluster, seen_down: Callable[[], bool]) -> None:
    """Stop PostgreSQL (fast: sessions cut), wait until the load has met the outage, start."""
    data = cluster.directory / "data"
    opts = shlex.split((data / "postmaster.opts").read_text())[1:]  # how it was started
    drop = {i for i, arg in enumerate(opts) if arg == "-D"}
    options = shlex.join(a for i, a in enumerate(opts) if i not in drop and i - 1 not in drop)
    ctl = str(cluster.pg_bin / "pg_ctl")
    cluster._as_owner([ctl, "-D", str(data), "-m", "fast", "-w", "stop"])
    try:
        deadline = time.monotonic() + 10
        while not seen_down() and time.monotonic() < deadline:
            time.sleep(0.05)
    finally:
        log = str(cluster.directory / "log")
        cluster._as_owner([ctl, "-D", str(data), "-l", log, "-w", "-o", options, "start"])


@pytest.mark.postgres
def test_postgres_restart_under_load_answers_503_then_recovers(
    fleet: Fleet, postgres: PostgresCluster
) -> None:
    # The package's shared fleet: it must recover for the tests after this one too.
    chains = chains_of(fleet.dep, 16)
    clients, stop, running = load(fleet, chains, 4)
    rotations_reach(clients, 30, "the load never got going")
    restart_with_a_pause(postgres, lambda: sum(len(c.unavailable) for c in clients) >= 4)
    time.sleep(1.0)  # the replicas reconnect by themselves: no restart, no signal
    marks = [len(c.statuses) for c in clients]
    rotations_reach(clients, sum(c.done for c in clients) + 30, "no rotation after the restart")
    deadline = time.monotonic() + 60
    while any(len(c.statuses) <= mark for c, mark in zip(clients, marks, strict=True)):
        assert time.monotonic() < deadline, "a client was never answered after the restart"
        time.sleep(0.05)
    rotations = finish(stop, running)

    statuses = {s for c in clients for s in c.statuses}
    assert statuses == {200, 503}, statuses  # no 500, no other refusal
    for response in (r for c in clients for r in c.unavailable):
        assert error_of(response) == (503, "temporarily_unavailable")
        assert response.headers["retry-after"] == "2"
    # After the restart every client was served again, at both replicas.
    assert all(
        c.statuses[mark:] and set(c.statuses[mark:]) == {200}
        for c, mark in zip(clients, marks, strict=True)
    ), [c.statuses[m:][:5] for c, m in zip(clients, marks, strict=True)]
    assert rotations > 50
    with fleet.dep.engine.connect() as conn:
        assert_consistent(conn, chains)
    assert "Traceback" not in fleet.logs()


# -- PostgreSQL on a full disk ----------------------------------------------------------------


@pytest.fixture
def postgres_on_small_fs() -> Iterator[tuple[PostgresCluster, Path]]:
    """A cluster of the test's own whose whole directory (data, WAL, socket) is a 96 MiB
    tmpfs: initdb leaves room for one small database, which the test then fills. (Under
    /tmp, not pytest's tmp_path: the postgres user must reach it.)"""
    mount = Path(tempfile.mkdtemp(prefix="tokenstile-pgfs-"))
    subprocess.run(["mount", "-t", "tmpfs", "-o", "size=96m", "tmpfs", str(mount)], check=True)
    try:
        with running_cluster(mount) as cluster:
            yield cluster, mount
    finally:
        subprocess.run(["umount", "-l", str(mount)], check=False)
        mount.rmdir()


def superuser_sql(cluster: PostgresCluster, sql: str) -> None:
    psql = str(cluster.pg_bin / "psql")
    where = ["-h", str(cluster.directory), "-p", str(cluster.port), "-U", "postgres"]
    cluster._as_owner([psql, *where, "-v", "ON_ERROR_STOP=1", "-c", sql])


@pytest.mark.postgres
def test_postgres_on_a_full_disk_answers_503_at_both_replicas_and_recovers(
    postgres_on_small_fs: tuple[PostgresCluster, Path],
    server_factory: Callable[..., ServerProcess],
) -> None:
    cluster, mount = postgres_on_small_fs
    db = cluster.create_database("full")
    first = server_factory(db=db)
    second = server_factory(db=db, issuer=first.settings.issuer)
    fleet = Fleet([first, second], Deployment(first.settings))
    try:
        chains = chains_of(fleet.dep, 8)
        # The WAL then has room in its current segment: what the load meets is a table or
        # index that cannot grow (PostgreSQL's "could not extend file": ERROR, 53100).
        superuser_sql(cluster, "CHECKPOINT")
        filler = fill(mount)
        clients, stop, running = load(fleet, chains, 4)
        deadline = time.monotonic() + 120
        while sum(len(c.unavailable) for c in clients) < 8:
            assert time.monotonic() < deadline, "the full disk was never noticed"
            time.sleep(0.05)
        refused_at = sum(c.done for c in clients)
        filler.unlink()
        rotations_reach(clients, refused_at + 30, "no rotation after space came back", 120)
        finish(stop, running)

        statuses = {s for c in clients for s in c.statuses}
        assert statuses == {200, 503}, statuses  # no 500, no other refusal
        for response in (r for c in clients for r in c.unavailable):
            assert error_of(response) == (503, "temporarily_unavailable")
        assert {c.replica % 2 for c in clients} <= {0, 1}
        for replica in fleet.replicas:
            replica.stop()
        assert "The disk holding the database is full." in fleet.logs()
        assert "Traceback" not in fleet.logs()
        with fleet.dep.engine.connect() as conn:
            assert_consistent(conn, chains)  # nothing half-written: every family whole
    finally:
        fleet.dep.close()


# -- SQLite on a small filesystem ----------------------------------------------------------------


@pytest.fixture
def small_fs(tmp_path: Path) -> Iterator[Path]:
    """A 2 MiB tmpfs, unmounted (lazily, if something still holds it) afterwards."""
    mount = tmp_path / "small"
    mount.mkdir()
    subprocess.run(["mount", "-t", "tmpfs", "-o", "size=2m", "tmpfs", str(mount)], check=True)
    try:
        yield mount
    finally:
        subprocess.run(["umount", "-l", str(mount)], check=False)


def fill(directory: Path) -> Path:
    """Write a file until the filesystem has no space left; the file."""
    filler = directory / "filler"
    with filler.open("wb", buffering=0) as out:
        try:
            while True:
                out.write(b"\0" * 4096)
        except OSError:
            pass
    return filler


def integrity(dep: Deployment) -> str:
    with dep.engine.connect() as conn:
        return str(conn.execute(text("PRAGMA integrity_check")).scalar_one())


def test_sqlite_on_a_full_disk_answers_503_and_recovers(
    small_fs: Path, server_factory: Callable[..., ServerProcess]
) -> None:
    server = server_factory(db=f"sqlite:///{small_fs / 'ts.db'}")
    dep = Deployment(server.settings)
    try:
        chains = chains_of(dep, 2)
        filler = fill(small_fs)
        with server.client() as http:
            full = http.post("/token", data=refresh_form(chains[0].received[-1]))
            challenge = http.post("/login/webauthn/options")
            assert http.get("/jwks.json").status_code == 200  # reading still works
            filler.unlink()
            # The refused rotation left nothing behind: the same token works now.
            again = http.post("/token", data=refresh_form(chains[0].received[-1]))
        assert error_of(full) == (503, "temporarily_unavailable")
        assert error_of(challenge) == (503, "temporarily_unavailable")
        assert again.status_code == 200, again.text
        chains[0].received.append(again.json()["refresh_token"])
        server.stop()
        assert "The disk holding the database is full." in server.log_path.read_text()
        assert integrity(dep) == "ok"
        with dep.engine.connect() as conn:
            assert_consistent(conn, chains)
            assert count_audit(conn, "refresh", "success") == 1
    finally:
        dep.close()


def test_sqlite_on_a_read_only_filesystem_is_a_clear_error(small_fs: Path) -> None:
    db = f"sqlite:///{small_fs / 'ts.db'}"
    make_deployment(db).close()
    subprocess.run(["mount", "-o", "remount,ro", str(small_fs)], check=True)
    try:
        commands = [
            ["server", "--db", db, "--port", "0"],
            ["manage", "--db", db, "user", "add", "bob"],
        ]
        answers = [
            subprocess.run(
                [sys.executable, "-m", "tokenstile.cli", *args],
                capture_output=True,
                text=True,
                timeout=60,
                check=False,
            )
            for args in commands
        ]
    finally:
        subprocess.run(["mount", "-o", "remount,rw", str(small_fs)], check=True)
    for answer in answers:
        assert answer.returncode == 1, answer
        assert "Traceback" not in answer.stderr, answer.stderr
        [sentence] = [line for line in answer.stderr.splitlines() if line.startswith("tokenstile:")]
        assert "read-only" in sentence or "Cannot open the database file" in sentence, sentence
    dep = make_deployment(db)
    try:
        assert integrity(dep) == "ok"
        assert dep.store.find_user("bob") is None
    finally:
        dep.close()
