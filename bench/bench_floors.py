"""Floors other figures in bench/RESULTS.md are read against, each measured here rather
than quoted: what one durable SQLite commit costs on this disk, and what importing the
keychain libraries costs a new process.

1. **Bare WAL commit.** A table of one integer column in a new SQLite file in WAL mode,
   ``synchronous=FULL`` (as the token service runs it) and ``NORMAL``; each sample is
   one ``INSERT`` and its ``COMMIT``, timed alone, after 50 warm-up commits.
2. **Import cost.** A new ``python -X importtime -c "import NAME"`` per sample, the
   cumulative microseconds of NAME's own line: ``keyring`` (what ``tokenstile token``
   avoids on Linux), ``secretstorage`` (what it reads the Secret Service with) and
   ``jaraco.context``, against ``json`` (stdlib, for scale).

    .venv/bin/python bench/bench_floors.py [--commits 2000] [--imports 15] [--dir DIR]

``--dir``: where the SQLite file goes (default: a temporary directory under the current
one, so the disk under test is the project's, not a tmpfs /tmp).
"""

from __future__ import annotations

import argparse
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from harness import machine, today

MODULES = ("json", "keyring", "secretstorage", "jaraco.context")


def commit_costs(directory: Path, synchronous: str, commits: int) -> list[float]:
    """Microseconds of each INSERT + COMMIT in WAL mode at ``synchronous``."""
    path = directory / f"floor-{synchronous.lower()}.db"
    path.unlink(missing_ok=True)
    conn = sqlite3.connect(path, isolation_level=None)
    try:
        conn.execute("PRAGMA journal_mode=WAL")
        conn.execute(f"PRAGMA synchronous={synchronous}")
        conn.execute("CREATE TABLE t (n INTEGER)")
        samples: list[float] = []
        for n in range(commits + 50):
            start = time.perf_counter()
            conn.execute("BEGIN")
            conn.execute("INSERT INTO t VALUES (?)", (n,))
            conn.execute("COMMIT")
            if n >= 50:
                samples.append((time.perf_counter() - start) * 1e6)
        return samples
    finally:
        conn.close()
        for suffix in ("", "-wal", "-shm"):
            Path(f"{path}{suffix}").unlink(missing_ok=True)


def import_cost(module: str) -> float:
    """Cumulative microseconds of ``import module`` in a new interpreter."""
    done = subprocess.run(
        [sys.executable, "-X", "importtime", "-c", f"import {module}"],
        capture_output=True,
        text=True,
        check=True,
    )
    for line in done.stderr.splitlines():
        parts = [p.strip() for p in line.removeprefix("import time:").split("|")]
        if len(parts) == 3 and parts[2] == module:
            return float(parts[1])
    raise RuntimeError(f"python -X importtime printed no line for {module}")


def percentile(samples: list[float], q: float) -> float:
    ordered = sorted(samples)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--commits", type=int, default=2000)
    parser.add_argument("--imports", type=int, default=15)
    parser.add_argument("--dir", type=Path, default=None)
    args = parser.parse_args()
    print(f"machine: {machine()}; {today()}")
    with tempfile.TemporaryDirectory(dir=args.dir or Path.cwd()) as tmp:
        for synchronous in ("FULL", "NORMAL"):
            samples = commit_costs(Path(tmp), synchronous, args.commits)
            print(
                f"bare WAL commit, synchronous={synchronous}, {len(samples)} commits: "
                f"p10 {percentile(samples, 0.10):.0f} us, median {statistics.median(samples):.0f}"
                f" us, p90 {percentile(samples, 0.90):.0f} us, p99 {percentile(samples, 0.99):.0f}"
                " us"
            )
    for module in MODULES:
        costs = [import_cost(module) for _ in range(args.imports)]
        print(
            f"import {module}: median {statistics.median(costs) / 1000:.1f} ms "
            f"(min {min(costs) / 1000:.1f}, max {max(costs) / 1000:.1f}; {len(costs)} processes)"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
