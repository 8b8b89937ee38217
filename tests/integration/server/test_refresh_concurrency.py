"""Refresh rotation under real concurrency, against real ``tokenstile server`` processes.

One refresh token presented many times at once (threads, separate processes, one
server or two replicas on one database) must be rotated exactly once: one 200, every
other request a plain ``invalid_grant``, the session untouched. Retries after a lost
response within the grace period succeed; reuse after it ends the whole family.
"""

from __future__ import annotations

import multiprocessing
import sqlite3
import threading
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

import httpx
import pytest
from sqlalchemy import select

from tests.conftest import ServerProcess, add_user, kiosk_client
from tokenstile.deployment import DEFAULT_KIOSK_CLIENT_ID, Deployment
from tokenstile.store import schema as t

pytestmark = pytest.mark.server

Outcome = tuple[int, dict[str, Any]]

THREADS = 16
PROCESSES = 8
# A refresh answers in milliseconds; a request still unanswered after this long is stuck
# (the server gives up on SQLite's lock only after its 30 s busy timeout).
ANSWER_WITHIN = 10.0


# -- helpers ---------------------------------------------------------------------------


def refresh_form(token: str) -> dict[str, str]:
    return {
        "grant_type": "refresh_token",
        "refresh_token": token,
        "client_id": DEFAULT_KIOSK_CLIENT_ID,
    }


def post_refresh(client: httpx.Client, token: str) -> Outcome:
    """(status, body); status 0 when no answer came within ANSWER_WITHIN seconds."""
    try:
        response = client.post("/token", data=refresh_form(token), timeout=ANSWER_WITHIN)
    except httpx.TimeoutException:
        return 0, {"error": f"no answer within {ANSWER_WITHIN:g} s"}
    return response.status_code, response.json()


def refresh_once(base_url: str, token: str) -> Outcome:
    with httpx.Client(base_url=base_url, timeout=ANSWER_WITHIN) as client:
        return post_refresh(client, token)


def open_sessions(dep: Deployment, count: int, username: str = "alice") -> list[tuple[str, str]]:
    """``count`` fresh sessions as (sid, refresh token)."""
    user = dep.store.find_user(username) or add_user(dep, username)
    service, client = dep.token_service(), kiosk_client(dep)
    opened = (
        service.sessions.open_session(
            user=user, client=client, factor="otp", amr=["otp"], acr="otp"
        )
        for _ in range(count)
    )
    return [(r.sid, r.refresh_token) for r in opened]


def refresh_trail(dep: Deployment, sid: str) -> list[tuple[str, str, str | None]]:
    """The session's refresh audit entries as (event, outcome, reason)."""
    return [
        (e["event"], e["outcome"], e["detail"].get("reason"))
        for e in dep.store.audit_entries()
        if e["sid"] == sid and e["event"].startswith("refresh")
    ]


def revoked(dep: Deployment, sid: str) -> tuple[float | None, str | None]:
    s = t.sessions
    with dep.engine.connect() as conn:
        row = conn.execute(select(s.c.revoked_at, s.c.revoke_reason).where(s.c.sid == sid)).one()
    return row.revoked_at, row.revoke_reason


def assert_single_rotation(dep: Deployment, sid: str, outcomes: list[Outcome]) -> str:
    """Exactly one winner, plain invalid_grant for the rest, family intact; the winner's token."""
    trail = refresh_trail(dep, sid)
    wins = [body for status, body in outcomes if status == 200]
    assert len(wins) == 1, f"{len(wins)} of {len(outcomes)} requests rotated; audit: {trail}"
    losers = [(status, body.get("error")) for status, body in outcomes if status != 200]
    assert losers == [(400, "invalid_grant")] * (len(outcomes) - 1), losers
    assert [e for e in trail if e[1] != "failure"] == [("refresh", "success", None)], trail
    assert revoked(dep, sid) == (None, None), trail
    token = wins[0]["refresh_token"]
    assert isinstance(token, str)
    return token


@dataclass
class Topology:
    servers: list[ServerProcess]
    dep: Deployment

    def url(self, i: int) -> str:
        return self.servers[i % len(self.servers)].base_url


@pytest.fixture
def deployments() -> Iterator[Callable[[ServerProcess], Deployment]]:
    """A Deployment over a server's database and KEK, closed at teardown."""
    opened: list[Deployment] = []

    def open_for(server: ServerProcess) -> Deployment:
        dep = Deployment(server.settings)
        opened.append(dep)
        return dep

    yield open_for
    for dep in opened:
        dep.close()


