"""Run the token service under uvicorn, refusing plain HTTP off loopback."""

from __future__ import annotations

import gc
import ipaddress
import logging

from tokenstile.config import Settings
from tokenstile.deployment import Deployment
from tokenstile.errors import ConfigError

log = logging.getLogger(__name__)


def is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


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
    import uvicorn

    from tokenstile.server.app import create_app

    check_transport(settings)
    deployment = Deployment(settings)
    deployment.require_ready()
    app = create_app(deployment)
    config = uvicorn.Config(
        app,
        host=settings.host,
        port=settings.port,
        ssl_certfile=str(settings.tls_cert) if settings.tls_cert else None,
        ssl_keyfile=str(settings.tls_key) if settings.tls_key else None,
        log_level=log_level,
        access_log=False,
        server_header=False,
        log_config=None,
    )
    server = uvicorn.Server(config)
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
        server.run()
    finally:
        deployment.close()
