"""Fleet throughput: refresh grant and TOTP login on SQLite (1 worker) and PostgreSQL (1 and
2 workers), load from wrk in its own process; and a soak with memory sampled.

Run::

    .venv/bin/python bench/bench_fleet.py                          # 3 setups x 2 loads, 10 s each
    .venv/bin/python bench/bench_fleet.py --setups postgres-2 --duration 20
    .venv/bin/python bench/bench_fleet.py --soak 600               # 10 min, PostgreSQL, 2 workers

Setups: ``sqlite-1`` (one worker, SQLite WAL synchronous=FULL), ``postgres-1`` and
``postgres-2`` (one or two ``tokenstile server`` workers, ``--workers`` setting, on a
PostgreSQL cluster this script starts in a temp dir with its default durability: fsync
on, synchronous_commit on). On 2 cores: one worker runs on cpu 0, two workers on cpus
0-1; wrk always on cpu 1; PostgreSQL unpinned. So the two-worker setups share both
cores with wrk and PostgreSQL: the gain from the second worker is what the second core
gives, not 2x. "server CPU/req" is the workers' user+system time per request.

Loads: ``refresh`` chains refresh grants (``refresh.lua`` with ``chain``: every
response's token is presented once by a later request), ``otp`` logs in one enrolled
person per request with their current code (``bench_totp_login``'s wrk script and
setup). After each load the audit log must hold one success per 200.

The soak chains refreshes for ``--soak`` seconds (as fast as the connections go) on
``postgres-2`` (``--soak-setup``), samples the workers' RSS every 10 s and reports the
first sample after warm-up, the last and the largest; it fails on any non-200 or an RSS
growth over 10%.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sqlalchemy import select
from sqlalchemy.exc import DBAPIError

import harness
from bench_totp_login import WRK_SCRIPT as OTP_WRK_SCRIPT
from bench_totp_login import bodies, enroll_people
from bench_totp_login import warm_up as otp_warm_up
from harness import audit_counts, bench_env, free_port, machine, missing_tools, today
from tokenstile.config import load_settings
from tokenstile.deployment import DEFAULT_KIOSK_CLIENT_ID, Deployment
from tokenstile.factors.otp import seed_context
from tokenstile.store import schema as t
from tokenstile.tokens.model import AuditEvent

HERE = Path(__file__).resolve().parent
REFRESH_LUA = HERE / "refresh.lua"
# Its script arguments after the tokens file: every answer's token goes back into the pool.
CHAIN = (DEFAULT_KIOSK_CLIENT_ID, "chain")
SETUPS = ("sqlite-1", "postgres-1", "postgres-2")
SOAK_SAMPLE_SECONDS = 10.0
SOAK_WARMUP_SECONDS = 60.0
SOAK_MAX_GROWTH = 0.10


# -- PostgreSQL -------------------------------------------------------------------------------


@dataclass
class Cluster:
    directory: Path
    port: int
    pg_bin: Path

    def url(self, database: str) -> str:
        return f"postgresql+psycopg://postgres@/{database}?host={self.directory}&port={self.port}"

    def run(self, *args: str) -> None:
        cmd = list(args) if os.geteuid() != 0 else ["runuser", "-u", "postgres", "--", *args]
        subprocess.run(cmd, check=True, capture_output=True, text=True, timeout=120)

    def postmaster(self) -> int:
        return int((self.directory / "data" / "postmaster.pid").read_text().split()[0])

    def create_database(self, name: str) -> str:
        self.run(
            str(self.pg_bin / "createdb"), "-h", str(self.directory), "-p", str(self.port), name
        )
        return self.url(name)


@contextlib.contextmanager
def postgres_cluster(workdir: Path) -> Any:
    """A throwaway cluster on a Unix socket (TESTING.md), stopped afterwards."""
    versions = sorted(Path("/usr/lib/postgresql").glob("*/bin/initdb"))
    if not versions:
        raise SystemExit("PostgreSQL is not installed (make bench-fleet installs it).")
    directory = workdir / "pg"
    directory.mkdir()
    os.chmod(directory, 0o755)  # noqa: S103 - the postgres user reaches its socket here
    if os.geteuid() == 0:
        shutil.chown(directory, "postgres", "postgres")
    cluster = Cluster(directory, free_port(), versions[-1].parent)
    data = str(directory / "data")
    cluster.run(str(cluster.pg_bin / "initdb"), "-D", data, "-A", "trust", "-U", "postgres")
    options = f"-k {directory} -p {cluster.port} -c listen_addresses= -c max_connections=200"
    ctl = str(cluster.pg_bin / "pg_ctl")
    cluster.run(ctl, "-D", data, "-l", str(directory / "log"), "-w", "-o", options, "start")
    try:
        yield cluster
    finally:
        with contextlib.suppress(subprocess.SubprocessError):
            cluster.run(ctl, "-D", data, "-m", "fast", "-w", "stop")


# -- one server, maybe several workers --------------------------------------------------------


def start_server(
    db: str, port: int, workers: int, env: dict[str, str], log: Path
) -> subprocess.Popen[bytes]:
    """``workers`` forked workers: one on cpu 0, two on cpus 0-1."""
    cpus = "0" if workers == 1 else "0-1"
    return harness.start_server(db, port, cpus, {**env, "TOKENSTILE_WORKERS": str(workers)}, log)


def process_tree(pid: int) -> list[int]:
    """``pid`` and its children (the forked workers)."""
    pids = [pid]
    with contextlib.suppress(OSError):
        children = Path(f"/proc/{pid}/task/{pid}/children").read_text().split()
        pids += [int(c) for c in children]
    return pids


def tree_cpu_seconds(pid: int) -> float:
    total = 0.0
    for p in process_tree(pid):
        with contextlib.suppress(OSError):
            total += harness.cpu_seconds(p)
    return total


def machine_busy_seconds() -> tuple[float, float]:
    """(busy, total) CPU seconds of the whole machine so far, all cores (/proc/stat)."""
    fields = [int(v) for v in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:9]]
    idle = fields[3] + fields[4]  # idle + iowait
    tick = os.sysconf("SC_CLK_TCK")
    return (sum(fields) - idle) / tick, sum(fields) / tick


@dataclass
class Meter:
    """CPU used during a measurement: the server's processes, PostgreSQL's, the machine."""

    server_pid: int
    postmaster: int | None

    def read(self) -> tuple[float, float, float, float]:
        busy, total = machine_busy_seconds()
        pg = tree_cpu_seconds(self.postmaster) if self.postmaster else 0.0
        return tree_cpu_seconds(self.server_pid), pg, busy, total


def tree_rss_mib(pid: int) -> float:
    total = 0
    for p in process_tree(pid):
        with contextlib.suppress(OSError):
            for line in Path(f"/proc/{p}/status").read_text().splitlines():
                if line.startswith("VmRSS:"):
                    total += int(line.split()[1])
    return total / 1024


# -- setup --------------------------------------------------------------------------------------


def enroll(dep: Deployment, count: int) -> list[tuple[str, bytes]]:
    """``count`` people with a TOTP credential each (``bench_totp_login``'s bulk rows);
    their usernames and seeds, read back (its closing ``PRAGMA wal_checkpoint`` is
    SQLite's: on PostgreSQL it fails after the rows are committed)."""
    try:
        return enroll_people(dep, count)
    except DBAPIError:
        if dep.engine.dialect.name == "sqlite":
            raise
    c, u = t.otp_credentials, t.users
    stmt = (
        select(u.c.username, c.c.serial, c.c.sealed_seed)
        .select_from(c.join(u, u.c.id == c.c.user_id))
        .order_by(u.c.username)
    )
    with dep.engine.connect() as conn:
        rows = conn.execute(stmt).all()
    return [
        (r.username, dep.kek.decrypt(bytes(r.sealed_seed), context=seed_context(r.serial)))
        for r in rows
    ]


def open_sessions(dep: Deployment, count: int) -> list[str]:
    """``count`` fresh sessions of the bench person; their refresh tokens."""
    user = dep.store.find_user("bench") or dep.store.add_user(
        "bench",
        display_name="Bench",
        is_admin=False,
        at=dep.clock.now(),
        audit=AuditEvent("user_added", "info"),
    )
    client = dep.store.find_client(DEFAULT_KIOSK_CLIENT_ID)
    assert client is not None
    service = dep.token_service()
    return [
        service.sessions.open_session(
            user=user, client=client, factor="otp", amr=["otp"], acr="otp"
        ).refresh_token
        for _ in range(count)
    ]


@dataclass
class Prepared:
    name: str
    db: str
    dep: Deployment
    env: dict[str, str]
    workdir: Path
    postmaster: int | None

    @property
    def label(self) -> str:
        return self.workdir.name


def prepare(
    name: str,
    workdir: Path,
    cluster: Cluster | None,
    *,
    no_limits: bool,
    settings: dict[str, str] | None = None,
) -> Prepared:
    here = workdir / (name + ("-nolimits" if no_limits else ""))
    here.mkdir()
    env = bench_env(here, "FULL")
    postmaster = None
    if name.startswith("postgres"):
        assert cluster is not None
        db = cluster.create_database(name.replace("-", "_"))
        postmaster = cluster.postmaster()
    else:
        db = f"sqlite:///{here / 'bench.db'}"
    if no_limits:  # a load from one address is not an attack: see --no-rate-limits
        env["TOKENSTILE_RATE_LIMIT_CHALLENGES"] = "0"
        env["TOKENSTILE_RATE_LIMIT_LOGIN_FAILURES"] = "0"
    env.update({f"TOKENSTILE_{k.upper()}": v for k, v in (settings or {}).items()})
    dep = Deployment(load_settings(db=db))
    dep.init()
    env["TOKENSTILE_KEK_FILE"] = str(dep.settings.kek_file)
    return Prepared(name, db, dep, env, here, postmaster)


# -- loads ------------------------------------------------------------------------------------


@dataclass
class Measured:
    setup: str
    load: str
    rps: float
    p50_ms: float
    p99_ms: float
    cpu_ms_per_request: float
    pg_ms_per_request: float
    machine_busy: float
    non_2xx: int
    socket_errors: int
    audited: int
    ok: int


def wrk_args(args: argparse.Namespace, duration: int) -> argparse.Namespace:
    return argparse.Namespace(
        threads=args.threads, connections=args.connections, duration=duration, load_cpu=1
    )


def measure(
    args: argparse.Namespace,
    p: Prepared,
    server: subprocess.Popen[bytes],
    *,
    load: str,
    event: str,
    script: Path,
    base: str,
    script_args: tuple[str, ...],
) -> tuple[dict[str, Any], Measured]:
    """One measured wrk run of ``load``; the ``event`` successes it added to the audit
    log are what the server committed."""
    before = audit_counts(p.dep)
    meter = Meter(server.pid, p.postmaster)
    start = meter.read()
    result, _ = harness.run_wrk(wrk_args(args, args.duration), script, base, *script_args)
    used = [b - a for a, b in zip(start, meter.read(), strict=True)]
    time.sleep(1.0)
    after = audit_counts(p.dep)
    key = (event, "success")
    return result, summarise(p.label, load, result, used, after.get(key, 0) - before.get(key, 0))


def measure_refresh(
    args: argparse.Namespace, p: Prepared, base: str, server: subprocess.Popen[bytes]
) -> Measured:
    tokens_file = p.workdir / "chain.txt"
    tokens_file.write_text("\n".join(open_sessions(p.dep, args.connections * 4)) + "\n")
    harness.run_wrk(wrk_args(args, 2), REFRESH_LUA, base, str(tokens_file), *CHAIN)  # warm-up
    tokens_file.write_text("\n".join(open_sessions(p.dep, args.connections * 4)) + "\n")
    _, m = measure(
        args,
        p,
        server,
        load="refresh",
        event="refresh",
        script=REFRESH_LUA,
        base=base,
        script_args=(str(tokens_file), *CHAIN),
    )
    return m


def measure_otp(
    args: argparse.Namespace,
    p: Prepared,
    base: str,
    server: subprocess.Popen[bytes],
    people: list[tuple[str, bytes]],
) -> Measured:
    script = p.workdir / "otp.lua"
    script.write_text(OTP_WRK_SCRIPT)
    # Codes of the current step stay good for the next one too (window 1): 30 s at least.
    lines = bodies(people, time.time())
    warm, measured = lines[:300], lines[300:]
    body_file = p.workdir / "otp.txt"
    # One after another: wrk would send the "no code left" filler after these, which
    # are failed logins (and would meet the rate limit).
    otp_warm_up(base, warm)
    body_file.write_text("\n".join(measured) + "\n")
    result, m = measure(
        args,
        p,
        server,
        load="otp",
        event="otp_login",
        script=script,
        base=base,
        script_args=(str(body_file),),
    )
    if result.get("exhausted"):
        print(f"  {p.name} otp: {result['exhausted']} requests found no code: raise --people")
    return m


def summarise(
    setup: str, load: str, result: dict[str, Any], used: list[float], audited: int
) -> Measured:
    """``used``: server CPU, PostgreSQL CPU, machine busy and machine total seconds."""
    seconds = result["duration_us"] / 1e6
    requests = max(1, result["requests"])
    server_cpu, pg_cpu, busy, total = used
    return Measured(
        setup=setup,
        load=load,
        rps=result["requests"] / seconds,
        p50_ms=result["p50_us"] / 1000,
        p99_ms=result["p99_us"] / 1000,
        cpu_ms_per_request=server_cpu * 1000 / requests,
        pg_ms_per_request=pg_cpu * 1000 / requests,
        machine_busy=busy / total if total else 0.0,
        non_2xx=int(result["non_2xx"]),
        socket_errors=harness.socket_errors(result),
        audited=audited,
        ok=int(result["statuses"].get("200", 0)),
    )


def server_settings(args: argparse.Namespace) -> dict[str, str]:
    """``--set NAME=VALUE`` options: server settings (``TOKENSTILE_NAME``)."""
    return dict(item.split("=", 1) for item in args.set)


def run_setup(
    args: argparse.Namespace, name: str, workdir: Path, cluster: Cluster | None
) -> list[Measured]:
    p = prepare(
        name, workdir, cluster, no_limits=args.no_rate_limits, settings=server_settings(args)
    )
    workers = int(name.rsplit("-", 1)[1])
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    server: subprocess.Popen[bytes] | None = None
    out: list[Measured] = []
    try:
        people: list[tuple[str, bytes]] = []
        if "otp" in args.loads:
            began = time.perf_counter()
            people = enroll(p.dep, args.people)
            print(
                f"  {name}: {len(people):,} people enrolled in {time.perf_counter() - began:.1f} s"
            )
        server = start_server(p.db, port, workers, p.env, p.workdir / "server.log")
        if "refresh" in args.loads:
            out.append(measure_refresh(args, p, base, server))
        if "otp" in args.loads:
            out.append(measure_otp(args, p, base, server, people))
    finally:
        harness.stop_server(server)
        p.dep.close()
    return out


def report(args: argparse.Namespace, rows: list[Measured]) -> int:
    print(f"machine: {machine()}")
    print(
        f"load: wrk -t{args.threads} -c{args.connections} -d{args.duration}s on cpu 1; "
        "server: 1 worker on cpu 0, or 2 workers on cpus 0-1; PostgreSQL unpinned"
    )
    print(
        "| setup | load | requests/s | p50 | p99 | server CPU/req | PostgreSQL CPU/req "
        "| machine busy | non-2xx | audited/200 |"
    )
    print("|---|---|---|---|---|---|---|---|---|---|")
    bad = 0
    for m in rows:
        print(
            f"| {m.setup} | {m.load} | {m.rps:,.0f} | {m.p50_ms:.2f} ms | {m.p99_ms:.2f} ms | "
            f"{m.cpu_ms_per_request:.2f} ms | {m.pg_ms_per_request:.2f} ms | "
            f"{m.machine_busy:.0%} | {m.non_2xx + m.socket_errors} | "
            f"{m.audited:,}/{m.ok:,} |"
        )
        if m.non_2xx or m.socket_errors or m.audited < m.ok:
            bad += 1
    by = {(m.setup.removesuffix("-nolimits"), m.load): m for m in rows}
    for load in ("refresh", "otp"):
        one, two = by.get(("postgres-1", load)), by.get(("postgres-2", load))
        if one and two:
            print(f"{load}: PostgreSQL 2 workers / 1 worker = {two.rps / one.rps:.2f}x ({today()})")
    return 1 if bad else 0


# -- soak ---------------------------------------------------------------------------------------


def soak(args: argparse.Namespace, workdir: Path, cluster: Cluster) -> int:
    name = args.soak_setup
    p = prepare(name, workdir, cluster, no_limits=False, settings=server_settings(args))
    workers = int(name.rsplit("-", 1)[1])
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    server: subprocess.Popen[bytes] | None = None
    samples: list[tuple[float, float]] = []
    try:
        server = start_server(p.db, port, workers, p.env, p.workdir / "server.log")
        tokens_file = p.workdir / "chain.txt"
        tokens_file.write_text("\n".join(open_sessions(p.dep, args.connections * 4)) + "\n")
        cmd = harness.wrk_command(
            wrk_args(args, args.soak), REFRESH_LUA, base, str(tokens_file), *CHAIN
        )
        began = time.monotonic()
        wrk = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        while wrk.poll() is None:
            samples.append((time.monotonic() - began, tree_rss_mib(server.pid)))
            with contextlib.suppress(subprocess.TimeoutExpired):
                wrk.wait(SOAK_SAMPLE_SECONDS)
        stdout, stderr = wrk.communicate()
        time.sleep(1.0)
        counts = audit_counts(p.dep)
        log_text = (p.workdir / "server.log").read_text(errors="replace")
    finally:
        harness.stop_server(server)
        p.dep.close()
    try:
        result = harness.wrk_result(stdout, stderr)
    except RuntimeError as exc:
        print(exc, file=sys.stderr)
        return 1
    settled = [rss for at, rss in samples if at >= SOAK_WARMUP_SECONDS] or [samples[-1][1]]
    growth = (settled[-1] - settled[0]) / settled[0]
    m = summarise(name, "refresh soak", result, [0.0] * 4, counts.get(("refresh", "success"), 0))
    errors = m.non_2xx + m.socket_errors
    print(f"machine: {machine()}")
    print(
        f"soak {today()}: {name}, wrk -t{args.threads} -c{args.connections} -d{args.soak}s "
        f"on cpu 1, chained refresh grants: {m.rps:,.0f} requests/s, p50 {m.p50_ms:.2f} ms, "
        f"p99 {m.p99_ms:.2f} ms, {result['requests']:,} requests, errors {errors} "
        f"(non-2xx {m.non_2xx}, socket {m.socket_errors}, tokens lost {result['lost']})"
    )
    print(
        f"RSS of the server (supervisor + workers), sampled every {SOAK_SAMPLE_SECONDS:g} s: "
        f"{settled[0]:.1f} MiB at {SOAK_WARMUP_SECONDS:g} s, {settled[-1]:.1f} MiB at the end, "
        f"max {max(r for _, r in samples):.1f} MiB: growth {growth:+.1%} "
        f"(limit {SOAK_MAX_GROWTH:.0%}); audit refresh successes {m.audited:,}"
    )
    print("server log lines with Traceback:", log_text.count("Traceback"))
    samples_file = Path(args.samples) if args.samples else None
    if samples_file is not None:
        samples_file.write_text("\n".join(f"{at:.0f} {rss:.1f}" for at, rss in samples) + "\n")
    ok = errors == 0 and growth <= SOAK_MAX_GROWTH and "Traceback" not in log_text
    return 0 if ok else 1


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--setups", default=",".join(SETUPS), help="comma-separated: " + ", ".join(SETUPS)
    )
    parser.add_argument("--loads", default="refresh,otp", help="refresh, otp or both")
    parser.add_argument("--duration", type=int, default=10, help="seconds of load per measurement")
    parser.add_argument("--connections", type=int, default=32)
    parser.add_argument("--threads", type=int, default=1, help="wrk threads")
    parser.add_argument("--people", type=int, default=40_000, help="OTP people per setup")
    parser.add_argument("--soak", type=int, metavar="SECONDS", help="soak instead of the matrix")
    parser.add_argument("--soak-setup", default="postgres-2", choices=SETUPS)
    parser.add_argument("--samples", help="soak: write 'seconds RSS-MiB' lines to this file")
    parser.add_argument(
        "--no-rate-limits",
        action="store_true",
        help="turn the login rate limits off (to see what counting them costs)",
    )
    parser.add_argument(
        "--set",
        action="append",
        default=[],
        metavar="NAME=VALUE",
        help="a server setting, e.g. --set db_pool_size=40",
    )
    parser.add_argument("--keep", action="store_true", help="keep the work directory")
    args = parser.parse_args()
    if missing_tools("wrk", "taskset"):
        return 1
    workdir = Path(tempfile.mkdtemp(prefix="tokenstile-fleet-bench-"))
    os.chmod(workdir, 0o755)  # noqa: S103 - the postgres user reaches its socket below
    try:
        with postgres_cluster(workdir) as cluster:
            if args.soak:
                return soak(args, workdir, cluster)
            rows: list[Measured] = []
            for name in args.setups.split(","):
                print(f"{name} ...", flush=True)
                rows += run_setup(args, name, workdir, cluster if "postgres" in name else None)
            return report(args, rows)
    finally:
        if args.keep:
            print(f"kept {workdir}")
        else:
            shutil.rmtree(workdir, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
