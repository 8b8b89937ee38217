"""``admin_post``: an admin endpoint that takes a JSON body, its model named once.

The model is both the request body of the OpenAPI document and what ``read_admin_body``
reads; the endpoint gets the request, the calling admin and the body, which is read
only after the router's ``BearerAuth`` dependency admitted the caller::

    @admin_post(router, "/revoke", SerialBody, summary="Revoke", response_model=CredentialBody)
    async def revoke(request: Request, who: AdminPrincipal, body: SerialBody) -> Response:
        ...

A response model that shows a repository's dataclass as it is takes its fields from it
with ``@fields_of(Info)`` rather than repeating them.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar, get_type_hints

from fastapi import APIRouter, Request
from pydantic import BaseModel, create_model
from starlette.responses import Response

from tokenstile.server import schemas
from tokenstile.server.admin_auth import (
    MAX_ADMIN_BYTES,
    AdminPrincipal,
    admin_principal,
    read_admin_body,
)

_Body = TypeVar("_Body", bound=BaseModel)
_Model = TypeVar("_Model", bound=BaseModel)

AdminEndpoint = Callable[[Request, AdminPrincipal, _Body], Awaitable[Response]]


def admin_post(
    router: APIRouter,
    path: str,
    model: type[_Body],
    *,
    summary: str,
    response_model: Any,
    status_code: int | None = None,
    limit: int = MAX_ADMIN_BYTES,
    name: str | None = None,
) -> Callable[[AdminEndpoint[_Body]], AdminEndpoint[_Body]]:
    """Adds the decorated endpoint to ``router`` as ``POST path`` (named as the endpoint
    unless ``name`` is given) with a body of ``model`` of at most ``limit`` bytes."""

    def add(endpoint: AdminEndpoint[_Body]) -> AdminEndpoint[_Body]:
        async def route(request: Request) -> Response:
            who = admin_principal(request)
            return await endpoint(request, who, await read_admin_body(request, model, limit))

        router.add_api_route(
            path,
            route,
            methods=["POST"],
            status_code=status_code,
            summary=summary,
            response_model=response_model,
            openapi_extra=schemas.model_body(model),
            name=name or endpoint.__name__,
        )
        return endpoint

    return add


def fields_of(info: type[Any]) -> Callable[[type[_Model]], type[_Model]]:
    """Gives the decorated (empty) model every field of the dataclass ``info``, required
    and of the same type, in the same order; its name and module stay the model's."""
    hints = get_type_hints(info)
    fields: dict[str, Any] = {
        field.name: (hints[field.name], ...) for field in dataclasses.fields(info)
    }

    def build(model: type[_Model]) -> type[_Model]:
        return create_model(model.__name__, __base__=model, __module__=model.__module__, **fields)

    return build
