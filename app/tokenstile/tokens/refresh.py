"""The refresh grant (RFC 6749 section 6) with rotation, reuse detection and DPoP.

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
detection.

A refresh never widens: it grants the session's scope or a subset, and a privileged
scope stays at the session's own audience, for an admin; it is never moved to another.

This is the hot path of the service (DESIGN.md's performance table): one write
transaction, one signature after it, and no layers between.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from typing import Literal

from tokenstile.errors import InvalidGrant, InvalidRequest, InvalidScope, OAuthError
from tokenstile.tokens.dpop import DpopProofError
from tokenstile.tokens.minting import (
    REFRESH_TOKEN_BYTES,
    MintingGrant,
    PendingAccessToken,
    TokenResponse,
    check_audience_allowed,
    dpop_required,
    parked_refusal,
    split_scope,
    token_hash,
)
from tokenstile.tokens.model import (
    AuditEvent,
    Client,
    RefreshLookup,
    Session,
    TokenTx,
    is_staff,
)

MAX_OPAQUE_TOKEN_CHARS = 512


@dataclass(frozen=True, slots=True)
class _RefreshOutcome:
    failure: OAuthError | None
    access: PendingAccessToken | None = None
    granted: str | None = None
    session: Session | None = None


class RefreshGrant(MintingGrant):
    """Rotates a refresh token into a new access token and a new refresh token."""

    __slots__ = ()

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
        self._minter.audience_policies()  # fresh before the transaction; only the cache inside

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
        return self._minter.respond(
            outcome.access, new_refresh, outcome.session, scope=outcome.granted
        )

    @staticmethod
    def _dpop_refusal(
        tx: TokenTx,
        found: RefreshLookup,
        *,
        client: Client,
        dpop_jkt: str | None,
        now: float,
        origin: str | None,
        event: str = "refresh",
    ) -> DpopProofError:
        """A refresh of a key-bound session without a proof of that key: refused, and
        nothing else happens to the session (whoever sent it may not hold the key)."""
        reason = "dpop_proof_missing" if dpop_jkt is None else "dpop_key_mismatch"
        tx.audit(
            AuditEvent(
                event,
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
    ) -> tuple[PendingAccessToken, str]:
        token, session, user = found.token, found.session, found.user
        aud = resource or session.audience
        check_audience_allowed(client, aud)
        self._minter.check_assurance(aud, session.acr)
        staff = any(s in self._privileged for s in split_scope(session.scope)) and is_staff(
            tx, user
        )
        granted = self._refresh_scope(session, staff, scope, aud)
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
        access = self._minter.access_token(
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
        parked_ok: bool = False,
        event: str = "refresh",
    ) -> InvalidGrant | None:
        """Why this refresh must fail (writing what must persist), or None to proceed.
        ``parked_ok``: a parked session within its deadline passes (a resume);
        ``event``: the audit event of a refusal (``session_park``, ``session_resume``)."""
        token, session, user, successor = found.token, found.session, found.user, found.successor

        def refuse(
            reason: str, message: str, outcome: Literal["failure", "alert"] = "failure"
        ) -> InvalidGrant:
            tx.audit(
                AuditEvent(
                    event,
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
        parked = parked_refusal(session, tx, now)
        if parked is not None and not (parked_ok and parked[0] == "session_parked"):
            refuse(parked[0], parked[1].message)
            return parked[1]
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
            and token.superseded_at is None  # retired (a resumed parked session's): no grace
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

    def _refresh_scope(
        self, session: Session, staff: bool, requested: str | None, audience: str
    ) -> str:
        """What a refresh grants: the session's scope (or the requested subset). A
        privileged scope stays only at the session's own audience and while the person is
        an admin; asked for elsewhere it is refused, otherwise left out."""
        granted = split_scope(self._narrow_scope(session.scope, requested))
        if audience == session.audience and staff:
            return " ".join(granted)
        privileged = [s for s in granted if s in self._privileged]
        if privileged and requested is not None and requested.strip():
            if not staff:
                raise InvalidScope(
                    f"Only administrators and staff receive the scope {' '.join(privileged)}."
                )
            raise InvalidScope(
                f"The scope {' '.join(privileged)} is privileged: a refresh never moves it "
                "to another audience."
            )
        return " ".join(s for s in granted if s not in self._privileged)

    @staticmethod
    @staticmethod
    def _narrow_scope(session_scope: str, requested: str | None) -> str:
        if requested is None or not requested.strip():
            return session_scope
        have = set(split_scope(session_scope))
        wanted = split_scope(requested)
        extra = [s for s in wanted if s not in have]
        if extra:
            raise InvalidScope(f"The session was not granted the scope {' '.join(extra)}.")
        return " ".join(wanted)
