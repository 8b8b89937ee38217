"""Authorization-code flow throughput next to the refresh grant, in one run on one server.

Issue 15's benchmark: one ``tokenstile server`` worker pinned to one core (``taskset -c
0``), SQLite at ``synchronous=FULL`` (the default), wrk on the other core. One *flow* is
what a web app's sign-in costs the provider once the person has a provider session:
``GET /authorize`` with the session cookie (PKCE S256, state, nonce; 302 with a code)
and ``POST /token`` with ``grant_type=authorization_code``, the verifier and
client_secret_basic (200 with an ID token). Run::

    .venv/bin/python bench/bench_code_flow.py            # 3 + 3 alternating rounds of 10 s
    .venv/bin/python bench/bench_code_flow.py --only flow --rounds 1 --profile /tmp/flow.prof

Setup goes through the server as a person would: a confidential web client is
registered, each of ``--people`` people gets an HOTP fob and signs in once on the
sign-in page (the form's CSRF token and pre-session cookie, a code from the fob); their
session cookies are what the flows present. wrk drives the flows with
``bench/code_flow.lua``, not a Python client: one on the load core would itself be the
limit at refresh-grant rates, and both kinds must have the same load generator. The
refresh rounds are ``bench_refresh.py``'s, on the same server, so the ratio of the two
is measured under the same (shared, noisy) machine conditions.

Checked in the run: every authorize answer a 302 with a code and our state, no code
twice, every token answer a 200 whose ID token's nonce is a flow of ours; after each
round, a sample of ID tokens verified against ``/jwks.json`` (signature, iss, aud,
nonce, sid of a provider session, sub), a few of those codes presented again (each must
be refused and its session revoked), and the database: one ``authorization_code``
success audit row, one app session and one used code per 200.
"""

from __future__ import annotations

import argparse
import base64
import hashlib
import os
import secrets
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from html.parser import HTMLParser
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlencode, urlsplit

import httpx
import jwt
import pyotp
from sqlalchemy import func, select

from bench_refresh import WARMUP_REQUESTS, make_sessions, warm_up
from harness import (
    add_load_options,
    audit_counts,
    bench_env,
    cpu_seconds,
    free_port,
    machine,
    missing_tools,
    run_wrk,
    socket_errors,
    start_server,
    stop_server,
    today,
)
from tokenstile.config import load_settings
from tokenstile.deployment import DEFAULT_KIOSK_CLIENT_ID, Deployment
from tokenstile.factors.otp_service import OtpService
from tokenstile.store import schema as t
from tokenstile.store.otp_repository import SqlOtpStore
from tokenstile.tokens.model import AuditEvent

HERE = Path(__file__).resolve().parent
FLOW_LUA = HERE / "code_flow.lua"
REFRESH_LUA = HERE / "refresh.lua"
REDIRECT = "https://app.example/callback"
SESSION_COOKIE = "tokenstile-session"  # an http loopback issuer: no __Host- prefix
REPLAYS_PER_ROUND = 5


class FormReader(HTMLParser):
    """The sign-in page's first form: its action and hidden inputs."""

    def __init__(self) -> None:
        super().__init__()
        self.action: str | None = None
        self.hidden: dict[str, str] = {}

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        values = {k: v or "" for k, v in attrs}
        if tag == "form" and self.action is None:
            self.action = values.get("action")
        if tag == "input" and values.get("type") == "hidden" and self.action is not None:
            self.hidden.setdefault(values["name"], values.get("value", ""))


def pkce_pair() -> tuple[str, str]:
    verifier = secrets.token_urlsafe(48)
    digest = hashlib.sha256(verifier.encode()).digest()
    return verifier, base64.urlsafe_b64encode(digest).rstrip(b"=").decode()


def query_of(location: str) -> dict[str, str]:
    return {k: v[0] for k, v in parse_qs(urlsplit(location).query).items()}


@dataclass
class WebApp:
    client_id: str
    secret: str

    @property
    def basic(self) -> str:
        raw = f"{self.client_id}:{self.secret}".encode()
        return "Basic " + base64.b64encode(raw).decode()


@dataclass
class Person:
    username: str
    cookie: str
    provider_sid: str


def enroll_people(dep: Deployment, count: int) -> dict[str, bytes]:
    """``count`` people, each with an HOTP fob (its seed)."""
    otp = OtpService(SqlOtpStore(dep.store), box=dep.kek, clock=dep.clock)
    seeds: dict[str, bytes] = {}
    for n in range(count):
        username = f"flow{n:04d}"
        dep.store.add_user(
            username,
            display_name=f"Flow {n}",
            is_admin=False,
            at=dep.clock.now(),
            audit=AuditEvent("user_added", "info", username=username),
        )
        seeds[username] = os.urandom(20)
        otp.enroll_hotp(username, seeds[username], by="bench")
    return seeds


