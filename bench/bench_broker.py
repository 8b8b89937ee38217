"""The broker's hot paths: ``tokenstile token`` as a whole process, and the SDK's cached
``Broker().access_token()``.

Runs against the real Secret Service: a private D-Bus session bus and gnome-keyring in a
temporary home (stopped by PID at the end), holding a signed-in session whose access
token is valid for an hour, so every call is served from the cache (no token service is
needed; a refresh is the token endpoint's benchmark, ``bench_refresh.py``).

- whole process: hyperfine, median wall time of ``tokenstile token`` next to
  ``python -c pass`` in the same run (the ratio is what carries across machines);
- SDK: median per call of ``access_token()`` on one Broker (memory), and of a fresh
  ``Broker().access_token()`` per call (a keychain read over D-Bus each time).

    .venv/bin/python bench/bench_broker.py [--runs 60]
"""

from __future__ import annotations

import argparse
import base64
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from harness import machine, missing_tools, today
from tokenstile.broker import Broker
from tokenstile.broker.model import AccessToken, StoredSession
from tokenstile.broker.store import KeyringStore


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _session() -> StoredSession:
    now = time.time()
    claims = {
        "sub": "alice",
        "aud": "urn:tokenstile:local",
        "sid": "bench",
        "acr": "phrh",
        "amr": ["hwk", "pin", "mfa"],
        "exp": int(now) + 3600,
    }
    token = ".".join(
        [
            _b64(b'{"alg":"ES256","typ":"at+jwt"}'),
            _b64(json.dumps(claims).encode()),
            _b64(os.urandom(64)),
        ]
    )
    return StoredSession(
        server="https://auth.example",
        client_id="tokenstile-kiosk",
        refresh_token=_b64(os.urandom(32)),
        access=AccessToken(
            access_token=token,
            token_type="Bearer",  # noqa: S106
            expires_at=now + 3600,
            scope="openid profile",
            issued_at=now,
        ),
        claims=claims,
    )


@contextmanager
def secret_service(home: Path) -> Iterator[dict[str, str]]:
    runtime = home / "run"
    runtime.mkdir(mode=0o700)
    bus = subprocess.Popen(
        [
            "dbus-daemon",
            "--session",
            "--nofork",
            "--nopidfile",
            f"--address=unix:path={runtime / 'bus'}",
            "--print-address=1",
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
    )
    daemon = None
    try:
        assert bus.stdout is not None
        env = {
            **os.environ,
            "HOME": str(home),
            "XDG_DATA_HOME": str(home / "share"),
            "XDG_RUNTIME_DIR": str(runtime),
            "DBUS_SESSION_BUS_ADDRESS": bus.stdout.readline().decode().strip(),
            "TOKENSTILE_RUNTIME_DIR": str(home / "tokenstile-run"),
            "TOKENSTILE_DATA_DIR": str(home / "tokenstile-data"),
        }
        daemon = subprocess.Popen(
            ["gnome-keyring-daemon", "--foreground", "--unlock", "--components=secrets"],
            stdin=subprocess.PIPE,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            env=env,
        )
        assert daemon.stdin is not None
        daemon.stdin.write(b"bench-password")
        daemon.stdin.close()
        probe = [
            sys.executable,
            "-c",
            "import secretstorage as s; s.get_default_collection(s.dbus_init())",
        ]
        for _ in range(100):
            if subprocess.run(probe, env=env, capture_output=True, check=False).returncode == 0:
                break
            time.sleep(0.1)
        yield env
    finally:
        for process in (daemon, bus):
            if process is not None:
                process.terminate()
                process.wait(10)
        if bus.stdout is not None:
            bus.stdout.close()


def per_call_us(call: object, *, batch: int, rounds: int) -> float:
    assert callable(call)
    samples = []
    for _ in range(rounds):
        start = time.perf_counter()
        for _ in range(batch):
            call()
        samples.append((time.perf_counter() - start) / batch * 1e6)
    return statistics.median(samples)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=60, help="hyperfine runs per command")
    args = parser.parse_args()
    if missing_tools("hyperfine", "dbus-daemon", "gnome-keyring-daemon"):
        return 1
    python = sys.executable
    tokenstile = str(Path(python).with_name("tokenstile"))
    with (
        tempfile.TemporaryDirectory(prefix="bench-broker-") as tmp,
        secret_service(Path(tmp)) as env,
    ):
        os.environ.update(env)
        KeyringStore().save(_session().to_json())
        export = Path(tmp) / "hyperfine.json"
        subprocess.run(
            [
                "hyperfine",
                "-N",
                "--warmup",
                "5",
                "--runs",
                str(args.runs),
                "--export-json",
                str(export),
                f"{python} -c pass",
                f"{tokenstile} token",
            ],
            check=True,
            env=env,
            stdout=subprocess.DEVNULL,
        )
        results = json.loads(export.read_text())["results"]
        baseline, token = (r["median"] * 1000 for r in results)
        cpu = (results[1]["user"] + results[1]["system"]) * 1000
        check = subprocess.run(
            [tokenstile, "token"], env=env, capture_output=True, text=True, check=True
        )
        assert check.stdout.strip() == _session_token()
        broker = Broker()
        broker.access_token()
        cached = per_call_us(broker.access_token, batch=10_000, rounds=15)
        fresh = per_call_us(lambda: Broker().access_token(), batch=20, rounds=10)
    print(f"Machine: {machine()}; {today()}; load average {os.getloadavg()[0]:.1f}")
    print(
        "| `python -c pass` | `tokenstile token` | ratio | SDK `access_token()` cached "
        "| fresh `Broker().access_token()` (keychain read) | `tokenstile token` CPU (user+sys) |"
    )
    print("|---|---|---|---|---|---|")
    print(
        f"| {baseline:.1f} ms | {token:.1f} ms | {token / baseline:.1f}x | {cached:.2f} us "
        f"| {fresh / 1000:.2f} ms | {cpu:.0f} ms |"
    )
    return 0


def _session_token() -> str:
    return StoredSession.from_json(KeyringStore().load() or "").access.access_token


if __name__ == "__main__":
    sys.exit(main())
