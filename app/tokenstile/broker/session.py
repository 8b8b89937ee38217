"""The keychain-backed session every local app shares: :class:`Broker`.

::

    from tokenstile.broker import Broker
    token = Broker().access_token()                        # the session's own token
    token = Broker().access_token(audience="https://payroll.example", scope="payroll:read")
    token = Broker(app_id="payroll-app").access_token(audience="https://payroll.example")

Per-app tokens come by token exchange (RFC 8693) with the session's access token as the
subject, requested as the app's own registered client (``app_id``, or the
``broker_app_id`` setting): the app's registration says which audiences and scopes it
may have. Without an app id the session's client (the kiosk's) asks.

How a token is found, cheapest first:

1. this object's memory (a few microseconds; a stamp file in the runtime directory,
   replaced on every login and logout, tells when another process changed the session);
2. the keychain item, when its token still has ``min_ttl`` seconds left;
3. under the cross-process lock (``broker.lock`` in the user's runtime directory, a
   ``flock`` that dies with its holder): the keychain is read again, since whoever held
   the lock may just have refreshed; only if the token is still due does this process
   refresh (or exchange, for another audience or scope) and write the result back.

So at most one refresh of a session is in flight at a time, on the whole machine, and
the server's refresh-token reuse detection never fires for apps that share a session.

Refresh failures, following the server's rotation rules (``tokens/refresh.py``): an
answer lost on the way back (time-out, reset after sending) and an ``invalid_grant``
are retried once with the same refresh token after ``refresh_retry_delay`` (1.5 s: past
the server's ``refresh_retry_after``, well within its ``refresh_grace``), which also
recovers after a process was killed mid-refresh. A second ``invalid_grant`` means the
session is over: the keychain is cleared and :class:`NotLoggedIn` raised. With no
answer at all, the cached token is served while it is valid, then
:class:`ServerUnreachable`.

Parked sessions (``kiosk_park_sessions``, ``tokens.parking``): :meth:`Broker.park` parks
the signed-in person at the service and keeps them in the item without an access token;
while nobody else signs in, every token request raises :class:`Parked`. A later sign-in
of someone else keeps the parked people on the item's shelf (at most ``max_parked``); a
sign-in of a parked person resumes their session at the service (:meth:`save_login`), so
the apps get that person's session back. Every change is written to
``broker-state.json`` (``broker.state_file``) for apps that watch it, and
:meth:`Broker.watch` calls back on each.
"""

from __future__ import annotations

import logging
import threading
import time
import weakref
from dataclasses import replace
from typing import TYPE_CHECKING, Final

from tokenstile.broker.closing import Closing
from tokenstile.broker.errors import (
    BrokerError,
    KeychainUnavailable,
    NotLoggedIn,
    Parked,
    ParkingFull,
    ServerUnreachable,
    SignedInOffline,
    TokenRefused,
)
from tokenstile.broker.model import (
    AccessToken,
    SessionInfo,
    StoredSession,
    TokenGrant,
    exchange_key,
    session_claims,
)
from tokenstile.broker.options import BrokerOptions
from tokenstile.broker.session_lock import LOCK_FILE, SessionLock
from tokenstile.broker.state_file import (
    BrokerState,
    ParkedPerson,
    StateWatch,
    read_state,
    write_state,
)
from tokenstile.clock import Clock, SystemClock

if TYPE_CHECKING:
    from collections.abc import Callable

    import httpx

    from tokenstile.broker.client import TokenServiceClient
    from tokenstile.broker.confirm import ConfirmToken
    from tokenstile.broker.dpop import DpopKey
    from tokenstile.broker.store import SessionStore
    from tokenstile.config import Settings

__all__ = ["LOCK_FILE", "NOT_SIGNED_IN", "PARKED", "Broker", "open_store"]

log = logging.getLogger(__name__)

SUBJECT_MIN_TTL: Final = 15  # seconds an exchange's subject token must still have
UNREACHABLE_BACKOFF: Final = 5.0  # seconds to serve a valid cached token without asking
OFFLINE_ONLY: Final = (
    "Signed in offline at the kiosk (the token service cannot be reached): only the "
    "apps of this workstation are served, with the kiosk's own token, until it is back."
)
NOT_SIGNED_IN: Final = (
    "Not signed in: run `tokenstile login --server URL --factor totp|fido2|piv` first."
)
PARKED: Final = (
    "Parked: {names} stepped away from the kiosk; their session is served again when "
    "they sign in there."
)
_Key = tuple[str | None, str | None]


