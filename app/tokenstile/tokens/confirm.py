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
from typing import Any, Literal

import jwt

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
)
from tokenstile.tokens.model import (
    ACR_LEVELS,
    LOCAL_AUDIENCE,
    ROLE_RULE,
    AuditEvent,
    Client,
    Session,
    User,
    acr_satisfies,
    is_valid_role,
)

MAX_CONFIRM_LIFETIME = 120
# A four-eyes confirm's first stage: a JWT of its own ``typ`` and of this service's own
# audience, so no resource server and no introspection ever takes it for an access token.
FIRST_STAGE_TYP = "confirm-first+jwt"
FIRST_STAGE_TOKEN_TYPE = "urn:tokenstile:params:oauth:token-type:confirm-first"  # noqa: S105


@dataclass(frozen=True, slots=True, kw_only=True)
class ConfirmRequest:
    """What the kiosk sends beside the ceremony: its session and the app's question."""

    session_token: str
    reason: str
    app: str
    audience: str | None = None
    min_acr: str | None = None
    # Four-eyes: a second person holding this role confirms too; ``first`` is the
    # first-stage token the signed-in person's ceremony gave (None: this is that one).
    second_person: str | None = None
    first: str | None = None

    @classmethod
    def from_json(cls, data: Any) -> ConfirmRequest:
        """The ``confirm`` member of a login body, or ``InvalidRequest`` naming the fault."""
        if not isinstance(data, dict):
            raise InvalidRequest("The confirm member must be a JSON object.")
        unknown = set(data) - {
            "session_token",
            "reason",
            "app",
            "audience",
            "min_acr",
            "second_person",
            "first",
        }
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
        role, first = data.get("second_person"), data.get("first")
        if role is not None and (not isinstance(role, str) or not is_valid_role(role)):
            raise InvalidRequest(f"second_person: {ROLE_RULE}")
        if first is not None and (role is None or not isinstance(first, str) or not first):
            raise InvalidRequest("first goes with second_person: the first-stage token.")
        return cls(
            session_token=token,
            reason=reason,
            app=app,
            audience=audience,
            min_acr=min_acr,
            second_person=role,
            first=first,
        )


def _plain_member(name: str, value: Any, limit: int) -> str:
    if not isinstance(value, str) or not value or plain_text(value, limit) != value:
        raise InvalidRequest(
            f"The confirm {name} must be 1 to {limit} characters of plain text "
            "(no control characters, no line breaks)."
        )
    return value


@dataclass(frozen=True, slots=True)
class ConfirmResponse:
    """The confirm token; or, at a four-eyes confirm's first stage, the first-stage token
    (``token_type`` ``N_A`` as in RFC 8693: not an access token) for the second step."""

    access_token: str
    expires_in: int
    jti: str
    first_stage: bool = False

    def to_json(self) -> dict[str, Any]:
        body: dict[str, Any] = {
            "access_token": self.access_token,
            "token_type": "N_A" if self.first_stage else "Bearer",
            "expires_in": self.expires_in,
        }
        if self.first_stage:
            body["issued_token_type"] = FIRST_STAGE_TOKEN_TYPE
        return body