def authorize_query(app: WebApp, challenge: str, nonce: str) -> str:
    return urlencode(
        {
            "response_type": "code",
            "client_id": app.client_id,
            "redirect_uri": REDIRECT,
            "scope": "openid",
            "state": "s" + nonce,
            "nonce": nonce,
            "code_challenge": challenge,
            "code_challenge_method": "S256",
        }
    )


def exchange(http: httpx.Client, app: WebApp, code: str, verifier: str) -> httpx.Response:
    return http.post(
        "/token",
        data={
            "grant_type": "authorization_code",
            "code": code,
            "redirect_uri": REDIRECT,
            "code_verifier": verifier,
        },
        headers={"Authorization": app.basic},
    )


def sign_in(base: str, app: WebApp, username: str, seed: bytes) -> Person:
    """The sign-in page, filled in with a code from the fob; the session cookie it sets
    (checked by exchanging the code it answers with)."""
    verifier, challenge = pkce_pair()
    with httpx.Client(base_url=base, timeout=10, follow_redirects=False) as browser:
        page = browser.get(f"/authorize?{authorize_query(app, challenge, 'signin')}")
        if page.status_code != 200:
            raise RuntimeError(f"sign-in page: {page.status_code} {page.text[:300]}")
        form = FormReader()
        form.feed(page.text)
        if form.action is None:
            raise RuntimeError("the sign-in page has no form")
        code = pyotp.HOTP(base64.b32encode(seed).decode()).at(0)
        done = browser.post(form.action, data={**form.hidden, "username": username, "code": code})
        location = done.headers.get("location", "")
        if done.status_code != 303 or "code" not in query_of(location):
            raise RuntimeError(f"sign-in of {username}: {done.status_code} {done.text[:300]}")
        cookie = browser.cookies.get(SESSION_COOKIE)
        if not cookie:
            raise RuntimeError(f"sign-in of {username} set no {SESSION_COOKIE} cookie")
        tokens = exchange(browser, app, query_of(location)["code"], verifier)
        if tokens.status_code != 200:
            raise RuntimeError(f"first exchange: {tokens.status_code} {tokens.text}")
        claims = jwt.decode(tokens.json()["id_token"], options={"verify_signature": False})
        return Person(username, cookie, str(claims["sid"]))


def one_flow(http: httpx.Client, app: WebApp, person: Person) -> dict[str, Any]:
    """One flow, sequentially (warm-up): the ID token's claims, unverified."""
    verifier, challenge = pkce_pair()
    nonce = secrets.token_hex(8)
    answer = http.get(
        f"/authorize?{authorize_query(app, challenge, nonce)}",
        headers={"Cookie": f"{SESSION_COOKIE}={person.cookie}"},
    )
    query = query_of(answer.headers.get("location", ""))
    if answer.status_code != 302 or "code" not in query or query.get("state") != "s" + nonce:
        raise RuntimeError(f"authorize: {answer.status_code} {answer.headers} {answer.text[:300]}")
    tokens = exchange(http, app, query["code"], verifier)
    if tokens.status_code != 200:
        raise RuntimeError(f"token: {tokens.status_code} {tokens.text}")
    claims: dict[str, Any] = jwt.decode(
        tokens.json()["id_token"], options={"verify_signature": False}
    )
    return claims


