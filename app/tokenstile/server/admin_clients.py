"""The admin API of web and native clients (issue 15): list, register, change their
redirect URIs, post-logout URIs and back-channel URI, rotate a web client's secret,
disable and enable.

The same checks as ``tokenstile manage client add`` (``Deployment.add_client``,
``tokens.redirect_uris``, ``tokens.client_assertion``), refused as 400
``invalid_request`` with the checker's sentence. Admin scope only (``admin_router``);
every change audited with ``detail.by`` = ``admin:<username>``. A client's secret is in
the answer of its registration and of a rotation, never anywhere else (only its hash is
stored). A change reaches the token endpoint within the client cache's few seconds
(``store.clients.CLIENT_CACHE_SECONDS``).
"""

from __future__ import annotations

import json
import secrets
from typing import Any, Literal

from fastapi import APIRouter, Request
from pydantic import BaseModel, ConfigDict, Field
from starlette.concurrency import run_in_threadpool
from starlette.responses import Response

from tokenstile.composition import Services
from tokenstile.errors import ConfigError, NotFound
from tokenstile.server import schemas
from tokenstile.server.admin_auth import AdminApiError, AdminPrincipal, AdminWork, admin_router
from tokenstile.server.admin_post import admin_post
from tokenstile.server.wire import no_store_json, request_origin
from tokenstile.store.client_repository import update_client
from tokenstile.tokens.clients import client_secret_hash
from tokenstile.tokens.model import BROWSER_CLIENT_KINDS, AuditEvent, Client
from tokenstile.tokens.redirect_uris import (
    MAX_REDIRECT_URI,
    MAX_REDIRECT_URIS,
    check_logout_registration,
    check_registration,
)

_call = AdminWork((NotFound, 404, "not_found"), (ConfigError, 400, "invalid_request"))
MAX_NAME = 128
MAX_JWKS_BYTES = 64 * 1024


class AddClientBody(BaseModel):
    model_config = ConfigDict(extra="forbid")
    name: str = Field(min_length=1, max_length=MAX_NAME, examples=["Records"])
    kind: Literal["web", "native"]
    redirect_uris: list[str] = Field(min_length=1, max_length=MAX_REDIRECT_URIS)
    post_logout_redirect_uris: list[str] = Field(default_factory=list, max_length=MAX_REDIRECT_URIS)
    backchannel_logout_uri: str | None = Field(default=None, max_length=MAX_REDIRECT_URI)
    jwks: dict[str, Any] | None = Field(
        default=None,
        description="a web client's JWK Set (public keys only): it then authenticates with "
        "private_key_jwt and gets no secret",
    )


class ClientIdBody(BaseModel):
    model_config = ConfigDict(extra="forbid")
    client_id: str = Field(min_length=1, max_length=64)


class UpdateClientBody(BaseModel):
    """Members left out stay as they are; ``backchannel_logout_uri: null`` removes it."""

    model_config = ConfigDict(extra="forbid")
    client_id: str = Field(min_length=1, max_length=64)
    redirect_uris: list[str] | None = Field(
        default=None, min_length=1, max_length=MAX_REDIRECT_URIS
    )
    post_logout_redirect_uris: list[str] | None = Field(default=None, max_length=MAX_REDIRECT_URIS)
    backchannel_logout_uri: str | None = Field(default=None, max_length=MAX_REDIRECT_URI)


class ClientBody(BaseModel):
    client_id: str
    name: str
    kind: str
    enabled: bool
    token_endpoint_auth_method: str = Field(
        description="client_secret_basic (or _post), private_key_jwt, or none (native)"
    )
    redirect_uris: list[str]
    post_logout_redirect_uris: list[str]
    backchannel_logout_uri: str | None
    jwks: dict[str, Any] | None


class ClientListBody(BaseModel):
    clients: list[ClientBody]


class ClientWithSecretBody(ClientBody):
    client_secret: str | None = Field(
        description="the new secret, shown this once (null for a native or key client)"
    )


def _auth_method(client: Client) -> str:
    if client.jwks is not None:
        return "private_key_jwt"
    return "client_secret_basic" if client.secret_hash is not None else "none"


def client_json(client: Client) -> dict[str, Any]:
    """A client as the admin API shows it: never its secret nor the secret's hash."""
    return {
        "client_id": client.client_id,
        "name": client.name,
        "kind": client.kind,
        "enabled": client.enabled,
        "token_endpoint_auth_method": _auth_method(client),
        "redirect_uris": list(client.redirect_uris),
        "post_logout_redirect_uris": list(client.post_logout_redirect_uris),
        "backchannel_logout_uri": client.backchannel_logout_uri,
        "jwks": json.loads(client.jwks) if client.jwks else None,
    }


