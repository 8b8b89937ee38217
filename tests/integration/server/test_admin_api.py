"""The people, sessions and audit admin API and ``GET /login/factors``: through the ASGI app
(SQLite, and the store queries on PostgreSQL too) and through a real server process."""

from __future__ import annotations

import base64
import csv
import io
import json
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat
from fastapi.testclient import TestClient
from sqlalchemy import insert

from tests.admin_tokens import new_admin_headers, token_for
from tests.conftest import ServerProcess, add_user, make_deployment
from tests.unit.factors.webauthn_keys import Kiosk
from tokenstile.clock import FrozenClock, SystemClock
from tokenstile.deployment import DEFAULT_KIOSK_CLIENT_ID, Deployment
from tokenstile.factors.otp import totp_code
from tokenstile.server.admin_routes import csv_cell
from tokenstile.server.app import create_app
from tokenstile.store import schema as t
from tokenstile.store.admin_repository import AdminRepository, AuditFilter

SEED = b"12345678901234567890"
SEED_B32 = base64.b32encode(SEED).decode()


@pytest.fixture
def http(deployment: Deployment) -> Iterator[TestClient]:
    with TestClient(create_app(deployment), base_url="https://auth.example") as client:
        yield client


@pytest.fixture
def admin(deployment: Deployment) -> dict[str, str]:
    return new_admin_headers(deployment)


def enroll_totp(http: TestClient, admin: dict[str, str], username: str, serial: str) -> None:
    made = http.post(
        "/admin/otp/totp",
        json={"username": username, "secret": SEED_B32, "serial": serial},
        headers=admin,
    )
    assert made.status_code == 201, made.text


def totp_login(http: Any, username: str, at: float) -> dict[str, Any]:
    response = http.post("/login/totp", json={"username": username, "code": totp_code(SEED, at)})
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


def refresh(http: Any, refresh_token: str) -> Any:
    return http.post(
        "/token",
        data={
            "grant_type": "refresh_token",
            "refresh_token": refresh_token,
            "client_id": DEFAULT_KIOSK_CLIENT_ID,
        },
    )


ROUTES: list[tuple[str, str, dict[str, Any] | None]] = [
    ("GET", "/admin/users", None),
    ("POST", "/admin/users", {"username": "zed"}),
    ("POST", "/admin/users/disable", {"username": "alice"}),
    ("POST", "/admin/users/enable", {"username": "alice"}),
    ("GET", "/admin/sessions", None),
    ("POST", "/admin/sessions/revoke", {"sid": "x"}),
    ("GET", "/admin/audit", None),
    ("GET", "/admin/audit/export", None),
]


def test_every_route_wants_a_live_admin_token(
    http: TestClient, deployment: Deployment, clock: FrozenClock
) -> None:
    alice = add_user(deployment, "alice")
    root = add_user(deployment, "root", is_admin=True)
    plain = {"Authorization": f"Bearer {token_for(deployment, alice)}"}
    no_scope = {"Authorization": f"Bearer {token_for(deployment, root, DEFAULT_KIOSK_CLIENT_ID)}"}
    soon_expired = {"Authorization": f"Bearer {token_for(deployment, root)}"}
    good = {"Authorization": f"Bearer {token_for(deployment, root)}"}
    for method, path, body in ROUTES:
        missing = http.request(method, path, json=body)
        assert missing.status_code == 401, path
        assert missing.headers["www-authenticate"] == 'Bearer realm="tokenstile"'
        assert missing.json()["error"] == "invalid_request"
        garbage = http.request(method, path, json=body, headers={"Authorization": "Bearer a.b.c"})
        assert (garbage.status_code, garbage.json()["error"]) == (401, "invalid_token"), path
        for headers in (plain, no_scope):
            refused = http.request(method, path, json=body, headers=headers)
            assert (refused.status_code, refused.json()["error"]) == (403, "insufficient_scope")
        # Refused before the body or the query is looked at.
        bad = http.request(method, path + "?limit=-5", content=b"{", headers=plain)
        assert bad.status_code == 403, path
    assert http.get("/admin/users", headers=good).status_code == 200
    clock.advance(deployment.settings.access_token_lifetime + 1)
    for method, path, body in ROUTES:
        expired = http.request(method, path, json=body, headers=soon_expired)
        assert (expired.status_code, expired.json()["error"]) == (401, "invalid_token"), path
    assert not any(e["event"] == "user_added" and e["username"] == "zed" for e in audit(deployment))


