"""The purge of rows that can never matter again, on SQLite and a real PostgreSQL."""

from __future__ import annotations

import os
import signal
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, insert, select

from tests.conftest import ServerProcess, add_user, kiosk_client, make_deployment
from tests.integration.store.races import at_once
from tokenstile.cli.main import main
from tokenstile.clock import FrozenClock
from tokenstile.deployment import Deployment
from tokenstile.server.app import create_app
from tokenstile.store import schema as t
from tokenstile.store.purge import PurgeReport, purge_expired
from tokenstile.store.rate_limit import rate_limits
from tokenstile.tokens.model import User
from tokenstile.tokens.service import TokenResponse

T0 = 1_800_000_000.0
DAY = 86_400.0
WEEK = 7 * DAY


@pytest.fixture
def clock() -> FrozenClock:
    return FrozenClock(T0)


@pytest.fixture
def dep(db_url: str, clock: FrozenClock) -> Iterator[Deployment]:
    deployment = make_deployment(db_url, clock)
    yield deployment
    deployment.close()


def open_session(dep: Deployment, user: User) -> TokenResponse:
    return dep.token_service().sessions.open_session(
        user=user, client=kiosk_client(dep), factor="otp", amr=["otp"], acr="otp"
    )


def refresh(dep: Deployment, response: TokenResponse) -> TokenResponse:
    return dep.token_service().refresh_grant.refresh(
        refresh_token=response.refresh_token, client=kiosk_client(dep)
    )


def revoke(dep: Deployment, sid: str) -> None:
    at = dep.clock.now()
    dep.store.run_write(lambda tx: tx.revoke_session(sid, at=at, reason="logout"))


def count(dep: Deployment, table: Any, *where: Any) -> int:
    with dep.engine.connect() as conn:
        return int(conn.execute(select(func.count()).select_from(table).where(*where)).scalar())


def sids(dep: Deployment) -> set[str]:
    with dep.engine.connect() as conn:
        return set(conn.execute(select(t.sessions.c.sid)).scalars())


def add_rows(dep: Deployment, table: Any, rows: list[dict[str, Any]]) -> None:
    with dep.engine.begin() as conn:
        conn.execute(insert(table), rows)


def dead_sessions(dep: Deployment, clock: FrozenClock, user: User, n: int, *, at: float) -> None:
    """``n`` sessions that ended (revoked) at ``at``, each with a rotated refresh token."""
    clock.set(at)
    for _ in range(n):
        first = open_session(dep, user)
        refresh(dep, first)
        revoke(dep, first.sid)


def test_ended_sessions_go_after_the_retention_and_live_ones_stay(
    dep: Deployment, clock: FrozenClock
) -> None:
    alice = add_user(dep)
    clock.set(T0 - 20 * DAY)
    ended = open_session(dep, alice)  # its shift ended 12 h later
    refresh(dep, ended)
    revoked_long_ago = open_session(dep, alice)
    revoke(dep, revoked_long_ago.sid)
    clock.set(T0)
    live = refresh(dep, open_session(dep, alice))
    just_revoked = open_session(dep, alice)
    revoke(dep, just_revoked.sid)
    before = dep.store.audit_entries()

    report = purge_expired(dep.store, now=T0, keep_seconds=WEEK)

    assert report.counts["sessions"] == 2
    assert report.counts["refresh_tokens"] == 3
    assert sids(dep) == {live.sid, just_revoked.sid}
    assert count(dep, t.refresh_tokens) == 3
    # The live session's current refresh token still works.
    assert refresh(dep, live).sid == live.sid
    after = dep.store.audit_entries()
    assert after[: len(before)] == before
    (event,) = after[len(before) : len(before) + 1]
    assert event["event"] == "purge"
    assert event["detail"]["deleted"] == report.counts
    # A week after the live one's shift ended, nothing of either is left.
    clock.set(T0 + 8 * DAY)
    assert purge_expired(dep.store, now=clock.now(), keep_seconds=WEEK).counts["sessions"] == 2
    assert sids(dep) == set()
    assert count(dep, t.refresh_tokens) == 0
    assert dep.store.audit_entries()[: len(after)] == after


