"""Shared rate limits: counted in the database, so a brute force spread over replicas and
usernames meets one limit per client address; and the counters themselves."""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor

import httpx
import pytest
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext

from tests.conftest import ServerProcess, add_user, make_deployment
from tests.integration.fleet.conftest import SHARED, Fleet, both, error_of, new_address
from tokenstile.config import load_settings
from tokenstile.deployment import Deployment
from tokenstile.factors.otp import totp_code
from tokenstile.factors.otp_service import OtpService
from tokenstile.server.app import create_app
from tokenstile.store import schema as t
from tokenstile.store.otp_repository import SqlOtpStore
from tokenstile.store.rate_limit import RateLimitStore

FAILURES = SHARED["rate_limit_login_failures"]
CHALLENGES = SHARED["rate_limit_challenges"]


def enroll(fleet: Fleet, *names: str) -> dict[str, bytes]:
    repo = OtpService(SqlOtpStore(fleet.dep.store), box=fleet.dep.kek, clock=fleet.dep.clock)
    seeds = {}
    for name in names:
        add_user(fleet.dep, name)
        seeds[name] = os.urandom(20)
        repo.enroll_app(name, by="test", seed=seeds[name])
    return seeds


def assert_slowed_down(response: httpx.Response) -> int:
    assert error_of(response) == (429, "slow_down"), response.text
    retry_after = int(response.headers["retry-after"])
    assert retry_after >= 1
    assert response.headers["cache-control"] == "no-store"
    return retry_after


@pytest.mark.postgres
@pytest.mark.server
def test_a_brute_force_spread_over_replicas_and_usernames_is_limited(fleet: Fleet) -> None:
    [(target, seed)] = enroll(fleet, "target").items()
    attacker = new_address()
    with both(fleet, attacker) as (one, two):
        # Wrong codes for many people (mostly unknown ones), alternating replicas: each
        # person's own lockout never triggers, but the address runs out of tries.
        for n in range(FAILURES):
            body = {"username": target if n % 5 == 0 else f"guess{n}", "code": "000000"}
            refused = (one, two)[n % 2].post("/login/totp", json=body)
            assert error_of(refused) == (400, "invalid_grant"), n
        good = {"username": target, "code": totp_code(seed, time.time())}
        over = [client.post("/login/totp", json=good) for client in (one, two)]
        # The other login endpoints share the count (a guessed handle is a failure too).
        over.append(one.post("/login/webauthn", json={"handle": "x" * 43, "credential": {}}))
        over.append(two.post("/login/piv", json={"handle": "x" * 43, "signature": "AA"}))
    retry_after = [assert_slowed_down(r) for r in over]
    assert max(retry_after) <= SHARED["rate_limit_login_failures_window"]
    # Another kiosk is not affected, and the code the attacker could not try still works.
    with both(fleet) as (kiosk, _):
        assert kiosk.post("/login/totp", json=good).status_code == 200
    limits = RateLimitStore(fleet.dep.store)
    assert limits.hits(f"login-failures {attacker}") == FAILURES + len(over)
    # Limited requests never reached the endpoints: no audit rows for them.
    logins = [e for e in fleet.dep.store.audit_entries() if e["event"] == "otp_login"]
    assert [e["outcome"] for e in logins if e["username"] == target] == ["failure"] * 2 + [
        "success"
    ]


@pytest.mark.postgres
@pytest.mark.server
def test_successful_logins_are_not_counted(fleet: Fleet) -> None:
    seeds = enroll(fleet, *(f"busy{n}" for n in range(FAILURES + 2)))
    address = new_address()
    with both(fleet, address) as (one, two):
        for n, (name, seed) in enumerate(seeds.items()):
            body = {"username": name, "code": totp_code(seed, time.time())}
            response = (one, two)[n % 2].post("/login/totp", json=body)
            assert response.status_code == 200, response.text
    assert RateLimitStore(fleet.dep.store).hits(f"login-failures {address}") == 0


