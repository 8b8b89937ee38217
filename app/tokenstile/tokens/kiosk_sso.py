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

The hand-offs are kept in the database (``kiosk_sso_handoffs``, through the
:class:`HandOffTx` port), so each of the three steps may land on any replica (``uvicorn
--workers N``, or several servers on one PostgreSQL). The checks are read from the row
and made here; the step itself is one conditional UPDATE (not claimed, not expired, and
for :meth:`KioskSso.satisfy` not yet satisfied) whose row count decides, so of two
replicas that satisfy or claim the same hand-off at once exactly one succeeds. At most
:data:`MAX_HANDOFFS` open ones at once (more are refused), and ``POST /authorize/sso``,
which makes them, counts against the shared ``challenges`` rate limit per client
address; the periodic purge deletes expired ones.
"""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
from contextlib import AbstractContextManager
from dataclasses import dataclass
from typing import Literal, Protocol

from tokenstile.clock import Clock
from tokenstile.errors import InvalidGrant as HandOffRefused
from tokenstile.errors import TokenstileError
from tokenstile.tokens.authorization_code import CodeTx, ProviderSession
from tokenstile.tokens.dpop import check_token_binding
from tokenstile.tokens.introspection import TokenIntrospection
from tokenstile.tokens.model import AuditEvent

HANDOFF_LIFETIME = 60.0  # seconds: a click on the page, two redirects and a click
HANDOFF_BYTES = 32
MAX_HANDOFFS = 10_000  # open at once, on all replicas; more are refused
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


class HandOffTx(CodeTx, Protocol):
    """``CodeTx`` plus the hand-offs, by the SHA-256 of their ids
    (``store.authorization_repository``)."""

    def count_open_handoffs(self, *, now: float) -> int:
        """Hand-offs neither claimed nor expired."""
        ...

    def add_handoff(
        self,
        handoff_hash: bytes,
        *,
        browser_hash: bytes,
        request: tuple[tuple[str, str], ...],
        expires_at: float,
    ) -> None: ...

    def find_handoff(self, handoff_hash: bytes) -> HandOff | None:
        """The hand-off in any state (claimed or expired too)."""
        ...

    def satisfy_handoff(
        self, handoff_hash: bytes, *, sid: str, ticket_hash: bytes, now: float
    ) -> bool:
        """``sid, ticket_hash = ... WHERE sid IS NULL AND claimed = false AND expires_at >
        :now``: True for the one caller that did it."""
        ...

    def claim_handoff(self, handoff_hash: bytes, *, now: float) -> bool:
        """``claimed = true WHERE claimed = false AND expires_at > :now``: True for the
        one caller that did it."""
        ...


class HandOffStore(Protocol):
    def write(self) -> AbstractContextManager[HandOffTx]: ...

    def read(self) -> AbstractContextManager[HandOffTx]: ...


def _hash(value: str) -> bytes:
    return hashlib.sha256(value.encode()).digest()


class KioskSso:
    """The hand-offs of the deployment (every replica's, in its database)."""

    def __init__(
        self,
        introspection: TokenIntrospection,
        store: HandOffStore,
        clock: Clock,
        *,
        lifetime: float = HANDOFF_LIFETIME,
    ) -> None:
        self._introspection = introspection
        self._store = store
        self._clock = clock
        self._lifetime = lifetime

    def start(self, pre_session: str, request: tuple[tuple[str, str], ...]) -> str:
        """A new hand-off for this browser and this authorization request: its id."""
        now = self._clock.now()
        handoff = secrets.token_urlsafe(HANDOFF_BYTES)
        with self._store.write() as tx:
            full = tx.count_open_handoffs(now=now) >= MAX_HANDOFFS
            if not full:
                tx.add_handoff(
                    _hash(handoff),
                    browser_hash=_hash(pre_session),
                    request=request,
                    expires_at=now + self._lifetime,
                )
        if full:
            raise HandOffRefused("Too many kiosk sign-ins are waiting; try again shortly.")
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
        with self._store.write() as tx:
            found = self._open(tx, handoff, now)
            taken = (
                found is not None
                and found.sid is None
                and tx.satisfy_handoff(
                    _hash(handoff), sid=session, ticket_hash=_hash(ticket), now=now
                )
            )
        outcome: Literal["success", "failure"] = "success" if taken else "failure"
        self._audit(outcome, username, session, origin)
        if outcome != "success":
            raise HandOffRefused("This kiosk sign-in hand-off is not valid.")
        return ticket

    def peek(
        self, handoff: str, ticket: str, pre_session: str | None
    ) -> tuple[HandOff, ProviderSession]:
        """The satisfied hand-off of this browser (its cookie) that came back through the
        broker (its ticket), and its live kiosk session; not used."""
        return self._take(handoff, ticket, pre_session, use=False)

    def claim(
        self, handoff: str, ticket: str, pre_session: str | None
    ) -> tuple[HandOff, ProviderSession]:
        """As :meth:`peek`, and the hand-off is used: a second claim, here or on any
        other replica, at the same time or later, is refused."""
        return self._take(handoff, ticket, pre_session, use=True)

    def request_of(self, handoff: str, pre_session: str | None) -> tuple[tuple[str, str], ...]:
        """The authorization request of this browser's open hand-off, satisfied or not
        (to show the sign-in page again); refused for another browser's."""
        now = self._clock.now()
        with self._store.read() as tx:
            found = self._open(tx, handoff, now)
        if found is None or not _same_browser(found, pre_session):
            raise HandOffRefused("This kiosk sign-in hand-off is not valid.")
        return found.request

    # -- inside --------------------------------------------------------------------------

    def _kiosk_session(self, access_token: str, dpop_jkt: str | None) -> tuple[str, str]:
        """The sid and username of the live kiosk session whose own local token this is."""
        refused = HandOffRefused("The kiosk session is not valid.")
        found = self._introspection.local_session(access_token)
        if found is None or found.client is None or found.client.kind != KIOSK_KIND:
            raise refused
        try:
            check_token_binding(found.claims, dpop_jkt)
        except TokenstileError as exc:
            raise refused from exc
        return found.session.sid, found.user.username

    def _open(self, tx: HandOffTx, handoff: str, now: float) -> HandOff | None:
        if HANDOFF_PATTERN.fullmatch(handoff) is None:
            return None
        found = tx.find_handoff(_hash(handoff))
        if found is None or found.claimed or now >= found.expires_at:
            return None
        return found

    def _take(
        self, handoff: str, ticket: str, pre_session: str | None, *, use: bool
    ) -> tuple[HandOff, ProviderSession]:
        """This browser's satisfied hand-off with its ticket, used when ``use``. The right
        ticket in another browser (carried to the broker by another one) burns it."""
        now = self._clock.now()
        with self._store.write() as tx:
            found = self._open(tx, handoff, now)
            verdict = _verdict(found, ticket, pre_session)
            if verdict == "burn" or (verdict == "mine" and use):
                won = tx.claim_handoff(_hash(handoff), now=now)
                if not won:  # another request (on any replica) used it first
                    verdict = "refused"
        if verdict != "mine" or found is None:
            raise HandOffRefused("This kiosk sign-in hand-off is not valid.")
        return found, self._live(found)

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


def _verdict(
    found: HandOff | None, ticket: str, pre_session: str | None
) -> Literal["mine", "burn", "refused"]:
    """``mine``: satisfied, this browser's, this ticket; ``burn``: the right ticket in
    another browser; else ``refused``."""
    if found is None or found.sid is None or found.ticket is None:
        return "refused"
    right_ticket = hmac.compare_digest(found.ticket, _hash(ticket))
    if not _same_browser(found, pre_session):
        return "burn" if right_ticket else "refused"
    return "mine" if right_ticket else "refused"


def _same_browser(found: HandOff, pre_session: str | None) -> bool:
    return pre_session is not None and hmac.compare_digest(found.browser, _hash(pre_session))
