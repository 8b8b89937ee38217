"""Audit streaming (``server.audit_stream``) to a real rsyslogd started here (Debian's, its
own config in a temp dir, on free loopback ports, stopped by PID) and to a webhook
receiver in this test that checks every signature with ``verify_webhook``.

Logins go through the app (with its lifespan, so the sinks run); each refused TOTP login
of an unknown person commits one ``otp_login`` audit row. Waiting for a delivery polls
with a deadline; nothing asserts how long anything took.
"""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi.testclient import TestClient
from prometheus_client.parser import text_string_to_metric_families

from tests.conftest import free_port, make_deployment
from tokenstile.deployment import Deployment
from tokenstile.server.app import create_app
from tokenstile.server.audit_stream import (
    DELIVERY_HEADER,
    SIGNATURE_HEADER,
    TIMESTAMP_HEADER,
    verify_webhook,
    webhook_signature,
)

SECRET = "webhook-secret-" + "s" * 24
METRICS_TOKEN = "metrics-token-" + "m" * 24
PEER = ("198.51.100.9", 40000)
RFC5424 = re.compile(
    r"^<(?P<pri>\d+)>1 (?P<ts>\S+) (?P<host>\S+) tokenstile (?P<pid>\d+) (?P<msgid>\S+) "
    r"\[tokenstile@32473 event=\"(?P<event>[^\"]*)\" outcome=\"(?P<outcome>[^\"]*)\"\] "
    "\ufeff(?P<json>.*)$"
)


