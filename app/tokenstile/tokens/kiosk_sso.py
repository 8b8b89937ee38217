"""Kiosk single sign-on: the hand-offs that let a browser on a kiosk use the person's
kiosk session for ``/authorize`` (``docs/web-apps.md``, "Kiosk single sign-on").

A **hand-off** is made for one authorization request in one browser: a 256-bit random
id (kept only as its SHA-256), bound to the hash of that browser's pre-session cookie,
carrying the (already checked) authorization request, living :data:`HANDOFF_LIFETIME`
seconds. The browser takes only the id to the kiosk's broker on loopback; the broker
proves the kiosk session with that session's own local access token (with its DPoP proof
when the session is bound) and the id (:meth:`KioskSso.satisfy`), and gets a one-time
ticket that its redirect hands the browser; the browser then comes back, and only the
browser whose cookie made the hand-off *and* that carries the ticket can
:meth:`KioskSso.claim` it, once. What the claim gives is the kiosk session itself:
its ``sid``, ``acr``, ``amr`` and ``auth_time`` go into the ID token unchanged.

The hand-offs are kept in this process's memory: they live a minute and a replica that
did not make one refuses it. With several replicas behind a balancer without sticky
sessions, kiosk single sign-on fails closed (the sign-in page is shown); keeping them in
the database is not built.
"""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
import threading
from dataclasses import dataclass, replace
from typing import Literal

from tokenstile.clock import Clock
from tokenstile.errors import InvalidGrant as HandOffRefused
from tokenstile.errors import TokenstileError
from tokenstile.tokens.authorization_code import CodeStore, ProviderSession
from tokenstile.tokens.dpop import check_token_binding
from tokenstile.tokens.introspection import TokenIntrospection
from tokenstile.tokens.minting import is_session_token
from tokenstile.tokens.model import LOCAL_AUDIENCE, AuditEvent

HANDOFF_LIFETIME = 60.0  # seconds: a click on the page, two redirects and a click
HANDOFF_BYTES = 32
MAX_HANDOFFS = 10_000  # outstanding at once; more are refused (memory stays bounded)
HANDOFF_PATTERN = re.compile(r"[A-Za-z0-9_\-]{43}")
KIOSK_KIND = "kiosk"


@dataclass(frozen=True, slots=True)
class HandOff:
    browser: bytes  # SHA-256 of the pre-session cookie that made it
    request: tuple[tuple[str, str], ...]  # the checked authorization request's parameters
    expires_at: float
    sid: str | None = None  # the kiosk session that satisfied it
    ticket: bytes | None = None  # SHA-256 of the ticket the broker took back to its browser
    claimed: bool = False


def _hash(value: str) -> bytes:
    return hashlib.sha256(value.encode()).digest()


