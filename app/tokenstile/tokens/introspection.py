"""Reading the tokens we issued: introspection (RFC 7662), revocation (RFC 7009), userinfo.

An access token is good while its signature (or its opaque record) holds, it has not
expired, it was not revoked alone, its signing key is still trusted and its session
lives. Only a session's own local token (audience ``urn:tokenstile:local``, issued to the
session's client) ends the session when revoked; a token derived from it (exchanged, or
for a resource server's audience) is revoked alone, never the session.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import jwt

from tokenstile.errors import InvalidClient, InvalidRequest, TokenstileError
from tokenstile.protocol.confirm import CONFIRM_CLAIM
from tokenstile.tokens.dpop import check_token_binding
from tokenstile.tokens.minting import AccessTokenMinter, is_session_token, token_hash
from tokenstile.tokens.model import LOCAL_AUDIENCE, AuditEvent, Client, Session, TokenTx, User

# A token's iat may be this far ahead of our clock (another replica's clock), no more.
IAT_LEEWAY = 60
MAX_JTI_CHARS = 64


@dataclass(frozen=True, slots=True)
class LocalSession:
    """A live session's own local access token: its claims, the session, its person (who
    is enabled) and its client (None if the client was deleted since)."""

    claims: dict[str, Any]
    session: Session
    user: User
    client: Client | None


class TokenIntrospection:
    """What the service says about, and does to, a token it issued."""

    __slots__ = ("_clock", "_issuer", "_minter", "_store")

    def __init__(self, minter: AccessTokenMinter) -> None:
        self._minter = minter
        self._store = minter.store
        self._clock = minter.clock
        self._issuer = minter.issuer

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
            self._minter.audience_policies()  # the lifetimes bound exp - iat (cached)
            claims = self.decode_own_jwt(token, now)
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
        if session.parked_until is not None:  # parked (tokens.parking): not in use
            return None
        return None if revoked else claims

    def local_session(self, token: str) -> LocalSession | None:
        """The session whose own local token (``urn:tokenstile:local``, issued to the
        session's client at sign-in or refresh) ``token`` is, else None: what userinfo,
        the kiosk's hand-off, confirm and the offline lease accept. A token derived from
        it (exchanged, or for another audience) is not one. The caller checks the DPoP
        binding (``check_token_binding(found.claims, jkt)``), so it can say and audit
        which session failed it.
        """
        claims = self.read_access_token(token)
        if claims is None or claims.get("aud") != LOCAL_AUDIENCE:
            return None
        with self._store.read() as tx:
            session = tx.get_session(str(claims.get("sid", "")))
            user = tx.get_user(session.user_id) if session is not None else None
            client = tx.get_client(session.client_id) if session is not None else None
        if (
            session is None
            or user is None
            or not user.enabled
            or not is_session_token(claims, session)
        ):
            return None
        return LocalSession(claims, session, user, client)

    def decode_own_jwt(
        self, token: str, now: float, *, typ: str = "at+jwt"
    ) -> dict[str, Any] | None:
        try:
            header = jwt.get_unverified_header(token)
        except jwt.PyJWTError:
            return None
        kid = header.get("kid")
        key = self._minter.keyring.get(kid) if isinstance(kid, str) else None
        if key is None or header.get("typ") != typ or header.get("alg") != key.alg:
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
        if exp - iat > self._minter.max_lifetime() or iat > now + IAT_LEEWAY:
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
            if CONFIRM_CLAIM in claims and not self._spend_confirm(claims):
                return inactive  # a confirm token is active once (tokens.confirm)
            # RFC 9449 section 6.2: a key-bound token is a DPoP token, its cnf shown.
            token_type = "DPoP" if "cnf" in claims else "Bearer"
            return {"active": True, "token_type": token_type, **claims}
        return inactive

    def _spend_confirm(self, claims: dict[str, Any]) -> bool:
        """Record a confirm token's ``jti`` as spent: True the first time only (one
        statement, so two resource servers asking at once cannot both see it active)."""
        now = self._clock.now()
        with self._store.write() as tx:
            return tx.revoke_access_token(
                str(claims["jti"]),
                sid=str(claims.get("sid", "")),
                expires_at=float(claims["exp"]),
                at=now,
            )

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
            self._minter.audience_policies()  # before the transaction: the lifetime bound
            decoded = self.decode_own_jwt(token, now)
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
            if is_session_token(claims, session):
                self._end_session(tx, sid, username=username, client=client, origin=origin, now=now)
                return
            done = (
                tx.delete_opaque_token(token_hash(token))
                if opaque is not None
                else tx.revoke_access_token(
                    str(claims["jti"]), sid=sid, expires_at=float(claims["exp"]), at=now
                )
            )
            if done:  # the derived token alone; the session lives
                tx.audit(
                    _revoked(
                        username,
                        client,
                        sid,
                        origin,
                        detail={"token": "derived", "aud": claims.get("aud")},
                    ),
                    at=now,
                )

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
            tx.audit(_revoked(username, client, sid, origin), at=now)

    def userinfo(self, access_token: str, *, dpop_jkt: str | None = None) -> dict[str, Any]:
        """What userinfo shows, to the session's own local token only: a token for another
        audience (an app's, a resource server's) is refused. ``dpop_jkt``: the key of the
        checked proof sent with a token under the DPoP scheme; a key-bound token needs it,
        an unbound one refuses it.
        """
        found = self.local_session(access_token)
        if found is None:
            raise TokenstileError("The access token is not valid.")
        check_token_binding(found.claims, dpop_jkt)
        user, claims = found.user, found.claims
        return {
            "sub": user.username,
            "preferred_username": user.username,
            "name": user.display_name or user.username,
            "amr": claims.get("amr", []),
            "acr": claims.get("acr"),
            "auth_time": claims.get("auth_time"),
        }


def _revoked(
    username: str,
    client: Client,
    sid: str,
    origin: str | None,
    *,
    detail: dict[str, Any] | None = None,
) -> AuditEvent:
    """The audit row of a revocation that took: a whole session, or a derived token."""
    return AuditEvent(
        "revoke",
        "success",
        username=username,
        client_id=client.client_id,
        sid=sid,
        origin=origin,
        detail=detail or {},
    )
