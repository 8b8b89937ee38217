"""Attack 8: concurrent wrong codes race past the OTP lockout.

The lockout lets ``otp_delay_after`` codes be checked, then makes the next attempt wait.
If the failure count is read, the code checked, and only then the count raised, guesses
sent at the same moment to two replicas all read "no failures yet" and are all checked
(on PostgreSQL at READ COMMITTED nothing stops them). The attacker fires ``GUESSES``
wrong codes for alice at once, split across two real ``tokenstile server`` processes on
one database, then reads from the audit log and the failure counters how many codes were
actually checked: never more than the delay threshold. The per-address rate limit is set
far out of reach, so what stops the guesses is the lockout itself. Afterwards alice's
own code still works once the delay has passed.
"""

from __future__ import annotations

import secrets
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from threading import Barrier
from typing import Any

import httpx
import pytest

from tests.conftest import ServerProcess, add_user
from tokenstile.config import load_settings
from tokenstile.deployment import Deployment
from tokenstile.factors.otp import totp_code
from tokenstile.factors.otp_service import OtpService
from tokenstile.store.otp_repository import SqlOtpStore

SEED = bytes(range(20))
GUESSES = 40
DELAY_AFTER = 5
FIRST_DELAY = 5.0
# The lockout is what must stop the guesses: the per-address limits are out of reach.
SETTINGS: dict[str, Any] = {
    "otp_delay_after": DELAY_AFTER,
    "otp_lock_after": 20,
    "otp_first_delay": FIRST_DELAY,
    "rate_limit_login_failures": 100_000,
    "rate_limit_challenges": 100_000,
}
# Statuses the audit log gives an attempt whose code was checked against alice's fob;
# every other refusal (delayed, locked, ...) stopped before any code was looked at.
CHECKED = {"wrong_code", "replayed"}


def wrong_codes(count: int) -> list[str]:
    """Distinct codes that match none of alice's steps near now (any drift window)."""
    now = int(time.time()) // 30
    near = {totp_code(SEED, step * 30.0) for step in range(now - 5, now + 6)}
    codes: set[str] = set()
    while len(codes) < count:
        code = f"{secrets.randbelow(1_000_000):06d}"
        if code not in near:
            codes.add(code)
    return sorted(codes)


def fire_at_once(urls: list[str], codes: list[str]) -> tuple[list[int], float]:
    """Each code from its own connection, alternating replicas, released together; the
    status codes and the seconds from the release to the last answer."""
    clients = [httpx.Client(base_url=urls[i % len(urls)], timeout=30) for i in range(len(codes))]
    released: list[float] = []
    barrier = Barrier(len(codes), action=lambda: released.append(time.monotonic()))

    def guess(index: int) -> int:
        barrier.wait(30)
        body = {"username": "alice", "code": codes[index]}
        return clients[index].post("/login/totp", json=body).status_code

    try:
        for client in clients:  # connected beforehand, so the posts really race
            client.get("/healthz").raise_for_status()
        with ThreadPoolExecutor(len(codes)) as pool:
            statuses = list(pool.map(guess, range(len(codes))))
        return statuses, time.monotonic() - released[0]
    finally:
        for client in clients:
            client.close()


@pytest.mark.parametrize(
    "backend", ["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)]
)
def test_concurrent_wrong_codes_at_two_replicas_check_no_more_than_the_delay_allows(
    backend: str,
    request: pytest.FixtureRequest,
    server_factory: Callable[..., ServerProcess],
    tmp_path: Path,
) -> None:
    db: str = (
        f"sqlite:///{tmp_path / 'race.db'}"
        if backend == "sqlite"
        else request.getfixturevalue("postgres_url")
    )
    first = server_factory(db=db, **SETTINGS)
    setup = Deployment(load_settings(db=db))
    try:
        add_user(setup, "alice")
        repo = OtpService(SqlOtpStore(setup.store), box=setup.kek, clock=setup.clock)
        repo.enroll_app("alice", by="test", seed=SEED)
        second = server_factory(db=db, **SETTINGS)

        statuses, took = fire_at_once([first.base_url, second.base_url], wrong_codes(GUESSES))
        assert statuses == [400] * GUESSES
        # Within the burst no delay can have run out, so the threshold is the bound.
        assert took < FIRST_DELAY, f"the burst took {took:.1f} s; the bound would not hold"

        attempts = [
            e
            for e in setup.store.audit_entries()
            if e["event"] == "otp_login" and e["username"] == "alice"
        ]
        assert len(attempts) == GUESSES
        reasons = [e["detail"]["reason"] for e in attempts]
        checked = sum(reason in CHECKED for reason in reasons)
        fob = repo.credentials("alice")[0]
        counted = {"checked": checked, "fob failures": fob.failures, "reasons": sorted(reasons)}
        assert checked <= DELAY_AFTER, counted
        assert fob.failures <= DELAY_AFTER, counted
        assert fob.state == "active", counted
        assert checked == DELAY_AFTER, counted  # the threshold is reached, not undershot
        # The audit says outright whether the code was checked or refused unseen.
        assert [e["detail"].get("checked") for e in attempts] == [r in CHECKED for r in reasons]
        refused_unseen = {r for r in reasons if r not in CHECKED}
        assert refused_unseen <= {"delayed"}, counted

        # The owner is only delayed: once the wait is over, the right code signs in.
        retry_at = max(e["detail"].get("retry_at", 0.0) for e in attempts)
        time.sleep(max(0.0, retry_at - time.time()) + 0.5)
        with httpx.Client(base_url=second.base_url, timeout=10) as http:
            body = {"username": "alice", "code": totp_code(SEED, time.time())}
            answer = http.post("/login/totp", json=body)
        assert answer.status_code == 200, answer.text
        assert repo.credentials("alice")[0].failures == 0
    finally:
        setup.close()
