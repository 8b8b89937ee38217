"""Prometheus metrics of one server process (``/metrics``, prometheus-client's text format).

What is counted, and from where:

* HTTP requests and their latency, per route *template* (``/admin/users/{username}``,
  never the path asked for), method and status: :class:`MetricsMiddleware`, outermost,
  so rate-limit refusals and 404s are counted too (a path no route serves is
  ``unmatched``).
* Logins per factor and outcome, refreshes, reuse detections, lockouts, back-channel
  delivery failures, and every audit event by name and outcome: from the audit rows this
  process *committed* (``store.audit_feed``), so a counter moves exactly when the audit
  log does, and a rolled-back attempt counts nothing.
* Rate-limit refusals per limit (``RateLimiter.on_refusal``), group-commit batch sizes
  (SQLite, ``Store.observe_group_commits``), and, read at each scrape, the database
  pool's use and the age of the key that signs now; the audit streams add their own
  (``server.audit_stream``).

Labels take values from fixed sets only (a factor the code does not know is ``other``):
no username, client id, token, address or path ever becomes a label, so nothing a
stranger sends can grow the series or be read back from them.

Who may read them: on the service's port only a request with ``Authorization: Bearer
<metrics_token>`` (no token configured: the route does not exist there); on
``metrics_port``, a listener of its own (loopback by default). Every replica, and every
worker process, reports its own counts: Prometheus sums them over the replicas it scrapes.
"""

from __future__ import annotations

import hmac
import json
import logging
import time
import weakref
from collections.abc import Callable, Iterable, Iterator
from typing import TYPE_CHECKING, Any

from prometheus_client import CollectorRegistry, Counter, Histogram
from prometheus_client.exposition import CONTENT_TYPE_LATEST, generate_latest
from prometheus_client.metrics_core import GaugeMetricFamily, Metric
from prometheus_client.registry import Collector
from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from tokenstile.store import audit_feed
from tokenstile.store.audit_feed import AuditRow

if TYPE_CHECKING:
    from tokenstile.deployment import Deployment

log = logging.getLogger(__name__)

METRICS_PATH = "/metrics"
UNMATCHED = "unmatched"
OTHER = "other"
_METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})
_FACTORS = frozenset({"otp", "fido2", "piv"})
_OUTCOMES = frozenset({"success", "failure", "alert", "info"})
# The audit events that are a factor login (success or refusal), by the factor they are.
LOGIN_EVENTS = {"otp_login": "otp", "fido2_login": "fido2", "piv_login": "piv"}
REFRESH_EVENTS = frozenset({"refresh", "refresh_retry"})
# detail.reason of a refusal that is a reuse detection, and what was reused.
REUSE_REASONS = {"refresh_token_reuse": "refresh_token", "code_reuse": "authorization_code"}
LOCKOUT_EVENTS = {"otp_credential_locked": "credential", "otp_user_locked": "user"}
_LATENCY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)
_BATCH_BUCKETS = (1, 2, 4, 8, 16, 32, 64, 128, 256)


def _event_label(name: object) -> str:
    """An audit event's name as a label: the code names them (lower case, short);
    anything else is ``other``."""
    if isinstance(name, str) and 0 < len(name) <= 48 and name.replace("_", "").isalnum():
        return name if name.islower() else OTHER
    return OTHER


