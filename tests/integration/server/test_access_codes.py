"""Temporary access codes (issue 18): issued by helpdesk, spent at ``POST /login/tac``.

Through the ASGI app over httpx (Starlette's TestClient, from a real-looking peer address
so the rate limit counts it), the CLI in this process, and a real server process where
kiosks race for the last use of a code."""

from __future__ import annotations

import base64
import json
import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select

from tests.admin_tokens import token_for
from tests.cli_in_process import run_tokenstile
from tests.conftest import ServerProcess, add_user, make_deployment
from tests.integration.store.conftest import db_url  # noqa: F401 - a fixture
from tokenstile.clock import FrozenClock
from tokenstile.deployment import DEFAULT_ADMIN_CLIENT_ID, Deployment
from tokenstile.factors.access_code import code_matches, normalize
from tokenstile.protocol.roles import Role
from tokenstile.protocol.scopes import ADMIN_SCOPE, LOCAL_AUDIENCE
from tokenstile.server.app import create_app
from tokenstile.store import schema as t
from tokenstile.store.roles import set_builtin_roles
from tokenstile.tokens.model import AudiencePolicy, AuditEvent

PEER = ("198.51.100.7", 40000)
REFUSED = "The username or the code is not valid."


def claims(token: str) -> dict[str, Any]:
    payload = token.split(".")[1]
    decoded: dict[str, Any] = json.loads(
        base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4))
    )
    return decoded


@pytest.fixture
def deployment(tmp_path: Path, clock: FrozenClock) -> Iterator[Deployment]:
    dep = make_deployment(f"sqlite:///{tmp_path / 'ts.db'}", clock, rate_limit_login_failures=6)
    yield dep
    dep.close()


@pytest.fixture
def http(deployment: Deployment) -> Iterator[TestClient]:
    app = create_app(deployment)
    with TestClient(app, base_url="https://auth.example", client=PEER) as client:
        yield client


@pytest.fixture
def helpdesk(deployment: Deployment) -> dict[str, str]:
    helper = add_user(deployment, "helper")
    with deployment.store.write() as tx:
        set_builtin_roles(tx.connection, helper.id, {Role.HELPDESK}, at=deployment.clock.now())
    return {"Authorization": f"Bearer {token_for(deployment, helper)}"}


def issue(http: TestClient, headers: dict[str, str], username: str = "alice", **extra: Any) -> str:
    response = http.post(
        "/admin/access-codes", json={"username": username, **extra}, headers=headers
    )
    assert response.status_code == 201, response.text
    assert response.headers["cache-control"] == "no-store"
    code: str = response.json()["code"]
    return code


def tac_login(http: Any, username: str, code: str, **extra: Any) -> Any:
    return http.post("/login/tac", json={"username": username, "code": code, **extra})


def refused(response: Any, error: str = "invalid_grant") -> str:
    assert response.status_code in (400, 401, 429), response.text
    assert response.json()["error"] == error, response.text
    description: str = response.json()["error_description"]
    return description


def tac_events(dep: Deployment, outcome: str) -> list[dict[str, Any]]:
    return [
        e
        for e in dep.store.audit_entries()
        if e["event"] == "login" and e["factor"] == "tac" and e["outcome"] == outcome
    ]


def test_a_code_signs_in_once_with_the_weakest_assurance(
    http: TestClient, deployment: Deployment, helpdesk: dict[str, str]
) -> None:
    add_user(deployment, "alice")
    code = issue(http, helpdesk)
    assert len(code) == 14
    assert code.count("-") == 2
    # Only a hash is kept, and it is the code's.
    with deployment.engine.connect() as conn:
        stored = conn.execute(select(t.access_codes.c.code_hash)).scalar_one()
    assert code not in stored
    assert stored.startswith("scrypt$")
    assert code_matches(normalize(code), stored)
    typed = code.lower().replace("-", " ")
    first = tac_login(http, "alice", typed)
    assert first.status_code == 200, first.text
    access = claims(first.json()["access_token"])
    assert (access["acr"], access["amr"]) == ("tac", ["tac"])
    assert ADMIN_SCOPE not in first.json()["scope"].split()
    assert refused(tac_login(http, "alice", code)) == REFUSED  # used twice
    assert len(tac_events(deployment, "success")) == 1
    assert [e["detail"]["reason"] for e in tac_events(deployment, "failure")] == ["code_not_valid"]
    issued = [e for e in deployment.store.audit_entries() if e["event"] == "access_code_issued"]
    assert issued[0]["detail"]["by"] == "admin:helper"
    assert code not in json.dumps(deployment.store.audit_entries())


