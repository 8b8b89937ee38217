"""The OpenID Provider's authorization code flow with PKCE (RFC 6749 section 4.1, RFC 7636,
OpenID Connect Core 1.0 section 3.1).

Three kinds of record, over the ``CodeTx`` port:

* the **provider session**: a Tokenstile session opened by a sign-in in the browser (its
  ``sid``, ``acr``, ``amr`` and ``auth_time`` are those of the factor, exactly as a kiosk
  login's), held by the browser through a cookie whose random value is stored only as a
  hash (``browser_sessions``). The cookie is never the sid: every app sees the sid in its
  ID tokens.
* the **authorization code**: 256-bit random, stored as a hash, bound to the client, the
  redirect URI and the PKCE S256 challenge, alive ``CODE_LIFETIME`` seconds, single use.
* the **app session**: the code's exchange opens a Tokenstile session of the client's own
  (``parent_sid``: the provider session), with the provider session's sign-in facts. Its
  access and refresh tokens are that family: refresh rotation and reuse detection work on
  it as on any session, and a second use of the code ends it (RFC 6749 section 10.5)
  without ending the person's sign-in in the browser or other apps' sessions.

The ID token (OpenID Connect Core section 2) is signed with the service's current signing
key (``kid`` in its header; the JWKS publishes it), ``typ: JWT`` so that no resource server
takes it for an RFC 9068 access token. Its ``sid`` names the provider session; its
``at_hash`` the access token issued with it (section 3.1.3.6: the left half of the hash
that goes with the signing algorithm, SHA-256 for ES256, SHA-512 for EdDSA).
"""

from __future__ import annotations

import base64
import hashlib
import re
import secrets
from collections.abc import Callable, Mapping, Sequence
from contextlib import AbstractContextManager
from dataclasses import dataclass
from typing import Any, Protocol

import jwt

from tokenstile.errors import InvalidGrant, OAuthError, UnauthorizedClient
from tokenstile.tokens.minting import (
    AccessTokenMinter,
    PendingAccessToken,
    dpop_required,
    split_scope,
    token_hash,
)
from tokenstile.tokens.model import (
    BROWSER_CLIENT_KINDS,
    AuditEvent,
    Client,
    Session,
    TokenTx,
    User,
)

CODE_LIFETIME = 60.0  # seconds; RFC 6749 section 4.1.2 recommends at most 10 minutes
CODE_BYTES = 32
COOKIE_BYTES = 32
OFFLINE_ACCESS = "offline_access"
OPENID = "openid"
MAX_CODE_CHARS = 128
# RFC 7636 section 4.1: 43 to 128 unreserved characters; S256 gives 43 base64url ones.
_VERIFIER = re.compile(r"[A-Za-z0-9\-._~]{43,128}")
CHALLENGE_PATTERN = re.compile(r"[A-Za-z0-9_\-]{43}")

# What the ID token's at_hash is hashed with, per signing algorithm.
_HALF_HASH: Mapping[str, Callable[[bytes], Any]] = {
    "ES256": hashlib.sha256,
    "EdDSA": hashlib.sha512,
}


class AuthorizeError(OAuthError):
    """A refused authorization request (RFC 6749 section 4.1.2.1, OpenID Connect Core
    section 3.1.2.6), its ``error`` value taken per instance: ``invalid_request``,
    ``unsupported_response_type``, ``invalid_scope``, ``login_required``,
    ``access_denied``, ``request_not_supported``, ``request_uri_not_supported``,
    ``registration_not_supported``.

    ``redirectable``: whether it may go back to the redirect URI (the client and the
    redirect URI were checked first); otherwise it is shown on an error page, never
    sent anywhere the request named.
    """

    code = "authorize_refused"

    def __init__(self, error: str, description: str, *, redirectable: bool = True) -> None:
        super().__init__(description)
        self.code = error
        self.redirectable = redirectable
        self.redirect_uri: str | None = None
        self.state: str | None = None

    def towards(self, redirect_uri: str, state: str | None) -> AuthorizeError:
        """This error, to go back to the checked ``redirect_uri`` with ``state``."""
        self.redirect_uri = redirect_uri
        self.state = state
        return self


