"""The admin API of people, sessions and the audit log, and the public ``GET /login/factors``.

Admin routes (an admin's access token, ``admin_auth``; errors ``{"error",
"error_description"}``; every change audited with ``detail.by`` = ``admin:<username>``):

- ``GET /admin/users`` (search, page, factor counts), ``POST /admin/users`` (add),
  ``POST /admin/users/disable`` (also revokes their sessions), ``/enable``;
- ``GET /admin/sessions``, ``POST /admin/sessions/revoke``;
- ``/admin/clients`` (web and native clients: ``admin_clients``);
- ``GET /admin/audit`` (filters, newest first, keyset pages by ``before_id``) and
  ``GET /admin/audit/export`` (the same rows streamed as CSV or JSON lines).

Query values out of range are refused by FastAPI's validation (400 ``invalid_request``
from the application's handler) after the token was checked.

``GET /login/factors`` tells the kiosk which kinds of factor to invite: those with at
least one usable enrollment of an enabled person (``piv`` also when certificates are
mapped to people by their UPN, which needs no enrollment), and ``tac`` while an enabled
person holds a temporary access code that still works.
"""

from __future__ import annotations

import csv
import dataclasses
import io
import json
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Annotated, Any

from fastapi import APIRouter, Query, Request
from starlette.concurrency import run_in_threadpool
from starlette.responses import Response, StreamingResponse

from tokenstile.composition import Lazy, Services
from tokenstile.errors import ConfigError, NotFound
from tokenstile.server import schemas
from tokenstile.server.admin_auth import (
    AdminApiError,
    AdminPrincipal,
    AdminWork,
    admin_principal,
    admin_router,
    check_plain_text,
)
from tokenstile.server.admin_clients import admin_clients_router
from tokenstile.server.admin_post import admin_post
from tokenstile.server.admin_schemas import (
    AddPersonBody,
    AuditExportQuery,
    AuditFilterQuery,
    AuditPageBody,
    AuditQuery,
    LoginFactorsBody,
    PeopleQuery,
    PersonBody,
    PersonListBody,
    RevokedBody,
    SessionListBody,
    SessionsQuery,
    SidBody,
    UsernameBody,
    check_display_name,
    check_new_username,
)
from tokenstile.server.wire import NO_STORE, no_store_json, request_origin
from tokenstile.store import schema as t
from tokenstile.store.access_codes import any_live_code
from tokenstile.store.admin_repository import AdminConflict, AdminRepository, AuditFilter
from tokenstile.tokens.model import AuditEvent

# The export's columns: every column of the audit table, with ``at`` also as UTC text.
_AUDIT_COLUMNS = tuple(column.name for column in t.audit.columns)
CSV_COLUMNS = (*_AUDIT_COLUMNS[:2], "at_utc", *_AUDIT_COLUMNS[2:])
_FILTER_FIELDS = {field.name for field in dataclasses.fields(AuditFilter)}
# A cell a spreadsheet would read as a formula gets a leading quote (OWASP CSV injection).
_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")
_LOGIN_FACTOR_NAMES = {"fido2": "fido2", "piv": "piv", "otp": "totp"}

_call = AdminWork((NotFound, 404, "not_found"), (AdminConflict, 409, "conflict"))


def csv_cell(value: Any) -> str:
    """One CSV cell: text that cannot start a formula."""
    text = "" if value is None else str(value)
    return "'" + text if text.startswith(_FORMULA_START) else text


def _utc(epoch: float) -> str:
    stamp = datetime.fromtimestamp(epoch, UTC).isoformat(timespec="milliseconds")
    return stamp.replace("+00:00", "Z")


def csv_rows(entries: list[dict[str, Any]], *, header: bool) -> bytes:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    if header:
        writer.writerow(CSV_COLUMNS)
    for e in entries:
        detail = json.dumps(e["detail"], sort_keys=True, separators=(",", ":"))
        row = {**e, "at_utc": _utc(e["at"]), "detail": detail}
        writer.writerow([csv_cell(row[name]) for name in CSV_COLUMNS])
    return out.getvalue().encode("utf-8")


def jsonl_rows(entries: list[dict[str, Any]]) -> bytes:
    return b"".join(json.dumps(e, separators=(",", ":")).encode("utf-8") + b"\n" for e in entries)


