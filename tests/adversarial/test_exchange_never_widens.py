"""Attack 1: token exchange (and refresh) must never widen what a session holds.

A person's kiosk session token traded at the admin console for ``tokenstile:admin``; a
token a resource server received traded for another one. Exchange hands out only the
requesting app's non-privileged scopes, bounded by the session; only the session's own
local token is a subject token; a refresh never moves a privileged scope to another
audience. The matrix sends every kind of client x every kind of subject token x every
kind of scope at one real server.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.adversarial.conftest import AttackedService, unverified_claims
from tests.adversarial.oauth_calls import (
    CUSTOM_PRIVILEGED,
    HR,
    PAYROLL,
    admin_users,
    exchange,
    refresh,
    register_payroll_and_hr,
)
from tests.conftest import free_port, start_server
from tokenstile.config import load_settings
from tokenstile.deployment import DEFAULT_ADMIN_CLIENT_ID, DEFAULT_KIOSK_CLIENT_ID, Deployment
from tokenstile.protocol.scopes import ADMIN_SCOPE
from tokenstile.tokens.model import LOCAL_AUDIENCE

PRIVILEGED = {ADMIN_SCOPE, CUSTOM_PRIVILEGED}
APP_SCOPE = "payroll:read"


def granted(response_json: dict[str, object]) -> set[str]:
    return set(str(response_json.get("scope", "")).split())


# -- the two attacks as they were found ---------------------------------------------------


def test_a_kiosk_session_token_is_not_traded_for_the_admin_scope(
    attacked: Callable[..., AttackedService],
) -> None:
    service = attacked()
    with service.http() as http:
        # root is an admin, but signed in at the kiosk, whose client does not hold the
        # admin scope: the session token is refused by the admin API.
        kiosk = service.login("root")["access_token"]
        assert admin_users(http, kiosk) == 403
        for person_token in (kiosk, service.login("alice")["access_token"]):
            attack = exchange(
                http, person_token, client_id=DEFAULT_ADMIN_CLIENT_ID, audience=LOCAL_AUDIENCE
            )
            assert attack.status_code in (400, 401), attack.text
        # The route that does grant it: a factor login at the client that holds it.
        console = service.login("root", client_id=DEFAULT_ADMIN_CLIENT_ID)
        assert ADMIN_SCOPE in console["scope"].split()
        assert admin_users(http, console["access_token"]) == 200
    assert [e for e in service.audit("token_exchange") if e["outcome"] == "success"] == []


def test_a_token_a_resource_server_received_is_not_a_subject_token(
    attacked: Callable[..., AttackedService],
) -> None:
    service = attacked()
    with service.deployment() as dep:
        dep.add_client(
            "payroll",
            kind="app",
            audiences=[PAYROLL],
            scopes=["openid", APP_SCOPE, ADMIN_SCOPE],
            client_id="payroll",
        )
        dep.add_client(
            "files",
            kind="app",
            audiences=["https://files.example"],
            scopes=["openid"],
            client_id="files",
        )
    # alice signs in directly at the payroll app: the token is for the payroll API.
    received = service.login("alice", client_id="payroll")["access_token"]
    assert unverified_claims(received)["aud"] == PAYROLL
    with service.http() as http:
        for client_id, audience in (
            ("payroll", PAYROLL),
            ("files", "https://files.example"),
            (DEFAULT_ADMIN_CLIENT_ID, LOCAL_AUDIENCE),
            (DEFAULT_KIOSK_CLIENT_ID, LOCAL_AUDIENCE),
        ):
            attack = exchange(http, received, client_id=client_id, audience=audience)
            assert attack.status_code in (400, 401), (client_id, attack.text)
    assert all(e["outcome"] == "failure" for e in service.audit("token_exchange"))


def test_a_refresh_never_moves_a_privileged_scope_to_another_audience_or_client(
    attacked: Callable[..., AttackedService],
) -> None:
    service = attacked()
    with service.deployment() as dep:
        dep.add_client(
            "ops-console",
            kind="kiosk",
            audiences=[LOCAL_AUDIENCE, PAYROLL],
            scopes=["openid", ADMIN_SCOPE],
            client_id="ops-console",
        )
    session = service.login("root", client_id="ops-console")
    assert ADMIN_SCOPE in session["scope"].split()
    with service.http() as http:
        moved = refresh(http, session["refresh_token"], client_id="ops-console", resource=PAYROLL)
        if moved.status_code == 200:
            body = moved.json()
            assert ADMIN_SCOPE not in granted(body)
            assert ADMIN_SCOPE not in str(unverified_claims(body["access_token"])["scope"])
            token = body["refresh_token"]
        else:
            token = session["refresh_token"]
        asked = refresh(http, token, client_id="ops-console", resource=PAYROLL, scope=ADMIN_SCOPE)
        assert asked.status_code == 400, asked.text
        # Another client cannot use the session's refresh token at all.
        other = refresh(http, token, client_id=DEFAULT_ADMIN_CLIENT_ID)
        assert other.status_code == 400, other.text
        # At its own audience the session keeps what its login granted.
        fresh = service.login("root", client_id="ops-console")
        own = refresh(http, fresh["refresh_token"], client_id="ops-console")
        assert own.status_code == 200, own.text
        assert ADMIN_SCOPE in granted(own.json())
        assert admin_users(http, own.json()["access_token"]) == 200


# -- the matrix ------------------------------------------------------------------------


@dataclass(frozen=True)
class Requester:
    client_id: str
    audience: str
    secret: bool = False


@dataclass
class World:
    service: AttackedService
    api_secret: str
    subjects: dict[str, str]


CLIENTS = {
    "kiosk": Requester(DEFAULT_KIOSK_CLIENT_ID, LOCAL_AUDIENCE),
    "admin-console": Requester(DEFAULT_ADMIN_CLIENT_ID, LOCAL_AUDIENCE),
    "app": Requester("payroll", PAYROLL),
    "resource-server": Requester("payroll-api", PAYROLL, secret=True),
}
LOCAL_SUBJECTS = ("kiosk-local-alice", "kiosk-local-root", "admin-console-root")
DERIVED_SUBJECTS = ("app-login-alice", "exchanged", "opaque-exchanged")
SCOPES = {
    "default": None,
    "openid-profile": "openid profile",
    "app-scope": APP_SCOPE,
    "admin": ADMIN_SCOPE,
    "custom-privileged": CUSTOM_PRIVILEGED,
}


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    """One real server for the whole matrix, its clients registered before it starts,
    and every kind of subject token obtained the way a person or an app obtains it."""
    base = tmp_path_factory.mktemp("never-widens")
    with pytest.MonkeyPatch.context() as env:
        for name in list(os.environ):
            if name.startswith("TOKENSTILE_"):
                env.delenv(name)
        env.setenv("TOKENSTILE_DATA_DIR", str(base / "data"))
        env.setenv("TOKENSTILE_RUNTIME_DIR", str(base / "run"))
        db = f"sqlite:///{base / 'world.db'}"
        port = free_port()
        settings = load_settings(db=db, port=port, issuer=f"http://127.0.0.1:{port}")
        setup = Deployment(settings)
        try:
            setup.init()
            secret = register_payroll_and_hr(
                setup,
                payroll_scopes=["openid", "profile", APP_SCOPE, ADMIN_SCOPE, CUSTOM_PRIVILEGED],
                hr_scopes=["openid", "hr:read"],
            )
        finally:
            setup.close()
        server = start_server(
            settings,
            Path(base / "server.log"),
            {"TOKENSTILE_PRIVILEGED_SCOPES": f"{ADMIN_SCOPE} {CUSTOM_PRIVILEGED}"},
        )
        try:
            service = AttackedService(server, db)
            service.add_person("alice")
            service.add_person("root", admin=True)
            subjects = {
                "kiosk-local-alice": service.login("alice")["access_token"],
                "kiosk-local-root": service.login("root")["access_token"],
                "admin-console-root": service.login("root", client_id=DEFAULT_ADMIN_CLIENT_ID)[
                    "access_token"
                ],
                "app-login-alice": service.login("alice", client_id="payroll")["access_token"],
            }
            with service.http() as http:
                for name, client_id, audience in (
                    ("exchanged", "payroll", PAYROLL),
                    ("opaque-exchanged", "hr", HR),
                ):
                    made = exchange(
                        http,
                        subjects["kiosk-local-alice"],
                        client_id=client_id,
                        audience=audience,
                        scope="openid",
                    )
                    assert made.status_code == 200, made.text
                    subjects[name] = made.json()["access_token"]
            assert subjects["opaque-exchanged"].count(".") == 0
            yield World(service, secret, subjects)
        finally:
            server.stop()


@pytest.mark.parametrize("scope", list(SCOPES))
@pytest.mark.parametrize("subject", LOCAL_SUBJECTS + DERIVED_SUBJECTS)
@pytest.mark.parametrize("client", list(CLIENTS))
def test_no_exchange_widens_and_no_derived_token_is_a_subject(
    world: World, client: str, subject: str, scope: str
) -> None:
    requester = CLIENTS[client]
    with world.service.http() as http:
        response = exchange(
            http,
            world.subjects[subject],
            audience=requester.audience,
            scope=SCOPES[scope],
            client_id=None if requester.secret else requester.client_id,
            auth=(requester.client_id, world.api_secret) if requester.secret else None,
        )
        if response.status_code != 200:
            assert response.status_code in (400, 401), response.text
            assert response.json()["error"] in (
                "invalid_grant",
                "invalid_scope",
                "invalid_target",
                "unauthorized_client",
                "invalid_client",
            )
            # The one cell that must work: an app narrowing a session's own token to
            # its audience with scopes it holds and that are not privileged.
            assert not (
                client == "app"
                and subject in LOCAL_SUBJECTS
                and scope in ("default", "openid-profile", "app-scope")
            ), response.text
            return
        assert subject not in DERIVED_SUBJECTS, f"a derived token was a subject: {response.text}"
        body = response.json()
        assert not granted(body) & PRIVILEGED, body
        token = body["access_token"]
        assert not set(str(unverified_claims(token)["scope"]).split()) & PRIVILEGED
        assert admin_users(http, token) in (401, 403)
