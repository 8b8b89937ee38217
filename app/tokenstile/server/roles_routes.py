"""The admin API of roles: ``GET /admin/me`` and ``POST /admin/users/roles``.

``GET /admin/me`` (any built-in role) tells the signed-in person their roles and the
permissions they give (``protocol.roles``): the admin console shows only what these allow.
``POST /admin/users/roles`` (``admin`` only) sets a person's built-in roles exactly:
``{"username", "roles": ["helpdesk"]}``; other role names (a four-eyes confirm's) are kept.
It is audited (``roles_set``, with the roles before and after). An admin cannot take the
role ``admin`` from themself (another admin must), so the last admin cannot lock everyone
out by a slip.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Request
from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy import select
from starlette.responses import Response

from tokenstile.composition import Services
from tokenstile.errors import NotFound
from tokenstile.protocol.roles import Permission, Role
from tokenstile.server import schemas
from tokenstile.server.admin_auth import (
    AdminApiError,
    AdminPrincipal,
    AdminWork,
    admin_principal,
    admin_router,
)
from tokenstile.server.admin_post import admin_post
from tokenstile.server.wire import no_store_json, request_origin
from tokenstile.store import schema as t
from tokenstile.store.roles import set_builtin_roles
from tokenstile.tokens.model import AuditEvent


class MeBody(BaseModel):
    username: str
    roles: list[Role]
    permissions: list[Permission]


class SetRolesBody(BaseModel):
    model_config = ConfigDict(extra="forbid")
    username: Annotated[str, Field(min_length=1, max_length=128)]
    roles: list[Role] = Field(max_length=len(Role), description="the built-in roles to hold")


class RolesBody(BaseModel):
    username: str
    roles: list[Role]


def roles_router(services: Services) -> APIRouter:
    deployment = services.deployment
    call = AdminWork((NotFound, 404, "not_found"))
    router = admin_router(
        services,
        prefix="/admin",
        tags=["admin: roles"],
        responses=schemas.admin_errors(
            bad_input="bad input",
            not_found="no person of this name",
            conflict="taking the role admin from oneself",
        ),
    )

    @router.get(
        "/me", summary="Who is signed in: their roles and permissions", response_model=MeBody
    )
    async def me(request: Request) -> Response:
        who = admin_principal(request)
        return no_store_json(
            {
                "username": who.username,
                "roles": sorted(role.value for role in who.roles),
                "permissions": sorted(p.value for p in who.permissions),
            }
        )

    def set_roles(username: str, roles: frozenset[Role], by: str, origin: str) -> list[str]:
        now = deployment.clock.now()
        with deployment.store.write() as tx:
            conn = tx.connection
            user_id = conn.execute(
                select(t.users.c.id).where(t.users.c.username == username)
            ).scalar()
            if user_id is None:
                raise NotFound(f"No person named {username!r}.")
            before = set_builtin_roles(conn, user_id, roles, at=now)
            tx.audit(
                AuditEvent(
                    "roles_set",
                    "info",
                    username=username,
                    origin=origin,
                    detail={
                        "by": by,
                        "before": sorted(r.value for r in before),
                        "after": sorted(r.value for r in roles),
                    },
                ),
                at=now,
            )
        return sorted(r.value for r in roles)

    @admin_post(
        router,
        "/users/roles",
        SetRolesBody,
        summary="Set a person's built-in roles (admin, helpdesk, enroller)",
        response_model=RolesBody,
    )
    async def set_user_roles(request: Request, who: AdminPrincipal, body: SetRolesBody) -> Response:
        roles = frozenset(body.roles)
        if body.username == who.username and Role.ADMIN not in roles:
            raise AdminApiError(
                409, "conflict", "You cannot take the role admin from yourself: ask another admin."
            )
        held = await call(
            lambda: set_roles(body.username, roles, who.actor, request_origin(request))
        )
        return no_store_json({"username": body.username, "roles": held})

    return router
