"""A desktop app on a Tokenstile machine: who is signed in, and their token at work.

    python examples/desktop-app/desktop_app.py [--resource URL] [--app-id ID]
        [--audience AUDIENCE] [--interval SECONDS]

It uses only the public SDK, ``tokenstile.broker``:

- ``Broker(app_id=...).token()`` gives the signed-in person's own access token
  (refreshed when due, under the broker's cross-process lock), or raises ``NotLoggedIn``;
  it is for the token service itself: ``TokenstileAuth(broker)`` sends it to
  ``/userinfo`` for the person's name, and nowhere else;
- ``TokenstileAuth(broker, audience=...)`` sends the resource server at ``--resource``
  (``GET /api/hello``, which checks it against the service's JWKS) a token narrowed to
  the API's audience by token exchange, requested as this app's client (``--app-id``,
  registered for that audience). Never hand the session's own token to an API: whoever
  holds it can trade it for any app's token.

It follows the session live: once a second it asks ``Broker.token()`` again. That answer
comes from the broker's memory (a few microseconds and one ``stat``) unless the session
changed in some process (a sign-in, a sign-out, a card pulled at the kiosk, a switch of
user) or the token is due for renewal; only then does it read the keychain and, when the
token changed, call the two endpoints again. So it never asks the network more often
than the broker itself needs to.

``tokenstile kiosk --demo`` starts it beside the kiosk with its resource server; it runs
on its own just as well against any signed-in session (``tokenstile login``).
"""

from __future__ import annotations

import argparse
import sys
import threading
from dataclasses import dataclass
from typing import Any

import httpx
from PySide6.QtCore import QObject, Qt, QTimer, Signal
from PySide6.QtGui import QGuiApplication, QKeyEvent
from PySide6.QtWidgets import QApplication, QLabel, QPushButton, QVBoxLayout, QWidget

from tokenstile.broker import Broker, BrokerError, NotLoggedIn, TokenstileAuth

TITLE = "Tokenstile sample app"
HELLO_PATH = "/api/hello"
# How the kiosk demo registers this app and its API (any deployment: `tokenstile manage
# client add NAME --kind app --audience AUDIENCE`, then pass --app-id and --audience).
APP_ID = "tokenstile-demo-app"
API_AUDIENCE = "urn:tokenstile:demo-api"


@dataclass(frozen=True, slots=True)
class Seen:
    """What the app shows: who is signed in, and what the resource server said."""

    signed_in: bool
    username: str = ""
    name: str = ""
    api: str = ""
    problem: str = ""

    def line(self) -> str:
        if not self.signed_in:
            return f"not signed in ({self.problem})" if self.problem else "not signed in"
        said = f"; the API says: {self.api}" if self.api else ""
        return f"signed in as {self.username} ({self.name}){said}"


class SessionWatch:
    """The part to copy: the person behind the broker's session, looked at again only
    when the token changes. No Qt here; :meth:`look` blocks (keychain, network)."""

    def __init__(
        self, broker: Broker, resource_url: str | None = None, audience: str = API_AUDIENCE
    ) -> None:
        self.broker = broker
        self.resource_url = resource_url.rstrip("/") if resource_url else None
        # The session's own token, for the token service only (/userinfo) ...
        self.http = httpx.Client(auth=TokenstileAuth(broker), timeout=5.0)
        # ... and a token narrowed to the API's audience for the API.
        self.api = httpx.Client(auth=TokenstileAuth(broker, audience=audience), timeout=5.0)
        self._token: str | None = None
        self._seen: Seen | None = None

    def look(self) -> Seen | None:
        """What is true now, when it differs from the last look (None: nothing new)."""
        try:
            token = self.broker.token().access_token
        except NotLoggedIn:
            return self._changed(None, Seen(signed_in=False))
        except BrokerError as exc:  # no keychain, the service unreachable: one sentence
            return self._changed(None, Seen(signed_in=False, problem=exc.message))
        if token == self._token:
            return None
        return self._changed(token, self._who())

    def _changed(self, token: str | None, seen: Seen) -> Seen | None:
        self._token = token
        if seen == self._seen:
            return None
        self._seen = seen
        return seen

    def _who(self) -> Seen:
        session = self.broker.session()
        if session is None:
            return Seen(signed_in=False)
        try:
            claims: dict[str, Any] = self.http.get(f"{session.server}/userinfo").json()
        except (httpx.HTTPError, ValueError, BrokerError):
            claims = {}
        name = claims.get("name") or session.display_name or session.username
        return Seen(
            signed_in=True,
            username=session.username,
            name=str(name),
            api=self._call_api(),
        )

    def _call_api(self) -> str:
        if self.resource_url is None:
            return ""
        try:
            answer = self.api.get(self.resource_url + HELLO_PATH)
        except (httpx.HTTPError, BrokerError) as exc:
            return f"not reachable ({type(exc).__name__})"
        try:
            body = answer.json()
        except ValueError:
            body = {}
        if answer.status_code != 200:
            return f"refused ({answer.status_code}: {body.get('error_description', '')})"
        amr = " ".join(body.get("amr", []))
        return f"{body.get('message', '')} (acr {body.get('acr')}, amr {amr})"

    def close(self) -> None:
        self.http.close()
        self.api.close()
        self.broker.close()


