"""Does the keychain survive many apps reading while one replaces the session?

Starts a D-Bus session bus and gnome-keyring-daemon of its own (bench_broker's), puts
the broker's item in, then runs PROCESSES processes for SECONDS each: every one reads
the session through ``KeyringStore().load()`` in a loop and replaces it with
``save()`` on every fifth read (what apps and a refresh do). Two ways, alternated:

* ``shared``: Tokenstile's store as shipped (one D-Bus connection per process);
* ``per-call``: the same loop on ``keyring``'s stock Secret Service backend, which
  opens and closes a connection for every call (what the store did before).

Prints, per round, whether the daemon was still running at the end (and when it
died), and how many reads and writes failed::

    .venv/bin/python bench/keychain_churn.py --rounds 3 --seconds 60
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from bench_broker import secret_service

ROOT = Path(__file__).resolve().parents[1]

_WORKER = """
import json, sys, time
from tokenstile.broker.store import KeyringStore
mode, seconds = sys.argv[1], float(sys.argv[2])
if mode == "per-call":
    from keyring.backends.SecretService import Keyring
    store = KeyringStore(Keyring())
else:
    store = KeyringStore()
reads = writes = failed = 0
end = time.monotonic() + seconds
while time.monotonic() < end:
    try:
        store.load(); reads += 1
        if reads % 5 == 0:
            store.save("x" * 2000); writes += 1
    except Exception:
        failed += 1
        time.sleep(0.05)
print(json.dumps({"reads": reads, "writes": writes, "failed": failed}))
"""


def one_round(mode: str, processes: int, seconds: float) -> dict[str, object]:
    with tempfile.TemporaryDirectory() as scratch, secret_service(Path(scratch)) as keychain:
        env = {**keychain, "PYTHONPATH": str(ROOT / "app")}
        env.pop("PYTHON_KEYRING_BACKEND", None)
        seed = "from tokenstile.broker.store import KeyringStore; KeyringStore().save('x')"
        subprocess.run([sys.executable, "-c", seed], env=env, check=True, capture_output=True)
        daemon = _keyring_daemon(env)
        workers = [
            subprocess.Popen(
                [sys.executable, "-c", _WORKER, mode, str(seconds)],
                env=env,
                stdout=subprocess.PIPE,
                text=True,
            )
            for _ in range(processes)
        ]
        started, died = time.monotonic(), None
        while any(w.poll() is None for w in workers):
            if died is None and not _alive(daemon):
                died = time.monotonic() - started
            time.sleep(0.05)
        if died is None and not _alive(daemon):
            died = time.monotonic() - started
        counts = [json.loads(w.communicate()[0]) for w in workers]
        return {
            "mode": mode,
            "daemon": "alive" if died is None else f"died after {died:.1f} s",
            "reads": sum(c["reads"] for c in counts),
            "writes": sum(c["writes"] for c in counts),
            "failed": sum(c["failed"] for c in counts),
        }


def _keyring_daemon(env: dict[str, str]) -> int:
    """The PID of the Secret Service's owner on this bus (the keyring daemon)."""
    ask = (
        "from jeepney import DBusAddress, new_method_call\n"
        "from jeepney.io.blocking import open_dbus_connection\n"
        "bus = DBusAddress('/org/freedesktop/DBus', bus_name='org.freedesktop.DBus',"
        " interface='org.freedesktop.DBus')\n"
        "with open_dbus_connection() as c:\n"
        "    print(c.send_and_get_reply(new_method_call(bus, 'GetConnectionUnixProcessID',"
        " 's', ('org.freedesktop.secrets',))).body[0])\n"
    )
    answer = subprocess.run(
        [sys.executable, "-c", ask], env=env, check=True, capture_output=True, text=True
    )
    return int(answer.stdout)


def _alive(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat", "rb") as stat:
            return stat.read().rpartition(b")")[2].split()[0] != b"Z"  # not a zombie
    except FileNotFoundError:
        return False


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--seconds", type=float, default=60.0)
    parser.add_argument("--processes", type=int, default=8)
    args = parser.parse_args()
    print("| round | store | daemon | reads | writes | failed calls |")
    print("|---|---|---|---|---|---|")
    for n in range(1, args.rounds + 1):
        for mode in ("per-call", "shared"):
            r = one_round(mode, args.processes, args.seconds)
            print(
                f"| {n} | {r['mode']} | {r['daemon']} | {r['reads']:,} | {r['writes']:,} | "
                f"{r['failed']:,} |",
                flush=True,
            )


if __name__ == "__main__":
    main()