def wait_for(condition: Callable[[], bool], what: str, timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            pytest.fail(f"gave up waiting for {what}")
        time.sleep(0.02)


def refused_login(http: TestClient, username: str = "nobody") -> None:
    assert (
        http.post("/login/totp", json={"username": username, "code": "123456"}).status_code == 400
    )


def stream_counter(http: TestClient, name: str, sink: str) -> float:
    text = http.get("/metrics", headers={"Authorization": f"Bearer {METRICS_TOKEN}"}).text
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            if sample.name == f"tokenstile_audit_stream_{name}" and sample.labels == {"sink": sink}:
                return sample.value
    return 0.0


@pytest.fixture
def app_with(tmp_path: Path) -> Iterator[Callable[..., TestClient]]:
    """A deployment with the given settings and a client of its app, lifespan running."""
    opened: list[tuple[Deployment, TestClient]] = []

    def start(**settings: Any) -> TestClient:
        dep = make_deployment(
            f"sqlite:///{tmp_path / f'ts{len(opened)}.db'}",
            metrics_token=METRICS_TOKEN,
            rate_limit_login_failures=0,
            **settings,
        )
        http = TestClient(create_app(dep), base_url="https://auth.example", client=PEER)
        http.__enter__()
        opened.append((dep, http))
        return http

    yield start
    for dep, http in opened:
        http.__exit__(None, None, None)
        dep.close()


# -- rsyslog -------------------------------------------------------------------------------


@dataclass
class Rsyslog:
    process: subprocess.Popen[bytes]
    output: Path
    tcp_port: int
    udp_port: int

    def lines(self) -> list[str]:
        if not self.output.exists():
            return []
        return self.output.read_text("utf-8").splitlines()


@pytest.fixture
def rsyslog(tmp_path: Path) -> Iterator[Rsyslog]:
    folder = tmp_path / "rsyslog"
    folder.mkdir()
    tcp_port, udp_port = free_port(), free_port()
    output = folder / "audit.log"
    conf = folder / "rsyslog.conf"
    conf.write_text(
        f'global(workDirectory="{folder}")\n'
        'module(load="imtcp")\nmodule(load="imudp")\n'
        f'input(type="imtcp" port="{tcp_port}" address="127.0.0.1")\n'
        f'input(type="imudp" port="{udp_port}" address="127.0.0.1")\n'
        f'action(type="omfile" file="{output}" template="RSYSLOG_SyslogProtocol23Format")\n'
    )
    log = (folder / "rsyslogd.out").open("wb")
    process = subprocess.Popen(
        ["rsyslogd", "-n", "-f", str(conf), "-i", str(folder / "rsyslogd.pid")],
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    try:
        wait_for((folder / "rsyslogd.pid").exists, "rsyslogd to start")
        yield Rsyslog(process, output, tcp_port, udp_port)
    finally:
        if process.poll() is None:
            os.kill(process.pid, signal.SIGTERM)
            try:
                process.wait(10)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait(10)
        log.close()


@pytest.mark.parametrize("transport", ["tcp", "udp"])
def test_rsyslog_receives_every_audit_row_as_rfc5424(
    app_with: Callable[..., TestClient], rsyslog: Rsyslog, transport: str
) -> None:
    port = rsyslog.tcp_port if transport == "tcp" else rsyslog.udp_port
    http = app_with(audit_syslog=f"{transport}://127.0.0.1:{port}")
    # a name that tries to end the structured data and start a second syslog line
    names = ["carol", 'eve"] <13>1 - forged\nsecond line', "dan"]
    for name in names:
        refused_login(http, name)
    if transport == "udp":  # UDP gives no way to know: wait until all three arrived
        wait_for(lambda: len(rsyslog.lines()) >= 3, "three datagrams")
    wait_for(lambda: stream_counter(http, "delivered_total", "syslog") == 3, "three rows sent")
    wait_for(lambda: len(rsyslog.lines()) == 3, "rsyslog to write three lines")
    lines = rsyslog.lines()
    parsed = [RFC5424.match(line) for line in lines]
    assert all(parsed), lines
    records = [json.loads(m["json"]) for m in parsed if m]
    assert [r["username"] for r in records] == names
    for match, record in zip(parsed, records, strict=True):
        assert match is not None
        assert int(match["pri"]) == 10 * 8 + 5  # authpriv, notice: a failure
        assert (match["msgid"], match["event"], match["outcome"]) == (
            "otp_login",
            "otp_login",
            "failure",
        )
        assert record["event"] == "otp_login"
        assert record["factor"] == "otp"
        assert record["origin"].startswith(PEER[0])
        assert "reason" in record["detail"]
    assert stream_counter(http, "dropped_total", "syslog") == 0


# -- webhooks ------------------------------------------------------------------------------


@dataclass
class Receiver:
    """A webhook endpoint: checks each signature, then answers as ``mode`` says."""

    port: int
    mode: str = "ok"  # ok | fail | hang
    events: list[dict[str, Any]] = field(default_factory=list)
    deliveries: list[str] = field(default_factory=list)
    forged: int = 0
    captured: list[tuple[bytes, dict[str, str]]] = field(default_factory=list)
    hanging: threading.Event = field(default_factory=threading.Event)
    release: threading.Event = field(default_factory=threading.Event)
    server: ThreadingHTTPServer | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/audit"

    def start(self) -> None:
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers["Content-Length"]))
                headers = dict(self.headers.items())
                receiver.captured.append((body, headers))
                if not verify_webhook(
                    SECRET.encode(),
                    body=body,
                    timestamp=self.headers.get(TIMESTAMP_HEADER),
                    signature=self.headers.get(SIGNATURE_HEADER),
                    now=time.time(),
                ):
                    receiver.forged += 1
                    self.send_response(401)
                    self.end_headers()
                    return
                if receiver.mode == "hang":
                    receiver.hanging.set()
                    receiver.release.wait(60)
                if receiver.mode == "fail":
                    self.send_response(500)
                    self.end_headers()
                    return
                receiver.deliveries.append(self.headers[DELIVERY_HEADER])
                receiver.events.extend(json.loads(body)["events"])
                self.send_response(204)
                self.end_headers()

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", self.port), Handler)
        self.server.daemon_threads = True
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def stop(self) -> None:
        self.release.set()
        if self.server is not None:
            self.server.shutdown()
            self.server.server_close()


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    found = Receiver(free_port())
    yield found
    found.stop()


def webhook_settings(receiver: Receiver, **more: Any) -> dict[str, Any]:
    return {
        "audit_webhook_url": receiver.url,
        "audit_webhook_secret": SECRET,
        "audit_webhook_backoff": 0.05,
        **more,
    }