def test_expired_tokens_challenges_proofs_and_windows_go_and_current_ones_stay(
    dep: Deployment,
) -> None:
    alice = add_user(dep)
    sid = open_session(dep, alice).sid
    add_rows(
        dep,
        t.opaque_tokens,
        [
            {"token_hash": b"o" * 32, "sid": sid, "claims": "{}", "expires_at": T0 - 1},
            {"token_hash": b"p" * 32, "sid": sid, "claims": "{}", "expires_at": T0 + 60},
        ],
    )
    challenge = {"purpose": "login", "challenge": b"c" * 32, "context": "{}", "created_at": 0}
    add_rows(
        dep,
        t.webauthn_challenges,
        [
            {**challenge, "handle_hash": b"w" * 32, "expires_at": T0 - 3600},
            {**challenge, "handle_hash": b"x" * 32, "expires_at": T0 - 30},  # still "expired"
        ],
    )
    piv = {
        "challenge": b"c" * 32,
        "fingerprint": "f" * 64,
        "user_id": alice.id,
        "client_id": "kiosk",
        "created_at": 0,
    }
    add_rows(
        dep,
        t.piv_challenges,
        [
            {**piv, "handle_hash": b"a" * 32, "expires_at": T0 - 3600, "used_at": T0 - 3700},
            {**piv, "handle_hash": b"b" * 32, "expires_at": T0 + 60, "used_at": T0 - 1},
        ],
    )
    add_rows(
        dep,
        t.dpop_replay,
        [{"key_hash": b"d" * 32, "expires_at": T0 - 1}, {"key_hash": b"e" * 32, "expires_at": T0}],
    )
    add_rows(
        dep,
        t.client_assertion_jtis,
        [{"key_hash": b"f" * 32, "expires_at": T0 - 1}, {"key_hash": b"g" * 32, "expires_at": T0}],
    )
    handoff = {"browser_hash": b"h" * 32, "request": "[]"}
    add_rows(
        dep,
        t.kiosk_sso_handoffs,
        [  # expired (satisfied, never claimed), still open
            {**handoff, "handoff_hash": b"i" * 32, "expires_at": T0 - 1, "sid": sid},
            {**handoff, "handoff_hash": b"j" * 32, "expires_at": T0 + 60, "sid": None},
        ],
    )
    spent = {"client_id": "tokenstile-kiosk", "factor": "fido2", "signed_at": 0, "spent_at": 0}
    add_rows(
        dep,
        t.offline_evidence,
        [  # too old to be brought again, still within a lease's life
            {**spent, "digest": b"k" * 32, "keep_until": T0 - 1},
            {**spent, "digest": b"l" * 32, "keep_until": T0 + 60},
        ],
    )
    add_rows(
        dep,
        t.revoked_access_tokens,
        [
            {"jti": "dead", "sid": sid, "expires_at": T0 - 1, "revoked_at": T0 - 600},
            {"jti": "live", "sid": sid, "expires_at": T0 + 60, "revoked_at": T0 - 1},
        ],
    )
    add_rows(
        dep,
        rate_limits,
        [
            {"bucket": "challenges 192.0.2.1", "window_start": T0 - 301, "hits": 3},
            {"bucket": "challenges 192.0.2.2", "window_start": T0 - 10, "hits": 3},
        ],
    )

    logout = {
        "client_id": "web",
        "uri": "https://app.example/bcl",
        "sid": sid,
        "app_sid": sid,
        "subject": "alice",
        "reason": "logout",
        "created_at": 0,
        "next_attempt_at": 0,
    }
    add_rows(
        dep,
        t.backchannel_logouts,
        [  # delivered a month ago, delivered a moment ago, still being tried
            {**logout, "jti": "old", "state": "delivered", "finished_at": T0 - 30 * 86_400},
            {**logout, "jti": "new", "state": "failed", "finished_at": T0 - 1},
            {**logout, "jti": "due", "state": "pending", "finished_at": None},
        ],
    )

    dry = purge_expired(dep.store, now=T0, rate_limit_window=300, dry_run=True)
    report = purge_expired(dep.store, now=T0, rate_limit_window=300)

    expected = {
        "refresh_tokens": 0,
        "opaque_tokens": 1,
        "sessions": 0,
        "webauthn_challenges": 1,
        "piv_challenges": 1,
        "dpop_replay": 1,
        "revoked_access_tokens": 1,
        "client_assertion_jtis": 1,
        "kiosk_sso_handoffs": 1,
        "offline_evidence": 1,
        "authorization_codes": 0,
        "backchannel_logouts": 1,
        "rate_limits": 1,
    }
    assert dry == PurgeReport(counts=expected, dry_run=True)
    assert report == PurgeReport(counts=expected)
    for table in (
        t.opaque_tokens,
        t.webauthn_challenges,
        t.piv_challenges,
        t.dpop_replay,
        t.revoked_access_tokens,
        t.client_assertion_jtis,
        t.kiosk_sso_handoffs,
        t.offline_evidence,
    ):
        assert count(dep, table) == 1
    assert count(dep, rate_limits, rate_limits.c.bucket == "challenges 192.0.2.2") == 1
    q = t.backchannel_logouts
    with dep.store.read() as tx:
        assert set(tx.connection.execute(select(q.c.jti)).scalars()) == {"new", "due"}
    assert sids(dep) == {sid}


