"""The kiosk's offline sign-in (issue 17), put together: the lease renewed after every
sign-in, the local checks when the service cannot be reached, the offline session, and
its way back.

:class:`OfflineDesk` is what :class:`~tokenstile.kiosk.service.BrokerSignIn` holds when
``kiosk_offline`` is on:

- after each online sign-in, :meth:`renew` asks the service for a new lease with the
  fresh session's token (on a daemon thread: the person is signed in already) and keeps
  it (:class:`~tokenstile.broker.offline.LeaseKeeper`);
- when a key or card sign-in finds the service out of reach, :meth:`sign_in_key` /
  :meth:`sign_in_card` run the same ceremony against the kept lease
  (:mod:`tokenstile.devices.offline_login`) and :meth:`open_session` keeps an offline
  session (:func:`~tokenstile.broker.offline.open_offline_session`); a fob cannot sign
  in offline (its secret never leaves the service);
- :meth:`tick` (the caller's timer, every few seconds) signs the offline token again
  before it runs out, and tries the way back: the evidence exchanged for a real session,
  with the kiosk's audit rows from offline. Refused (the factor was revoked meanwhile...)
  the offline session ends here and the reason is kept for the screen.

Nothing here reaches the service except through the broker, and no factor check runs
here: the checks are the devices layer's, against the service's signed lease.
"""

from __future__ import annotations

import logging
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from tokenstile.broker import (
    Broker,
    ServerUnreachable,
    SessionInfo,
    TokenGrant,
    TokenServiceClient,
)
from tokenstile.broker.errors import BrokerError, LoginRefused
from tokenstile.broker.offline import (
    KEY_ITEM,
    LEASE_ITEM,
    OFFLINE_SCOPE,
    OFFLINE_TOKEN_SECONDS,
    LeaseKeeper,
    OfflineSigner,
    open_offline_session,
)
from tokenstile.broker.store import KeyringStore, SessionStore
from tokenstile.clock import Clock
from tokenstile.devices.fido2_client import SecurityKeyClient
from tokenstile.devices.key_ceremonies import login_with_key
from tokenstile.devices.offline_login import (
    OfflineCardLogin,
    OfflineKeyLogin,
    OfflineSignIn,
    OfflineSignInRefused,
)
from tokenstile.devices.piv import PivCard
from tokenstile.devices.piv_login import PinPrompt, login_with_card
from tokenstile.protocol.offline_lease import Lease, LeaseInvalid

logger = logging.getLogger(__name__)

MAX_EVENTS = 50  # what the service takes with one exchange
NO_LEASE = (
    "The token service cannot be reached, and this kiosk has no current offline list: "
    "sign-in waits for the service."
)

Outcome = Literal["online", "offline", "ended", "none"]


@dataclass
class _Offline:
    sign_in: OfflineSignIn
    lease: Lease


