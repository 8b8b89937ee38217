"""Parked sessions (issue 17): "switch user" at a shared kiosk parks the person instead of
signing them out, and the service, not the kiosk, keeps the parked session from being used.

Why the service: every desktop app of the workstation runs as the same OS user and can
read the keychain, so a kiosk that only hides a refresh token hides it from no one. While
a session is parked its refresh grant and its token exchange are refused with
``session_parked`` (``tokens.refresh``, ``tokens.exchange``), introspection and userinfo
call its tokens inactive (``tokens.introspection``), and every refusal is audited.

**Park** (:meth:`SessionParking.park`): authenticated the way a refresh is, by the
session's current refresh token (from its own client, with a DPoP proof of the session's
key when it is bound); the session gets a deadline ``park_lifetime`` seconds away. Nothing
rotates: the kiosk keeps the refresh token it has.

**Resume** (:meth:`SessionParking.resume`): the parked session's refresh token (and its
DPoP proof) plus the refresh token of a **proof session**: a session the same person
opened at the same client by a factor sign-in (any ``acr``, a tap too) after the park and
at most ``resume_window`` seconds ago. The proof session ends (``resumed``) and the parked
session comes back with its refresh token rotated and a new access token, exactly as a
refresh answers: a copy of the old refresh token that an app took from the keychain while
the person was away is then a used and retired token (no grace retry), and presenting it
ends the session (reuse detection). A proof of another person, a stale or foreign
proof, a proof opened before the park, a replayed resume (its tokens are used or ended
by then): refused, audited, nothing unparked. The proof session's own DPoP key is not
proven (one request carries one proof, made with the parked session's key): its refresh
token is seconds old and spent here.

**Deadline.** After ``parked_until`` the session is revoked (``park_expired``) on its next
use (park, resume, refresh, exchange) and by the periodic purge (``store.purge``).
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from typing import Literal

from tokenstile.errors import InvalidGrant, InvalidRequest, OAuthError, SessionParked
from tokenstile.tokens.minting import (
    REFRESH_TOKEN_BYTES,
    PendingAccessToken,
    TokenResponse,
    dpop_required,
    token_hash,
)
from tokenstile.tokens.model import AuditEvent, Client, RefreshLookup, Session, TokenTx
from tokenstile.tokens.refresh import MAX_OPAQUE_TOKEN_CHARS, RefreshGrant

RESUMED = "resumed"  # the revoke reason of a proof session spent on a resume


@dataclass(frozen=True, slots=True)
class ParkReceipt:
    """What a park answers: the session and its deadline (epoch seconds)."""

    sid: str
    parked_until: float

    def to_json(self) -> dict[str, object]:
        return {"sid": self.sid, "parked_until": self.parked_until}


@dataclass(frozen=True, slots=True)
class _Outcome:
    failure: OAuthError | None
    receipt: ParkReceipt | None = None
    access: PendingAccessToken | None = None
    granted: str | None = None
    session: Session | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class _Step:
    """One park or resume request inside its transaction: what every check and audit
    row needs to know of it."""

    name: Literal["park", "resume"]
    tx: TokenTx
    client: Client
    now: float
    origin: str | None
    dpop_jkt: str | None

    def audit(
        self,
        outcome: Literal["success", "failure", "alert"],
        found: RefreshLookup,
        detail: dict[str, object],
    ) -> None:
        self.tx.audit(
            AuditEvent(
                f"session_{self.name}",
                outcome,
                username=found.user.username,
                client_id=self.client.client_id,
                sid=found.session.sid,
                factor=found.session.factor,
                origin=self.origin,
                detail=dict(detail),
            ),
            at=self.now,
        )

    def refuse(
        self,
        found: RefreshLookup,
        reason: str,
        error: OAuthError,
        outcome: Literal["failure", "alert"] = "failure",
    ) -> _Outcome:
        self.audit(outcome, found, {"reason": reason})
        return _Outcome(error)


class SessionParking(RefreshGrant):
    """Park and resume, over the refresh grant's checks and rotation."""

    __slots__ = ()

    def park(
        self,
        *,
        refresh_token: str,
        client: Client,
        origin: str | None = None,
        dpop_jkt: str | None = None,
    ) -> ParkReceipt:
        """Park the session of ``refresh_token`` (see the module docstring)."""
        presented = _presented(refresh_token, client, dpop_jkt)

        def job(tx: TokenTx) -> _Outcome:
            step = _Step(
                name="park",
                tx=tx,
                client=client,
                now=self._clock.now(),
                origin=origin,
                dpop_jkt=dpop_jkt,
            )
            found, failure = self._current(step, presented)
            if found is None:
                return _Outcome(failure)
            until = step.now + self._policy.park_lifetime
            if not tx.park_session(found.session.sid, at=step.now, until=until):
                return step.refuse(
                    found, "session_parked", SessionParked("This session is parked already.")
                )
            step.audit("success", found, {"parked_until": until})
            return _Outcome(None, ParkReceipt(found.session.sid, until))

        outcome = self._store.run_write(job)
        if outcome.failure is not None:
            raise outcome.failure
        assert outcome.receipt is not None  # noqa: S101
        return outcome.receipt

    def resume(
        self,
        *,
        refresh_token: str,
        proof_token: str,
        client: Client,
        origin: str | None = None,
        dpop_jkt: str | None = None,
    ) -> TokenResponse:
        """Unpark the session of ``refresh_token`` for the fresh sign-in of
        ``proof_token`` (see the module docstring): the parked session's new tokens."""
        presented = _presented(refresh_token, client, dpop_jkt)
        if not proof_token or len(proof_token) > MAX_OPAQUE_TOKEN_CHARS:
            raise InvalidRequest("The proof_token parameter is missing or not a refresh token.")
        proof_hash = token_hash(proof_token)
        new_refresh = secrets.token_urlsafe(REFRESH_TOKEN_BYTES)
        self._minter.audience_policies()

        def job(tx: TokenTx) -> _Outcome:
            step = _Step(
                name="resume",
                tx=tx,
                client=client,
                now=self._clock.now(),
                origin=origin,
                dpop_jkt=dpop_jkt,
            )
            found, failure = self._current(step, presented, parked_ok=True)
            if found is None:
                return _Outcome(failure)
            parked = found.session
            if parked.parked_until is None or parked.parked_at is None:
                return step.refuse(found, "not_parked", InvalidGrant("This session is not parked."))
            proof = tx.find_refresh(proof_hash)
            refusal = self._proof_refusal(step, found, proof)
            if refusal is not None or proof is None:
                reason, message = refusal or ("unknown_proof", "")
                alert = reason == "different_person"
                return step.refuse(
                    found, reason, InvalidGrant(message), "alert" if alert else "failure"
                )
            if not tx.unpark_session(parked.sid, at=step.now):
                return _Outcome(InvalidGrant("This session is not parked."))
            tx.revoke_session(proof.session.sid, at=step.now, reason=RESUMED)
            access, granted = self._rotate(
                tx,
                found,
                client=client,
                scope=None,
                resource=None,
                new_refresh=new_refresh,
                now=step.now,
                origin=origin,
                jkt=parked.dpop_jkt if parked.dpop_jkt is not None else dpop_jkt,
            )
            # The copy of the parked refresh token that any app could read meanwhile is
            # spent for good: no grace retry, so presenting it is reuse at once.
            tx.retire_refresh(found.token.id, at=step.now)
            step.audit(
                "success",
                found,
                {
                    "proof_sid": proof.session.sid,
                    "proof_acr": proof.session.acr,
                    "proof_factor": proof.session.factor,
                },
            )
            return _Outcome(None, access=access, granted=granted, session=parked)

        outcome = self._store.run_write(job)
        if outcome.failure is not None:
            raise outcome.failure
        assert outcome.access is not None  # noqa: S101
        assert outcome.session is not None  # noqa: S101
        return self._minter.respond(
            outcome.access, new_refresh, outcome.session, scope=outcome.granted
        )

    # -- inside --------------------------------------------------------------------------

    def _current(
        self, step: _Step, presented: bytes, *, parked_ok: bool = False
    ) -> tuple[RefreshLookup | None, OAuthError | None]:
        """The live session whose *current* refresh token this is, checked as a refresh
        checks it (client, DPoP key, ended, disabled, expired, idle, park deadline)."""
        tx, client = step.tx, step.client
        found = tx.find_refresh(presented)
        if found is None:
            tx.audit(
                AuditEvent(
                    f"session_{step.name}",
                    "failure",
                    client_id=client.client_id,
                    origin=step.origin,
                    detail={"reason": "unknown_token"},
                ),
                at=step.now,
            )
            return None, InvalidGrant("The refresh token is not valid.")
        bound = found.session.dpop_jkt
        if bound is not None and bound != step.dpop_jkt:
            return None, self._dpop_refusal(
                tx,
                found,
                client=client,
                dpop_jkt=step.dpop_jkt,
                now=step.now,
                origin=step.origin,
                event=f"session_{step.name}",
            )
        if found.token.used_at is not None or found.token.superseded_at is not None:
            used = InvalidGrant("The refresh token was already used; use the current one.")
            return None, step.refuse(found, "token_used", used).failure
        failure = self._refresh_refusal(
            tx,
            found=found,
            client=client,
            now=step.now,
            started=step.now,
            origin=step.origin,
            parked_ok=parked_ok,
            event=f"session_{step.name}",
        )
        if failure is not None:
            return None, failure
        return found, None

    def _proof_refusal(
        self, step: _Step, parked: RefreshLookup, proof: RefreshLookup | None
    ) -> tuple[str, str] | None:
        """Why the proof session does not prove a fresh sign-in of the parked person at
        this client: (reason, message), or None."""
        not_fresh = "Sign in again at the kiosk to resume this session."
        if proof is None:
            return "unknown_proof", "The proof of sign-in is not valid."
        session, client_id, now = proof.session, step.client.client_id, step.now
        if session.sid == parked.session.sid:
            return "proof_is_parked_session", "The proof of sign-in is not valid."
        if proof.user.id != parked.user.id:
            return "different_person", "Only the person who was parked can resume this session."
        if proof.token.client_id != client_id or session.client_id != client_id:
            return "proof_client_mismatch", "The sign-in must be made at the same kiosk client."
        if proof.token.used_at is not None or proof.token.superseded_at is not None:
            return "proof_used", not_fresh
        if (
            session.revoked_at is not None
            or session.parked_until is not None
            or now >= session.expires_at
            or not proof.user.enabled
        ):
            return "proof_ended", not_fresh
        if session.auth_time < (parked.session.parked_at or now):
            return "proof_before_park", not_fresh
        if now - session.auth_time > self._policy.resume_window:
            return "proof_stale", not_fresh
        return None


def _presented(refresh_token: str, client: Client, dpop_jkt: str | None) -> bytes:
    """The hash of a park or resume request's refresh token, after the checks that need
    nothing stored."""
    if not refresh_token:
        raise InvalidRequest("The refresh_token parameter is missing.")
    if len(refresh_token) > MAX_OPAQUE_TOKEN_CHARS:
        raise InvalidGrant("The refresh token is not valid.")
    if dpop_jkt is None and client.dpop_bound:
        raise dpop_required()
    return token_hash(refresh_token)