def test_a_purge_bigger_than_a_batch_takes_several_transactions(
    dep: Deployment, clock: FrozenClock
) -> None:
    alice = add_user(dep)
    dead_sessions(dep, clock, alice, 12, at=T0 - 30 * DAY)
    clock.set(T0)
    live = open_session(dep, alice)
    add_rows(dep, t.dpop_replay, [{"key_hash": os.urandom(32), "expires_at": 0} for _ in range(25)])

    report = purge_expired(dep.store, now=T0, batch_size=5)

    assert report.counts["sessions"] == 12
    assert report.counts["refresh_tokens"] == 24
    assert report.counts["dpop_replay"] == 25
    assert sids(dep) == {live.sid}
    assert count(dep, t.dpop_replay) == 0


@pytest.mark.postgres
def test_purges_at_once_on_postgres_share_the_work(postgres_url: str, clock: FrozenClock) -> None:
    dep = make_deployment(postgres_url, clock)
    try:
        alice = add_user(dep)
        dead_sessions(dep, clock, alice, 40, at=T0 - 30 * DAY)
        add_rows(
            dep, t.dpop_replay, [{"key_hash": os.urandom(32), "expires_at": 0} for _ in range(600)]
        )

        results = at_once(4, lambda _: purge_expired(dep.store, now=T0, batch_size=7))

        reports = [r for r in results if isinstance(r, PurgeReport)]
        assert reports == results  # no purge failed
        assert sum(r.counts["sessions"] for r in reports) == 40
        assert sum(r.counts["refresh_tokens"] for r in reports) == 80
        assert sum(r.counts["dpop_replay"] for r in reports) == 600
        assert sids(dep) == set()
        assert len([e for e in dep.store.audit_entries() if e["event"] == "purge"]) == 4
    finally:
        dep.close()


