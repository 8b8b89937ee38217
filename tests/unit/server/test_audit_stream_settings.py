"""The audit streams' settings and message format: bad targets are refused with a sentence,
and a syslog message keeps its header intact whatever a row holds."""

from __future__ import annotations

import json

import pytest

from tokenstile.config import load_settings
from tokenstile.errors import ConfigError
from tokenstile.server.audit_stream import syslog_message

SECRET = "s" * 20


@pytest.mark.parametrize(
    ("overrides", "says"),
    [
        ({"audit_syslog": "tcp://logs.example:514"}, "only on loopback"),
        ({"audit_syslog": "udp://10.0.0.5"}, "only on loopback"),
        ({"audit_syslog": "syslog://127.0.0.1:514"}, "udp://, tcp:// or tls://"),
        ({"audit_syslog": "tls://logs.example:99999"}, "port"),
        ({"audit_syslog": "tls://logs.example:6514/path"}, "only the scheme"),
        ({"audit_webhook_url": "https://siem.example/hook"}, "audit_webhook_secret"),
        (
            {"audit_webhook_url": "http://siem.example/hook", "audit_webhook_secret": SECRET},
            "https",
        ),
        ({"audit_webhook_url": "https://x.example", "audit_webhook_secret": "short"}, "16"),
    ],
)
def test_bad_stream_settings_are_refused(overrides: dict[str, str], says: str) -> None:
    with pytest.raises(ConfigError, match=says):
        load_settings(**overrides)


def test_good_stream_settings_are_taken() -> None:
    settings = load_settings(
        audit_syslog="tls://logs.example",
        audit_webhook_url="https://siem.example/hook",
        audit_webhook_secret=SECRET,
    )
    assert settings.audit_syslog == "tls://logs.example"
    assert load_settings(audit_syslog="udp://127.0.0.1:5514").audit_syslog


def test_a_syslog_message_keeps_its_header_whatever_the_row_holds() -> None:
    row = {
        "at": 1_800_000_000.25,
        "event": 'evil event"]\n',
        "outcome": "alert",
        "username": "a\nb",
        "detail": json.dumps({"x": "y" * 10}),
    }
    message = syslog_message(row, hostname="kiosk host\n", pid=7)
    header, _, body = message.partition(b"\xef\xbb\xbf")
    assert b"\n" not in header
    assert header.startswith(b"<81>1 2027-01-15T08:00:00.250000Z kioskhost tokenstile 7 ")
    # the MSGID is printable ASCII; the SD-PARAM value escapes '"', '\\' and ']'
    assert b' evilevent"] [' in header
    assert b'event="evil event\\"\\]\n"' not in header
    assert b'event="evil event\\"\\]' in header
    assert json.loads(body)["username"] == "a\nb"


def test_a_row_too_big_for_one_datagram_goes_without_its_detail() -> None:
    import socket

    from prometheus_client import CollectorRegistry

    from tokenstile.server.audit_stream import StreamCounters, SyslogSink

    receiver = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    receiver.bind(("127.0.0.1", 0))
    receiver.settimeout(30)
    sink = SyslogSink(
        f"udp://127.0.0.1:{receiver.getsockname()[1]}",
        capacity=4,
        counters=StreamCounters(CollectorRegistry()),
        attempts=1,
        backoff=0.1,
    )
    big = {
        "at": 1.0,
        "event": "x",
        "outcome": "info",
        "username": "ann",
        "detail": json.dumps({"blob": "z" * 20_000}),
    }
    small = {**big, "detail": json.dumps({"n": 1})}
    sink.start()
    try:
        sink.offer(big)
        sink.offer(small)
        first, second = (receiver.recv(65536) for _ in range(2))
    finally:
        sink.stop()
        receiver.close()
    assert len(first) < 8192
    assert json.loads(first.partition(b"\xef\xbb\xbf")[2])["detail"] == {"truncated": True}
    assert json.loads(second.partition(b"\xef\xbb\xbf")[2])["detail"] == {"n": 1}
    assert json.loads(first.partition(b"\xef\xbb\xbf")[2])["username"] == "ann"
