"""Does the keychain survive many apps reading while one replaces the session?

Starts a D-Bus session bus and gnome-keyring-daemon of its own (as the tests do), puts
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
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

_BUS = """<!DOCTYPE busconfig PUBLIC "-//freedesktop//DTD D-BUS Bus Configuration 1.0//EN"
 "http://www.freedesktop.org/standards/dbus/1.0/busconfig.dtd">
<busconfig><type>session</type><listen>unix:path={path}</listen>
<policy context="default">
<allow send_destination="*" eavesdrop="true"/><allow eavesdrop="true"/><allow own="*"/>
</policy>
</busconfig>"""

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
    with tempfile.TemporaryDirectory() as scratch:
        home = Path(scratch)
        run = home / "run"
        run.mkdir(mode=0o700)
        (home / "bus.conf").write_text(_BUS.format(path=run / "bus"))
        bus = subprocess.Popen(
            ["dbus-daemon", f"--config-file={home / 'bus.conf'}", "--nofork", "--print-address=1"],
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
        )
        assert bus.stdout is not None
        env = {
            **os.environ,
            "DBUS_SESSION_BUS_ADDRESS": bus.stdout.readline().decode().strip(),
            "HOME": str(home),
            "XDG_DATA_HOME": str(home / "data"),
            "XDG_RUNTIME_DIR": str(run),
            "PYTHONPATH": str(ROOT / "app"),
        }
        env.pop("PYTHON_KEYRING_BACKEND", None)
        daemon = subprocess.Popen(
            ["gnome-keyring-daemon", "--foreground", "--unlock", "--components=secrets"],
            stdin=subprocess.PIPE,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            env=env,
        )
        assert daemon.stdin is not None
        daemon.stdin.write(b"bench")
        daemon.stdin.close()
        try:
            seed = "from tokenstile.broker.store import KeyringStore; KeyringStore().save('x')"
            for _ in range(100):
                if (
                    subprocess.run(
                        [sys.executable, "-c", seed], env=env, check=False, capture_output=True
                    ).returncode
                    == 0
                ):
                    break
                time.sleep(0.1)
            else:
                raise SystemExit("the keyring daemon did not come up")
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
                if died is None and daemon.poll() is not None:
                    died = time.monotonic() - started
                time.sleep(0.05)
            if died is None and daemon.poll() is not None:
                died = time.monotonic() - started
            counts = [json.loads(w.communicate()[0]) for w in workers]
            return {
                "mode": mode,
                "daemon": "alive" if died is None else f"died after {died:.1f} s",
                "reads": sum(c["reads"] for c in counts),
                "writes": sum(c["writes"] for c in counts),
                "failed": sum(c["failed"] for c in counts),
            }
        finally:
            for process in (daemon, bus):
                if process.poll() is None:
                    process.terminate()
                    process.wait(10)


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
