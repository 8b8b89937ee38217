"""SCIM 2.0 inbound provisioning (RFC 7643, RFC 7644): identity platforms push people and
groups into Tokenstile under ``/scim/v2``.

- ``/Users``: POST, GET (``filter=userName eq "..."`` or ``externalId eq "..."``,
  ``startIndex``/``count``), ``/Users/{id}``: GET, PUT, PATCH, DELETE (the person is
  disabled, never deleted);
- ``/Groups``: the same, filters on ``displayName`` and ``externalId``; a group named
  after a role its client may grant gives that role (``store.scim_repository``);
- ``/ServiceProviderConfig``, ``/Schemas``, ``/ResourceTypes`` (RFC 7644 section 4).

The resources, their schemas and PATCH are scim2-models' (``User[EnterpriseUser]``,
``Group``, ``PatchOp``), not written here. A PATCH is applied to the state the store's
transaction holds and written in that transaction: all of its operations or none.

Every request needs ``Authorization: Bearer <token>`` of a SCIM client (``tokenstile
manage scim token create``); a client sees and changes only the people and groups it
created (another client's are "not found"), and never a person added by hand or managed
by another directory (409). Every error is SCIM's (RFC 7644 section 3.12):
``{"schemas": [...Error], "status": "400", "scimType": ..., "detail": ...}``.

Attackers were thought of: a body is read up to ``MAX_SCIM_BYTES`` (413 beyond), must
be one JSON object, and is validated strictly (unknown attributes refused); a filter is
at most ``MAX_FILTER_CHARS`` and only ``ATTRIBUTE eq "VALUE"`` (no SQL is built from
it: the value is a bound parameter); ``count`` is capped at ``MAX_COUNT``; resource URLs
come from the configured issuer, never from the request's Host header.
"""

from __future__ import annotations

import json
import logging
import re
from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from typing import Any, TypeVar

from fastapi import APIRouter, Request
from pydantic import ValidationError
from scim2_models import (
    AuthenticationScheme,
    Bulk,
    ChangePassword,
    Context,
    EnterpriseUser,
    Error,
    ETag,
    Filter,
    Group,
    InvalidFilterException,
    InvalidSyntaxException,
    InvalidValueException,
    ListResponse,
    Patch,
    PatchOp,
    PayloadTooLargeException,
    ResourceType,
    Schema,
    SCIMException,
    ScimProvider,
    ServiceProviderConfig,
    Sort,
    UnauthorizedException,
    User,
)
from scim2_models import (
    Pagination as PaginationConfig,
)
from starlette.concurrency import run_in_threadpool
from starlette.responses import Response

from tokenstile.composition import Lazy, Services
from tokenstile.errors import NotFound, StoreUnavailable, TokenstileError
from tokenstile.server.wire import request_origin
from tokenstile.store.rows import is_plain_text
from tokenstile.store.scim_repository import (
    GroupFields,
    PersonFields,
    ScimClient,
    ScimConflict,
    ScimGroup,
    ScimInvalid,
    ScimPerson,
    ScimRepository,
    ScimStale,
    ScimTokens,
)
from tokenstile.tokens.model import MAX_USERNAME, USERNAME_PATTERN

log = logging.getLogger(__name__)

SCIM_MEDIA_TYPE = "application/scim+json"
PREFIX = "/scim/v2"
MAX_SCIM_BYTES = 256 * 1024
MAX_FILTER_CHARS = 512
MAX_COUNT = 200
MAX_EXTERNAL_ID = 256
MAX_DISPLAY_NAME = 256
REALM = "tokenstile-scim"

UserResource = User[EnterpriseUser]
_R = TypeVar("_R")

