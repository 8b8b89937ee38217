"""Where one authorization-code flow's CPU time goes, in-process (no HTTP).

Companion of ``bench_code_flow.py``: the same three calls the two requests make —
``browser_session`` (the cookie's session, one read transaction), ``issue_code`` (one
write transaction) and ``exchange`` (one write transaction, then two ES256 signatures)
— run one after another on one thread, each store call and each transaction's begin
and commit timed with ``time.thread_time_ns`` (this thread's CPU, so a wait for the disk
is not counted but the kernel's work for the fsync is). Run::

    taskset -c 0 .venv/bin/python bench/code_flow_breakdown.py            # 500 flows, FULL
    taskset -c 0 .venv/bin/python bench/code_flow_breakdown.py --sync NORMAL

The wrappers cost a few microseconds a call; the total is measured without them too.
"""

from __future__ import annotations

import argparse
import contextlib
import secrets
import shutil
import sys
import tempfile
import time
from collections import defaultdict
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from harness import bench_env, machine, today

CALLS = {
    "SqlCodeTx": (
        "browser_session",
        "add_authorization_code",
        "find_authorization_code",
        "claim_authorization_code",
        "set_code_issued_sid",
    ),
    "SqlTx": ("add_session", "get_session", "get_user", "touch_session", "audit"),
}
REDIRECT = "https://app.example/callback"


class Meter:
    """CPU nanoseconds and calls per label."""

    def __init__(self) -> None:
        self.ns: defaultdict[str, int] = defaultdict(int)
        self.calls: defaultdict[str, int] = defaultdict(int)

    def wrap(self, owner: Any, name: str, label: str) -> None:
        original: Callable[..., Any] = getattr(owner, name)

        def timed(*a: Any, **k: Any) -> Any:
            began = time.thread_time_ns()
            try:
                return original(*a, **k)
            finally:
                self.ns[label] += time.thread_time_ns() - began
                self.calls[label] += 1

        setattr(owner, name, timed)

    def clear(self) -> None:
        self.ns.clear()
        self.calls.clear()


def time_transactions(meter: Meter) -> None:
    """Charge each transaction's begin (BEGIN [IMMEDIATE], writer lock) and end (commit)."""
    import tokenstile.store.authorization_repository as repo

    original = getattr(repo, "transaction")  # noqa: B009 - not exported, on purpose

    @contextlib.contextmanager
    def timed(engine: Any, *, write: bool) -> Iterator[Any]:
        kind = "write" if write else "read"
        began = time.thread_time_ns()
        with original(engine, write=write) as conn:
            meter.ns[f"{kind} transaction: begin"] += time.thread_time_ns() - began
            meter.calls[f"{kind} transaction: begin"] += 1
            yield conn
            began = time.thread_time_ns()
        meter.ns[f"{kind} transaction: commit"] += time.thread_time_ns() - began
        meter.calls[f"{kind} transaction: commit"] += 1

    setattr(repo, "transaction", timed)  # noqa: B010


def flows(count: int, sync: str, meter: Meter | None) -> float:
    """CPU microseconds of one flow (median over ``count`` after 100 of warm-up)."""
    import jwt

    import tokenstile.store.authorization_repository as repo
    from tokenstile.composition import Services
    from tokenstile.config import load_settings
    from tokenstile.deployment import Deployment
    from tokenstile.store import token_tx
    from tokenstile.tokens.authorization_code import AuthorizationCodeFlow, s256
    from tokenstile.tokens.model import AuditEvent

    workdir = Path(tempfile.mkdtemp(prefix="tokenstile-bench-"))
    try:
        bench_env(workdir, sync)
        dep = Deployment(load_settings(db=f"sqlite:///{workdir / 'b.db'}", issuer="http://bench"))
        dep.init()
        if meter is not None:
            for name in CALLS["SqlCodeTx"]:
                meter.wrap(repo.SqlCodeTx, name, name)
            for name in CALLS["SqlTx"]:
                meter.wrap(token_tx.SqlTx, name, name)
            meter.wrap(AuthorizationCodeFlow, "_respond", "sign both tokens (_respond)")
            meter.wrap(jwt, "encode", "  of which jwt.encode")
            time_transactions(meter)
        client, _ = dep.add_client(
            "Bench", kind="web", audiences=[], scopes=[], redirect_uris=[REDIRECT]
        )
        user = dep.store.add_user(
            "bench",
            display_name="Bench",
            is_admin=False,
            at=dep.clock.now(),
            audit=AuditEvent("user_added", "info"),
        )
        flow = Services(dep).authorization()
        cookie, _ = flow.sign_in(
            user=user, client=client, factor="otp", amr=["otp"], acr="otp", origin=None
        )
        samples: list[int] = []
        for i in range(count + 100):
            if i == 100 and meter is not None:
                meter.clear()
            verifier = secrets.token_urlsafe(48)
            began = time.thread_time_ns()
            provider = flow.browser_session(cookie)
            assert provider is not None
            code = flow.issue_code(
                provider,
                client=client,
                redirect_uri=REDIRECT,
                code_challenge=s256(verifier),
                scope=["openid"],
                nonce="n",
            )
            flow.exchange(code=code, client=client, redirect_uri=REDIRECT, code_verifier=verifier)
            samples.append(time.thread_time_ns() - began)
        dep.close()
        del samples[:100]
        return sorted(samples)[len(samples) // 2] / 1000
    finally:
        shutil.rmtree(workdir, ignore_errors=True)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--flows", type=int, default=500)
    parser.add_argument("--sync", choices=["FULL", "NORMAL"], default="FULL")
    parser.add_argument("--plain", action="store_true", help="the total only, no wrappers")
    args = parser.parse_args()
    meter = None if args.plain else Meter()
    median = flows(args.flows, args.sync, meter)
    print(f"machine: {machine()}; {today()}; SQLite synchronous={args.sync}")
    print(f"one flow in-process: median {median:,.0f} us CPU over {args.flows} flows")
    if meter is not None:
        total = sum(v for k, v in meter.ns.items() if not k.startswith("  "))
        for label, ns in sorted(meter.ns.items(), key=lambda kv: -kv[1]):
            per = meter.calls[label] / args.flows
            print(
                f"  {label:36} {ns / args.flows / 1000:6,.0f} us a flow "
                f"({per:.0f} call{'s' if per != 1 else ''}), {ns / total:5.1%} of the timed"
            )
    return 0


if __name__ == "__main__":
    sys.exit(main())
