"""DPoP (RFC 9449) at the HTTP edge: the ``DPoP`` header, checked against this endpoint.

Every route that issues tokens (the three logins and ``/token``) and ``/userinfo`` turns
the request's proof into the thumbprint of its key here and hands that to the token
service; the checks themselves live in :mod:`tokenstile.tokens.dpop`. A route that
accepts access tokens (userinfo, the admin API) reads ``Authorization: Bearer|DPoP``
with :func:`presented_token` and enforces the binding with :func:`check_binding`.

The proof's ``htu`` must name this endpoint under the issuer's URL (what the discovery
document publishes, right behind a reverse proxy too). A request that reached us on a
loopback address may also use the URL it was sent to (``localhost`` for ``127.0.0.1``):
a remote client's own spelling is not trusted, as the ``Host`` header is its to choose.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any, TypeVarTuple

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import Response

from tokenstile.server.wire import no_store_json, request_origin, require_json
from tokenstile.tokens.dpop import DpopProofError, check_token_binding
from tokenstile.tokens.loopback import is_loopback
from tokenstile.tokens.service import TokenResponse, TokenService

DPOP_HEADER = "dpop"


def dpop_header(request: Request) -> str | None:
    """The request's DPoP proof, or None when it sends none (several: refused)."""
    values = request.headers.getlist(DPOP_HEADER)
    if not values:
        return None
    if len(values) > 1:
        raise DpopProofError("Send one DPoP header, not several.")
    return values[0].strip()


def endpoint_urls(request: Request, issuer: str) -> tuple[str, ...]:
    """The URLs a proof's ``htu`` may give for the endpoint this request reached."""
    path = request.url.path
    root = request.scope.get("root_path") or ""
    if root and path.startswith(root):
        path = path[len(root) :]
    urls = [issuer.rstrip("/") + path]
    if is_loopback(request.url.hostname):
        urls.append(str(request.url))
    return tuple(urls)


def proof_jkt(
    request: Request, service: TokenService, *, access_token: str | None = None
) -> str | None:
    """The key thumbprint of the request's checked DPoP proof, or None without one.

    Blocking (the proof's ``jti`` is recorded in the database): call it from a worker
    thread, or use :func:`dpop_jkt` from a route.
    """
    proof = dpop_header(request)
    if proof is None:
        return None
    return service.dpop_proof_jkt(
        proof,
        method=request.method,
        urls=endpoint_urls(request, service.issuer),
        access_token=access_token,
    )


async def dpop_jkt(
    request: Request, service: TokenService, *, access_token: str | None = None
) -> str | None:
    """:func:`proof_jkt` for an async route: what a login passes to ``open_session``."""
    if not request.headers.getlist(DPOP_HEADER):
        return None
    return await run_in_threadpool(proof_jkt, request, service, access_token=access_token)


_Args = TypeVarTuple("_Args")


async def dpop_login(
    request: Request,
    service: TokenService,
    parse: Callable[[bytes], tuple[*_Args]],
    login: Callable[[*_Args, str, str | None], TokenResponse],
) -> Response:
    """A login route's whole answer: the JSON body through ``parse``, then, in a worker
    thread, ``login(*parsed, origin, jkt)``, bound to the DPoP proof's key if one came."""
    require_json(request)
    args = parse(await request.body())
    jkt = await dpop_jkt(request, service)  # RFC 9449: bind the session to this key
    result = await run_in_threadpool(login, *args, request_origin(request), jkt)
    return no_store_json(result.to_json())


def presented_token(request: Request) -> tuple[str, str] | None:
    """``(scheme, token)`` of an ``Authorization: Bearer`` or ``DPoP`` header (scheme in
    lower case), or None."""
    scheme, _, value = request.headers.get("authorization", "").partition(" ")
    kind, token = scheme.lower(), value.strip()
    if kind not in ("bearer", "dpop") or not token:
        return None
    return kind, token


def check_binding(
    request: Request,
    service: TokenService,
    *,
    scheme: str,
    token: str,
    claims: Mapping[str, Any],
) -> None:
    """RFC 9449 section 7.1 at a route of this service that accepts access tokens.

    A token bound to a key (``cnf.jkt``) is accepted only under the ``DPoP`` scheme with
    a proof of that key for this request (``ath`` included); an unbound one only as
    ``Bearer``. Raises :class:`DpopProofError`. Blocking (the proof's ``jti`` is recorded).
    """
    jkt = None
    if scheme == "dpop":
        jkt = proof_jkt(request, service, access_token=token)
        if jkt is None:
            raise DpopProofError("The DPoP scheme needs a DPoP proof header.")
    check_token_binding(claims, jkt)