class Checker:
    """What the server wrote and signed, checked after each flow round."""

    def __init__(self, dep: Deployment, base: str, app: WebApp, people: list[Person]) -> None:
        self.dep, self.base, self.app = dep, base, app
        self.sids = {p.provider_sid: p.username for p in people}
        keys = httpx.get(f"{base}/jwks.json", timeout=10).json()
        self.keys = {k["kid"]: jwt.PyJWK(k) for k in keys["keys"]}

    def counts(self) -> dict[str, int]:
        audit = audit_counts(self.dep)
        codes, sessions = t.authorization_codes, t.sessions
        with self.dep.engine.connect() as conn:
            used = conn.execute(
                select(func.count()).select_from(codes).where(codes.c.used_at.is_not(None))
            ).scalar_one()
            issued = conn.execute(select(func.count()).select_from(codes)).scalar_one()
            app_sessions = conn.execute(
                select(func.count())
                .select_from(sessions)
                .where(sessions.c.client_id == self.app.client_id)
                .where(sessions.c.parent_sid.is_not(None))
            ).scalar_one()
        return {
            "code_success": audit.get(("authorization_code", "success"), 0),
            "code_refused": sum(
                n for (e, o), n in audit.items() if e == "authorization_code" and o != "success"
            ),
            "codes_used": int(used),
            "codes_issued": int(issued),
            "app_sessions": int(app_sessions),
        }

    def verify(self, id_token: str, nonce: str) -> None:
        kid = jwt.get_unverified_header(id_token)["kid"]
        key = self.keys[kid]
        claims = jwt.decode(
            id_token,
            key.key,
            algorithms=[key.algorithm_name],
            audience=self.app.client_id,
            issuer=self.base,
            options={"require": ["exp", "iat", "auth_time", "nonce", "sid", "at_hash"]},
        )
        if claims["nonce"] != nonce:
            raise RuntimeError(f"ID token nonce {claims['nonce']} for flow {nonce}")
        if self.sids.get(claims["sid"]) != claims["sub"]:
            raise RuntimeError(f"ID token sid/sub not a provider session of ours: {claims}")

    def check_sample(self, sample: Path) -> tuple[int, int]:
        """Verify every sampled ID token; present a few sampled codes again (each must be
        refused). The number verified and the number replayed."""
        lines = [line.split("\t") for line in sample.read_text().splitlines() if line]
        for nonce, _code, _verifier, id_token in lines:
            self.verify(id_token, nonce)
        replayed = 0
        with httpx.Client(base_url=self.base, timeout=10) as http:
            for _nonce, code, verifier, _id_token in lines[:REPLAYS_PER_ROUND]:
                again = exchange(http, self.app, code, verifier)
                if again.status_code != 400 or again.json().get("error") != "invalid_grant":
                    raise RuntimeError(f"a code was accepted twice: {again.status_code}")
                replayed += 1
        return len(lines), replayed


def percentile(samples: list[float], q: float) -> float:
    ordered = sorted(samples)
    return ordered[min(len(ordered) - 1, int(q / 100 * len(ordered)))]


def flow_round(
    args: argparse.Namespace,
    workdir: Path,
    n: int,
    *,
    base: str,
    app: WebApp,
    cookies_file: Path,
    checker: Checker,
    server: subprocess.Popen[bytes],
) -> dict[str, Any]:
    pairs_file = workdir / f"pairs-{n}.txt"
    pairs_file.write_text("".join(" ".join(pkce_pair()) + "\n" for _ in range(args.flows)))
    out = workdir / f"flow-{n}"
    before, cpu_before = checker.counts(), cpu_seconds(server.pid)
    result, _ = run_wrk(
        args,
        FLOW_LUA,
        base,
        str(pairs_file),
        str(cookies_file),
        app.client_id,
        REDIRECT,
        app.basic,
        str(out),
        str(args.sample_every),
    )
    cpu = cpu_seconds(server.pid) - cpu_before
    time.sleep(1.0)  # let the requests wrk abandoned at the end finish
    after = checker.counts()
    verified, replayed = checker.check_sample(Path(f"{out}.sample"))
    final = checker.counts()
    latencies = [int(x) / 1000 for x in Path(f"{out}.latency").read_text().split()]
    seconds = result["duration_us"] / 1e6
    delta = {k: after[k] - before[k] for k in after}
    flows = result["token_ok"]
    problems = [
        f"{k} {result[k]}"
        for k in ("authorize_other", "token_other", "exhausted", "duplicate_codes", "unmatched")
        if result[k]
    ] + ([f"socket errors {socket_errors(result)}"] if socket_errors(result) else [])
    # Every 200 was committed; the flows wrk abandoned at the end may commit a few more.
    if not flows <= delta["code_success"] <= flows + args.connections:
        problems.append(f"{delta['code_success']} success audit rows for {flows} ID tokens")
    if delta["code_refused"]:
        problems.append(f"{delta['code_refused']} refused exchanges")
    if (
        delta["app_sessions"] != delta["code_success"]
        or delta["codes_used"] != delta["code_success"]
    ):
        problems.append(f"sessions/codes used {delta['app_sessions']}/{delta['codes_used']}")
    if final["code_refused"] - after["code_refused"] != replayed:
        problems.append("a replayed code was not audited as refused")
    return {
        "kind": "flow",
        "per_s": flows / seconds,
        "requests_per_s": result["requests"] / seconds,
        "p50_ms": statistics.median(latencies),
        "p90_ms": percentile(latencies, 90),
        "p99_ms": percentile(latencies, 99),
        "max_ms": max(latencies),
        "req_p99_ms": result["p99_us"] / 1000,
        "cpu_us": cpu / max(1, flows) * 1e6,
        "cpu_share": cpu / seconds,
        "note": (
            f"{flows:,} flows, {delta['code_success']:,} audit successes, "
            f"{delta['codes_issued']:,} codes issued, {delta['app_sessions']:,} app sessions; "
            f"{verified} ID tokens verified, {replayed} codes replayed and refused"
        ),
        "problems": problems,
    }


