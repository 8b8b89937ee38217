"""What the benchmarks share: the machine line, a token server pinned to a core, wrk, py-spy.

Imported by ``bench_refresh.py``, ``bench_totp_login.py``, ``bench_webauthn_login.py``,
``bench_piv_login.py``, ``bench_code_flow.py`` and ``code_flow_breakdown.py`` (Python puts
``bench/`` on the path when one of them runs).
"""

from __future__ import annotations

import argparse
import contextlib
import datetime as dt
import json
import os
import platform
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
from sqlalchemy import func, select

from tokenstile.deployment import Deployment
from tokenstile.store import schema as t

SOCKET_ERRORS = ("connect_errors", "read_errors", "write_errors", "timeouts")


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


def today() -> str:
    return dt.datetime.now(dt.UTC).date().isoformat()


def missing_tools(*tools: str) -> bool:
    """Say which of ``tools`` is not installed (on stderr); whether one is missing."""
    for tool in tools:
        if shutil.which(tool) is None:
            print(f"{tool} is not installed (make bench installs it).", file=sys.stderr)
            return True
    return False


def bench_env(workdir: Path, sync: str) -> dict[str, str]:
    """This process's environment without any TOKENSTILE_ setting, but data, runtime dir
    and SQLite synchronous under ``workdir``; also applied to this process."""
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith("TOKENSTILE_")},
        "TOKENSTILE_DATA_DIR": str(workdir / "data"),
        "TOKENSTILE_RUNTIME_DIR": str(workdir / "run"),
        "TOKENSTILE_SQLITE_SYNCHRONOUS": sync,
    }
    os.environ.update(env)
    return env


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def start_server(
    db: str,
    port: int,
    cpu: int | str,
    env: dict[str, str],
    log: Path,
    *,
    wrapper: tuple[str, ...] = (),
) -> subprocess.Popen[bytes]:
    """One ``tokenstile server`` pinned to ``cpu`` (a ``taskset`` list: ``0``, ``0-1``),
    once /healthz answers 200; ``wrapper`` (a script and its arguments) runs before
    ``-m tokenstile.cli``, as ``cprofile_server.py OUT`` does."""
    cmd = ["taskset", "-c", str(cpu), sys.executable, *wrapper, "-m", "tokenstile.cli"]
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


def stop_server(proc: subprocess.Popen[bytes] | None) -> None:
    """SIGTERM, then SIGKILL after 10 s; nothing when it is not running."""
    if proc is None or proc.poll() is not None:
        return
    proc.send_signal(signal.SIGTERM)
    try:
        proc.wait(10)
    except subprocess.TimeoutExpired:
        proc.kill()


def add_load_options(parser: argparse.ArgumentParser) -> None:
    """The load options of the wrk benchmarks (seconds, connections, threads, cores);
    ``run_wrk`` reads them."""
    parser.add_argument("--duration", type=int, default=12, help="seconds of load")
    parser.add_argument("--connections", type=int, default=32)
    parser.add_argument("--threads", type=int, default=1, help="wrk threads")
    parser.add_argument("--server-cpu", type=int, default=0)
    parser.add_argument("--load-cpu", type=int, default=1)


def wrk_command(args: argparse.Namespace, script: Path, base: str, *script_args: str) -> list[str]:
    """wrk as ``args`` say (--load-cpu, --threads, --connections, --duration) with a Lua
    script whose done() prints "RESULT {json}"; WRK_THREADS tells the script the -t (the
    scripts split their tokens or codes by thread and cannot count threads themselves)."""
    cmd = ["env", f"WRK_THREADS={args.threads}", "taskset", "-c", str(args.load_cpu), "wrk"]
    cmd += [f"-t{args.threads}", f"-c{args.connections}"]
    cmd += [f"-d{args.duration}s", "--latency", "--timeout", "5s", "-s", str(script), base]
    return [*cmd, "--", *script_args]


def wrk_result(stdout: str, stderr: str) -> dict[str, Any]:
    """The JSON of the "RESULT" line wrk's script printed, or ``RuntimeError``."""
    for line in stdout.splitlines():
        if line.startswith("RESULT "):
            result: dict[str, Any] = json.loads(line.removeprefix("RESULT "))
            return result
    raise RuntimeError(f"wrk printed no RESULT line:\n{stdout}\n{stderr}")


def run_wrk(
    args: argparse.Namespace, script: Path, base: str, *script_args: str
) -> tuple[dict[str, Any], str]:
    """``wrk_command`` run to its end: its RESULT JSON and wrk's own report."""
    cmd = wrk_command(args, script, base, *script_args)
    done = subprocess.run(
        cmd, capture_output=True, text=True, check=True, timeout=args.duration + 60
    )
    return wrk_result(done.stdout, done.stderr), done.stdout


def socket_errors(result: dict[str, Any]) -> int:
    return int(sum(result[k] for k in SOCKET_ERRORS))


def start_py_spy(
    load_cpu: int, pid: int, output: Path, *, duration: int, rate: int, extra: list[str]
) -> subprocess.Popen[bytes]:
    """py-spy record (collapsed stacks) of ``pid`` for ``duration`` s, on the load core."""
    sibling = Path(sys.executable).with_name("py-spy")
    spy = str(sibling) if sibling.exists() else "py-spy"
    cmd = ["taskset", "-c", str(load_cpu), spy, "record", "--pid", str(pid)]
    cmd += ["--duration", str(duration), "--rate", str(rate), "--format", "raw"]
    cmd += ["--output", str(output), "--nonblocking", *extra]
    return subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.STDOUT)


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of a process so far (Linux /proc)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def audit_counts(dep: Deployment) -> dict[tuple[str, str], int]:
    a = t.audit
    stmt = select(a.c.event, a.c.outcome, func.count()).group_by(a.c.event, a.c.outcome)
    with dep.engine.connect() as conn:
        return {(e, o): int(n) for e, o, n in conn.execute(stmt)}


def median_us(samples: list[float]) -> float:
    return statistics.median(samples) * 1e6


@contextlib.contextmanager
def timing(owner: Any, name: str, into: list[float]) -> Iterator[None]:
    """Replace ``owner.name`` by a wrapper that adds each call's duration to ``into``."""
    original: Callable[..., Any] = getattr(owner, name)

    def timed(*a: Any, **k: Any) -> Any:
        began = time.perf_counter()
        try:
            return original(*a, **k)
        finally:
            into.append(time.perf_counter() - began)

    setattr(owner, name, timed)
    try:
        yield
    finally:
        setattr(owner, name, original)
