"""The token service: sessions, access tokens, refresh rotation, revocation, introspection.

Refresh rotation (the subtle part), for a presented refresh token ``T``:

* ``T`` unused: one conditional UPDATE marks it used and links its successor. The
  database decides which of several concurrent requests wins; the losers see a used
  token below.
* ``T`` used, its successor never used, within the grace period, and the request began
  after ``T`` was rotated: a retry after a lost response. The unused successor is
  superseded and a new one issued; the person stays signed in.
* ``T`` used and the request began before the rotation was stored: a concurrent
  duplicate that lost the race. Refused, the family untouched.
* Anything else (reuse after the grace period, a used successor, a superseded token):
  theft is assumed. The whole family (the session) is revoked and an alert written.

DPoP (RFC 9449): a session opened with a proof stores the key's thumbprint; its access
tokens carry ``cnf.jkt`` and every refresh must prove the same key, checked before
anything else about the refresh token, so a thief without the key cannot even trip reuse
detection. Token exchange (RFC 8693) issues an app its own access token from a live
session's own local access token: the session says who and how strongly; the app's
registration says for which audiences and with which scopes, never a privileged one.

Exchange and refresh never widen. A privileged scope (``tokenstile:admin`` and those the
``privileged_scopes`` setting names) comes only from a factor login at a client
registered for it, to an admin; an exchange never carries one and a refresh never moves
one to another audience. Only a session's own local token (audience
``urn:tokenstile:local``, issued to the session's client) is a subject token; a token
derived from it (exchanged, or for a resource server's audience) is not, and revoking
one revokes that token alone, never the session.
"""

from __future__ import annotations

import hashlib
import json
import secrets
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal

import jwt

from tokenstile.clock import Clock
from tokenstile.errors import (
    InsufficientAssurance,
    InvalidClient,
    InvalidGrant,
    InvalidRequest,
    InvalidScope,
    InvalidTarget,
    OAuthError,
    TokenstileError,
    UnauthorizedClient,
)
from tokenstile.tokens.dpop import DpopProofError, DpopVerifier, check_token_binding
from tokenstile.tokens.keys import KeyRing
from tokenstile.tokens.model import (
    ADMIN_SCOPE,
    LOCAL_AUDIENCE,
    AudiencePolicy,
    AuditEvent,
    Client,
    RefreshLookup,
    Session,
    TokenStore,
    TokenTx,
    User,
    acr_satisfies,
)

REFRESH_TOKEN_BYTES = 32  # 256 bits
GRANT_TOKEN_EXCHANGE = "urn:ietf:params:oauth:grant-type:token-exchange"  # noqa: S105
ACCESS_TOKEN_TYPE = "urn:ietf:params:oauth:token-type:access_token"  # noqa: S105
OPAQUE_TOKEN_BYTES = 32
# Who may request a token exchange: a registered app, with the local token of any live
# session (the per-app token on the person's desktop); a kiosk client (the kiosk, the admin
# console) only with its own sessions' tokens, never another client's session. Never a
# resource server.
EXCHANGE_CLIENT_KINDS = ("app", "kiosk")
# A token's iat may be this far ahead of our clock (another replica's clock), no more.
IAT_LEEWAY = 60
MAX_JTI_CHARS = 64
MAX_OPAQUE_TOKEN_CHARS = 512


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
class ExchangeResponse:
    """RFC 8693 section 2.2.1: an access token and no refresh token."""

    access_token: str
    expires_in: int
    scope: str
    token_type: str = "Bearer"  # noqa: S105

    def to_json(self) -> dict[str, Any]:
        return {
            "access_token": self.access_token,
            "issued_token_type": ACCESS_TOKEN_TYPE,
            "token_type": self.token_type,
            "expires_in": self.expires_in,
            "scope": self.scope,
        }


@dataclass(frozen=True, slots=True)
class _PendingAccessToken:
    claims: dict[str, Any]
    lifetime: int
    opaque: str | None


@dataclass(frozen=True, slots=True)
class _RefreshOutcome:
    failure: OAuthError | None
    access: _PendingAccessToken | None = None
    granted: str | None = None
    session: Session | None = None


class _StoreReplayCache:
    """DPoP proofs seen, kept in the database: a replay is refused on every replica."""

    __slots__ = ("_store",)

    def __init__(self, store: TokenStore) -> None:
        self._store = store

    def remember(self, key: bytes, *, expires_at: float, now: float) -> bool:
        return self._store.run_write(
            lambda tx: tx.remember_dpop_proof(key, expires_at=expires_at, now=now)
        )


def dpop_required() -> DpopProofError:
    """The refusal of a token request without a proof from a ``dpop_bound`` client."""
    return DpopProofError("This client must send a DPoP proof with every token request.")