class _Results(QObject):
    seen = Signal(object)  # Seen, from the worker thread to the window's


class AppWindow(QWidget):
    """The window: the person's name, their username, what the API said."""

    def __init__(self, watch: SessionWatch, *, interval: float = 1.0) -> None:
        super().__init__()
        self.watch = watch
        self.setObjectName("sampleApp")
        self.setWindowTitle(f"Not signed in — {TITLE}")
        self.setMinimumWidth(420)
        self.setStyleSheet(
            "#sampleApp { background: #ffffff; }"
            "QLabel { color: #1d2733; font-size: 14px; }"
            "QLabel#heading { color: #4b5a6b; font-size: 13px; font-weight: 600; }"
            "QLabel#name { font-size: 24px; font-weight: 600; }"
            "QPushButton { padding: 8px 14px; font-size: 14px; border-radius: 8px;"
            " border: 1px solid #1e5a8a; background: #1e5a8a; color: #ffffff; }"
            "QPushButton:focus { border: 2px solid #f2b33d; }"
            "QPushButton:disabled { background: #c9d3de; border-color: #c9d3de; }"
        )
        layout = QVBoxLayout(self)
        layout.setContentsMargins(24, 20, 24, 20)
        layout.setSpacing(8)
        self.heading = self._label("A desktop app on this machine", "heading")
        self.name = self._label("Not signed in", "name")
        self.who = self._label("Sign in at the kiosk: this app follows the session.", "who")
        self.api = self._label("", "api")
        self.api.setAccessibleName("What the API said")
        self.again = QPushButton("Call the API again")
        self.again.setAccessibleName("Call the API again with the current token")
        self.again.clicked.connect(self.call_again)
        self.again.setEnabled(False)
        for widget in (self.heading, self.name, self.who, self.api, self.again):
            layout.addWidget(widget)
        layout.addStretch(1)

        self._results = _Results(self)
        self._results.seen.connect(self.show_seen)
        self._busy = threading.Lock()
        self._timer = QTimer(self)
        self._timer.setInterval(int(interval * 1000))
        self._timer.timeout.connect(self.look)
        self._timer.start()
        QTimer.singleShot(0, self.look)

    @staticmethod
    def _label(text: str, name: str) -> QLabel:
        label = QLabel(text)
        label.setObjectName(name)
        label.setWordWrap(True)
        label.setAccessibleName(text or name)
        label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        return label

    def look(self, *, again: bool = False) -> None:
        """Ask the broker on a worker thread (the keychain and the network block)."""
        if not self._busy.acquire(blocking=False):
            return  # the last look has not come back yet

        def work() -> None:
            try:
                if again:
                    self.watch._token = None
                    self.watch._seen = None
                seen = self.watch.look()
            finally:
                self._busy.release()
            if seen is not None:
                self._results.seen.emit(seen)

        threading.Thread(target=work, name="sample-app-look", daemon=True).start()

    def call_again(self) -> None:
        self.look(again=True)

    def show_seen(self, seen: Seen) -> None:
        print(f"desktop app: {seen.line()}", flush=True)
        if seen.signed_in:
            self.setWindowTitle(f"{seen.name} — {TITLE}")
            self.name.setText(seen.name)
            self.who.setText(f"Signed in at the kiosk as {seen.username}.")
            self.api.setText(f"The API: {seen.api}" if seen.api else "")
        else:
            self.setWindowTitle(f"Not signed in — {TITLE}")
            self.name.setText("Not signed in")
            self.who.setText(seen.problem or "Sign in at the kiosk: this app follows the session.")
            self.api.setText("")
        for label in (self.name, self.who, self.api):
            label.setAccessibleName(label.text() or label.objectName())
        self.again.setEnabled(seen.signed_in)

    def keyPressEvent(self, event: QKeyEvent) -> None:  # noqa: N802 - Qt's name
        if event.key() in (Qt.Key.Key_Return, Qt.Key.Key_Enter) and self.again.isEnabled():
            self.call_again()
            return
        super().keyPressEvent(event)

    def closeEvent(self, event: Any) -> None:  # noqa: N802 - Qt's name
        self._timer.stop()
        super().closeEvent(event)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="A sample desktop app of Tokenstile.")
    parser.add_argument("--resource", help="the resource server to call (its base URL)")
    parser.add_argument("--app-id", default=APP_ID, help=f"this app's client (default {APP_ID})")
    parser.add_argument(
        "--audience", default=API_AUDIENCE, help=f"the API's audience (default {API_AUDIENCE})"
    )
    parser.add_argument(
        "--interval", type=float, default=1.0, help="seconds between looks (default 1)"
    )
    parser.add_argument("--beside-demo", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    app = QApplication(sys.argv[:1])
    app.setApplicationName(TITLE)
    watch = SessionWatch(Broker(app_id=args.app_id), args.resource, args.audience)
    window = AppWindow(watch, interval=max(0.2, args.interval))
    window.resize(440, 300)
    if args.beside_demo:  # the kiosk demo opens at the top left: go to its right
        screen = QGuiApplication.primaryScreen().availableGeometry()
        window.move(max(0, screen.right() - 440 - 16), screen.top() + 40)
    window.show()
    try:
        return int(app.exec())
    finally:
        watch.close()


if __name__ == "__main__":
    sys.exit(main())