def test_a_webhook_receives_signed_rows(
    app_with: Callable[..., TestClient], receiver: Receiver
) -> None:
    receiver.start()
    http = app_with(**webhook_settings(receiver))
    for name in ("ann", "ben", "cid"):
        refused_login(http, name)
    wait_for(lambda: len(receiver.events) == 3, "three events")
    assert [e["username"] for e in receiver.events] == ["ann", "ben", "cid"]
    assert {e["event"] for e in receiver.events} == {"otp_login"}
    assert receiver.forged == 0
    assert stream_counter(http, "delivered_total", "webhook") == 3
    assert stream_counter(http, "dead_letters_total", "webhook") == 0


def test_a_receiver_that_was_down_gets_the_rows_once_it_is_up(
    app_with: Callable[..., TestClient], receiver: Receiver
) -> None:
    http = app_with(**webhook_settings(receiver, audit_webhook_attempts=20))
    refused_login(http, "early")
    wait_for(lambda: stream_counter(http, "retries_total", "webhook") >= 2, "two failed attempts")
    receiver.start()
    wait_for(lambda: len(receiver.events) == 1, "the retried delivery")
    assert receiver.events[0]["username"] == "early"
    assert stream_counter(http, "delivered_total", "webhook") == 1
    assert stream_counter(http, "dead_letters_total", "webhook") == 0


def test_a_receiver_failing_forever_ends_in_dead_letters_and_logins_go_on(
    app_with: Callable[..., TestClient], receiver: Receiver
) -> None:
    receiver.mode = "fail"
    receiver.start()
    http = app_with(**webhook_settings(receiver, audit_webhook_attempts=3))
    for _ in range(4):
        refused_login(http)  # each answered, whatever the receiver does
    wait_for(
        lambda: stream_counter(http, "dead_letters_total", "webhook") == 4, "four dead letters"
    )
    assert stream_counter(http, "delivered_total", "webhook") == 0
    assert stream_counter(http, "retries_total", "webhook") >= 2
    # each batch was tried three times with one delivery id
    ids = [headers[DELIVERY_HEADER] for _, headers in receiver.captured]
    assert len(ids) >= 3
    assert all(ids.count(i) == 3 for i in set(ids))


def test_a_hanging_receiver_never_holds_up_a_login(
    app_with: Callable[..., TestClient], receiver: Receiver
) -> None:
    """The receiver holds its first request open until released: were logins waiting for
    the stream, the second login would never be answered (and the test time out)."""
    receiver.mode = "hang"
    receiver.start()
    http = app_with(**webhook_settings(receiver, audit_stream_queue=2, audit_webhook_timeout=60))
    refused_login(http, "first")
    wait_for(receiver.hanging.is_set, "the receiver to hold the first delivery")
    for index in range(5):
        refused_login(http, f"later{index}")
    # one row in flight, two queued, three found the queue full
    assert stream_counter(http, "dropped_total", "webhook") == 3
    assert stream_counter(http, "queue_depth", "webhook") == 2
    receiver.release.set()
    wait_for(lambda: stream_counter(http, "delivered_total", "webhook") == 3, "the queued rows")
    assert [e["username"] for e in receiver.events] == ["first", "later0", "later1"]


def test_forged_or_replayed_webhooks_fail_verification(
    app_with: Callable[..., TestClient], receiver: Receiver
) -> None:
    receiver.start()
    http = app_with(**webhook_settings(receiver))
    refused_login(http, "ann")
    wait_for(lambda: len(receiver.events) == 1, "one event")
    body, headers = receiver.captured[0]
    timestamp, signature = headers[TIMESTAMP_HEADER], headers[SIGNATURE_HEADER]
    now = int(timestamp)
    key = SECRET.encode()

    def check(secret: bytes = key, **changes: Any) -> bool:
        args: dict[str, Any] = {
            "body": body,
            "timestamp": timestamp,
            "signature": signature,
            "now": now,
        }
        args.update(changes)
        return verify_webhook(secret, **args)

    assert check()
    tampered = body.replace(b'"ann"', b'"bob"')
    assert tampered != body
    assert not check(body=tampered)
    assert not check(secret=b"another secret of the same kind")
    assert not check(signature=None)
    assert not check(timestamp=None)
    assert not check(signature=signature.replace("v1=", "v0="))
    assert not check(timestamp=str(now + 1))  # the signature covers the timestamp
    assert not check(timestamp="12e3")
    assert not check(timestamp="-1")
    assert not check(now=now + 301)  # a capture replayed six minutes later
    # a forger who re-signs with a guessed secret is refused by the receiver itself
    fake_ts = str(int(time.time()))
    forged = webhook_signature(b"guessed", fake_ts, tampered)
    answer = httpx.post(
        receiver.url,
        content=tampered,
        headers={TIMESTAMP_HEADER: fake_ts, SIGNATURE_HEADER: forged, DELIVERY_HEADER: "x"},
    )
    assert answer.status_code == 401
    assert receiver.forged == 1
    assert [e["username"] for e in receiver.events] == ["ann"]