def admin_api_router(services: Services) -> APIRouter:
    """``GET /login/factors`` and the people, sessions and audit admin API."""
    deployment = services.deployment
    settings = services.settings
    repository = Lazy(lambda: AdminRepository(deployment.store, clock=deployment.clock))

    def rp_id() -> str | None:
        try:
            return services.relying_party().id
        except ConfigError:
            return None

    webauthn_rp_id = Lazy(rp_id)

    router = APIRouter()

    @router.get(
        "/login/factors",
        tags=["login"],
        summary="The kinds of factor the kiosk should invite",
        response_model=LoginFactorsBody,
        responses={503: {"model": schemas.OAuthErrorBody}},
    )
    async def login_factors() -> Response:
        kinds = await run_in_threadpool(lambda: repository().usable_factor_kinds())
        if settings.piv_map_upn:
            kinds.add("piv")
        rp = webauthn_rp_id()
        if rp is None:
            kinds.discard("fido2")
        factors = [name for kind, name in _LOGIN_FACTOR_NAMES.items() if kind in kinds]
        now = deployment.clock.now()
        if await run_in_threadpool(lambda: any_live_code(deployment.store, now=now)):
            factors.append("tac")  # someone holds a temporary access code
        return no_store_json({"factors": factors, "webauthn_rp_id": rp})

    router.include_router(_people_router(services, repository))
    router.include_router(_sessions_router(services, repository))
    router.include_router(_audit_router(services, repository))
    router.include_router(admin_clients_router(services))
    return router


# -- people ------------------------------------------------------------------------------------


def _people_router(services: Services, repository: Lazy[AdminRepository]) -> APIRouter:
    async def set_enabled(
        request: Request, who: AdminPrincipal, username: str, *, enabled: bool
    ) -> Response:
        person, _ = await _call(
            lambda: repository().set_enabled(
                username, enabled, by=who.actor, origin=request_origin(request)
            )
        )
        return no_store_json(person.to_json())

    router = admin_router(
        services,
        prefix="/admin/users",
        tags=["admin: people"],
        responses=schemas.admin_errors(
            bad_input="bad input",
            not_found="no person of this name",
            conflict="the username is taken, or an admin disabling themself",
        ),
    )

    @router.get(
        "",
        summary="Find people (username or display name contains q, any case), by username",
        response_model=PersonListBody,
    )
    async def list_people(query: Annotated[PeopleQuery, Query()]) -> Response:
        check_plain_text("q", query.q)
        people, total = await _call(
            lambda: repository().people(
                query=query.q,
                include_disabled=query.include_disabled,
                limit=query.limit,
                offset=query.offset,
            )
        )
        return no_store_json({"users": [p.to_json() for p in people], "total": total})

    @admin_post(
        router,
        "",
        AddPersonBody,
        status_code=201,
        summary="Add a person",
        response_model=PersonBody,
    )
    async def add_person(request: Request, who: AdminPrincipal, body: AddPersonBody) -> Response:
        check_new_username(body.username)
        display_name = check_display_name(body.display_name)
        person = await _call(
            lambda: repository().add_person(
                body.username,
                display_name=display_name,
                is_admin=body.is_admin,
                by=who.actor,
                origin=request_origin(request),
            )
        )
        return no_store_json(person.to_json(), 201)

    @admin_post(
        router,
        "/disable",
        UsernameBody,
        summary="Disable a person and revoke every session of theirs",
        response_model=PersonBody,
    )
    async def disable(request: Request, who: AdminPrincipal, body: UsernameBody) -> Response:
        if body.username == who.username:
            raise AdminApiError(409, "conflict", "You cannot disable your own account.")
        return await set_enabled(request, who, body.username, enabled=False)

    @admin_post(
        router,
        "/enable",
        UsernameBody,
        summary="Enable a person again (their old sessions stay revoked)",
        response_model=PersonBody,
    )
    async def enable(request: Request, who: AdminPrincipal, body: UsernameBody) -> Response:
        return await set_enabled(request, who, body.username, enabled=True)

    return router


# -- sessions ----------------------------------------------------------------------------------