def test_manage_purge_dry_run_deletes_nothing_then_purge_does(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    url = f"sqlite:///{tmp_path / 'cli.db'}"
    dep = make_deployment(url)  # the system clock, as the command uses
    try:
        alice = add_user(dep)
        now = time.time()
        for at in (now - 30 * DAY, now - 30 * DAY, now):
            response = dep.token_service().sessions.open_session(
                user=alice, client=kiosk_client(dep), factor="otp", amr=["otp"], acr="otp"
            )
            dep.store.run_write(
                lambda tx, sid=response.sid, at=at: tx.revoke_session(sid, at=at, reason="logout")
            )
        audit_rows = len(dep.store.audit_entries())

        assert main(["manage", "--db", url, "purge", "--dry-run"]) == 0
        out = capsys.readouterr().out
        assert "sessions\t2\n" in out
        assert "refresh_tokens\t2\n" in out
        assert out.endswith("Would delete 4 rows (dry run: nothing deleted).\n")
        assert len(sids(dep)) == 3
        assert len(dep.store.audit_entries()) == audit_rows

        assert main(["manage", "--db", url, "purge"]) == 0
        out = capsys.readouterr().out
        assert "sessions\t2\n" in out
        assert out.endswith("Deleted 4 rows.\n")
        assert len(sids(dep)) == 1
        (event,) = dep.store.audit_entries()[audit_rows:]
        assert (event["event"], event["origin"]) == ("purge", "tokenstile manage")
    finally:
        dep.close()


def purge_events(dep: Deployment) -> list[dict[str, Any]]:
    return [e for e in dep.store.audit_entries() if e["event"] == "purge"]


def wait_for(condition: Any, what: str) -> None:
    deadline = time.monotonic() + 30
    while not condition():
        assert time.monotonic() < deadline, f"no {what} within 30 s"
        time.sleep(0.05)


def test_the_app_purges_periodically_while_it_serves_and_stops_with_it(
    tmp_path: Path, clock: FrozenClock
) -> None:
    dep = make_deployment(f"sqlite:///{tmp_path / 'ts.db'}", clock, purge_interval=0.05)
    try:
        add_rows(dep, t.dpop_replay, [{"key_hash": b"d" * 32, "expires_at": 0}])
        with TestClient(create_app(dep), base_url="https://auth.example") as http:
            wait_for(lambda: len(purge_events(dep)) >= 1, "a periodic purge")
            add_rows(dep, t.dpop_replay, [{"key_hash": b"e" * 32, "expires_at": 0}])
            wait_for(lambda: len(purge_events(dep)) >= 2, "a second periodic purge")
            assert http.get("/healthz").status_code == 200
        assert "tokenstile-purge" not in [thread.name for thread in threading.enumerate()]
        assert count(dep, t.dpop_replay) == 0
        # Runs in between deleted nothing and left no audit row of their own.
        events = purge_events(dep)
        assert len(events) == 2
        assert {e["origin"] for e in events} == {"periodic purge"}
        assert [e["detail"]["deleted"]["dpop_replay"] for e in events] == [1, 1]
    finally:
        dep.close()


def test_an_empty_purge_is_audited_only_when_asked(tmp_path: Path, clock: FrozenClock) -> None:
    dep = make_deployment(f"sqlite:///{tmp_path / 'ts.db'}", clock)
    try:
        purge_expired(dep.store, now=clock.now(), audit_empty=False)
        assert purge_events(dep) == []
        purge_expired(dep.store, now=clock.now())
        assert len(purge_events(dep)) == 1
    finally:
        dep.close()


@pytest.mark.server
def test_the_server_purges_periodically_and_stops_cleanly(
    server_factory: Any, tmp_path: Path
) -> None:
    url = f"sqlite:///{tmp_path / 'server.db'}"
    seed = make_deployment(url)
    add_rows(seed, t.dpop_replay, [{"key_hash": b"d" * 32, "expires_at": 0}])
    seed.close()
    server: ServerProcess = server_factory(db=url, purge_interval=0.2)
    check = make_deployment(url)
    try:
        wait_for(lambda: purge_events(check), "periodic purge")
        assert count(check, t.dpop_replay) == 0
        server.stop()
        # uvicorn re-raises the SIGTERM it handled once shut down; a hung shutdown would
        # have ended in SIGKILL.
        assert server.process.returncode == -signal.SIGTERM
        assert "Traceback" not in server.log_path.read_text()
    finally:
        check.close()