_USERNAME = re.compile(USERNAME_PATTERN)
_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f]")
# The whole filter grammar: ATTRIBUTE eq "JSON string" (RFC 7644 section 3.4.2.2).
_FILTER = re.compile(r'\s*([A-Za-z][A-Za-z0-9]*)\s+[eE][qQ]\s+("(?:[^"\\]|\\.)*")\s*')
_KNOWN_PATH = re.compile(
    r"(?:Users|Groups)(?:/[^/]+)?|ServiceProviderConfig|Schemas(?:/[^/]+)?|ResourceTypes(?:/[^/]+)?"
)
_USER_FILTERS = {"username": "user_name", "externalid": "external_id"}
_GROUP_FILTERS = {"displayname": "display_name", "externalid": "external_id"}
# What the person's SCIM row does not keep in ``profile``: held in columns, derived, or
# never stored (a password: Tokenstile has none).
_NOT_IN_PROFILE = ("id", "meta", "userName", "externalId", "active", "password", "groups")

SERVICE_PROVIDER_CONFIG = ServiceProviderConfig(
    documentation_uri=None,
    patch=Patch(supported=True),
    bulk=Bulk(supported=False, max_operations=0, max_payload_size=0),
    filter=Filter(supported=True, max_results=MAX_COUNT),
    change_password=ChangePassword(supported=False),
    sort=Sort(supported=False),
    etag=ETag(supported=True),
    pagination=PaginationConfig(index=True, cursor=False, default_page_size=MAX_COUNT),
    authentication_schemes=[
        AuthenticationScheme(
            type=AuthenticationScheme.Type.oauthbearertoken,
            name="Bearer token",
            description="A token an admin creates with `tokenstile manage scim token create`.",
            primary=True,
        )
    ],
)

PROVIDER = ScimProvider(
    models=[User, EnterpriseUser, Group],
    resource_types=[ResourceType.from_resource(UserResource), ResourceType.from_resource(Group)],
    config=SERVICE_PROVIDER_CONFIG,
)


# -- the wire -----------------------------------------------------------------------------


def scim_response(
    body: Mapping[str, Any], status: int = 200, headers: Mapping[str, str] | None = None
) -> Response:
    return Response(
        json.dumps(body, separators=(",", ":")),
        status_code=status,
        media_type=SCIM_MEDIA_TYPE,
        headers=headers,
    )


def error_body(error: Error) -> dict[str, Any]:
    return error.model_dump()


def scim_error(status: int, detail: str, scim_type: str | None = None) -> Response:
    headers = {"WWW-Authenticate": f'Bearer realm="{REALM}"'} if status == 401 else None
    error = Error(status=status, scim_type=scim_type, detail=detail)
    return scim_response(error_body(error), status, headers)


def error_answer(exc: Exception) -> Response:
    """The SCIM error that answers ``exc``; anything unforeseen is a 500 without detail."""
    if isinstance(exc, SCIMException):
        error = exc.to_error()
        return scim_error(error.status or 400, error.detail or exc.detail, error.scim_type)
    if isinstance(exc, ValidationError):
        error = Error.from_validation_errors(exc)[0]
        return scim_error(error.status or 400, error.detail or "Invalid body.", error.scim_type)
    if isinstance(exc, NotFound):
        return scim_error(404, exc.message)
    if isinstance(exc, ScimConflict):
        return scim_error(409, exc.message, "uniqueness")
    if isinstance(exc, ScimInvalid):
        return scim_error(400, exc.message, "invalidValue")
    if isinstance(exc, ScimStale):
        return scim_error(412, exc.message)
    if isinstance(exc, StoreUnavailable):
        log.warning("store unavailable (%s): %s", exc.reason, exc.message)
        answer = scim_error(503, "The service cannot reach its database; retry shortly.")
        answer.headers["Retry-After"] = "2"
        return answer
    if isinstance(exc, TokenstileError):
        log.error("SCIM request failed: %s (%s)", exc.message, exc.code)
    else:
        log.error("SCIM request failed: %s", type(exc).__name__, exc_info=exc)
    return scim_error(500, "The SCIM service failed.")


