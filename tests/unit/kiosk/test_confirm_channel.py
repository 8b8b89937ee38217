"""The kiosk's confirm channel against a malicious local app: real Unix sockets, a stub
prompt (the handler), and the peer check with a fake peer.

The app's side (``broker.confirm.ask_kiosk``) is the client in the tests that go through
the whole exchange; raw sockets play the app that does not follow the rules.
"""

from __future__ import annotations

import json
import os
import socket
import stat
import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from tokenstile.broker.confirm import ask_kiosk
from tokenstile.broker.errors import ConfirmFailed
from tokenstile.clock import FrozenClock
from tokenstile.kiosk.confirm_channel import (
    ConfirmAsk,
    ConfirmChannel,
    PeerCredentials,
    app_name,
    failure,
    parse_ask,
    peer_allowed,
)
from tokenstile.protocol.confirm import (
    MAX_MESSAGE_BYTES,
    MAX_REASON_CHARS,
    ConfirmChannelError,
    plain_text,
    socket_path,
)

Handler = Callable[[ConfirmAsk], dict[str, Any]]


def fake_token(**claims: Any) -> str:
    import base64

    def part(value: dict[str, Any]) -> str:
        return base64.urlsafe_b64encode(json.dumps(value).encode()).rstrip(b"=").decode()

    return f"{part({'alg': 'ES256'})}.{part(claims)}.c2ln"


@pytest.fixture
def channel() -> Iterator[Callable[..., ConfirmChannel]]:
    started: list[ConfirmChannel] = []

    def start(handler: Handler, **kwargs: Any) -> ConfirmChannel:
        made = ConfirmChannel(handler, **kwargs)
        made.start()
        started.append(made)
        return made

    yield start
    for made in started:
        made.stop()


def raw(path: Path, payload: bytes, *, shut: bool = True) -> bytes:
    """What a raw app gets back for ``payload`` (b"" when the kiosk closes silently)."""
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as conn:
        conn.settimeout(10)
        conn.connect(str(path))
        try:
            conn.sendall(payload)
            if shut:
                conn.shutdown(socket.SHUT_WR)
        except (BrokenPipeError, ConnectionResetError):
            pass
        chunks = []
        try:
            while chunk := conn.recv(4096):
                chunks.append(chunk)
        except ConnectionResetError:
            pass
        return b"".join(chunks)


def test_the_socket_is_the_users_own_in_a_private_directory(
    channel: Callable[..., ConfirmChannel],
) -> None:
    made = channel(lambda _ask: failure("cancelled", "no"))
    assert made.path == socket_path()
    mode = made.path.stat().st_mode
    assert stat.S_ISSOCK(mode)
    assert stat.S_IMODE(mode) == 0o600
    assert stat.S_IMODE(made.path.parent.stat().st_mode) == 0o700
    made.stop()
    assert not made.path.exists()


def test_another_os_users_connection_is_answered_nothing(
    channel: Callable[..., ConfirmChannel],
) -> None:
    """The kiosk believes it runs as another uid, so this process is the stranger: the
    real SO_PEERCRED check refuses it, and the prompt is never asked."""
    asked: list[ConfirmAsk] = []
    made = channel(lambda ask: asked.append(ask) or failure("cancelled", "no"), uid=os.getuid() + 1)
    assert raw(made.path, b'{"reason": "approve"}') == b""
    assert asked == []
    with pytest.raises(ConfirmFailed) as refused:
        ask_kiosk("approve", path=made.path)
    assert refused.value.reason == "unavailable"


def test_the_peer_check_itself() -> None:
    me = os.getuid()
    assert peer_allowed(PeerCredentials(pid=1, uid=me, gid=0), me)
    assert not peer_allowed(PeerCredentials(pid=1, uid=me + 1, gid=0), me)
    assert not peer_allowed(PeerCredentials(pid=1, uid=0, gid=0), 1000)


def test_the_app_name_is_the_peer_process_s_not_the_app_s_word(tmp_path: Path) -> None:
    proc = tmp_path / "proc"
    (proc / "42").mkdir(parents=True)
    (proc / "42" / "comm").write_text("pay\x1b[2Jroll\u202e\n")
    assert app_name(42, proc=proc) == "pay[2Jroll"
    assert app_name(43, proc=proc) == "An app"
    assert app_name(os.getpid()) == plain_text(Path(f"/proc/{os.getpid()}/comm").read_text(), 64)


@pytest.mark.parametrize(
    ("reason", "shown"),
    [
        ("approve refund #1234", "approve refund #1234"),
        ("<b>Pay</b> <a href='x'>now</a>", "<b>Pay</b> <a href='x'>now</a>"),  # text, not markup
        ("line one\nline two\r\n\tend", "line one line two end"),
        ("\x1b[31mred\x1b[0m \u202eevil\u200b", "[31mred[0m evil"),
        ("x" * 5000, "x" * (MAX_REASON_CHARS - 1) + "…"),
    ],
)
def test_a_reason_is_neutralised_to_one_line_of_plain_text(reason: str, shown: str) -> None:
    assert parse_ask({"reason": reason}, "app").reason == shown


