"""Audit streaming: every audit row this process commits, also sent to syslog and/or a
signed webhook, off the request path.

The rows come from ``store.audit_feed`` once their transaction committed. Each sink has a
bounded queue and one daemon thread: handing a row over is a ``put_nowait``, and a row
that finds the queue full is dropped and counted (``tokenstile_audit_stream_dropped``),
so a slow or dead receiver never holds up a login. The database's audit table stays the
record; the stream is a copy for the SIEM.

**Syslog** (RFC 5424): ``<PRI>1 TIMESTAMP HOST tokenstile PID EVENT [tokenstile@32473
event="…" outcome="…"] BOM{json}``, facility authpriv, severity by outcome (``alert`` 1,
``failure`` 5, else 6). Over UDP one datagram a row (RFC 5426); over TCP and TLS
octet-counted frames (RFC 6587 section 3.4.1, RFC 5425), TLS verified against
``audit_syslog_ca_file`` or the system's CAs. 32473 is RFC 5612's example enterprise
number: the SD-ID is private to Tokenstile.

**Webhook**: a POST of ``{"events": [row, ...]}`` (up to ``WEBHOOK_BATCH`` rows) with

* ``X-Tokenstile-Delivery``: an id kept across the retries of one batch (deduplicate on it);
* ``X-Tokenstile-Timestamp``: Unix seconds of this attempt;
* ``X-Tokenstile-Signature``: ``v1=`` and the hex HMAC-SHA256, under the shared secret,
  of ``timestamp + "." + body`` (:func:`webhook_signature`).

A receiver checks it with :func:`verify_webhook`: the same HMAC in constant time, and a
timestamp within ``tolerance`` seconds of its clock (an old capture replayed fails). A
2xx answer is delivered; anything else (or no answer within the timeout; a redirect is
not followed) is tried again after a doubling backoff, and after the last attempt its
rows are counted as dead letters (``tokenstile_audit_stream_dead_letters``) and logged
without their content.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
import os
import queue
import socket
import ssl
import threading
import time
import uuid
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

import httpx
from prometheus_client import CollectorRegistry, Counter, Gauge

from tokenstile.config import Settings, syslog_target
from tokenstile.store import audit_feed
from tokenstile.store.audit_feed import AuditRow

if TYPE_CHECKING:
    from sqlalchemy import Engine

log = logging.getLogger(__name__)

SIGNATURE_HEADER = "X-Tokenstile-Signature"
TIMESTAMP_HEADER = "X-Tokenstile-Timestamp"
DELIVERY_HEADER = "X-Tokenstile-Delivery"
WEBHOOK_BATCH = 100
MAX_BACKOFF = 60.0
SD_ID = "tokenstile@32473"
_FACILITY_AUTHPRIV = 10
_SEVERITY = {"alert": 1, "failure": 5}
_INFORMATIONAL = 6
_UDP_MAX = 8192
_STOP_GRACE = 5.0  # seconds a stopping sink keeps delivering what is queued


def stream_record(row: AuditRow) -> dict[str, Any]:
    """A committed audit row as it is streamed: ``detail`` parsed, the time also in
    RFC 3339 (UTC)."""
    detail = row.get("detail")
    try:
        parsed = json.loads(detail) if isinstance(detail, str) else detail
    except ValueError:
        parsed = {"unparsed": detail}
    at = float(row.get("at") or 0.0)
    return {
        "at": at,
        "time": datetime.fromtimestamp(at, UTC).isoformat(timespec="microseconds"),
        "event": row.get("event"),
        "outcome": row.get("outcome"),
        "username": row.get("username"),
        "client_id": row.get("client_id"),
        "sid": row.get("sid"),
        "factor": row.get("factor"),
        "origin": row.get("origin"),
        "detail": parsed,
    }


# -- signatures --------------------------------------------------------------------------


def webhook_signature(secret: bytes, timestamp: str, body: bytes) -> str:
    """``v1=`` + hex HMAC-SHA256 of ``timestamp.body`` under ``secret``."""
    mac = hmac.new(secret, timestamp.encode("ascii") + b"." + body, hashlib.sha256)
    return "v1=" + mac.hexdigest()


def verify_webhook(
    secret: bytes,
    *,
    body: bytes,
    timestamp: str | None,
    signature: str | None,
    now: float,
    tolerance: float = 300.0,
) -> bool:
    """Whether a webhook request is Tokenstile's: its signature header matches ``body``
    and ``timestamp`` under ``secret`` (compared in constant time), and the timestamp is
    within ``tolerance`` seconds of ``now``. A receiver also drops a delivery id it has
    already processed (a retry after a lost answer)."""
    if not timestamp or not signature or not timestamp.isdigit() or len(timestamp) > 12:
        return False
    if abs(now - int(timestamp)) > tolerance:
        return False
    expected = webhook_signature(secret, timestamp, body)
    return hmac.compare_digest(expected.encode(), signature.strip().encode("ascii", "replace"))


# -- counters ----------------------------------------------------------------------------


class StreamCounters:
    """The streams' metrics, in the app's registry, labelled by sink (``syslog``,
    ``webhook``)."""

    def __init__(self, registry: CollectorRegistry) -> None:
        self.delivered = Counter(
            "tokenstile_audit_stream_delivered",
            "Audit rows a receiver accepted.",
            ["sink"],
            registry=registry,
        )
        self.dropped = Counter(
            "tokenstile_audit_stream_dropped",
            "Audit rows not streamed because the sink's queue was full.",
            ["sink"],
            registry=registry,
        )
        self.dead_letters = Counter(
            "tokenstile_audit_stream_dead_letters",
            "Audit rows given up on after the last delivery attempt.",
            ["sink"],
            registry=registry,
        )
        self.retries = Counter(
            "tokenstile_audit_stream_retries",
            "Delivery attempts that failed and were tried again.",
            ["sink"],
            registry=registry,
        )
        self.queued = Gauge(
            "tokenstile_audit_stream_queue_depth",
            "Audit rows waiting in the sink's queue.",
            ["sink"],
            registry=registry,
        )


# -- sinks -------------------------------------------------------------------------------


class AuditSink:
    """A bounded queue and the daemon thread that empties it into one receiver."""

    name = "sink"

    def __init__(
        self, *, capacity: int, counters: StreamCounters, attempts: int, backoff: float
    ) -> None:
        self._queue: queue.Queue[AuditRow] = queue.Queue(maxsize=capacity)
        self._counters = counters
        self._attempts = attempts
        self._backoff = backoff
        self._stop = threading.Event()
        self._deadline = float("inf")
        self._thread: threading.Thread | None = None
        counters.queued.labels(self.name).set_function(self._queue.qsize)
        for counter in (counters.delivered, counters.dropped, counters.dead_letters):
            counter.labels(self.name)  # present at 0 from the start

    def offer(self, row: AuditRow) -> None:
        """Queue ``row``; never waits: a full queue drops it, counted."""
        try:
            self._queue.put_nowait(row)
        except queue.Full:
            self._counters.dropped.labels(self.name).inc()

    def start(self) -> None:
        if self._thread is None:
            self._thread = threading.Thread(
                target=self._run, name=f"tokenstile-audit-{self.name}", daemon=True
            )
            self._thread.start()

    def stop(self) -> None:
        """Deliver what is queued for up to ``_STOP_GRACE`` seconds, then give up."""
        self._deadline = time.monotonic() + _STOP_GRACE
        self._stop.set()
        if self._thread is not None:
            self._thread.join(_STOP_GRACE + 5.0)
            self._thread = None
        self._close()

    def _run(self) -> None:
        while True:
            try:
                first = self._queue.get(timeout=0.2)
            except queue.Empty:
                if self._stop.is_set():
                    return
                continue
            batch = [first]
            while len(batch) < self._batch_size():
                try:
                    batch.append(self._queue.get_nowait())
                except queue.Empty:
                    break
            self._deliver(batch)

    def _batch_size(self) -> int:
        return 1

    def _deliver(self, batch: list[AuditRow]) -> None:
        attempt = 1
        while True:
            try:
                ok = self._send(batch)
            except Exception as exc:  # noqa: BLE001 - a sink's thread must keep going
                log.warning("audit %s: delivery failed: %s", self.name, type(exc).__name__)
                ok = False
            if ok:
                self._counters.delivered.labels(self.name).inc(len(batch))
                return
            if attempt >= self._attempts or self._stopping_past_deadline():
                self._counters.dead_letters.labels(self.name).inc(len(batch))
                log.warning(
                    "audit %s: %d row(s) given up on after %d attempt(s)",
                    self.name,
                    len(batch),
                    attempt,
                )
                return
            self._counters.retries.labels(self.name).inc()
            delay = min(MAX_BACKOFF, self._backoff * 2 ** (attempt - 1))
            if self._stop.is_set():
                delay = min(delay, max(0.0, self._deadline - time.monotonic()))
            self._stop.wait(delay)
            attempt += 1

    def _stopping_past_deadline(self) -> bool:
        return self._stop.is_set() and time.monotonic() >= self._deadline

    def _send(self, batch: list[AuditRow]) -> bool:
        raise NotImplementedError

    def _close(self) -> None:
        """Release the connection (after the thread ended)."""


def _sd_escape(value: str) -> str:
    """An SD-PARAM value (RFC 5424 section 6.3.3): ``"``, ``\\`` and ``]`` escaped, control
    characters left out (a line break would end the message for some receivers)."""
    visible = "".join(c for c in value if ord(c) >= 32 and ord(c) != 127)
    return visible.replace("\\", "\\\\").replace('"', '\\"').replace("]", "\\]")


def _printable(value: str, limit: int) -> str:
    """PRINTUSASCII only (RFC 5424 header fields), at most ``limit`` characters."""
    cleaned = "".join(c for c in value if 33 <= ord(c) <= 126)[:limit]
    return cleaned or "-"


def syslog_message(row: AuditRow, *, hostname: str, pid: int) -> bytes:
    """One audit row as an RFC 5424 message."""
    record = stream_record(row)
    outcome = str(record["outcome"] or "")
    pri = _FACILITY_AUTHPRIV * 8 + _SEVERITY.get(outcome, _INFORMATIONAL)
    event = str(record["event"] or "")
    timestamp = datetime.fromtimestamp(record["at"], UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
    structured = f'[{SD_ID} event="{_sd_escape(event)}" outcome="{_sd_escape(outcome)}"]'
    header = (
        f"<{pri}>1 {timestamp} {_printable(hostname, 255)} tokenstile {pid} "
        f"{_printable(event, 32)} {structured} "
    )
    body = json.dumps(record, ensure_ascii=False, separators=(",", ":"), default=str)
    return header.encode("utf-8") + b"\xef\xbb\xbf" + body.encode("utf-8")


class SyslogSink(AuditSink):
    """RFC 5424 to a syslog receiver over UDP, TCP or TLS; reconnects after a failure."""

    name = "syslog"

    def __init__(self, target: str, *, ca_file: str | None = None, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self._scheme, self._host, self._port = syslog_target(target)
        self._ca_file = ca_file
        self._sock: socket.socket | None = None
        self._hostname = socket.gethostname()
        self._pid = os.getpid()

    def _connect(self) -> socket.socket:
        if self._scheme == "udp":
            sock = socket.socket(
                socket.AF_INET6 if ":" in self._host else socket.AF_INET, socket.SOCK_DGRAM
            )
            sock.connect((self._host, self._port))
            return sock
        sock = socket.create_connection((self._host, self._port), timeout=10)
        if self._scheme == "tls":
            context = ssl.create_default_context(cafile=self._ca_file)
            sock = context.wrap_socket(sock, server_hostname=self._host)
        return sock

    def _send(self, batch: list[AuditRow]) -> bool:
        message = syslog_message(batch[0], hostname=self._hostname, pid=self._pid)
        if self._scheme == "udp" and len(message) > _UDP_MAX:
            row = dict(batch[0])
            row["detail"] = json.dumps({"truncated": True})
            message = syslog_message(row, hostname=self._hostname, pid=self._pid)
        frame = message if self._scheme == "udp" else str(len(message)).encode() + b" " + message
        try:
            if self._sock is None:
                self._sock = self._connect()
            self._sock.sendall(frame)
        except OSError as exc:
            log.info("audit syslog: cannot send to %s: %s", self._host, type(exc).__name__)
            self._close()
            return False
        return True

    def _close(self) -> None:
        if self._sock is not None:
            try:
                self._sock.close()
            finally:
                self._sock = None


class WebhookSink(AuditSink):
    """Signed JSON POSTs of up to ``WEBHOOK_BATCH`` rows to one URL."""

    name = "webhook"

    def __init__(
        self,
        url: str,
        *,
        secret: bytes,
        timeout: float,
        clock: Callable[[], float] = time.time,
        transport: httpx.BaseTransport | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self._url = url
        self._secret = secret
        self._clock = clock
        self._http = httpx.Client(
            timeout=httpx.Timeout(timeout),
            follow_redirects=False,
            transport=transport,
            headers={"User-Agent": "tokenstile-audit-webhook"},
        )
        self._delivery: str | None = None

    def _batch_size(self) -> int:
        return WEBHOOK_BATCH

    def _deliver(self, batch: list[AuditRow]) -> None:
        self._delivery = uuid.uuid4().hex  # one id for every attempt of this batch
        super()._deliver(batch)

    def _send(self, batch: list[AuditRow]) -> bool:
        body = json.dumps(
            {"events": [stream_record(row) for row in batch]},
            ensure_ascii=False,
            separators=(",", ":"),
            default=str,
        ).encode("utf-8")
        timestamp = str(int(self._clock()))
        headers = {
            "Content-Type": "application/json",
            TIMESTAMP_HEADER: timestamp,
            SIGNATURE_HEADER: webhook_signature(self._secret, timestamp, body),
            DELIVERY_HEADER: self._delivery or uuid.uuid4().hex,
        }
        try:
            answer = self._http.post(self._url, content=body, headers=headers)
        except httpx.HTTPError as exc:
            log.info("audit webhook: no answer: %s", type(exc).__name__)
            return False
        if 200 <= answer.status_code < 300:
            return True
        log.info("audit webhook: answered %d", answer.status_code)
        return False

    def _close(self) -> None:
        self._http.close()


# -- wiring ------------------------------------------------------------------------------


class AuditStreams:
    """The sinks the settings name, fed by the committed audit rows of one engine while
    the app serves (:meth:`lifespan`)."""

    def __init__(self, engine: Engine, sinks: list[AuditSink]) -> None:
        self._engine = engine
        self.sinks = sinks
        self._stop_listening: Callable[[], None] | None = None

    def offer(self, row: AuditRow) -> None:
        for sink in self.sinks:
            sink.offer(row)

    def start(self) -> None:
        for sink in self.sinks:
            sink.start()
        if self._stop_listening is None and self.sinks:
            self._stop_listening = audit_feed.listen(self._engine, self.offer)

    def stop(self) -> None:
        if self._stop_listening is not None:
            self._stop_listening()
            self._stop_listening = None
        for sink in self.sinks:
            sink.stop()

    @asynccontextmanager
    async def lifespan(self, _app: object) -> AsyncIterator[None]:
        import asyncio

        self.start()
        try:
            yield
        finally:
            await asyncio.to_thread(self.stop)


def audit_streams(
    settings: Settings,
    engine: Engine,
    registry: CollectorRegistry,
) -> AuditStreams:
    """The streams ``settings`` ask for (none: an ``AuditStreams`` with no sink)."""
    counters = StreamCounters(registry)
    common: dict[str, Any] = {
        "capacity": settings.audit_stream_queue,
        "counters": counters,
        "attempts": settings.audit_webhook_attempts,
        "backoff": settings.audit_webhook_backoff,
    }
    sinks: list[AuditSink] = []
    if settings.audit_syslog is not None:
        ca = settings.audit_syslog_ca_file
        sinks.append(SyslogSink(settings.audit_syslog, ca_file=str(ca) if ca else None, **common))
    if settings.audit_webhook_url is not None and settings.audit_webhook_secret is not None:
        sinks.append(
            WebhookSink(
                settings.audit_webhook_url,
                secret=settings.audit_webhook_secret.get_secret_value().encode("utf-8"),
                timeout=settings.audit_webhook_timeout,
                **common,
            )
        )
    return AuditStreams(engine, sinks)
