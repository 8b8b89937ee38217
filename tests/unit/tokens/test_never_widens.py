"""Issue 13, items 1 and 4, at the service: privileged scopes, the lifetime bound of the
service's own decoding, and revoking a derived token alone — on a frozen clock."""

from __future__ import annotations

import dataclasses
from typing import Any

import jwt
import pytest

from tests.conftest import add_user, kiosk_client
from tokenstile.clock import FrozenClock
from tokenstile.config import load_settings
from tokenstile.deployment import DEFAULT_ADMIN_CLIENT_ID, Deployment
from tokenstile.errors import InvalidGrant, InvalidScope, InvalidTarget, UnauthorizedClient
from tokenstile.protocol.scopes import ADMIN_SCOPE
from tokenstile.store.purge import purge_expired
from tokenstile.store.roles import set_builtin_roles
from tokenstile.tokens.model import LOCAL_AUDIENCE, AudiencePolicy, AuditEvent, Client
from tokenstile.tokens.service import ACCESS_TOKEN_TYPE, TokenResponse, TokenService

PAYROLL = "https://payroll.example"


@pytest.fixture
def service(deployment: Deployment) -> TokenService:
    return deployment.token_service()


def client(dep: Deployment, client_id: str) -> Client:
    found = dep.store.find_client(client_id)
    assert found is not None
    return found


def login(dep: Deployment, svc: TokenService, username: str, at: Client) -> TokenResponse:
    user = dep.store.find_user(username) or add_user(dep, username, is_admin=username == "root")
    return svc.sessions.open_session(user=user, client=at, factor="otp", amr=["otp"], acr="otp")


def forge(dep: Deployment, **claims: Any) -> str:
    """A token signed with the service's current key (as a thief of that key would)."""
    now = int(dep.clock.now())
    body = {
        "iss": "https://auth.example",
        "sub": "alice",
        "aud": LOCAL_AUDIENCE,
        "iat": now,
        "nbf": now,
        "exp": now + 600,
        "jti": "forged-jti",
        "client_id": "tokenstile-kiosk",
        "scope": "openid",
        **claims,
    }
    key = dep.keyring().signer(dep.clock.now())
    return jwt.encode(
        body, key.private_key, algorithm=key.alg, headers={"typ": "at+jwt", "kid": key.kid}
    )


def test_the_services_own_decoding_refuses_tokens_longer_lived_than_it_issues(
    deployment: Deployment, service: TokenService, clock: FrozenClock
) -> None:
    session = login(deployment, service, "alice", kiosk_client(deployment))
    sid = jwt.decode(session.access_token, options={"verify_signature": False})["sid"]
    now = int(clock.now())
    assert (
        service.introspection.read_access_token(forge(deployment, sid=sid)) is not None
    )  # the control
    year = forge(deployment, sid=sid, exp=now + 365 * 86_400)
    assert service.introspection.read_access_token(year) is None
    future = forge(deployment, sid=sid, iat=now + 3600, exp=now + 3600 + 600)
    assert service.introspection.read_access_token(future) is None
    assert service.introspection.read_access_token(forge(deployment, sid=sid, jti=None)) is None
    # An audience's longer lifetime counts: its tokens are ours.
    deployment.store.set_audience(
        AudiencePolicy(LOCAL_AUDIENCE, lifetime=7200), at=clock.now(), audit=AuditEvent("a", "info")
    )
    longer = deployment.token_service()
    assert (
        longer.introspection.read_access_token(forge(deployment, sid=sid, exp=now + 7200))
        is not None
    )
    assert (
        longer.introspection.read_access_token(forge(deployment, sid=sid, exp=now + 7201)) is None
    )


def test_a_privileged_scope_is_granted_only_at_a_login_to_an_admin(
    tmp_path: Any, clock: FrozenClock
) -> None:
    settings = load_settings(
        db=f"sqlite:///{tmp_path / 'p.db'}",
        issuer="https://auth.example",
        privileged_scopes="tokenstile:admin hr:write",
    )
    dep = Deployment(settings, clock=clock)
    dep.init()
    try:
        svc = dep.token_service()
        assert svc.privileged_scopes == {ADMIN_SCOPE, "hr:write"}
        desk, _ = dep.add_client(
            "desk", kind="kiosk", audiences=[LOCAL_AUDIENCE], scopes=["openid", "hr:write"]
        )
        assert login(dep, svc, "alice", desk).scope == "openid"
        assert login(dep, svc, "root", desk).scope == "openid hr:write"
        with pytest.raises(InvalidScope, match="hr:write"):
            svc.sessions.open_session(
                user=add_user(dep, "bob"),
                client=desk,
                factor="otp",
                amr=["otp"],
                acr="otp",
                scope="hr:write",
            )
    finally:
        dep.close()