def test_a_code_of_n_uses_and_a_new_code_ending_the_old(
    http: TestClient, deployment: Deployment, helpdesk: dict[str, str]
) -> None:
    add_user(deployment, "alice")
    two = issue(http, helpdesk, uses=2)
    assert tac_login(http, "alice", two).status_code == 200
    assert tac_login(http, "alice", two).status_code == 200
    refused(tac_login(http, "alice", two))
    old = issue(http, helpdesk, uses=3)
    new = http.post("/admin/access-codes", json={"username": "alice"}, headers=helpdesk).json()
    assert new["replaced"] == 1
    refused(tac_login(http, "alice", old))
    assert tac_login(http, "alice", new["code"]).status_code == 200


def test_a_code_after_it_expired_and_a_session_that_ends_with_it(
    http: TestClient, deployment: Deployment, helpdesk: dict[str, str], clock: FrozenClock
) -> None:
    add_user(deployment, "alice")
    code = issue(http, helpdesk, hours=1, uses=2)
    grant = tac_login(http, "alice", code).json()
    assert claims(grant["access_token"])["exp"] <= clock.now() + 3600
    with deployment.engine.connect() as conn:
        ends = conn.execute(
            select(t.sessions.c.expires_at).where(t.sessions.c.factor == "tac")
        ).scalar_one()
    assert ends <= clock.now() + 3600
    clock.advance(3601)
    refused(tac_login(http, "alice", code))
    again = http.post(
        "/token",
        data={
            "grant_type": "refresh_token",
            "refresh_token": grant["refresh_token"],
            "client_id": "tokenstile-kiosk",
        },
    )
    refused(again)


def test_a_code_with_another_persons_username(
    http: TestClient, deployment: Deployment, helpdesk: dict[str, str]
) -> None:
    add_user(deployment, "alice")
    add_user(deployment, "bob")
    code = issue(http, helpdesk)
    assert refused(tac_login(http, "bob", code)) == REFUSED
    assert refused(tac_login(http, "nobody", code)) == REFUSED
    # Neither spent alice's use.
    assert tac_login(http, "alice", code).status_code == 200
    assert [e["username"] for e in tac_events(deployment, "failure")] == ["bob", "nobody"]


def test_guessing_codes_meets_the_login_rate_limit(
    http: TestClient, deployment: Deployment, helpdesk: dict[str, str]
) -> None:
    add_user(deployment, "alice")
    code = issue(http, helpdesk)
    guesses = ["AAAA-AAAA-AAAA", "0000-0000-0000", "x" * 5000, "", "ABCD-EFGH-JKLM", "ZZZZ"]
    for guess in guesses:
        refused(tac_login(http, "alice", guess))
    over = tac_login(http, "alice", code)
    assert over.status_code == 429
    assert int(over.headers["retry-after"]) > 0
    # Bad bodies are refused as such, and nothing is spent.
    with TestClient(create_app(deployment), base_url="https://auth.example") as other:
        assert refused(other.post("/login/tac", json={"username": "alice"}), "invalid_request")
        assert refused(
            other.post("/login/tac", content=b"[]", headers={"content-type": "application/json"}),
            "invalid_request",
        )
        assert other.post("/login/tac", json={"username": "alice", "code": code}).status_code == 200


def test_a_code_never_opens_the_admin_api_nor_an_audience_that_needs_hardware(
    http: TestClient, deployment: Deployment, helpdesk: dict[str, str], clock: FrozenClock
) -> None:
    # Audiences that need more than a code, set before any login reads the policies.
    for audience, level in (("https://vault", "phr"), ("https://kiosk-tap", "tap")):
        deployment.store.set_audience(
            AudiencePolicy(audience, min_acr=level), at=clock.now(), audit=AuditEvent("a", "info")
        )
    root = add_user(deployment, "root", is_admin=True)
    root_token = {"Authorization": f"Bearer {token_for(deployment, root)}"}
    code = issue(http, root_token, username="root", uses=4)
    # Through the admin console's client: a session, but without the admin scope.
    console = tac_login(http, "root", code, client_id=DEFAULT_ADMIN_CLIENT_ID)
    assert console.status_code == 200, console.text
    assert ADMIN_SCOPE not in console.json()["scope"].split()
    me = http.get(
        "/admin/me", headers={"Authorization": f"Bearer {console.json()['access_token']}"}
    )
    assert (me.status_code, me.json()["error"]) == (403, "insufficient_scope")
    asked = tac_login(http, "root", code, client_id=DEFAULT_ADMIN_CLIENT_ID, scope=ADMIN_SCOPE)
    assert asked.status_code == 200, asked.text  # a login body's other members are ignored
    assert ADMIN_SCOPE not in asked.json()["scope"].split()
    # An audience that needs a hardware factor refuses the code before spending it.
    vault, _ = deployment.add_client(
        "vault-kiosk", kind="kiosk", audiences=["https://vault"], scopes=["openid"]
    )
    at_vault = refused(tac_login(http, "root", code, client_id=vault.client_id), "invalid_target")
    assert at_vault.startswith("A temporary access code"), at_vault
    # A session of the code cannot be carried to such an audience by a refresh either.
    both, _ = deployment.add_client(
        "two-doors",
        kind="kiosk",
        audiences=[LOCAL_AUDIENCE, "https://kiosk-tap"],
        scopes=["openid"],
    )
    grant = tac_login(http, "root", code, client_id=both.client_id)
    assert grant.status_code == 200, grant.text
    moved = http.post(
        "/token",
        data={
            "grant_type": "refresh_token",
            "refresh_token": grant.json()["refresh_token"],
            "client_id": both.client_id,
            "resource": "https://kiosk-tap",
        },
    )
    refused(moved, "invalid_target")
    with deployment.engine.connect() as conn:
        left = conn.execute(select(t.access_codes.c.uses_left)).scalar_one()
    assert left == 1  # of four: the console twice and two-doors; the vault refusal spent none


