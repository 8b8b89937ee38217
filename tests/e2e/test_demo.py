"""`tokenstile demo` (what `make demo` runs) comes up and its printed session works."""

from __future__ import annotations

import base64
import os
import re
import subprocess
import sys
import time

import httpx
import pytest

from tests.conftest import free_port
from tokenstile.factors.otp import totp_code


@pytest.mark.server
def test_demo_serves_a_working_session() -> None:
    port = free_port()
    env = {**os.environ, "TOKENSTILE_PORT": str(port)}
    proc = subprocess.Popen(
        [sys.executable, "-m", "tokenstile.cli", "demo"],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        env=env,
    )
    try:
        assert proc.stdout is not None
        lines: list[str] = []
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            line = proc.stdout.readline()
            if not line:
                break
            lines.append(line)
            if line.strip() == "Ready.":
                break
        output = "".join(lines)
        assert "Ready." in output, output
        base = f"http://127.0.0.1:{port}"
        assert f"{base}/.well-known/openid-configuration" in output
        refresh = re.search(r"refresh_token=(\S+)", output)
        assert refresh is not None
        form = {
            "grant_type": "refresh_token",
            "client_id": "tokenstile-kiosk",
            "refresh_token": refresh.group(1),
        }
        first = httpx.post(f"{base}/token", data=form, timeout=10)
        assert first.status_code == 200
        access = first.json()["access_token"]
        me = httpx.get(
            f"{base}/userinfo", headers={"Authorization": f"Bearer {access}"}, timeout=10
        )
        assert me.json()["sub"] == "demo"
        # The printed one-time-code login works with the printed secret.
        secret = re.search(r"oathtool --totp -b ([A-Z2-7]+)", output)
        assert secret is not None
        code = totp_code(base64.b32decode(secret.group(1)), time.time())
        login = httpx.post(
            f"{base}/login/totp", json={"username": "demo", "code": code}, timeout=10
        )
        assert login.status_code == 200, login.text
    finally:
        proc.terminate()
        proc.wait(10)
        if proc.stdout is not None:
            proc.stdout.close()
