"""``httpx`` authentication from the broker's session: ``TokenstileAuth``.

::

    with httpx.Client(auth=TokenstileAuth(audience="https://payroll.example")) as http:
        http.get("https://payroll.example/api/slips")

Adds ``Authorization: Bearer <token>`` (or, for a DPoP-bound session, ``Authorization:
DPoP <token>`` and a fresh ``DPoP`` proof for each request). After a 401 it retries once:
with the server's ``DPoP-Nonce`` when it asked for one, else with a renewed token. The
broker's calls block (the keychain, a refresh): with an ``AsyncClient`` they run on the
event loop's thread, which is fine while tokens come from memory.
"""

from __future__ import annotations

from collections.abc import Generator

import httpx

from tokenstile.broker.model import AccessToken
from tokenstile.broker.session import Broker


class TokenstileAuth(httpx.Auth):
    requires_request_body = True  # so the retry can send the body again

    def __init__(
        self,
        broker: Broker | None = None,
        audience: str | None = None,
        scope: str | None = None,
        *,
        min_ttl: int = 60,
    ) -> None:
        self._broker = broker if broker is not None else Broker()
        self._audience = audience
        self._scope = scope
        self._min_ttl = min_ttl

    def auth_flow(self, request: httpx.Request) -> Generator[httpx.Request, httpx.Response, None]:
        token = self._broker.token(self._audience, self._scope, self._min_ttl)
        self._authorize(request, token)
        response = yield request
        if response.status_code != 401:
            return
        nonce = response.headers.get("dpop-nonce")
        challenge = response.headers.get("www-authenticate", "")
        if token.is_dpop and nonce and "use_dpop_nonce" in challenge:
            self._authorize(request, token, nonce=nonce)
        else:
            token = self._broker.renewed_token(self._audience, self._scope, rejected=token)
            self._authorize(request, token, nonce=nonce if token.is_dpop else None)
        yield request

    def _authorize(
        self, request: httpx.Request, token: AccessToken, *, nonce: str | None = None
    ) -> None:
        if not token.is_dpop:
            request.headers["Authorization"] = f"Bearer {token.access_token}"
            return
        request.headers["Authorization"] = f"DPoP {token.access_token}"
        url = str(request.url.copy_with(query=None, fragment=None))
        request.headers["DPoP"] = self._broker.dpop_proof(
            request.method, url, token.access_token, nonce=nonce
        )