def test_a_refresh_keeps_a_privileged_scope_only_at_the_sessions_own_audience(
    deployment: Deployment, service: TokenService
) -> None:
    console = dataclasses.replace(
        client(deployment, DEFAULT_ADMIN_CLIENT_ID), audiences=(LOCAL_AUDIENCE, PAYROLL)
    )
    session = login(deployment, service, "root", console)
    assert ADMIN_SCOPE in session.scope.split()
    moved = service.refresh_grant.refresh(
        refresh_token=session.refresh_token, client=console, resource=PAYROLL
    )
    assert moved.scope == "openid profile"
    with pytest.raises(InvalidScope, match="privileged"):
        service.refresh_grant.refresh(
            refresh_token=moved.refresh_token, client=console, resource=PAYROLL, scope=ADMIN_SCOPE
        )
    own = service.refresh_grant.refresh(refresh_token=moved.refresh_token, client=console)
    assert ADMIN_SCOPE in own.scope.split()
    # An admin no more (roles live in user_roles; the flag follows): the next refresh
    # leaves the privileged scope out.
    with deployment.store.write() as tx:
        root = tx.get_user_by_name("root")
        assert root is not None
        set_builtin_roles(tx.connection, root.id, [], at=deployment.clock.now())
    demoted = service.refresh_grant.refresh(refresh_token=own.refresh_token, client=console)
    assert ADMIN_SCOPE not in demoted.scope.split()


def test_exchange_refuses_the_local_audience_and_other_clients_sessions(
    deployment: Deployment, service: TokenService
) -> None:
    kiosk = login(deployment, service, "root", kiosk_client(deployment))
    console = client(deployment, DEFAULT_ADMIN_CLIENT_ID)
    with pytest.raises(InvalidTarget):
        service.exchange_grant.exchange(
            client=console,
            subject_token=kiosk.access_token,
            subject_token_type=ACCESS_TOKEN_TYPE,
            audience=LOCAL_AUDIENCE,
        )
    desk = dataclasses.replace(console, audiences=(LOCAL_AUDIENCE, PAYROLL))
    with pytest.raises(UnauthorizedClient, match="own sessions"):
        service.exchange_grant.exchange(
            client=desk,
            subject_token=kiosk.access_token,
            subject_token_type=ACCESS_TOKEN_TYPE,
            audience=PAYROLL,
        )


def test_revoking_a_derived_token_revokes_it_alone_until_it_expires(
    deployment: Deployment, service: TokenService, clock: FrozenClock
) -> None:
    payroll, _ = deployment.add_client(
        "payroll", kind="app", audiences=[PAYROLL], scopes=["payroll:read"], client_id="payroll"
    )
    session = login(deployment, service, "alice", kiosk_client(deployment))
    derived = service.exchange_grant.exchange(
        client=payroll,
        subject_token=session.access_token,
        subject_token_type=ACCESS_TOKEN_TYPE,
        audience=PAYROLL,
    ).access_token
    assert service.introspection.read_access_token(derived) is not None
    service.introspection.revoke(token=derived, client=payroll)
    assert service.introspection.read_access_token(derived) is None
    assert service.introspection.read_access_token(session.access_token) is not None
    # The derived token is no subject token, revoked or not.
    with pytest.raises(InvalidGrant):
        service.exchange_grant.exchange(
            client=payroll,
            subject_token=derived,
            subject_token_type=ACCESS_TOKEN_TYPE,
            audience=PAYROLL,
        )
    [row] = [e for e in deployment.store.audit_entries() if e["event"] == "revoke"]
    assert (row["client_id"], row["detail"]["token"]) == ("payroll", "derived")
    # The deny-list row goes with the purge once the token is dead anyway.
    clock.advance(deployment.settings.access_token_lifetime + 1)
    report = purge_expired(deployment.store, now=clock.now(), keep_seconds=10**9)
    assert report.counts["revoked_access_tokens"] == 1
