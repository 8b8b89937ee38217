"""DPoP (RFC 9449) at the HTTP edge: the ``DPoP`` header, checked against this endpoint.

Every route that issues tokens (the three logins and ``/token``) and ``/userinfo`` turns
the request's proof into the thumbprint of its key here and hands that to the token
service; the checks themselves live in :mod:`tokenstile.tokens.dpop`. A route that
accepts access tokens (userinfo, the admin API) reads ``Authorization: Bearer|DPoP``
with :func:`presented_token` and enforces the binding with :func:`check_binding`.

The proof's ``htu`` must name this endpoint under a URL the service is *configured*
with (DESIGN.md: judge requests by configuration, not headers): the issuer (what the
discovery document publishes, right behind a reverse proxy too), the ``public_urls``
setting (more names of the service), and, for a base on ``localhost``, ``127.0.0.1`` or
``[::1]``, the other spelling of the same address at the same scheme and port
(``localhost`` for ``127.0.0.1``: a broker configured with ``http://localhost:8600`` for
the issuer ``http://127.0.0.1:8600``). The URL the request arrived at is never one of
them: it is built from the ``Host`` header (and, behind a trusted proxy,
``X-Forwarded-Proto``), which whoever sends the request chooses, so a proof made for
another server could be spent here by naming that server in ``Host``.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Mapping
from typing import Any, Final, Protocol, TypeVarTuple
from urllib.parse import urlsplit

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import Response

from tokenstile.server.wire import no_store_json, request_origin, require_json
from tokenstile.tokens.dpop import DpopProofError, check_token_binding
from tokenstile.tokens.service import TokenService

DPOP_HEADER = "dpop"


def dpop_header(request: Request) -> str | None:
    """The request's DPoP proof, or None when it sends none (several: refused)."""
    values = request.headers.getlist(DPOP_HEADER)
    if not values:
        return None
    if len(values) > 1:
        raise DpopProofError("Send one DPoP header, not several.")
    return values[0].strip()


# What else a loopback base may be spelt as: ``localhost`` is 127.0.0.1 or ::1, and
# those are ``localhost`` (never 127.0.0.1 for ::1: another process may hold that port).
_LOOPBACK_ALIASES: Final = {
    "localhost": ("127.0.0.1", "[::1]"),
    "127.0.0.1": ("localhost",),
    "::1": ("localhost",),
}


@functools.lru_cache(maxsize=16)
def service_urls(issuer: str, public_urls: tuple[str, ...] = ()) -> tuple[str, ...]:
    """The base URLs of this service, from its configuration alone: the issuer, the
    configured public URLs, and the other spellings of those on loopback."""
    bases: list[str] = []
    for url in (issuer, *public_urls):
        base = url.rstrip("/")
        parts = urlsplit(base)
        port = f":{parts.port}" if parts.port is not None else ""
        aliases = _LOOPBACK_ALIASES.get(parts.hostname or "", ())
        bases += [base, *(parts._replace(netloc=f"{a}{port}").geturl() for a in aliases)]
    return tuple(dict.fromkeys(bases))


def _public_urls(request: Request) -> tuple[str, ...]:
    """The ``public_urls`` setting of the deployment serving this request (none when
    the app was not built by ``create_app``)."""
    app = request.scope.get("app")
    deployment = getattr(getattr(app, "state", None), "deployment", None)
    urls = getattr(getattr(deployment, "settings", None), "public_urls", None) or ()
    return tuple(urls)


def endpoint_urls(request: Request, issuer: str) -> tuple[str, ...]:
    """The URLs a proof's ``htu`` may give for the endpoint this request reached: its
    path under each of :func:`service_urls`. Nothing from the request's headers."""
    path = request.url.path  # the path only: scope["path"], never from Host
    root = request.scope.get("root_path") or ""
    if root and path.startswith(root):
        path = path[len(root) :]
    return tuple(base + path for base in service_urls(issuer, _public_urls(request)))


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


class LoginAnswer(Protocol):
    """What a login route answers: a token response, or a confirm token (``tokens.confirm``)."""

    def to_json(self) -> dict[str, Any]: ...


async def dpop_login(
    request: Request,
    service: TokenService,
    parse: Callable[[bytes], tuple[*_Args]],
    login: Callable[[*_Args, str, str | None], LoginAnswer],
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