@dataclass(frozen=True, slots=True, kw_only=True)
class Ceremony:
    """The factor ceremony a route has just checked: whose, which factor, what it earned."""

    user: User
    factor: str
    amr: Sequence[str]
    acr: str
    credential: str
    device: Mapping[str, Any] | None = None
    origin: str | None = None


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
        self, request: ConfirmRequest, ceremony: Ceremony, *, dpop_jkt: str | None = None
    ) -> ConfirmResponse:
        """The confirm token for ``request`` after ``ceremony`` just now (or, for the
        signed-in person of a four-eyes confirm, the first-stage token)."""
        now = self._minter.clock.now()
        audit = _Audit(self._minter, request, ceremony, now)
        session, client = self._kiosk_session(request, audit, dpop_jkt)
        first = self._check_person(request, ceremony, session, audit, now)
        acr = ceremony.acr
        if request.min_acr is not None and not acr_satisfies(acr, request.min_acr):
            raise audit.refuse(
                "insufficient_acr",
                InsufficientUserAuthentication(
                    f"This needs a confirmation of {request.min_acr}; this factor gives {acr}."
                ),
                session.sid,
            )
        audience = request.audience or LOCAL_AUDIENCE
        try:
            check_audience_allowed(client, audience)
            self._minter.audience_policies()
            self._minter.check_assurance(audience, acr)
        except InvalidTarget as exc:  # not this kiosk's audience, or it needs more
            raise audit.refuse("audience", exc, session.sid) from None
        if request.second_person is not None and first is None:
            return self._first_stage_token(request, ceremony, session, audience, audit)
        return self._confirm_token(request, ceremony, session, audience, audit, first=first)

    def _kiosk_session(
        self, request: ConfirmRequest, audit: _Audit, dpop_jkt: str | None
    ) -> tuple[Session, Client]:
        """The session whose own token the kiosk sent, and its client; else refused."""
        found = self._introspection.local_session(request.session_token)
        if found is None or found.client is None:
            nobody = InvalidGrant("Nobody is signed in at this kiosk.")
            raise audit.refuse("invalid_session", nobody)
        try:
            check_token_binding(found.claims, dpop_jkt)
        except DpopProofError as exc:
            raise audit.refuse("dpop", exc, found.session.sid) from None
        return found.session, found.client

    def _check_person(
        self,
        request: ConfirmRequest,
        ceremony: Ceremony,
        session: Session,
        audit: _Audit,
        now: float,
    ) -> dict[str, Any] | None:
        """The signed-in person confirms; at a four-eyes confirm's second stage someone
        else holding the role does (then the first stage's claims are returned)."""
        user, sid = ceremony.user, session.sid
        if request.first is None:
            if session.user_id != user.id:
                raise audit.refuse(
                    "other_person",
                    InvalidGrant(
                        "This factor belongs to someone other than the person signed in "
                        "here: only they can confirm."
                    ),
                    sid,
                )
            return None
        first = self._first_stage(request, session, now)
        if first is None:
            raise audit.refuse(
                "first_invalid",
                InvalidGrant(
                    "The first confirmation is not valid (expired, used, or of another "
                    "request): start again."
                ),
                sid,
            )
        if user.id == session.user_id:
            raise audit.refuse(
                "same_person",
                InvalidGrant("The second confirmation must come from someone else."),
                sid,
            )
        with self._minter.store.read() as tx:
            holds = tx.user_has_role(user.id, str(request.second_person))
        if not holds:
            raise audit.refuse(
                "no_role",
                InvalidGrant(
                    f"This factor's person does not hold the role {request.second_person}."
                ),
                sid,
            )
        return first

    def _first_stage_token(
        self,
        request: ConfirmRequest,
        ceremony: Ceremony,
        session: Session,
        audience: str,
        audit: _Audit,
    ) -> ConfirmResponse:
        iat, jti = int(audit.now), secrets.token_urlsafe(16)
        stage = {
            "reason": request.reason,
            "app": request.app,
            "aud": audience,
            "second_person": request.second_person,
        }
        claims: dict[str, Any] = {
            "iss": self._minter.issuer,
            "sub": ceremony.user.username,
            "aud": self._minter.issuer,
            "exp": iat + self._lifetime,
            "iat": iat,
            "jti": jti,
            "sid": session.sid,
            "auth_time": iat,
            "amr": list(ceremony.amr),
            "acr": ceremony.acr,
            CONFIRM_CLAIM: stage,
        }
        audit.success(session, {"aud": audience, "stage": "first"})
        key = self._minter.keyring.signer(self._minter.clock.now())
        token = jwt.encode(
            claims,
            key.private_key,
            algorithm=key.alg,
            headers={"typ": FIRST_STAGE_TYP, "kid": key.kid},
        )
        return ConfirmResponse(token, self._lifetime, jti, first_stage=True)

    def _confirm_token(
        self,
        request: ConfirmRequest,
        ceremony: Ceremony,
        session: Session,
        audience: str,
        audit: _Audit,
        *,
        first: dict[str, Any] | None,
    ) -> ConfirmResponse:
        iat, jti = int(audit.now), secrets.token_urlsafe(16)
        asked: dict[str, Any] = {"reason": request.reason, "app": request.app}
        claims: dict[str, Any] = {
            "iss": self._minter.issuer,
            "sub": ceremony.user.username,
            "aud": audience,
            "exp": iat + self._lifetime,
            "iat": iat,
            "nbf": iat,
            "jti": jti,
            "client_id": session.client_id,
            "scope": session.scope,
            "sid": session.sid,
            "auth_time": iat,
            "amr": list(ceremony.amr),
            "acr": ceremony.acr,
            CONFIRM_CLAIM: asked,
        }
        success: dict[str, Any] = {"aud": audience, "jti": jti}
        if first is not None:
            # The signed-in person's confirmation stands first; the second person's beside it.
            claims.update(
                sub=first["sub"], auth_time=first["auth_time"], acr=first["acr"], amr=first["amr"]
            )
            claims[CONFIRM_CLAIM] = {
                **asked,
                "second_person": {
                    "sub": ceremony.user.username,
                    "role": request.second_person,
                    "auth_time": iat,
                    "acr": ceremony.acr,
                    "amr": list(ceremony.amr),
                },
            }
            success.update(stage="second", role=request.second_person, first=first["sub"])
            with self._minter.store.write() as tx:
                spent = tx.revoke_access_token(
                    str(first["jti"]), sid=session.sid, expires_at=float(first["exp"]), at=audit.now
                )
            if not spent:
                raise audit.refuse(
                    "first_used", InvalidGrant("The first confirmation was used."), session.sid
                )
        audit.success(session, success)
        token = self._minter.sign(PendingAccessToken(claims, self._lifetime, None))
        return ConfirmResponse(token, self._lifetime, jti)

    def _first_stage(
        self, request: ConfirmRequest, session: Session, now: float
    ) -> dict[str, Any] | None:
        """The first-stage token's claims when it is ours, live, unspent, of this session's
        person and of exactly this request; else None."""
        claims = self._introspection.decode_own_jwt(request.first or "", now, typ=FIRST_STAGE_TYP)
        if claims is None or claims.get("aud") != self._minter.issuer:
            return None
        expected = {
            "reason": request.reason,
            "app": request.app,
            "aud": request.audience or LOCAL_AUDIENCE,
            "second_person": request.second_person,
        }
        with self._minter.store.read() as tx:
            person = tx.get_user(session.user_id)
            spent = tx.access_token_revoked(str(claims["jti"]))
        if (
            spent
            or person is None
            or claims.get("sid") != session.sid
            or claims.get("sub") != person.username
            or claims.get(CONFIRM_CLAIM) != expected
        ):
            return None
        return claims

    def cancelled(
        self, request: ConfirmRequest, *, origin: str | None = None, dpop_jkt: str | None = None
    ) -> None:
        """The kiosk's word that the person closed the prompt: a ``confirm`` failure row
        (``refused: cancelled``) naming the reason and the app, for the session whose own
        token ``request`` carries (anything else: ``invalid_grant``, nothing written)."""
        minter = self._minter
        now = minter.clock.now()
        found = self._introspection.local_session(request.session_token)
        if found is None:
            raise InvalidGrant("Nobody is signed in at this kiosk.")
        session = found.session
        check_token_binding(found.claims, dpop_jkt)
        with minter.store.write() as tx:
            tx.audit(
                AuditEvent(
                    "confirm",
                    "failure",
                    username=found.user.username,
                    client_id=session.client_id,
                    sid=session.sid,
                    origin=origin,
                    detail={"reason": request.reason, "app": request.app, "refused": "cancelled"},
                ),
                at=now,
            )


