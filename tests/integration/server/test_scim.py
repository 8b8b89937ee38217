"""SCIM 2.0 provisioning (issue 18) through the ASGI app over httpx: the request shapes of
RFC 7644's examples, every refusal in SCIM's error shape, and the attacks: strangers and
revoked tokens, one client reaching for another's people or for people added by hand,
bad bodies and filters, a PATCH that fails half-way, and disabling that ends sessions."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest
from fastapi.testclient import TestClient
from scim2_models import (
    Context,
    Error,
    Group,
    ListResponse,
    ResourceType,
    Schema,
    ServiceProviderConfig,
)
from sqlalchemy import func, select, update

from tests.conftest import add_user
from tokenstile.clock import FrozenClock
from tokenstile.deployment import DEFAULT_KIOSK_CLIENT_ID, Deployment
from tokenstile.server.app import create_app
from tokenstile.server.scim_routes import MAX_COUNT, MAX_FILTER_CHARS, MAX_SCIM_BYTES, UserResource
from tokenstile.store import schema as t
from tokenstile.store.admin_repository import AdminRepository, DirectoryOwned
from tokenstile.store.scim_repository import ScimTokens

SCIM = "application/scim+json"
USER_SCHEMA = "urn:ietf:params:scim:schemas:core:2.0:User"
GROUP_SCHEMA = "urn:ietf:params:scim:schemas:core:2.0:Group"
ENTERPRISE = "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User"
PATCH_OP = "urn:ietf:params:scim:api:messages:2.0:PatchOp"
ERROR_SCHEMA = "urn:ietf:params:scim:api:messages:2.0:Error"


@pytest.fixture
def http(deployment: Deployment) -> Iterator[TestClient]:
    with TestClient(create_app(deployment), base_url="https://auth.example") as client:
        yield client


def scim_token(dep: Deployment, name: str, roles: tuple[str, ...] = ()) -> dict[str, str]:
    token = ScimTokens(dep.store, clock=dep.clock).create(name, roles=roles, by="test")
    return {"Authorization": f"Bearer {token}", "Content-Type": SCIM}


@pytest.fixture
def okta(deployment: Deployment) -> dict[str, str]:
    return scim_token(deployment, "okta", ("helpdesk",))


def send(http: TestClient, method: str, path: str, auth: dict[str, str], body: Any = None) -> Any:
    content = None if body is None else json.dumps(body)
    return http.request(method, f"/scim/v2{path}", headers=auth, content=content)


def error_of(response: Any, status: int, scim_type: str | None = None) -> str:
    """The detail of a SCIM error answer, after checking its shape (RFC 7644 section 3.12)."""
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith(SCIM)
    body = response.json()
    assert body["schemas"] == [ERROR_SCHEMA]
    assert body["status"] == str(status)
    assert body.get("scimType") == scim_type
    error = Error.model_validate(body)
    assert error.detail
    return error.detail


def bjensen(**more: Any) -> dict[str, Any]:
    """RFC 7643 section 8.2's "full" user, cut to what a provisioning client sends."""
    return {
        "schemas": [USER_SCHEMA, ENTERPRISE],
        "externalId": "701984",
        "userName": "bjensen@example.com",
        "name": {
            "formatted": "Ms. Barbara J Jensen, III",
            "familyName": "Jensen",
            "givenName": "Barbara",
        },
        "displayName": "Babs Jensen",
        "emails": [{"value": "bjensen@example.com", "type": "work", "primary": True}],
        "active": True,
        ENTERPRISE: {"employeeNumber": "701984", "department": "Tour Operations"},
        **more,
    }


def create(http: TestClient, auth: dict[str, str], body: dict[str, Any]) -> dict[str, Any]:
    made = send(http, "POST", "/Users", auth, body)
    assert made.status_code == 201, made.text
    result: dict[str, Any] = made.json()
    return result


def people_count(dep: Deployment) -> int:
    with dep.store.read() as tx:
        return int(tx.connection.execute(select(func.count()).select_from(t.users)).scalar_one())


def audit(dep: Deployment) -> list[dict[str, Any]]:
    return dep.store.audit_entries()


# -- the RFC 7644 shapes ----------------------------------------------------------------