def audit(dep: Deployment) -> list[dict[str, Any]]:
    return dep.store.audit_entries()


def test_people_are_added_found_and_counted(
    http: TestClient, deployment: Deployment, admin: dict[str, str]
) -> None:
    def add(**body: Any) -> Any:
        return http.post("/admin/users", json=body, headers=admin)

    made = add(username="alice", display_name="  Alice Liddell ")
    assert made.status_code == 201
    assert made.headers["cache-control"] == "no-store"
    assert made.json() == {
        "username": "alice",
        "display_name": "Alice Liddell",
        "is_admin": False,
        "enabled": True,
        "created_at": deployment.clock.now(),
        "factors": {"fido2": 0, "piv": 0, "otp": 0},
        "directory": None,
    }
    assert add(username="bob", display_name="Bob Builder", is_admin=True).json()["is_admin"]
    assert add(username="carol").status_code == 201
    taken = add(username="alice")
    assert (taken.status_code, taken.json()["error"]) == (409, "conflict")
    assert taken.json()["error_description"] == "The username 'alice' is taken."
    for bad in (
        {"username": "al ice"},
        {"username": ""},
        {"username": "a" * 129},
        {"username": "ali\u200bce"},
        {"username": "ali\x00ce"},
        {"username": "alice2", "display_name": "tab\there"},
        {"username": "alice2", "surprise": True},
        {"username": 7},
        {},
    ):
        refused = add(**bad)
        assert (refused.status_code, refused.json()["error"]) == (400, "invalid_request"), bad
    wrong_type = http.post("/admin/users", content=b"username=x", headers=admin)
    assert wrong_type.status_code == 400
    added = [e for e in audit(deployment) if e["event"] == "user_added" and e["detail"].get("by")]
    assert [(e["username"], e["detail"]) for e in added] == [
        ("alice", {"admin": False, "by": "admin:root"}),
        ("bob", {"admin": True, "by": "admin:root"}),
        ("carol", {"admin": False, "by": "admin:root"}),
    ]

    enroll_totp(http, admin, "alice", "FOB-1")
    enroll_totp(http, admin, "alice", "FOB-2")

    def find(**params: Any) -> Any:
        response = http.get("/admin/users", params=params, headers=admin)
        assert response.status_code == 200, response.text
        return response.json()

    everyone = find()
    assert [u["username"] for u in everyone["users"]] == ["alice", "bob", "carol", "root"]
    assert everyone["total"] == 4
    assert everyone["users"][0]["factors"] == {"fido2": 0, "piv": 0, "otp": 2}
    assert [u["username"] for u in find(q="BUILD")["users"]] == ["bob"]  # display name, any case
    assert [u["username"] for u in find(q="o")["users"]] == ["bob", "carol", "root"]
    assert find(q="%")["users"] == []  # LIKE wildcards are literal
    page = find(limit=2, offset=1)
    assert ([u["username"] for u in page["users"]], page["total"]) == (["bob", "carol"], 4)
    http.post("/admin/users/disable", json={"username": "carol"}, headers=admin)
    active = find(include_disabled="false")
    assert ([u["username"] for u in active["users"]], active["total"]) == (
        ["alice", "bob", "root"],
        3,
    )
    for bad_query in (
        "limit=0",
        "limit=501",
        "limit=ten",
        "offset=-1",
        "offset=99999999999999999999",
        "include_disabled=maybe",
        "q=" + "x" * 129,
        "q=a%00b",
    ):
        refused = http.get(f"/admin/users?{bad_query}", headers=admin)
        assert (refused.status_code, refused.json()["error"]) == (400, "invalid_request"), bad_query


