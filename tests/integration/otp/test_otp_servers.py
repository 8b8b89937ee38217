"""Two real ``tokenstile server`` processes on one database: a code sent to both at the
same moment signs in once, on SQLite and on PostgreSQL."""

from __future__ import annotations

import os
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from threading import Barrier

import httpx
import pytest

from tests.conftest import ServerProcess, add_user
from tokenstile.config import load_settings
from tokenstile.deployment import Deployment
from tokenstile.factors.otp import totp_code
from tokenstile.factors.otp_service import OtpService
from tokenstile.store.otp_repository import SqlOtpStore

pytestmark = pytest.mark.server

PEOPLE = 8


def post_at_once(clients: list[httpx.Client], body: dict[str, str]) -> list[int]:
    """The same login sent through each client, released together."""
    barrier = Barrier(len(clients))

    def attempt(client: httpx.Client) -> int:
        barrier.wait(10)
        return client.post("/login/totp", json=body).status_code

    with ThreadPoolExecutor(len(clients)) as pool:
        return sorted(pool.map(attempt, clients))


def test_one_code_at_two_replicas_signs_in_once(
    server_factory: Callable[..., ServerProcess], db_url: str
) -> None:
    first = server_factory(db=db_url)
    setup = Deployment(load_settings(db=db_url))
    try:
        repo = OtpService(SqlOtpStore(setup.store), box=setup.kek, clock=setup.clock)
        seeds: dict[str, bytes] = {}
        for number in range(PEOPLE):
            name = f"person{number}"
            add_user(setup, name)
            seeds[name] = os.urandom(20)
            repo.enroll_app(name, by="test", seed=seeds[name])
        second = server_factory(db=db_url)
        with first.client() as one, second.client() as two:
            for name, seed in seeds.items():
                body = {"username": name, "code": totp_code(seed, setup.clock.now())}
                assert post_at_once([one, two], body) == [200, 400], name
        logins = [e for e in setup.store.audit_entries() if e["event"] == "otp_login"]
    finally:
        setup.close()
    assert sorted(e["outcome"] for e in logins) == ["failure"] * PEOPLE + ["success"] * PEOPLE
    reasons = {e["detail"].get("reason") for e in logins if e["outcome"] == "failure"}
    assert reasons == {"replayed"}