def open_store(options: BrokerOptions) -> SessionStore:
    """The store the options choose: the OS keychain, or the encrypted file."""
    if options.store == "encrypted-file":
        from tokenstile.broker.file_store import EncryptedFileStore

        return EncryptedFileStore.from_options(options)
    from tokenstile.broker.store import KeyringStore

    return KeyringStore()


class Broker(Closing):
    """The signed-in session of this user on this machine.

    One object may serve many threads. It keeps an HTTP client per token service and
    client id (connections are reused): :meth:`close` it, or use it as a context manager.
    """

    def __init__(
        self,
        *,
        settings: Settings | None = None,
        store: SessionStore | None = None,
        clock: Clock | None = None,
        transport: httpx.BaseTransport | None = None,
        app_id: str | None = None,
    ) -> None:
        self.options = (
            BrokerOptions.from_settings(settings)
            if settings is not None
            else BrokerOptions.from_environment()
        )
        # Exchanges are requested as this app's client (None: the session's client).
        self.app_id: str | None = app_id or self.options.app_id
        self._store: SessionStore = store if store is not None else open_store(self.options)
        self._clock: Clock = clock if clock is not None else SystemClock()
        self._transport = transport
        from tokenstile import paths

        self._lock = SessionLock(paths.runtime_dir(), timeout=self.options.lock_timeout)
        self._memo: dict[_Key, AccessToken] = {}
        self._memo_stamp: tuple[int, int] | None = None
        self._dpop_keys: dict[str, DpopKey] = {}
        self._pending_dpop: DpopKey | None = None
        self._session_key: DpopKey | None = None  # the key of the session in the memo
        self._unreachable_until = 0.0
        self._clients: dict[tuple[str, str], TokenServiceClient] = {}
        self._clients_lock = threading.Lock()
        # A Broker dropped without close() still closes its connections (no socket is
        # left to the garbage collector, which would warn).
        self._finalizer = weakref.finalize(self, _close_clients, self._clients)

    @property
    def store(self) -> SessionStore:
        return self._store

    # -- reading ---------------------------------------------------------------------

    def session(self) -> SessionInfo | None:
        """The session in the keychain (no network), or None when nobody is signed in
        (nobody is while the person is parked: :meth:`parked_people` says who is)."""
        state = self._load()
        return state.info() if state is not None and state.parked_until is None else None

    def access_token(
        self, audience: str | None = None, scope: str | None = None, min_ttl: int = 60
    ) -> str:
        """A token with at least ``min_ttl`` seconds left (or a fresh one when the server
        issues shorter ones), for the session's audience or, by token exchange, for
        ``audience`` narrowed to ``scope``."""
        return self.token(audience, scope, min_ttl).access_token

    def token(
        self, audience: str | None = None, scope: str | None = None, min_ttl: int = 60
    ) -> AccessToken:
        """Like :meth:`access_token`, with the token's type and expiry."""
        memo = self._memo.get((audience, scope))
        if (
            memo is not None
            and memo.expires_at - self._clock.now() >= min_ttl
            and self._lock.stamp() == self._memo_stamp
        ):
            return memo
        return self._find(audience, scope, min_ttl, rejected=None)

    def renewed_token(
        self, audience: str | None = None, scope: str | None = None, *, rejected: AccessToken
    ) -> AccessToken:
        """A token other than ``rejected`` (which a resource server refused with 401)."""
        return self._find(audience, scope, 0, rejected=rejected)

    def dpop_proof(
        self,
        method: str,
        url: str,
        access_token: str | None = None,
        *,
        nonce: str | None = None,
    ) -> str:
        """A DPoP proof for one request with the session's key (``ath`` with a token)."""
        key = self._session_key
        if key is None or self._lock.stamp() != self._memo_stamp:
            key = self._dpop_key(self._require())
        if key is None:
            raise BrokerError("This session is not bound to a DPoP key.")
        # Proofs carry the wall-clock time (the server checks iat against its own).
        return key.proof(method, url, access_token=access_token, nonce=nonce)

    # -- confirm with your key (issue 17) --------------------------------------------

    def confirm(
        self,
        reason: str,
        *,
        audience: str | None = None,
        min_acr: str | None = None,
        max_age: int | None = None,
        second_person: str | None = None,
        timeout: float = 120.0,
    ) -> ConfirmToken:
        """Ask the person signed in at this workstation's kiosk to confirm ``reason`` with
        their key or card now: a single-use confirm token for ``audience`` (default the
        local one) of at least ``min_acr``, whose ``auth_time`` is at most ``max_age``
        seconds old; with ``second_person`` (a role) someone else holding that role must
        confirm too, with their own key or card (four eyes). Raises ``ConfirmFailed``
        (its ``reason``: ``cancelled``, ``not_signed_in``, ``busy``, ``refused``,
        ``invalid_request``, ``unavailable``)."""
        from tokenstile.broker.confirm import ask_kiosk

        return ask_kiosk(
            reason,
            audience=audience,
            min_acr=min_acr,
            max_age=max_age,
            second_person=second_person,
            timeout=timeout,
            clock=self._clock,
        )

    def confirm_client(self) -> tuple[TokenServiceClient, str]:
        """What a kiosk sends a confirm ceremony with: the session's own client (with the
        session's DPoP key, if bound) and the session's own local access token."""
        token = self.access_token()
        return self._client(self._require()), token

    # -- signing in and out ----------------------------------------------------------

    def login_client(self, server: str, *, client_id: str | None = None) -> TokenServiceClient:
        """A client for a login whose result goes to :meth:`save_login`; it carries a new
        DPoP key when the ``broker_dpop`` setting is on."""
        from tokenstile.broker.client import DEFAULT_CLIENT_ID, TokenServiceClient

        key = None
        if self.options.dpop:
            from tokenstile.broker.dpop import DpopKey

            key = DpopKey.generate()
        self._pending_dpop = key
        return TokenServiceClient(
            server,
            client_id=client_id or DEFAULT_CLIENT_ID,
            transport=self._transport,
            dpop_key=key,
            verify=self._verify(),
        )

    def save_login(
        self,
        grant: TokenGrant,
        *,
        server: str,
        client_id: str,
        dpop_key: DpopKey | None = None,
    ) -> SessionInfo:
        """Keep a new session (replacing, and first revoking, any earlier one).

        ``dpop_key``: the key the login's proofs were made with (default: the key of the
        last :meth:`login_client`, when it had one).
        """
        from tokenstile.broker.client import check_server_url

        server = check_server_url(server)
        key = dpop_key if dpop_key is not None else self._pending_dpop
        if grant.token_type.lower() != "dpop" and dpop_key is None:
            key = None  # the server did not bind the tokens: keep no key
        now = self._clock.now()
        state = StoredSession(
            server=server,
            client_id=client_id,
            refresh_token=grant.refresh_token,
            access=AccessToken.from_grant(grant, issued_at=now),
            id_token=grant.id_token,
            claims=session_claims(grant.access_token),
            dpop_key=key.to_jwk() if key is not None else None,
            dpop_jkt=key.thumbprint if key is not None else None,
            session_expires_at=grant.session_expires_at(issued_at=now),
        )
        try:
            # The store must work before anything is written, even the lock file: with
            # no keychain nothing of this login touches the disk.
            self._load()
            with self._lock.held():
                old = self._load()
                resumed, old = self._resume(old, state) if old is not None else (None, None)
                if resumed is not None:
                    state = resumed
                else:
                    if (
                        old is not None
                        and old.parked_until is None
                        and old.refresh_token != state.refresh_token
                    ):
                        self._revoke_quietly(old)
                    parked = old.everyone_parked() if old is not None else ()
                    state = replace(state, display_name=self._display_name(state), shelf=parked)
                self._store.save(state.to_json())
                self._changed(state)
        except KeychainUnavailable as exc:
            # Never fall back to a file: the tokens are dropped, and revoked at the
            # server so that none of them stays valid anywhere.
            self._pending_dpop = None
            undone = self._revoke_quietly(state)
            raise KeychainUnavailable(
                exc.message
                + (
                    " The sign-in was revoked at the server; nothing was kept."
                    if undone
                    else " Nothing was kept; the session stays valid at the server until "
                    "it expires."
                )
            ) from exc
        self._pending_dpop = None
        self._forget()
        return state.info()

    def keep_offline(self, state: StoredSession) -> SessionInfo:
        """Keep a session the kiosk opened offline (``broker.offline``), replacing any
        earlier one: nothing can be revoked at a service out of reach."""
        with self._lock.held():
            self._store.save(state.to_json())
            self._lock.restamp()
        self._forget()
        return state.info()

    def _display_name(self, state: StoredSession) -> str:
        """The person's name from ``/userinfo`` (OIDC ``name``), or "" when it cannot be
        had: a login never fails for want of a name."""
        try:
            claims = self._client(state).userinfo(state.access.access_token)
        except BrokerError as exc:
            log.info("no display name from %s: %s", state.server, exc.message)
            return ""
        name = claims.get("name")
        return name.strip()[:256] if isinstance(name, str) else ""

    def close(self) -> None:
        """Close the HTTP clients this object keeps. It can still be used afterwards
        (for reads from the keychain); a network call then opens a new client."""
        with self._clients_lock:
            _close_clients(self._clients)

    def logout(self, *, everyone: bool = False) -> bool:
        """Revoke the session at the server, then clear the keychain. False when the
        server could not be told (the session then lives there until it expires).

        The people parked here stay parked (``everyone``: they are signed out too); when
        the signed-in person is parked, nobody else is signed out."""
        with self._lock.held():
            state = self._load()
            told = True
            shelf: tuple[StoredSession, ...] = ()
            if state is not None and (state.parked_until is None or everyone):
                told = self._revoke_quietly(state)
                shelf = state.shelf
            elif state is not None:
                shelf = state.everyone_parked()
            if everyone:
                for entry in shelf:
                    told = self._revoke_quietly(entry) and told
                shelf = ()
            if shelf:
                top = replace(shelf[0], shelf=shelf[1:])
                self._store.save(top.to_json())
                self._changed(top)
            else:
                self._store.clear()
                self._changed(None)
        self._forget()
        return told

    # -- parking (kiosk_park_sessions) ------------------------------------------------

    def park(self, *, max_parked: int = 4) -> SessionInfo:
        """Park the signed-in person at the service (``POST /session/park``): their
        tokens are no longer served here nor refreshed anywhere until they sign in again.
        :class:`ParkingFull` when ``max_parked`` people are parked already (nothing
        changes: the kiosk says so and may sign one out)."""
        with self._lock.held():
            state = self._require()
            state = self._without_overdue(state)
            if len(state.shelf) + 1 > max_parked:
                names = ", ".join(entry.name for entry in state.shelf)
                raise ParkingFull(
                    f"{len(state.shelf)} people are parked at this kiosk already ({names}); "
                    "sign one of them out first."
                )
            if state.refresh_token is None:
                raise BrokerError("This session cannot be parked (no refresh token).")
            until = self._client(state).park(state.refresh_token)
            parked = replace(state.parked(until), shelf=state.shelf)
            self._store.save(parked.to_json())
            self._changed(parked)
        self._forget()
        return parked.info()

    def parked_people(self) -> tuple[SessionInfo, ...]:
        """The people parked at this kiosk (no network), their deadlines in
        ``session_expires_at``'s place left as it is: see :meth:`parked_until`."""
        state = self._load()
        return tuple(e.info() for e in state.everyone_parked()) if state is not None else ()

    def parked_until(self) -> dict[str, float]:
        """Each parked session's sid and its deadline at the service."""
        state = self._load()
        if state is None:
            return {}
        return {e.info().sid: e.parked_until or 0.0 for e in state.everyone_parked()}

    def end_parked(self, sid: str) -> bool:
        """Sign one parked person out (the kiosk at their deadline, or to make room):
        revoked at the server and dropped here. False when the server could not be told."""
        with self._lock.held():
            state = self._load()
            if state is None:
                return True
            gone = [e for e in state.everyone_parked() if e.info().sid == sid]
            told = all(self._revoke_quietly(e) for e in gone)
            kept = self._drop(state, {sid})
            self._save_or_clear(kept)
        self._forget()
        return told

    def state(self) -> BrokerState:
        """The session as apps may see it (names only), read from the keychain."""
        return self._public_state(self._load())

    def watch(
        self, callback: Callable[[BrokerState], None], *, interval: float = 0.2
    ) -> StateWatch:
        """Call ``callback`` on sign-in, park, resume and sign-out, from any process of
        this user (``broker-state.json``; never the keychain). ``stop()`` the result."""
        return StateWatch(self._lock.runtime, callback, interval=interval)

    @staticmethod
    def watched_state() -> BrokerState:
        """What ``broker-state.json`` says now (no keychain)."""
        from tokenstile import paths

        return read_state(paths.runtime_dir())

    def _resume(
        self, old: StoredSession, proof: StoredSession
    ) -> tuple[StoredSession | None, StoredSession | None]:
        """When ``proof`` (a new sign-in) is of a person parked in ``old``: their session
        resumed at the service (the proof spent there) with everyone else still parked,
        and what is left of ``old``. ``(None, old)`` when that person is not parked here;
        ``(None, old without them)`` when the service no longer has their session."""
        mine = [
            e
            for e in old.everyone_parked()
            if e.subject == proof.subject
            and e.server == proof.server
            and e.client_id == proof.client_id
        ]
        if not mine or proof.refresh_token is None:
            return None, old
        entry = mine[0]
        others = self._drop(old, {entry.info().sid})
        try:
            grant = self._client(entry).resume(entry.refresh_token or "", proof.refresh_token)
        except TokenRefused as exc:
            # The service ended it (deadline, revoked): the sign-in opens a new session.
            log.info("the parked session could not be resumed: %s", exc.message)
            return None, others
        if others is not None and others.parked_until is None:
            # Someone else was signed in and not parked: signed out, as any sign-in does.
            self._revoke_quietly(others)
            others = replace(others.shelf[0], shelf=others.shelf[1:]) if others.shelf else None
        now = self._clock.now()
        resumed = entry.with_access(
            AccessToken.from_grant(grant, issued_at=now),
            grant.refresh_token,
            session_expires_at=grant.session_expires_at(issued_at=now),
        )
        rest = others.everyone_parked() if others is not None else ()
        return replace(resumed, parked_until=None, shelf=rest), None

    @staticmethod
    def _drop(state: StoredSession, sids: set[str]) -> StoredSession | None:
        """``state`` without the parked sessions ``sids`` (None when nothing is left)."""
        shelf = tuple(e for e in state.shelf if e.info().sid not in sids)
        if state.parked_until is not None and state.info().sid in sids:
            return replace(shelf[0], shelf=shelf[1:]) if shelf else None
        return replace(state, shelf=shelf)

    def _without_overdue(self, state: StoredSession) -> StoredSession:
        now = self._clock.now()
        overdue = {e.info().sid for e in state.shelf if (e.parked_until or 0.0) <= now}
        if not overdue:
            return state
        kept = self._drop(state, overdue)
        return kept if kept is not None else state

    def _save_or_clear(self, state: StoredSession | None) -> None:
        if state is None:
            self._store.clear()
        else:
            self._store.save(state.to_json())
        self._changed(state)

    # -- the work --------------------------------------------------------------------

    def _find(
        self,
        audience: str | None,
        scope: str | None,
        min_ttl: int,
        *,
        rejected: AccessToken | None,
    ) -> AccessToken:
        stamp = self._lock.stamp()
        state = self._require()
        now = self._clock.now()
        seen = self._lookup(state, audience, scope, self.app_id)
        if seen is not None and _usable(seen, now, min_ttl) and not _same(seen, rejected):
            return self._remember((audience, scope), seen, stamp, state)
        with self._lock.held():
            state = self._require()
            now = self._clock.now()
            current = self._lookup(state, audience, scope, self.app_id)
            if current is not None and not _same(current, rejected):
                renewed = seen is None or current.issued_at > seen.issued_at
                if _usable(current, now, min_ttl) or (renewed and _fresh(current, now)):
                    return self._remember((audience, scope), current, stamp, state)
            if state.claims.get("offline") is True:
                raise SignedInOffline(OFFLINE_ONLY)
            if self._is_session_token(state, audience, scope):
                try:
                    token = self._refresh(state).access
                except ServerUnreachable as exc:
                    token = self._cached_or_raise(exc, current)
            else:
                token = self._exchange(state, audience, scope, fallback=current)
            return self._remember((audience, scope), token, stamp, state)

    def _remember(
        self,
        key: _Key,
        token: AccessToken,
        stamp: tuple[int, int] | None,
        state: StoredSession,
    ) -> AccessToken:
        if stamp != self._memo_stamp:
            self._memo.clear()
            self._memo_stamp = stamp
        self._memo[key] = token
        self._session_key = self._dpop_key(state) if token.is_dpop else None
        return token

    @staticmethod
    def _is_session_token(state: StoredSession, audience: str | None, scope: str | None) -> bool:
        if audience is not None and audience != state.audience:
            return False
        return scope is None or set(scope.split()) == set(state.access.scope.split())

    @staticmethod
    def _lookup(
        state: StoredSession, audience: str | None, scope: str | None, app_id: str | None
    ) -> AccessToken | None:
        if Broker._is_session_token(state, audience, scope):
            return state.access
        target = audience or state.audience
        return state.exchanged.get(exchange_key(target, scope, app_id)) if target else None

    def _refresh(self, state: StoredSession) -> StoredSession:
        """A new access token for the session (the lock is held)."""
        self._check_backoff(state)
        if state.refresh_token is None:
            self._clear_session()
            raise NotLoggedIn("The session cannot be renewed (no refresh token); sign in again.")
        return self._refresh_with(self._client(state), state, state.refresh_token)

    def _refresh_with(
        self, client: TokenServiceClient, state: StoredSession, refresh_token: str
    ) -> StoredSession:
        for attempt in (1, 2):
            started = self._clock.now()
            try:
                grant = client.refresh(refresh_token, timeout=self.options.http_timeout)
            except ServerUnreachable as exc:
                if exc.maybe_delivered and attempt == 1:
                    self._pause()
                    continue
                self._unreachable_until = self._clock.now() + UNREACHABLE_BACKOFF
                raise
            except TokenRefused as exc:
                if exc.oauth_error == "invalid_grant" and attempt == 1:
                    self._pause()  # a racer that was killed mid-refresh, or a lost answer
                    continue
                if exc.oauth_error in ("invalid_grant", "invalid_client"):
                    self._clear_session()
                    raise NotLoggedIn(
                        f"The session ended at the server: {exc.message} Sign in again."
                    ) from exc
                raise
            renewed = state.with_access(
                AccessToken.from_grant(grant, issued_at=started),
                grant.refresh_token,
                session_expires_at=grant.session_expires_at(issued_at=started),
            )
            self._store.save(renewed.to_json())
            return renewed
        raise AssertionError("unreachable")  # pragma: no cover

    def _check_backoff(self, state: StoredSession) -> None:
        if self._clock.now() < self._unreachable_until:
            raise ServerUnreachable(
                f"The token service at {state.server} did not answer a moment ago."
            )

    def _cached_or_raise(self, exc: ServerUnreachable, cached: AccessToken | None) -> AccessToken:
        if cached is not None and cached.expires_at > self._clock.now():
            log.info("token service unreachable; serving the cached token")
            return cached
        raise ServerUnreachable(
            f"{exc.message} No cached access token is still valid; try again when the "
            "token service is back."
        ) from exc

    def _exchange(
        self,
        state: StoredSession,
        audience: str | None,
        scope: str | None,
        *,
        fallback: AccessToken | None,
    ) -> AccessToken:
        target = audience or state.audience
        if target is None:
            raise BrokerError("Name the audience: this session's token does not say its own.")
        for attempt in (1, 2):
            try:
                if attempt == 2 or state.access.expires_at - self._clock.now() < SUBJECT_MIN_TTL:
                    state = self._refresh(state)
                self._check_backoff(state)
                started = self._clock.now()
                grant = self._client(state, as_app=True).exchange(
                    state.access.access_token,
                    audience=target,
                    scope=scope,
                    timeout=self.options.http_timeout,
                )
            except ServerUnreachable as exc:
                if not self._clock.now() < self._unreachable_until:
                    self._unreachable_until = self._clock.now() + UNREACHABLE_BACKOFF
                return self._cached_or_raise(exc, fallback)
            except TokenRefused as exc:
                if exc.oauth_error == "invalid_grant" and attempt == 1:
                    continue  # the subject token died: renew it (NotLoggedIn if the session did)
                if exc.oauth_error == "invalid_client" and self.app_id is not None:
                    raise TokenRefused(
                        f"The token service at {state.server} does not know the app "
                        f"{self.app_id!r} (or its secret): {exc.message}",
                        oauth_error=exc.oauth_error,
                    ) from exc
                raise
            token = AccessToken.from_grant(grant, issued_at=started)
            key = exchange_key(target, scope, self.app_id)
            state = state.with_exchanged(key, token, now=started)
            self._store.save(state.to_json())
            return token
        raise AssertionError("unreachable")  # pragma: no cover

    # -- plumbing --------------------------------------------------------------------

    def _load(self) -> StoredSession | None:
        document = self._store.load()
        if document is None:
            return None
        try:
            return StoredSession.from_json(document)
        except ValueError:
            log.warning("the stored session cannot be read; it is ignored")
            return None

    def _require(self) -> StoredSession:
        state = self._load()
        if state is None:
            raise NotLoggedIn(NOT_SIGNED_IN)
        if state.parked_until is not None:
            names = tuple(entry.name for entry in state.everyone_parked())
            raise Parked(PARKED.format(names=" and ".join(names) or "the person"), names=names)
        return state

    def _clear_session(self) -> None:
        state = self._load()
        shelf = state.shelf if state is not None else ()
        if shelf:  # the active session ended; the parked people stay
            top = replace(shelf[0], shelf=shelf[1:])
            self._store.save(top.to_json())
            self._changed(top)
        else:
            self._store.clear()
            self._changed(None)
        self._forget()

    def _changed(self, state: StoredSession | None) -> None:
        """Tell every process (the stamp) and every watching app (the state file)."""
        self._lock.restamp()
        write_state(self._lock.runtime, self._public_state(state))

    def _public_state(self, state: StoredSession | None) -> BrokerState:
        now = self._clock.now()
        if state is None:
            return BrokerState(state="signed_out", changed_at=now)
        parked = tuple(
            ParkedPerson(name=entry.name, until=entry.parked_until or 0.0)
            for entry in state.everyone_parked()
        )
        if state.parked_until is not None:
            return BrokerState(state="parked", parked=parked, changed_at=now)
        return BrokerState(state="signed_in", name=state.name, parked=parked, changed_at=now)

    def _forget(self) -> None:
        self._memo.clear()
        self._memo_stamp = None
        self._session_key = None

    def _revoke_quietly(self, state: StoredSession) -> bool:
        token = state.refresh_token or state.access.access_token
        hint = "refresh_token" if state.refresh_token else "access_token"
        try:
            self._client(state).revoke(token, hint=hint)
        except BrokerError as exc:
            log.warning("could not revoke the session at %s: %s", state.server, exc.message)
            return False
        return True

    def _client(self, state: StoredSession, *, as_app: bool = False) -> TokenServiceClient:
        """The kept client of the session's server as the session's client (``as_app``:
        as this app's client, when there is an app id), holding the session's DPoP key."""
        client_id, secret = state.client_id, None
        if as_app and self.app_id is not None:
            client_id, secret = self.app_id, self.options.app_secret
        key = self._dpop_key(state)
        with self._clients_lock:
            client = self._clients.get((state.server, client_id))
            if client is not None and client.dpop_key is key:
                return client
            from tokenstile.broker.client import TokenServiceClient

            fresh = TokenServiceClient(
                state.server,
                client_id=client_id,
                client_secret=secret,
                transport=self._transport,
                timeout=self.options.http_timeout,
                dpop_key=key,
                verify=self._verify(),
            )
            self._clients[(state.server, client_id)] = fresh
        if client is not None:
            client.close()  # of an earlier session: network calls run under the session lock
        return fresh

    def _dpop_key(self, state: StoredSession) -> DpopKey | None:
        if state.dpop_key is None or state.dpop_jkt is None:
            return None
        key = self._dpop_keys.get(state.dpop_jkt)
        if key is None:
            from tokenstile.broker.dpop import DpopKey

            key = DpopKey.from_jwk(state.dpop_key)
            self._dpop_keys[state.dpop_jkt] = key
        return key

    def _verify(self) -> bool | str:
        return str(self.options.ca_file) if self.options.ca_file is not None else True

    def _pause(self) -> None:
        time.sleep(self.options.refresh_retry_delay)


def _close_clients(clients: dict[tuple[str, str], TokenServiceClient]) -> None:
    for client in list(clients.values()):
        client.close()
    clients.clear()


def _usable(token: AccessToken, now: float, min_ttl: float) -> bool:
    return token.expires_at - now >= min_ttl


def _fresh(token: AccessToken, now: float) -> bool:
    """Issued lately (while this process waited) and good for half its lifetime."""
    return token.expires_at - now >= (token.expires_at - token.issued_at) / 2


def _same(token: AccessToken, other: AccessToken | None) -> bool:
    return other is not None and token.access_token == other.access_token
