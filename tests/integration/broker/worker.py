"""A local app in its own process, for the broker's integration tests.

``python -m tests.integration.broker.worker calls N PAUSE``: N calls of
``Broker().access_token(min_ttl=1)`` (a fresh Broker each time, as separate apps are),
PAUSE seconds apart; prints a JSON summary; exit status 0 when every call gave a token
that had not expired.

``python -m tests.integration.broker.worker hang MARKER``: one forced refresh whose
answer, once it has arrived, is never stored: the process writes MARKER and waits to be
killed (the server has rotated the refresh token; the keychain still has the old one).
"""

from __future__ import annotations

import base64
import json
import sys
import time
from pathlib import Path

import httpx

from tokenstile.broker import Broker, BrokerError


def _exp(token: str) -> float:
    payload = token.split(".")[1]
    return float(json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))["exp"])


def calls(count: int, pause: float) -> int:
    good, stale, errors = 0, 0, []
    for _ in range(count):
        try:
            token = Broker().access_token(min_ttl=1)
        except BrokerError as exc:
            errors.append(f"{exc.code}: {exc.message}")
        else:
            if _exp(token) > time.time():
                good += 1
            else:
                stale += 1
        time.sleep(pause)
    print(json.dumps({"good": good, "stale": stale, "errors": errors}))
    return 0 if good == count else 1


class _HangAfterRefresh(httpx.BaseTransport):
    def __init__(self, marker: Path) -> None:
        self._inner = httpx.HTTPTransport()
        self._marker = marker

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        response = self._inner.handle_request(request)
        if request.url.path == "/token":
            response.read()
            self._marker.write_text(str(response.status_code))
            time.sleep(600)  # killed here, before the broker stores the new tokens
        return response


def hang(marker: Path) -> int:
    Broker(transport=_HangAfterRefresh(marker)).access_token(min_ttl=10**6)
    return 1  # never reached


if __name__ == "__main__":
    if sys.argv[1] == "calls":
        sys.exit(calls(int(sys.argv[2]), float(sys.argv[3])))
    sys.exit(hang(Path(sys.argv[2])))