def test_a_user_is_created_read_found_replaced_patched_and_disabled(
    http: TestClient, deployment: Deployment, okta: dict[str, str]
) -> None:
    made = send(http, "POST", "/Users", okta, bjensen())
    assert made.status_code == 201, made.text
    assert made.headers["content-type"].startswith(SCIM)
    user = UserResource.model_validate(made.json(), scim_ctx=Context.RESOURCE_CREATION_RESPONSE)
    assert user.id
    assert user.user_name == "bjensen@example.com"
    assert user.active is True
    assert made.headers["location"] == f"https://auth.example/scim/v2/Users/{user.id}"
    assert user.meta is not None
    assert user.meta.location == made.headers["location"]
    assert made.headers["etag"] == user.meta.version == 'W/"1"'
    assert made.json()[ENTERPRISE]["department"] == "Tour Operations"
    found = deployment.store.find_user("bjensen@example.com")
    assert found is not None
    assert found.display_name == "Babs Jensen"
    with deployment.store.read() as tx:
        directory = tx.connection.execute(
            select(t.users.c.directory).where(t.users.c.username == "bjensen@example.com")
        ).scalar_one()
    assert directory == "scim:okta"

    got = send(http, "GET", f"/Users/{user.id}", okta)
    assert got.status_code == 200
    assert got.json() == made.json()

    # RFC 7644 section 3.4.2: a filter; userName is case-insensitive (RFC 7643 4.1.1).
    listed = send(http, "GET", '/Users?filter=userName eq "BJensen@Example.com"', okta)
    page = ListResponse[UserResource].model_validate(listed.json())
    assert (page.total_results, page.start_index, page.items_per_page) == (1, 1, 1)
    assert page.resources is not None
    assert page.resources[0].id == user.id
    by_external = send(http, "GET", '/Users?filter=externalId eq "701984"', okta).json()
    assert by_external["totalResults"] == 1

    # RFC 7644 section 3.5.1: PUT replaces; what it leaves out is gone.
    replaced = send(
        http,
        "PUT",
        f"/Users/{user.id}",
        okta,
        {"schemas": [USER_SCHEMA], "userName": "bjensen@example.com", "name": {"givenName": "Bab"}},
    )
    assert replaced.status_code == 200, replaced.text
    body = replaced.json()
    assert "emails" not in body
    assert ENTERPRISE not in body
    assert "externalId" not in body
    assert body["active"] is True
    assert body["meta"]["version"] == 'W/"2"'
    assert deployment.store.find_user("bjensen@example.com").display_name == "Bab"  # type: ignore[union-attr]

    # RFC 7644 section 3.5.2's examples: add with and without a path, replace, remove.
    patched = send(
        http,
        "PATCH",
        f"/Users/{user.id}",
        okta,
        {
            "schemas": [PATCH_OP],
            "Operations": [
                {
                    "op": "add",
                    "value": {
                        "emails": [{"value": "babs@jensen.org", "type": "home"}],
                        "nickName": "Babs",
                    },
                },
                {"op": "replace", "path": "displayName", "value": "Barbara Jensen"},
                {"op": "remove", "path": "name.givenName"},
                {"op": "add", "path": "externalId", "value": "701985"},
            ],
        },
    )
    assert patched.status_code == 200, patched.text
    body = patched.json()
    assert body["emails"] == [{"value": "babs@jensen.org", "type": "home"}]
    assert (body["nickName"], body["displayName"], body["externalId"]) == (
        "Babs",
        "Barbara Jensen",
        "701985",
    )
    assert "name" not in body or "givenName" not in body["name"]
    assert patched.headers["etag"] == 'W/"3"'

    deleted = send(http, "DELETE", f"/Users/{user.id}", okta)
    assert deleted.status_code == 204
    assert deleted.content == b""
    after = send(http, "GET", f"/Users/{user.id}", okta).json()
    assert after["active"] is False  # disabled, never deleted
    assert deployment.store.find_user("bjensen@example.com").enabled is False  # type: ignore[union-attr]
    events = [(e["event"], e["detail"].get("by")) for e in audit(deployment)]
    assert ("user_added", "scim:okta") in events
    assert ("user_updated", "scim:okta") in events
    assert ("user_disabled", "scim:okta") in events