# -- syslog over TLS -----------------------------------------------------------------------


def self_signed(folder: Path, name: str) -> tuple[Path, Path]:
    """A certificate for 127.0.0.1 (its own CA), made by openssl."""
    cert, key = folder / f"{name}.pem", folder / f"{name}.key"
    subprocess.run(
        [
            "openssl",
            "req",
            "-x509",
            "-newkey",
            "ec",
            "-pkeyopt",
            "ec_paramgen_curve:P-256",
            "-nodes",
            "-keyout",
            str(key),
            "-out",
            str(cert),
            "-days",
            "1",
            "-subj",
            "/CN=127.0.0.1",
            "-addext",
            "subjectAltName=IP:127.0.0.1",
        ],
        check=True,
        capture_output=True,
        timeout=60,
    )
    return cert, key


@dataclass
class TlsSyslog:
    """A syslog-over-TLS receiver (RFC 5425 octet-counted frames) on a loopback port."""

    port: int
    frames: list[bytes] = field(default_factory=list)
    handshakes_failed: int = 0


@pytest.fixture
def tls_syslog(tmp_path: Path) -> Iterator[TlsSyslog]:
    import socket
    import ssl

    cert, key = self_signed(tmp_path, "receiver")
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(cert, key)
    listener = socket.create_server(("127.0.0.1", 0))
    found = TlsSyslog(listener.getsockname()[1])
    stop = threading.Event()

    def serve() -> None:
        listener.settimeout(0.2)
        while not stop.is_set():
            try:
                raw, _ = listener.accept()
            except TimeoutError:
                continue
            try:
                conn = context.wrap_socket(raw, server_side=True)
            except (ssl.SSLError, OSError):
                found.handshakes_failed += 1
                raw.close()
                continue
            with conn:
                buffer = b""
                while True:
                    chunk = conn.recv(65536)
                    if not chunk:
                        break
                    buffer += chunk
                    while b" " in buffer:
                        length, _, rest = buffer.partition(b" ")
                        if len(rest) < int(length):
                            break
                        found.frames.append(rest[: int(length)])
                        buffer = rest[int(length) :]

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    (tmp_path / "receiver-ca.pem").write_bytes(cert.read_bytes())
    try:
        yield found
    finally:
        stop.set()
        thread.join(10)
        listener.close()


def test_syslog_over_tls_reaches_a_receiver_the_ca_file_trusts(
    app_with: Callable[..., TestClient], tls_syslog: TlsSyslog, tmp_path: Path
) -> None:
    http = app_with(
        audit_syslog=f"tls://127.0.0.1:{tls_syslog.port}",
        audit_syslog_ca_file=str(tmp_path / "receiver-ca.pem"),
    )
    refused_login(http, "tina")
    wait_for(lambda: len(tls_syslog.frames) == 1, "one frame over TLS")
    match = RFC5424.match(tls_syslog.frames[0].decode("utf-8"))
    assert match is not None
    assert json.loads(match["json"])["username"] == "tina"


def test_syslog_over_tls_refuses_a_receiver_it_cannot_verify(
    app_with: Callable[..., TestClient], tls_syslog: TlsSyslog, tmp_path: Path
) -> None:
    other, _ = self_signed(tmp_path, "someone-else")  # a CA that did not sign the receiver
    http = app_with(
        audit_syslog=f"tls://127.0.0.1:{tls_syslog.port}",
        audit_syslog_ca_file=str(other),
        audit_webhook_attempts=2,
        audit_webhook_backoff=0.05,
    )
    refused_login(http, "tina")
    wait_for(lambda: stream_counter(http, "dead_letters_total", "syslog") == 1, "a dead letter")
    assert tls_syslog.frames == []
    assert tls_syslog.handshakes_failed >= 1
