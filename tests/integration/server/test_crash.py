"""A token server killed with SIGKILL in the middle of a refresh storm loses nothing.

Every rotation is one transaction (successor row, claim of the old token, session touch,
audit row), and a 200 goes out only after it committed. So after a crash and a restart
on the same SQLite file, every family is consistent, the audit log has one success row
per rotation, every token a client received exists, and every client can go on: with
its last token, or, when the crash ate the response, with the grace-period retry.
"""

from __future__ import annotations

import threading
import time
from collections import Counter
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

import httpx
import pytest
from sqlalchemy import Connection, func, select, text
from sqlalchemy.orm import aliased

from tests.conftest import ServerProcess, add_user, kiosk_client
from tokenstile.deployment import DEFAULT_KIOSK_CLIENT_ID, Deployment
from tokenstile.store import schema as t
from tokenstile.tokens.service import token_hash

pytestmark = pytest.mark.server

SESSIONS = 48
THREADS = 6
STORM_SECONDS = 1.5


@dataclass
class Chain:
    """What one client knows of its session: every refresh token it received, in order."""

    sid: str
    received: list[str]
    in_flight: str | None = None  # presented when the server died; the response never came
    failures: list[Any] = field(default_factory=list)


def refresh_form(token: str) -> dict[str, str]:
    return {
        "grant_type": "refresh_token",
        "refresh_token": token,
        "client_id": DEFAULT_KIOSK_CLIENT_ID,
    }


def storm(base_url: str, chains: list[Chain], stop: threading.Event) -> int:
    """Refresh this thread's sessions round-robin until the server dies; 200s counted."""
    done = 0
    with httpx.Client(base_url=base_url, timeout=10) as client:
        while not stop.is_set():
            for chain in chains:
                token = chain.received[-1]
                chain.in_flight = token
                try:
                    response = client.post("/token", data=refresh_form(token))
                except httpx.TransportError:
                    return done  # the server is gone; chain.in_flight stays set
                chain.in_flight = None
                if response.status_code != 200:
                    chain.failures.append((response.status_code, response.text))
                    return done
                chain.received.append(response.json()["refresh_token"])
                done += 1
    return done


def family_problems(conn: Connection) -> list[str]:
    """Every way the refresh-token families break the rotation invariants."""
    rt, s = t.refresh_tokens, t.sessions
    succ, parent = aliased(rt, name="succ"), aliased(rt, name="parent")
    problems: list[str] = []

    live = (rt.c.used_at.is_(None)) & (rt.c.superseded_at.is_(None))
    live_count = (
        select(s.c.sid, s.c.revoked_at, func.count(rt.c.id).filter(live).label("live"))
        .select_from(s.outerjoin(rt, rt.c.sid == s.c.sid))
        .group_by(s.c.sid, s.c.revoked_at)
    )
    problems += [
        f"session {row.sid}: {row.live} live tokens"
        for row in conn.execute(live_count)
        if row.revoked_at is None and row.live != 1
    ]

    bad_successor = (
        select(rt.c.id, rt.c.sid, rt.c.successor_id, succ.c.sid.label("succ_sid"))
        .select_from(rt.outerjoin(succ, succ.c.id == rt.c.successor_id))
        .where(rt.c.used_at.is_not(None))
        .where((succ.c.id.is_(None)) | (succ.c.sid != rt.c.sid) | (succ.c.parent_id != rt.c.id))
    )
    problems += [
        f"used token {r.id}: bad successor {r.successor_id}" for r in conn.execute(bad_successor)
    ]

    no_session = select(rt.c.id).where(~select(s.c.sid).where(s.c.sid == rt.c.sid).exists())
    problems += [f"token {r.id}: no session" for r in conn.execute(no_session)]

    orphan = (
        select(rt.c.id)
        .select_from(rt.outerjoin(parent, parent.c.id == rt.c.parent_id))
        .where(rt.c.parent_id.is_not(None))
        .where((parent.c.id.is_(None)) | (parent.c.sid != rt.c.sid))
    )
    problems += [f"token {r.id}: orphaned (no parent in its family)" for r in conn.execute(orphan)]

    roots = Counter(r.sid for r in conn.execute(select(rt.c.sid).where(rt.c.parent_id.is_(None))))
    sids = [r.sid for r in conn.execute(select(s.c.sid))]
    problems += [f"session {sid}: {roots[sid]} root tokens" for sid in sids if roots[sid] != 1]
    return problems