@pytest.fixture(
    params=[
        "sqlite-1-server",
        "sqlite-2-replicas",
        pytest.param("postgres-2-replicas", marks=pytest.mark.postgres),
    ]
)
def topology(
    request: pytest.FixtureRequest,
    server_factory: Callable[..., ServerProcess],
    deployments: Callable[[ServerProcess], Deployment],
) -> Topology:
    name: str = request.param
    db = request.getfixturevalue("postgres_url") if name.startswith("postgres") else None
    first = server_factory(db=db)
    servers = [first]
    if "replicas" in name:
        # Same database, same KEK file, same issuer: a second replica behind a balancer.
        servers.append(server_factory(db=first.settings.db, issuer=first.settings.issuer))
    return Topology(servers, deployments(first))


# -- racing one token ------------------------------------------------------------------


def race_threads(topology: Topology, token: str, n: int) -> list[Outcome]:
    """``n`` threads, connections already open, post ``token`` when a barrier lets them go."""
    barrier = threading.Barrier(n)

    def one(i: int) -> Outcome:
        with httpx.Client(base_url=topology.url(i), timeout=ANSWER_WITHIN) as client:
            client.get("/healthz").raise_for_status()  # connect before the race
            barrier.wait(timeout=30)
            return post_refresh(client, token)

    with ThreadPoolExecutor(max_workers=n) as pool:
        return list(pool.map(one, range(n)))


# Separate processes: a spawn pool made once per module (each child imports this module,
# about a second of CPU), with a barrier every worker waits on before its one request.
_barrier: Any = None


def _init_racer(barrier: Any) -> None:
    global _barrier  # noqa: PLW0603 - per-process state of a pool worker
    _barrier = barrier


def _race_in_process(job: tuple[str, str]) -> Outcome:
    base_url, token = job
    with httpx.Client(base_url=base_url, timeout=ANSWER_WITHIN) as client:
        client.get("/healthz").raise_for_status()  # connect before the race
        # Blocking here also keeps this worker from taking a second job of the race.
        _barrier.wait(60)
        return post_refresh(client, token)


@pytest.fixture(scope="module")
def racer_pool() -> Iterator[Any]:
    ctx = multiprocessing.get_context("spawn")
    pool = ctx.Pool(PROCESSES, initializer=_init_racer, initargs=(ctx.Barrier(PROCESSES),))
    try:
        yield pool
    finally:
        pool.close()
        pool.join()


def race_processes(pool: Any, topology: Topology, token: str) -> list[Outcome]:
    jobs = [(topology.url(i), token) for i in range(PROCESSES)]
    outcomes: list[Outcome] = pool.map(_race_in_process, jobs, chunksize=1)
    return outcomes


@pytest.mark.parametrize("racers", ["threads", "processes"])
def test_one_token_presented_at_once_rotates_exactly_once(
    topology: Topology, racers: str, request: pytest.FixtureRequest
) -> None:
    [(sid, token)] = open_sessions(topology.dep, 1)

    if racers == "threads":
        outcomes = race_threads(topology, token, THREADS)
    else:
        outcomes = race_processes(request.getfixturevalue("racer_pool"), topology, token)

    winner = assert_single_rotation(topology.dep, sid, outcomes)
    # The family survived: the winner's token works, on every replica's database.
    status, body = refresh_once(topology.url(1), winner)
    assert status == 200, (body, refresh_trail(topology.dep, sid))
    assert revoked(topology.dep, sid) == (None, None)


# -- many sessions at once -------------------------------------------------------------


def test_many_sessions_refreshed_concurrently_all_succeed(topology: Topology) -> None:
    threads, per_thread, rounds = 24, 2, 4
    sessions = open_sessions(topology.dep, threads * per_thread)

    def chain(i: int) -> list[Outcome]:
        mine = [token for _, token in sessions[i * per_thread : (i + 1) * per_thread]]
        seen: list[Outcome] = []
        with httpx.Client(base_url=topology.url(i), timeout=ANSWER_WITHIN) as client:
            for _ in range(rounds):
                for k, token in enumerate(mine):
                    status, body = post_refresh(client, token)
                    seen.append((status, body))
                    if status != 200:
                        return seen
                    mine[k] = body["refresh_token"]
        return seen

    with ThreadPoolExecutor(max_workers=threads) as pool:
        outcomes = [o for chained in pool.map(chain, range(threads)) for o in chained]

    failures = [o for o in outcomes if o[0] != 200]
    assert failures == [], failures[:5]
    assert len(outcomes) == threads * per_thread * rounds
    entries = topology.dep.store.audit_entries()
    successes = [e for e in entries if e["event"] == "refresh" and e["outcome"] == "success"]
    assert len(successes) == len(outcomes)
    assert [e for e in entries if e["outcome"] == "alert"] == []
    for server in topology.servers:
        log = server.log_path.read_text(errors="replace")
        assert "locked" not in log, log[-2000:]
        assert "Traceback" not in log, log[-2000:]


