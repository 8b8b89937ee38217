"""The demo's embedded token service: ASGI apps served on loopback threads of this process.

:class:`EmbeddedService` is the token service the demo people sign in to;
:class:`LoopbackServer` also serves the sample app's resource server.
"""

from __future__ import annotations

import socket

from tokenstile.composition import Services, ThreadedServer
from tokenstile.demo.errors import DemoError
from tokenstile.server.app import create_app


class LoopbackServer(ThreadedServer):
    """An ASGI app served on a background thread (:class:`ThreadedServer`); a start that
    fails is a :class:`DemoError`."""

    def start(self, timeout: float = 15.0) -> None:  # type: ignore[override]
        if not super().start(timeout):
            raise DemoError(f"The demo's {self.name} did not start: {self.failure!r}.")


class EmbeddedService(LoopbackServer):
    """The token service, in this process (see :class:`LoopbackServer`)."""

    def __init__(self, services: Services, listener: socket.socket) -> None:
        super().__init__(
            create_app(services.deployment, services=services), listener, name="demo-token-service"
        )
        self.services = services
        self.deployment = services.deployment
        self.url = services.settings.issuer_url()