def test_disabling_revokes_sessions_so_a_refresh_fails(
    http: TestClient, deployment: Deployment, admin: dict[str, str], clock: FrozenClock
) -> None:
    add_user(deployment, "alice")
    add_user(deployment, "bob")
    enroll_totp(http, admin, "alice", "FOB-A")
    enroll_totp(http, admin, "bob", "FOB-B")
    first = totp_login(http, "alice", clock.now())
    clock.advance(30)
    second = totp_login(http, "alice", clock.now())
    bobs = totp_login(http, "bob", clock.now())

    def sessions(**params: Any) -> list[dict[str, Any]]:
        response = http.get("/admin/sessions", params=params, headers=admin)
        assert response.status_code == 200, response.text
        found: list[dict[str, Any]] = response.json()["sessions"]
        return found

    alices = sessions(username="alice")
    assert len(alices) == 2
    assert alices[0]["created_at"] > alices[1]["created_at"]  # newest first
    assert alices[0]["factor"] == "otp"
    assert (alices[0]["acr"], alices[0]["amr"], alices[0]["active"]) == ("otp", ["otp"], True)
    assert {s["username"] for s in sessions()} == {"alice", "bob", "root"}

    disabled = http.post("/admin/users/disable", json={"username": "alice"}, headers=admin)
    assert disabled.status_code == 200
    assert disabled.json()["enabled"] is False
    assert sessions(username="alice") == []
    ended = sessions(username="alice", active_only="false")
    assert {(s["revoke_reason"], s["active"]) for s in ended} == {("user_disabled", False)}
    for grant in (first, second):
        refused = refresh(http, grant["refresh_token"])
        assert (refused.status_code, refused.json()["error"]) == (400, "invalid_grant")
    assert refresh(http, bobs["refresh_token"]).status_code == 200
    revoked_rows = [e for e in audit(deployment) if e["event"] == "session_revoked"]
    assert {e["sid"] for e in revoked_rows} == {s["sid"] for s in ended}
    assert {e["detail"]["by"] for e in revoked_rows} == {"admin:root"}
    disabled_row = next(e for e in audit(deployment) if e["event"] == "user_disabled")
    assert disabled_row["detail"] == {"by": "admin:root", "sessions_revoked": 2}

    enabled = http.post("/admin/users/enable", json={"username": "alice"}, headers=admin)
    assert enabled.json()["enabled"] is True
    assert refresh(http, second["refresh_token"]).status_code == 400  # still revoked
    clock.advance(30)
    assert totp_login(http, "alice", clock.now())["access_token"]

    itself = http.post("/admin/users/disable", json={"username": "root"}, headers=admin)
    assert (itself.status_code, itself.json()["error"]) == (409, "conflict")
    unknown = http.post("/admin/users/enable", json={"username": "nobody"}, headers=admin)
    assert (unknown.status_code, unknown.json()["error"]) == (404, "not_found")
    blank = http.post("/admin/users/disable", json={"username": ""}, headers=admin)
    assert blank.status_code == 400

    # One session by its id.
    bob_sid = sessions(username="bob")[0]["sid"]
    done = http.post("/admin/sessions/revoke", json={"sid": bob_sid}, headers=admin)
    assert done.json() == {"revoked": True}
    again = http.post("/admin/sessions/revoke", json={"sid": bob_sid}, headers=admin)
    assert again.json() == {"revoked": False}
    assert refresh(http, bobs["refresh_token"]).status_code == 400
    row = [e for e in audit(deployment) if e["event"] == "session_revoked"][-1]
    assert (row["sid"], row["username"], row["detail"]) == (
        bob_sid,
        "bob",
        {"by": "admin:root", "reason": "admin"},
    )
    [own] = sessions(username="root")
    mine = http.post("/admin/sessions/revoke", json={"sid": own["sid"]}, headers=admin)
    assert (mine.status_code, mine.json()["error"]) == (409, "conflict")
    missing = http.post("/admin/sessions/revoke", json={"sid": "nope"}, headers=admin)
    assert (missing.status_code, missing.json()["error"]) == (404, "not_found")
    for bad in ({"sid": ""}, {"sid": "x" * 65}, {"sid": None}, {"sids": ["x"]}):
        assert http.post("/admin/sessions/revoke", json=bad, headers=admin).status_code == 400
    for bad_query in ("limit=0", "limit=501", "active_only=perhaps", "username=a%00"):
        refused = http.get(f"/admin/sessions?{bad_query}", headers=admin)
        assert (refused.status_code, refused.json()["error"]) == (400, "invalid_request")


def seed_audit(dep: Deployment, rows: list[dict[str, Any]]) -> None:
    defaults = {"username": None, "client_id": None, "sid": None, "factor": None, "origin": None}
    with dep.store.write() as tx:
        tx.connection.execute(
            insert(t.audit), [{**defaults, "detail": "{}", **row} for row in rows]
        )


