"""The terminal demo (``tokenstile demo``, what ``make demo`` runs without a display)
keeps its session as the kiosk demo does: another process sees it, then nobody."""

from __future__ import annotations

import os
import subprocess
import sys
import time

import jwt
import pytest

from tests.conftest import SecretService, free_port
from tokenstile.broker.store import DEMO_SESSION_ITEM, KeyringStore

pytestmark = pytest.mark.server


def _tokenstile(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "tokenstile.cli", *args],
        env=env,
        check=False,
        capture_output=True,
        text=True,
        timeout=30,
    )


def test_the_terminal_demo_session_reaches_another_process_until_it_ends(
    keychain: KeyringStore, secret_service: SecretService
) -> None:
    env = {k: v for k, v in os.environ.items() if k not in ("DISPLAY", "WAYLAND_DISPLAY")}
    env.update(secret_service.env, TOKENSTILE_PORT=str(free_port()))
    proc = subprocess.Popen(
        [sys.executable, "-m", "tokenstile.cli", "demo"],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        env=env,
    )
    lines: list[str] = []
    try:
        assert proc.stdout is not None
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            line = proc.stdout.readline()
            if not line:
                break
            lines.append(line.rstrip("\n"))
            if line.strip() == "Ready.":
                break
        output = "\n".join(lines)
        assert "Try it from another terminal (demo is signed in):" in output, output
        assert "tokenstile token" in output
        assert f"item {DEMO_SESSION_ITEM!r}" in output
        printed = _tokenstile(env, "token")
        assert printed.returncode == 0, printed.stderr
        claims = jwt.decode(printed.stdout.strip(), options={"verify_signature": False})
        assert claims["sub"] == "demo"
    finally:
        proc.terminate()
        proc.wait(20)
        if proc.stdout is not None:
            proc.stdout.close()
    after = _tokenstile(env, "token")
    assert after.returncode == 2
    assert after.stderr.startswith("tokenstile: Not signed in")
    assert proc.returncode == 0
    left = KeyringStore(item=DEMO_SESSION_ITEM).load()
    assert left is None, "the demo's session was left in the keychain"
