"""The bounded HTTP adapter of the revocation checks (``tokenstile.fetch.http``) against a
real loopback HTTP server: what it fetches, and every bound it keeps."""

from __future__ import annotations

import socket
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from tokenstile.factors.piv_revocation import FetchFailed
from tokenstile.fetch.http import HttpFetcher


@pytest.fixture
def site() -> Iterator[str]:
    class Serve(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            if self.path == "/ok":
                self._send(200, b"crl bytes")
            elif self.path == "/big":
                self._send(200, b"x" * 5000)
            elif self.path == "/chunked-big":
                self.send_response(200)
                self.send_header("Transfer-Encoding", "chunked")
                self.end_headers()
                for _ in range(10):
                    self.wfile.write(b"3e8\r\n" + b"y" * 1000 + b"\r\n")
                self.wfile.write(b"0\r\n\r\n")
            elif self.path == "/redirect":
                self.send_response(302)
                self.send_header("Location", "file:///etc/passwd")
                self.send_header("Content-Length", "0")
                self.end_headers()
            else:
                self._send(404, b"")

        def do_POST(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            body = self.rfile.read(length)
            kind = self.headers.get("Content-Type", "")
            self._send(200, kind.encode() + b"|" + body)

        def _send(self, status: int, body: bytes) -> None:
            self.send_response(status)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, format: str, *args: object) -> None:
            return

    server = ThreadingHTTPServer(("127.0.0.1", 0), Serve)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


def test_get_and_post(site: str) -> None:
    fetcher = HttpFetcher(timeout=5, max_bytes=4096)
    assert fetcher.get(f"{site}/ok") == b"crl bytes"
    answer = fetcher.post(
        f"{site}/ocsp", b"req", content_type="application/ocsp-request", accept="x"
    )
    assert answer == b"application/ocsp-request|req"


@pytest.mark.parametrize(
    ("path", "message"),
    [
        ("/big", "over 4096 bytes"),
        ("/chunked-big", "over 4096 bytes"),
        ("/redirect", "HTTP 302"),
        ("/missing", "HTTP 404"),
    ],
)
def test_bounds(site: str, path: str, message: str) -> None:
    with pytest.raises(FetchFailed, match=message):
        HttpFetcher(timeout=5, max_bytes=4096).get(site + path)


@pytest.mark.parametrize("url", ["file:///etc/passwd", "ldap://ldap.example/cn=CA", "ftp://x/"])
def test_only_http_and_https(url: str) -> None:
    with pytest.raises(FetchFailed, match="only http and https"):
        HttpFetcher().get(url)


def test_a_silent_server_times_out() -> None:
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(1)  # accepts the connection, never answers
    try:
        port = listener.getsockname()[1]
        with pytest.raises(FetchFailed, match=r"no answer within 0\.5 s"):
            HttpFetcher(timeout=0.5).get(f"http://127.0.0.1:{port}/")
    finally:
        listener.close()


def test_refused_connection() -> None:
    spare = socket.socket()
    spare.bind(("127.0.0.1", 0))
    port = spare.getsockname()[1]
    spare.close()
    with pytest.raises(FetchFailed, match="ConnectError"):
        HttpFetcher(timeout=2).get(f"http://127.0.0.1:{port}/")


def test_files_named_by_the_settings_are_bounded_too(tmp_path: Path) -> None:
    small = tmp_path / "ca.crl"
    small.write_bytes(b"z" * 100)
    assert HttpFetcher(max_bytes=1024).read_file(str(small)) == b"z" * 100
    small.write_bytes(b"z" * 2000)
    with pytest.raises(FetchFailed, match="over 1024 bytes"):
        HttpFetcher(max_bytes=1024).read_file(str(small))
    with pytest.raises(FetchFailed, match="Cannot read"):
        HttpFetcher().read_file(str(tmp_path / "absent.crl"))
