"""Confirm with your key: a single-use, short-lived token for one sensitive action.

The person signed in at a kiosk proves again, with a factor ceremony just now (key touch
and PIN, card and PIN), that they are still the one at the keyboard; an app that asked
gets a token that says so for this one action. The factor's login route checks the
ceremony as it checks a login, then, instead of opening a session, calls
:meth:`ConfirmGrant.confirm` with the kiosk's session token:

- the session token must be the session's own local access token (what the kiosk
  holds), live, and bound to the DPoP key of the request's proof when it is bound;
- the ceremony's person must be the session's person, else ``invalid_grant`` and a
  ``confirm`` failure row naming the credential (someone else's key on this kiosk);
- the ceremony's ``acr`` must reach ``min_acr`` (``insufficient_user_authentication``)
  and the audience's own minimum;
- the token: ``aud`` the audience asked for (default the local one), ``auth_time`` the
  ceremony's time, ``acr``/``amr`` the ceremony's, a ``jti``, the ``confirm`` claim
  ``{"reason", "app"}``, at most ``confirm_token_lifetime`` seconds. No refresh token.

Single use where the service can see it: ``/introspect`` answers ``active`` for a
confirm token once (its ``jti`` is then recorded as spent, atomically) and ``false``
after; a confirm token is never a session's own token, so token exchange, userinfo,
kiosk single sign-on and revocation never take it as the session's (see
``minting.is_session_token``).
"""

from __future__ import annotations

import secrets
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from tokenstile.errors import (
    InsufficientUserAuthentication,
    InvalidGrant,
    InvalidRequest,
    InvalidTarget,
)
from tokenstile.protocol.confirm import CONFIRM_CLAIM, MAX_APP_CHARS, MAX_REASON_CHARS, plain_text
from tokenstile.tokens.dpop import DpopProofError, check_token_binding
from tokenstile.tokens.introspection import TokenIntrospection
from tokenstile.tokens.minting import (
    AccessTokenMinter,
    PendingAccessToken,
    check_audience_allowed,
    is_session_token,
)
from tokenstile.tokens.model import ACR_LEVELS, LOCAL_AUDIENCE, AuditEvent, User, acr_satisfies

MAX_CONFIRM_LIFETIME = 120


@dataclass(frozen=True, slots=True, kw_only=True)
class ConfirmRequest:
    """What the kiosk sends beside the ceremony: its session and the app's question."""

    session_token: str
    reason: str
    app: str
    audience: str | None = None
    min_acr: str | None = None

    @classmethod
    def from_json(cls, data: Any) -> ConfirmRequest:
        """The ``confirm`` member of a login body, or ``InvalidRequest`` naming the fault."""
        if not isinstance(data, dict):
            raise InvalidRequest("The confirm member must be a JSON object.")
        unknown = set(data) - {"session_token", "reason", "app", "audience", "min_acr"}
        if unknown:
            raise InvalidRequest(f"Unknown confirm member {sorted(unknown)[0]!r}.")
        token, reason, app = data.get("session_token"), data.get("reason"), data.get("app")
        audience, min_acr = data.get("audience"), data.get("min_acr")
        if not isinstance(token, str) or not token:
            raise InvalidRequest("A confirm needs the kiosk's session_token.")
        reason = _plain_member("reason", reason, MAX_REASON_CHARS)
        app = _plain_member("app", app, MAX_APP_CHARS)
        if audience is not None and (not isinstance(audience, str) or not audience):
            raise InvalidRequest("The confirm audience must be a non-empty string.")
        if min_acr is not None and min_acr not in ACR_LEVELS:
            raise InvalidRequest(f"min_acr must be one of {', '.join(ACR_LEVELS)}.")
        return cls(session_token=token, reason=reason, app=app, audience=audience, min_acr=min_acr)


def _plain_member(name: str, value: Any, limit: int) -> str:
    if not isinstance(value, str) or not value or plain_text(value, limit) != value:
        raise InvalidRequest(
            f"The confirm {name} must be 1 to {limit} characters of plain text "
            "(no control characters, no line breaks)."
        )
    return value


@dataclass(frozen=True, slots=True)
class ConfirmResponse:
    access_token: str
    expires_in: int
    jti: str

    def to_json(self) -> dict[str, Any]:
        return {
            "access_token": self.access_token,
            "token_type": "Bearer",
            "expires_in": self.expires_in,
        }