async def read_scim_body(request: Request) -> dict[str, Any]:
    """The request's JSON object, read up to ``MAX_SCIM_BYTES``."""
    media = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if media not in (SCIM_MEDIA_TYPE, "application/json"):
        raise InvalidSyntaxException(
            detail=f"Send the body as {SCIM_MEDIA_TYPE} (or application/json)."
        )
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > MAX_SCIM_BYTES:
        raise PayloadTooLargeException(detail=f"The body is larger than {MAX_SCIM_BYTES} bytes.")
    chunks, size = [], 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > MAX_SCIM_BYTES:
            raise PayloadTooLargeException(
                detail=f"The body is larger than {MAX_SCIM_BYTES} bytes."
            )
        chunks.append(chunk)
    try:
        body = json.loads(b"".join(chunks).decode("utf-8"), object_pairs_hook=_no_duplicates)
    except (UnicodeDecodeError, ValueError, RecursionError) as exc:
        raise InvalidSyntaxException(detail="The body is not valid JSON.") from exc
    if not isinstance(body, dict):
        raise InvalidSyntaxException(detail="The body must be a JSON object.")
    return body


def _no_duplicates(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    found: dict[str, Any] = {}
    for key, value in pairs:
        if key in found:  # two parsers must never read one body two ways
            raise ValueError(f"duplicate member {key!r}")
        found[key] = value
    return found


def parse_filter(text: str | None, attributes: Mapping[str, str]) -> tuple[str, str] | None:
    """``(attribute, value)`` of a filter ``ATTRIBUTE eq "VALUE"``; the only grammar served."""
    if text is None:
        return None
    if len(text) > MAX_FILTER_CHARS:
        raise InvalidFilterException(
            detail=f"The filter is longer than {MAX_FILTER_CHARS} characters."
        )
    match = _FILTER.fullmatch(text)
    names = " or ".join(f'{a} eq "..."' for a in attributes)
    if match is None or match.group(1).lower() not in attributes:
        raise InvalidFilterException(detail=f"Only the filters {names} are supported.")
    try:
        value = json.loads(match.group(2))
    except ValueError as exc:
        raise InvalidFilterException(detail="The filter's value is not a valid string.") from exc
    if not isinstance(value, str) or not is_plain_text(value):
        raise InvalidFilterException(detail="The filter's value is not a valid string.")
    return attributes[match.group(1).lower()], value


def page_parameters(request: Request) -> tuple[int, int]:
    """``startIndex`` (1-based, below 1 read as 1) and ``count`` (0 to ``MAX_COUNT``),
    RFC 7644 section 3.4.2.4."""

    def number(name: str, default: int) -> int:
        text = request.query_params.get(name)
        if text is None:
            return default
        if not re.fullmatch(r"-?\d{1,9}", text.strip()):
            raise InvalidValueException(detail=f"{name} must be an integer.")
        return int(text)

    return max(1, number("startIndex", 1)), min(MAX_COUNT, max(0, number("count", MAX_COUNT)))


def if_match_version(request: Request) -> int | None:
    """The version an ``If-Match`` header asks for (our ETags are ``W/"<n>"``)."""
    header = request.headers.get("if-match")
    if header is None or header.strip() == "*":
        return None
    match = re.fullmatch(r'\s*(?:W/)?"(\d{1,9})"\s*', header)
    if match is None:
        return -1  # no version of ours: never current
    return int(match.group(1))


def _timestamp(epoch: float) -> datetime:
    return datetime.fromtimestamp(epoch, UTC)


def _etag(version: int) -> str:
    return f'W/"{version}"'


# -- people -------------------------------------------------------------------------------


def _text(name: str, value: str | None, limit: int) -> str | None:
    if value is None:
        return None
    if not is_plain_text(value) or _CONTROL.search(value) or len(value) > limit:
        raise InvalidValueException(
            detail=f"{name} is at most {limit} characters, without control characters."
        )
    return value


def person_fields(user: UserResource) -> PersonFields:
    """What Tokenstile keeps of a SCIM User: ``userName``, ``active`` (absent: true),
    ``externalId``, a display name, and the rest as its profile (never a password)."""
    user_name = user.user_name or ""
    if not is_plain_text(user_name) or not _USERNAME.fullmatch(user_name):
        raise InvalidValueException(
            detail=f"userName is 1 to {MAX_USERNAME} visible characters, without spaces."
        )
    external_id = _text("externalId", user.external_id, MAX_EXTERNAL_ID)
    name = user.name
    shown = user.display_name or (name.formatted if name else None)
    if not shown and name and (name.given_name or name.family_name):
        shown = " ".join(part for part in (name.given_name, name.family_name) if part)
    display_name = _text("displayName", shown or user_name, MAX_DISPLAY_NAME) or user_name
    dumped = user.model_dump(scim_ctx=Context.DEFAULT)
    profile = {k: v for k, v in dumped.items() if k not in _NOT_IN_PROFILE}
    return PersonFields(
        user_name=user_name,
        display_name=display_name.strip() or user_name,
        active=True if user.active is None else bool(user.active),
        external_id=external_id,
        profile=profile,
    )


def user_resource(person: ScimPerson, base: str) -> UserResource:
    f = person.fields
    payload: dict[str, Any] = {
        **f.profile,
        "id": person.scim_id,
        "userName": f.user_name,
        "active": f.active,
        "meta": {
            "resourceType": "User",
            "created": _timestamp(person.created_at).isoformat(),
            "lastModified": _timestamp(person.updated_at).isoformat(),
            "location": f"{base}/Users/{person.scim_id}",
            "version": _etag(person.version),
        },
    }
    if f.external_id is not None:
        payload["externalId"] = f.external_id
    if person.groups:
        payload["groups"] = [
            {"value": gid, "display": shown, "$ref": f"{base}/Groups/{gid}", "type": "direct"}
            for gid, shown in person.groups
        ]
    return UserResource.model_validate(payload, scim_ctx=Context.RESOURCE_QUERY_RESPONSE)


def user_json(person: ScimPerson, base: str) -> dict[str, Any]:
    resource = user_resource(person, base)
    return resource.model_dump(scim_ctx=Context.RESOURCE_QUERY_RESPONSE)


# -- groups -------------------------------------------------------------------------------


def group_fields(group: Group) -> GroupFields:
    display_name = _text("displayName", group.display_name, MAX_DISPLAY_NAME)
    if not display_name or not display_name.strip():
        raise InvalidValueException(detail="A group needs a displayName.")
    members: list[str] = []
    for member in group.members or []:
        if not member.value or not is_plain_text(member.value):
            raise InvalidValueException(detail="Every member needs the id of a user as value.")
        if member.type not in (None, "User"):
            raise InvalidValueException(detail="Only users can be members of a group here.")
        members.append(member.value)
    return GroupFields(
        display_name=display_name.strip(),
        external_id=_text("externalId", group.external_id, MAX_EXTERNAL_ID),
        members=tuple(dict.fromkeys(members)),
    )


def group_resource(group: ScimGroup, base: str) -> Group:
    f = group.fields
    payload: dict[str, Any] = {
        "schemas": [str(Group.__schema__)],
        "id": group.scim_id,
        "displayName": f.display_name,
        "members": [
            {"value": uid, "display": name, "$ref": f"{base}/Users/{uid}", "type": "User"}
            for uid, name in zip(f.members, group.member_names, strict=True)
        ],
        "meta": {
            "resourceType": "Group",
            "created": _timestamp(group.created_at).isoformat(),
            "lastModified": _timestamp(group.updated_at).isoformat(),
            "location": f"{base}/Groups/{group.scim_id}",
            "version": _etag(group.version),
        },
    }
    if f.external_id is not None:
        payload["externalId"] = f.external_id
    return Group.model_validate(payload, scim_ctx=Context.RESOURCE_QUERY_RESPONSE)


def group_json(group: ScimGroup, base: str) -> dict[str, Any]:
    return group_resource(group, base).model_dump(scim_ctx=Context.RESOURCE_QUERY_RESPONSE)


# -- the router ---------------------------------------------------------------------------


def scim_router(services: Services) -> APIRouter:  # noqa: PLR0915 - one route each
    """``/scim/v2``: Users, Groups and the discovery endpoints, for SCIM clients."""
    deployment = services.deployment
    tokens = Lazy(lambda: ScimTokens(deployment.store, clock=deployment.clock))
    repository = Lazy(lambda: ScimRepository(deployment.store, clock=deployment.clock))
    base_url = Lazy(lambda: services.token_service().issuer.rstrip("/") + PREFIX)
    # SCIM describes itself (/Schemas, /ResourceTypes, RFC 7644 section 4): the OpenAPI
    # document stays the OAuth and admin API's.
    router = APIRouter(prefix=PREFIX, tags=["scim"], include_in_schema=False)

    async def client_of(request: Request) -> ScimClient:
        header = request.headers.get("authorization", "")
        scheme, _, token = header.partition(" ")
        if scheme.lower() != "bearer" or not token.strip():
            raise UnauthorizedException(detail="Send the SCIM client's token: Bearer <token>.")
        client = await run_in_threadpool(tokens().client, token.strip())
        if client is None:
            raise UnauthorizedException(detail="The token is not a valid SCIM token.")
        return client

    async def answer(
        request: Request, work: Callable[[ScimClient], Response], *, body: bool = False
    ) -> Response:
        """Authenticate, then run ``work`` in the thread pool; every failure a SCIM error."""
        try:
            client = await client_of(request)
            if body:
                request.state.scim_body = await read_scim_body(request)
            return await run_in_threadpool(work, client)
        except Exception as exc:  # noqa: BLE001 - each kind mapped in error_answer
            return error_answer(exc)

    def validated(model: Any, payload: dict[str, Any], context: Context) -> Any:
        with PROVIDER:
            return model.model_validate(payload, scim_ctx=context)

    # -- discovery (RFC 7644 section 4); a client's token is needed here too --

    @router.get("/ServiceProviderConfig")
    async def service_provider_config(request: Request) -> Response:
        def work(_: ScimClient) -> Response:
            config = SERVICE_PROVIDER_CONFIG
            return scim_response(config.model_dump(scim_ctx=Context.RESOURCE_QUERY_RESPONSE))

        return await answer(request, work)

    @router.get("/Schemas")
    async def schemas(request: Request) -> Response:
        def work(_: ScimClient) -> Response:
            found = list(PROVIDER.schemas)
            listed = ListResponse[Schema](
                total_results=len(found),
                start_index=1,
                items_per_page=len(found),
                resources=found,
            )
            return scim_response(listed.model_dump(scim_ctx=Context.SEARCH_RESPONSE))

        return await answer(request, work)

    @router.get("/Schemas/{schema_id}")
    async def one_schema(request: Request, schema_id: str) -> Response:
        def work(_: ScimClient) -> Response:
            for schema in PROVIDER.schemas:
                if schema.id == schema_id:
                    return scim_response(
                        schema.model_dump(scim_ctx=Context.RESOURCE_QUERY_RESPONSE)
                    )
            raise NotFound(f"No schema has the id {schema_id!r}.")

        return await answer(request, work)

    @router.get("/ResourceTypes")
    async def resource_types(request: Request) -> Response:
        def work(_: ScimClient) -> Response:
            found = list(PROVIDER.resource_types)
            listed = ListResponse[ResourceType](
                total_results=len(found),
                start_index=1,
                items_per_page=len(found),
                resources=found,
            )
            return scim_response(listed.model_dump(scim_ctx=Context.SEARCH_RESPONSE))

        return await answer(request, work)

    @router.get("/ResourceTypes/{name}")
    async def one_resource_type(request: Request, name: str) -> Response:
        def work(_: ScimClient) -> Response:
            for kind in PROVIDER.resource_types:
                if kind.id == name:
                    return scim_response(kind.model_dump(scim_ctx=Context.RESOURCE_QUERY_RESPONSE))
            raise NotFound(f"No resource type has the id {name!r}.")

        return await answer(request, work)

    # -- Users --

    @router.post("/Users")
    async def create_user(request: Request) -> Response:
        def work(client: ScimClient) -> Response:
            user = validated(
                UserResource, request.state.scim_body, Context.RESOURCE_CREATION_REQUEST
            )
            person = repository().create_person(
                client, person_fields(user), origin=request_origin(request)
            )
            location = f"{base_url()}/Users/{person.scim_id}"
            return scim_response(
                user_json(person, base_url()),
                201,
                {"Location": location, "ETag": _etag(person.version)},
            )

        return await answer(request, work, body=True)

    @router.get("/Users")
    async def list_users(request: Request) -> Response:
        def work(client: ScimClient) -> Response:
            wanted = parse_filter(request.query_params.get("filter"), _USER_FILTERS)
            start, count = page_parameters(request)
            criteria = {wanted[0]: wanted[1]} if wanted else {}
            page = repository().people(client, start=start, count=count, **criteria)
            listed = ListResponse[UserResource](
                total_results=page.total,
                start_index=start,
                items_per_page=len(page.items),
                resources=[user_resource(p, base_url()) for p in page.items],
            )
            return scim_response(listed.model_dump(scim_ctx=Context.SEARCH_RESPONSE))

        return await answer(request, work)

    @router.get("/Users/{scim_id}")
    async def get_user(request: Request, scim_id: str) -> Response:
        def work(client: ScimClient) -> Response:
            person = repository().person(client, scim_id)
            return scim_response(
                user_json(person, base_url()), headers={"ETag": _etag(person.version)}
            )

        return await answer(request, work)

    @router.put("/Users/{scim_id}")
    async def replace_user(request: Request, scim_id: str) -> Response:
        def work(client: ScimClient) -> Response:
            user = validated(
                UserResource, request.state.scim_body, Context.RESOURCE_REPLACEMENT_REQUEST
            )
            fields = person_fields(user)
            person = repository().update_person(
                client,
                scim_id,
                lambda _: fields,
                if_version=if_match_version(request),
                origin=request_origin(request),
            )
            return scim_response(
                user_json(person, base_url()), headers={"ETag": _etag(person.version)}
            )

        return await answer(request, work, body=True)

    @router.patch("/Users/{scim_id}")
    async def patch_user(request: Request, scim_id: str) -> Response:
        def work(client: ScimClient) -> Response:
            patch = validated(
                PatchOp[UserResource], request.state.scim_body, Context.RESOURCE_PATCH_REQUEST
            )
            base = base_url()

            def change(before: ScimPerson) -> PersonFields:
                resource = user_resource(before, base)
                with PROVIDER:
                    patch.patch(resource)
                return person_fields(resource)

            person = repository().update_person(
                client,
                scim_id,
                change,
                if_version=if_match_version(request),
                origin=request_origin(request),
            )
            return scim_response(user_json(person, base), headers={"ETag": _etag(person.version)})

        return await answer(request, work, body=True)

    @router.delete("/Users/{scim_id}")
    async def delete_user(request: Request, scim_id: str) -> Response:
        def work(client: ScimClient) -> Response:
            repository().disable_person(
                client,
                scim_id,
                if_version=if_match_version(request),
                origin=request_origin(request),
            )
            return Response(status_code=204)

        return await answer(request, work)

    # -- Groups --

    @router.post("/Groups")
    async def create_group(request: Request) -> Response:
        def work(client: ScimClient) -> Response:
            group = validated(Group, request.state.scim_body, Context.RESOURCE_CREATION_REQUEST)
            made = repository().create_group(
                client, group_fields(group), origin=request_origin(request)
            )
            location = f"{base_url()}/Groups/{made.scim_id}"
            return scim_response(
                group_json(made, base_url()),
                201,
                {"Location": location, "ETag": _etag(made.version)},
            )

        return await answer(request, work, body=True)

    @router.get("/Groups")
    async def list_groups(request: Request) -> Response:
        def work(client: ScimClient) -> Response:
            wanted = parse_filter(request.query_params.get("filter"), _GROUP_FILTERS)
            start, count = page_parameters(request)
            criteria = {wanted[0]: wanted[1]} if wanted else {}
            page = repository().groups(client, start=start, count=count, **criteria)
            listed = ListResponse[Group](
                total_results=page.total,
                start_index=start,
                items_per_page=len(page.items),
                resources=[group_resource(g, base_url()) for g in page.items],
            )
            return scim_response(listed.model_dump(scim_ctx=Context.SEARCH_RESPONSE))

        return await answer(request, work)

    @router.get("/Groups/{scim_id}")
    async def get_group(request: Request, scim_id: str) -> Response:
        def work(client: ScimClient) -> Response:
            group = repository().group(client, scim_id)
            return scim_response(
                group_json(group, base_url()), headers={"ETag": _etag(group.version)}
            )

        return await answer(request, work)

    @router.put("/Groups/{scim_id}")
    async def replace_group(request: Request, scim_id: str) -> Response:
        def work(client: ScimClient) -> Response:
            group = validated(Group, request.state.scim_body, Context.RESOURCE_REPLACEMENT_REQUEST)
            fields = group_fields(group)
            done = repository().update_group(
                client,
                scim_id,
                lambda _: fields,
                if_version=if_match_version(request),
                origin=request_origin(request),
            )
            return scim_response(
                group_json(done, base_url()), headers={"ETag": _etag(done.version)}
            )

        return await answer(request, work, body=True)

    @router.patch("/Groups/{scim_id}")
    async def patch_group(request: Request, scim_id: str) -> Response:
        def work(client: ScimClient) -> Response:
            patch = validated(
                PatchOp[Group], request.state.scim_body, Context.RESOURCE_PATCH_REQUEST
            )
            base = base_url()

            def change(before: ScimGroup) -> GroupFields:
                resource = group_resource(before, base)
                with PROVIDER:
                    patch.patch(resource)
                return group_fields(resource)

            done = repository().update_group(
                client,
                scim_id,
                change,
                if_version=if_match_version(request),
                origin=request_origin(request),
            )
            return scim_response(group_json(done, base), headers={"ETag": _etag(done.version)})

        return await answer(request, work, body=True)

    @router.delete("/Groups/{scim_id}")
    async def delete_group(request: Request, scim_id: str) -> Response:
        def work(client: ScimClient) -> Response:
            repository().delete_group(client, scim_id, origin=request_origin(request))
            return Response(status_code=204)

        return await answer(request, work)

    # -- anything else under /scim/v2: a SCIM error too, after the token --

    @router.api_route("/{rest:path}", methods=["GET", "POST", "PUT", "PATCH", "DELETE"])
    async def elsewhere(request: Request, rest: str) -> Response:
        def work(_: ScimClient) -> Response:
            if rest.strip("/") in ("Bulk", ".search", "Users/.search", "Groups/.search", "Me"):
                return scim_error(501, f"{PREFIX}/{rest} is not supported by Tokenstile.")
            if _KNOWN_PATH.fullmatch(rest):
                return scim_error(405, f"{PREFIX}/{rest} does not take {request.method}.")
            return scim_error(
                404, f"No SCIM endpoint {request.method} {PREFIX}/{rest} in Tokenstile."
            )

        return await answer(request, work)

    return router
