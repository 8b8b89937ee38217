"""``HttpFetcher``: the ``factors.piv_revocation.RevocationFetcher`` port over httpx.

Every fetch is bounded: http and https only, no redirects followed (a 3xx is a failure,
so an answer can never come from another scheme or host than the one named), a time
limit for the whole exchange (connect, write, read), and a maximum body size read as a
stream (a bigger body is dropped, not buffered). A local file (a CRL the settings name)
is read with the same size bound. Every failure is a ``FetchFailed`` saying what went
wrong; none carries a response body.
"""

from __future__ import annotations

import time
from pathlib import Path

import httpx

from tokenstile.factors.piv_revocation import FetchFailed

DEFAULT_TIMEOUT = 5.0
DEFAULT_MAX_BYTES = 4 * 1024 * 1024
_SCHEMES = ("http", "https")


class HttpFetcher:
    """Bounded GET and POST for revocation sources; one pooled client, thread-safe."""

    def __init__(
        self,
        *,
        timeout: float = DEFAULT_TIMEOUT,
        max_bytes: int = DEFAULT_MAX_BYTES,
        transport: httpx.BaseTransport | None = None,
    ) -> None:
        self.timeout = timeout
        self.max_bytes = max_bytes
        self._client = httpx.Client(
            timeout=httpx.Timeout(timeout),
            follow_redirects=False,
            transport=transport,
            headers={"User-Agent": "tokenstile-revocation"},
        )

    def close(self) -> None:
        self._client.close()

    def get(self, url: str) -> bytes:
        return self._send("GET", url, None, {})

    def post(self, url: str, body: bytes, *, content_type: str, accept: str) -> bytes:
        return self._send("POST", url, body, {"Content-Type": content_type, "Accept": accept})

    def read_file(self, path: str) -> bytes:
        try:
            with Path(path).open("rb") as handle:
                data = handle.read(self.max_bytes + 1)
        except OSError as exc:
            raise FetchFailed(f"Cannot read {path}: {exc.strerror}.") from exc
        if len(data) > self.max_bytes:
            raise FetchFailed(f"{path} is over {self.max_bytes} bytes.")
        return data

    def _send(self, method: str, url: str, body: bytes | None, headers: dict[str, str]) -> bytes:
        try:
            parsed = httpx.URL(url)
        except (httpx.InvalidURL, TypeError) as exc:
            raise FetchFailed(f"{url!r} is not a URL.") from exc
        if parsed.scheme not in _SCHEMES or not parsed.host:
            raise FetchFailed(f"{url}: only http and https URLs are fetched.")
        deadline = time.monotonic() + self.timeout
        try:
            with self._client.stream(method, parsed, content=body, headers=headers) as response:
                if response.status_code != 200:
                    raise FetchFailed(f"{url} answered HTTP {response.status_code}.")
                declared = response.headers.get("Content-Length")
                if declared is not None and declared.isdigit() and int(declared) > self.max_bytes:
                    raise FetchFailed(f"{url}: the answer is over {self.max_bytes} bytes.")
                chunks: list[bytes] = []
                size = 0
                for chunk in response.iter_bytes():
                    size += len(chunk)
                    if size > self.max_bytes:
                        raise FetchFailed(f"{url}: the answer is over {self.max_bytes} bytes.")
                    if time.monotonic() > deadline:
                        raise FetchFailed(f"{url}: no full answer within {self.timeout} s.")
                    chunks.append(chunk)
        except httpx.TimeoutException as exc:
            raise FetchFailed(f"{url}: no answer within {self.timeout} s.") from exc
        except httpx.HTTPError as exc:
            raise FetchFailed(f"{url}: {type(exc).__name__}.") from exc
        return b"".join(chunks)
