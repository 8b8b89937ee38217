"""TOTP login throughput: ``POST /login/totp`` on one token-server worker, wrk load.

One ``tokenstile server`` worker pinned to one core (``taskset -c 0``), SQLite at
``synchronous=FULL`` (the default), load from the other core (``taskset -c 1``) with
``wrk`` at 32 connections. Run::

    .venv/bin/python bench/bench_totp_login.py                    # 30,000 people, 12 s
    .venv/bin/python bench/bench_totp_login.py --sync NORMAL --no-profile

Every request is a real login: the person's row, failure count and credential are read,
the seed opened with the KEK, the code checked in its window (with the equal-work
padding) and recorded with the conditional UPDATE, an audit row written and committed;
then the token service opens a session (session row, refresh token, audit row, commit)
and signs an ES256 access token. Codes cannot be replayed, so the setup enrolls one
person per request, each with their own seed, and computes each person's current code
just before the load; every code is presented once (the wrk script below hands them
out). Afterwards the audit log must hold one ``otp_login`` success per 200.

Where the time goes, two ways:

- under the load, ``py-spy record --gil`` samples the server (from the load core) and
  the samples are split into the OTP check (seed opening, HMACs, window and padding),
  the ES256 signing (PyJWT ``encode``), and everything else;
- in-process without HTTP, the same login (``OtpService.login`` then
  ``TokenService.sessions.open_session``) timed piece by piece.
"""

from __future__ import annotations

import argparse
import json
import secrets
import shutil
import subprocess
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path
from typing import Any

import httpx
import jwt
from sqlalchemy import insert, select

import harness
from harness import (
    add_load_options,
    audit_counts,
    bench_env,
    cpu_seconds,
    free_port,
    machine,
    median_us,
    missing_tools,
    socket_errors,
    start_py_spy,
    start_server,
    stop_server,
    timing,
    today,
)
from tokenstile.composition import Services
from tokenstile.config import load_settings
from tokenstile.deployment import DEFAULT_KIOSK_CLIENT_ID, Deployment
from tokenstile.factors import otp_login as login_module
from tokenstile.factors.otp import seal_seed, totp_code
from tokenstile.store import schema as t

WARMUP_REQUESTS = 300

WRK_SCRIPT = r"""
-- Each request presents the next person's current code, once. Thread k of n takes
-- lines k, k+n, ... of the bodies file. done() prints "RESULT {json}".
local threads = {}
local counter = 0

-- wrk sets up and starts its threads one after another (setup, then that thread's init,
-- then it runs) and calls thread 0's request() once before the run to check the script,
-- throwing that request away: no thread could count the others by itself. So the thread
-- count comes from WRK_THREADS (bench/harness.py sets it to wrk's -t), each thread takes
-- every n-th line, and thread 0's checked request presents nothing ("wrk_check").
local expected = tonumber(os.getenv("WRK_THREADS") or "1")

function setup(thread)
   if counter >= expected then
      error("wrk runs more threads than WRK_THREADS=" .. expected .. " says: set it to wrk's -t")
   end
   thread:set("id", counter)
   thread:set("nthreads", expected)
   thread:set("wrk_check", counter == 0)
   counter = counter + 1
   table.insert(threads, thread)
end

function init(args)
   bodies = {}
   local n, i = 0, 0
   for line in io.lines(args[1]) do
      if i % nthreads == id then n = n + 1; bodies[n] = line end
      i = i + 1
   end
   next_index = 0
   exhausted = 0
   statuses = {}
   headers = { ["Content-Type"] = "application/json" }
end

function request()
   if wrk_check then -- wrk's check of the script, never sent: spend no code on it
      wrk_check = false
      return wrk.format("POST", "/login/totp", headers, '{"username":"check","code":"000000"}')
   end
   next_index = next_index + 1
   local body = bodies[next_index]
   if body == nil then
      exhausted = exhausted + 1
      body = '{"username":"exhausted","code":"000000"}'
   end
   return wrk.format("POST", "/login/totp", headers, body)
end

function response(status, headers, body)
   local key = tostring(status)
   statuses[key] = (statuses[key] or 0) + 1
end

function done(summary, latency, requests)
   local exhausted_total, used_total, totals = 0, 0, {}
   for _, thread in ipairs(threads) do
      exhausted_total = exhausted_total + (thread:get("exhausted") or 0)
      used_total = used_total + (thread:get("next_index") or 0)
      for k, v in pairs(thread:get("statuses") or {}) do totals[k] = (totals[k] or 0) + v end
   end
   local parts = {}
   for k, v in pairs(totals) do table.insert(parts, string.format('"%s":%d', k, v)) end
   local e = summary.errors
   io.write(string.format(
      'RESULT {"duration_us":%d,"requests":%d,"p50_us":%d,"p90_us":%d,"p99_us":%d,' ..
      '"max_us":%d,"connect_errors":%d,"read_errors":%d,"write_errors":%d,' ..
      '"timeouts":%d,"non_2xx":%d,"exhausted":%d,"presented":%d,"statuses":{%s}}\n',
      summary.duration, summary.requests, latency:percentile(50), latency:percentile(90),
      latency:percentile(99), latency.max, e.connect, e.read, e.write, e.timeout, e.status,
      exhausted_total, used_total, table.concat(parts, ",")))
end
"""