def test_the_audit_log_is_filtered_and_paged_newest_first(
    http: TestClient, deployment: Deployment, admin: dict[str, str]
) -> None:
    base = 1_900_000_000.0
    seed_audit(
        deployment,
        [
            {
                "at": base + i,
                "event": "login" if i % 3 else "revoke",
                "outcome": "failure" if i % 4 == 0 else "success",
                "username": "alice" if i % 2 else "bob",
                "detail": json.dumps({"n": i}),
            }
            for i in range(20)
        ],
    )

    def page(**params: Any) -> dict[str, Any]:
        response = http.get("/admin/audit", params=params, headers=admin)
        assert response.status_code == 200, response.text
        body: dict[str, Any] = response.json()
        return body

    newest = page(limit=3)
    assert [e["detail"]["n"] for e in newest["events"]] == [19, 18, 17]
    assert newest["next_before_id"] == newest["events"][-1]["id"]
    assert set(newest["events"][0]) == {
        "id",
        "at",
        "event",
        "outcome",
        "username",
        "client_id",
        "sid",
        "factor",
        "origin",
        "detail",
    }
    assert newest["events"][0]["at"] == base + 19

    seen: list[int] = []
    pages = 0
    before: int | None = None
    while True:
        pages += 1
        params: dict[str, Any] = {"username": "alice", "limit": 5, "since": base}
        if before is not None:
            params["before_id"] = before
        got = page(**params)
        seen += [e["detail"]["n"] for e in got["events"]]
        before = got["next_before_id"]
        if before is None:
            break
    assert seen == list(range(19, 0, -2))  # no gaps, no repeats
    assert pages == 2  # the second page was known to be the last

    window = page(since=base + 5, until=base + 10)
    assert [e["detail"]["n"] for e in window["events"]] == [9, 8, 7, 6, 5]
    assert window["next_before_id"] is None
    failed_logins = page(event="login", outcome="failure", since=base)
    assert [e["detail"]["n"] for e in failed_logins["events"]] == [16, 8, 4]
    assert page(event="nothing-like-this")["events"] == []
    assert page(since=base + 5, until=base)["events"] == []  # an empty window, not an error

    for bad_query in (
        "outcome=bogus",
        "since=nan",
        "since=inf",
        "since=-1",
        "until=1e300",
        "before_id=0",
        f"before_id={2**64}",
        "limit=0",
        "limit=501",
        "event=" + "e" * 65,
        "event=a%00",
        "username=" + "u" * 129,
    ):
        refused = http.get(f"/admin/audit?{bad_query}", headers=admin)
        assert refused.status_code == 400, bad_query
        assert refused.json()["error"] == "invalid_request"


def test_the_audit_export_streams_csv_and_json_lines(
    http: TestClient, deployment: Deployment, admin: dict[str, str]
) -> None:
    base = 1_900_000_000.0
    seed_audit(
        deployment,
        [
            {"at": base + i, "event": "bulk", "outcome": "info", "detail": json.dumps({"n": i})}
            for i in range(1203)  # three batches
        ]
        + [
            {
                "at": base + 5000,
                "event": "login",
                "outcome": "failure",
                "username": '=HYPERLINK("http://x")',
                "origin": "-2+3 @evil",
                "client_id": "+kiosk",
            }
        ],
    )

    csv_export = http.get("/admin/audit/export", params={"format": "csv"}, headers=admin)
    assert csv_export.status_code == 200
    assert csv_export.headers["content-type"] == "text/csv; charset=utf-8"
    disposition = csv_export.headers["content-disposition"]
    assert disposition.startswith('attachment; filename="tokenstile-audit-')
    assert disposition.endswith('.csv"')
    rows = list(csv.DictReader(io.StringIO(csv_export.text)))
    bulk = [r for r in rows if r["event"] == "bulk"]
    assert [int(json.loads(r["detail"])["n"]) for r in bulk] == list(range(1202, -1, -1))
    assert float(bulk[0]["at"]) == base + 1202
    assert bulk[0]["at_utc"].startswith("2030-03-17T")
    risky = next(r for r in rows if r["event"] == "login")
    assert risky["username"] == '\'=HYPERLINK("http://x")'
    assert (risky["origin"], risky["client_id"]) == ("'-2+3 @evil", "'+kiosk")
    ids = [int(r["id"]) for r in rows]
    assert ids == sorted(ids, reverse=True)

    lines = http.get(
        "/admin/audit/export",
        params={"format": "jsonl", "event": "bulk", "until": base + 10},
        headers=admin,
    )
    assert lines.headers["content-type"] == "application/x-ndjson"
    assert lines.headers["content-disposition"].endswith('.jsonl"')
    entries = [json.loads(line) for line in lines.text.splitlines()]
    assert [e["detail"]["n"] for e in entries] == list(range(9, -1, -1))
    assert (
        entries
        == http.get(
            "/admin/audit", params={"event": "bulk", "until": base + 10}, headers=admin
        ).json()["events"]
    )

    empty = http.get("/admin/audit/export", params={"event": "none"}, headers=admin)
    assert (
        empty.text == "id,at,at_utc,event,outcome,username,client_id,sid,factor,origin,detail\r\n"
    )
    assert http.get("/admin/audit/export?format=xml", headers=admin).status_code == 400
    exported = [e for e in audit(deployment) if e["event"] == "audit_exported"]
    assert [e["detail"] for e in exported] == [
        {"by": "admin:root", "format": "csv", "filters": {}},
        {"by": "admin:root", "format": "jsonl", "filters": {"event": "bulk", "until": base + 10}},
        {"by": "admin:root", "format": "csv", "filters": {"event": "none"}},
    ]