def test_refreshes_queued_behind_a_writer_all_complete(
    server_factory: Callable[..., ServerProcess],
    deployments: Callable[[ServerProcess], Deployment],
) -> None:
    """More refreshes waiting for SQLite's write lock than the server has pooled connections.

    Another process (an admin command, a second replica) holds the write lock while the
    first refreshes of a fresh server arrive; when it lets go, every request must finish.
    A refresh that needs a second pooled connection while it holds the write lock (for
    example to load a cache) waits for a connection that the queued writers hold while
    they wait for it: nothing moves until SQLite's 30 s busy timeout.
    """
    server = server_factory()
    dep = deployments(server)
    sessions = open_sessions(dep, 20)
    path = server.settings.db.removeprefix("sqlite:///")
    other_writer = sqlite3.connect(path, isolation_level=None, timeout=30)
    try:
        other_writer.execute("BEGIN IMMEDIATE")
        with ThreadPoolExecutor(max_workers=len(sessions)) as pool:
            futures = [pool.submit(refresh_once, server.base_url, tok) for _, tok in sessions]
            time.sleep(1.0)  # every request is in the server, queued on the lock
            other_writer.execute("COMMIT")
            outcomes = [f.result() for f in futures]
    finally:
        other_writer.close()
    assert [o for o in outcomes if o[0] != 200] == [], server.log_path.read_text()[-1500:]


# -- grace period ----------------------------------------------------------------------


def test_retry_after_lost_response_within_grace(
    server_factory: Callable[..., ServerProcess],
    deployments: Callable[[ServerProcess], Deployment],
) -> None:
    server = server_factory(refresh_retry_after=0.3)
    dep = deployments(server)
    [(sid, t0)] = open_sessions(dep, 1)

    with server.client() as client:
        status, lost = post_refresh(client, t0)  # the response "never arrives"
        assert status == 200
        # At once, the retry cannot be told from a racer: refused, nothing harmed.
        status, early = post_refresh(client, t0)
        assert (status, early["error"]) == (400, "invalid_grant")
        assert revoked(dep, sid) == (None, None)
        time.sleep(0.4)
        status, retried = post_refresh(client, t0)
        assert status == 200, retried
        assert retried["refresh_token"] != lost["refresh_token"]
        assert revoked(dep, sid) == (None, None)
        assert [e for e in refresh_trail(dep, sid) if e[1] == "success"] == [
            ("refresh", "success", None),
            ("refresh_retry", "success", None),
        ]

        # The person stays signed in: the retry's token rotates normally.
        status, body = post_refresh(client, retried["refresh_token"])
        assert status == 200, body
        newest = body["refresh_token"]
        assert revoked(dep, sid) == (None, None)

        # The successor the retry replaced is dead; presenting it is reuse of a
        # superseded token, which ends the family (see RefreshGrant.refresh).
        status, body = post_refresh(client, lost["refresh_token"])
        assert (status, body["error"]) == (400, "invalid_grant")
        assert revoked(dep, sid)[1] == "refresh_token_reuse"
        status, body = post_refresh(client, newest)
        assert (status, body["error"]) == (400, "invalid_grant")


def test_reuse_after_grace_revokes_the_family(
    server_factory: Callable[..., ServerProcess],
    deployments: Callable[[ServerProcess], Deployment],
) -> None:
    server = server_factory(refresh_grace=0.5)
    dep = deployments(server)
    [(sid, t0)] = open_sessions(dep, 1)

    with server.client() as client:
        status, body = post_refresh(client, t0)
        assert status == 200
        newest = body["refresh_token"]
        time.sleep(0.7)  # past the grace period

        status, body = post_refresh(client, t0)
        assert (status, body["error"]) == (400, "invalid_grant"), body
        assert revoked(dep, sid)[1] == "refresh_token_reuse"
        # The whole family is gone, the newest token included.
        status, body = post_refresh(client, newest)
        assert (status, body["error"]) == (400, "invalid_grant"), body

    trail = refresh_trail(dep, sid)
    assert ("refresh", "alert", "refresh_token_reuse") in trail, trail
    assert trail[-1] == ("refresh", "failure", "session_revoked"), trail


def test_reuse_when_successor_was_used_revokes_even_within_grace(
    server_factory: Callable[..., ServerProcess],
    deployments: Callable[[ServerProcess], Deployment],
) -> None:
    server = server_factory()
    dep = deployments(server)
    [(sid, t0)] = open_sessions(dep, 1)
    with server.client() as client:
        status, b1 = post_refresh(client, t0)
        assert status == 200
        status, b2 = post_refresh(client, b1["refresh_token"])
        assert status == 200
        status, body = post_refresh(client, t0)  # within grace, but T1 was used: theft
        assert (status, body["error"]) == (400, "invalid_grant")
        status, body = post_refresh(client, b2["refresh_token"])
        assert (status, body["error"]) == (400, "invalid_grant")
    assert revoked(dep, sid)[1] == "refresh_token_reuse"
    assert ("refresh", "alert", "refresh_token_reuse") in refresh_trail(dep, sid)