def count_audit(conn: Connection, event: str, outcome: str) -> int:
    a = t.audit
    stmt = select(func.count()).where(a.c.event == event, a.c.outcome == outcome)
    return int(conn.execute(stmt).scalar_one())


def count_tokens(conn: Connection, *where: Any) -> int:
    return int(
        conn.execute(select(func.count()).select_from(t.refresh_tokens).where(*where)).scalar_one()
    )


def token_row(conn: Connection, token: str) -> Any:
    rt = t.refresh_tokens
    return conn.execute(select(rt).where(rt.c.token_hash == token_hash(token))).one_or_none()


def test_sigkill_mid_storm_leaves_every_family_consistent(
    server_factory: Callable[..., ServerProcess],
) -> None:
    server = server_factory()
    setup = Deployment(server.settings)
    try:
        user, client = add_user(setup), kiosk_client(setup)
        service = setup.token_service()
        chains = [
            Chain(r.sid, [r.refresh_token])
            for r in (
                service.sessions.open_session(
                    user=user, client=client, factor="otp", amr=["otp"], acr="otp"
                )
                for _ in range(SESSIONS)
            )
        ]
    finally:
        setup.close()

    stop = threading.Event()
    with ThreadPoolExecutor(max_workers=THREADS) as pool:
        futures = [
            pool.submit(storm, server.base_url, chains[i::THREADS], stop) for i in range(THREADS)
        ]
        time.sleep(STORM_SECONDS)
        server.process.kill()  # SIGKILL: no shutdown, no checkpoint, no flush
        server.process.wait(10)
        stop.set()
        rotations = sum(f.result(timeout=30) for f in futures)

    assert [c.failures for c in chains if c.failures] == []
    assert rotations > 100, "the storm never got going"
    cut_off = [c for c in chains if c.in_flight is not None]

    # A lost response is retried with the token the client still holds, inside the grace
    # period; give a slow restart on a busy machine room for that (the setting reaches the
    # server process through the environment).
    restarted = server_factory(
        db=server.settings.db, issuer=server.settings.issuer, refresh_grace=120
    )
    # A retry within refresh_retry_after of the rotation is taken for a racer and refused;
    # a client whose response was lost retries after that.
    time.sleep(1.1)
    dep = Deployment(restarted.settings)
    try:
        with dep.engine.connect() as conn:
            assert conn.execute(text("PRAGMA integrity_check")).scalar_one() == "ok"
            assert conn.execute(text("PRAGMA foreign_key_check")).all() == []
            assert family_problems(conn) == []
            revoked = conn.execute(
                select(func.count()).where(t.sessions.c.revoked_at.is_not(None))
            ).scalar_one()
            assert revoked == 0

            # One audit row per rotation: both were in the same transaction.
            used = count_tokens(conn, t.refresh_tokens.c.used_at.is_not(None))
            assert count_audit(conn, "refresh", "success") == used
            assert used >= rotations  # plus the rotations whose response the crash ate
            assert used - rotations <= len(cut_off)
            assert count_tokens(conn, t.refresh_tokens.c.superseded_at.is_not(None)) == 0

            # A 200 is sent only after the commit: every token a client got exists, and
            # each family is exactly the client's chain (plus at most the lost successor).
            lost_responses: set[str] = set()
            for chain in chains:
                rows = [token_row(conn, tok) for tok in chain.received]
                assert all(r is not None for r in rows), f"{chain.sid}: a received token is missing"
                assert [r.parent_id for r in rows[1:]] == [r.id for r in rows[:-1]]
                assert all(r.used_at is not None for r in rows[:-1])
                last = rows[-1]
                if last.used_at is not None:
                    # Rotated, but the response died with the server.
                    assert chain.in_flight == chain.received[-1], chain.sid
                    lost_responses.add(chain.sid)
            assert used - rotations == len(lost_responses)

        # Every client goes on from the last token it holds.
        with restarted.client() as http:
            for chain in chains:
                response = http.post("/token", data=refresh_form(chain.received[-1]))
                assert response.status_code == 200, (chain.sid, response.text)
                chain.received.append(response.json()["refresh_token"])

        with dep.engine.connect() as conn:
            assert family_problems(conn) == []
            assert count_audit(conn, "refresh", "success") == used + len(chains) - len(
                lost_responses
            )
            # A chain whose response was lost continued through the grace-period retry.
            assert count_audit(conn, "refresh_retry", "success") == len(lost_responses)
            assert count_audit(conn, "refresh", "alert") == 0
            for chain in chains:
                row = token_row(conn, chain.received[-1])
                assert (row.used_at, row.superseded_at) == (None, None)
    finally:
        dep.close()