def s256(verifier: str) -> str:
    """RFC 7636 section 4.2: ``BASE64URL(SHA256(ASCII(code_verifier)))``."""
    digest = hashlib.sha256(verifier.encode("ascii")).digest()
    return base64.urlsafe_b64encode(digest).rstrip(b"=").decode("ascii")


def half_hash(value: str, alg: str) -> str:
    """OpenID Connect Core section 3.1.3.6's ``at_hash`` of ``value`` for ``alg``."""
    digest = _HALF_HASH[alg](value.encode("ascii")).digest()
    return base64.urlsafe_b64encode(digest[: len(digest) // 2]).rstrip(b"=").decode("ascii")


def authorize_scope(client: Client, requested: str, privileged: frozenset[str]) -> tuple[str, ...]:
    """The scope an authorization request grants: ``openid`` required, every value
    registered for the client, and never a privileged one (``tokenstile:admin`` and its
    kind come only from a login at a client of the service's own, not through a browser
    redirect to an app)."""
    wanted = tuple(dict.fromkeys(split_scope(requested)))
    if OPENID not in wanted:
        raise AuthorizeError("invalid_scope", "The scope must include openid.")
    refused = [s for s in wanted if s not in client.scopes and s != OPENID]
    if refused:
        raise AuthorizeError(
            "invalid_scope", f"This client may not request the scope {' '.join(refused)}."
        )
    high = [s for s in wanted if s in privileged]
    if high:
        raise AuthorizeError(
            "invalid_scope",
            f"The scope {' '.join(high)} is not granted through the browser sign-in.",
        )
    return wanted


@dataclass(frozen=True, slots=True)
class StoredCode:
    client_id: str
    sid: str
    redirect_uri: str
    code_challenge: str
    scope: str
    nonce: str | None
    created_at: float
    expires_at: float
    used_at: float | None
    issued_sid: str | None


@dataclass(frozen=True, slots=True)
class ProviderSession:
    """A browser's live sign-in: its session and its person."""

    session: Session
    user: User


class CodeTx(TokenTx, Protocol):
    """``TokenTx`` plus the provider's records (``store.authorization_repository``)."""

    def add_browser_session(self, cookie_hash: bytes, *, sid: str, at: float) -> None: ...

    def browser_session(self, cookie_hash: bytes) -> Session | None:
        """The session a browser cookie (by its hash) holds, in any state."""
        ...

    def add_authorization_code(
        self,
        *,
        code_hash: bytes,
        client_id: str,
        sid: str,
        redirect_uri: str,
        code_challenge: str,
        scope: str,
        nonce: str | None,
        at: float,
        expires_at: float,
    ) -> None: ...

    def find_authorization_code(self, code_hash: bytes) -> StoredCode | None: ...

    def claim_authorization_code(self, code_hash: bytes, *, at: float) -> bool:
        """``used_at = :at WHERE used_at IS NULL``: True for the one caller that did it."""
        ...

    def set_code_issued_sid(self, code_hash: bytes, *, sid: str) -> None: ...


class CodeStore(Protocol):
    def write(self) -> AbstractContextManager[CodeTx]: ...

    def read(self) -> AbstractContextManager[CodeTx]: ...


@dataclass(frozen=True, slots=True)
class CodeTokenResponse:
    """The token response of an authorization code (OpenID Connect Core section 3.1.3.3)."""

    access_token: str
    token_type: str
    expires_in: int
    scope: str
    id_token: str
    refresh_token: str | None
    refresh_token_expires_in: int | None

    def to_json(self) -> dict[str, Any]:
        body: dict[str, Any] = {
            "access_token": self.access_token,
            "token_type": self.token_type,
            "expires_in": self.expires_in,
            "scope": self.scope,
            "id_token": self.id_token,
        }
        if self.refresh_token is not None:
            body["refresh_token"] = self.refresh_token
            body["refresh_token_expires_in"] = self.refresh_token_expires_in
        return body


@dataclass(frozen=True, slots=True)
class _Issued:
    access: PendingAccessToken
    session: Session
    user: User
    parent: Session
    nonce: str | None
    refresh: str | None


def _live(session: Session | None, user: User | None, now: float) -> bool:
    return (
        session is not None
        and user is not None
        and user.enabled
        and session.revoked_at is None
        and now < session.expires_at
        and now < session.last_used_at + session.idle_timeout
    )


class AuthorizationCodeFlow:
    """Provider sessions, codes, and the ``authorization_code`` grant, over one minter."""

    __slots__ = ("_clock", "_code_lifetime", "_minter", "_policy", "_store")

    def __init__(
        self, minter: AccessTokenMinter, store: CodeStore, *, code_lifetime: float = CODE_LIFETIME
    ) -> None:
        self._minter = minter
        self._store = store
        self._clock = minter.clock
        self._policy = minter.policy
        self._code_lifetime = code_lifetime

    @property
    def privileged_scopes(self) -> frozenset[str]:
        return self._minter.privileged

    # -- the provider session --------------------------------------------------------------

    def browser_session(self, cookie: str | None) -> ProviderSession | None:
        """The live provider session the browser's cookie holds, or None."""
        if not cookie or len(cookie) > MAX_CODE_CHARS:
            return None
        now = self._clock.now()
        with self._store.read() as tx:
            session = tx.browser_session(token_hash(cookie))
            user = tx.get_user(session.user_id) if session is not None else None
        if session is None or user is None or not _live(session, user, now):
            return None
        return ProviderSession(session, user)

    def sign_in(
        self,
        *,
        user: User,
        client: Client,
        factor: str,
        amr: Sequence[str],
        acr: str,
        origin: str | None,
        device: Mapping[str, Any] | None = None,
        credential: str | None = None,
        replaces: ProviderSession | None = None,
    ) -> tuple[str, ProviderSession]:
        """Open a provider session after a factor succeeded in the browser; the new
        cookie value (shown to the browser only) and the session. A sign-in that
        ``replaces`` another (``prompt=login``, another person) ends that one."""
        if not user.enabled:
            raise InvalidGrant("This account is disabled.")
        now = self._clock.now()
        cookie = secrets.token_urlsafe(COOKIE_BYTES)
        session = Session(
            sid=secrets.token_urlsafe(16),
            user_id=user.id,
            client_id=client.client_id,
            audience=client.default_audience,
            scope=OPENID,
            amr=tuple(amr),
            acr=acr,
            factor=factor,
            auth_time=now,
            created_at=now,
            expires_at=now + self._policy.session_lifetime,
            idle_timeout=float(self._policy.session_idle),
            last_used_at=now,
            credential=credential,
        )
        with self._store.write() as tx:
            if replaces is not None:
                tx.revoke_session(replaces.session.sid, at=now, reason="signed_in_again")
            tx.add_session(session)
            tx.add_browser_session(token_hash(cookie), sid=session.sid, at=now)
            tx.audit(
                AuditEvent(
                    "login",
                    "success",
                    username=user.username,
                    client_id=client.client_id,
                    sid=session.sid,
                    factor=factor,
                    origin=origin,
                    detail={"amr": list(amr), "acr": acr, "browser": True, **(device or {})},
                ),
                at=now,
            )
        return cookie, ProviderSession(session, user)

    def bind_browser(self, provider: ProviderSession) -> str:
        """A new browser cookie for an existing session (kiosk single sign-on: the
        browser's sign-in *is* the kiosk session, and ends with it); its value."""
        cookie = secrets.token_urlsafe(COOKIE_BYTES)
        with self._store.write() as tx:
            tx.add_browser_session(
                token_hash(cookie), sid=provider.session.sid, at=self._clock.now()
            )
        return cookie

    # -- codes -------------------------------------------------------------------------------

    def issue_code(
        self,
        provider: ProviderSession,
        *,
        client: Client,
        redirect_uri: str,
        code_challenge: str,
        scope: Sequence[str],
        nonce: str | None,
    ) -> str:
        """A new code for ``client`` from the provider session (which it keeps alive)."""
        now = self._clock.now()
        code = secrets.token_urlsafe(CODE_BYTES)
        with self._store.write() as tx:
            tx.touch_session(provider.session.sid, at=now)
            tx.add_authorization_code(
                code_hash=token_hash(code),
                client_id=client.client_id,
                sid=provider.session.sid,
                redirect_uri=redirect_uri,
                code_challenge=code_challenge,
                scope=" ".join(scope),
                nonce=nonce,
                at=now,
                expires_at=now + self._code_lifetime,
            )
        return code

    def exchange(
        self,
        *,
        code: str,
        client: Client,
        redirect_uri: str,
        code_verifier: str,
        origin: str | None = None,
        dpop_jkt: str | None = None,
    ) -> CodeTokenResponse:
        """The ``authorization_code`` grant (RFC 6749 section 4.1.3) for an authenticated
        ``client``. Every refusal is ``invalid_grant`` and audited; a second use of a code
        ends the session its first use opened."""
        if client.kind not in BROWSER_CLIENT_KINDS:
            raise UnauthorizedClient("This client may not use the authorization code grant.")
        if client.dpop_bound and dpop_jkt is None:
            raise dpop_required()
        if not code or len(code) > MAX_CODE_CHARS:
            raise InvalidGrant("The authorization code is not valid.")
        if not redirect_uri:
            raise InvalidGrant("The redirect_uri parameter is missing.")
        if _VERIFIER.fullmatch(code_verifier) is None:
            raise InvalidGrant("The code_verifier is missing or malformed (RFC 7636).")
        self._minter.audience_policies()  # fresh before the transaction; only the cache inside
        presented = token_hash(code)
        refresh = secrets.token_urlsafe(32)

        def refuse(tx: CodeTx, reason: str, message: str, *, alert: bool = False) -> InvalidGrant:
            tx.audit(
                AuditEvent(
                    "authorization_code",
                    "alert" if alert else "failure",
                    client_id=client.client_id,
                    origin=origin,
                    detail={"reason": reason},
                ),
                at=self._clock.now(),
            )
            return InvalidGrant(message)

        outcome: _Issued | InvalidGrant
        with self._store.write() as tx:
            outcome = self._exchange_in(
                tx,
                presented,
                client=client,
                redirect_uri=redirect_uri,
                verifier=code_verifier,
                refresh=refresh,
                jkt=dpop_jkt,
                origin=origin,
                refuse=refuse,
            )
        if isinstance(outcome, InvalidGrant):
            raise outcome
        return self._respond(outcome, client)

    def _exchange_in(
        self,
        tx: CodeTx,
        presented: bytes,
        *,
        client: Client,
        redirect_uri: str,
        verifier: str,
        refresh: str,
        jkt: str | None,
        origin: str | None,
        refuse: Callable[..., InvalidGrant],
    ) -> _Issued | InvalidGrant:
        now = self._clock.now()
        found = tx.find_authorization_code(presented)
        if found is None:
            return refuse(tx, "unknown_code", "The authorization code is not valid.")
        if found.client_id != client.client_id:
            return refuse(
                tx, "client_mismatch", "The authorization code was issued to another client."
            )
        if found.used_at is not None:
            return self._replayed(tx, found, client=client, now=now, origin=origin)
        if now >= found.expires_at:
            return refuse(tx, "code_expired", "The authorization code has expired.")
        if found.redirect_uri != redirect_uri:
            return refuse(
                tx, "redirect_uri_mismatch", "The redirect_uri differs from the request's."
            )
        if not secrets.compare_digest(s256(verifier), found.code_challenge):
            return refuse(
                tx, "pkce_mismatch", "The code_verifier does not match the code_challenge."
            )
        parent = tx.get_session(found.sid)
        user = tx.get_user(parent.user_id) if parent is not None else None
        if parent is None or user is None or not _live(parent, user, now):
            return refuse(tx, "session_ended", "The sign-in behind this code has ended.")
        if not tx.claim_authorization_code(presented, at=now):
            # A concurrent use won (PostgreSQL: this UPDATE waited for its commit): the
            # code was used twice all the same.
            again = tx.find_authorization_code(presented)
            return self._replayed(tx, again or found, client=client, now=now, origin=origin)
        aud = client.default_audience
        self._minter.check_assurance(aud, parent.acr)
        session = Session(
            sid=secrets.token_urlsafe(16),
            user_id=user.id,
            client_id=client.client_id,
            audience=aud,
            scope=found.scope,
            amr=parent.amr,
            acr=parent.acr,
            factor=parent.factor,
            auth_time=parent.auth_time,
            created_at=now,
            expires_at=parent.expires_at,
            idle_timeout=float(self._policy.session_idle),
            last_used_at=now,
            dpop_jkt=jkt,
            credential=parent.credential,
            parent_sid=parent.sid,
        )
        tx.add_session(session)
        tx.set_code_issued_sid(presented, sid=session.sid)
        offline = OFFLINE_ACCESS in split_scope(found.scope)
        if offline:
            tx.add_refresh(
                token_hash=token_hash(refresh),
                sid=session.sid,
                client_id=client.client_id,
                parent_id=None,
                at=now,
            )
        access = self._minter.access_token(
            tx, session=session, user=user, audience=aud, scope=session.scope, now=now, jkt=jkt
        )
        tx.audit(
            AuditEvent(
                "authorization_code",
                "success",
                username=user.username,
                client_id=client.client_id,
                sid=session.sid,
                factor=session.factor,
                origin=origin,
                detail={"provider_sid": parent.sid, "aud": aud, "refresh_token": offline},
            ),
            at=now,
        )
        return _Issued(access, session, user, parent, found.nonce, refresh if offline else None)

    @staticmethod
    def _replayed(
        tx: CodeTx, found: StoredCode, *, client: Client, now: float, origin: str | None
    ) -> InvalidGrant:
        """RFC 6749 section 10.5: a code used twice was stolen or replayed; the tokens its
        first use issued (the app session, all of its family) are revoked."""
        ended = (
            tx.revoke_session(found.issued_sid, at=now, reason="authorization_code_reuse")
            if found.issued_sid is not None
            else False
        )
        tx.audit(
            AuditEvent(
                "authorization_code",
                "alert",
                client_id=client.client_id,
                sid=found.issued_sid,
                origin=origin,
                detail={"reason": "code_reuse", "session_ended": ended},
            ),
            at=now,
        )
        return InvalidGrant(
            "The authorization code was already used; the tokens it gave were revoked."
        )

    # -- tokens ------------------------------------------------------------------------------

    def _respond(self, issued: _Issued, client: Client) -> CodeTokenResponse:
        minter = self._minter
        access_token = minter.sign(issued.access)
        key = minter.keyring.signer(self._clock.now())
        iat = int(issued.access.claims["iat"])
        claims: dict[str, Any] = {
            "iss": minter.issuer,
            "sub": issued.user.username,
            "aud": client.client_id,
            "exp": iat + self._policy.access_token_lifetime,
            "iat": iat,
            "auth_time": int(issued.parent.auth_time),
            "acr": issued.parent.acr,
            "amr": list(issued.parent.amr),
            "sid": issued.parent.sid,
            "at_hash": half_hash(access_token, key.alg),
        }
        if issued.nonce is not None:
            claims["nonce"] = issued.nonce
        id_token = jwt.encode(
            claims, key.private_key, algorithm=key.alg, headers={"typ": "JWT", "kid": key.kid}
        )
        session = issued.session
        return CodeTokenResponse(
            access_token=access_token,
            token_type="DPoP" if "cnf" in issued.access.claims else "Bearer",
            expires_in=issued.access.lifetime,
            scope=session.scope,
            id_token=id_token,
            refresh_token=issued.refresh,
            refresh_token_expires_in=(
                max(0, int(session.expires_at) - iat) if issued.refresh is not None else None
            ),
        )