def enroll_people(dep: Deployment, count: int) -> list[tuple[str, bytes]]:
    """``count`` people with one active TOTP credential each (bulk rows, same columns as
    ``OtpService.store_enrollment``); their usernames and seeds."""
    now = dep.clock.now()
    people = [(f"p{n:06d}", secrets.token_bytes(20)) for n in range(count)]
    with dep.store.write() as tx:
        conn = tx.connection
        conn.execute(
            insert(t.users),
            [
                {
                    "username": name,
                    "display_name": name,
                    "is_admin": False,
                    "enabled": True,
                    "created_at": now,
                }
                for name, _ in people
            ],
        )
        ids = {
            row.username: row.id for row in conn.execute(select(t.users.c.username, t.users.c.id))
        }
        conn.execute(
            insert(t.otp_credentials),
            [
                {
                    "serial": f"B-{name}",
                    "user_id": ids[name],
                    "label": "bench",
                    "kind": "totp",
                    "algorithm": "SHA1",
                    "digits": 6,
                    "period": 30,
                    "state": "active",
                    "sealed_seed": seal_seed(dep.kek, f"B-{name}", seed),
                    "last_used": -1,
                    "drift": 0,
                    "failures": 0,
                    "created_at": now,
                    "enrolled_by": "bench",
                    "state_changed_at": now,
                }
                for name, seed in people
            ],
        )
    with dep.engine.connect() as conn:
        conn.exec_driver_sql("PRAGMA wal_checkpoint(TRUNCATE)")
    return people


def bodies(people: list[tuple[str, bytes]], at: float) -> list[str]:
    return [
        json.dumps({"username": name, "code": totp_code(seed, at)}, separators=(",", ":"))
        for name, seed in people
    ]


def warm_up(base: str, lines: list[str]) -> None:
    with httpx.Client(base_url=base, timeout=10) as client:
        for body in lines:
            response = client.post(
                "/login/totp", content=body, headers={"content-type": "application/json"}
            )
            if response.status_code != 200:
                raise RuntimeError(f"warm-up login failed: {response.status_code} {response.text}")


def run_wrk(args: argparse.Namespace, base: str, workdir: Path, lines: list[str]) -> dict[str, Any]:
    script = workdir / "totp_login.lua"
    script.write_text(WRK_SCRIPT)
    body_file = workdir / "bodies.txt"
    body_file.write_text("\n".join(lines) + "\n")
    result, _ = harness.run_wrk(args, script, base, str(body_file))
    return result


