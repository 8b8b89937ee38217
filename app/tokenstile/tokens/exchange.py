"""Token exchange (RFC 8693): an app's own access token from a live session's token.

The session says who and how strongly (``acr``, ``amr``, ``auth_time``); the app's
registration says for which audiences and with which scopes, never a privileged one.

Exchange never widens. A privileged scope (``tokenstile:admin`` and those the
``privileged_scopes`` setting names) comes only from a factor login at a client
registered for it, to an admin; an exchange never carries one, and never issues a token
for the token service's own audience. Only a session's own local token (audience
``urn:tokenstile:local``, issued to the session's client) is a subject token; a token
derived from it (exchanged, or for a resource server's audience) is not.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from tokenstile.errors import (
    InsufficientUserAuthentication,
    InvalidGrant,
    InvalidRequest,
    InvalidScope,
    InvalidTarget,
    OAuthError,
    UnauthorizedClient,
)
from tokenstile.tokens.dpop import DpopProofError
from tokenstile.tokens.introspection import TokenIntrospection
from tokenstile.tokens.minting import (
    AccessTokenMinter,
    PendingAccessToken,
    check_audience_allowed,
    dpop_required,
    is_session_token,
    parked_refusal,
    split_scope,
    token_hash,
)
from tokenstile.tokens.model import (
    ACR_LEVELS,
    LOCAL_AUDIENCE,
    AuditEvent,
    Client,
    Session,
    TokenTx,
    User,
    acr_satisfies,
)

GRANT_TOKEN_EXCHANGE = "urn:ietf:params:oauth:grant-type:token-exchange"  # noqa: S105
ACCESS_TOKEN_TYPE = "urn:ietf:params:oauth:token-type:access_token"  # noqa: S105
# Who may request a token exchange: a registered app, with the local token of any live
# session (the per-app token on the person's desktop); a kiosk client (the kiosk, the admin
# console) only with its own sessions' tokens, never another client's session. Never a
# resource server.
EXCHANGE_CLIENT_KINDS = ("app", "kiosk")


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


class TokenExchangeGrant:
    """Issues an app's access token for a session's local token; no refresh token."""

    __slots__ = ("_clock", "_introspection", "_minter", "_privileged", "_store")

    def __init__(self, minter: AccessTokenMinter, introspection: TokenIntrospection) -> None:
        self._minter = minter
        self._introspection = introspection
        self._store = minter.store
        self._clock = minter.clock
        self._privileged = minter.privileged

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
        max_age: int | None = None,
        acr_values: tuple[str, ...] = (),
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

        Step-up (RFC 9470's words): with ``max_age`` the person's sign-in (``auth_time``)
        must be at most that many seconds old, and with ``acr_values`` the session's
        ``acr`` must reach at least one of them; otherwise
        :class:`~tokenstile.errors.InsufficientUserAuthentication`, audited, so the app
        can ask the person to confirm with their factor.
        """
        _check_step_up(max_age, acr_values)
        self._check_exchange_request(
            client=client,
            subject_token=subject_token,
            subject_token_type=subject_token_type,
            audience=audience,
            requested_token_type=requested_token_type,
            dpop_jkt=dpop_jkt,
        )
        self._minter.audience_policies()  # fresh before any transaction; only the cache inside
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
        check_audience_allowed(client, audience)
        sid = str(claims.get("sid", ""))
        jti = claims.get("jti")

        ended_client = "The client this session was opened at is no longer enabled."

        def job(tx: TokenTx) -> tuple[OAuthError | None, PendingAccessToken | None, str]:
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
            if not is_session_token(claims, session):
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
                self._minter.check_assurance(audience, session.acr)
                _step_up_met(session, at, max_age, acr_values)
                granted = self._exchange_scope(client, session, session_client, scope)
            except OAuthError as exc:
                return refuse(exc.code, exc)
            tx.touch_session(sid, at=at)
            access = self._minter.access_token(
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
        return ExchangeResponse(self._minter.sign(access), access.lifetime, granted, token_type)

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
        parked = parked_refusal(session, tx, at)
        if parked is not None:
            return parked
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
            return self._introspection.decode_own_jwt(token, now)
        with self._store.read() as tx:
            found = tx.find_opaque_token(token_hash(token))
        if found is None or found[0].get("exp", 0) <= now:
            return None
        return found[0]

    def _exchange_scope(
        self, client: Client, session: Session, session_client: Client, requested: str | None
    ) -> str:
        """What an exchange grants: the requesting app's registered scopes (or the requested
        subset) that are not privileged and that the session holds, where the session's
        own client could have granted them (a scope only the app knows, such as
        ``payroll:read``, comes from the app's registration). Never more than that."""
        held = set(split_scope(session.scope))
        domain = set(session_client.scopes)

        def withheld(s: str) -> bool:
            return s in domain and s not in held

        wanted = list(dict.fromkeys(split_scope(requested)))
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


MAX_ACR_VALUES = 8


def _check_step_up(max_age: int | None, acr_values: tuple[str, ...]) -> None:
    if max_age is not None and max_age < 0:
        raise InvalidRequest("max_age must be a number of seconds, 0 or more.")
    if len(acr_values) > MAX_ACR_VALUES:
        raise InvalidRequest(f"At most {MAX_ACR_VALUES} acr_values.")
    unknown = [v for v in acr_values if v not in ACR_LEVELS]
    if unknown:
        raise InvalidRequest(
            f"Unknown acr value {unknown[0][:32]!r}: this service knows {', '.join(ACR_LEVELS)}."
        )


def _step_up_met(
    session: Session, now: float, max_age: int | None, acr_values: tuple[str, ...]
) -> None:
    """Raises when the session's sign-in is older than ``max_age`` or weaker than every
    one of ``acr_values``."""
    if max_age is not None and now - session.auth_time > max_age:
        raise InsufficientUserAuthentication(
            f"This needs a sign-in from the last {max_age} s; this session's is "
            f"{int(now - session.auth_time)} s old. Confirm with your key or card."
        )
    if acr_values and not any(acr_satisfies(session.acr, wanted) for wanted in acr_values):
        raise InsufficientUserAuthentication(
            f"This needs a sign-in of {' or '.join(acr_values)}; this session's is "
            f"{session.acr}. Confirm with your key or card."
        )
