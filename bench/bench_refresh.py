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
import contextlib
import datetime as dt
import json
import os
import platform
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import httpx
from sqlalchemy import func, insert, select

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


def machine() -> str:
    model = "unknown CPU"
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    return (
        f"{os.cpu_count()} CPUs ({model}), Linux {platform.release()}, "
        f"Python {platform.python_version()}"
    )


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


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
    first = dep.token_service().open_session(
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


def start_server(
    db: str, port: int, cpu: int, env: dict[str, str], log: Path
) -> subprocess.Popen[bytes]:
    cmd = ["taskset", "-c", str(cpu), sys.executable, "-m", "tokenstile.cli"]
    cmd += ["--log-level", "WARNING", "server", "--db", db, "--host", "127.0.0.1"]
    cmd += ["--port", str(port), "--issuer", f"http://127.0.0.1:{port}"]
    with log.open("ab") as out:
        proc = subprocess.Popen(cmd, stdout=out, stderr=subprocess.STDOUT, env=env)
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"the server exited: {log.read_text()}")
        try:
            if httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=1).status_code == 200:
                return proc
        except httpx.HTTPError:
            time.sleep(0.05)
    proc.kill()
    raise RuntimeError(f"the server did not start: {log.read_text()}")


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


def run_wrk(args: argparse.Namespace, base: str, tokens_file: Path) -> tuple[dict[str, Any], str]:
    cmd = ["taskset", "-c", str(args.load_cpu), "wrk", f"-t{args.threads}", f"-c{args.connections}"]
    cmd += [f"-d{args.duration}s", "--latency", "--timeout", "5s", "-s", str(LUA), base]
    cmd += ["--", str(tokens_file), DEFAULT_KIOSK_CLIENT_ID]
    done = subprocess.run(
        cmd, capture_output=True, text=True, check=True, timeout=args.duration + 60
    )
    for line in done.stdout.splitlines():
        if line.startswith("RESULT "):
            return json.loads(line.removeprefix("RESULT ")), done.stdout
    raise RuntimeError(f"wrk printed no RESULT line:\n{done.stdout}\n{done.stderr}")


def start_py_spy(args: argparse.Namespace, pid: int) -> subprocess.Popen[bytes]:
    """py-spy record for the load's duration; it shares the load core, not the server's."""
    sibling = Path(sys.executable).with_name("py-spy")
    spy = str(sibling) if sibling.exists() else "py-spy"
    cmd = ["taskset", "-c", str(args.load_cpu), spy, "record", "--pid", str(pid)]
    cmd += ["--duration", str(max(1, args.duration - 1)), "--rate", "200", "--format", "raw"]
    cmd += ["--output", str(args.py_spy), "--nonblocking", *args.py_spy_args.split()]
    return subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.STDOUT)


def audit_counts(dep: Deployment) -> dict[tuple[str, str], int]:
    a = t.audit
    stmt = select(a.c.event, a.c.outcome, func.count()).group_by(a.c.event, a.c.outcome)
    with dep.engine.connect() as conn:
        return {(e, o): int(n) for e, o, n in conn.execute(stmt)}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sessions", type=int, default=60_000, help="distinct refresh tokens")
    parser.add_argument("--duration", type=int, default=12, help="seconds of load")
    parser.add_argument("--connections", type=int, default=32)
    parser.add_argument("--threads", type=int, default=1, help="wrk threads")
    parser.add_argument("--server-cpu", type=int, default=0)
    parser.add_argument("--load-cpu", type=int, default=1)
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

    for tool in ("wrk", "taskset"):
        if shutil.which(tool) is None:
            print(f"{tool} is not installed (make bench installs it).", file=sys.stderr)
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
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith("TOKENSTILE_")},
        "TOKENSTILE_DATA_DIR": str(workdir / "data"),
        "TOKENSTILE_RUNTIME_DIR": str(workdir / "run"),
        "TOKENSTILE_SQLITE_SYNCHRONOUS": args.sync,
    }
    os.environ.update(env)
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
        spy = start_py_spy(args, server.pid) if args.py_spy else None
        result, wrk_text = run_wrk(args, base, tokens_file)
        if spy is not None:
            spy.wait(30)
        time.sleep(1.0)  # let the requests wrk abandoned at the end finish
        after = audit_counts(dep)
    finally:
        if server is not None and server.poll() is None:
            server.send_signal(signal.SIGTERM)
            try:
                server.wait(10)
            except subprocess.TimeoutExpired:
                server.kill()
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
    errors = sum(result[k] for k in ("connect_errors", "read_errors", "write_errors", "timeouts"))
    ok_2xx = result["statuses"].get("200", 0)
    met = rps >= GOAL_RPS and p99 < GOAL_P99_MS and result["non_2xx"] == 0 and errors == 0
    today = dt.datetime.now(dt.UTC).date().isoformat()
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
        f"refresh grant {today}: {rps:,.0f} requests/s, p50 {p50:.2f} ms, p99 {p99:.2f} ms, "
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
