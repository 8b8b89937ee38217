"""Refresh-grant throughput: one token-server worker, SQLite with durable commits, wrk load.

The goal (from the issue): one ``tokenstile server`` worker pinned to one core
(``taskset -c 0``), SQLite at ``synchronous=FULL`` (the default), load from the other
core (``taskset -c 1``) at 32 connections: at least 2,000 requests/s, p99 under 20 ms,
no errors. Run::

    .venv/bin/python bench/bench_refresh.py              # 60,000 sessions, 12 s of load
    .venv/bin/python bench/bench_refresh.py --sync NORMAL --duration 8

Every request is ``POST /token`` with ``grant_type=refresh_token`` and a refresh token
never presented before (``bench/refresh.lua`` hands each one out once): a real rotation
(lookup, conditional claim, successor insert, session touch, audit row, ES256 access
token) committed with an fsync. The sessions are made by the token service once and
then cloned with one bulk insert (same rows ``open_session`` writes), so setup takes
seconds. Afterwards the audit log is checked: one refresh success per 2xx response.
"""

from __future__ import annotations

import argparse
import os
import secrets
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import httpx
from sqlalchemy import insert, select

from harness import (
    add_load_options,
    audit_counts,
    bench_env,
    free_port,
    machine,
    missing_tools,
    run_wrk,
    socket_errors,
    start_py_spy,
    start_server,
    stop_server,
    today,
)
from tokenstile.config import load_settings
from tokenstile.deployment import DEFAULT_KIOSK_CLIENT_ID, Deployment
from tokenstile.store import schema as t
from tokenstile.tokens.model import AuditEvent
from tokenstile.tokens.service import token_hash

HERE = Path(__file__).resolve().parent
LUA = HERE / "refresh.lua"
GOAL_RPS = 2000.0
GOAL_P99_MS = 20.0
WARMUP_REQUESTS = 300


def make_sessions(dep: Deployment, count: int) -> list[str]:
    """``count`` sessions, each with one unused refresh token; the tokens."""
    now = dep.clock.now()
    user = dep.store.add_user(
        "bench",
        display_name="Bench",
        is_admin=False,
        at=now,
        audit=AuditEvent("user_added", "info"),
    )
    client = dep.store.find_client(DEFAULT_KIOSK_CLIENT_ID)
    assert client is not None
    first = dep.token_service().sessions.open_session(
        user=user, client=client, factor="otp", amr=["otp"], acr="otp"
    )
    # Clone what open_session wrote, row for row, with fresh sids and tokens.
    with dep.store.write() as tx:
        conn = tx.connection
        session = dict(
            conn.execute(select(t.sessions).where(t.sessions.c.sid == first.sid)).one()._mapping
        )
        login = dict(conn.execute(select(t.audit).where(t.audit.c.sid == first.sid)).one()._mapping)
        del login["id"]
        tokens, sessions, refresh, audit = [first.refresh_token], [], [], []
        for _ in range(count - 1):
            sid, token = secrets.token_urlsafe(16), secrets.token_urlsafe(32)
            tokens.append(token)
            sessions.append({**session, "sid": sid})
            refresh.append(
                {
                    "token_hash": token_hash(token),
                    "sid": sid,
                    "client_id": client.client_id,
                    "parent_id": None,
                    "created_at": session["created_at"],
                }
            )
            audit.append({**login, "sid": sid})
        if sessions:
            conn.execute(insert(t.sessions), sessions)
            conn.execute(insert(t.refresh_tokens), refresh)
            conn.execute(insert(t.audit), audit)
    with dep.engine.connect() as conn:
        conn.exec_driver_sql("PRAGMA wal_checkpoint(TRUNCATE)")
    return tokens


def warm_up(base: str, tokens: list[str]) -> None:
    """Sequential refreshes: JIT-free Python still likes warm caches (and checks the setup)."""
    with httpx.Client(base_url=base, timeout=10) as client:
        for token in tokens:
            response = client.post(
                "/token",
                data={
                    "grant_type": "refresh_token",
                    "refresh_token": token,
                    "client_id": DEFAULT_KIOSK_CLIENT_ID,
                },
            )
            if response.status_code != 200:
                raise RuntimeError(
                    f"warm-up refresh failed: {response.status_code} {response.text}"
                )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sessions", type=int, default=60_000, help="distinct refresh tokens")
    add_load_options(parser)
    parser.add_argument(
        "--sync", choices=["FULL", "NORMAL"], default="FULL", help="SQLite synchronous"
    )
    parser.add_argument("--keep", action="store_true", help="keep the database and logs")
    parser.add_argument("--check", action="store_true", help="exit 2 when the goal is missed")
    parser.add_argument("--wrk-output", action="store_true", help="print wrk's own report too")
    parser.add_argument(
        "--py-spy",
        type=Path,
        metavar="FILE",
        help="sample the server with py-spy (on the load core) into FILE, collapsed stacks",
    )
    parser.add_argument(
        "--py-spy-args", default="--gil", help="extra py-spy record arguments (default --gil)"
    )
    args = parser.parse_args()

    if missing_tools("wrk", "taskset"):
        return 1
    workdir = Path(tempfile.mkdtemp(prefix="tokenstile-bench-"))
    try:
        result, rotations, refused = measure(args, workdir)
    finally:
        if args.keep:
            print(f"kept {workdir}")
        else:
            shutil.rmtree(workdir, ignore_errors=True)
    return report(args, result, rotations, refused)