def test_csv_cells_that_could_start_a_formula_get_a_quote() -> None:
    assert [csv_cell(v) for v in ("=1+1", "+1", "-1", "@A1", "\t=1", "\r=1")] == [
        "'=1+1",
        "'+1",
        "'-1",
        "'@A1",
        "'\t=1",
        "'\r=1",
    ]
    assert [csv_cell(v) for v in (None, 1.5, "alice", "a=b")] == ["", "1.5", "alice", "a=b"]


def test_login_factors_follow_the_enrollments(
    http: TestClient, deployment: Deployment, admin: dict[str, str], tmp_path: Path
) -> None:
    def factors() -> list[str]:
        response = http.get("/login/factors")  # public: no token
        assert response.status_code == 200
        assert response.json()["webauthn_rp_id"] == "auth.example"
        kinds: list[str] = response.json()["factors"]
        return kinds

    assert factors() == []
    add_user(deployment, "alice")
    add_user(deployment, "bob")
    pending = http.post("/admin/otp/totp", json={"username": "alice"}, headers=admin)
    assert pending.status_code == 201
    assert factors() == []  # an app not confirmed yet signs nobody in
    enroll_totp(http, admin, "alice", "FOB-1")
    assert factors() == ["totp"]

    key = ec.generate_private_key(ec.SECP256R1()).public_key()
    spki = key.public_bytes(Encoding.DER, PublicFormat.SubjectPublicKeyInfo)
    issued = http.post(
        "/admin/piv/issue",
        json={"username": "bob", "public_key": base64.urlsafe_b64encode(spki).decode()},
        headers=admin,
    )
    assert issued.status_code == 201, issued.text
    assert factors() == ["piv", "totp"]

    begun = http.post("/admin/fido2/register/begin", json={"username": "bob"}, headers=admin)
    completed = http.post(
        "/admin/fido2/register/complete",
        json={
            "handle": begun.json()["handle"],
            "credential": Kiosk().register(begun.json()["publicKey"]),
        },
        headers=admin,
    )
    assert completed.status_code == 201, completed.text
    assert factors() == ["fido2", "piv", "totp"]
    listed = http.get("/admin/users", params={"q": "bob"}, headers=admin).json()["users"]
    assert listed[0]["factors"] == {"fido2": 1, "piv": 1, "otp": 0}
    alice = http.get("/admin/users", params={"q": "alice"}, headers=admin).json()["users"]
    assert alice[0]["factors"] == {"fido2": 0, "piv": 0, "otp": 2}  # pending counts as held

    http.post("/admin/users/disable", json={"username": "bob"}, headers=admin)
    assert factors() == ["totp"]  # a disabled person's key and card invite nobody
    http.post("/admin/otp/revoke", json={"serial": "FOB-1"}, headers=admin)
    assert factors() == []

    upn = make_deployment(f"sqlite:///{tmp_path / 'upn.db'}", piv_map_upn=True)
    try:
        with TestClient(create_app(upn), base_url="https://auth.example") as other:
            assert other.get("/login/factors").json()["factors"] == ["piv"]
    finally:
        upn.close()