class _Audit:
    """The ``confirm`` audit rows of one ceremony: each names the reason, the app and the
    physical factor."""

    __slots__ = ("_ceremony", "_detail", "_minter", "now")

    def __init__(
        self, minter: AccessTokenMinter, request: ConfirmRequest, ceremony: Ceremony, now: float
    ) -> None:
        self._minter = minter
        self._ceremony = ceremony
        self.now = now
        self._detail: dict[str, Any] = {
            "reason": request.reason,
            "app": request.app,
            "credential": ceremony.credential,
            "acr": ceremony.acr,
            "amr": list(ceremony.amr),
            **(ceremony.device or {}),
        }
        if request.second_person is not None:
            self._detail["second_person"] = request.second_person

    def refuse(self, reason: str, error: Exception, sid: str | None = None) -> Exception:
        """Write the failure row; the error for the caller to raise."""
        self._write("failure", sid, None, {"refused": reason})
        return error

    def success(self, session: Session, extra: Mapping[str, Any]) -> None:
        self._write("success", session.sid, session.client_id, extra)

    def _write(
        self,
        outcome: Literal["success", "failure"],
        sid: str | None,
        client_id: str | None,
        extra: Mapping[str, Any],
    ) -> None:
        ceremony = self._ceremony
        with self._minter.store.write() as tx:
            tx.audit(
                AuditEvent(
                    "confirm",
                    outcome,
                    username=ceremony.user.username,
                    client_id=client_id,
                    sid=sid,
                    factor=ceremony.factor,
                    origin=ceremony.origin,
                    detail={**self._detail, **extra},
                ),
                at=self.now,
            )
