"""Real revocation sources for the PIV tests, on loopback.

- ``OpenSslResponder``: ``openssl ocsp`` (an independent OCSP implementation) run as its
  own process over an OpenSSL ``index.txt`` (``V`` good, ``R`` revoked, absent unknown),
  signing as the CA or as a delegated responder; stopped by its PID.
- ``HttpFiles``: a small threaded HTTP server handing out bytes per path (CRLs), or, for
  a path given a function, whatever the function makes of the request body (a relay in
  front of the responder that replays, rewrites or breaks its answers).
- ``SilentServer``: a dead responder: it accepts connections and never answers, and
  counts them; ``hang_up`` closes the ones it holds.
"""

from __future__ import annotations

import datetime as dt
import socket
import subprocess
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import httpx
from cryptography import x509
from cryptography.hazmat.primitives.serialization import Encoding, NoEncryption, PrivateFormat

from tests.unit.factors.piv_test_pki import Authority


def _openssl_time(when: dt.datetime) -> str:
    return when.strftime("%y%m%d%H%M%SZ")


def index_line(certificate: x509.Certificate, *, revoked_at: float | None = None) -> str:
    """One line of an OpenSSL CA database (``index.txt``)."""
    expiry = _openssl_time(certificate.not_valid_after_utc)
    serial = f"{certificate.serial_number:X}"
    serial = serial if len(serial) % 2 == 0 else "0" + serial
    subject = "/" + "/".join(reversed(certificate.subject.rfc4514_string().split(",")))
    if revoked_at is None:
        return f"V\t{expiry}\t\t{serial}\tunknown\t{subject}\n"
    revoked = _openssl_time(dt.datetime.fromtimestamp(revoked_at, dt.UTC))
    return f"R\t{expiry}\t{revoked}\t{serial}\tunknown\t{subject}\n"


def write_pem(path: Path, authority: Authority) -> tuple[Path, Path]:
    """The certificate and the unencrypted key of ``authority`` as PEM files."""
    cert = path.with_suffix(".pem")
    key = path.with_suffix(".key")
    cert.write_bytes(authority.certificate.public_bytes(Encoding.PEM))
    key.write_bytes(authority.key.private_bytes(Encoding.PEM, PrivateFormat.PKCS8, NoEncryption()))
    return cert, key


@dataclass
class OpenSslResponder:
    process: subprocess.Popen[bytes]
    port: int
    log: Path

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/"

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            self.process.wait(10)


@contextmanager
def openssl_responder(
    workdir: Path,
    *,
    ca: Path,
    index: str,
    signer: tuple[Path, Path],
    minutes: int = 10,
) -> Iterator[OpenSslResponder]:
    """``openssl ocsp`` answering for ``ca`` from ``index``, nextUpdate ``minutes`` on."""
    workdir.mkdir(parents=True, exist_ok=True)
    (workdir / "index.txt").write_text(index)
    log = workdir / "ocsp.log"
    command = [
        "openssl", "ocsp", "-index", str(workdir / "index.txt"), "-CA", str(ca),
        "-rsigner", str(signer[0]), "-rkey", str(signer[1]), "-port", "0",
        "-nmin", str(minutes), "-ignore_err",
    ]  # fmt: skip
    with log.open("wb") as out:
        process = subprocess.Popen(command, stdout=out, stderr=subprocess.STDOUT)
    deadline = time.monotonic() + 10
    port = None
    while port is None:
        text = log.read_text(errors="replace")
        for line in text.splitlines():
            if line.startswith("ACCEPT"):
                port = int(line.split()[1].rsplit(":", 1)[1])
        if port is None:
            if process.poll() is not None or time.monotonic() > deadline:
                process.kill()
                raise RuntimeError(f"openssl ocsp did not start: {text}")
            time.sleep(0.02)
    responder = OpenSslResponder(process, port, log)
    try:
        yield responder
    finally:
        responder.stop()


Handler = Callable[[bytes], bytes]


@dataclass
class HttpFiles:
    """Bytes (or a function of the request body) per path, over HTTP on loopback."""

    routes: dict[str, bytes | Handler] = field(default_factory=dict)
    hits: list[str] = field(default_factory=list)
    port: int = 0

    def url(self, path: str) -> str:
        return f"http://127.0.0.1:{self.port}{path}"


@contextmanager
def http_files() -> Iterator[HttpFiles]:
    files = HttpFiles()

    class Serve(BaseHTTPRequestHandler):
        def _answer(self, body: bytes) -> None:
            files.hits.append(self.path)
            route = files.routes.get(self.path)
            if route is None:
                self.send_response(404)
                self.end_headers()
                return
            data = route(body) if callable(route) else route
            self.send_response(200)
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def do_GET(self) -> None:
            self._answer(b"")

        def do_POST(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            self._answer(self.rfile.read(length))

        def log_message(self, format: str, *args: object) -> None:
            return

    server = ThreadingHTTPServer(("127.0.0.1", 0), Serve)
    files.port = server.server_address[1]
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield files
    finally:
        server.shutdown()
        server.server_close()


def relay_to(url: str) -> Callable[[bytes], bytes]:
    """Forward an OCSP request to a real responder and return its answer."""

    def forward(body: bytes) -> bytes:
        response = httpx.post(
            url, content=body, headers={"Content-Type": "application/ocsp-request"}, timeout=10
        )
        return response.content

    return forward


@dataclass
class SilentServer:
    """Accepts TCP connections on loopback, reads nothing, answers nothing."""

    listener: socket.socket
    held: list[socket.socket] = field(default_factory=list)
    changed: threading.Condition = field(default_factory=threading.Condition)

    @property
    def port(self) -> int:
        port: int = self.listener.getsockname()[1]
        return port

    def url(self, path: str = "/") -> str:
        return f"http://127.0.0.1:{self.port}{path}"

    @property
    def accepted(self) -> int:
        """How many connections it has accepted so far."""
        with self.changed:
            return len(self.held)

    def wait_for(self, count: int, *, limit: float = 30.0) -> None:
        """Until ``count`` connections were accepted (RuntimeError after ``limit`` s)."""
        with self.changed:
            if not self.changed.wait_for(lambda: len(self.held) >= count, timeout=limit):
                raise RuntimeError(f"only {len(self.held)} of {count} connections came")

    def hang_up(self) -> None:
        """Close every connection it holds, without a word."""
        with self.changed:
            for connection in self.held:
                connection.close()

    def _accept(self) -> None:
        while True:
            try:
                connection, _ = self.listener.accept()
            except OSError:
                return  # the listener was closed
            with self.changed:
                self.held.append(connection)
                self.changed.notify_all()


@contextmanager
def silent_server() -> Iterator[SilentServer]:
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(64)
    server = SilentServer(listener)
    thread = threading.Thread(target=server._accept, daemon=True)
    thread.start()
    try:
        yield server
    finally:
        listener.shutdown(socket.SHUT_RDWR)
        listener.close()
        thread.join(10)
        server.hang_up()