def admin_clients_router(services: Services) -> APIRouter:
    """``/admin/clients``: the web and native clients."""
    deployment = services.deployment
    store = deployment.store
    router = admin_router(
        services,
        prefix="/admin/clients",
        tags=["admin: clients"],
        responses=schemas.admin_errors(
            bad_input="bad input: a redirect URI the client kind may not register, a JWK Set "
            "with a private key, a secret rotation for a client without a secret",
            not_found="no web or native client of this id",
            conflict="a client of this name exists",
        ),
    )

    def browser_client(client_id: str) -> Client:
        client = store.find_client(client_id)
        if client is None or client.kind not in BROWSER_CLIENT_KINDS:
            raise NotFound(f"No web or native client {client_id!r}.")
        return client

    def change(
        request: Request, who: AdminPrincipal, client_id: str, event: str, **values: Any
    ) -> Client:
        detail = {k: v for k, v in values.items() if k != "secret_hash"}
        return update_client(
            store,
            client_id,
            at=deployment.clock.now(),
            audit=AuditEvent(
                event,
                "info",
                client_id=client_id,
                origin=request_origin(request),
                detail={"by": who.actor, **detail},
            ),
            **values,
        )

    @router.get("", summary="List the web and native clients", response_model=ClientListBody)
    async def list_clients() -> Response:
        found = await _call(store.list_clients)
        shown = [client_json(c) for c in found if c.kind in BROWSER_CLIENT_KINDS]
        return no_store_json({"clients": shown})

    @admin_post(
        router,
        "",
        AddClientBody,
        status_code=201,
        summary="Register a web or native client (a web client's secret is in this answer only)",
        response_model=ClientWithSecretBody,
        limit=MAX_JWKS_BYTES,
    )
    async def add_client(request: Request, who: AdminPrincipal, body: AddClientBody) -> Response:
        if await run_in_threadpool(store.find_client_by_name, body.name) is not None:
            raise AdminApiError(409, "conflict", f"A client named {body.name!r} exists.")
        client, secret = await _call(
            lambda: deployment.add_client(
                body.name,
                kind=body.kind,
                audiences=[],
                scopes=[],
                redirect_uris=body.redirect_uris,
                post_logout_redirect_uris=body.post_logout_redirect_uris,
                backchannel_logout_uri=body.backchannel_logout_uri,
                jwks=json.dumps(body.jwks) if body.jwks is not None else None,
                by=who.actor,
                origin=request_origin(request),
            )
        )
        return no_store_json({**client_json(client), "client_secret": secret}, 201)

    @admin_post(
        router,
        "/update",
        UpdateClientBody,
        summary="Change a client's redirect URIs, post-logout URIs or back-channel URI",
        response_model=ClientBody,
    )
    async def update(request: Request, who: AdminPrincipal, body: UpdateClientBody) -> Response:
        given = body.model_fields_set - {"client_id"}
        if not given:
            raise AdminApiError(400, "invalid_request", "Name at least one member to change.")
        if "redirect_uris" in given and body.redirect_uris is None:
            raise AdminApiError(400, "invalid_request", "A client keeps at least one redirect URI.")

        def work() -> Client:
            client = browser_client(body.client_id)
            values: dict[str, Any] = {}
            if body.redirect_uris is not None:
                values["redirect_uris"] = list(check_registration(client.kind, body.redirect_uris))
            post_logout = (
                body.post_logout_redirect_uris
                if "post_logout_redirect_uris" in given
                else list(client.post_logout_redirect_uris)
            )
            backchannel = (
                body.backchannel_logout_uri
                if "backchannel_logout_uri" in given
                else client.backchannel_logout_uri
            )
            checked = list(check_logout_registration(client.kind, post_logout or [], backchannel))
            if "post_logout_redirect_uris" in given:
                values["post_logout_redirect_uris"] = checked
            if "backchannel_logout_uri" in given:
                values["backchannel_logout_uri"] = backchannel
                values["clear_backchannel_logout_uri"] = backchannel is None
            return change(request, who, client.client_id, "client_updated", **values)

        return no_store_json(client_json(await _call(work)))

    @admin_post(
        router,
        "/rotate-secret",
        ClientIdBody,
        summary="Give a web client a new secret (in this answer only); the old one stops",
        response_model=ClientWithSecretBody,
    )
    async def rotate_secret(request: Request, who: AdminPrincipal, body: ClientIdBody) -> Response:
        secret = secrets.token_urlsafe(32)

        def work() -> Client:
            client = browser_client(body.client_id)
            if client.secret_hash is None:
                raise ConfigError("This client has no secret to rotate (native, or keys).")
            return change(
                request,
                who,
                client.client_id,
                "client_secret_rotated",
                secret_hash=client_secret_hash(secret),
            )

        client = await _call(work)
        return no_store_json({**client_json(client), "client_secret": secret})

    for verb, enabled in (("disable", False), ("enable", True)):

        def endpoint(flag: bool) -> Any:
            async def set_enabled(
                request: Request, who: AdminPrincipal, body: ClientIdBody
            ) -> Response:
                def work() -> Client:
                    client = browser_client(body.client_id)
                    event = "client_enabled" if flag else "client_disabled"
                    return change(request, who, client.client_id, event, enabled=flag)

                return no_store_json(client_json(await _call(work)))

            return set_enabled

        admin_post(
            router,
            f"/{verb}",
            ClientIdBody,
            summary=f"{verb.capitalize()} a client: its token requests are "
            + ("refused" if not enabled else "accepted again"),
            response_model=ClientBody,
            name=f"{verb}_client",
        )(endpoint(enabled))

    return router