def _sessions_router(services: Services, repository: Lazy[AdminRepository]) -> APIRouter:
    router = admin_router(
        services,
        prefix="/admin/sessions",
        tags=["admin: sessions"],
        responses=schemas.admin_errors(
            bad_input="bad input",
            not_found="no session of this id",
            conflict="the caller's own session (sign out instead)",
        ),
    )

    @router.get(
        "",
        summary="List sessions, newest first (by default only live ones)",
        response_model=SessionListBody,
    )
    async def list_sessions(query: Annotated[SessionsQuery, Query()]) -> Response:
        check_plain_text("username", query.username)
        found = await _call(
            lambda: repository().sessions(
                username=query.username, active_only=query.active_only, limit=query.limit
            )
        )
        return no_store_json({"sessions": [s.to_json() for s in found]})

    @admin_post(
        router,
        "/revoke",
        SidBody,
        summary="Revoke a session: its refresh and access tokens stop working",
        response_model=RevokedBody,
    )
    async def revoke(request: Request, who: AdminPrincipal, body: SidBody) -> Response:
        if body.sid == who.sid:
            raise AdminApiError(
                409, "conflict", "This is the session you are using: sign out instead."
            )
        revoked = await _call(
            lambda: repository().revoke_session(
                body.sid, by=who.actor, origin=request_origin(request)
            )
        )
        return no_store_json({"revoked": revoked})

    return router


# -- the audit log -----------------------------------------------------------------------------


def _audit_filter(query: AuditFilterQuery) -> AuditFilter:
    check_plain_text("username", query.username)
    check_plain_text("event", query.event)
    return AuditFilter(**query.model_dump(include=_FILTER_FIELDS))


def _audit_router(services: Services, repository: Lazy[AdminRepository]) -> APIRouter:
    clock = services.deployment.clock
    router = admin_router(
        services,
        prefix="/admin/audit",
        tags=["admin: audit"],
        responses=schemas.admin_errors(
            bad_input="bad filter values", not_found="not used", conflict="not used"
        ),
    )

    @router.get(
        "",
        summary="Read the audit log, newest first, one page at a time",
        response_model=AuditPageBody,
    )
    async def audit_page(query: Annotated[AuditQuery, Query()]) -> Response:
        where = _audit_filter(query)
        page = await _call(
            lambda: repository().audit_page(where, limit=query.limit, before_id=query.before_id)
        )
        return no_store_json({"events": page.events, "next_before_id": page.next_before_id})

    @router.get(
        "/export",
        summary="Download the matching audit rows, newest first, as CSV or JSON lines",
        response_class=StreamingResponse,
        responses={
            200: {
                "description": "the rows; CSV cells that could start a formula begin with '",
                "content": {
                    "text/csv": {"schema": {"type": "string"}},
                    "application/x-ndjson": {"schema": {"type": "string"}},
                },
            }
        },
    )
    async def audit_export(
        request: Request, query: Annotated[AuditExportQuery, Query()]
    ) -> Response:
        who = admin_principal(request)
        where = _audit_filter(query)
        repo = await _call(repository)
        await _call(
            lambda: repo.audit(
                AuditEvent(
                    "audit_exported",
                    "info",
                    origin=request_origin(request),
                    detail={
                        "by": who.actor,
                        "format": query.format,
                        "filters": query.model_dump(exclude={"format"}, exclude_none=True),
                    },
                )
            )
        )
        batches = repo.audit_export(where, before_id=query.before_id)
        # The first batch is read here, so a database failure is still a clean 503.
        first = await _call(lambda: next(batches, None))
        as_csv = query.format == "csv"

        def body() -> Iterator[bytes]:
            if as_csv:
                yield csv_rows(first or [], header=True)
                for batch in batches:
                    yield csv_rows(batch, header=False)
            elif first is not None:
                yield jsonl_rows(first)
                for batch in batches:
                    yield jsonl_rows(batch)

        stamp = datetime.fromtimestamp(clock.now(), UTC).strftime("%Y%m%dT%H%M%SZ")
        name = f"tokenstile-audit-{stamp}.{'csv' if as_csv else 'jsonl'}"
        return StreamingResponse(
            body(),
            media_type="text/csv; charset=utf-8" if as_csv else "application/x-ndjson",
            headers={**NO_STORE, "Content-Disposition": f'attachment; filename="{name}"'},
        )

    return router