class ServiceMetrics:
    """The metrics of one app: its own registry, fed by the middleware, the audit rows
    committed through its deployment's engine, and the collectors read at a scrape."""

    def __init__(self, deployment: Deployment) -> None:
        self.deployment = deployment
        self.registry = CollectorRegistry()
        r = self.registry
        self.requests = Counter(
            "tokenstile_http_requests",
            "HTTP requests answered, per route template, method and status code.",
            ["route", "method", "status"],
            registry=r,
        )
        self.latency = Histogram(
            "tokenstile_http_request_duration_seconds",
            "Time from a request's arrival to the end of its answer, per route template.",
            ["route", "method"],
            buckets=_LATENCY_BUCKETS,
            registry=r,
        )
        self.logins = Counter(
            "tokenstile_logins",
            "Factor logins (committed audit rows), per factor and outcome.",
            ["factor", "outcome"],
            registry=r,
        )
        self.refreshes = Counter(
            "tokenstile_refreshes",
            "Refresh grants (committed audit rows), per outcome.",
            ["outcome"],
            registry=r,
        )
        self.reuse = Counter(
            "tokenstile_reuse_detections",
            "Reused refresh tokens or authorization codes: the session was ended.",
            ["kind"],
            registry=r,
        )
        self.lockouts = Counter(
            "tokenstile_lockouts",
            "OTP lockouts: a credential or a person locked after too many failures.",
            ["scope"],
            registry=r,
        )
        self.backchannel_failures = Counter(
            "tokenstile_backchannel_delivery_failures",
            "Back-channel logouts given up on (after their last attempt, or refused).",
            registry=r,
        )
        self.audit_events = Counter(
            "tokenstile_audit_events",
            "Audit rows committed by this process, per event and outcome.",
            ["event", "outcome"],
            registry=r,
        )
        self.rate_limited = Counter(
            "tokenstile_rate_limit_refusals",
            "Requests refused by a rate limit, per limit.",
            ["limit"],
            registry=r,
        )
        self.group_commit = Histogram(
            "tokenstile_group_commit_batch_size",
            "Write jobs committed together in one SQLite transaction (group commit).",
            buckets=_BATCH_BUCKETS,
            registry=r,
        )
        r.register(_StateCollector(deployment))
        # Held weakly: the engine's listeners must not keep a dropped app alive.
        counted = weakref.WeakMethod(self.audit_row)

        def forward(row: AuditRow) -> None:
            count = counted()
            if count is not None:
                count(row)

        self._stop_listening = audit_feed.listen(deployment.engine, forward)
        deployment.store.observe_group_commits(self.group_commit.observe)

    def close(self) -> None:
        """Stop counting audit rows (the app is gone)."""
        self._stop_listening()

    def audit_row(self, row: AuditRow) -> None:
        """Count one committed audit row (``store.audit_feed`` listener)."""
        event = row.get("event")
        outcome = row.get("outcome")
        outcome = outcome if outcome in _OUTCOMES else OTHER
        self.audit_events.labels(_event_label(event), outcome).inc()
        if event in LOGIN_EVENTS:
            factor = row.get("factor")
            factor = factor if factor in _FACTORS else LOGIN_EVENTS[str(event)]
            self.logins.labels(factor, outcome).inc()
        elif event in REFRESH_EVENTS:
            self.refreshes.labels(outcome).inc()
        elif event in LOCKOUT_EVENTS:
            self.lockouts.labels(LOCKOUT_EVENTS[str(event)]).inc()
        elif event == "backchannel_logout_failed":
            self.backchannel_failures.inc()
        if outcome == "alert":
            reason = _detail_reason(row.get("detail"))
            if reason in REUSE_REASONS:
                self.reuse.labels(REUSE_REASONS[reason]).inc()

    def refused(self, limit: str) -> None:
        """Count one rate-limit refusal (``RateLimiter.on_refusal``)."""
        self.rate_limited.labels(_event_label(limit.replace("-", "_"))).inc()

    def exposition(self) -> bytes:
        return generate_latest(self.registry)


def _detail_reason(detail: object) -> str | None:
    if not isinstance(detail, str) or '"reason"' not in detail:
        return None
    try:
        parsed = json.loads(detail)
    except ValueError:
        return None
    reason = parsed.get("reason") if isinstance(parsed, dict) else None
    return reason if isinstance(reason, str) else None


