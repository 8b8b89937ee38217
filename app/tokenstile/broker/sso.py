"""Kiosk single sign-on, the broker's side: a loopback listener the kiosk process runs
(``docs/web-apps.md``, "Kiosk single sign-on").

The service's sign-in page sends the kiosk's browser to ``http://127.0.0.1:<port>/sso?
handoff=<id>`` (``kiosk_sso_port``: the same setting on both sides, since a page the
service renders must name the port). The listener:

- answers only ``GET /sso`` with one well-formed ``handoff`` parameter, only when the
  ``Host`` header is exactly ``127.0.0.1:<port>`` (a DNS-rebinding page has its own
  name there) and the request is a top-level navigation: no ``Origin`` header (a page's
  ``fetch`` or form post carries one) and, where the browser says, ``Sec-Fetch-Mode:
  navigate``;
- when the kiosk has a person signed in and is not locked (``available``), proves the
  session to **its own configured service** (never a URL from the request) at ``POST
  /sso/handoff`` with the session's own access token (``TokenstileAuth``: DPoP with a
  proof when the session is bound);
- always answers with an empty ``303`` to ``<service>/authorize/sso/continue?handoff=
  <id>``, where the service decides what the browser gets. No token, no name, no session
  detail ever goes to the browser or to any caller on loopback.
"""

from __future__ import annotations

import logging
import re
import threading
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlencode, urlsplit

import httpx

from tokenstile.broker.auth import TokenstileAuth
from tokenstile.broker.session import Broker
from tokenstile.errors import TokenstileError

logger = logging.getLogger(__name__)

HANDOFF = re.compile(r"[A-Za-z0-9_\-]{43}")
MAX_PATH = 256
TIMEOUT = 10.0


class KioskSsoListener:
    """The loopback endpoint of one kiosk: start it once, stop it at exit."""

    def __init__(
        self,
        broker: Broker,
        *,
        server: str,
        port: int,
        available: Callable[[], bool],
        transport: httpx.BaseTransport | None = None,
    ) -> None:
        self.server_url = server.rstrip("/")
        self._broker = broker
        self._available = available
        self._transport = transport
        self._http = ThreadingHTTPServer(("127.0.0.1", port), _handler(self))
        self._http.daemon_threads = True
        self.port = int(self._http.server_address[1])
        self.host = f"127.0.0.1:{self.port}"
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        self._thread = threading.Thread(
            target=self._http.serve_forever, name="tokenstile-kiosk-sso", daemon=True
        )
        self._thread.start()

    def stop(self) -> None:
        self._http.shutdown()
        self._http.server_close()
        if self._thread is not None:
            self._thread.join(10)

    def continue_url(self, handoff: str, ticket: str | None) -> str:
        query = {"handoff": handoff, **({"ticket": ticket} if ticket else {})}
        return f"{self.server_url}/authorize/sso/continue?{urlencode(query)}"

    def vouch(self, handoff: str) -> str | None:
        """Prove the kiosk session for ``handoff`` at the configured service: the
        service's one-time ticket for the browser's way back, or None. Never raises for
        the service's refusal or absence (the browser is sent back all the same and the
        service shows its sign-in page)."""
        if not self._available():
            return None
        info = self._broker.session()
        if info is None or info.server.rstrip("/") != self.server_url:
            return None  # no session, or one at another service: nothing to prove here
        try:
            with httpx.Client(
                auth=TokenstileAuth(broker=self._broker),
                timeout=TIMEOUT,
                transport=self._transport,
                follow_redirects=False,
            ) as http:
                answer = http.post(f"{self.server_url}/sso/handoff", data={"handoff": handoff})
        except (httpx.HTTPError, TokenstileError) as exc:
            logger.warning(
                "kiosk single sign-on: no answer from the service (%s)", type(exc).__name__
            )
            return None
        try:
            ticket = answer.json().get("ticket") if answer.status_code == 200 else None
        except ValueError:
            ticket = None
        if not isinstance(ticket, str) or HANDOFF.fullmatch(ticket) is None:
            logger.info(
                "kiosk single sign-on: the service refused a hand-off (%s)", answer.status_code
            )
            return None
        return ticket


def _handler(listener: KioskSsoListener) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        server_version = "tokenstile-kiosk"
        sys_version = ""

        def do_GET(self) -> None:
            handoff = self._handoff()
            if handoff is None:
                self._refuse(400, "This is the kiosk's single sign-on; nothing to see here.")
                return
            ticket = listener.vouch(handoff)
            self.send_response(303)
            self.send_header("Location", listener.continue_url(handoff, ticket))
            self._common()
            self.send_header("Content-Length", "0")
            self.end_headers()

        def do_POST(self) -> None:
            self._refuse(405, "Only a browser's navigation is answered here.")

        do_PUT = do_DELETE = do_PATCH = do_OPTIONS = do_POST  # noqa: N815

        def _handoff(self) -> str | None:
            headers = self.headers
            if headers.get("Host") != listener.host or headers.get("Origin") is not None:
                return None
            mode = headers.get("Sec-Fetch-Mode")
            if mode is not None and mode != "navigate":
                return None
            if len(self.path) > MAX_PATH:
                return None
            parts = urlsplit(self.path)
            query = parse_qs(parts.query, keep_blank_values=True)
            values = query.get("handoff", [])
            if parts.path != "/sso" or set(query) != {"handoff"} or len(values) != 1:
                return None
            return values[0] if HANDOFF.fullmatch(values[0]) else None

        def _common(self) -> None:
            self.send_header("Cache-Control", "no-store")
            self.send_header("Referrer-Policy", "no-referrer")
            self.send_header("X-Content-Type-Options", "nosniff")
            self.send_header("Content-Security-Policy", "default-src 'none'")

        def _refuse(self, status: int, text: str) -> None:
            body = text.encode()
            self.send_response(status)
            self._common()
            self.send_header("Content-Type", "text/plain; charset=utf-8")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, format: str, *args: object) -> None:
            return  # the hand-off id is in the path: not logged

    return Handler
