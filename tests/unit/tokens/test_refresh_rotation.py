"""Refresh rotation, reuse detection, grace retries, session limits — on a frozen clock."""

from __future__ import annotations

import jwt
import pytest

from tests.conftest import add_user, kiosk_client
from tokenstile.clock import FrozenClock
from tokenstile.deployment import Deployment
from tokenstile.errors import (
    InsufficientAssurance,
    InvalidGrant,
    InvalidScope,
    InvalidTarget,
    UnauthorizedClient,
)
from tokenstile.tokens.model import LOCAL_AUDIENCE, AudiencePolicy, AuditEvent
from tokenstile.tokens.service import TokenResponse, TokenService


@pytest.fixture
def service(deployment: Deployment) -> TokenService:
    return deployment.token_service()


def login(
    dep: Deployment, svc: TokenService, username: str = "alice", **kw: object
) -> TokenResponse:
    user = dep.store.find_user(username) or add_user(dep, username)
    return svc.sessions.open_session(
        user=user,
        client=kiosk_client(dep),
        factor=str(kw.get("factor", "fido2")),
        amr=list(kw.get("amr", ["hwk", "pin", "mfa"])),  # type: ignore[call-overload]
        acr=str(kw.get("acr", "phrh")),
        audience=kw.get("audience"),  # type: ignore[arg-type]
    )


def audit_of(dep: Deployment, event: str) -> list[dict[str, object]]:
    return [e for e in dep.store.audit_entries() if e["event"] == event]


def claims_of(dep: Deployment, token: str, audience: str = LOCAL_AUDIENCE) -> dict[str, object]:
    """The token's claims, its signature checked with our key; times are the frozen clock's."""
    kid = jwt.get_unverified_header(token)["kid"]
    key = dep.keyring().get(kid)
    assert key is not None
    return jwt.decode(
        token,
        key.private_key.public_key(),
        algorithms=[key.alg],
        audience=audience,
        options={"verify_exp": False, "verify_iat": False, "verify_nbf": False},
    )


def test_login_issues_rfc9068_access_token(deployment: Deployment, service: TokenService) -> None:
    result = login(deployment, service)
    header = jwt.get_unverified_header(result.access_token)
    assert header["typ"] == "at+jwt"
    assert header["alg"] == "ES256"
    claims = claims_of(deployment, result.access_token)
    assert set(claims) == {
        "iss",
        "sub",
        "aud",
        "exp",
        "iat",
        "nbf",
        "jti",
        "client_id",
        "scope",
        "sid",
        "auth_time",
        "amr",
        "acr",
    }
    assert claims["iss"] == "https://auth.example"
    assert claims["sub"] == "alice"
    assert claims["exp"] == claims["iat"] + 600  # type: ignore[operator]
    assert claims["amr"] == ["hwk", "pin", "mfa"]
    assert result.expires_in == 600
    assert len(result.refresh_token) >= 43  # 256 bits


def test_refresh_token_is_stored_only_as_a_hash(
    deployment: Deployment, service: TokenService
) -> None:
    result = login(deployment, service)
    with deployment.engine.connect() as conn:
        dump = "\n".join(conn.connection.driver_connection.iterdump())  # type: ignore[union-attr]
    assert result.refresh_token not in dump
    assert result.access_token not in dump


def test_every_refresh_rotates(
    deployment: Deployment, service: TokenService, clock: FrozenClock
) -> None:
    client = kiosk_client(deployment)
    current = login(deployment, service)
    seen = {current.refresh_token}
    for _ in range(5):
        clock.advance(60)
        current = service.refresh_grant.refresh(refresh_token=current.refresh_token, client=client)
        assert current.refresh_token not in seen
        seen.add(current.refresh_token)
    assert len(audit_of(deployment, "refresh")) == 5


