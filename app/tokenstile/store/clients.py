"""The client registry as the routes see it: read from the store on every request, so
cached briefly, and the check a login makes of the client it names.

Built once per app by the composition root (``Services.clients``); the token, OTP, PIV
and WebAuthn routes share it.
"""

from __future__ import annotations

import threading

from tokenstile.clock import Clock
from tokenstile.errors import (
    InsufficientAssurance,
    InvalidClient,
    InvalidGrant,
    UnauthorizedClient,
)
from tokenstile.store.repository import Store
from tokenstile.store.rows import is_plain_text
from tokenstile.tokens.model import BROWSER_CLIENT_KINDS, Client, acr_satisfies
from tokenstile.tokens.service import TokenService, dpop_required

CLIENT_CACHE_SECONDS = 5.0
_MAX_ENTRIES = 10_000


class ClientDirectory:
    """Client records cached for a few seconds: a disabled client is refused within that."""

    def __init__(self, store: Store, clock: Clock, *, ttl: float = CLIENT_CACHE_SECONDS) -> None:
        self._store = store
        self._clock = clock
        self._ttl = ttl
        self._cache: dict[str, tuple[Client, float]] = {}
        self._lock = threading.Lock()

    def find(self, client_id: str) -> Client | None:
        now = self._clock.now()
        hit = self._cache.get(client_id)
        if hit is not None and 0 <= now - hit[1] < self._ttl:
            return hit[0]
        client = self._store.find_client(client_id)
        if client is not None:  # unknown ids are not cached: nobody can fill the cache
            with self._lock:
                if len(self._cache) >= _MAX_ENTRIES:
                    self._cache.clear()
                self._cache[client_id] = (client, now)
        return client

    def session_client(
        self,
        client_id: str,
        service: TokenService,
        *,
        acr: str,
        factor: str,
        dpop: bool | None = None,
        kiosk_only: str | None = None,
    ) -> Client:
        """The client a login names, if it may open a session at the assurance ``acr``.
        ``kiosk_only``: the sentence refusing any client but a kiosk, for logins only a
        kiosk brings (a tap, an offline sign-in).

        Refused: an unknown or disabled client (``InvalidClient``), one that cannot
        start sessions, a resource server or a confidential client
        (``UnauthorizedClient``), a web or native client (it signs people in through
        ``/authorize``), a DPoP-bound client when ``dpop`` says the request
        carries no proof (``DpopProofError``), and one whose audience asks for more than
        ``acr`` (``InsufficientAssurance``, naming the ``factor``: "A smart card").
        All before the factor is tried, so a refused login spends no code.
        """
        client = self.find(client_id) if is_plain_text(client_id) else None
        if client is None or not client.enabled:
            raise InvalidClient("Unknown client.")
        if client.kind == "resource-server" or client.secret_hash is not None:
            raise UnauthorizedClient("This client may not sign people in.")
        if client.kind in BROWSER_CLIENT_KINDS:
            # A web or native app's tokens come through /authorize (PKCE, its redirect
            # URIs), never straight from a factor login that anyone could send.
            raise UnauthorizedClient("This client signs people in through /authorize.")
        if kiosk_only is not None and client.kind != "kiosk":
            raise InvalidGrant(kiosk_only)
        if dpop is False and client.dpop_bound:
            raise dpop_required()
        audience = client.default_audience
        policy = service.audience_policy(audience)
        if policy is not None and not acr_satisfies(acr, policy.min_acr):
            raise InsufficientAssurance(
                f"{factor} does not meet the assurance {audience} requires ({policy.min_acr})."
            )
        return client
