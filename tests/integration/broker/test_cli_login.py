"""`tokenstile login/token/status/logout` as separate processes, against a real token
service and gnome-keyring's Secret Service: the items are where ``secret-tool`` finds
them, and no token is ever written to a file."""

from __future__ import annotations

import base64
import json
import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import httpx
import jwt
import pytest

from tests.integration.broker.conftest import (
    SEED,
    SecretService,
    TokenService,
    keychain_item,
    secret_tool,
    tokenstile,
)
from tokenstile.broker.model import StoredSession
from tokenstile.broker.store import KeyringStore

pytestmark = [pytest.mark.server]


def oathtool_code() -> str:
    """The current TOTP code from an independent generator."""
    secret = base64.b32encode(SEED).decode()
    return subprocess.run(
        ["oathtool", "--totp", "-b", secret], capture_output=True, text=True, check=True
    ).stdout.strip()


def files_under(*roots: Path) -> list[Path]:
    return [p for root in roots if root.exists() for p in root.rglob("*") if p.is_file()]


def test_totp_login_token_status_logout(
    token_service: Callable[..., TokenService],
    keychain: KeyringStore,
    secret_service: SecretService,
    tmp_path: Path,
) -> None:
    service = token_service()
    assert tokenstile("token").returncode == 2
    wrong = tokenstile(
        "login",
        "--server",
        service.url,
        "--factor",
        "totp",
        "--username",
        "alice",
        stdin="000000\n",
    )
    assert wrong.returncode == 1
    assert wrong.stderr.startswith("tokenstile: ")
    assert len(wrong.stderr.strip().splitlines()) == 1
    assert keychain_item() == ""

    login = tokenstile(
        "login",
        "--server",
        service.url,
        "--factor",
        "totp",
        "--username",
        "alice",
        stdin=oathtool_code() + "\n",
    )
    assert login.returncode == 0, login.stderr
    assert "Signed in as alice" in login.stdout
    assert "the OS keychain" in login.stdout

    # secret-tool, outside Python, sees the item keyring wrote.
    document = keychain_item()
    session = StoredSession.from_json(document)
    found = secret_tool("search", "service", "tokenstile")
    assert "attribute.username = session" in found.stdout + found.stderr

    token = tokenstile("token")
    assert token.returncode == 0, token.stderr
    access = token.stdout.strip()
    assert access == session.access.access_token
    claims = jwt.decode(access, options={"verify_signature": False})
    assert (claims["sub"], claims["acr"], claims["amr"]) == ("alice", "otp", ["otp"])
    with httpx.Client(base_url=service.url) as http:
        userinfo = http.get("/userinfo", headers={"Authorization": f"Bearer {access}"})
    assert userinfo.status_code == 200, userinfo.text

    as_json = json.loads(tokenstile("token", "--json", "--min-ttl", "5").stdout)
    assert as_json["access_token"] == access
    assert as_json["token_type"] == "Bearer"
    assert 500 < as_json["expires_in"] <= 600

    status = tokenstile("status")
    assert status.returncode == 0
    assert "alice" in status.stdout
    assert "totp (acr otp" in status.stdout

    # No token bytes in any file under the home directory (the keyring's own file is
    # encrypted), the data directory or the runtime directory.
    secrets_ = [access, session.refresh_token or "", access.split(".")[1]]
    roots = [
        secret_service.home,
        Path(os.environ["TOKENSTILE_DATA_DIR"]),
        Path(os.environ["TOKENSTILE_RUNTIME_DIR"]),
        tmp_path,
    ]
    scanned = files_under(*roots)
    assert any(p.name == "login.keyring" for p in scanned)
    for path in scanned:
        data = path.read_bytes()
        for secret in secrets_:
            assert secret.encode() not in data, path

    logout = tokenstile("logout")
    assert logout.returncode == 0, logout.stderr
    assert "revoked" in logout.stdout
    assert keychain_item() == ""
    with httpx.Client(base_url=service.url) as http:
        refused = http.post(
            "/token",
            data={
                "grant_type": "refresh_token",
                "refresh_token": session.refresh_token,
                "client_id": session.client_id,
            },
        )
    assert refused.status_code == 400
    assert refused.json()["error"] == "invalid_grant"
    not_signed_in = tokenstile("token")
    assert not_signed_in.returncode == 2
    assert not_signed_in.stdout == ""
    assert not_signed_in.stderr.startswith("tokenstile: Not signed in")
    assert tokenstile("status").returncode == 2


def test_no_keychain_is_a_clear_error_naming_the_fix(tmp_path: Path) -> None:
    env = {**os.environ, "DBUS_SESSION_BUS_ADDRESS": f"unix:path={tmp_path / 'no-bus'}"}
    for extra in ({}, {"PYTHON_KEYRING_BACKEND": "keyring.backends.null.Keyring"}):
        result = subprocess.run(
            [str(Path(sys.executable).with_name("tokenstile")), "token"],
            check=False,
            capture_output=True,
            text=True,
            timeout=60,
            env={**env, **extra},
        )
        assert result.returncode == 1, result.stderr
        assert "No OS keychain is available" in result.stderr
        assert "TOKENSTILE_BROKER_STORE=encrypted-file" in result.stderr
