"""What every grant shares: minting an access token, and the rules every grant applies.

A grant (``sessions``, ``refresh``, ``exchange``) decides *whether* and *what*; the
``AccessTokenMinter`` here turns that into a token: the claims (``iss``, ``sub``,
``aud``, lifetimes per audience, ``cnf`` for a DPoP key), an opaque token stored in the
grant's transaction when the audience asks for one, and the JWT signed after the
commit (``respond``/``sign``) so the write lock is held briefly. The minter also keeps
the per-audience policies (lifetime, token format, minimum ``acr``), cached briefly
because every token issued reads them.

The shared rules: an audience a client is not registered for is refused
(``check_audience_allowed``), an audience's minimum assurance must hold
(``AccessTokenMinter.check_assurance``), a ``dpop_bound`` client must send a proof
(``dpop_required``), and a session's own token is its local one (``is_session_token``).
"""

from __future__ import annotations

import hashlib
import secrets
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import jwt

from tokenstile.clock import Clock
from tokenstile.errors import InsufficientAssurance, InvalidGrant, InvalidTarget, SessionParked
from tokenstile.protocol.confirm import CONFIRM_CLAIM
from tokenstile.protocol.scopes import ADMIN_SCOPE
from tokenstile.tokens.dpop import DpopProofError
from tokenstile.tokens.keys import KeyRing
from tokenstile.tokens.model import (
    LOCAL_AUDIENCE,
    TAP_ACR,
    AudiencePolicy,
    Client,
    Session,
    TokenStore,
    TokenTx,
    User,
    acr_satisfies,
)

REFRESH_TOKEN_BYTES = 32  # 256 bits
OPAQUE_TOKEN_BYTES = 32


def token_hash(token: str) -> bytes:
    """Refresh and opaque tokens are 256-bit random: a plain SHA-256 is the right hash."""
    return hashlib.sha256(token.encode("utf-8")).digest()


@dataclass(frozen=True, slots=True)
class SessionPolicy:
    access_token_lifetime: int = 600
    session_lifetime: int = 12 * 3600
    session_idle: int = 3600
    refresh_grace: float = 10.0
    refresh_retry_after: float = 1.0
    # RFC 9449 proofs are accepted this long after their iat (and this far before it).
    dpop_max_age: float = 60.0
    dpop_max_future: float = 5.0
    # Scopes never handed out by an exchange nor moved by a refresh to another audience,
    # and granted at a login to admins only (ADMIN_SCOPE always is one).
    privileged_scopes: frozenset[str] = frozenset({ADMIN_SCOPE})
    # The longest lifetime of an access token the service issues (every audience); its
    # own decoding refuses a token whose exp - iat is longer. None: access_token_lifetime
    # (and the audiences' lifetimes the service has loaded count too, either way).
    max_token_lifetime: int | None = None
    # How long a confirm token (tokens.confirm) lives: 1 to 120 seconds.
    confirm_token_lifetime: int = 60
    # Parked sessions (``tokens.parking``): how long one may stay parked before it is
    # revoked, and how recent the sign-in that resumes it must be.
    park_lifetime: float = 15 * 60.0
    resume_window: float = 120.0


@dataclass(frozen=True, slots=True)
class TokenResponse:
    access_token: str
    expires_in: int
    refresh_token: str
    scope: str
    sid: str
    token_type: str = "Bearer"  # noqa: S105
    # Seconds until the session's absolute end, after which the refresh token is dead.
    refresh_token_expires_in: int | None = None

    def to_json(self) -> dict[str, Any]:
        body: dict[str, Any] = {
            "access_token": self.access_token,
            "token_type": self.token_type,
            "expires_in": self.expires_in,
            "refresh_token": self.refresh_token,
            "scope": self.scope,
        }
        if self.refresh_token_expires_in is not None:
            body["refresh_token_expires_in"] = self.refresh_token_expires_in
        return body


@dataclass(frozen=True, slots=True)
class PendingAccessToken:
    """An access token decided inside a transaction, signed after its commit."""

    claims: dict[str, Any]
    lifetime: int
    opaque: str | None


def dpop_required() -> DpopProofError:
    """The refusal of a token request without a proof from a ``dpop_bound`` client."""
    return DpopProofError("This client must send a DPoP proof with every token request.")


# Parked sessions (``tokens.parking``): the refusal every grant that uses a session shares.
PARK_EXPIRED = "park_expired"  # the revoke reason of a session parked past its deadline
PARKED_MESSAGE = (
    "This session is parked at its kiosk: the person stepped away. It is served again "
    "when they sign in at the kiosk."
)
EXPIRED_MESSAGE = "This parked session passed its deadline and has ended; sign in again."


def parked_refusal(session: Session, tx: TokenTx, now: float) -> tuple[str, InvalidGrant] | None:
    """Why a parked session may not be used now (revoking it once past its deadline),
    or None when it is not parked. Shared by the refresh grant and token exchange."""
    if session.parked_until is None:
        return None
    if now >= session.parked_until:
        tx.revoke_session(session.sid, at=now, reason=PARK_EXPIRED)
        return PARK_EXPIRED, InvalidGrant(EXPIRED_MESSAGE)
    return "session_parked", SessionParked(PARKED_MESSAGE)


def split_scope(scope: str | None) -> list[str]:
    return [s for s in (scope or "").split(" ") if s]


def check_audience_allowed(client: Client, audience: str) -> None:
    if audience != LOCAL_AUDIENCE and audience not in client.audiences:
        raise InvalidTarget(f"This client may not obtain tokens for {audience}.")