class ConfirmGrant:
    """The confirm token, after a factor ceremony its route has checked."""

    __slots__ = ("_introspection", "_lifetime", "_minter")

    def __init__(
        self, minter: AccessTokenMinter, introspection: TokenIntrospection, *, lifetime: int
    ) -> None:
        if not 0 < lifetime <= MAX_CONFIRM_LIFETIME:
            raise ValueError(f"A confirm token lives 1 to {MAX_CONFIRM_LIFETIME} seconds.")
        self._minter = minter
        self._introspection = introspection
        self._lifetime = lifetime

    def confirm(
        self,
        request: ConfirmRequest,
        *,
        user: User,
        factor: str,
        amr: Sequence[str],
        acr: str,
        credential: str,
        device: Mapping[str, Any] | None = None,
        origin: str | None = None,
        dpop_jkt: str | None = None,
    ) -> ConfirmResponse:
        """The confirm token for ``request`` after ``user`` passed a ceremony just now."""
        minter = self._minter
        now = minter.clock.now()
        claims = self._introspection.read_access_token(request.session_token)
        detail: dict[str, Any] = {
            "reason": request.reason,
            "app": request.app,
            "credential": credential,
            "acr": acr,
            "amr": list(amr),
            **(device or {}),
        }

        def refuse(reason: str, error: Exception, *, sid: str | None = None) -> Exception:
            with minter.store.write() as tx:
                tx.audit(
                    AuditEvent(
                        "confirm",
                        "failure",
                        username=user.username,
                        sid=sid,
                        factor=factor,
                        origin=origin,
                        detail={**detail, "refused": reason},
                    ),
                    at=now,
                )
            return error

        if claims is None or claims.get("aud") != LOCAL_AUDIENCE:
            raise refuse("invalid_session", InvalidGrant("Nobody is signed in at this kiosk."))
        sid = str(claims["sid"])
        with minter.store.read() as tx:
            session = tx.get_session(sid)
            client = tx.get_client(session.client_id) if session is not None else None
        if session is None or client is None or not is_session_token(claims, session):
            raise refuse("invalid_session", InvalidGrant("Nobody is signed in at this kiosk."))
        try:
            check_token_binding(claims, dpop_jkt)
        except DpopProofError as exc:
            raise refuse("dpop", exc, sid=sid) from None
        if session.user_id != user.id:
            raise refuse(
                "other_person",
                InvalidGrant(
                    "This factor belongs to someone other than the person signed in here: "
                    "only they can confirm."
                ),
                sid=sid,
            )
        if request.min_acr is not None and not acr_satisfies(acr, request.min_acr):
            raise refuse(
                "insufficient_acr",
                InsufficientUserAuthentication(
                    f"This needs a confirmation of {request.min_acr}; this factor gives {acr}."
                ),
                sid=sid,
            )
        audience = request.audience or LOCAL_AUDIENCE
        try:
            check_audience_allowed(client, audience)
            minter.audience_policies()
            minter.check_assurance(audience, acr)
        except InvalidTarget as exc:  # not this kiosk's audience, or it needs more
            raise refuse("audience", exc, sid=sid) from None
        iat = int(now)
        jti = secrets.token_urlsafe(16)
        token_claims: dict[str, Any] = {
            "iss": minter.issuer,
            "sub": user.username,
            "aud": audience,
            "exp": iat + self._lifetime,
            "iat": iat,
            "nbf": iat,
            "jti": jti,
            "client_id": session.client_id,
            "scope": session.scope,
            "sid": sid,
            "auth_time": iat,
            "amr": list(amr),
            "acr": acr,
            CONFIRM_CLAIM: {"reason": request.reason, "app": request.app},
        }
        with minter.store.write() as tx:
            tx.audit(
                AuditEvent(
                    "confirm",
                    "success",
                    username=user.username,
                    client_id=session.client_id,
                    sid=sid,
                    factor=factor,
                    origin=origin,
                    detail={**detail, "aud": audience, "jti": jti},
                ),
                at=now,
            )
        token = minter.sign(PendingAccessToken(token_claims, self._lifetime, None))
        return ConfirmResponse(token, self._lifetime, jti)

    def cancelled(
        self, request: ConfirmRequest, *, origin: str | None = None, dpop_jkt: str | None = None
    ) -> None:
        """The kiosk's word that the person closed the prompt: a ``confirm`` failure row
        (``refused: cancelled``) naming the reason and the app, for the session whose own
        token ``request`` carries (anything else: ``invalid_grant``, nothing written)."""
        minter = self._minter
        now = minter.clock.now()
        claims = self._introspection.read_access_token(request.session_token)
        if claims is None or claims.get("aud") != LOCAL_AUDIENCE:
            raise InvalidGrant("Nobody is signed in at this kiosk.")
        with minter.store.read() as tx:
            session = tx.get_session(str(claims["sid"]))
        if session is None or not is_session_token(claims, session):
            raise InvalidGrant("Nobody is signed in at this kiosk.")
        check_token_binding(claims, dpop_jkt)
        with minter.store.write() as tx:
            tx.audit(
                AuditEvent(
                    "confirm",
                    "failure",
                    username=str(claims.get("sub")),
                    client_id=session.client_id,
                    sid=session.sid,
                    origin=origin,
                    detail={"reason": request.reason, "app": request.app, "refused": "cancelled"},
                ),
                at=now,
            )