def test_lists_are_paged_by_start_index_and_count(
    http: TestClient, okta: dict[str, str], deployment: Deployment
) -> None:
    for n in range(5):
        create(http, okta, {"schemas": [USER_SCHEMA], "userName": f"user{n}"})
    add_user(deployment, "by-hand")  # not this client's: never listed

    def page(**params: Any) -> dict[str, Any]:
        answer = http.get("/scim/v2/Users", params=params, headers=okta)
        assert answer.status_code == 200, answer.text
        body: dict[str, Any] = answer.json()
        return body

    everyone = page()
    assert everyone["totalResults"] == 5
    assert [u["userName"] for u in everyone["Resources"]] == [f"user{n}" for n in range(5)]
    second = page(startIndex=2, count=2)
    assert (second["totalResults"], second["startIndex"], second["itemsPerPage"]) == (5, 2, 2)
    assert [u["userName"] for u in second["Resources"]] == ["user1", "user2"]
    assert page(startIndex=5, count=10)["itemsPerPage"] == 1
    assert page(startIndex=9)["itemsPerPage"] == 0
    # RFC 7644 section 3.4.2.4: below 1 reads as 1; a negative count as 0.
    assert page(startIndex=-3, count=1)["Resources"][0]["userName"] == "user0"
    assert page(count=-1)["itemsPerPage"] == 0
    assert page(count=10**6)["itemsPerPage"] == 5  # capped at MAX_COUNT, not refused
    assert MAX_COUNT == 200
    error_of(http.get("/scim/v2/Users?count=ten", headers=okta), 400, "invalidValue")


def test_discovery_describes_what_is_served(http: TestClient, okta: dict[str, str]) -> None:
    config = ServiceProviderConfig.model_validate(
        send(http, "GET", "/ServiceProviderConfig", okta).json()
    )
    assert config.patch is not None
    assert config.patch.supported is True
    assert config.bulk is not None
    assert config.bulk.supported is False
    assert config.filter is not None
    assert config.filter.supported is True
    assert config.etag is not None
    assert config.etag.supported is True
    assert config.authentication_schemes
    assert config.authentication_schemes[0].type == "oauthbearertoken"
    schemas = ListResponse[Schema].model_validate(send(http, "GET", "/Schemas", okta).json())
    assert {s.id for s in schemas.resources or []} == {USER_SCHEMA, ENTERPRISE, GROUP_SCHEMA}
    one = send(http, "GET", f"/Schemas/{USER_SCHEMA}", okta)
    assert Schema.model_validate(one.json()).id == USER_SCHEMA
    types = ListResponse[ResourceType].model_validate(
        send(http, "GET", "/ResourceTypes", okta).json()
    )
    assert {(r.id, r.endpoint) for r in types.resources or []} == {
        ("User", "/Users"),
        ("Group", "/Groups"),
    }
    assert send(http, "GET", "/ResourceTypes/Group", okta).json()["schema"] == GROUP_SCHEMA
    error_of(send(http, "GET", "/ResourceTypes/Printer", okta), 404)
    error_of(send(http, "GET", "/Printers", okta), 404)
    error_of(send(http, "POST", "/Bulk", okta, {}), 501)
    error_of(send(http, "POST", "/Users/.search", okta, {}), 501)
    error_of(send(http, "PATCH", "/Users", okta, {}), 405)


# -- who may ask ------------------------------------------------------------------------


def test_strangers_and_revoked_tokens_are_refused(
    http: TestClient, deployment: Deployment, okta: dict[str, str]
) -> None:
    made = create(http, okta, {"schemas": [USER_SCHEMA], "userName": "kim"})
    tokens = ScimTokens(deployment.store, clock=deployment.clock)
    paths = [("GET", "/Users"), ("GET", f"/Users/{made['id']}"), ("GET", "/Schemas")]
    paths += [("DELETE", f"/Users/{made['id']}"), ("GET", "/ServiceProviderConfig")]
    paths += [("POST", "/Users"), ("GET", "/nothing-here")]
    strangers = [
        {},
        {"Authorization": "Basic b2t0YTpzZWNyZXQ="},
        {"Authorization": "Bearer "},
        {"Authorization": "Bearer tsscim_" + "A" * 43},
        {"Authorization": "Bearer " + okta["Authorization"][7:] + "x"},
        {"Authorization": "Bearer " + "x" * 10_000},
    ]
    for headers in strangers:
        for method, path in paths:
            refused = send(http, method, path, {**headers, "Content-Type": SCIM}, {})
            error_of(refused, 401)
            assert refused.headers["www-authenticate"] == 'Bearer realm="tokenstile-scim"'
    assert tokens.revoke("okta", by="test") is True
    for method, path in paths:
        error_of(send(http, method, path, okta, {}), 401)
    assert deployment.store.find_user("kim").enabled is True  # type: ignore[union-attr]
    assert tokens.revoke("okta", by="test") is False
    assert [(i.name, i.revoked_at is not None, i.people) for i in tokens.tokens()] == [
        ("okta", True, 1)
    ]


