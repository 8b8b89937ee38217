"""The benchmarks' wrk scripts hand each token out once, whatever wrk's thread count.

A refresh token presented twice is reuse: the service (rightly) ends that session, so a
script that gives one token to two threads measures refusals, not rotations. wrk sets
up and starts its threads one after another and checks thread 0's script with one
request it never sends, so the scripts take the thread count from ``WRK_THREADS``
(bench/harness.py sets it) and spend nothing on the check. Real wrk, against a small
server here that records every token it is shown.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import subprocess
import threading
from collections import Counter
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import parse_qs

import pytest

BENCH = Path(__file__).resolve().parents[3] / "bench"


@pytest.fixture(autouse=True)
def wrk_installed() -> None:
    """wrk is one of the Debian packages `make test` installs: missing, the test fails."""
    if shutil.which("wrk") is None:
        pytest.fail("wrk is not installed: run `make test`, which installs it")


class Recorder(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self) -> None:
        super().__init__(("127.0.0.1", 0), _Handler)
        self.lock = threading.Lock()
        self.presented: Counter[str] = Counter()
        self.issued = 0

    def total(self) -> int:
        with self.lock:
            return sum(self.presented.values())

    def new_token(self) -> str:
        with self.lock:
            self.issued += 1
            return f"rotated-{self.issued}"


class _Handler(BaseHTTPRequestHandler):
    server: Recorder

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers["Content-Length"])).decode()
        token = parse_qs(body).get("refresh_token", [""])[0]
        with self.server.lock:
            self.server.presented[token] += 1
        if token in ("", "exhausted", "check"):  # refused as the service would
            status, reply = 400, {"error": "invalid_grant"}
        else:  # compact, as the service writes it
            status, reply = 200, {"refresh_token": self.server.new_token()}
        answer = json.dumps(reply, separators=(",", ":")).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(answer)))
        self.end_headers()
        with contextlib.suppress(BrokenPipeError):  # wrk hangs up when its time is up
            self.wfile.write(answer)

    def log_message(self, format: str, *args: object) -> None:
        pass


@pytest.fixture
def recorder() -> Iterator[Recorder]:
    server = Recorder()
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield server
    finally:
        server.shutdown()
        server.server_close()


def wrk(
    server: Recorder, tokens: Path, *, threads: int, told: int | None, chain: bool
) -> subprocess.CompletedProcess[str]:
    env = dict(os.environ)
    env.pop("WRK_THREADS", None)
    if told is not None:
        env["WRK_THREADS"] = str(told)
    url = f"http://127.0.0.1:{server.server_address[1]}"
    script_args = [str(tokens), "tokenstile-kiosk", *(["chain"] if chain else [])]
    script = str(BENCH / "refresh.lua")
    return subprocess.run(
        ["wrk", f"-t{threads}", f"-c{threads * 2}", "-d1s", "-s", script, url, "--", *script_args],
        env=env,
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )


@pytest.mark.parametrize("chain", [False, True], ids=["once", "chain"])
def test_no_token_is_presented_twice_with_three_threads(
    recorder: Recorder, tmp_path: Path, chain: bool
) -> None:
    tokens = tmp_path / "tokens"
    tokens.write_text("".join(f"seeded-{i}\n" for i in range(30 if chain else 20_000)))
    done = wrk(recorder, tokens, threads=3, told=3, chain=chain)
    assert done.returncode == 0, done.stderr
    result = json.loads(done.stdout.split("RESULT ", 1)[1].splitlines()[0])
    # "exhausted": the recognisable filler once every token is out (counted by the script)
    twice = {t: n for t, n in recorder.presented.items() if n > 1 and t != "exhausted"}
    assert twice == {}
    assert "check" not in recorder.presented  # wrk's check of the script is never sent
    # wrk drops what is in flight when the time is up: at most one request per connection
    unseen = result["tokens_presented"] + result["tokens_exhausted"] - recorder.total()
    assert 0 <= unseen <= 6
    assert result["lost"] == result["statuses"].get("400", 0)  # only the fillers
    if chain:  # the pool came round: rotated tokens went back out
        assert any(token.startswith("rotated-") for token in recorder.presented)


def test_more_threads_than_told_is_an_error_not_a_silent_overlap(
    recorder: Recorder, tmp_path: Path
) -> None:
    tokens = tmp_path / "tokens"
    tokens.write_text("".join(f"seeded-{i}\n" for i in range(1000)))
    done = wrk(recorder, tokens, threads=2, told=None, chain=False)
    # Thread 0 is running by the time thread 1 is set up; the run is still refused.
    assert done.returncode != 0
    assert "WRK_THREADS=1" in done.stdout + done.stderr