class KioskSso:
    """The hand-offs of one service process."""

    def __init__(
        self,
        introspection: TokenIntrospection,
        store: CodeStore,
        clock: Clock,
        *,
        lifetime: float = HANDOFF_LIFETIME,
    ) -> None:
        self._introspection = introspection
        self._store = store
        self._clock = clock
        self._lifetime = lifetime
        self._handoffs: dict[bytes, HandOff] = {}
        self._lock = threading.Lock()

    def start(self, pre_session: str, request: tuple[tuple[str, str], ...]) -> str:
        """A new hand-off for this browser and this authorization request: its id."""
        now = self._clock.now()
        handoff = secrets.token_urlsafe(HANDOFF_BYTES)
        with self._lock:
            self._prune(now)
            if len(self._handoffs) >= MAX_HANDOFFS:
                raise HandOffRefused("Too many kiosk sign-ins are waiting; try again shortly.")
            self._handoffs[_hash(handoff)] = HandOff(
                _hash(pre_session), request, now + self._lifetime
            )
        return handoff

    def satisfy(
        self, handoff: str, access_token: str, *, dpop_jkt: str | None, origin: str | None
    ) -> str:
        """The broker's call: the kiosk session (by its own local access token, with its
        DPoP key when bound) takes an open hand-off. Anything else: :class:`HandOffRefused`.

        The answer is a one-time **ticket** that the broker puts in the browser's way
        back: the continuation needs both the cookie that made the hand-off and this
        ticket, so a hand-off made in one browser (a stranger's) and carried to the
        kiosk's broker by another (the kiosk's, lured there) completes in neither."""
        ticket = secrets.token_urlsafe(HANDOFF_BYTES)
        session, username = self._kiosk_session(access_token, dpop_jkt)
        now = self._clock.now()
        with self._lock:
            found = self._open(handoff, now)
            outcome: Literal["success", "failure"]
            if found is None or found.sid is not None:
                outcome = "failure"
            else:
                self._handoffs[_hash(handoff)] = replace(found, sid=session, ticket=_hash(ticket))
                outcome = "success"
        self._audit(outcome, username, session, origin)
        if outcome != "success":
            raise HandOffRefused("This kiosk sign-in hand-off is not valid.")
        return ticket

    def peek(
        self, handoff: str, ticket: str, pre_session: str | None
    ) -> tuple[HandOff, ProviderSession]:
        """The satisfied hand-off of this browser (its cookie) that came back through the
        broker (its ticket), and its live kiosk session; not used."""
        now = self._clock.now()
        with self._lock:
            found = self._mine(handoff, ticket, pre_session, now)
        return found, self._live(found)

    def claim(
        self, handoff: str, ticket: str, pre_session: str | None
    ) -> tuple[HandOff, ProviderSession]:
        """As :meth:`peek`, and the hand-off is used: a second claim is refused."""
        now = self._clock.now()
        with self._lock:
            found = self._mine(handoff, ticket, pre_session, now)
            self._handoffs[_hash(handoff)] = replace(found, claimed=True)
        return found, self._live(found)

    def request_of(self, handoff: str, pre_session: str | None) -> tuple[tuple[str, str], ...]:
        """The authorization request of this browser's open hand-off, satisfied or not
        (to show the sign-in page again); refused for another browser's."""
        now = self._clock.now()
        with self._lock:
            found = self._open(handoff, now)
        if found is None or not _same_browser(found, pre_session):
            raise HandOffRefused("This kiosk sign-in hand-off is not valid.")
        return found.request

    # -- inside --------------------------------------------------------------------------

    def _kiosk_session(self, access_token: str, dpop_jkt: str | None) -> tuple[str, str]:
        """The sid and username of the live kiosk session whose own local token this is."""
        refused = HandOffRefused("The kiosk session is not valid.")
        claims = self._introspection.read_access_token(access_token)
        if claims is None or claims.get("aud") != LOCAL_AUDIENCE:
            raise refused
        try:
            check_token_binding(claims, dpop_jkt)
        except TokenstileError as exc:
            raise refused from exc
        with self._store.read() as tx:
            session = tx.get_session(str(claims.get("sid", "")))
            user = tx.get_user(session.user_id) if session is not None else None
            client = tx.get_client(session.client_id) if session is not None else None
        if (
            session is None
            or user is None
            or not user.enabled
            or not is_session_token(claims, session)
            or client is None
            or client.kind != KIOSK_KIND
        ):
            raise refused
        return session.sid, user.username

    def _open(self, handoff: str, now: float) -> HandOff | None:
        if HANDOFF_PATTERN.fullmatch(handoff) is None:
            return None
        found = self._handoffs.get(_hash(handoff))
        if found is None or found.claimed or now >= found.expires_at:
            return None
        return found

    def _mine(self, handoff: str, ticket: str, pre_session: str | None, now: float) -> HandOff:
        refused = HandOffRefused("This kiosk sign-in hand-off is not valid.")
        found = self._open(handoff, now)
        if found is None or found.sid is None or found.ticket is None:
            raise refused
        right_ticket = hmac.compare_digest(found.ticket, _hash(ticket))
        if not _same_browser(found, pre_session):
            if right_ticket:  # carried to the broker by another browser: burn it
                self._handoffs[_hash(handoff)] = replace(found, claimed=True)
            raise refused
        if not right_ticket:
            raise refused
        return found

    def _live(self, found: HandOff) -> ProviderSession:
        now = self._clock.now()
        with self._store.read() as tx:
            session = tx.get_session(found.sid or "")
            user = tx.get_user(session.user_id) if session is not None else None
        if (
            session is None
            or user is None
            or not user.enabled
            or session.revoked_at is not None
            or now >= session.expires_at
            or now >= session.last_used_at + session.idle_timeout
        ):
            raise HandOffRefused("The sign-in at this kiosk has ended.")
        return ProviderSession(session, user)

    def _prune(self, now: float) -> None:
        for key in [k for k, v in self._handoffs.items() if now >= v.expires_at or v.claimed]:
            del self._handoffs[key]

    def _audit(
        self, outcome: Literal["success", "failure"], username: str, sid: str, origin: str | None
    ) -> None:
        with self._store.write() as tx:
            tx.audit(
                AuditEvent(
                    "kiosk_sso",
                    outcome,
                    username=username,
                    sid=sid,
                    origin=origin,
                    detail={"step": "satisfy"},
                ),
                at=self._clock.now(),
            )


def _same_browser(found: HandOff, pre_session: str | None) -> bool:
    return pre_session is not None and hmac.compare_digest(found.browser, _hash(pre_session))
