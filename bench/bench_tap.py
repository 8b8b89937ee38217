"""Tap-and-go: from the device event to another process holding the new session's token.

Runs against a real ``tokenstile server`` process (SQLite, both cores) and the real
keychain (a private D-Bus session bus and gnome-keyring in a temporary home, stopped by
PID at the end, as ``bench_broker.py`` does), with the software security key:

1. alice's key is enrolled, the default kiosk put in a group with an 8-hour shift, and
   one full sign-in (PIN) opens her shift;
2. each round: **t0** the key appears (the key file opened as the ``SecurityKey`` the
   kiosk's device watcher hands to the window); the kiosk's ``BrokerSignIn`` asks the
   service whether it takes taps, the key answers with a touch (the software key
   approves at once, no PIN), the service accepts the tap, the broker saves the session
   in the keychain (**t1**); an app already running (a separate process started before
   the rounds, holding ``Broker().watch``, which wakes on the state file's inotify
   event) reads the new token through the SDK (**ta**); then a new ``tokenstile token``
   process reads it from the keychain and prints the access token (**t2**); both checked
   to be the tap's (its ``sid``, ``acr`` ``tap``);
3. the same rounds with ``kiosk_tap_and_go`` off: a full sign-in each time, the PIN
   given the moment the key asks (baseline).

Not included: the kiosk's key poll (``kiosk_key_poll_seconds``, 0.5 s by default, for USB
and NFC keys) and the GUI (``bench_kiosk.py`` measures what the window adds). No virtual
card round: a card tap is not built.

    .venv/bin/python bench/bench_tap.py [--rounds 30]
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
import threading
import time
from pathlib import Path
from typing import Any

from bench_broker import secret_service
from harness import bench_env, free_port, machine, missing_tools, start_server, stop_server, today
from tokenstile.broker import Broker
from tokenstile.cli.fido2 import open_security_key
from tokenstile.kiosk.service import BrokerSignIn, KeyPrompts

PIN = "4711"
TOKENSTILE = str(Path(sys.executable).with_name("tokenstile"))


def run(*args: str, env: dict[str, str]) -> str:
    done = subprocess.run([TOKENSTILE, *args], env=env, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise RuntimeError(f"tokenstile {' '.join(args)}: {done.stderr.strip()}")
    return done.stdout


def claims_of(token: str) -> dict[str, Any]:
    payload = token.split(".")[1]
    decoded: dict[str, Any] = json.loads(
        base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4))
    )
    return decoded


def prompts() -> KeyPrompts:
    return KeyPrompts(on_touch=lambda: None, on_pin=lambda _prompt: PIN, cancel=threading.Event())


# The running app: told of each sign-in by the SDK's watch, it reads the token through
# the SDK and prints "<CLOCK_MONOTONIC seconds> <token>" (the bench reads the same clock).
# One Broker for the app's life, as an app that keeps the SDK loaded has (its memo learns
# of another process's sign-in from the runtime directory's stamp).
APP = """
import sys, time
from tokenstile.broker import Broker
broker = Broker()
def told(state):
    if state.state == "signed_in":
        token = broker.access_token()
        print(f"{time.monotonic():.6f} {token}", flush=True)
watch = broker.watch(told)
print("ready", flush=True)
sys.stdin.read()
watch.stop()
"""


def start_app(env: dict[str, str]) -> subprocess.Popen[str]:
    app = subprocess.Popen(
        [sys.executable, "-c", APP],
        env=env,
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    assert app.stdout is not None
    if app.stdout.readline().strip() != "ready":
        raise RuntimeError("the watching app did not start")
    return app


def app_served(app: subprocess.Popen[str], sid: str, acr: str) -> float:
    """When the running app read the session ``sid``'s token (CLOCK_MONOTONIC)."""
    assert app.stdout is not None
    while True:
        line = app.stdout.readline()
        if not line:
            raise RuntimeError("the watching app ended")
        at, token = line.split()
        claims = claims_of(token)
        if (claims["sid"], claims["acr"]) == (sid, acr):
            return float(at)


