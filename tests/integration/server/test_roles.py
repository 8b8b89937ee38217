"""Roles in the admin API (issue 18): every admin operation by every role, through the ASGI
app over httpx (Starlette's TestClient), against the table in docs/admin-api.md, and the
attacks a helpdesk or enroller person could try to become an admin."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi import FastAPI, Request
from fastapi.testclient import TestClient
from starlette.responses import JSONResponse

from tests.admin_tokens import token_for
from tests.cli_in_process import run_tokenstile
from tests.conftest import ServerProcess, add_user
from tokenstile.composition import Services
from tokenstile.deployment import Deployment
from tokenstile.protocol.roles import Role
from tokenstile.server.admin_auth import admin_router
from tokenstile.server.admin_permissions import ADMIN_OPERATIONS
from tokenstile.server.app import create_app
from tokenstile.store.roles import roles_of, set_builtin_roles
from tokenstile.tokens.model import User

DOC = Path(__file__).resolve().parents[3] / "docs" / "admin-api.md"
TABLE_HEAD = "| operation | permission | admin | helpdesk | enroller |"
ROLE_NAMES = ("admin", "helpdesk", "enroller")


def documented() -> dict[tuple[str, str], dict[str, bool]]:
    """The roles table of docs/admin-api.md: (method, path) -> role -> allowed."""
    rows: dict[tuple[str, str], dict[str, bool]] = {}
    lines = iter(DOC.read_text(encoding="utf-8").splitlines())
    for line in lines:
        if line.strip() == TABLE_HEAD:
            break
    for line in lines:
        if not line.startswith("|"):
            break
        if line.startswith("|---"):
            continue
        cells = [cell.strip() for cell in line.strip().strip("|").split("|")]
        method, path = cells[0].split(" ", 1)
        assert len(cells) == 5, line
        assert set(cells[2:5]) <= {"yes", "no"}, line
        rows[(method, path.strip("`"))] = {
            role: cell == "yes" for role, cell in zip(ROLE_NAMES, cells[2:5], strict=True)
        }
    assert rows, f"no roles table in {DOC}"
    return rows


def admin_operations(app: FastAPI) -> set[tuple[str, str]]:
    """Every operation of the app that takes an admin token, from its OpenAPI document."""
    found = set()
    for path, item in app.openapi()["paths"].items():
        for method, operation in item.items():
            if any("adminBearer" in s for s in operation.get("security", [])):
                found.add((method.upper(), path))
    return found


def person_with(dep: Deployment, username: str, roles: set[Role]) -> User:
    user = add_user(dep, username)
    with dep.store.write() as tx:
        set_builtin_roles(tx.connection, user.id, roles, at=dep.clock.now())
    found = dep.store.find_user(username)
    assert found is not None
    return found


def bearer(dep: Deployment, user: User) -> dict[str, str]:
    return {"Authorization": f"Bearer {token_for(dep, user)}"}


def call(http: TestClient, method: str, path: str, headers: dict[str, str], body: Any) -> Any:
    if method == "GET":
        return http.get(path, headers=headers)
    return http.post(path, json=body, headers=headers)


def refusals(dep: Deployment) -> list[dict[str, Any]]:
    return [e for e in dep.store.audit_entries() if e["event"] == "admin_refused"]


@pytest.fixture
def http(deployment: Deployment) -> Iterator[TestClient]:
    with TestClient(create_app(deployment), base_url="https://auth.example") as client:
        yield client


@pytest.fixture
def root(deployment: Deployment) -> User:
    return add_user(deployment, "root", is_admin=True)


# -- the matrix ------------------------------------------------------------------------------


def test_every_admin_operation_has_a_rule_and_a_row_in_the_docs(deployment: Deployment) -> None:
    operations = admin_operations(create_app(deployment))
    assert len(operations) >= 40
    assert operations == set(ADMIN_OPERATIONS), "a route without a rule, or a stale rule"
    assert operations == set(documented()), "docs/admin-api.md's roles table is not complete"


@pytest.mark.parametrize("role", [*ROLE_NAMES, "none"])
def test_every_operation_as_every_role(
    http: TestClient, deployment: Deployment, root: User, role: str
) -> None:
    """Each operation with an empty body: a role the docs allow gets past the role check
    (whatever the body earns: 200, 400, 404...), any other is refused with 403 and audited;
    a person with no role never gets the admin scope at all."""
    roles = {Role(role)} if role != "none" else set()
    caller = person_with(deployment, "caller", roles)
    headers = bearer(deployment, caller)
    table = documented()
    refused = 0
    for (method, path), allowed in sorted(table.items()):
        response = call(http, method, path, headers, {})
        where = f"{role}: {method} {path} -> {response.status_code} {response.text[:200]}"
        if role == "none":
            assert response.status_code == 403, where
            assert response.json()["error"] == "insufficient_scope", where
        elif allowed[role]:
            assert response.status_code != 403, where
            assert response.status_code < 500, where
        else:
            refused += 1
            assert response.status_code == 403, where
            body = response.json()
            assert body["error"] == "insufficient_role", where
            needs = [name for name in ROLE_NAMES if allowed[name]]
            assert body["error_description"].startswith(
                f"This needs the role {' or '.join(needs)}; you have {role}."
            ), where
    logged = refusals(deployment)
    assert len(logged) == refused
    assert all(e["username"] == "caller" and e["outcome"] == "failure" for e in logged)
    if role == "admin":
        assert refused == 0
    if role in ("helpdesk", "enroller"):
        assert refused >= 15


def test_a_route_added_without_a_rule_is_an_admins_alone_and_fails_the_matrix(
    deployment: Deployment, root: User
) -> None:
    services = Services(deployment)
    app = create_app(deployment, services=services)
    router = admin_router(services, prefix="/admin/new-thing", tags=["admin: new"])

    @router.get("")
    async def new_thing(request: Request) -> JSONResponse:
        return JSONResponse({"ok": True})

    app.include_router(router)
    assert admin_operations(app) - set(documented()) == {("GET", "/admin/new-thing")}
    helper = person_with(deployment, "helper", {Role.HELPDESK})
    with TestClient(app, base_url="https://auth.example") as http:
        assert http.get("/admin/new-thing", headers=bearer(deployment, root)).status_code == 200
        refused = http.get("/admin/new-thing", headers=bearer(deployment, helper))
    assert refused.status_code == 403
    assert refused.json()["error_description"].startswith("This needs the role admin;")


# -- attacks -----------------------------------------------------------------------------------


def test_a_helpdesk_person_cannot_make_themself_or_anyone_an_admin(
    http: TestClient, deployment: Deployment, root: User
) -> None:
    helper = person_with(deployment, "helper", {Role.HELPDESK})
    headers = bearer(deployment, helper)
    attempts: list[tuple[str, dict[str, Any]]] = [
        ("/admin/users/roles", {"username": "helper", "roles": ["admin"]}),
        ("/admin/users", {"username": "mallory", "is_admin": True}),
        ("/admin/users/disable", {"username": "root"}),
        (
            "/admin/clients",
            {"name": "evil", "kind": "native", "redirect_uris": ["http://127.0.0.1/cb"]},
        ),
        ("/admin/kiosk-groups/set", {"name": "lobby", "shift_hours": 12}),
        ("/admin/sessions/revoke", {"sid": "x"}),
        ("/admin/otp/totp", {"username": "helper"}),
        ("/admin/fido2/unsuspend", {"credential_id": "AAAA"}),
    ]
    for path, body in attempts:
        response = http.post(path, json=body, headers=headers)
        assert response.status_code == 403, (path, response.text)
        assert response.json()["error"] == "insufficient_role"
    assert deployment.store.find_user("mallory") is None
    with deployment.store.read() as tx:
        assert roles_of(tx.connection, helper.id) == {Role.HELPDESK}
    assert deployment.store.find_user("root") is not None
    assert deployment.store.find_user("root").enabled  # type: ignore[union-attr]
    logged = refusals(deployment)
    assert [e["detail"]["operation"] for e in logged] == [f"POST {p}" for p, _ in attempts]
    assert all(e["detail"]["roles"] == ["helpdesk"] for e in logged)


def test_an_enroller_cannot_enroll_a_factor_for_an_admin(
    http: TestClient, deployment: Deployment, root: User
) -> None:
    enroller = person_with(deployment, "enroller", {Role.ENROLLER})
    add_user(deployment, "alice")
    headers = bearer(deployment, enroller)
    for_admin = http.post("/admin/otp/totp", json={"username": "root"}, headers=headers)
    assert for_admin.status_code == 403
    assert for_admin.json()["error_description"] == (
        "Only an admin may do this for an administrator (root): this needs the role admin."
    )
    key = http.post("/admin/fido2/register/begin", json={"username": "root"}, headers=headers)
    assert key.status_code == 403
    # The guard reads the body as the endpoint will: a repeated member, escapes.
    for raw in (
        b'{"username": "alice", "username": "root"}',
        b'{"username": "r\\u006f\\u006ft"}',
    ):
        sneaky = http.post(
            "/admin/otp/totp",
            content=raw,
            headers={**headers, "content-type": "application/json"},
        )
        assert sneaky.status_code == 403, (raw, sneaky.text)
    assert (
        http.post("/admin/otp/totp", json={"username": "alice"}, headers=headers).status_code == 201
    )
    # Nothing was enrolled for root; alice has her app.
    listed = http.get("/admin/otp/credentials", headers=headers).json()
    owners = [c["username"] for c in listed["credentials"]]
    assert owners == ["alice"]
    logged = refusals(deployment)
    assert [e["detail"]["target"] for e in logged] == ["root"] * 4
    # Another admin may.
    assert (
        http.post(
            "/admin/otp/totp", json={"username": "root"}, headers=bearer(deployment, root)
        ).status_code
        == 201
    )


def test_a_helpdesk_person_cannot_unlock_or_hand_a_code_to_an_admin(
    http: TestClient, deployment: Deployment, root: User
) -> None:
    helper = person_with(deployment, "helper", {Role.HELPDESK})
    add_user(deployment, "alice")
    headers = bearer(deployment, helper)
    code = http.post("/admin/access-codes", json={"username": "root"}, headers=headers)
    assert code.status_code == 403
    assert "code" not in code.json()
    unlock = http.post("/admin/otp/unlock", json={"username": "root"}, headers=headers)
    assert unlock.status_code == 403
    assert (
        http.post("/admin/otp/unlock", json={"username": "alice"}, headers=headers).status_code
        == 200
    )
    assert (
        http.post("/admin/access-codes", json={"username": "alice"}, headers=headers).status_code
        == 201
    )
    issued = [e for e in deployment.store.audit_entries() if e["event"] == "access_code_issued"]
    assert [e["username"] for e in issued] == ["alice"]


def test_a_role_taken_away_stops_the_token_already_issued(
    http: TestClient, deployment: Deployment, root: User
) -> None:
    helper = person_with(deployment, "helper", {Role.HELPDESK})
    headers = bearer(deployment, helper)
    assert http.get("/admin/audit", headers=headers).status_code == 200
    taken = http.post(
        "/admin/users/roles",
        json={"username": "helper", "roles": ["enroller"]},
        headers=bearer(deployment, root),
    )
    assert taken.json() == {"username": "helper", "roles": ["enroller"]}
    refused = http.get("/admin/audit", headers=headers)
    assert refused.status_code == 403
    assert refused.json()["error_description"].startswith(
        "This needs the role admin or helpdesk; you have enroller."
    )
    none = http.post(
        "/admin/users/roles",
        json={"username": "helper", "roles": []},
        headers=bearer(deployment, root),
    )
    assert none.status_code == 200
    assert http.get("/admin/me", headers=headers).json()["error"] == "insufficient_scope"
    event = next(e for e in deployment.store.audit_entries() if e["event"] == "roles_set")
    assert event["detail"] == {"by": "admin:root", "before": ["helpdesk"], "after": ["enroller"]}


def test_me_names_the_roles_and_the_console_permissions(
    http: TestClient, deployment: Deployment, root: User
) -> None:
    both = person_with(deployment, "both", {Role.HELPDESK, Role.ENROLLER})
    me = http.get("/admin/me", headers=bearer(deployment, both)).json()
    assert me["roles"] == ["enroller", "helpdesk"]
    assert "factors.enroll" in me["permissions"]
    assert "access_codes.issue" in me["permissions"]
    assert "clients.manage" not in me["permissions"]
    admin = http.get("/admin/me", headers=bearer(deployment, root)).json()
    assert admin["roles"] == ["admin"]
    assert "clients.manage" in admin["permissions"]


def test_roles_bad_input_and_an_admin_keeping_their_own_role(
    http: TestClient, deployment: Deployment, root: User
) -> None:
    headers = bearer(deployment, root)
    add_user(deployment, "alice")
    cases: list[tuple[dict[str, Any], int]] = [
        ({"username": "alice", "roles": ["superuser"]}, 400),
        ({"username": "alice", "roles": "admin"}, 400),
        ({"username": "alice", "roles": ["admin"], "extra": 1}, 400),
        ({"username": "nobody", "roles": ["helpdesk"]}, 404),
        ({"username": "root", "roles": ["helpdesk"]}, 409),
    ]
    for body, status in cases:
        response = http.post("/admin/users/roles", json=body, headers=headers)
        assert response.status_code == status, (body, response.text)
    with deployment.store.read() as tx:
        assert roles_of(tx.connection, root.id) == {Role.ADMIN}
    made = http.post(
        "/admin/users/roles", json={"username": "alice", "roles": ["admin"]}, headers=headers
    )
    assert made.status_code == 200
    alice = deployment.store.find_user("alice")
    assert alice is not None
    assert alice.is_admin  # the old flag follows the role


def test_roles_through_a_real_server(server_factory: Callable[..., ServerProcess]) -> None:
    server = server_factory()
    setup = Deployment(server.settings)
    try:
        root = add_user(setup, "root", is_admin=True)
        helper = person_with(setup, "helper", {Role.HELPDESK})
        add_user(setup, "alice")
        admin_headers, helper_headers = bearer(setup, root), bearer(setup, helper)
    finally:
        setup.close()
    with server.client() as http:
        refused = http.post(
            "/admin/users/roles",
            json={"username": "helper", "roles": ["admin"]},
            headers=helper_headers,
        )
        assert refused.status_code == 403
        assert refused.json()["error"] == "insufficient_role"
        issued = http.post(
            "/admin/access-codes", json={"username": "alice"}, headers=helper_headers
        )
        assert issued.status_code == 201
        assert (
            http.post(
                "/login/tac", json={"username": "alice", "code": issued.json()["code"]}
            ).status_code
            == 200
        )
        audit = http.get("/admin/audit", params={"event": "admin_refused"}, headers=admin_headers)
        assert [e["username"] for e in audit.json()["events"]] == ["helper"]


def test_manage_user_role_gives_and_takes_the_built_in_roles(
    http: TestClient, deployment: Deployment
) -> None:
    alice = add_user(deployment, "alice")
    db = deployment.settings.db
    given = run_tokenstile("manage", "--db", db, "user", "role", "alice", "helpdesk")
    assert (given.returncode, given.stdout.strip()) == (0, "alice's roles: helpdesk.")
    me = http.get("/admin/me", headers=bearer(deployment, alice))
    assert me.json()["roles"] == ["helpdesk"]
    assert run_tokenstile("manage", "--db", db, "user", "role", "alice", "admin").returncode == 0
    found = deployment.store.find_user("alice")
    assert found is not None
    assert found.is_admin  # the old flag follows the role
    taken = run_tokenstile("manage", "--db", db, "user", "role", "alice", "admin", "--remove")
    assert taken.stdout.strip() == "alice's roles: helpdesk."
    found = deployment.store.find_user("alice")
    assert found is not None
    assert not found.is_admin
    refused = http.get("/admin/clients", headers=bearer(deployment, found))
    assert refused.status_code == 403