def test_issuing_bad_input_is_refused_and_nothing_is_written(
    http: TestClient, deployment: Deployment, helpdesk: dict[str, str]
) -> None:
    add_user(deployment, "alice")
    for body, status in (
        ({"username": "alice", "hours": 0}, 400),
        ({"username": "alice", "hours": 73}, 400),
        ({"username": "alice", "uses": 0}, 400),
        ({"username": "alice", "uses": 21}, 400),
        ({"username": "alice", "code": "MINE-MINE-MINE"}, 400),
        ({"username": "nobody"}, 404),
    ):
        response = http.post("/admin/access-codes", json=body, headers=helpdesk)
        assert response.status_code == status, (body, response.text)
    add_user(deployment, "gone")
    deployment.store.set_user_enabled(
        "gone", False, at=deployment.clock.now(), audit=AuditEvent("user_disabled", "info")
    )
    disabled = http.post("/admin/access-codes", json={"username": "gone"}, headers=helpdesk)
    assert (disabled.status_code, disabled.json()["error_description"]) == (
        400,
        "gone is disabled: enable them first.",
    )
    with deployment.engine.connect() as conn:
        assert conn.execute(select(t.access_codes.c.id)).all() == []


def test_the_cli_issues_a_code_shown_once(tmp_path: Path) -> None:
    # The command runs on the system clock: so does this deployment.
    deployment = make_deployment(f"sqlite:///{tmp_path / 'cli.db'}")
    add_user(deployment, "alice")
    db = deployment.settings.db
    done = run_tokenstile(
        "manage", "--db", db, "access-code", "issue", "alice", "--hours", "8", "--uses", "2"
    )
    assert done.returncode == 0, done.stderr
    code = done.stdout.split("alice: ")[1].split()[0]
    assert "not shown again" in done.stdout
    with TestClient(create_app(deployment), base_url="https://auth.example") as http:
        assert tac_login(http, "alice", code).status_code == 200
    deployment.close()
    bad = run_tokenstile("manage", "--db", db, "access-code", "issue", "alice", "--hours", "100")
    assert bad.returncode == 1
    assert "at most 72 hours" in bad.stderr
    unknown = run_tokenstile("manage", "--db", db, "access-code", "issue", "nobody")
    assert (unknown.returncode, unknown.stderr.strip()) == (1, "No person named 'nobody'.")


def test_kiosks_racing_for_the_last_use_at_a_real_server(
    server_factory: Callable[..., ServerProcess],
    db_url: str,  # noqa: F811 - the fixture imported above
) -> None:
    server = server_factory(db_url if db_url.startswith("postgresql") else None)
    setup = Deployment(server.settings)
    try:
        add_user(setup, "alice")
        done = run_tokenstile("manage", "--db", server.settings.db, "access-code", "issue", "alice")
        assert done.returncode == 0, done.stderr
        code = done.stdout.split("alice: ")[1].split()[0]
    finally:
        setup.close()
    answers: list[int] = []
    start = threading.Barrier(6)

    def kiosk() -> None:
        with httpx.Client(base_url=server.base_url, timeout=30) as http:
            start.wait()
            answers.append(tac_login(http, "alice", code).status_code)

    threads = [threading.Thread(target=kiosk) for _ in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(answers) == [200, 400, 400, 400, 400, 400]
