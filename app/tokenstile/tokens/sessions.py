"""Opening a session: after a factor login, the first access token and refresh token.

The scope at a login is the client's registered scopes (or the requested subset); a
privileged scope (``tokenstile:admin`` and those ``privileged_scopes`` names) only for
an admin. A session opened with a DPoP proof is bound to the proof's key.
"""

from __future__ import annotations

import secrets
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from tokenstile.errors import InvalidGrant, InvalidScope, UnauthorizedClient
from tokenstile.tokens.minting import (
    REFRESH_TOKEN_BYTES,
    MintingGrant,
    TokenResponse,
    check_audience_allowed,
    dpop_required,
    split_scope,
    token_hash,
)
from tokenstile.tokens.model import TAC_ACR, AuditEvent, Client, Session, TokenTx, User, is_staff
from tokenstile.tokens.shifts import grant_after_sign_in


class SessionOpening(MintingGrant):
    """The grant a factor login ends in (the factor itself was checked by the caller)."""

    __slots__ = ()

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
        not_after: float | None = None,
        precondition: Callable[[TokenTx], None] | None = None,
    ) -> TokenResponse:
        """Start a session after a factor succeeded: the first access + refresh token.

        ``device`` names the physical factor (fob serial, key AAGUID and credential,
        card certificate serial) so the audit row ties it to the session it opened.
        ``credential`` (``credential_ref``) is kept on the session so revoking that
        credential ends the session too.
        ``dpop_jkt``: the thumbprint of the key of a checked DPoP proof; the session and
        its tokens are then bound to that key (required for a ``dpop_bound`` client).
        ``not_after``: the session ends then at the latest (a tap's, with its shift).
        ``precondition`` runs first in the session's transaction and raises to refuse
        (a tap's shift checked again, so a revocation between check and session counts).
        A full sign-in at a kiosk of a group with tap-and-go makes or renews the person's
        shift grant in the same transaction (``tokens.shifts``).
        """
        if not user.enabled:
            raise InvalidGrant("This account is disabled.")
        if not client.enabled or client.kind == "resource-server":
            raise UnauthorizedClient("This client may not start sessions.")
        if client.dpop_bound and dpop_jkt is None:
            raise dpop_required()
        minter = self._minter
        now = self._clock.now()
        granted = self._grant_scope(client, user, scope, acr)
        aud = audience or client.default_audience
        check_audience_allowed(client, aud)
        minter.audience_policies()
        minter.check_assurance(aud, acr)
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
            expires_at=min(now + self._policy.session_lifetime, not_after or float("inf")),
            idle_timeout=float(self._policy.session_idle),
            last_used_at=now,
            dpop_jkt=dpop_jkt,
            credential=credential,
        )
        refresh = secrets.token_urlsafe(REFRESH_TOKEN_BYTES)
        with self._store.write() as tx:
            if precondition is not None:
                precondition(tx)
            tx.add_session(session)
            grant_after_sign_in(tx, session, client, user.username)
            tx.add_refresh(
                token_hash=token_hash(refresh),
                sid=session.sid,
                client_id=client.client_id,
                parent_id=None,
                at=now,
            )
            access = minter.access_token(
                tx,
                session=session,
                user=user,
                audience=aud,
                scope=session.scope,
                now=now,
                jkt=dpop_jkt,
                not_after=not_after,
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
        return minter.respond(access, refresh, session)

    def _grant_scope(
        self, client: Client, user: User, requested: str | None, acr: str
    ) -> list[str]:
        """At a factor login: the client's scopes (or the requested subset); a privileged
        scope only for an admin."""
        wanted = list(dict.fromkeys(split_scope(requested)))
        if not wanted:
            if not any(s in self._privileged for s in client.scopes):
                return list(client.scopes)
            staff = self._may_hold_privileged(user, acr)
            return [s for s in client.scopes if staff or s not in self._privileged]
        refused = [s for s in wanted if s not in client.scopes]
        if refused:
            raise InvalidScope(f"This client may not request the scope {' '.join(refused)}.")
        privileged = [s for s in wanted if s in self._privileged]
        if privileged and not self._may_hold_privileged(user, acr):
            raise InvalidScope(
                f"Only administrators and staff receive the scope {' '.join(privileged)}, "
                "and never at a sign-in with a temporary access code."
            )
        return wanted

    def _may_hold_privileged(self, user: User, acr: str) -> bool:
        """A privileged scope: a person with a built-in role (``model.is_staff``), signed
        in with a factor; a temporary access code (acr ``tac``) never opens the admin API."""
        if acr == TAC_ACR:
            return False
        with self._store.read() as tx:
            return is_staff(tx, user)
