"""The kiosk's ``PivLoginServer`` over HTTP, for tests: an ASGI ``TestClient`` or an
``httpx.Client`` to a real server process (the broker will own the real one)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Protocol

from tokenstile.devices.piv_login import PivChallenge
from tokenstile.protocol.jose import b64url_decode, b64url_encode


class _Poster(Protocol):
    @property
    def base_url(self) -> Any: ...

    def post(self, url: str, *, json: Any) -> Any: ...


class LoginRefused(Exception):
    def __init__(self, status: int, body: Mapping[str, Any]) -> None:
        super().__init__(f"{status}: {body}")
        self.status = status
        self.body = body


@dataclass
class HttpPivServer:
    """Begins at ``begin_client``, completes at ``complete_client`` (another replica) or
    the same one. ``origin`` is the service URL the kiosk is configured with (the card's
    signature names it): default the begin client's base URL."""

    begin_client: _Poster
    complete_client: _Poster | None = None
    client_id: str | None = None
    challenges: int = 0
    service_url: str | None = None
    confirm: dict[str, Any] | None = None  # the confirm member: a confirm, not a login

    @property
    def origin(self) -> str:
        if self.service_url is not None:
            return self.service_url
        return str(self.begin_client.base_url)

    def begin(self, certificate: bytes) -> PivChallenge:
        body: dict[str, Any] = {"certificate": b64url_encode(certificate)}
        if self.client_id is not None:
            body["client_id"] = self.client_id
        response = self.begin_client.post("/login/piv/challenge", json=body)
        if response.status_code != 200:
            raise LoginRefused(response.status_code, response.json())
        answer = response.json()
        self.challenges += 1
        return PivChallenge(
            handle=answer["handle"],
            challenge=b64url_decode(answer["challenge"]),
            expires_in=float(answer["expires_in"]),
        )

    def complete(self, handle: str, signature: bytes) -> Mapping[str, Any]:
        client = self.complete_client or self.begin_client
        body: dict[str, Any] = {"handle": handle, "signature": b64url_encode(signature)}
        if self.confirm is not None:
            body["confirm"] = self.confirm
        response = client.post("/login/piv", json=body)
        if response.status_code != 200:
            raise LoginRefused(response.status_code, response.json())
        answer: Mapping[str, Any] = response.json()
        return answer