def is_session_token(claims: Mapping[str, Any], session: Session) -> bool:
    """Whether ``claims`` are those of the session's own local token (the one the
    broker holds), not a token derived from it. A confirm token (``tokens.confirm``) never
    is one, whatever its audience: it is never a subject of exchange nor ends a session."""
    return (
        claims.get("aud") == LOCAL_AUDIENCE
        and claims.get("client_id") == session.client_id
        and CONFIRM_CLAIM not in claims
    )


class AccessTokenMinter:
    """Claims, opaque records and signatures of the access tokens every grant issues."""

    __slots__ = (
        "_audiences",
        "_audiences_loaded_at",
        "_cache_seconds",
        "_keyring",
        "clock",
        "issuer",
        "policy",
        "privileged",
        "store",
    )

    def __init__(
        self,
        store: TokenStore,
        keyring: Callable[[], KeyRing],
        *,
        issuer: str,
        clock: Clock,
        policy: SessionPolicy,
        policy_cache_seconds: float = 10.0,
    ) -> None:
        self.store = store
        self.issuer = issuer
        self.clock = clock
        self.policy = policy
        self.privileged = frozenset(policy.privileged_scopes) | {ADMIN_SCOPE}
        self._keyring = keyring
        self._cache_seconds = policy_cache_seconds
        self._audiences: dict[str, AudiencePolicy] = {}
        self._audiences_loaded_at: float | None = None

    @property
    def keyring(self) -> KeyRing:
        return self._keyring()

    def audience_policies(self) -> dict[str, AudiencePolicy]:
        """The cached policies, reloaded when stale.

        Called before a write transaction opens, never inside one: a second pooled
        connection taken while a writer holds the first can starve the pool.
        """
        now = self.clock.now()
        loaded = self._audiences_loaded_at
        if loaded is None or not 0 <= now - loaded < self._cache_seconds:
            with self.store.read() as tx:
                self._audiences = {p.audience: p for p in tx.audiences()}
            self._audiences_loaded_at = now
        return self._audiences

    def check_assurance(self, audience: str, acr: str) -> None:
        policy = self._audiences.get(audience)  # loaded by the caller, before any transaction
        if policy is not None and not acr_satisfies(acr, policy.min_acr):
            what = "A tap-and-go sign-in (acr tap)" if acr == TAP_ACR else "This sign-in"
            raise InsufficientAssurance(
                f"{what} does not meet the assurance {audience} requires ({policy.min_acr})."
            )

    def max_lifetime(self) -> int:
        """The longest access-token lifetime this service issues (``exp - iat``)."""
        bound = self.policy.max_token_lifetime or self.policy.access_token_lifetime
        longest = max((p.lifetime or 0 for p in self._audiences.values()), default=0)
        return max(bound, self.policy.access_token_lifetime, longest)

    def access_token(
        self,
        tx: TokenTx,
        *,
        session: Session,
        user: User,
        audience: str,
        scope: str,
        now: float,
        jkt: str | None = None,
        client_id: str | None = None,
        not_after: float | None = None,
    ) -> PendingAccessToken:
        """The claims of a new access token; opaque ones are stored here, in the transaction.

        JWTs are signed after the commit (``respond``) so the write lock is held briefly.
        ``jkt`` binds the token to a DPoP key (``cnf``); ``client_id`` names another
        client than the session's (token exchange); ``exp`` never passes ``not_after``.
        """
        policy = self._audiences.get(audience)  # never reload inside the transaction
        lifetime = (
            policy.lifetime
            if policy is not None and policy.lifetime
            else self.policy.access_token_lifetime
        )
        iat = int(now)
        if not_after is not None:
            lifetime = max(1, min(lifetime, int(not_after) - iat))
        claims: dict[str, Any] = {
            "iss": self.issuer,
            "sub": user.username,
            "aud": audience,
            "exp": iat + lifetime,
            "iat": iat,
            "nbf": iat,
            "jti": secrets.token_urlsafe(16),
            "client_id": client_id or session.client_id,
            "scope": scope,
            "sid": session.sid,
            "auth_time": int(session.auth_time),
            "amr": list(session.amr),
            "acr": session.acr,
        }
        if jkt is not None:
            claims["cnf"] = {"jkt": jkt}
        if policy is not None and policy.token_format == "opaque":  # noqa: S105
            opaque = secrets.token_urlsafe(OPAQUE_TOKEN_BYTES)
            tx.add_opaque_token(
                token_hash=token_hash(opaque),
                sid=session.sid,
                claims=claims,
                expires_at=float(claims["exp"]),
            )
            return PendingAccessToken(claims, lifetime, opaque)
        return PendingAccessToken(claims, lifetime, None)

    def respond(
        self,
        access: PendingAccessToken,
        refresh: str,
        session: Session,
        *,
        scope: str | None = None,
    ) -> TokenResponse:
        token = self.sign(access)
        granted = session.scope if scope is None else scope
        return TokenResponse(
            token,
            access.lifetime,
            refresh,
            granted,
            session.sid,
            "DPoP" if "cnf" in access.claims else "Bearer",
            refresh_token_expires_in=max(0, int(session.expires_at) - access.claims["iat"]),
        )

    def sign(self, access: PendingAccessToken) -> str:
        if access.opaque is not None:
            return access.opaque
        key = self._keyring().signer(self.clock.now())
        return jwt.encode(
            access.claims,
            key.private_key,
            algorithm=key.alg,
            headers={"typ": "at+jwt", "kid": key.kid},
        )


class MintingGrant:
    """What a grant that issues tokens holds: the minter, and its store, clock, policy and
    privileged scopes (``SessionOpening``, ``RefreshGrant``)."""

    __slots__ = ("_clock", "_minter", "_policy", "_privileged", "_store")

    def __init__(self, minter: AccessTokenMinter) -> None:
        self._minter = minter
        self._store = minter.store
        self._clock = minter.clock
        self._policy = minter.policy
        self._privileged = minter.privileged
