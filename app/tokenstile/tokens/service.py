"""The token service: one facade over the grants, the way authlib's server holds its grants.

Each grant and concern lives in its own module, over the ``TokenTx`` protocol:

* ``sessions``: opening a session after a factor login (``SessionOpening``);
* ``refresh``: the refresh grant, its rotation and reuse-detection rules (``RefreshGrant``);
* ``exchange``: RFC 8693 token exchange, which never widens (``TokenExchangeGrant``);
* ``minting``: access-token claims and signing, the per-audience policies, and the rules
  every grant shares (``AccessTokenMinter``);
* ``introspection``: reading our own tokens, RFC 7662 introspection, RFC 7009
  revocation, userinfo (``TokenIntrospection``);
* ``parking``: parking a kiosk session and resuming it (``SessionParking``);
* ``clients``: client secrets.

``TokenService`` wires them together over one minter and one DPoP verifier, and hands
the grants out as they are: callers say which grant they use
(``service.sessions.open_session(...)``, ``service.refresh_grant.refresh(...)``,
``service.exchange_grant.exchange(...)``, ``service.introspection.revoke(...)``), so each
signature is written once, in its grant. The names callers import from here are
re-exported.
"""

from __future__ import annotations

from collections.abc import Sequence

from tokenstile.tokens.clients import check_client_secret, client_secret_hash
from tokenstile.tokens.confirm import ConfirmGrant
from tokenstile.tokens.dpop import DpopVerifier
from tokenstile.tokens.exchange import (
    ACCESS_TOKEN_TYPE,
    EXCHANGE_CLIENT_KINDS,
    GRANT_TOKEN_EXCHANGE,
    ExchangeResponse,
    TokenExchangeGrant,
)
from tokenstile.tokens.introspection import IAT_LEEWAY, MAX_JTI_CHARS, TokenIntrospection
from tokenstile.tokens.minting import (
    OPAQUE_TOKEN_BYTES,
    REFRESH_TOKEN_BYTES,
    AccessTokenMinter,
    SessionPolicy,
    TokenResponse,
    dpop_required,
    token_hash,
)
from tokenstile.tokens.model import AudiencePolicy, TokenStore
from tokenstile.tokens.parking import SessionParking
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
    """The grants over one minter (``AccessTokenMinter``: store, keys, issuer, clock,
    policy) and one DPoP verifier.

    ``sessions`` (``SessionOpening``), ``refresh_grant`` (``RefreshGrant``),
    ``exchange_grant`` (``TokenExchangeGrant``) and ``introspection``
    (``TokenIntrospection``: reading, introspection, revocation, userinfo).
    """

    def __init__(self, minter: AccessTokenMinter) -> None:
        self._minter = minter
        self.sessions = SessionOpening(minter)
        self.refresh_grant = RefreshGrant(minter)
        self.parking = SessionParking(minter)
        self.introspection = TokenIntrospection(minter)
        self.exchange_grant = TokenExchangeGrant(minter, self.introspection)
        self.confirm_grant = ConfirmGrant(
            minter, self.introspection, lifetime=minter.policy.confirm_token_lifetime
        )
        self._dpop = DpopVerifier(
            clock=minter.clock,
            replay=_StoreReplayCache(minter.store),
            max_age=minter.policy.dpop_max_age,
            max_future=minter.policy.dpop_max_future,
        )

    @property
    def minter(self) -> AccessTokenMinter:
        """The one minter every grant shares (the authorization code flow mints with it)."""
        return self._minter

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