def _split_scope(scope: str | None) -> list[str]:
    return [s for s in (scope or "").split(" ") if s]


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
        self._store = store
        self._keyring = keyring
        self._issuer = issuer
        self._clock = clock
        self._policy = policy or SessionPolicy()
        self._privileged = frozenset(self._policy.privileged_scopes) | {ADMIN_SCOPE}
        self._policy_cache_seconds = policy_cache_seconds
        self._audiences: dict[str, AudiencePolicy] = {}
        self._audiences_loaded_at: float | None = None
        self._dpop = DpopVerifier(
            clock=clock,
            replay=_StoreReplayCache(store),
            max_age=self._policy.dpop_max_age,
            max_future=self._policy.dpop_max_future,
        )

    @property
    def issuer(self) -> str:
        return self._issuer

    @property
    def policy(self) -> SessionPolicy:
        return self._policy

    @property
    def privileged_scopes(self) -> frozenset[str]:
        return self._privileged

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
        return self._audience_policies().get(audience)

    def _audience_policies(self) -> dict[str, AudiencePolicy]:
        """The cached policies, reloaded when stale.

        Called before a write transaction opens, never inside one: a second pooled
        connection taken while a writer holds the first can starve the pool.
        """
        now = self._clock.now()
        loaded = self._audiences_loaded_at
        if loaded is None or not 0 <= now - loaded < self._policy_cache_seconds:
            with self._store.read() as tx:
                self._audiences = {p.audience: p for p in tx.audiences()}
            self._audiences_loaded_at = now
        return self._audiences

    def _check_assurance(self, audience: str, acr: str) -> None:
        policy = self._audiences.get(audience)  # loaded by the caller, before any transaction
        if policy is not None and not acr_satisfies(acr, policy.min_acr):
            raise InsufficientAssurance(
                f"This sign-in does not meet the assurance {audience} requires ({policy.min_acr})."
            )

    # -- sessions -------------------------------------------------------------------

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
        """Start a session after a factor succeeded: the first access + refresh token.

        ``device`` names the physical factor (fob serial, key AAGUID and credential,
        card certificate serial) so the audit row ties it to the session it opened.
        ``credential`` (``credential_ref``) is kept on the session so revoking that
        credential ends the session too.
        ``dpop_jkt``: the thumbprint of the key of a checked DPoP proof; the session and
        its tokens are then bound to that key (required for a ``dpop_bound`` client).
        """
        if not user.enabled:
            raise InvalidGrant("This account is disabled.")
        if not client.enabled or client.kind == "resource-server":
            raise UnauthorizedClient("This client may not start sessions.")
        if client.dpop_bound and dpop_jkt is None:
            raise dpop_required()
        now = self._clock.now()
        granted = self._grant_scope(client, user, scope)
        aud = audience or client.default_audience
        self._check_audience_allowed(client, aud)
        self._audience_policies()
        self._check_assurance(aud, acr)
        session = Session(
            sid=secrets.token_urlsafe(16),
            user_id=user.id,
            client_id=client.client_id,
            audience=aud,
            scope=" ".join(granted),
            amr=tuple(amr),
            acr=acr,
            factor=factor,
            auth_time=auth_time if auth_time is not None else now,
            created_at=now,
            expires_at=now + self._policy.session_lifetime,
            idle_timeout=float(self._policy.session_idle),
            last_used_at=now,
            dpop_jkt=dpop_jkt,
            credential=credential,
        )
        refresh = secrets.token_urlsafe(REFRESH_TOKEN_BYTES)
        with self._store.write() as tx:
            tx.add_session(session)
            tx.add_refresh(
                token_hash=token_hash(refresh),
                sid=session.sid,
                client_id=client.client_id,
                parent_id=None,
                at=now,
            )
            access = self._access_token(
                tx,
                session=session,
                user=user,
                audience=aud,
                scope=session.scope,
                now=now,
                jkt=dpop_jkt,
            )
            detail: dict[str, Any] = {"amr": list(amr), "acr": acr, "aud": aud, **(device or {})}
            if dpop_jkt is not None:
                detail["dpop_jkt"] = dpop_jkt
            tx.audit(
                AuditEvent(
                    "login",
                    "success",
                    username=user.username,
                    client_id=client.client_id,
                    sid=session.sid,
                    factor=factor,
                    origin=origin,
                    detail=detail,
                ),
                at=now,
            )
        return self._respond(access, refresh, session)

    # -- the refresh grant ----------------------------------------------------------

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
        """The refresh grant. ``dpop_jkt``: the key of a checked DPoP proof, which a
        session bound to a key requires (that key) and an unbound one binds the new
        access token to."""
        if not refresh_token:
            raise InvalidRequest("The refresh_token parameter is missing.")
        if len(refresh_token) > MAX_OPAQUE_TOKEN_CHARS:
            raise InvalidGrant("The refresh token is not valid.")
        if dpop_jkt is None and client.dpop_bound:
            raise dpop_required()
        started = received_at if received_at is not None else self._clock.now()
        presented = token_hash(refresh_token)
        new_refresh = secrets.token_urlsafe(REFRESH_TOKEN_BYTES)
        self._audience_policies()  # fresh before the transaction; only the cache inside

        def job(tx: TokenTx) -> _RefreshOutcome:
            now = self._clock.now()
            found = tx.find_refresh(presented)
            if found is None:
                tx.audit(
                    AuditEvent(
                        "refresh",
                        "failure",
                        client_id=client.client_id,
                        origin=origin,
                        detail={"reason": "unknown_token"},
                    ),
                    at=now,
                )
                return _RefreshOutcome(InvalidGrant("The refresh token is not valid."))
            bound = found.session.dpop_jkt
            if bound is not None and bound != dpop_jkt:
                return _RefreshOutcome(
                    self._dpop_refusal(
                        tx, found, client=client, dpop_jkt=dpop_jkt, now=now, origin=origin
                    )
                )
            failure = self._refresh_refusal(
                tx, found=found, client=client, now=now, started=started, origin=origin
            )
            if failure is not None:
                return _RefreshOutcome(failure)  # what the refusal wrote is committed
            access, granted = self._rotate(
                tx,
                found,
                client=client,
                scope=scope,
                resource=resource,
                new_refresh=new_refresh,
                now=now,
                origin=origin,
                jkt=bound if bound is not None else dpop_jkt,
            )
            return _RefreshOutcome(None, access, granted, found.session)

        outcome = self._store.run_write(job)
        if outcome.failure is not None:
            raise outcome.failure
        assert outcome.access is not None  # noqa: S101
        assert outcome.session is not None  # noqa: S101
        return self._respond(outcome.access, new_refresh, outcome.session, scope=outcome.granted)

    @staticmethod
    def _dpop_refusal(
        tx: TokenTx,
        found: RefreshLookup,
        *,
        client: Client,
        dpop_jkt: str | None,
        now: float,
        origin: str | None,
    ) -> DpopProofError:
        """A refresh of a key-bound session without a proof of that key: refused, and
        nothing else happens to the session (whoever sent it may not hold the key)."""
        reason = "dpop_proof_missing" if dpop_jkt is None else "dpop_key_mismatch"
        tx.audit(
            AuditEvent(
                "refresh",
                "failure",
                username=found.user.username,
                client_id=client.client_id,
                sid=found.session.sid,
                factor=found.session.factor,
                origin=origin,
                detail={"reason": reason},
            ),
            at=now,
        )
        if dpop_jkt is None:
            return DpopProofError(
                "This session is bound to a DPoP key: send a DPoP proof made with it."
            )
        return DpopProofError("The DPoP proof is not made with the key this session is bound to.")

    def _rotate(
        self,
        tx: TokenTx,
        found: RefreshLookup,
        *,
        client: Client,
        scope: str | None,
        resource: str | None,
        new_refresh: str,
        now: float,
        origin: str | None,
        jkt: str | None,
    ) -> tuple[_PendingAccessToken, str]:
        token, session, user = found.token, found.session, found.user
        aud = resource or session.audience
        self._check_audience_allowed(client, aud)
        self._check_assurance(aud, session.acr)
        granted = self._refresh_scope(session, user, scope, aud)
        successor_id = tx.add_refresh(
            token_hash=token_hash(new_refresh),
            sid=session.sid,
            client_id=client.client_id,
            parent_id=token.id,
            at=now,
        )
        event = "refresh"
        if token.used_at is None:
            if not tx.claim_refresh(token.id, successor_id=successor_id, at=now):
                # Lost a race the lookup could not see; the successor rolls back with us.
                raise InvalidGrant("The refresh token was just used.")
        else:  # a grace retry, vetted by _refresh_refusal
            assert found.successor is not None  # noqa: S101
            if not tx.supersede_refresh(found.successor.id, at=now):
                raise InvalidGrant("The refresh token was just used.")
            tx.relink_refresh(token.id, successor_id=successor_id)
            event = "refresh_retry"
        tx.touch_session(session.sid, at=now)
        access = self._access_token(
            tx, session=session, user=user, audience=aud, scope=granted, now=now, jkt=jkt
        )
        tx.audit(
            AuditEvent(
                event,
                "success",
                username=user.username,
                client_id=client.client_id,
                sid=session.sid,
                factor=session.factor,
                origin=origin,
                detail={"aud": aud},
            ),
            at=now,
        )
        return access, granted

    def _refresh_refusal(
        self,
        tx: TokenTx,
        *,
        found: RefreshLookup,
        client: Client,
        now: float,
        started: float,
        origin: str | None,
    ) -> InvalidGrant | None:
        """Why this refresh must fail (writing what must persist), or None to proceed."""
        token, session, user, successor = found.token, found.session, found.user, found.successor

        def refuse(
            reason: str, message: str, outcome: Literal["failure", "alert"] = "failure"
        ) -> InvalidGrant:
            tx.audit(
                AuditEvent(
                    "refresh",
                    outcome,
                    username=user.username,
                    client_id=client.client_id,
                    sid=session.sid,
                    factor=session.factor,
                    origin=origin,
                    detail={"reason": reason},
                ),
                at=now,
            )
            return InvalidGrant(message)

        if token.client_id != client.client_id:
            return refuse("client_mismatch", "The refresh token was issued to another client.")
        if session.revoked_at is not None:
            return refuse("session_revoked", "This session has ended; sign in again.")
        if not user.enabled:
            tx.revoke_session(session.sid, at=now, reason="user_disabled")
            return refuse("user_disabled", "This account is disabled.")
        if now >= session.expires_at:
            tx.revoke_session(session.sid, at=now, reason="expired")
            return refuse("session_expired", "This session reached its time limit; sign in again.")
        if now >= session.last_used_at + session.idle_timeout:
            tx.revoke_session(session.sid, at=now, reason="idle")
            return refuse("session_idle", "This session was idle too long; sign in again.")
        if token.used_at is None and token.superseded_at is None:
            return None  # the normal case
        # The token was rotated (or superseded) before.
        fresh_successor = (
            successor is not None and successor.used_at is None and successor.superseded_at is None
        )
        if (
            token.used_at is not None
            and fresh_successor
            and now - token.used_at <= self._policy.refresh_grace
        ):
            # A duplicate that reaches us within refresh_retry_after of the rotation is
            # taken for a concurrent request (request start times cannot tell a racer
            # from a fast retry: a racer's request may be read milliseconds late). It is
            # refused without harm; a client whose response was lost retries later.
            if started < token.used_at + self._policy.refresh_retry_after:
                return refuse(
                    "concurrent_refresh",
                    "The refresh token was just used by another request; if that response "
                    "was lost, retry in a moment.",
                )
            return None  # a retry after a lost response
        tx.revoke_session(session.sid, at=now, reason="refresh_token_reuse")
        return refuse(
            "refresh_token_reuse",
            "The refresh token was already used; the session has been ended for safety.",
            outcome="alert",
        )

    # -- token exchange (RFC 8693) ---------------------------------------------------

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
        """An access token for ``audience`` from the access token of a live session.

        The session supplies the person and the assurance (``acr``, ``amr``,
        ``auth_time``); the requesting ``client`` (an enabled app; or a kiosk client, for
        its own sessions only) must be registered for the audience, which is never the
        token service's own. The scope
        (``_exchange_scope``) is the app's registered scopes that are not privileged,
        bounded by the session for the scopes its own client could have granted it. The
        audience's minimum ``acr`` must hold. The subject token must be the session's own
        local access token (audience ``urn:tokenstile:local``, issued to the session's
        client), not one issued by an exchange or for a resource server's audience: a
        resource server that received a token cannot trade it for another. A subject
        token bound to a DPoP key needs a proof of that key (``dpop_jkt``); the new token
        is bound to the proof's key whenever there is one. No refresh token.
        """
        self._check_exchange_request(
            client=client,
            subject_token=subject_token,
            subject_token_type=subject_token_type,
            audience=audience,
            requested_token_type=requested_token_type,
            dpop_jkt=dpop_jkt,
        )
        self._audience_policies()  # fresh before any transaction; only the cache inside
        now = self._clock.now()
        claims = self._subject_claims(subject_token, now)
        if claims is None:
            event = AuditEvent(
                "token_exchange",
                "failure",
                client_id=client.client_id,
                origin=origin,
                detail={"reason": "invalid_subject_token", "aud": audience},
            )
            self._store.run_write(lambda tx: tx.audit(event, at=now))
            raise InvalidGrant("The subject token is not a valid access token.")
        cnf = claims.get("cnf")
        subject_jkt = cnf.get("jkt") if isinstance(cnf, dict) else None
        if subject_jkt is not None and subject_jkt != dpop_jkt:
            raise DpopProofError(
                "The subject token is bound to a DPoP key: send a DPoP proof made with it."
            )
        if audience == LOCAL_AUDIENCE:
            raise InvalidTarget(
                "A token exchange issues a token for an app's own audience, never for the "
                "token service itself."
            )
        self._check_audience_allowed(client, audience)
        sid = str(claims.get("sid", ""))
        jti = claims.get("jti")

        ended_client = "The client this session was opened at is no longer enabled."

        def job(tx: TokenTx) -> tuple[OAuthError | None, _PendingAccessToken | None, str]:
            at = self._clock.now()
            session = tx.get_session(sid)
            user = tx.get_user(session.user_id) if session is not None else None

            def refuse(reason: str, error: OAuthError) -> tuple[OAuthError, None, str]:
                tx.audit(
                    AuditEvent(
                        "token_exchange",
                        "failure",
                        username=user.username if user is not None else None,
                        client_id=client.client_id,
                        sid=sid or None,
                        origin=origin,
                        detail={"reason": reason, "aud": audience},
                    ),
                    at=at,
                )
                return error, None, ""

            if session is None or user is None:
                return refuse("unknown_session", InvalidGrant("The subject token is not valid."))
            dead = self._dead_session(tx, session, user, at)
            if dead is not None:
                return refuse(*dead)
            if not self._is_session_token(claims, session):
                return refuse(
                    "not_a_session_token",
                    InvalidGrant(
                        "The subject token must be the session's own access token "
                        "(for the token service, issued to the session's client)."
                    ),
                )
            if client.kind != "app" and client.client_id != session.client_id:
                return refuse(
                    "not_own_session",
                    UnauthorizedClient(
                        "A kiosk client may exchange only the tokens of its own sessions."
                    ),
                )
            if isinstance(jti, str) and tx.access_token_revoked(jti):
                return refuse("token_revoked", InvalidGrant("The subject token was revoked."))
            session_client = tx.get_client(session.client_id)
            if session_client is None or not session_client.enabled:
                return refuse("session_client_disabled", InvalidGrant(ended_client))
            try:
                self._check_assurance(audience, session.acr)
                granted = self._exchange_scope(client, session, session_client, scope)
            except OAuthError as exc:
                return refuse(exc.code, exc)
            tx.touch_session(sid, at=at)
            access = self._access_token(
                tx,
                session=session,
                user=user,
                audience=audience,
                scope=granted,
                now=at,
                jkt=dpop_jkt,
                client_id=client.client_id,
                not_after=session.expires_at,
            )
            tx.audit(
                AuditEvent(
                    "token_exchange",
                    "success",
                    username=user.username,
                    client_id=client.client_id,
                    sid=sid,
                    factor=session.factor,
                    origin=origin,
                    detail={
                        "aud": audience,
                        "scope": granted,
                        "subject_client_id": claims.get("client_id"),
                        **({"dpop_jkt": dpop_jkt} if dpop_jkt is not None else {}),
                    },
                ),
                at=at,
            )
            return None, access, granted

        failure, access, granted = self._store.run_write(job)
        if failure is not None:
            raise failure
        assert access is not None  # noqa: S101
        token_type = "DPoP" if dpop_jkt is not None else "Bearer"
        return ExchangeResponse(self._sign(access), access.lifetime, granted, token_type)

    @staticmethod
    def _check_exchange_request(
        *,
        client: Client,
        subject_token: str,
        subject_token_type: str,
        audience: str,
        requested_token_type: str | None,
        dpop_jkt: str | None,
    ) -> None:
        """The refusals of an exchange request that need nothing stored."""
        if not subject_token:
            raise InvalidRequest("The subject_token parameter is missing.")
        if subject_token_type != ACCESS_TOKEN_TYPE:
            raise InvalidRequest(f"The subject_token_type must be {ACCESS_TOKEN_TYPE}.")
        if requested_token_type not in (None, "", ACCESS_TOKEN_TYPE):
            raise InvalidRequest(f"Only {ACCESS_TOKEN_TYPE} can be requested.")
        if not audience:
            raise InvalidRequest("The audience parameter is missing.")
        if not client.enabled or client.kind not in EXCHANGE_CLIENT_KINDS:
            raise UnauthorizedClient("This client may not request a token exchange.")
        if dpop_jkt is None and client.dpop_bound:
            raise dpop_required()

    @staticmethod
    def _dead_session(
        tx: TokenTx, session: Session, user: User, at: float
    ) -> tuple[str, InvalidGrant] | None:
        """Why a session can no longer be used (ending it when it just died), or None."""
        ended = "This session has ended; sign in again."
        if session.revoked_at is not None:
            return "session_revoked", InvalidGrant(ended)
        if not user.enabled:
            tx.revoke_session(session.sid, at=at, reason="user_disabled")
            return "user_disabled", InvalidGrant("This account is disabled.")
        if at >= session.expires_at:
            tx.revoke_session(session.sid, at=at, reason="expired")
            return "session_expired", InvalidGrant(ended)
        if at >= session.last_used_at + session.idle_timeout:
            tx.revoke_session(session.sid, at=at, reason="idle")
            return "session_idle", InvalidGrant(ended)
        return None

    def _subject_claims(self, token: str, now: float) -> dict[str, Any] | None:
        """The claims of one of our access tokens, signature and expiry checked."""
        if len(token) > 8192:
            return None
        if token.count(".") == 2:
            return self._decode_own_jwt(token, now)
        with self._store.read() as tx:
            found = tx.find_opaque_token(token_hash(token))
        if found is None or found[0].get("exp", 0) <= now:
            return None
        return found[0]

    # -- helpers --------------------------------------------------------------------

    def _grant_scope(self, client: Client, user: User, requested: str | None) -> list[str]:
        """At a factor login: the client's scopes (or the requested subset); a privileged
        scope only for an admin."""
        wanted = list(dict.fromkeys(_split_scope(requested)))
        if not wanted:
            return [s for s in client.scopes if user.is_admin or s not in self._privileged]
        refused = [s for s in wanted if s not in client.scopes]
        if refused:
            raise InvalidScope(f"This client may not request the scope {' '.join(refused)}.")
        privileged = [s for s in wanted if s in self._privileged]
        if privileged and not user.is_admin:
            raise InvalidScope(f"Only administrators receive the scope {' '.join(privileged)}.")
        return wanted

    def _exchange_scope(
        self, client: Client, session: Session, session_client: Client, requested: str | None
    ) -> str:
        """What an exchange grants: the requesting app's registered scopes (or the requested
        subset) that are not privileged and that the session holds, where the session's
        own client could have granted them (a scope only the app knows, such as
        ``payroll:read``, comes from the app's registration). Never more than that."""
        held = set(_split_scope(session.scope))
        domain = set(session_client.scopes)

        def withheld(s: str) -> bool:
            return s in domain and s not in held

        wanted = list(dict.fromkeys(_split_scope(requested)))
        if not wanted:
            return " ".join(
                s for s in client.scopes if s not in self._privileged and not withheld(s)
            )
        privileged = [s for s in wanted if s in self._privileged]
        if privileged:
            raise InvalidScope(
                f"The scope {' '.join(privileged)} is privileged: only a sign-in at a client "
                "registered for it grants it, never a token exchange."
            )
        refused = [s for s in wanted if s not in client.scopes]
        if refused:
            raise InvalidScope(f"This client may not request the scope {' '.join(refused)}.")
        missing = [s for s in wanted if withheld(s)]
        if missing:
            raise InvalidScope(f"The session was not granted the scope {' '.join(missing)}.")
        return " ".join(wanted)

    def _refresh_scope(
        self, session: Session, user: User, requested: str | None, audience: str
    ) -> str:
        """What a refresh grants: the session's scope (or the requested subset). A
        privileged scope stays only at the session's own audience and while the person is
        an admin; asked for elsewhere it is refused, otherwise left out."""
        granted = _split_scope(self._narrow_scope(session.scope, requested))
        if audience == session.audience and user.is_admin:
            return " ".join(granted)
        privileged = [s for s in granted if s in self._privileged]
        if privileged and requested is not None and requested.strip():
            if not user.is_admin:
                raise InvalidScope(f"Only administrators receive the scope {' '.join(privileged)}.")
            raise InvalidScope(
                f"The scope {' '.join(privileged)} is privileged: a refresh never moves it "
                "to another audience."
            )
        return " ".join(s for s in granted if s not in self._privileged)

    @staticmethod
    def _is_session_token(claims: Mapping[str, Any], session: Session) -> bool:
        """Whether ``claims`` are those of the session's own local token (the one the
        broker holds), not a token derived from it."""
        return claims.get("aud") == LOCAL_AUDIENCE and claims.get("client_id") == (
            session.client_id
        )

    def _max_lifetime(self) -> int:
        """The longest access-token lifetime this service issues (``exp - iat``)."""
        bound = self._policy.max_token_lifetime or self._policy.access_token_lifetime
        longest = max((p.lifetime or 0 for p in self._audiences.values()), default=0)
        return max(bound, self._policy.access_token_lifetime, longest)

    @staticmethod
    def _narrow_scope(session_scope: str, requested: str | None) -> str:
        if requested is None or not requested.strip():
            return session_scope
        have = set(_split_scope(session_scope))
        wanted = _split_scope(requested)
        extra = [s for s in wanted if s not in have]
        if extra:
            raise InvalidScope(f"The session was not granted the scope {' '.join(extra)}.")
        return " ".join(wanted)

    @staticmethod
    def _check_audience_allowed(client: Client, audience: str) -> None:
        if audience != LOCAL_AUDIENCE and audience not in client.audiences:
            raise InvalidTarget(f"This client may not obtain tokens for {audience}.")

    def _access_token(
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
    ) -> _PendingAccessToken:
        """The claims of a new access token; opaque ones are stored here, in the transaction.

        JWTs are signed after the commit (``_respond``) so the write lock is held briefly.
        ``jkt`` binds the token to a DPoP key (``cnf``); ``client_id`` names another
        client than the session's (token exchange); ``exp`` never passes ``not_after``.
        """
        policy = self._audiences.get(audience)  # never reload inside the transaction
        lifetime = (
            policy.lifetime
            if policy is not None and policy.lifetime
            else self._policy.access_token_lifetime
        )
        iat = int(now)
        if not_after is not None:
            lifetime = max(1, min(lifetime, int(not_after) - iat))
        claims: dict[str, Any] = {
            "iss": self._issuer,
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
            return _PendingAccessToken(claims, lifetime, opaque)
        return _PendingAccessToken(claims, lifetime, None)

    def _respond(
        self,
        access: _PendingAccessToken,
        refresh: str,
        session: Session,
        *,
        scope: str | None = None,
    ) -> TokenResponse:
        token = self._sign(access)
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

    def _sign(self, access: _PendingAccessToken) -> str:
        if access.opaque is not None:
            return access.opaque
        key = self._keyring().signer(self._clock.now())
        return jwt.encode(
            access.claims,
            key.private_key,
            algorithm=key.alg,
            headers={"typ": "at+jwt", "kid": key.kid},
        )

    # -- introspection, revocation, userinfo -----------------------------------------

    def read_access_token(self, token: str) -> dict[str, Any] | None:
        """Claims of an access token we issued that is still good, else None.

        Checks signature (or the opaque record), expiry, that the token was not revoked
        alone (``revoke``) and that the session lives.
        """
        now = self._clock.now()
        if not token or len(token) > 8192:
            return None
        claims: dict[str, Any] | None
        jwt_token = token.count(".") == 2
        if jwt_token:
            self._audience_policies()  # the lifetimes bound exp - iat (cached)
            claims = self._decode_own_jwt(token, now)
        else:
            with self._store.read() as tx:
                found = tx.find_opaque_token(token_hash(token))
            claims = found[0] if found is not None else None
            if claims is not None and claims.get("exp", 0) <= now:
                claims = None
        if claims is None:
            return None
        with self._store.read() as tx:
            session = tx.get_session(str(claims.get("sid", "")))
            user = tx.get_user(session.user_id) if session is not None else None
            revoked = jwt_token and tx.access_token_revoked(str(claims["jti"]))
        if session is None or session.revoked_at is not None or user is None or not user.enabled:
            return None
        return None if revoked else claims

    def _decode_own_jwt(self, token: str, now: float) -> dict[str, Any] | None:
        try:
            header = jwt.get_unverified_header(token)
        except jwt.PyJWTError:
            return None
        kid = header.get("kid")
        key = self._keyring().get(kid) if isinstance(kid, str) else None
        if key is None or header.get("typ") != "at+jwt" or header.get("alg") != key.alg:
            return None
        try:
            claims: dict[str, Any] = jwt.decode(
                token,
                key.private_key.public_key(),
                algorithms=[key.alg],
                issuer=self._issuer,
                # Times are checked below against our clock, not the library's.
                options={
                    "verify_aud": False,
                    "verify_exp": False,
                    "verify_iat": False,
                    "verify_nbf": False,
                    "require": ["exp", "iat", "iss", "sub", "sid", "jti"],
                },
            )
        except jwt.PyJWTError:
            return None
        exp, iat, jti = claims["exp"], claims["iat"], claims["jti"]
        if not isinstance(exp, int) or not isinstance(iat, int) or exp <= now:
            return None
        # Never longer-lived than anything we issue, never issued in the future: a token
        # minted with a stolen key for a year is refused even while its key is trusted.
        if exp - iat > self._max_lifetime() or iat > now + IAT_LEEWAY:
            return None
        if not isinstance(jti, str) or not 0 < len(jti) <= MAX_JTI_CHARS:
            return None
        # `rotate-keys --compromised` deletes the keys it distrusts: refuse their tokens
        # at once on every replica, however old this replica's key ring is.
        with self._store.read() as tx:
            if not tx.signing_key_trusted(key.kid):
                return None
        return claims

    def introspect(self, *, token: str, hint: str | None, client: Client) -> dict[str, Any]:
        """RFC 7662: what a resource server may know about a token meant for it."""
        if client.kind != "resource-server":
            raise InvalidClient("Only resource servers may introspect tokens.")
        inactive: dict[str, Any] = {"active": False}
        claims = self.read_access_token(token) if hint != "refresh_token" else None
        if claims is not None:
            aud = claims.get("aud")
            auds = aud if isinstance(aud, list) else [aud]
            if not any(a in client.audiences for a in auds):
                return inactive
            # RFC 9449 section 6.2: a key-bound token is a DPoP token, its cnf shown.
            token_type = "DPoP" if "cnf" in claims else "Bearer"
            return {"active": True, "token_type": token_type, **claims}
        return inactive

    def revoke(self, *, token: str, client: Client, origin: str | None = None) -> None:
        """RFC 7009. Only the session's own client ends a session: with its refresh token,
        or with the session's own local access token. A derived access token (exchanged,
        or issued for a resource server's audience) is revoked alone, and only by the
        client it was issued to: an opaque one is deleted, a JWT's ``jti`` is denied until
        its ``exp``; the session lives on. Unknown tokens are ignored (section 2.2)."""
        if not token or len(token) > 8192:
            return
        now = self._clock.now()
        decoded: dict[str, Any] | None = None
        if token.count(".") == 2:
            self._audience_policies()  # before the transaction: the lifetime bound
            decoded = self._decode_own_jwt(token, now)
            if decoded is None:
                return
        with self._store.write() as tx:
            found = tx.find_refresh(token_hash(token)) if decoded is None else None
            if found is not None:
                if found.token.client_id != client.client_id:
                    self._revoke_refused(tx, client, found.session.sid, origin, now)
                    raise InvalidRequest("The token was not issued to this client.")
                self._end_session(
                    tx,
                    found.session.sid,
                    username=found.user.username,
                    client=client,
                    origin=origin,
                    now=now,
                )
                return
            opaque = None
            if decoded is None:
                stored = tx.find_opaque_token(token_hash(token))
                opaque = stored[0] if stored is not None else None
            claims = decoded if decoded is not None else opaque
            if claims is None:
                return  # RFC 7009 section 2.2: unknown tokens are not an error
            sid = str(claims.get("sid", ""))
            if claims.get("client_id") != client.client_id:
                self._revoke_refused(tx, client, sid, origin, now)
                raise InvalidRequest("The token was not issued to this client.")
            session = tx.get_session(sid)
            if session is None:
                return
            username = str(claims.get("sub"))
            if self._is_session_token(claims, session):
                self._end_session(tx, sid, username=username, client=client, origin=origin, now=now)
                return
            done = (
                tx.delete_opaque_token(token_hash(token))
                if opaque is not None
                else tx.revoke_access_token(
                    str(claims["jti"]), sid=sid, expires_at=float(claims["exp"]), at=now
                )
            )
            event = AuditEvent(
                "revoke",
                "success",
                username=username,
                client_id=client.client_id,
                sid=sid,
                origin=origin,
                detail={"token": "derived", "aud": claims.get("aud")},
            )
            if done:  # the derived token alone; the session lives
                tx.audit(event, at=now)

    @staticmethod
    def _revoke_refused(
        tx: TokenTx, client: Client, sid: str, origin: str | None, now: float
    ) -> None:
        tx.audit(
            AuditEvent(
                "revoke",
                "failure",
                client_id=client.client_id,
                origin=origin,
                sid=sid or None,
                detail={"reason": "client_mismatch"},
            ),
            at=now,
        )

    @staticmethod
    def _end_session(
        tx: TokenTx, sid: str, *, username: str, client: Client, origin: str | None, now: float
    ) -> None:
        if tx.revoke_session(sid, at=now, reason="revoked"):
            tx.audit(
                AuditEvent(
                    "revoke",
                    "success",
                    username=username,
                    client_id=client.client_id,
                    sid=sid,
                    origin=origin,
                ),
                at=now,
            )

    def userinfo(self, access_token: str, *, dpop_jkt: str | None = None) -> dict[str, Any]:
        """What userinfo shows, to the session's own local token only: a token for another
        audience (an app's, a resource server's) is refused. ``dpop_jkt``: the key of the
        checked proof sent with a token under the DPoP scheme; a key-bound token needs it,
        an unbound one refuses it.
        """
        claims = self.read_access_token(access_token)
        if claims is None or claims.get("aud") != LOCAL_AUDIENCE:
            raise TokenstileError("The access token is not valid.")
        check_token_binding(claims, dpop_jkt)
        with self._store.read() as tx:
            session = tx.get_session(claims["sid"])
            user = tx.get_user(session.user_id) if session else None
        if user is None or session is None or not self._is_session_token(claims, session):
            raise TokenstileError("The access token is not valid.")
        return {
            "sub": user.username,
            "preferred_username": user.username,
            "name": user.display_name or user.username,
            "amr": claims.get("amr", []),
            "acr": claims.get("acr"),
            "auth_time": claims.get("auth_time"),
        }


def client_secret_hash(secret: str) -> str:
    """Client secrets are 256-bit random; SHA-256 hex is enough and constant-time checked."""
    return hashlib.sha256(secret.encode("utf-8")).hexdigest()


def check_client_secret(client: Client, secret: str) -> bool:
    if client.secret_hash is None:
        return False
    return secrets.compare_digest(client.secret_hash, client_secret_hash(secret))


def audit_json(detail: dict[str, Any]) -> str:
    return json.dumps(detail, separators=(",", ":"), sort_keys=True)
