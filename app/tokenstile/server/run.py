"""Run the token service under uvicorn, refusing plain HTTP off loopback.

With ``workers`` > 1 the process binds the socket once and forks that many workers, each
with its own deployment (engine, pool, caches) serving the shared socket; the parent
only supervises: it restarts a worker that dies and passes SIGTERM/SIGINT on. Nothing
a request needs lives in a worker (see docs/deployment.md), so which one answers does
not matter.
"""

from __future__ import annotations

import contextlib
import ctypes
import gc
import logging
import os
import signal
import socket
import sys
import time
from typing import Any

from tokenstile.composition import ThreadedServer, uvicorn_config
from tokenstile.config import Settings
from tokenstile.deployment import Deployment
from tokenstile.errors import ConfigError
from tokenstile.protocol.loopback import is_loopback
from tokenstile.server.app import create_app
from tokenstile.server.metrics import metrics_app

log = logging.getLogger(__name__)


def check_transport(settings: Settings) -> None:
    if (settings.tls_cert is None) != (settings.tls_key is None):
        raise ConfigError("Give both --tls-cert and --tls-key, or neither.")
    if settings.tls_cert is None and not is_loopback(settings.host):
        raise ConfigError(
            f"Refusing to serve plain HTTP on {settings.host}: tokens must travel over TLS. "
            "Give --tls-cert and --tls-key, or listen on 127.0.0.1."
        )
    for path in (settings.tls_cert, settings.tls_key):
        if path is not None and not path.is_file():
            raise ConfigError(f"The TLS file {path} does not exist.")


def serve(settings: Settings, *, log_level: str = "info", on_ready: str | None = None) -> None:
    """Serve until interrupted. ``on_ready`` is printed once the socket is listening."""
    check_transport(settings)
    if settings.workers > 1 and settings.metrics_port:
        raise ConfigError(
            "metrics_port needs workers = 1: worker processes cannot share one metrics "
            "listener (run more replicas instead, each scraped on its own)."
        )
    deployment = Deployment(settings)
    try:
        deployment.require_ready()
    except BaseException:
        deployment.close()
        raise
    if settings.workers == 1:
        _serve_one(deployment, log_level=log_level, on_ready=on_ready, sock=None)
        return
    deployment.close()  # each worker opens its own connections after the fork
    sock = _bind(settings)
    if on_ready:
        print(on_ready, flush=True)  # the kernel queues connections until a worker accepts
    _Supervisor(settings, sock, log_level).run()


def _uvicorn_config(settings: Settings, app: Any, log_level: str) -> Any:
    trusted = ",".join(settings.forwarded_allow_ips)
    return uvicorn_config(
        app,
        log_level=log_level,
        host=settings.host,
        port=settings.port,
        ssl_certfile=str(settings.tls_cert) if settings.tls_cert else None,
        ssl_keyfile=str(settings.tls_key) if settings.tls_key else None,
        # X-Forwarded-For is believed only from the configured proxies (uvicorn's own
        # default trusts 127.0.0.1, which would let a local client pick its address).
        proxy_headers=bool(trusted),
        forwarded_allow_ips=trusted or None,
    )


def _serve_one(
    deployment: Deployment, *, log_level: str, on_ready: str | None, sock: socket.socket | None
) -> None:
    import uvicorn

    app = create_app(deployment)
    metrics = _metrics_listener(deployment.settings, app)
    server = uvicorn.Server(_uvicorn_config(deployment.settings, app, log_level))
    if on_ready:
        original_startup = server.startup

        async def startup(sockets: object = None) -> None:
            await original_startup(sockets)  # type: ignore[arg-type]
            print(on_ready, flush=True)

        server.startup = startup  # type: ignore[method-assign]
    # Everything built so far lives as long as the process: keep it out of the
    # collector's way, so collections under load stay short (they set the p99).
    gc.collect()
    gc.freeze()
    try:
        if metrics is not None and not metrics.start():
            raise ConfigError("The metrics listener did not start.")
        server.run(sockets=[sock] if sock is not None else None)
    finally:
        if metrics is not None:
            metrics.stop()
        deployment.close()


def _metrics_listener(settings: Settings, app: Any) -> ThreadedServer | None:
    """The separate ``/metrics`` listener on ``metrics_host:metrics_port`` (None: none)."""
    if not settings.metrics_port:
        return None
    token = settings.metrics_token.get_secret_value() if settings.metrics_token else None
    host = settings.metrics_host.strip("[]")
    listener = socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET)
    listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        listener.bind((host, settings.metrics_port))
    except OSError as exc:
        listener.close()
        raise ConfigError(
            f"Cannot listen for metrics on {settings.metrics_host}:{settings.metrics_port}: "
            f"{exc.strerror}."
        ) from exc
    listener.listen(64)
    listener.set_inheritable(False)
    return ThreadedServer(
        metrics_app(app.state.metrics, token), listener, name="tokenstile-metrics"
    )


def _bind(settings: Settings) -> socket.socket:
    family = socket.AF_INET6 if ":" in settings.host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((settings.host.strip("[]"), settings.port))
    except OSError as exc:
        sock.close()
        raise ConfigError(
            f"Cannot listen on {settings.host}:{settings.port}: {exc.strerror}."
        ) from exc
    sock.listen(2048)
    sock.set_inheritable(True)
    return sock


_PR_SET_PDEATHSIG = 1
_RESTART_PAUSE = 1.0


class _Supervisor:
    """Forks the workers, restarts one that dies, stops them all on SIGTERM/SIGINT."""

    def __init__(self, settings: Settings, sock: socket.socket, log_level: str) -> None:
        self._settings = settings
        self._sock = sock
        self._log_level = log_level
        self._children: set[int] = set()
        self._stopping = False

    def run(self) -> None:
        def stop(signum: int, _frame: object) -> None:
            self._stopping = True
            for pid in self._children:
                with contextlib.suppress(ProcessLookupError):
                    os.kill(pid, signal.SIGTERM)

        signal.signal(signal.SIGTERM, stop)
        signal.signal(signal.SIGINT, stop)
        for _ in range(self._settings.workers):
            self._fork()
        while self._children:
            try:
                pid, status = os.wait()
            except ChildProcessError:
                break
            except InterruptedError:
                continue
            self._children.discard(pid)
            if not self._stopping:
                log.error("worker %d ended (%s); starting another", pid, _describe(status))
                time.sleep(_RESTART_PAUSE)
                if not self._stopping:
                    self._fork()
        self._sock.close()

    def _fork(self) -> None:
        pid = os.fork()
        if pid:
            self._children.add(pid)
            return
        code = 1
        try:
            signal.signal(signal.SIGTERM, signal.SIG_DFL)
            signal.signal(signal.SIGINT, signal.SIG_DFL)
            _die_with_parent()
            deployment = Deployment(self._settings)
            _serve_one(deployment, log_level=self._log_level, on_ready=None, sock=self._sock)
            code = 0
        except BaseException:
            log.exception("worker %d failed", os.getpid())
        finally:
            sys.stdout.flush()
            sys.stderr.flush()
            os._exit(code)


def _die_with_parent() -> None:
    """Linux: a worker gets SIGTERM when the supervisor dies, even by SIGKILL."""
    with contextlib.suppress(OSError, AttributeError):
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(_PR_SET_PDEATHSIG, signal.SIGTERM)


def _describe(status: int) -> str:
    if os.WIFSIGNALED(status):
        return f"signal {os.WTERMSIG(status)}"
    return f"exit status {os.waitstatus_to_exitcode(status)}"
