"""Back-channel logout delivery (OpenID Connect Back-Channel Logout 1.0 section 2.5):
a daemon thread of every server replica that drains the ``backchannel_logouts`` queue.

Off the request path: ending a session only queues rows (``store.backchannel_repository``),
in the transaction that ends it. Every ``backchannel_poll_interval`` seconds this thread
claims due rows (each row goes to exactly one replica), signs each one's logout token
with the current key (a fresh ``iat``/``exp`` at every attempt, the delivery's own
``jti`` throughout), and POSTs it as ``application/x-www-form-urlencoded``
``logout_token=...`` to the client's registered URI:

* never following a redirect (a 3xx is a failure), within ``backchannel_timeout``
  seconds, reading at most ``MAX_ANSWER_BYTES`` of the answer;
* 200 (or 204, section 2.8 allows it) is delivered: ``backchannel_logout_delivered``;
* 400 is the app refusing the token (section 2.8): sending it again cannot help, so it
  fails at once; anything else (5xx, a refused connection, a timeout) is tried again
  after a doubling backoff, and after ``backchannel_attempts`` attempts it fails:
  ``backchannel_logout_failed``, outcome ``failure``.

Neither the token nor the answer's body is ever logged or audited: the audit rows name
the client, the person, the provider session, the attempt count and the HTTP status.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass

import httpx

from tokenstile.background import BackgroundLoop
from tokenstile.clock import Clock
from tokenstile.deployment import Deployment
from tokenstile.errors import TokenstileError
from tokenstile.store.backchannel_repository import PendingLogout, SqlBackchannelQueue
from tokenstile.tokens.keys import KeyRing
from tokenstile.tokens.logout import logout_token
from tokenstile.tokens.model import AuditEvent

log = logging.getLogger(__name__)

MAX_ANSWER_BYTES = 64 * 1024
BATCH = 20
DELIVERED = frozenset({200, 204})


@dataclass(frozen=True, slots=True)
class DeliveryPolicy:
    interval: float
    timeout: float
    attempts: int
    backoff: float
    max_backoff: float

    def delay(self, attempts: int) -> float:
        """How long after the ``attempts``-th failed attempt the next one comes."""
        return float(min(self.max_backoff, self.backoff * 2 ** max(0, attempts - 1)))


class BackchannelDelivery(BackgroundLoop):
    """Drains the queue on a daemon thread while the server serves (``lifespan``)."""

    def __init__(
        self,
        queue: SqlBackchannelQueue,
        *,
        keyring: Callable[[], KeyRing],
        issuer: str,
        clock: Clock,
        policy: DeliveryPolicy,
        transport: httpx.BaseTransport | None = None,
    ) -> None:
        super().__init__("tokenstile-backchannel", policy.interval)
        self._queue = queue
        self._keyring = keyring
        self._issuer = issuer
        self._clock = clock
        self._policy = policy
        self._transport = transport

    def _loop(self) -> None:
        with httpx.Client(
            timeout=httpx.Timeout(self._policy.timeout),
            follow_redirects=False,
            transport=self._transport,
            headers={"User-Agent": "tokenstile-backchannel-logout"},
        ) as http:
            while not self._stop.wait(self._policy.interval):
                try:
                    self.run_once(http)
                except TokenstileError as exc:
                    log.warning("back-channel logout delivery failed: %s", exc.message)
                except Exception:
                    log.exception("back-channel logout delivery failed")

    def run_once(self, http: httpx.Client) -> int:
        """Deliver what is due now; how many rows this replica claimed."""
        now = self._clock.now()
        # Held past one attempt's time limit, so no other replica claims it meanwhile.
        hold = self._policy.timeout * 2 + 5.0
        claimed = self._queue.claim(now=now, hold=hold, limit=BATCH)
        for item in claimed:
            if self._stop.is_set():
                break
            self._deliver(http, item)
        return len(claimed)

    def _post(self, http: httpx.Client, item: PendingLogout) -> str | int:
        """The HTTP status of the app's answer, or a short name of what went wrong."""
        token = logout_token(
            keyring=self._keyring(),
            issuer=self._issuer,
            client_id=item.client_id,
            subject=item.subject,
            sid=item.sid,
            jti=item.jti,
            now=self._clock.now(),
        )
        try:
            with http.stream(
                "POST",
                item.uri,
                data={"logout_token": token},
                headers={"Accept": "application/json", "Cache-Control": "no-store"},
            ) as answer:
                read = 0
                for chunk in answer.iter_bytes():
                    read += len(chunk)
                    if read > MAX_ANSWER_BYTES:
                        break
                return answer.status_code
        except httpx.TimeoutException:
            return "timeout"
        except httpx.HTTPError as exc:
            return type(exc).__name__

    def _deliver(self, http: httpx.Client, item: PendingLogout) -> None:
        outcome = self._post(http, item)
        now = self._clock.now()
        detail = {
            "attempts": item.attempts,
            "answer": outcome,
            "reason": item.reason,
            "app_sid": item.app_sid,
            "jti": item.jti,
        }
        if outcome in DELIVERED:
            self._queue.finish(
                item,
                state="delivered",
                at=now,
                audit=AuditEvent(
                    "backchannel_logout_delivered",
                    "success",
                    username=item.subject,
                    client_id=item.client_id,
                    sid=item.sid,
                    detail=detail,
                ),
            )
            return
        log.info(
            "back-channel logout to client %s: attempt %d answered %s",
            item.client_id,
            item.attempts,
            outcome,
        )
        if outcome == 400 or item.attempts >= self._policy.attempts:
            self._queue.finish(
                item,
                state="failed",
                at=now,
                audit=AuditEvent(
                    "backchannel_logout_failed",
                    "failure",
                    username=item.subject,
                    client_id=item.client_id,
                    sid=item.sid,
                    detail=detail,
                ),
            )
            return
        self._queue.retry(item, next_attempt_at=now + self._policy.delay(item.attempts))


def backchannel_delivery(deployment: Deployment) -> BackchannelDelivery:
    """The server's delivery thread, as the settings set it."""
    s = deployment.settings
    return BackchannelDelivery(
        SqlBackchannelQueue(deployment.store),
        keyring=deployment.keyring,
        issuer=s.issuer_url(),
        clock=deployment.clock,
        policy=DeliveryPolicy(
            interval=s.backchannel_poll_interval,
            timeout=s.backchannel_timeout,
            attempts=s.backchannel_attempts,
            backoff=s.backchannel_backoff,
            max_backoff=s.backchannel_max_backoff,
        ),
    )