@pytest.mark.postgres
@pytest.mark.server
def test_challenges_for_strangers_are_limited_across_replicas(fleet: Fleet) -> None:
    window = SHARED["rate_limit_challenges_window"]
    with both(fleet) as (one, two):
        began = time.monotonic()
        answers = []
        for n in range(CHALLENGES):  # both endpoints, both replicas: one count
            if n % 2:
                answers.append(two.post("/login/piv/challenge", json={"certificate": "AAAA"}))
            else:
                answers.append(one.post("/login/webauthn/options"))
        over = [one.post("/login/webauthn/options"), two.post("/login/piv/challenge", json={})]
        assert [a.status_code for a in answers] == [200, 400] * (CHALLENGES // 2) + [200]
        for response in over:
            assert assert_slowed_down(response) <= window
        # The window ends: the address may ask again.
        time.sleep(max(0.0, window - (time.monotonic() - began)) + 0.1)
        assert one.post("/login/webauthn/options").status_code == 200


@pytest.mark.server
def test_forwarded_for_is_believed_only_from_configured_proxies(
    server_factory: Callable[..., ServerProcess],
) -> None:
    server = server_factory(rate_limit_challenges=3)  # no forwarded_allow_ips
    with server.client() as http:
        statuses = [
            http.post("/login/webauthn/options", headers={"X-Forwarded-For": f"192.0.2.{n}"})
            for n in range(4)
        ]
    # A client that names another address each time is still the same peer.
    assert [r.status_code for r in statuses] == [200, 200, 200, 429]


def test_the_openapi_document_names_the_429(deployment: Deployment) -> None:
    document = create_app(deployment).openapi()
    limited = {
        path
        for path, item in document["paths"].items()
        if "429" in item.get("post", {}).get("responses", {})
    }
    assert limited == {
        "/login/webauthn/options",
        "/login/piv/challenge",
        "/login/totp",
        "/login/tac",  # temporary access codes (issue 18)
        "/login/tap/piv/challenge",  # the card and fob taps (issue 17)
        "/login/tap/piv",
        "/login/tap/totp",
        "/login/tap/options",
        "/login/tap/webauthn",
        "/login/webauthn",
        "/login/piv",
        "/authorize/login",
        "/authorize/webauthn/options",
        "/authorize/webauthn",
        "/authorize/sso",
    }


# -- the counters --------------------------------------------------------------------------


def test_the_migration_creates_the_table(db_url: str) -> None:
    dep = make_deployment(db_url)
    try:
        with dep.engine.connect() as conn:
            diff = compare_metadata(MigrationContext.configure(conn), t.metadata)
    finally:
        dep.close()
    assert [d for d in diff if "rate_limits" in repr(d)] == []


def test_hits_counted_at_once_by_two_processes_are_never_lost(db_url: str) -> None:
    make_deployment(db_url).close()
    # Two engines, as two replicas have: each counts half the hits, all at once.
    deps = [Deployment(load_settings(db=db_url)) for _ in range(2)]
    try:
        stores = [RateLimitStore(dep.store) for dep in deps]
        now = time.time()
        with ThreadPoolExecutor(16) as pool:
            counts = list(
                pool.map(lambda n: stores[n % 2].hit("b 192.0.2.1", now=now, window=60), range(40))
            )
        assert sorted(c.hits for c in counts) == list(range(1, 41))
        assert {c.window_start for c in counts} == {now}
        # A refund takes one back; an ended window starts again at 1; purge drops it.
        stores[0].refund("b 192.0.2.1", counts[0])
        assert stores[1].hits("b 192.0.2.1") == 39
        again = stores[1].hit("b 192.0.2.1", now=now + 61, window=60)
        assert (again.hits, again.window_start) == (1, now + 61)
        stores[0].refund("b 192.0.2.1", counts[1])  # of the ended window: no effect
        assert stores[0].hits("b 192.0.2.1") == 1
        assert stores[0].purge(before=now + 62) == 1
        assert stores[0].hits("b 192.0.2.1") == 0
    finally:
        for dep in deps:
            dep.close()