def refresh_round(
    args: argparse.Namespace,
    workdir: Path,
    n: int,
    *,
    base: str,
    dep: Deployment,
    tokens: list[str],
    server: subprocess.Popen[bytes],
) -> dict[str, Any]:
    tokens_file = workdir / f"tokens-{n}.txt"
    tokens_file.write_text("\n".join(tokens) + "\n")
    before, cpu_before = audit_counts(dep), cpu_seconds(server.pid)
    result, _ = run_wrk(args, REFRESH_LUA, base, str(tokens_file), DEFAULT_KIOSK_CLIENT_ID)
    cpu = cpu_seconds(server.pid) - cpu_before
    time.sleep(1.0)
    after = audit_counts(dep)
    seconds = result["duration_us"] / 1e6
    ok = result["statuses"].get("200", 0)
    rotations = after.get(("refresh", "success"), 0) - before.get(("refresh", "success"), 0)
    problems = [f"non-2xx {result['non_2xx']}"] if result["non_2xx"] else []
    if socket_errors(result):
        problems.append(f"socket errors {socket_errors(result)}")
    if result["tokens_exhausted"]:
        problems.append(f"{result['tokens_exhausted']} requests found no token (--sessions)")
    if not ok <= rotations <= result["tokens_presented"]:
        problems.append(f"{rotations} rotations for {ok} 200s")
    return {
        "kind": "refresh",
        "per_s": ok / seconds,
        "requests_per_s": result["requests"] / seconds,
        "p50_ms": result["p50_us"] / 1000,
        "p90_ms": result["p90_us"] / 1000,
        "p99_ms": result["p99_us"] / 1000,
        "max_ms": result["max_us"] / 1000,
        "req_p99_ms": result["p99_us"] / 1000,
        "cpu_us": cpu / max(1, ok) * 1e6,
        "cpu_share": cpu / seconds,
        "note": f"{ok:,} refreshes, {rotations:,} rotations committed",
        "problems": problems,
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=3, help="rounds of each kind")
    parser.add_argument("--only", choices=["flow", "refresh"], help="one kind of round only")
    parser.add_argument("--people", type=int, default=32, help="provider sessions (cookies)")
    parser.add_argument("--flows", type=int, default=40_000, help="PKCE pairs per flow round")
    parser.add_argument("--sessions", type=int, default=120_000, help="refresh tokens in all")
    parser.add_argument("--sample-every", type=int, default=200, help="ID tokens verified")
    add_load_options(parser)
    parser.set_defaults(duration=10)
    parser.add_argument(
        "--sync", choices=["FULL", "NORMAL"], default="FULL", help="SQLite synchronous"
    )
    parser.add_argument(
        "--profile", type=Path, metavar="FILE", help="cProfile every server thread into FILE"
    )
    parser.add_argument("--keep", action="store_true", help="keep the database and logs")
    args = parser.parse_args()
    if missing_tools("wrk", "taskset"):
        return 1
    workdir = Path(tempfile.mkdtemp(prefix="tokenstile-bench-"))
    try:
        rounds = measure(args, workdir)
    finally:
        if args.keep:
            print(f"kept {workdir}")
        else:
            shutil.rmtree(workdir, ignore_errors=True)
    return report(args, rounds)


