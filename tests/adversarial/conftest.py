"""The attack suite's ground: real ``tokenstile server`` processes, people with TOTP fobs,
and the plain HTTP an attacker would send.

Every test in ``tests/adversarial/`` runs one attack from ``docs/security-model.md``
against a real server process (and, where the attack needs one, a rogue server the test
starts itself). The ``attacked`` fixture gives a fresh service on its own SQLite file.

TOTP codes are single use per person: each ``login`` takes the next unused time step of
that person's fob (the server's drift window admits one step ahead), so a test may sign the
same person in twice in a row; a third time within one 30-second step waits for the next.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import jwt
import pytest

from tests.conftest import ServerProcess, add_user
from tokenstile.config import load_settings
from tokenstile.deployment import Deployment
from tokenstile.factors.otp import totp_code
from tokenstile.factors.otp_service import OtpService
from tokenstile.store.otp_repository import SqlOtpStore

SEED = bytes(range(20))
TOKEN_EXCHANGE = "urn:ietf:params:oauth:grant-type:token-exchange"
ACCESS_TOKEN_TYPE = "urn:ietf:params:oauth:token-type:access_token"
Json = dict[str, Any]


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Every test here is an attack on real processes: marked so (``-m adversarial``)."""
    here = Path(__file__).parent
    for item in items:
        if Path(str(item.fspath)).is_relative_to(here):
            item.add_marker(pytest.mark.adversarial)
            item.add_marker(pytest.mark.server)


def unverified_claims(token: str) -> Json:
    """What a token says, as anyone holding it can read it."""
    decoded: Json = jwt.decode(token, options={"verify_signature": False})
    return decoded


@dataclass
class AttackedService:
    """A real token service, and the set-up an admin would have done beforehand."""

    server: ServerProcess
    db: str
    _next_step: dict[str, int] = field(default_factory=dict)

    @property
    def url(self) -> str:
        return self.server.base_url

    def http(self, **kwargs: Any) -> httpx.Client:
        return self.server.client(**kwargs)

    @contextmanager
    def deployment(self) -> Iterator[Deployment]:
        """The deployment on the same database, as ``tokenstile manage`` opens it."""
        setup = Deployment(load_settings(db=self.db))
        try:
            yield setup
        finally:
            setup.close()

    def add_person(self, username: str, *, admin: bool = False) -> None:
        """A person with a TOTP fob (``SEED``)."""
        with self.deployment() as setup:
            add_user(setup, username, is_admin=admin)
            OtpService(SqlOtpStore(setup.store), box=setup.kek, clock=setup.clock).enroll_app(
                username, by="test", seed=SEED
            )

    def code(self, username: str) -> str:
        """The next code of the person's fob that the server has not seen: the current
        time step's, else the next one's (the server's drift window admits one step
        ahead); a third login within one step waits for the next step to begin. Never an
        earlier step, which a step boundary during the request would push out of the
        window."""
        now_step = int(time.time()) // 30
        step = max(now_step, self._next_step.get(username, now_step))
        if step > now_step + 1:
            time.sleep((step - 1) * 30 - time.time() + 0.05)
        self._next_step[username] = step + 1
        return totp_code(SEED, step * 30.0)

    def login(self, username: str, *, client_id: str | None = None, **extra: Any) -> Json:
        """A TOTP login at ``POST /login/totp``: the token response (asserted 200)."""
        body: Json = {"username": username, "code": self.code(username), **extra}
        if client_id is not None:
            body["client_id"] = client_id
        with self.http() as http:
            response = http.post("/login/totp", json=body)
        assert response.status_code == 200, response.text
        answer: Json = response.json()
        return answer

    def audit(self, event: str | None = None) -> list[Json]:
        with self.deployment() as setup:
            entries: list[Json] = setup.store.audit_entries()
        return [e for e in entries if event is None or e["event"] == event]


@pytest.fixture
def attacked(
    server_factory: Callable[..., ServerProcess], tmp_path: Path
) -> Callable[..., AttackedService]:
    """Start a real ``tokenstile server`` (settings as keyword overrides) with ``alice``
    (a person) and ``root`` (an admin), both with TOTP fobs."""

    def start(**overrides: Any) -> AttackedService:
        db = f"sqlite:///{tmp_path / 'attacked.db'}"
        service = AttackedService(server_factory(db=db, **overrides), db)
        service.add_person("alice")
        service.add_person("root", admin=True)
        return service

    return start