class _StateCollector(Collector):
    """What is read at each scrape: the database pool and the signing key's age."""

    def __init__(self, deployment: Deployment) -> None:
        self._deployment = deployment

    def collect(self) -> Iterable[Metric]:
        yield from self._pool()
        yield from self._keys()

    def _pool(self) -> Iterator[Metric]:
        pool: Any = self._deployment.engine.pool
        size = getattr(pool, "size", None)
        checked_out = getattr(pool, "checkedout", None)
        if not callable(size) or not callable(checked_out):
            return  # a pool without a fixed size (SQLite in memory): nothing to say
        yield GaugeMetricFamily(
            "tokenstile_db_pool_size", "Connections the pool keeps open.", value=size()
        )
        yield GaugeMetricFamily(
            "tokenstile_db_pool_checked_out",
            "Pool connections in use by a request right now.",
            value=checked_out(),
        )
        overflow = getattr(pool, "overflow", None)
        if callable(overflow):
            yield GaugeMetricFamily(
                "tokenstile_db_pool_overflow",
                "Connections open beyond the pool's size (negative: not yet opened).",
                value=overflow(),
            )

    def _keys(self) -> Iterator[Metric]:
        deployment = self._deployment
        try:
            ring = deployment.keyring()
            now = deployment.clock.now()
            signer = ring.signer(now)
        except Exception as exc:  # noqa: BLE001 - a scrape reports what it can
            log.warning("metrics: cannot read the signing keys: %s", type(exc).__name__)
            return
        yield GaugeMetricFamily(
            "tokenstile_signing_key_age_seconds",
            "Seconds since the key that signs now was made (rotate-keys resets it).",
            value=max(0.0, now - signer.created_at),
        )
        yield GaugeMetricFamily(
            "tokenstile_signing_keys_published",
            "Keys in the JWKS now.",
            value=len(ring.published(now)),
        )


def route_template(scope: Scope, known_paths: frozenset[str]) -> str:
    """The template of the route that served the request (the router leaves it in the
    scope); for a request refused before routing (a rate limit), its path when that is
    one of ``known_paths`` (fixed paths of the configuration); else :data:`UNMATCHED`."""
    path = getattr(scope.get("route"), "path", None)
    if isinstance(path, str):
        return path
    raw = scope.get("path")
    return raw if raw in known_paths else UNMATCHED


class MetricsMiddleware:
    """Pure ASGI, outermost: counts and times every HTTP request by route template."""

    def __init__(
        self, app: ASGIApp, *, metrics: ServiceMetrics, known_paths: frozenset[str]
    ) -> None:
        self._app = app
        self._metrics = metrics
        self._known = known_paths  # paths refused before routing that may be labels

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self._app(scope, receive, send)
            return
        started = time.perf_counter()
        status = 500  # an exception that escapes everything is answered 500 by uvicorn

        async def watch(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = int(message["status"])
            await send(message)

        try:
            await self._app(scope, receive, watch)
        finally:
            method = scope.get("method", "")
            method = method if method in _METHODS else OTHER
            route = route_template(scope, self._known)
            self._metrics.requests.labels(route, method, str(status)).inc()
            self._metrics.latency.labels(route, method).observe(time.perf_counter() - started)


def bearer_allowed(request: Request, token: str | None) -> bool:
    """Whether the request carries ``Authorization: Bearer <token>`` (constant time);
    with no token configured, whether the listener needs none (its own port)."""
    if token is None:
        return True
    scheme, _, value = request.headers.get("authorization", "").partition(" ")
    if scheme.lower() != "bearer":
        return False
    return hmac.compare_digest(value.strip().encode(), token.encode())


def metrics_endpoint(metrics: ServiceMetrics, token: str | None) -> Callable[[Request], Response]:
    """The handler of ``GET /metrics``: the text format to a holder of ``token``, 401
    (saying nothing else) to anyone else."""

    def scrape(request: Request) -> Response:
        if not bearer_allowed(request, token):
            return JSONResponse(
                {"error": "invalid_token", "error_description": "Metrics need the metrics token."},
                status_code=401,
                headers={"WWW-Authenticate": 'Bearer realm="tokenstile-metrics"'},
            )
        return Response(
            metrics.exposition(),
            media_type=CONTENT_TYPE_LATEST,
            headers={"Cache-Control": "no-store"},
        )

    return scrape


def metrics_app(metrics: ServiceMetrics, token: str | None) -> Starlette:
    """The app of the separate metrics listener (``metrics_port``): ``/metrics`` only."""
    handler = metrics_endpoint(metrics, token)

    async def scrape(request: Request) -> Response:
        return await run_in_threadpool(handler, request)  # a scrape may read the store

    return Starlette(routes=[Route(METRICS_PATH, scrape, methods=["GET"])])
