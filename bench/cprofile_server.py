"""Run a module (``tokenstile.cli server ...``) with cProfile in every thread, for when
py-spy is not installed (it is not in the project's virtualenv) or may not attach.

    python bench/cprofile_server.py OUT.prof -m tokenstile.cli server ...
    python bench/cprofile_server.py --shares OUT.prof     # CPU shares by library

cProfile sees one thread only, and the token service's work runs in the thread pool
(and the group-commit writer), so each thread started after this point gets its own
profiler (``Thread._bootstrap_inner`` wrapped) and the main thread (the event loop)
one too; when the module returns (SIGTERM stops uvicorn), the threads still running
get 15 s to end (SIGTERM, which uvicorn raises again after its shutdown, ends the module
here) and all profiles are merged into OUT.prof (``pstats``). cProfile
makes Python calls several times dearer, so read shares, not absolute times; it counts
each thread's CPU time (``time.thread_time_ns``), not wall time.
"""

from __future__ import annotations

import cProfile
import pstats
import runpy
import signal
import sys
import threading
import time
from collections import defaultdict
from typing import Any

# Where code lives, by path or name, for --shares; the first that matches wins.
GROUPS = (
    ("sqlalchemy", "SQLAlchemy (statements built, cache keys, execution, rows)"),
    ("sqlite3", "sqlite3 driver (SQLite: execute, commit and its fsync)"),
    ("/jwt/", "PyJWT + cryptography (ES256 signing)"),
    ("cryptography", "PyJWT + cryptography (ES256 signing)"),
    ("uvicorn", "uvicorn/Starlette/FastAPI/asyncio/anyio, query and form parsing"),
    ("starlette", "uvicorn/Starlette/FastAPI/asyncio/anyio, query and form parsing"),
    ("fastapi", "uvicorn/Starlette/FastAPI/asyncio/anyio, query and form parsing"),
    ("httptools", "uvicorn/Starlette/FastAPI/asyncio/anyio, query and form parsing"),
    ("asyncio", "uvicorn/Starlette/FastAPI/asyncio/anyio, query and form parsing"),
    ("anyio", "uvicorn/Starlette/FastAPI/asyncio/anyio, query and form parsing"),
    ("urllib", "uvicorn/Starlette/FastAPI/asyncio/anyio, query and form parsing"),
    ("jinja2", "jinja2"),
    ("tokenstile", "tokenstile's own Python"),
)
STARTUP = ("importlib", "marshal.loads", "builtins.compile", "__build_class__", "builtins.exec")

_profiles: list[cProfile.Profile] = []
_lock = threading.Lock()
_bootstrap_inner = threading.Thread._bootstrap_inner  # type: ignore[attr-defined]


def _cpu_profile() -> cProfile.Profile:
    """A profiler that counts this thread's CPU time: wall time would count every
    thread's wait for the store's writer lock once per waiting thread."""
    return cProfile.Profile(time.thread_time_ns, 1e-9)


def _profiled_bootstrap(self: threading.Thread) -> Any:
    profile = _cpu_profile()
    with _lock:
        _profiles.append(profile)
    profile.enable()
    try:
        return _bootstrap_inner(self)
    finally:
        profile.disable()


def _group(func: tuple[str, int, str]) -> str | None:
    where = f"{func[0]} {func[2]}"
    if any(mark in where for mark in STARTUP):
        return "start-up"
    return next((name for mark, name in GROUPS if mark in where), None)


def shares(path: str) -> None:
    """Each group's share of the profiled CPU; time in builtins and the standard library
    is charged to their callers (up to four levels up), so SQLAlchemy's ``isinstance``
    counts as SQLAlchemy. Start-up imports are left out."""
    stats: dict[Any, Any] = pstats.Stats(path).stats  # type: ignore[attr-defined]
    totals: defaultdict[str, float] = defaultdict(float)

    def charge(func: Any, seconds: float, depth: int) -> None:
        group = _group(func)
        callers = stats[func][4]
        weight = sum(v[3] for v in callers.values())
        if group is not None or depth == 4 or not weight:
            totals[group or "standard library, builtins (caller not placed)"] += seconds
            return
        for caller, v in callers.items():
            charge(caller, seconds * v[3] / weight, depth + 1)

    for func, entry in stats.items():
        charge(func, entry[2], 0)
    startup = totals.pop("start-up", 0.0)
    total = sum(totals.values())
    print(f"profiled CPU: {total:.2f} s (start-up imports, {startup:.2f} s, left out)")
    for name, seconds in sorted(totals.items(), key=lambda kv: -kv[1]):
        print(f"  {seconds / total:6.1%}  {name}")


def _stop(signum: int, frame: Any) -> None:
    raise SystemExit(0)


def main() -> int:
    if len(sys.argv) == 3 and sys.argv[1] == "--shares":
        shares(sys.argv[2])
        return 0
    if len(sys.argv) < 4 or sys.argv[2] != "-m":
        print(__doc__, file=sys.stderr)
        return 1
    out, module = sys.argv[1], sys.argv[3]
    sys.argv = [module, *sys.argv[4:]]
    threading.Thread._bootstrap_inner = _profiled_bootstrap  # type: ignore[attr-defined]
    # uvicorn raises the SIGTERM it caught again once it has shut down: end here, then.
    signal.signal(signal.SIGTERM, _stop)
    main_profile = _cpu_profile()
    code = 0
    main_profile.enable()
    try:
        runpy.run_module(module, run_name="__main__", alter_sys=True)
    except SystemExit as exc:
        code = exc.code if isinstance(exc.code, int) else 0
    finally:
        main_profile.disable()
        for thread in threading.enumerate():
            if thread is not threading.current_thread() and not thread.daemon:
                thread.join(15)
        with _lock:
            stats = pstats.Stats(main_profile)
            for profile in _profiles:
                profile.create_stats()
                stats.add(profile)
        stats.dump_stats(out)
    return code


if __name__ == "__main__":
    sys.exit(main())