def test_reuse_after_grace_revokes_the_whole_family(
    deployment: Deployment, service: TokenService, clock: FrozenClock
) -> None:
    client = kiosk_client(deployment)
    first = login(deployment, service)
    clock.advance(1)
    second = service.refresh_grant.refresh(refresh_token=first.refresh_token, client=client)
    clock.advance(60)  # well past the 10 s grace
    with pytest.raises(InvalidGrant, match="already used"):
        service.refresh_grant.refresh(refresh_token=first.refresh_token, client=client)
    # The legitimate successor dies with the family.
    with pytest.raises(InvalidGrant, match="ended"):
        service.refresh_grant.refresh(refresh_token=second.refresh_token, client=client)
    alerts = [e for e in deployment.store.audit_entries() if e["outcome"] == "alert"]
    assert len(alerts) == 1
    assert alerts[0]["detail"] == {"reason": "refresh_token_reuse"}
    assert service.introspection.read_access_token(second.access_token) is None


def test_retry_within_grace_after_lost_response_keeps_the_session(
    deployment: Deployment, service: TokenService, clock: FrozenClock
) -> None:
    client = kiosk_client(deployment)
    first = login(deployment, service)
    clock.advance(1)
    lost = service.refresh_grant.refresh(refresh_token=first.refresh_token, client=client)
    clock.advance(3)  # the client timed out and retries with the token it still has
    retry = service.refresh_grant.refresh(refresh_token=first.refresh_token, client=client)
    assert retry.sid == first.sid
    # The lost response's token was never used; it is retired, quietly for the retry,
    # and treated as reuse only if it ever turns up.
    clock.advance(1)
    third = service.refresh_grant.refresh(refresh_token=retry.refresh_token, client=client)
    assert third.sid == first.sid
    assert [e["event"] for e in deployment.store.audit_entries() if e["outcome"] == "success"][
        -3:
    ] == ["refresh", "refresh_retry", "refresh"]
    del lost


def test_retry_is_refused_once_the_successor_was_used(
    deployment: Deployment, service: TokenService, clock: FrozenClock
) -> None:
    client = kiosk_client(deployment)
    first = login(deployment, service)
    clock.advance(1)
    second = service.refresh_grant.refresh(refresh_token=first.refresh_token, client=client)
    clock.advance(1)
    service.refresh_grant.refresh(refresh_token=second.refresh_token, client=client)
    clock.advance(1)  # inside the grace period, but the successor has been used: theft
    with pytest.raises(InvalidGrant):
        service.refresh_grant.refresh(refresh_token=first.refresh_token, client=client)
    assert deployment.store.sessions_of("alice")[0].revoke_reason == "refresh_token_reuse"


def test_concurrent_duplicate_loses_without_harming_the_family(
    deployment: Deployment, service: TokenService, clock: FrozenClock
) -> None:
    client = kiosk_client(deployment)
    first = login(deployment, service)
    clock.advance(1)
    began = clock.now()  # both requests arrived now; one was stored first
    winner = service.refresh_grant.refresh(
        refresh_token=first.refresh_token, client=client, received_at=began
    )
    with pytest.raises(InvalidGrant, match="just used by another request"):
        service.refresh_grant.refresh(
            refresh_token=first.refresh_token, client=client, received_at=began
        )
    clock.advance(1)
    assert (
        service.refresh_grant.refresh(refresh_token=winner.refresh_token, client=client).sid
        == winner.sid
    )


def test_refresh_by_another_client_is_refused_and_harmless(
    deployment: Deployment, service: TokenService
) -> None:
    first = login(deployment, service)
    other, _ = deployment.add_client("desk-app", kind="app", audiences=[], scopes=[])
    with pytest.raises(InvalidGrant, match="another client"):
        service.refresh_grant.refresh(refresh_token=first.refresh_token, client=other)
    assert service.refresh_grant.refresh(
        refresh_token=first.refresh_token, client=kiosk_client(deployment)
    )


def test_unknown_refresh_token(deployment: Deployment, service: TokenService) -> None:
    with pytest.raises(InvalidGrant, match="not valid"):
        service.refresh_grant.refresh(refresh_token="x" * 43, client=kiosk_client(deployment))
    assert audit_of(deployment, "refresh")[0]["detail"] == {"reason": "unknown_token"}


