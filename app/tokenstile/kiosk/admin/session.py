"""The signed-in admin: their tokens in memory (never the keychain), and the admin API.

The console signs the admin in as the client ``tokenstile-admin-console`` with their own
key, card or code; a person who is not an administrator gets no ``tokenstile:admin``
scope, so the grant is refused here (and its session revoked at once). Every admin call
goes through :class:`AdminSession`, which renews the access token with the refresh grant
shortly before it expires, and once more when the service says it is no longer valid.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tokenstile.broker.client import TokenServiceClient
from tokenstile.broker.errors import NotLoggedIn, ServiceError, TokenRefused
from tokenstile.broker.model import TokenGrant
from tokenstile.errors import TokenstileError
from tokenstile.kiosk.service import token_claims
from tokenstile.protocol.roles import Permission
from tokenstile.protocol.scopes import ADMIN_SCOPE

logger = logging.getLogger(__name__)

ADMIN_CLIENT_ID = "tokenstile-admin-console"
RENEW_MARGIN = 30.0  # seconds: renew the access token this long before it expires


class NotAdmin(TokenstileError):
    code = "not_admin"

    def __init__(self) -> None:
        super().__init__("This person is not an administrator.")


class SessionEnded(TokenstileError):
    """The admin session cannot be renewed any more: sign in again."""

    code = "session_ended"

    def __init__(self) -> None:
        super().__init__("Your admin session has ended: sign in again.")


class TaskCancelled(TokenstileError):
    code = "task_cancelled"

    def __init__(self) -> None:
        super().__init__("Cancelled.")


@dataclass(frozen=True, slots=True, kw_only=True)
class AdminIdentity:
    username: str
    sid: str
    factor: str
    acr: str


def admit(client: TokenServiceClient, grant: TokenGrant) -> AdminSession:
    """An :class:`AdminSession` for ``grant`` with the person's permissions (``GET
    /admin/me``), or :class:`NotAdmin` (the session is revoked)."""
    if ADMIN_SCOPE not in grant.scope.split():
        if grant.refresh_token is not None:
            try:
                client.revoke(grant.refresh_token)
            except TokenstileError as exc:
                logger.info("could not revoke a non-admin's session: %s", exc.code)
        raise NotAdmin()
    session = AdminSession(client, grant)
    session.load_permissions()
    return session


class AdminSession:
    """The admin API with tokens that stay in this process; thread-safe."""

    def __init__(
        self,
        client: TokenServiceClient,
        grant: TokenGrant,
        *,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._client = client
        self._clock = clock
        self._lock = threading.Lock()
        self._grant = grant
        self._expires = clock() + grant.expires_in
        self.roles: tuple[str, ...] = ()
        self.permissions: frozenset[Permission] = frozenset()
        claims = token_claims(grant.access_token)
        self.identity = AdminIdentity(
            username=str(claims.get("sub", "")),
            sid=str(claims.get("sid", "")),
            factor=str(claims.get("factor", "") or ",".join(claims.get("amr", []) or [])),
            acr=str(claims.get("acr", "")),
        )

    @property
    def username(self) -> str:
        return self.identity.username

    def load_permissions(self) -> None:
        """What this person's roles allow (``protocol.roles``), from ``GET /admin/me``; a
        service from before roles (404) knew admins only, who may do everything."""
        try:
            me = self.get("/admin/me")
        except ServiceError as exc:
            if exc.status != 404:
                raise
            self.roles, self.permissions = ("admin",), frozenset(Permission)
            return
        self.roles = tuple(str(role) for role in me.get("roles", []))
        known = {p.value for p in Permission}
        self.permissions = frozenset(Permission(p) for p in me.get("permissions", []) if p in known)

    def may(self, permission: Permission) -> bool:
        return permission in self.permissions

    # -- the admin API -------------------------------------------------------------------

    def get(self, path: str, params: Mapping[str, Any] | None = None) -> Any:
        return self._with_token(lambda token: self._client.admin_get(path, token, params))

    def post(self, path: str, body: Mapping[str, Any]) -> Any:
        return self._with_token(lambda token: self._client.admin_post(path, token, body))

    def download(self, path: str, params: Mapping[str, Any] | None, target: Path) -> None:
        self._with_token(lambda token: self._client.admin_download(path, token, params, target))

    def sign_out(self) -> None:
        """Revoke the session at the service (best effort) and forget the tokens."""
        with self._lock:
            grant = self._grant
        try:
            if grant.refresh_token is not None:
                self._client.revoke(grant.refresh_token)
            else:
                self._client.revoke(grant.access_token, hint="access_token")
        except TokenstileError as exc:
            logger.info("sign-out could not reach the service: %s", exc.code)
        finally:
            self._client.close()

    # -- tokens --------------------------------------------------------------------------

    def _with_token(self, call: Callable[[str], Any]) -> Any:
        token = self._access_token()
        try:
            return call(token)
        except ServiceError as exc:
            if exc.status != 401:
                raise
        # The access token was refused (expired early, keys rotated): renew once.
        return call(self._access_token(renew_from=token))

    def _access_token(self, *, renew_from: str | None = None) -> str:
        with self._lock:
            grant = self._grant
            stale = renew_from is not None and grant.access_token == renew_from
            if not stale and self._clock() < self._expires - RENEW_MARGIN:
                return grant.access_token
            if grant.refresh_token is None:
                raise SessionEnded()
            try:
                renewed = self._client.refresh(grant.refresh_token)
            except (TokenRefused, NotLoggedIn) as exc:
                raise SessionEnded() from exc
            self._grant = renewed
            self._expires = self._clock() + renewed.expires_in
            return renewed.access_token