def measure(args: argparse.Namespace, workdir: Path) -> list[dict[str, Any]]:
    env = bench_env(workdir, args.sync)
    db = f"sqlite:///{workdir / 'bench.db'}"
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    server: subprocess.Popen[bytes] | None = None
    dep = Deployment(load_settings(db=db, port=port, issuer=base))
    kinds = [args.only] if args.only else ["flow", "refresh"]
    rounds: list[dict[str, Any]] = []
    try:
        dep.init()
        env["TOKENSTILE_KEK_FILE"] = str(dep.settings.kek_file)
        began = time.perf_counter()
        client, secret = dep.add_client(
            "Bench web app", kind="web", audiences=[], scopes=[], redirect_uris=[REDIRECT]
        )
        assert secret is not None
        app = WebApp(client.client_id, secret)
        seeds = enroll_people(dep, args.people)
        tokens = make_sessions(dep, args.sessions) if "refresh" in kinds else []
        print(
            f"setup: web client, {len(seeds)} people, {len(tokens):,} refresh sessions "
            f"in {time.perf_counter() - began:.1f} s"
        )
        wrapper = (str(HERE / "cprofile_server.py"), str(args.profile)) if args.profile else ()
        server = start_server(
            db, port, args.server_cpu, env, workdir / "server.log", wrapper=wrapper
        )
        people = [sign_in(base, app, name, seed) for name, seed in seeds.items()]
        cookies_file = workdir / "cookies.txt"
        cookies_file.write_text("".join(p.cookie + "\n" for p in people))
        with httpx.Client(base_url=base, timeout=10, follow_redirects=False) as http:
            for i in range(WARMUP_REQUESTS):
                one_flow(http, app, people[i % len(people)])
        if tokens:
            warm_up(base, tokens[:WARMUP_REQUESTS])
        print(f"signed in {len(people)} people through the sign-in page; warmed up")
        checker = Checker(dep, base, app, people)
        per_round = (len(tokens) - WARMUP_REQUESTS) // args.rounds
        for n in range(args.rounds):
            for kind in kinds if n % 2 == 0 else reversed(kinds):
                if kind == "flow":
                    done = flow_round(
                        args,
                        workdir,
                        n,
                        base=base,
                        app=app,
                        cookies_file=cookies_file,
                        checker=checker,
                        server=server,
                    )
                else:
                    start = WARMUP_REQUESTS + n * per_round
                    batch = tokens[start : start + per_round]
                    done = refresh_round(
                        args, workdir, n, base=base, dep=dep, tokens=batch, server=server
                    )
                done["round"] = n + 1
                rounds.append(done)
                print(line(done), flush=True)
    finally:
        stop_server(server)
        dep.close()
    return rounds


def line(r: dict[str, Any]) -> str:
    return (
        f"round {r['round']} {r['kind']:7}: {r['per_s']:7,.0f}/s ({r['requests_per_s']:,.0f} "
        f"requests/s), p50 {r['p50_ms']:.2f} ms, p90 {r['p90_ms']:.2f} ms, "
        f"p99 {r['p99_ms']:.2f} ms, max {r['max_ms']:.1f} ms"
        + (f" (per request p99 {r['req_p99_ms']:.2f} ms)" if r["kind"] == "flow" else "")
        + "; server CPU "
        f"{r['cpu_us']:,.0f} us each ({r['cpu_share']:.0%} of a core); {r['note']}"
        + (f"; PROBLEMS: {', '.join(r['problems'])}" if r["problems"] else "")
    )


def report(args: argparse.Namespace, rounds: list[dict[str, Any]]) -> int:
    print(f"machine: {machine()}; nproc {os.cpu_count()}; {today()}")
    print(
        f"load: wrk -t{args.threads} -c{args.connections} -d{args.duration}s on cpu "
        f"{args.load_cpu}; server: 1 worker on cpu {args.server_cpu}; "
        f"SQLite WAL synchronous={args.sync}; {args.people} provider sessions"
        + ("; under cProfile" if args.profile else "")
    )
    by_kind: dict[str, list[dict[str, Any]]] = {}
    for r in rounds:
        by_kind.setdefault(r["kind"], []).append(r)
    for kind, rs in by_kind.items():
        rates = [r["per_s"] for r in rs]
        p99s = [r["p99_ms"] for r in rs]
        cpus = [r["cpu_us"] for r in rs]
        print(
            f"{kind}: {min(rates):,.0f}-{max(rates):,.0f}/s (median "
            f"{statistics.median(rates):,.0f}), p99 {min(p99s):.1f}-{max(p99s):.1f} ms, "
            f"server CPU {min(cpus):,.0f}-{max(cpus):,.0f} us each"
        )
    if len(by_kind) == 2:
        pairs = list(zip(by_kind["flow"], by_kind["refresh"], strict=True))
        ratios = [f["per_s"] / r["per_s"] for f, r in pairs]
        cpu_ratios = [f["cpu_us"] / r["cpu_us"] for f, r in pairs]
        print(
            f"flow/refresh throughput per round pair: {', '.join(f'{x:.3f}' for x in ratios)}; "
            f"server CPU per flow / per refresh: {', '.join(f'{x:.2f}' for x in cpu_ratios)}"
        )
    failed = [r for r in rounds if r["problems"]]
    if failed:
        print(f"{len(failed)} round(s) with problems: see PROBLEMS above", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