def test_a_client_never_touches_people_it_did_not_create(
    http: TestClient, deployment: Deployment, okta: dict[str, str]
) -> None:
    entra = scim_token(deployment, "entra")
    theirs = create(http, okta, {"schemas": [USER_SCHEMA], "userName": "olga"})
    uid = theirs["id"]
    for method, body in [
        ("GET", None),
        ("PUT", {"schemas": [USER_SCHEMA], "userName": "olga", "active": False}),
        (
            "PATCH",
            {
                "schemas": [PATCH_OP],
                "Operations": [{"op": "replace", "path": "active", "value": False}],
            },
        ),
        ("DELETE", None),
    ]:
        assert "olga" not in error_of(send(http, method, f"/Users/{uid}", entra, body), 404)
    assert send(http, "GET", '/Users?filter=userName eq "olga"', entra).json()["totalResults"] == 0
    assert deployment.store.find_user("olga").enabled is True  # type: ignore[union-attr]

    detail = error_of(
        send(http, "POST", "/Users", entra, {"schemas": [USER_SCHEMA], "userName": "olga"}),
        409,
        "uniqueness",
    )
    assert "scim:okta" in detail
    assert "cannot take them over" in detail
    add_user(deployment, "hans")
    detail = error_of(
        send(http, "POST", "/Users", entra, {"schemas": [USER_SCHEMA], "userName": "hans"}),
        409,
        "uniqueness",
    )
    assert "added by hand" in detail
    with deployment.store.write() as tx:
        tx.connection.execute(
            update(t.users).where(t.users.c.username == "hans").values(directory="ldap:corp")
        )
    detail = error_of(
        send(http, "POST", "/Users", entra, {"schemas": [USER_SCHEMA], "userName": "hans"}),
        409,
        "uniqueness",
    )
    assert "'ldap:corp'" in detail
    # externalId is unique among a client's people, not across clients.
    create(http, entra, {"schemas": [USER_SCHEMA], "userName": "e1", "externalId": "X-1"})
    twin = {"schemas": [USER_SCHEMA], "userName": "e2", "externalId": "X-1"}
    assert "X-1" in error_of(send(http, "POST", "/Users", entra, twin), 409, "uniqueness")
    create(http, okta, twin)
    # Renaming one's own person onto someone else's name is the same conflict.
    mine = create(http, entra, {"schemas": [USER_SCHEMA], "userName": "mine"})
    rename = {
        "schemas": [PATCH_OP],
        "Operations": [{"op": "replace", "path": "userName", "value": "hans"}],
    }
    error_of(send(http, "PATCH", f"/Users/{mine['id']}", entra, rename), 409, "uniqueness")
    # A group cannot hold another client's person either.
    group = {"schemas": [GROUP_SCHEMA], "displayName": "staff", "members": [{"value": uid}]}
    assert "not a user of this SCIM client" in error_of(
        send(http, "POST", "/Groups", entra, group), 400, "invalidValue"
    )
    assert send(http, "GET", "/Groups", entra).json()["totalResults"] == 0
    assert deployment.store.find_user("hans").enabled is True  # type: ignore[union-attr]


# -- bad input --------------------------------------------------------------------------