def measure(args: argparse.Namespace, workdir: Path) -> tuple[dict[str, Any], int, int]:
    """Set up, load, and count: wrk's result, rotations committed, refusals written."""
    env = bench_env(workdir, args.sync)
    db = f"sqlite:///{workdir / 'bench.db'}"
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    server: subprocess.Popen[bytes] | None = None
    dep = Deployment(load_settings(db=db, port=port, issuer=base))
    try:
        dep.init()
        env["TOKENSTILE_KEK_FILE"] = str(dep.settings.kek_file)
        began = time.perf_counter()
        tokens = make_sessions(dep, args.sessions)
        print(f"setup: {len(tokens):,} sessions in {time.perf_counter() - began:.1f} s")
        warm, measured = tokens[:WARMUP_REQUESTS], tokens[WARMUP_REQUESTS:]
        tokens_file = workdir / "tokens.txt"
        tokens_file.write_text("\n".join(measured) + "\n")

        server = start_server(db, port, args.server_cpu, env, workdir / "server.log")
        warm_up(base, warm)
        before = audit_counts(dep)
        # py-spy for the load's duration: it shares the load core, not the server's.
        spy = (
            start_py_spy(
                args.load_cpu,
                server.pid,
                args.py_spy,
                duration=max(1, args.duration - 1),
                rate=200,
                extra=args.py_spy_args.split(),
            )
            if args.py_spy
            else None
        )
        result, wrk_text = run_wrk(args, LUA, base, str(tokens_file), DEFAULT_KIOSK_CLIENT_ID)
        if spy is not None:
            spy.wait(30)
        time.sleep(1.0)  # let the requests wrk abandoned at the end finish
        after = audit_counts(dep)
    finally:
        stop_server(server)
        dep.close()
    if args.wrk_output:
        print(wrk_text)
    rotations = after.get(("refresh", "success"), 0) - before.get(("refresh", "success"), 0)
    refused = sum(
        n - before.get(k, 0)
        for k, n in after.items()
        if k[0].startswith("refresh") and k[1] != "success"
    )
    return result, rotations, refused


def report(args: argparse.Namespace, result: dict[str, Any], rotations: int, refused: int) -> int:
    rps = result["requests"] / (result["duration_us"] / 1e6)
    p50, p99 = result["p50_us"] / 1000, result["p99_us"] / 1000
    errors = socket_errors(result)
    ok_2xx = result["statuses"].get("200", 0)
    met = rps >= GOAL_RPS and p99 < GOAL_P99_MS and result["non_2xx"] == 0 and errors == 0
    print(f"machine: {machine()}; nproc {os.cpu_count()}")
    print(
        f"load: wrk -t{args.threads} -c{args.connections} -d{args.duration}s on cpu "
        f"{args.load_cpu}; server: 1 worker on cpu {args.server_cpu}; "
        f"SQLite WAL synchronous={args.sync}"
    )
    print(
        f"latency: p50 {p50:.2f} ms, p90 {result['p90_us'] / 1000:.2f} ms, p99 {p99:.2f} ms, "
        f"p99.9 {result['p999_us'] / 1000:.2f} ms, max {result['max_us'] / 1000:.2f} ms"
    )
    print(
        f"database: {rotations:,} rotations committed for {ok_2xx:,} 200 responses; "
        f"{refused} refusals; {result['tokens_exhausted']} requests found no unused token"
    )
    print(
        f"refresh grant {today()}: {rps:,.0f} requests/s, p50 {p50:.2f} ms, p99 {p99:.2f} ms, "
        f"non-2xx {result['non_2xx']}, socket errors {errors} (goal >= {GOAL_RPS:,.0f}/s, "
        f"p99 < {GOAL_P99_MS:.0f} ms: {'MET' if met else 'MISSED'})"
    )
    # Every 200 was committed; at most the requests wrk abandoned at the end commit more.
    if not ok_2xx <= rotations <= result["tokens_presented"] or result["tokens_exhausted"]:
        print("inconsistent run: see the database line", file=sys.stderr)
        return 1
    return 2 if args.check and not met else 0


if __name__ == "__main__":
    sys.exit(main())