class OfflineDesk:
    """One kiosk's offline sign-in over ``broker`` (see the module docstring)."""

    def __init__(
        self,
        *,
        broker: Broker,
        server: str,
        client_id: str,
        clock: Clock,
        lease_store: SessionStore | None = None,
        key_store: SessionStore | None = None,
        runtime: Path | None = None,
    ) -> None:
        self.broker = broker
        self.server = server
        self.client_id = client_id
        self.clock = clock
        self.keeper = LeaseKeeper(
            lease_store or KeyringStore(item=LEASE_ITEM), client_id=client_id, clock=clock
        )
        self.signer = OfflineSigner(
            key_store or KeyringStore(item=KEY_ITEM),
            client_id=client_id,
            clock=clock,
            runtime=runtime,
        )
        self._lock = threading.Lock()
        self._current: _Offline | None = None
        self._events: list[dict[str, object]] = []
        self.ended_because: str | None = None  # why the last offline session ended

    # -- online: keep the lease current -----------------------------------------------

    def renew(self, client: TokenServiceClient, access_token: str) -> bool:
        """A new lease for this kiosk; False (logged) when the service gives none."""
        try:
            self.keeper.renew(client, access_token)
        except (BrokerError, LeaseInvalid) as exc:
            logger.warning("kiosk: no new offline lease: %s", exc)
            return False
        return True

    def renew_later(self, client: TokenServiceClient, access_token: str) -> threading.Thread:
        thread = threading.Thread(
            target=self.renew, args=(client, access_token), name="offline-lease", daemon=True
        )
        thread.start()
        return thread

    # -- offline: the checks and the session ------------------------------------------

    def _lease(self) -> tuple[Lease, dict[str, int]]:
        try:
            kept = self.keeper.load()
        except LeaseInvalid as exc:
            logger.warning("kiosk: the offline lease kept here is refused: %s", exc)
            kept = None
        if kept is None:
            raise OfflineSignInRefused(NO_LEASE)
        return kept

    def sign_in_key(self, key: SecurityKeyClient, *, cancel: threading.Event) -> OfflineSignIn:
        lease, counters = self._lease()
        steps = OfflineKeyLogin(lease, origin=key.origin, clock=self.clock, counters=counters)
        try:
            done = login_with_key(key, steps, cancel=cancel)
        except OfflineSignInRefused:
            self._note("offline_sign_in", "failure", None)
            raise
        self.keeper.save_counters(counters)
        return done

    def sign_in_card(
        self, card: PivCard, ask_pin: PinPrompt, *, cancel: threading.Event
    ) -> OfflineSignIn:
        lease, _ = self._lease()
        steps = OfflineCardLogin(lease, origin=self.server, clock=self.clock)
        try:
            return login_with_card(card, steps, ask_pin, cancel=cancel)
        except OfflineSignInRefused:
            self._note("offline_sign_in", "failure", None)
            raise

    def grant(self, done: OfflineSignIn) -> TokenGrant:
        """What the window is handed for ``done`` (it reads who signed in from it):
        the kiosk's own token, until :meth:`open_session` keeps the session."""
        token, issued, expires = self.signer.token(
            username=done.username,
            amr=done.amr,
            acr=done.acr,
            auth_time=done.auth_time,
            lease_id=done.lease_id,
        )
        return TokenGrant(
            access_token=token,
            refresh_token=None,
            expires_in=max(1, int(expires - issued)),
            token_type="Bearer",  # noqa: S106 - the scheme's name
            scope=OFFLINE_SCOPE,
        )

    def open_session(self, done: OfflineSignIn) -> SessionInfo:
        lease, _ = self._lease()
        info = self._keep(done, lease)
        with self._lock:
            self._current = _Offline(done, lease)
            self.ended_because = None
        self._note("offline_sign_in", "success", done.username)
        return info

    @property
    def offline(self) -> bool:
        return self._current is not None

    def forget(self) -> None:
        """The person signed out (or switched): nothing to bring back."""
        with self._lock:
            if self._current is not None:
                self._note("offline_sign_out", "success", self._current.sign_in.username)
            self._current = None

    # -- the way back -------------------------------------------------------------------

    def tick(self, client: TokenServiceClient) -> Outcome:
        """Keep the offline token fresh, and try to exchange the sign-in for a real
        session: ``online`` (exchanged), ``offline`` (still), ``ended`` (refused: the
        offline session is gone, :attr:`ended_because` says why), ``none``."""
        with self._lock:
            current = self._current
        if current is None:
            return "none"
        try:
            grant = client.exchange_offline(
                current.sign_in.factor, current.sign_in.evidence, self._events[-MAX_EVENTS:]
            )
        except ServerUnreachable:
            self._refresh_token(current)
            return "offline"
        except LoginRefused as exc:
            with self._lock:
                self._current = None
                self.ended_because = exc.message
            self.broker.logout()
            return "ended"
        self.broker.save_login(grant, server=self.server, client_id=self.client_id)
        with self._lock:
            self._current = None
            self._events.clear()
        self.renew_later(client, grant.access_token)
        return "online"

    def _refresh_token(self, current: _Offline) -> None:
        info = self.broker.session()
        if info is None or not info.offline:
            return
        if info.access_expires_at - self.clock.now() > OFFLINE_TOKEN_SECONDS / 3:
            return
        self._keep(current.sign_in, current.lease)

    def _keep(self, done: OfflineSignIn, lease: Lease) -> SessionInfo:
        """A fresh kiosk-signed token for ``done`` kept as the broker's session."""
        return open_offline_session(
            self.broker,
            self.signer,
            server=self.server,
            client_id=self.client_id,
            username=done.username,
            display_name=done.display_name,
            amr=done.amr,
            acr=done.acr,
            auth_time=done.auth_time,
            lease=lease,
        )

    def _note(self, event: str, outcome: str, username: str | None) -> None:
        """An audit row the service takes with the exchange: names and outcomes only."""
        row: dict[str, object] = {"event": event, "outcome": outcome, "at": self.clock.now()}
        if username:
            row["username"] = username
        self._events.append(row)
        del self._events[:-MAX_EVENTS]
