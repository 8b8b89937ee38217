"""Tap-and-go with a card: from the card going into the reader to apps holding the token.

Issue 17's goal is stated from the card insert. Against a real ``tokenstile server``
process (SQLite FULL), real pcscd with the vpcd reader and the virtual PIV card, and the
real keychain (a private D-Bus bus and gnome-keyring, as ``bench_tap.py``):

1. alice's card is enrolled (9A and its PIN-free card-authentication key 9E, through
   ``tokenstile manage piv enroll`` at the reader), the kiosk put in a group with an
   8-hour shift, and one full sign-in (PIN) opens her shift;
2. each round, the card out of the reader first: **t0** the card goes in (vpcd); the
   kiosk's own ``CardMonitor`` (PC/SC ``SCardGetStatusChange``, no polling) reports the
   insert; the kiosk's ``BrokerSignIn.login_piv`` tries the tap (the 9E key signs the
   service's challenge, no PIN), the service accepts it, the session is saved in the
   keychain (**t1**); an app already running (``Broker().watch``, woken by inotify)
   holds the new token (**ta**); a new ``tokenstile token`` process prints it (**t2**);
   each checked to be the tap's session (``sid``, ``acr`` ``tap``);
3. the same rounds with ``kiosk_tap_and_go`` off: the PIN given the moment it is asked.

    .venv/bin/python bench/bench_card_tap.py [--rounds 30]

Needs pcscd with vsmartcard-vpcd (``make test`` installs both); starts ``pcscd -f -a``
itself when none answers, and stops that one by PID.
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from bench_broker import secret_service
from bench_tap import app_served, claims_of, p95, run, start_app
from harness import bench_env, free_port, machine, missing_tools, start_server, stop_server, today
from tokenstile.broker import Broker
from tokenstile.devices.monitor import CardEvent, CardEventKind, CardMonitor
from tokenstile.devices.pcsc import list_readers, open_piv_card, readers_with_cards
from tokenstile.kiosk.service import BrokerSignIn
from tokenstile.virtual.piv_provision import create_piv_card
from tokenstile.virtual.vpcd import VpcdCard

PIN = "123456"
READER = "Virtual PCD 00 00"


@contextmanager
def pcscd() -> Iterator[None]:
    """The machine's pcscd listing the vpcd reader, or one started here."""

    def listed() -> bool:
        try:
            return READER in list_readers()
        except Exception:  # noqa: BLE001 - any failure means "not yet"
            return False

    if listed():
        yield
        return
    process = subprocess.Popen(
        [shutil.which("pcscd") or "/usr/sbin/pcscd", "-f", "-a"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        deadline = time.monotonic() + 15
        while not listed():
            if time.monotonic() > deadline or process.poll() is not None:
                raise RuntimeError(f"pcscd does not list {READER}: is vsmartcard-vpcd installed?")
            time.sleep(0.05)
        yield
    finally:
        process.terminate()
        process.wait(10)


class Inserts:
    """The kiosk's card monitor: an event per card that went into the reader."""

    def __init__(self) -> None:
        self.seen = threading.Event()
        self.monitor = CardMonitor(self._event)

    def _event(self, event: CardEvent) -> None:
        if event.kind is CardEventKind.CARD_INSERTED and event.reader == READER:
            self.seen.set()


def one_round(
    kiosk: BrokerSignIn,
    card: VpcdCard,
    inserts: Inserts,
    env: dict[str, str],
    app: subprocess.Popen[str],
    *,
    acr: str,
) -> tuple[float, float, float, float]:
    """Seconds from the insert: monitor event, session in the keychain, a running app
    holding the token, a new process printing it."""
    inserts.seen.clear()
    t0 = time.monotonic()
    card.insert()
    if not inserts.seen.wait(10):
        raise RuntimeError("the card monitor never saw the card")
    detected = time.monotonic()
    piv = open_piv_card(READER)
    try:
        grant = kiosk.login_piv(piv, lambda _r: PIN, cancel=threading.Event())
    finally:
        piv.close()
    saved = kiosk.save(grant)
    t1 = time.monotonic()
    served = app_served(app, saved.sid, acr)
    token = run("token", env=env).strip()
    t2 = time.monotonic()
    claims = claims_of(token)
    if (claims["sid"], claims["acr"]) != (saved.sid, acr):
        raise RuntimeError(f"tokenstile token printed another session's token: {claims}")
    card.remove()
    gone = time.monotonic() + 10
    while READER in readers_with_cards():  # pcscd notices the card left (outside the timing)
        if time.monotonic() > gone:
            raise RuntimeError("pcscd still sees the card it was pulled from")
        time.sleep(0.02)
    return detected - t0, t1 - t0, served - t0, t2 - t0


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--rounds", type=int, default=30)
    parser.add_argument("--warmup", type=int, default=3)
    args = parser.parse_args()
    if missing_tools("dbus-daemon", "gnome-keyring-daemon", "taskset"):
        return 1
    results: dict[str, list[tuple[float, float, float, float]]] = {}
    with tempfile.TemporaryDirectory(prefix="bench-card-tap-") as tmp, pcscd():
        work = Path(tmp)
        home = work / "home"
        home.mkdir()
        with secret_service(home) as keychain_env:
            env = {**keychain_env, **bench_env(work, "FULL")}
            env.pop("PYTHON_KEYRING_BACKEND", None)
            os.environ.clear()
            os.environ.update(env)
            db = f"sqlite:///{work / 'tap.db'}"
            run("manage", "--db", db, "init", env=env)
            run("manage", "--db", db, "user", "add", "alice", env=env)
            card = VpcdCard(create_piv_card(holder="Alice Example"), reader=0)
            card.insert()
            time.sleep(0.5)  # pcscd powers the card up
            run("manage", "--db", db, "piv", "enroll", "alice", "--reader", READER, env=env)
            card.remove()
            time.sleep(0.5)
            run("manage", "--db", db, "kiosk-group", "set", "ward-3", "--shift-hours", "8", env=env)
            run(
                "manage", "--db", db, "kiosk-group", "assign", "tokenstile-kiosk", "ward-3", env=env
            )
            port = free_port()
            server = start_server(db, port, "0-1", env, work / "server.log")
            inserts = Inserts()
            inserts.monitor.start()
            app = start_app(env)
            try:
                url = f"http://127.0.0.1:{port}"
                for name, tap, acr in (
                    ("tap (card in, no PIN)", True, "tap"),
                    ("full sign-in (PIN typed at once)", False, "phrh"),
                ):
                    kiosk = BrokerSignIn(url, broker=Broker(), tap_and_go=False)
                    try:
                        if tap:  # the full sign-in that opens the shift
                            one_round(kiosk, card, inserts, env, app, acr="phrh")
                            kiosk.tap_and_go = True
                        rounds = [
                            one_round(kiosk, card, inserts, env, app, acr=acr)
                            for _ in range(args.warmup + args.rounds)
                        ]
                    finally:
                        kiosk.close()
                    results[name] = rounds[args.warmup :]
                app.communicate(timeout=10)
            finally:
                inserts.monitor.stop()
                card.close()
                stop_server(server)
    print(f"Machine: {machine()}; {today()}")
    print(
        "| path | card in to the monitor's event | card in to the session in the keychain | "
        "card in to a running app holding the token | card in to a new `tokenstile token` "
        "printing it | rounds |"
    )
    print("|---|---|---|---|---|---|")
    for name, rounds in results.items():
        cells = []
        for i in range(4):
            column = [r[i] * 1000 for r in rounds]
            cells.append(f"{statistics.median(column):.0f} / {p95(column):.0f} ms")
        print(f"| {name} | " + " | ".join(cells) + f" | {len(rounds)} |")
    print("(each cell: median / p95)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