# Frames that make up each part of a login, as py-spy names them ("function (file:line)").
OTP_CHECK_FRAMES = (
    "check_code (",
    "_pad (",
    "open_seed (",
    "_refuse (",
    "find_resync (",
)
SIGNING_FRAMES = ("encode (jwt/api_jwt.py", "encode (jwt/api_jws.py")


def split_samples(raw: Path) -> dict[str, int]:
    """py-spy collapsed stacks -> samples in the OTP check, in signing, and in total."""
    parts: Counter[str] = Counter()
    for line in raw.read_text().splitlines():
        stack, _, count = line.rpartition(" ")
        if not count.isdigit():
            continue
        samples = int(count)
        parts["total"] += samples
        if any(frame in stack for frame in OTP_CHECK_FRAMES):
            parts["otp_check"] += samples
        elif any(frame in stack for frame in SIGNING_FRAMES):
            parts["signing"] += samples
    return dict(parts)


def settled_audit_counts(dep: Deployment) -> dict[tuple[str, str], int]:
    """The counts once the requests wrk left in flight have finished (stable for 1 s)."""
    counts = audit_counts(dep)
    for _ in range(30):
        time.sleep(1.0)
        again = audit_counts(dep)
        if again == counts:
            break
        counts = again
    return counts


def in_process_profile(dep: Deployment, people: list[tuple[str, bytes]]) -> dict[str, float]:
    """Median microseconds of each piece of a login, without HTTP (warm, one thread)."""
    services = Services(dep)
    repo = services.otp_service()
    service = services.token_service()
    client = dep.store.find_client(DEFAULT_KIOSK_CLIENT_ID)
    assert client is not None
    at = dep.clock.now()
    totals: list[float] = []
    logins: list[float] = []
    checks: list[float] = []
    seeds: list[float] = []
    sessions: list[float] = []
    pads: list[float] = []
    signing: list[float] = []
    with (
        timing(login_module, "check_code", checks),
        timing(login_module, "open_seed", seeds),
        timing(login_module.OtpAuthenticator, "_pad", pads),
        timing(jwt, "encode", signing),
    ):
        for name, seed in people:
            code = totp_code(seed, at)
            began = time.perf_counter()
            result = repo.login(name, code, client_id=client.client_id, origin="bench")
            middle = time.perf_counter()
            assert result.user is not None, result.outcome.status
            service.sessions.open_session(
                user=result.user, client=client, factor="otp", amr=["otp"], acr="otp"
            )
            ended = time.perf_counter()
            logins.append(middle - began)
            sessions.append(ended - middle)
            totals.append(ended - began)
    # Seed opening, the window's HMACs and the padding up to the work floor.
    check = (sum(checks) + sum(seeds) + sum(pads)) / len(people)
    return {
        "total_us": median_us(totals),
        "otp_transaction_us": median_us(logins),
        "session_transaction_us": median_us(sessions),
        "otp_check_us": check * 1e6,
        "signing_us": median_us(signing),
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--people", type=int, default=30_000, help="people (= codes) to enroll")
    add_load_options(parser)
    parser.add_argument("--sync", choices=["FULL", "NORMAL"], default="FULL")
    parser.add_argument("--no-profile", action="store_true", help="skip py-spy and in-process")
    parser.add_argument("--keep", action="store_true", help="keep the database and logs")
    args = parser.parse_args()

    if missing_tools("wrk", "taskset"):
        return 1
    workdir = Path(tempfile.mkdtemp(prefix="tokenstile-totp-bench-"))
    env = bench_env(workdir, args.sync)
    db = f"sqlite:///{workdir / 'bench.db'}"
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    server: subprocess.Popen[bytes] | None = None
    dep = Deployment(load_settings(db=db, port=port, issuer=base))
    spy_file = workdir / "py-spy.txt"
    profile: dict[str, float] = {}
    try:
        dep.init()
        env["TOKENSTILE_KEK_FILE"] = str(dep.settings.kek_file)
        began = time.perf_counter()
        people = enroll_people(dep, args.people + 2000)
        print(f"setup: {len(people):,} people with TOTP in {time.perf_counter() - began:.1f} s")
        if not args.no_profile:
            profile = in_process_profile(dep, people[-2000:])
        people = people[:-2000]
        # Codes of the current step stay good for the next step too (window +-1): at
        # least 30 s after this line, more than the warm-up and the load need.
        lines = bodies(people, time.time())
        server = start_server(db, port, args.server_cpu, env, workdir / "server.log")
        warm_up(base, lines[:WARMUP_REQUESTS])
        before = audit_counts(dep)
        spy = (
            None
            if args.no_profile
            else start_py_spy(
                args.load_cpu,
                server.pid,
                spy_file,
                duration=max(1, args.duration - 2),
                rate=250,
                extra=["--gil"],
            )
        )
        cpu_before = cpu_seconds(server.pid)
        result = run_wrk(args, base, workdir, lines[WARMUP_REQUESTS:])
        server_cpu = cpu_seconds(server.pid) - cpu_before
        if spy is not None:
            spy.wait(30)
        after = settled_audit_counts(dep)
    finally:
        stop_server(server)
        dep.close()

    seconds = result["duration_us"] / 1e6
    rps = result["requests"] / seconds
    p50, p99 = result["p50_us"] / 1000, result["p99_us"] / 1000
    errors = socket_errors(result)
    ok = result["statuses"].get("200", 0)
    successes = after.get(("otp_login", "success"), 0) - before.get(("otp_login", "success"), 0)
    sessions = after.get(("login", "success"), 0) - before.get(("login", "success"), 0)
    print(f"machine: {machine()}")
    print(
        f"load: wrk -t{args.threads} -c{args.connections} -d{args.duration}s on cpu "
        f"{args.load_cpu}; server: 1 worker on cpu {args.server_cpu}; SQLite WAL "
        f"synchronous={args.sync}"
    )
    print(
        f"TOTP login {today()}: {rps:,.0f} requests/s, "
        f"p50 {p50:.2f} ms, p90 {result['p90_us'] / 1000:.2f} ms, p99 {p99:.2f} ms, "
        f"max {result['max_us'] / 1000:.1f} ms; non-2xx {result['non_2xx']}, "
        f"socket errors {errors}, codes exhausted {result['exhausted']}"
    )
    print(f"server CPU: {server_cpu / seconds:.0%} of one core during the load")
    print(
        f"database: {successes:,} otp_login successes and {sessions:,} sessions for "
        f"{ok:,} 200 responses"
    )
    if spy_file.exists():
        parts = split_samples(spy_file)
        total = parts.get("total", 0) or 1
        otp_share = parts.get("otp_check", 0) / total
        sign_share = parts.get("signing", 0) / total
        print(
            f"py-spy --gil under load ({total:,} samples): OTP check {otp_share:.1%}, "
            f"ES256 signing {sign_share:.1%}, everything else {1 - otp_share - sign_share:.1%}"
        )
    if profile:
        total_us = profile["total_us"]
        outside = 1 - (profile["otp_check_us"] + profile["signing_us"]) / total_us
        print(
            f"in-process, no HTTP (medians): login {total_us:.0f} us = OTP transaction "
            f"{profile['otp_transaction_us']:.0f} us + session transaction "
            f"{profile['session_transaction_us']:.0f} us; OTP check {profile['otp_check_us']:.0f}"
            f" us, ES256 signing {profile['signing_us']:.0f} us; outside both {outside:.1%}"
        )
    if args.keep:
        print(f"kept {workdir}")
    else:
        shutil.rmtree(workdir, ignore_errors=True)
    # wrk stops counting at the deadline; requests still in flight then finish unseen.
    consistent = (
        ok <= successes == sessions <= result["presented"] + WARMUP_REQUESTS
        and result["exhausted"] == 0
        and result["non_2xx"] == 0
    )
    if not consistent:
        print("inconsistent run: see above", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
