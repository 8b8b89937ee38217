"""Two ``tokenstile server`` replicas on one real PostgreSQL database, as behind a balancer.

Both replicas share the database, the KEK file and the issuer; a ``Deployment`` over
the same database stands in for the admin (``tokenstile manage``) and for reading
what the replicas wrote. ``fleet`` is started once for the package (replicas start in
seconds, which adds up); each test speaks through ``both(fleet)``, whose clients come
from an address of their own (``X-Forwarded-For``, believed from 127.0.0.1 as from a
balancer), so the tests' rate-limit counts never meet. ``fleet_factory`` starts a fleet
of a test's own, for tests that kill or restart something.
"""

from __future__ import annotations

import itertools
import json
import os
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.conftest import PostgresCluster, ServerProcess, free_port, start_server
from tests.integration.store.conftest import db_url
from tokenstile.config import load_settings
from tokenstile.deployment import Deployment

__all__ = ["db_url"]


@dataclass
class Fleet:
    replicas: list[ServerProcess]
    dep: Deployment

    def url(self, i: int) -> str:
        return self.replicas[i % len(self.replicas)].base_url

    def logs(self) -> str:
        return "".join(r.log_path.read_text(errors="replace") for r in self.replicas)


# The shared fleet's settings: small enough limits to reach in a test, a JWKS max-age (the
# publish lead of a new key) of 3 s with keys reloaded every 0.2 s, a lock after 6 failures,
# a refresh retried after a lost answer accepted from 0.2 s on (instead of 1 s).
SHARED: dict[str, Any] = {
    "jwks_max_age": 3,
    "key_reload_interval": 0.2,
    "otp_delay_after": 6,
    "otp_lock_after": 6,
    "forwarded_allow_ips": ["127.0.0.1"],
    "rate_limit_challenges": 5,
    "rate_limit_challenges_window": 2.0,
    "rate_limit_login_failures": 10,
    "rate_limit_login_failures_window": 600.0,
    "refresh_retry_after": 0.2,
    "refresh_grace": 60,
}


def _env(overrides: dict[str, Any]) -> dict[str, str]:
    return {
        f"TOKENSTILE_{name.upper()}": json.dumps(value) if isinstance(value, list) else str(value)
        for name, value in overrides.items()
    }


@pytest.fixture(scope="package")
def fleet(postgres: PostgresCluster, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Fleet]:
    directory: Path = tmp_path_factory.mktemp("fleet")
    db = postgres.create_database(f"fleet_{os.getpid()}")
    env = {
        "TOKENSTILE_DATA_DIR": str(directory / "data"),
        "TOKENSTILE_RUNTIME_DIR": str(directory / "run"),
        **_env(SHARED),
    }
    issuer = f"http://127.0.0.1:{free_port()}"  # the balancer's name for the fleet
    replicas: list[ServerProcess] = []
    dep: Deployment | None = None
    try:
        for _ in range(2):
            port = free_port()
            settings = load_settings(
                db=db, port=port, issuer=issuer, kek_file=directory / "kek", **SHARED
            )
            if dep is None:
                dep = Deployment(settings)
                dep.init()
            replicas.append(start_server(settings, directory / f"server-{port}.log", env))
        assert dep is not None
        yield Fleet(replicas, dep)
    finally:
        for replica in replicas:
            replica.stop()
        if dep is not None:
            dep.close()


_addresses = (f"198.51.100.{n}" for n in itertools.count(1))


def new_address() -> str:
    """An address no other test has used (a kiosk of its own)."""
    return next(_addresses)


@contextmanager
def both(fleet: Fleet, address: str | None = None) -> Iterator[tuple[httpx.Client, httpx.Client]]:
    """A client to each replica, both from ``address`` (a fresh one by default)."""
    headers = {"X-Forwarded-For": address or new_address()}
    with (
        httpx.Client(base_url=fleet.url(0), timeout=10, headers=headers) as one,
        httpx.Client(base_url=fleet.url(1), timeout=10, headers=headers) as two,
    ):
        yield one, two


@pytest.fixture
def fleet_factory(
    server_factory: Callable[..., ServerProcess], postgres_url: str
) -> Iterator[Callable[..., Fleet]]:
    """``make(**settings)``: two replicas of a test's own on a fresh database."""
    opened: list[Deployment] = []

    def make(**overrides: Any) -> Fleet:
        first = server_factory(db=postgres_url, **overrides)
        second = server_factory(db=postgres_url, issuer=first.settings.issuer, **overrides)
        dep = Deployment(first.settings)
        opened.append(dep)
        return Fleet([first, second], dep)

    yield make
    for dep in opened:
        dep.close()


def error_of(response: httpx.Response) -> tuple[int, str]:
    """(status, OAuth ``error``) of a refusal; the body must be the JSON error shape."""
    body = json.loads(response.content)
    assert set(body) == {"error", "error_description"}, body
    assert body["error_description"], body
    return response.status_code, str(body["error"])