def test_the_openapi_document_describes_every_admin_route(http: TestClient) -> None:
    paths = http.get("/openapi.json").json()["paths"]
    for method, path, _ in ROUTES:
        operation = paths[path][method.lower()]
        assert operation["security"] == [{"adminBearer": []}], path
        assert {"400", "401", "403"} <= set(operation["responses"]), path
    assert "security" not in paths["/login/factors"]["get"]
    export = paths["/admin/audit/export"]["get"]
    assert set(export["responses"]["200"]["content"]) == {"text/csv", "application/x-ndjson"}
    names = {p["name"] for p in export["parameters"]}
    assert names == {"format", "username", "event", "outcome", "since", "until", "before_id"}
    add = paths["/admin/users"]["post"]["requestBody"]["content"]["application/json"]["schema"]
    assert add["required"] == ["username"]


@pytest.mark.parametrize("db", ["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def test_the_store_queries_on_each_database(
    db: str, request: pytest.FixtureRequest, tmp_path: Path, clock: FrozenClock
) -> None:
    url = (
        f"sqlite:///{tmp_path / 'q.db'}"
        if db == "sqlite"
        else request.getfixturevalue("postgres_url")
    )
    dep = make_deployment(url, clock)
    try:
        repo = AdminRepository(dep.store, clock=clock)
        for name in ("ann", "Bert_1", "bert%"):
            repo.add_person(name, display_name=name.upper(), is_admin=False, by="t", origin=None)
        people, total = repo.people(query="BERT_", include_disabled=True, limit=10, offset=0)
        assert ([p.username for p in people], total) == (["Bert_1"], 1)
        person, revoked = repo.set_enabled("ann", False, by="t", origin=None)
        assert (person.enabled, revoked) == (False, [])
        people, total = repo.people(query=None, include_disabled=False, limit=1, offset=1)
        assert ([p.username for p in people], total) == (["bert%"], 2)
        assert repo.usable_factor_kinds() == set()
        user = dep.store.find_user("Bert_1")
        assert user is not None
        token_for(dep, user, DEFAULT_KIOSK_CLIENT_ID)
        [live] = repo.sessions(username="Bert_1", active_only=True, limit=5)
        clock.advance(dep.settings.session_idle + 1)
        assert repo.sessions(username="Bert_1", active_only=True, limit=5) == []
        assert repo.revoke_session(live.sid, by="t", origin=None) is True
        page = repo.audit_page(AuditFilter(event="session_revoked"), limit=1)
        assert [e["sid"] for e in page.events] == [live.sid]
        assert page.next_before_id is None
        batches = list(repo.audit_export(AuditFilter(), batch=2))
        assert [len(b) for b in batches[:-1]] == [2] * (len(batches) - 1)
        assert sum(len(b) for b in batches) == len(dep.store.audit_entries())
    finally:
        dep.close()


@pytest.mark.server
def test_through_a_real_server(server_factory: Callable[..., ServerProcess]) -> None:
    server = server_factory()
    setup = Deployment(server.settings)
    try:
        root = add_user(setup, "root", is_admin=True)
        admin = {"Authorization": f"Bearer {token_for(setup, root)}"}
    finally:
        setup.close()
    with server.client() as http:
        assert http.get("/login/factors").json()["factors"] == []
        assert http.post("/admin/users", json={"username": "dana"}, headers=admin).is_success
        made = http.post(
            "/admin/otp/totp", json={"username": "dana", "secret": SEED_B32}, headers=admin
        )
        assert made.status_code == 201
        assert http.get("/login/factors").json()["factors"] == ["totp"]
        grant = totp_login(http, "dana", SystemClock().now())
        assert http.get("/admin/users?q=dan", headers=admin).json()["users"][0]["factors"] == {
            "fido2": 0,
            "piv": 0,
            "otp": 1,
        }
        assert (
            http.post("/admin/users/disable", json={"username": "dana"}, headers=admin).json()[
                "enabled"
            ]
            is False
        )
        assert refresh(http, grant["refresh_token"]).json()["error"] == "invalid_grant"
        with http.stream(
            "GET", "/admin/audit/export", params={"format": "jsonl"}, headers=admin
        ) as streamed:
            assert streamed.status_code == 200
            assert "content-length" not in streamed.headers  # streamed, not buffered
            events = [json.loads(line) for line in streamed.iter_lines() if line]
        names = [e["event"] for e in events]
        assert names.index("session_revoked") < names.index("login") < names.index("user_added")
        bad = http.get("/admin/audit?since=nan", headers=admin)
        assert (bad.status_code, bad.json()["error"]) == (400, "invalid_request")
