"""The token service: one facade over the grants, the way authlib's server holds its grants.

Each grant and concern lives in its own module, over the ``TokenTx`` protocol:

* ``sessions``: opening a session after a factor login (``SessionOpening``);
* ``refresh``: the refresh grant, its rotation and reuse-detection rules (``RefreshGrant``);
* ``exchange``: RFC 8693 token exchange, which never widens (``TokenExchangeGrant``);
* ``minting``: access-token claims and signing, the per-audience policies, and the rules
  every grant shares (``AccessTokenMinter``);
* ``introspection``: reading our own tokens, RFC 7662 introspection, RFC 7009
  revocation, userinfo (``TokenIntrospection``);
* ``clients``: client secrets.

``TokenService`` wires them together and keeps the one public surface the routes, the
CLI, bench and the tests call. The names they import from here are re-exported.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any

from tokenstile.clock import Clock
from tokenstile.tokens.clients import check_client_secret, client_secret_hash
from tokenstile.tokens.dpop import DpopVerifier
from tokenstile.tokens.exchange import (
    ACCESS_TOKEN_TYPE,
    EXCHANGE_CLIENT_KINDS,
    GRANT_TOKEN_EXCHANGE,
    ExchangeResponse,
    TokenExchangeGrant,
)
from tokenstile.tokens.introspection import IAT_LEEWAY, MAX_JTI_CHARS, TokenIntrospection
from tokenstile.tokens.keys import KeyRing
from tokenstile.tokens.minting import (
    OPAQUE_TOKEN_BYTES,
    REFRESH_TOKEN_BYTES,
    AccessTokenMinter,
    SessionPolicy,
    TokenResponse,
    dpop_required,
    token_hash,
)
from tokenstile.tokens.model import AudiencePolicy, Client, TokenStore, User
from tokenstile.tokens.refresh import MAX_OPAQUE_TOKEN_CHARS, RefreshGrant
from tokenstile.tokens.sessions import SessionOpening

__all__ = [
    "ACCESS_TOKEN_TYPE",
    "EXCHANGE_CLIENT_KINDS",
    "GRANT_TOKEN_EXCHANGE",
    "IAT_LEEWAY",
    "MAX_JTI_CHARS",
    "MAX_OPAQUE_TOKEN_CHARS",
    "OPAQUE_TOKEN_BYTES",
    "REFRESH_TOKEN_BYTES",
    "ExchangeResponse",
    "SessionPolicy",
    "TokenResponse",
    "TokenService",
    "check_client_secret",
    "client_secret_hash",
    "dpop_required",
    "token_hash",
]


class _StoreReplayCache:
    """DPoP proofs seen, kept in the database: a replay is refused on every replica."""

    __slots__ = ("_store",)

    def __init__(self, store: TokenStore) -> None:
        self._store = store

    def remember(self, key: bytes, *, expires_at: float, now: float) -> bool:
        return self._store.run_write(
            lambda tx: tx.remember_dpop_proof(key, expires_at=expires_at, now=now)
        )


class TokenService:
    def __init__(
        self,
        store: TokenStore,
        keyring: Callable[[], KeyRing],
        *,
        issuer: str,
        clock: Clock,
        policy: SessionPolicy | None = None,
        policy_cache_seconds: float = 10.0,
    ) -> None:
        policy = policy or SessionPolicy()
        self._minter = minter = AccessTokenMinter(
            store,
            keyring,
            issuer=issuer,
            clock=clock,
            policy=policy,
            policy_cache_seconds=policy_cache_seconds,
        )
        self._sessions = SessionOpening(minter)
        self._refresh = RefreshGrant(minter)
        self._introspection = TokenIntrospection(minter)
        self._exchange = TokenExchangeGrant(minter, self._introspection)
        self._dpop = DpopVerifier(
            clock=clock,
            replay=_StoreReplayCache(store),
            max_age=policy.dpop_max_age,
            max_future=policy.dpop_max_future,
        )

    @property
    def issuer(self) -> str:
        return self._minter.issuer

    @property
    def policy(self) -> SessionPolicy:
        return self._minter.policy

    @property
    def privileged_scopes(self) -> frozenset[str]:
        return self._minter.privileged

    @property
    def dpop_algorithms(self) -> tuple[str, ...]:
        return self._dpop.algorithms

    def dpop_proof_jkt(
        self,
        proof: str,
        *,
        method: str,
        urls: Sequence[str],
        access_token: str | None = None,
    ) -> str:
        """Check a DPoP proof sent to this service (``urls``: the endpoint's spellings);
        its ``jti`` is recorded in the store. Returns the key's thumbprint."""
        return self._dpop.verify(proof, method=method, url=urls, access_token=access_token).jkt

    def audience_policy(self, audience: str) -> AudiencePolicy | None:
        """Per-audience policy, cached briefly: it is read on every token issued."""
        return self._minter.audience_policies().get(audience)

    # -- the grants (each documented in its module) ----------------------------------

    def open_session(
        self,
        *,
        user: User,
        client: Client,
        factor: str,
        amr: Sequence[str],
        acr: str,
        scope: str | None = None,
        audience: str | None = None,
        origin: str | None = None,
        auth_time: float | None = None,
        device: Mapping[str, Any] | None = None,
        dpop_jkt: str | None = None,
        credential: str | None = None,
    ) -> TokenResponse:
        """Start a session after a factor succeeded (``sessions.SessionOpening``)."""
        return self._sessions.open_session(
            user=user,
            client=client,
            factor=factor,
            amr=amr,
            acr=acr,
            scope=scope,
            audience=audience,
            origin=origin,
            auth_time=auth_time,
            device=device,
            dpop_jkt=dpop_jkt,
            credential=credential,
        )

    def refresh(
        self,
        *,
        refresh_token: str,
        client: Client,
        scope: str | None = None,
        resource: str | None = None,
        received_at: float | None = None,
        origin: str | None = None,
        dpop_jkt: str | None = None,
    ) -> TokenResponse:
        """The refresh grant with rotation (``refresh.RefreshGrant``)."""
        return self._refresh.refresh(
            refresh_token=refresh_token,
            client=client,
            scope=scope,
            resource=resource,
            received_at=received_at,
            origin=origin,
            dpop_jkt=dpop_jkt,
        )

    def exchange(
        self,
        *,
        client: Client,
        subject_token: str,
        subject_token_type: str,
        audience: str,
        scope: str | None = None,
        requested_token_type: str | None = None,
        dpop_jkt: str | None = None,
        origin: str | None = None,
    ) -> ExchangeResponse:
        """RFC 8693 token exchange, which never widens (``exchange.TokenExchangeGrant``)."""
        return self._exchange.exchange(
            client=client,
            subject_token=subject_token,
            subject_token_type=subject_token_type,
            audience=audience,
            scope=scope,
            requested_token_type=requested_token_type,
            dpop_jkt=dpop_jkt,
            origin=origin,
        )

    # -- introspection, revocation, userinfo (``introspection.TokenIntrospection``) --

    def read_access_token(self, token: str) -> dict[str, Any] | None:
        """Claims of an access token we issued that is still good, else None."""
        return self._introspection.read_access_token(token)

    def introspect(self, *, token: str, hint: str | None, client: Client) -> dict[str, Any]:
        """RFC 7662: what a resource server may know about a token meant for it."""
        return self._introspection.introspect(token=token, hint=hint, client=client)

    def revoke(self, *, token: str, client: Client, origin: str | None = None) -> None:
        """RFC 7009: a session's own token ends the session; a derived one is revoked alone."""
        self._introspection.revoke(token=token, client=client, origin=origin)

    def userinfo(self, access_token: str, *, dpop_jkt: str | None = None) -> dict[str, Any]:
        """What userinfo shows, to the session's own local token only."""
        return self._introspection.userinfo(access_token, dpop_jkt=dpop_jkt)
