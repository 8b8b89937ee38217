"""The plain OAuth requests the exchange and revocation attacks send, as an attacker (or an
app, or a resource server) would send them: form posts, nothing from the broker."""

from __future__ import annotations

import httpx

from tests.adversarial.conftest import ACCESS_TOKEN_TYPE, TOKEN_EXCHANGE
from tokenstile.deployment import Deployment
from tokenstile.tokens.model import AudiencePolicy, AuditEvent

PAYROLL = "https://payroll.example"  # a resource server's audience (JWT)
HR = "https://hr.example"  # a resource server's audience configured opaque
CUSTOM_PRIVILEGED = "hr:write"  # a scope an admin marked privileged


def register_payroll_and_hr(
    dep: Deployment, *, payroll_scopes: list[str], hr_scopes: list[str]
) -> str:
    """The apps the attacks go through: ``payroll`` (audience PAYROLL, JWT) and ``hr``
    (audience HR, opaque), and the resource server ``payroll-api`` that may introspect
    both audiences; its client secret."""
    dep.add_client(
        "payroll", kind="app", audiences=[PAYROLL], scopes=payroll_scopes, client_id="payroll"
    )
    dep.add_client("hr", kind="app", audiences=[HR], scopes=hr_scopes, client_id="hr")
    _, secret = dep.add_client(
        "payroll-api",
        kind="resource-server",
        audiences=[PAYROLL, HR],
        scopes=[],
        client_id="payroll-api",
    )
    assert secret is not None
    dep.store.set_audience(
        AudiencePolicy(HR, token_format="opaque"),
        at=dep.clock.now(),
        audit=AuditEvent("audience_set", "info"),
    )
    return secret


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def exchange(
    http: httpx.Client,
    subject: str,
    *,
    audience: str,
    client_id: str | None = None,
    auth: tuple[str, str] | None = None,
    scope: str | None = None,
) -> httpx.Response:
    """RFC 8693 at ``POST /token``: a public client names itself, a confidential one
    authenticates with Basic credentials (``auth``)."""
    form = {
        "grant_type": TOKEN_EXCHANGE,
        "subject_token": subject,
        "subject_token_type": ACCESS_TOKEN_TYPE,
        "audience": audience,
    }
    if client_id is not None:
        form["client_id"] = client_id
    if scope is not None:
        form["scope"] = scope
    return http.post("/token", data=form, auth=auth) if auth else http.post("/token", data=form)


def refresh(
    http: httpx.Client, refresh_token: str, *, client_id: str, **extra: str
) -> httpx.Response:
    form = {
        "grant_type": "refresh_token",
        "refresh_token": refresh_token,
        "client_id": client_id,
        **extra,
    }
    return http.post("/token", data=form)


def revoke(http: httpx.Client, token: str, *, client_id: str) -> httpx.Response:
    return http.post("/revoke", data={"token": token, "client_id": client_id})


def introspect(http: httpx.Client, token: str, *, auth: tuple[str, str]) -> dict[str, object]:
    response = http.post("/introspect", data={"token": token}, auth=auth)
    assert response.status_code == 200, response.text
    body: dict[str, object] = response.json()
    return body


def userinfo(http: httpx.Client, token: str) -> httpx.Response:
    return http.get("/userinfo", headers=bearer(token))


def admin_users(http: httpx.Client, token: str) -> int:
    """The status ``GET /admin/users`` answers for ``token``."""
    return http.get("/admin/users", headers=bearer(token)).status_code