def test_session_absolute_lifetime(
    deployment: Deployment, service: TokenService, clock: FrozenClock
) -> None:
    client = kiosk_client(deployment)
    current = login(deployment, service)
    for _ in range(24):  # refresh every 30 minutes: never idle, but the shift ends at 12 h
        clock.advance(1800)
        if clock.now() >= 1_800_000_000 + 12 * 3600:
            with pytest.raises(InvalidGrant, match="time limit"):
                service.refresh_grant.refresh(refresh_token=current.refresh_token, client=client)
            return
        current = service.refresh_grant.refresh(refresh_token=current.refresh_token, client=client)
    pytest.fail("the session outlived its absolute lifetime")


def test_session_idle_limit(
    deployment: Deployment, service: TokenService, clock: FrozenClock
) -> None:
    current = login(deployment, service)
    clock.advance(3600)
    with pytest.raises(InvalidGrant, match="idle"):
        service.refresh_grant.refresh(
            refresh_token=current.refresh_token, client=kiosk_client(deployment)
        )


def test_disabled_user_cannot_refresh(deployment: Deployment, service: TokenService) -> None:
    current = login(deployment, service)
    deployment.store.set_user_enabled(
        "alice", False, at=deployment.clock.now(), audit=AuditEvent("user_disabled", "info")
    )
    with pytest.raises(InvalidGrant, match="disabled"):
        service.refresh_grant.refresh(
            refresh_token=current.refresh_token, client=kiosk_client(deployment)
        )
    assert service.introspection.read_access_token(current.access_token) is None


def test_scope_can_narrow_but_not_widen(deployment: Deployment, service: TokenService) -> None:
    client = kiosk_client(deployment)
    first = login(deployment, service)
    narrowed = service.refresh_grant.refresh(
        refresh_token=first.refresh_token, client=client, scope="openid"
    )
    assert narrowed.scope == "openid"
    with pytest.raises(InvalidScope):
        service.refresh_grant.refresh(
            refresh_token=narrowed.refresh_token, client=client, scope="admin"
        )


def test_audience_must_be_allowed_for_the_client(
    deployment: Deployment, service: TokenService
) -> None:
    first = login(deployment, service)
    with pytest.raises(InvalidTarget):
        service.refresh_grant.refresh(
            refresh_token=first.refresh_token,
            client=kiosk_client(deployment),
            resource="https://payroll.example",
        )


def test_audience_minimum_assurance(deployment: Deployment, service: TokenService) -> None:
    dep = deployment
    dep.store.set_audience(
        AudiencePolicy("https://payroll.example", min_acr="phr"),
        at=dep.clock.now(),
        audit=AuditEvent("audience_set", "info"),
    )
    app, _ = dep.add_client("payroll", kind="app", audiences=["https://payroll.example"], scopes=[])
    user = add_user(dep, "bob")
    with pytest.raises(InsufficientAssurance):
        service.sessions.open_session(user=user, client=app, factor="otp", amr=["otp"], acr="otp")
    strong = service.sessions.open_session(
        user=user, client=app, factor="fido2", amr=["hwk", "pin", "mfa"], acr="phrh"
    )
    assert claims_of(dep, strong.access_token, "https://payroll.example")["sub"] == "bob"


def test_per_audience_lifetime_and_opaque_tokens(
    deployment: Deployment, service: TokenService, clock: FrozenClock
) -> None:
    dep = deployment
    dep.store.set_audience(
        AudiencePolicy("https://vault.example", token_format="opaque", lifetime=120),
        at=clock.now(),
        audit=AuditEvent("audience_set", "info"),
    )
    app, _ = dep.add_client("vault", kind="app", audiences=["https://vault.example"], scopes=[])
    user = add_user(dep, "carol")
    result = service.sessions.open_session(
        user=user, client=app, factor="piv", amr=["sc", "pin"], acr="phrh"
    )
    assert result.expires_in == 120
    assert result.access_token.count(".") == 0  # opaque
    claims = service.introspection.read_access_token(result.access_token)
    assert claims is not None
    assert claims["aud"] == "https://vault.example"
    service.introspection.revoke(token=result.refresh_token, client=app)
    assert (
        service.introspection.read_access_token(result.access_token) is None
    )  # instant revocation
    clock.advance(121)