@pytest.mark.parametrize(
    "message",
    [
        {},
        {"reason": 7},
        {"reason": "\x00\x1b\u200b "},
        {"reason": "ok", "audience": "https://x\n"},
        {"reason": "ok", "min_acr": "<script>"},
        {"reason": "ok", "max_age": -1},
        {"reason": "ok", "max_age": True},
        {"reason": "ok", "extra": 1},
        {"reason": "ok", "second_person": "Boss <b>"},
        {"reason": "ok", "second_person": ["supervisor"]},
    ],
)
def test_a_bad_request_is_refused(message: dict[str, Any]) -> None:
    with pytest.raises(ConfirmChannelError):
        parse_ask(message, "app")


def test_oversize_or_broken_requests_get_invalid_request_and_no_prompt(
    channel: Callable[..., ConfirmChannel],
) -> None:
    asked: list[ConfirmAsk] = []
    made = channel(lambda ask: asked.append(ask) or failure("cancelled", "no"))
    for payload in (
        b"x" * (MAX_MESSAGE_BYTES + 1),
        b"not json",
        b"[1, 2]",
        json.dumps({"reason": "a" * MAX_MESSAGE_BYTES}).encode(),
    ):
        answer = json.loads(raw(made.path, payload))
        assert answer["ok"] is False
        assert answer["error"] == "invalid_request"
    assert asked == []


def test_an_app_that_never_finishes_its_request_is_dropped(
    channel: Callable[..., ConfirmChannel],
) -> None:
    asked: list[ConfirmAsk] = []
    made = channel(lambda ask: asked.append(ask) or failure("cancelled", "no"), read_timeout=0.2)
    assert raw(made.path, b'{"reason": "app', shut=False) == b""
    assert asked == []


def test_one_prompt_at_a_time_the_second_app_hears_busy(
    channel: Callable[..., ConfirmChannel],
) -> None:
    opened, release = threading.Event(), threading.Event()

    def prompt(_ask: ConfirmAsk) -> dict[str, Any]:
        opened.set()
        release.wait(30)
        return failure("cancelled", "The person cancelled the confirmation at the kiosk.")

    made = channel(prompt)
    first: list[BaseException] = []

    def ask_first() -> None:
        try:
            ask_kiosk("first", path=made.path)
        except ConfirmFailed as exc:
            first.append(exc)

    thread = threading.Thread(target=ask_first)
    thread.start()
    assert opened.wait(30)
    with pytest.raises(ConfirmFailed) as busy:
        ask_kiosk("second", path=made.path)
    assert busy.value.reason == "busy"
    release.set()
    thread.join(30)
    assert isinstance(first[0], ConfirmFailed)
    assert first[0].reason == "cancelled"  # type: ignore[attr-defined]


def test_the_app_gets_the_token_and_what_it_says(channel: Callable[..., ConfirmChannel]) -> None:
    clock = FrozenClock(1_800_000_000.0)
    seen: list[ConfirmAsk] = []
    token = fake_token(
        auth_time=1_800_000_000, acr="phrh", amr=["hwk", "pin"], confirm={"reason": "approve"}
    )

    def prompt(ask: ConfirmAsk) -> dict[str, Any]:
        seen.append(ask)
        return {"ok": True, "token": token, "expires_in": 60}

    made = channel(prompt)
    got = ask_kiosk(
        "approve",
        audience="https://payroll",
        min_acr="phrh",
        max_age=30,
        second_person="supervisor",
        path=made.path,
        clock=clock,
    )
    assert (got.token, got.acr, got.amr, got.reason) == (token, "phrh", ("hwk", "pin"), "approve")
    [ask] = seen
    assert (ask.reason, ask.audience, ask.min_acr, ask.max_age) == (
        "approve",
        "https://payroll",
        "phrh",
        30,
    )
    assert ask.to_service() == {
        "reason": "approve",
        "app": ask.app,
        "audience": "https://payroll",
        "min_acr": "phrh",
        "second_person": "supervisor",
    }
    # A stale confirmation (older than max_age by the app's clock) is refused here.
    clock.advance(31)
    with pytest.raises(ConfirmFailed) as stale:
        ask_kiosk("approve", max_age=30, path=made.path, clock=clock)
    assert stale.value.reason == "refused"
    assert "older than 30 s" in stale.value.message


def test_what_the_kiosk_says_reaches_the_app(channel: Callable[..., ConfirmChannel]) -> None:
    answers = iter(
        [
            failure("not_signed_in", "Nobody is signed in at the kiosk."),
            {"ok": False, "error": "<b>made up</b>", "message": "x"},
            {"ok": True, "token": "not.a.jwt", "expires_in": 60},
        ]
    )
    made = channel(lambda _ask: next(answers))
    with pytest.raises(ConfirmFailed) as first:
        ask_kiosk("approve", path=made.path)
    assert (first.value.reason, first.value.message) == (
        "not_signed_in",
        "Nobody is signed in at the kiosk.",
    )
    for _ in range(2):
        with pytest.raises(ConfirmFailed) as odd:
            ask_kiosk("approve", path=made.path)
        assert odd.value.reason == "unavailable"


def test_no_kiosk_no_confirm(tmp_path: Path) -> None:
    with pytest.raises(ConfirmFailed) as none:
        ask_kiosk("approve", path=tmp_path / "nobody.sock")
    assert none.value.reason == "unavailable"
    assert "No kiosk is running" in none.value.message
    with pytest.raises(ConfirmFailed) as empty:
        ask_kiosk("  ", path=tmp_path / "nobody.sock")
    assert empty.value.reason == "invalid_request"