def test_bad_bodies_are_refused_and_write_nothing(
    http: TestClient, deployment: Deployment, okta: dict[str, str]
) -> None:
    before = people_count(deployment)
    raw_cases: list[tuple[bytes, str, int, str | None]] = [
        (b"not json", SCIM, 400, "invalidSyntax"),
        (b"[1, 2]", SCIM, 400, "invalidSyntax"),
        (
            b'{"userName": "a", "userName": "b", "schemas": ["' + USER_SCHEMA.encode() + b'"]}',
            SCIM,
            400,
            "invalidSyntax",
        ),
        (b"[" * 100_000 + b"]" * 100_000, SCIM, 400, "invalidSyntax"),
        (b"\xff\xfe{}", SCIM, 400, "invalidSyntax"),
        (b'{"userName": "x"}', "text/plain", 400, "invalidSyntax"),
        (b" " * (MAX_SCIM_BYTES + 1), SCIM, 413, None),
    ]
    for content, media, status, scim_type in raw_cases:
        headers = {**okta, "Content-Type": media}
        error_of(http.post("/scim/v2/Users", content=content, headers=headers), status, scim_type)

    def chunks() -> Iterator[bytes]:  # no Content-Length: the cap holds while reading
        for _ in range(MAX_SCIM_BYTES // 1024 + 2):
            yield b" " * 1024

    error_of(http.post("/scim/v2/Users", content=chunks(), headers=okta), 413)

    cases: list[tuple[dict[str, Any], str]] = [
        ({"schemas": [USER_SCHEMA], "userName": "x", "shoeSize": 44}, "invalidSyntax"),
        ({"schemas": [USER_SCHEMA], "userName": 5}, "invalidValue"),
        ({"schemas": [USER_SCHEMA]}, "invalidValue"),
        ({"schemas": [USER_SCHEMA], "userName": ""}, "invalidValue"),
        ({"schemas": [USER_SCHEMA], "userName": "two words"}, "invalidValue"),
        ({"schemas": [USER_SCHEMA], "userName": "zero\u200bwidth"}, "invalidValue"),
        ({"schemas": [USER_SCHEMA], "userName": "nul\u0000"}, "invalidValue"),
        ({"schemas": [USER_SCHEMA], "userName": "x" * 129}, "invalidValue"),
        ({"schemas": [USER_SCHEMA], "userName": "x", "active": "maybe"}, "invalidValue"),
        ({"schemas": [USER_SCHEMA], "userName": "x", "displayName": "a\nb"}, "invalidValue"),
        ({"schemas": [USER_SCHEMA], "userName": "x", "externalId": "e" * 257}, "invalidValue"),
        ({"schemas": [USER_SCHEMA], "userName": "x", "emails": "not a list"}, "invalidValue"),
        ({"schemas": [GROUP_SCHEMA], "userName": "x"}, "invalidSyntax"),
    ]
    for body, scim_type in cases:
        refused = send(http, "POST", "/Users", okta, body)
        assert refused.status_code == 400, (body, refused.text)
        assert refused.json().get("scimType") == scim_type, (body, refused.text)
    assert people_count(deployment) == before
    # A password is accepted (IdPs send one) but never stored nor returned.
    made = create(http, okta, {"schemas": [USER_SCHEMA], "userName": "pw", "password": "hunter2"})
    assert "password" not in made
    with deployment.store.read() as tx:
        stored = tx.connection.execute(select(t.scim_users.c.profile)).scalars().all()
    assert not any("hunter2" in text for text in stored)


def test_filters_are_a_small_strict_grammar(
    http: TestClient, deployment: Deployment, okta: dict[str, str]
) -> None:
    create(http, okta, {"schemas": [USER_SCHEMA], "userName": "ann"})
    create(http, okta, {"schemas": [USER_SCHEMA], "userName": 'quo"te'})

    def listing(text: str) -> Any:
        return http.get("/scim/v2/Users", params={"filter": text}, headers=okta)

    assert listing('userName eq "ann"').json()["totalResults"] == 1
    assert listing('USERNAME EQ "ann"').json()["totalResults"] == 1
    assert listing('userName eq "quo\\"te"').json()["totalResults"] == 1
    # A value is a bound parameter: SQL in it is only text that matches nobody.
    for sneaky in ('ann\\" OR 1=1 --', "ann' OR '1'='1", "%", "_nn", "ann%"):
        found = listing(f'userName eq "{sneaky}"')
        assert found.status_code == 200, sneaky
        assert found.json()["totalResults"] == 0, sneaky
    for bad in [
        'userName eq "ann" or userName eq "bob"',
        'userName sw "a"',
        'userName co "a"',
        "userName pr",
        'emails[type eq "work"]',
        'name.givenName eq "ann"',
        'password eq "x"',
        "userName eq ann",
        'userName eq "ann',
        'userName eq "\\u0000"',
        'userName eq "a\\q"',
        "",
        'userName eq "' + "a" * MAX_FILTER_CHARS + '"',
    ]:
        error_of(listing(bad), 400, "invalidFilter")
    assert "longer than" in error_of(listing("x" * 10_000), 400, "invalidFilter")
    group_filter = http.get("/scim/v2/Groups", params={"filter": 'userName eq "x"'}, headers=okta)
    error_of(group_filter, 400, "invalidFilter")


# -- all or nothing, and what disabling does ----------------------------------------------


def _sign_in(dep: Deployment, username: str) -> str:
    """A kiosk session of ``username``: its refresh token."""
    user = dep.store.find_user(username)
    client = dep.store.find_client(DEFAULT_KIOSK_CLIENT_ID)
    assert user is not None
    assert client is not None
    issued = dep.token_service().sessions.open_session(
        user=user, client=client, factor="otp", amr=["otp"], acr="otp"
    )
    assert issued.refresh_token
    return issued.refresh_token


def _refresh(http: TestClient, refresh_token: str) -> Any:
    return http.post(
        "/token",
        data={
            "grant_type": "refresh_token",
            "refresh_token": refresh_token,
            "client_id": DEFAULT_KIOSK_CLIENT_ID,
        },
    )


def test_a_patch_that_fails_half_way_changes_nothing(
    http: TestClient, deployment: Deployment, okta: dict[str, str]
) -> None:
    made = create(http, okta, bjensen(userName="babs"))
    add_user(deployment, "taken")
    refresh_token = _sign_in(deployment, "babs")
    before = send(http, "GET", f"/Users/{made['id']}", okta).json()
    audit_rows = len(audit(deployment))
    off = {"op": "replace", "path": "active", "value": False}
    failing: list[tuple[list[dict[str, Any]], int, str | None]] = [
        # valid for the model, refused by the store after the first ops were applied
        (
            [
                off,
                {"op": "replace", "path": "displayName", "value": "Gone"},
                {"op": "replace", "path": "userName", "value": "taken"},
            ],
            409,
            "uniqueness",
        ),
        ([off, {"op": "replace", "path": "nickName", "value": 7}], 400, "invalidValue"),
        ([off, {"op": "add", "path": "shoeSize", "value": 44}], 400, "invalidPath"),
        ([off, {"op": "remove", "path": "userName"}], 400, "mutability"),
        ([off, {"op": "replace", "path": "id", "value": "mine-now"}], 400, "mutability"),
        ([off, {"op": "replace", "path": "groups", "value": []}], 400, "mutability"),
        ([off, {"op": "remove"}], 400, "noTarget"),
        ([off, {"op": "delete", "path": "displayName"}], 400, "invalidValue"),
        ([off, {"op": "replace", "path": "userName", "value": "has space"}], 400, "invalidValue"),
        ([], 400, "invalidValue"),
    ]
    for operations, status, scim_type in failing:
        body = {"schemas": [PATCH_OP], "Operations": operations}
        refused = send(http, "PATCH", f"/Users/{made['id']}", okta, body)
        error_of(refused, status, scim_type)
    assert send(http, "GET", f"/Users/{made['id']}", okta).json() == before
    assert len(audit(deployment)) == audit_rows
    assert _refresh(http, refresh_token).status_code == 200  # the session still lives


def test_disabling_ends_every_session_and_enabling_lets_them_in_again(
    http: TestClient, deployment: Deployment, okta: dict[str, str], clock: FrozenClock
) -> None:
    made = create(http, okta, {"schemas": [USER_SCHEMA], "userName": "dora"})
    create(http, okta, {"schemas": [USER_SCHEMA], "userName": "eve"})
    doras = [_sign_in(deployment, "dora") for _ in range(2)]
    eves = _sign_in(deployment, "eve")
    # Microsoft Entra's shape: op capitalised, the value a string.
    entra_style = {
        "schemas": [PATCH_OP],
        "Operations": [{"op": "Replace", "path": "active", "value": "False"}],
    }
    patched = send(http, "PATCH", f"/Users/{made['id']}", okta, entra_style)
    assert patched.status_code == 200, patched.text
    assert patched.json()["active"] is False
    for token in doras:
        refused = _refresh(http, token)
        assert (refused.status_code, refused.json()["error"]) == (400, "invalid_grant")
    assert _refresh(http, eves).status_code == 200
    revoked = [e for e in audit(deployment) if e["event"] == "session_revoked"]
    assert len(revoked) == 2
    assert {e["detail"]["by"] for e in revoked} == {"scim:okta"}
    disabled = [e for e in audit(deployment) if e["event"] == "user_disabled"]
    assert disabled[-1]["detail"] == {"by": "scim:okta", "sessions_revoked": 2}
    # Enabling here a person the SCIM client disabled is refused, naming the client.
    admin = AdminRepository(deployment.store, clock=deployment.clock)
    with pytest.raises(DirectoryOwned, match="scim:okta"):
        admin.set_enabled("dora", True, by="admin", origin=None)
    # Okta's shape: no path, the attributes in the value.
    clock.advance(1)
    okta_style = {
        "schemas": [PATCH_OP],
        "Operations": [{"op": "replace", "value": {"active": True}}],
    }
    assert send(http, "PATCH", f"/Users/{made['id']}", okta, okta_style).json()["active"] is True
    assert deployment.store.find_user("dora").enabled is True  # type: ignore[union-attr]
    assert _refresh(http, _sign_in(deployment, "dora")).status_code == 200
    # So does a PUT without active: true, whatever else it says.
    put = {"schemas": [USER_SCHEMA], "userName": "dora", "active": False}
    in_again = _sign_in(deployment, "dora")
    assert send(http, "PUT", f"/Users/{made['id']}", okta, put).json()["active"] is False
    assert _refresh(http, in_again).status_code == 400
    assert send(http, "PATCH", f"/Users/{made['id']}", okta, okta_style).status_code == 200
    # DELETE disables too, and ends the new session.
    again = _sign_in(deployment, "dora")
    assert send(http, "DELETE", f"/Users/{made['id']}", okta).status_code == 204
    assert _refresh(http, again).status_code == 400


def test_if_match_refuses_a_stale_version(
    http: TestClient, deployment: Deployment, okta: dict[str, str]
) -> None:
    made = create(http, okta, {"schemas": [USER_SCHEMA], "userName": "ivy"})
    body = {
        "schemas": [PATCH_OP],
        "Operations": [{"op": "replace", "path": "nickName", "value": "I"}],
    }
    first = http.patch(
        f"/scim/v2/Users/{made['id']}",
        content=json.dumps(body),
        headers={**okta, "If-Match": 'W/"1"'},
    )
    assert first.status_code == 200
    assert first.headers["etag"] == 'W/"2"'
    stale = http.patch(
        f"/scim/v2/Users/{made['id']}",
        content=json.dumps(body),
        headers={**okta, "If-Match": 'W/"1"'},
    )
    error_of(stale, 412)
    error_of(http.delete(f"/scim/v2/Users/{made['id']}", headers={**okta, "If-Match": '"x"'}), 412)
    assert deployment.store.find_user("ivy").enabled is True  # type: ignore[union-attr]


# -- groups and roles --------------------------------------------------------------------


def roles_of(dep: Deployment, username: str) -> set[str]:
    r, u = t.user_roles, t.users
    with dep.store.read() as tx:
        return set(
            tx.connection.execute(
                select(r.c.role)
                .select_from(r.join(u, u.c.id == r.c.user_id))
                .where(u.c.username == username)
            ).scalars()
        )


def test_groups_carry_roles_the_client_may_grant_and_no_others(
    http: TestClient, deployment: Deployment, okta: dict[str, str]
) -> None:
    ann = create(http, okta, {"schemas": [USER_SCHEMA], "userName": "ann"})
    bob = create(http, okta, {"schemas": [USER_SCHEMA], "userName": "bob"})
    # RFC 7643 section 8.4's group.
    helpdesk = send(
        http,
        "POST",
        "/Groups",
        okta,
        {
            "schemas": [GROUP_SCHEMA],
            "displayName": "Tokenstile-Helpdesk",
            "members": [{"value": ann["id"], "display": "Ann"}],
        },
    )
    assert helpdesk.status_code == 201, helpdesk.text
    group = Group.model_validate(helpdesk.json(), scim_ctx=Context.RESOURCE_CREATION_RESPONSE)
    assert group.members is not None
    assert [m.value for m in group.members] == [ann["id"]]
    assert roles_of(deployment, "ann") == {"helpdesk"}
    got = send(http, "GET", f"/Users/{ann['id']}", okta).json()
    assert got["groups"][0]["value"] == group.id
    # A role this client may not grant is never given, whatever the group is called.
    admins = send(
        http,
        "POST",
        "/Groups",
        okta,
        {"schemas": [GROUP_SCHEMA], "displayName": "admin", "members": [{"value": bob["id"]}]},
    )
    assert admins.status_code == 201
    assert roles_of(deployment, "bob") == set()

    # RFC 7644 section 3.5.2.1 and 3.5.2.2: add a member; remove one by a value filter.
    add_bob = {
        "schemas": [PATCH_OP],
        "Operations": [{"op": "add", "path": "members", "value": [{"value": bob["id"]}]}],
    }
    added = send(http, "PATCH", f"/Groups/{group.id}", okta, add_bob)
    assert added.status_code == 200, added.text
    assert roles_of(deployment, "bob") == {"helpdesk"}
    # One foreign member in a PATCH: none of it is applied, no role changes.
    outsider = create(
        http, scim_token(deployment, "other"), {"schemas": [USER_SCHEMA], "userName": "out"}
    )
    mixed = {
        "schemas": [PATCH_OP],
        "Operations": [
            {"op": "replace", "path": "displayName", "value": "renamed"},
            {"op": "add", "path": "members", "value": [{"value": outsider["id"]}]},
        ],
    }
    before_mixed = send(http, "GET", f"/Groups/{group.id}", okta).json()
    error_of(send(http, "PATCH", f"/Groups/{group.id}", okta, mixed), 400, "invalidValue")
    assert send(http, "GET", f"/Groups/{group.id}", okta).json() == before_mixed
    assert roles_of(deployment, "bob") == {"helpdesk"}
    assert roles_of(deployment, "out") == set()
    remove_ann = {
        "schemas": [PATCH_OP],
        "Operations": [{"op": "remove", "path": f'members[value eq "{ann["id"]}"]'}],
    }
    removed = send(http, "PATCH", f"/Groups/{group.id}", okta, remove_ann)
    assert [m["value"] for m in removed.json()["members"]] == [bob["id"]]
    assert roles_of(deployment, "ann") == set()
    # A role given by hand is not the client's to take.
    with deployment.store.write() as tx:
        ann_id = tx.connection.execute(
            select(t.users.c.id).where(t.users.c.username == "ann")
        ).scalar_one()
        tx.connection.execute(
            t.user_roles.insert().values(user_id=ann_id, role="enroller", granted_at=0)
        )
    rename = {
        "schemas": [PATCH_OP],
        "Operations": [{"op": "replace", "path": "displayName", "value": "Support"}],
    }
    assert send(http, "PATCH", f"/Groups/{group.id}", okta, rename).status_code == 200
    assert roles_of(deployment, "bob") == set()
    assert roles_of(deployment, "ann") == {"enroller"}
    listed = send(http, "GET", '/Groups?filter=displayName eq "support"', okta).json()
    assert listed["totalResults"] == 1
    assert send(http, "DELETE", f"/Groups/{group.id}", okta).status_code == 204
    error_of(send(http, "GET", f"/Groups/{group.id}", okta), 404)
    bad = {"schemas": [GROUP_SCHEMA], "displayName": "x", "members": [{"value": "no-such-id"}]}
    error_of(send(http, "POST", "/Groups", okta, bad), 400, "invalidValue")
    error_of(send(http, "POST", "/Groups", okta, {"schemas": [GROUP_SCHEMA]}), 400, "invalidValue")
    grants = [e for e in audit(deployment) if e["event"] in ("role_granted", "role_removed")]
    assert {e["detail"]["by"] for e in grants} == {"scim:okta"}
