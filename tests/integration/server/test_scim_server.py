"""SCIM 2.0 provisioning against a real ``tokenstile server`` process: the token made by a
real ``tokenstile manage scim token create`` process, an independent SCIM client
(scim2-client) that discovers the service and validates every answer, and PATCHes that
race from two threads (SQLite and PostgreSQL) without losing one another's change."""

from __future__ import annotations

import os
import subprocess
import sys
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import httpx
import pytest
from scim2_client import BaseSyncSCIMClient
from scim2_client.client import RawResponse
from scim2_models import (
    Group,
    GroupMember,
    ListResponse,
    PatchOp,
    PatchOperation,
    Resource,
    SCIMException,
    SearchRequest,
    UniquenessException,
)

from tests.cli_in_process import run_tokenstile
from tests.conftest import ServerProcess
from tokenstile.deployment import Deployment

PATCH_OP = "urn:ietf:params:scim:api:messages:2.0:PatchOp"
USER_SCHEMA = "urn:ietf:params:scim:schemas:core:2.0:User"


class HttpxScimClient(BaseSyncSCIMClient):
    """scim2-client's synchronous client over an ``httpx.Client``: the three methods of
    its own httpx2 engine (httpx2 is not installed here), the rest all scim2-client's."""

    def __init__(self, client: httpx.Client, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.client = client

    def _stays_under_base_url(self, endpoint: str) -> bool:
        url = self.client.build_request("GET", endpoint).url
        base = self.client.base_url
        return url.host == base.host and url.path.startswith(base.path)

    def _parse_json(self, response: RawResponse) -> Any:
        return response.json()  # type: ignore[attr-defined]

    def request(self, method: str, url: str, **kwargs: Any) -> httpx.Response:
        return self.client.request(method, url, **kwargs)


def create_token_by_process(server: ServerProcess, name: str, *roles: str) -> str:
    """``tokenstile manage scim token create`` as a real process: the token it prints."""
    grants = [arg for role in roles for arg in ("--grant-role", role)]
    done = subprocess.run(
        [
            *(sys.executable, "-m", "tokenstile.cli", "manage", "--db", server.settings.db),
            *("scim", "token", "create", name, *grants),
        ],
        capture_output=True,
        text=True,
        check=False,
        timeout=60,
        env={**os.environ, "TOKENSTILE_KEK_FILE": str(server.settings.kek_file)},
    )
    assert done.returncode == 0, done.stderr
    token, note = done.stdout.splitlines()
    assert token.startswith("tsscim_")
    assert "shown once" in note
    assert token not in done.stderr
    return token


@contextmanager
def scim_client(server: ServerProcess, token: str) -> Iterator[HttpxScimClient]:
    with httpx.Client(
        base_url=f"{server.base_url}/scim/v2",
        headers={"Authorization": f"Bearer {token}"},
        timeout=30,
    ) as http:
        yield HttpxScimClient(http)


def test_an_independent_scim_client_provisions_people_and_groups(
    server_factory: Callable[..., ServerProcess],
) -> None:
    server = server_factory()
    token = create_token_by_process(server, "okta", "enroller")
    with scim_client(server, token) as scim:
        scim.discover()
        config = scim.provider.config
        assert config is not None
        assert config.patch is not None
        assert config.patch.supported is True
        user_model = scim.provider.model_for("User")
        assert user_model is not None
        assert user_model.__name__ == "User[EnterpriseUser]"  # composed from /ResourceTypes

        # The model is built from the service's /Schemas: it is given JSON, as a client would.
        made = scim.create(
            user_model.model_validate(
                {
                    "userName": "carol",
                    "externalId": "c-1",
                    "name": {"givenName": "Carol", "familyName": "Danvers"},
                    "emails": [{"value": "carol@example.com", "type": "work", "primary": True}],
                }
            )
        )
        assert isinstance(made, user_model)
        assert made.id
        assert made.active is True
        assert made.meta is not None
        assert made.meta.version == 'W/"1"'
        found = scim.query(user_model, query_parameters=SearchRequest(filter='userName eq "carol"'))
        assert isinstance(found, ListResponse)
        assert found.total_results == 1
        assert found.resources is not None
        assert found.resources[0].id == made.id

        with pytest.raises(UniquenessException) as taken:
            scim.create(user_model(user_name="carol"))
        assert "taken" in str(taken.value)

        made.display_name = "Captain Marvel"
        replaced = scim.replace(made)
        assert isinstance(replaced, user_model)
        assert replaced.display_name == "Captain Marvel"
        assert replaced.meta is not None
        assert replaced.meta.version == 'W/"2"'

        patch = PatchOp[user_model](
            operations=[
                PatchOperation[user_model](op="replace", path="active", value=False),
                PatchOperation[user_model](op="add", path="nickName", value="Cap"),
            ]
        )
        patched = scim.modify(user_model, made.id, patch)
        assert isinstance(patched, user_model)
        assert patched.active is False
        assert patched.nick_name == "Cap"

        group = scim.create(
            Group(display_name="enroller", members=[GroupMember(value=made.id, type="User")])
        )
        assert isinstance(group, Resource)
        assert group.members is not None
        assert [m.value for m in group.members] == [made.id]
        scim.delete(user_model, made.id)
        gone = scim.query(user_model, made.id)
        assert isinstance(gone, user_model)
        assert gone.active is False
        with pytest.raises(SCIMException) as missing:
            scim.query(user_model, "no-such-id")
        assert missing.value.status == 404

    listed = run_tokenstile("manage", "--db", server.settings.db, "scim", "token", "list")
    assert listed.returncode == 0
    assert token not in listed.stdout
    assert "okta" in listed.stdout
    assert "enroller" in listed.stdout
    setup = Deployment(server.settings)
    try:
        carol = setup.store.find_user("carol")
        assert carol is not None
        assert carol.enabled is False
    finally:
        setup.close()

    revoked = run_tokenstile(
        "manage", "--db", server.settings.db, "scim", "token", "revoke", "okta"
    )
    assert (revoked.returncode, revoked.stdout.strip()) == (0, "The SCIM token of okta is revoked.")
    with scim_client(server, token) as scim, pytest.raises(SCIMException) as refused:
        scim.discover()  # even what the service offers is not told without a live token
    assert refused.value.status == 401


def test_token_commands_refuse_bad_names_and_reused_names(
    server_factory: Callable[..., ServerProcess],
) -> None:
    server = server_factory()
    db = server.settings.db
    first = run_tokenstile("manage", "--db", db, "scim", "token", "create", "entra")
    assert first.returncode == 0
    again = run_tokenstile("manage", "--db", db, "scim", "token", "create", "entra")
    assert again.returncode != 0
    assert "exists" in again.stderr
    for bad in ("Entra", "_x", "a b", "x" * 60, "scim:x"):
        refused = run_tokenstile("manage", "--db", db, "scim", "token", "create", bad)
        assert refused.returncode != 0, bad
        assert "SCIM client name" in refused.stderr, bad
    role = run_tokenstile(
        "manage", "--db", db, "scim", "token", "create", "x", "--grant-role", "root"
    )
    assert role.returncode != 0
    missing = run_tokenstile("manage", "--db", db, "scim", "token", "revoke", "nobody")
    assert missing.returncode != 0
    assert "nobody" in missing.stderr
    assert run_tokenstile("manage", "--db", db, "scim", "token", "revoke", "entra").returncode == 0
    twice = run_tokenstile("manage", "--db", db, "scim", "token", "revoke", "entra")
    assert twice.stdout.strip() == "The SCIM token of entra was revoked already."
    reuse = run_tokenstile("manage", "--db", db, "scim", "token", "create", "entra")
    assert reuse.returncode != 0


@pytest.mark.parametrize("database", ["sqlite", "postgres"])
def test_racing_patches_lose_nothing(
    server_factory: Callable[..., ServerProcess], request: pytest.FixtureRequest, database: str
) -> None:
    """Two threads each add their own emails to one person, one PATCH at a time, at once:
    every PATCH reads the state its transaction locked, so all of them are there."""
    db = None if database == "sqlite" else request.getfixturevalue("postgres_url")
    server = server_factory(db)
    token = create_token_by_process(server, "racer")
    headers = {"Authorization": f"Bearer {token}", "Content-Type": "application/scim+json"}
    rounds = 12
    with server.client(headers=headers) as http:
        made = http.post("/scim/v2/Users", json={"schemas": [USER_SCHEMA], "userName": "ray"})
        assert made.status_code == 201, made.text
        uid = made.json()["id"]
    start = threading.Barrier(2)
    failures: list[str] = []

    def add_emails(side: str) -> None:
        with server.client(headers=headers) as http:
            start.wait()
            for n in range(rounds):
                op = {"op": "add", "path": "emails", "value": [{"value": f"{side}{n}@x.org"}]}
                body = {"schemas": [PATCH_OP], "Operations": [op]}
                answer = http.patch(f"/scim/v2/Users/{uid}", json=body)
                if answer.status_code != 200:
                    failures.append(answer.text)

    threads = [threading.Thread(target=add_emails, args=(side,)) for side in "ab"]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert failures == []
    with server.client(headers=headers) as http:
        final = http.get(f"/scim/v2/Users/{uid}").json()
    assert sorted(e["value"] for e in final["emails"]) == sorted(
        f"{side}{n}@x.org" for side in "ab" for n in range(rounds)
    )
    assert final["meta"]["version"] == f'W/"{1 + 2 * rounds}"'