def test_resource_servers_cannot_open_sessions(
    deployment: Deployment, service: TokenService
) -> None:
    rs, _ = deployment.add_client(
        "api", kind="resource-server", audiences=["https://api"], scopes=[]
    )
    with pytest.raises(UnauthorizedClient):
        service.sessions.open_session(
            user=add_user(deployment), client=rs, factor="otp", amr=["otp"], acr="otp"
        )


def test_revoking_a_refresh_token_ends_the_session(
    deployment: Deployment, service: TokenService
) -> None:
    client = kiosk_client(deployment)
    first = login(deployment, service)
    service.introspection.revoke(token=first.refresh_token, client=client)
    with pytest.raises(InvalidGrant, match="ended"):
        service.refresh_grant.refresh(refresh_token=first.refresh_token, client=client)
    assert service.introspection.read_access_token(first.access_token) is None
    service.introspection.revoke(token="never-issued", client=client)  # RFC 7009: not an error


def test_access_token_expiry(
    deployment: Deployment, service: TokenService, clock: FrozenClock
) -> None:
    first = login(deployment, service)
    assert service.introspection.read_access_token(first.access_token) is not None
    clock.advance(601)
    assert service.introspection.read_access_token(first.access_token) is None


def test_eddsa_signing(tmp_path: object, clock: FrozenClock) -> None:
    from tests.conftest import make_deployment

    dep = make_deployment(f"sqlite:///{tmp_path}/ed.db", clock, signing_alg="EdDSA")
    try:
        svc = dep.token_service()
        result = login(dep, svc)
        assert jwt.get_unverified_header(result.access_token)["alg"] == "EdDSA"
        assert svc.introspection.read_access_token(result.access_token) is not None
    finally:
        dep.close()


def test_admin_scope_only_for_admins(deployment: Deployment, service: TokenService) -> None:
    from tokenstile.deployment import DEFAULT_ADMIN_CLIENT_ID
    from tokenstile.errors import InvalidScope as ScopeError

    console = deployment.store.find_client(DEFAULT_ADMIN_CLIENT_ID)
    assert console is not None
    person = add_user(deployment, "pat")
    boss = add_user(deployment, "boss", is_admin=True)
    plain = service.sessions.open_session(
        user=person, client=console, factor="otp", amr=["otp"], acr="otp"
    )
    assert "tokenstile:admin" not in plain.scope.split()
    with pytest.raises(ScopeError, match="administrators"):
        service.sessions.open_session(
            user=person,
            client=console,
            factor="otp",
            amr=["otp"],
            acr="otp",
            scope="openid tokenstile:admin",
        )
    admin = service.sessions.open_session(
        user=boss, client=console, factor="otp", amr=["otp"], acr="otp"
    )
    assert "tokenstile:admin" in admin.scope.split()
    kiosk = service.sessions.open_session(
        user=boss, client=kiosk_client(deployment), factor="otp", amr=["otp"], acr="otp"
    )
    assert "tokenstile:admin" not in kiosk.scope.split()


def test_a_retry_too_soon_is_refused_harmlessly_then_honoured(
    deployment: Deployment, service: TokenService, clock: FrozenClock
) -> None:
    """Within refresh_retry_after a duplicate cannot be told from a racer: refuse it."""
    client = kiosk_client(deployment)
    first = login(deployment, service)
    clock.advance(1)
    service.refresh_grant.refresh(refresh_token=first.refresh_token, client=client)  # response lost
    clock.advance(0.5)
    with pytest.raises(InvalidGrant, match="retry in a moment"):
        service.refresh_grant.refresh(refresh_token=first.refresh_token, client=client)
    clock.advance(1)  # 1.5 s after the rotation: a retry after a lost response
    retry = service.refresh_grant.refresh(refresh_token=first.refresh_token, client=client)
    assert retry.sid == first.sid
    assert deployment.store.sessions_of("alice")[0].revoked_at is None