def one_round(
    kiosk: BrokerSignIn, key_path: Path, env: dict[str, str], acr: str, app: subprocess.Popen[str]
) -> tuple[float, float, float, float]:
    """Seconds: device event to the service's tokens, then to the session saved in the
    keychain, then to the token printed by another process; and device event to the
    running app holding the token."""
    t0 = time.monotonic()
    key = open_security_key(f"virtual:{key_path}")
    try:
        grant = kiosk.login_fido2(key, prompts())
    finally:
        key.close()
    granted = time.monotonic()
    saved = kiosk.save(grant)
    t1 = time.monotonic()
    served = app_served(app, saved.sid, acr)
    t_app = time.monotonic()
    token = run("token", env=env).strip()
    t2 = time.monotonic()
    claims = claims_of(token)
    if (claims["sid"], claims["acr"]) != (saved.sid, acr):
        raise RuntimeError(f"tokenstile token printed another session's token: {claims}")
    # the new process starts after the app was heard from: its time is its own
    return granted - t0, t1 - granted, t2 - t_app, served - t0


def p95(samples: list[float]) -> float:
    return statistics.quantiles(samples, n=20, method="inclusive")[-1]


def summary(name: str, rounds: list[tuple[float, float, float, float]]) -> str:
    columns = [[r[i] * 1000 for r in rounds] for i in range(3)]
    columns.append([sum(r[:3]) * 1000 for r in rounds])
    columns.append([r[3] * 1000 for r in rounds])
    cells = [f"{statistics.median(c):.0f} / {p95(c):.0f} ms" for c in columns]
    return f"| {name} | " + " | ".join(cells) + f" | {len(rounds)} |"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--rounds", type=int, default=30)
    parser.add_argument("--warmup", type=int, default=3)
    args = parser.parse_args()
    if missing_tools("dbus-daemon", "gnome-keyring-daemon", "taskset"):
        return 1
    with tempfile.TemporaryDirectory(prefix="bench-tap-") as tmp:
        work = Path(tmp)
        home = work / "home"
        home.mkdir()
        with secret_service(home) as keychain_env:
            env = {**keychain_env, **bench_env(work, "FULL")}
            # The software key signs in as one (acr phr); a service enrolls it only so.
            env["TOKENSTILE_WEBAUTHN_ALLOW_SOFTWARE_KEYS"] = "true"
            env.pop("PYTHON_KEYRING_BACKEND", None)
            os.environ.clear()
            os.environ.update(env)
            db = f"sqlite:///{work / 'tap.db'}"
            key = work / "alice.key"
            run("manage", "--db", db, "init", env=env)
            run("manage", "--db", db, "user", "add", "alice", env=env)
            run("virtual-key", "create", str(key), "--pin", PIN, env=env)
            run(
                "manage",
                "--db",
                db,
                "fido2",
                "enroll",
                "alice",
                "--device",
                f"virtual:{key}",
                "--pin",
                PIN,
                env=env,
            )
            run("manage", "--db", db, "kiosk-group", "set", "ward-3", "--shift-hours", "8", env=env)
            run(
                "manage", "--db", db, "kiosk-group", "assign", "tokenstile-kiosk", "ward-3", env=env
            )
            port = free_port()
            server = start_server(db, port, "0-1", env, work / "server.log")
            try:
                url = f"http://127.0.0.1:{port}"
                results = {}
                app = start_app(env)
                for name, tap, acr in (
                    ("tap (touch, no PIN)", True, "tap"),
                    ("full sign-in (PIN typed at once)", False, "phr"),
                ):
                    kiosk = BrokerSignIn(url, broker=Broker(), tap_and_go=tap)
                    try:
                        if tap:  # the full sign-in that opens the shift
                            kiosk.tap_and_go = False
                            kiosk.save(
                                kiosk.login_fido2(open_security_key(f"virtual:{key}"), prompts())
                            )
                            kiosk.tap_and_go = True
                        rounds = [
                            one_round(kiosk, key, env, acr, app)
                            for _ in range(args.warmup + args.rounds)
                        ]
                    finally:
                        kiosk.close()
                    results[name] = rounds[args.warmup :]
                app.communicate(timeout=10)
            finally:
                stop_server(server)
    print(f"Machine: {machine()}; {today()}")
    print(
        "| path | device event to tokens (key + service) | then saved in the keychain | "
        "then `tokenstile token` (new process) | device event to token printed | "
        "device event to a running app holding the token | rounds |"
    )
    print("|---|---|---|---|---|---|---|")
    for name, rounds in results.items():
        print(summary(name, rounds))
    print("(each cell: median / p95)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
