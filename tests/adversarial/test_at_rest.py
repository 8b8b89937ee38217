"""Secrets at rest: what another local user, or a backup, can read from the disk.

* The SQLite database (password hashes, encrypted seeds and keys, refresh-token hashes,
  the audit log) and SQLite's ``-wal``/``-shm`` files beside it are created 0600, in a
  directory created 0700, whatever the process umask says.
* A sign-in on a machine with no OS keychain fails with a sentence naming the fix and
  writes no token anywhere: not under ``$HOME``, the XDG directories, Tokenstile's data
  and runtime directories or the working directory. The tokens the server issued for
  it are revoked, so none of them is left valid anywhere.
* ``keyrings.alt``'s file backends (a plaintext or home-made encrypted file posing as a
  keychain), chosen by ``PYTHON_KEYRING_BACKEND`` or a ``keyringrc.cfg``, are refused
  the same way, and no keyring file is written.
"""

from __future__ import annotations

import os
import stat
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import httpx
import keyrings.alt  # type: ignore[import-untyped]  # noqa: F401 - what the broker refuses
import pytest

from tests.adversarial.conftest import AttackedService
from tests.conftest import free_port

TOKENSTILE = str(Path(sys.executable).with_name("tokenstile"))
JWT_PREFIX = b"eyJ"  # base64url of '{"': every JWT (access and id tokens) starts so


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def loose_umask() -> None:
    os.umask(0o022)  # the usual umask: files 0644, directories 0755 unless asked otherwise


def run(args: list[str], env: dict[str, str], **kw: Any) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [TOKENSTILE, *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
        preexec_fn=loose_umask,  # a single-threaded child's set-up
        **kw,
    )


# -- the database ----------------------------------------------------------------------


@pytest.fixture
def fresh_data_dir(tmp_path: Path) -> tuple[Path, dict[str, str]]:
    data = tmp_path / "nested" / "tokenstile-data"  # neither exists yet
    env = {k: v for k, v in os.environ.items() if not k.startswith("TOKENSTILE_")}
    env["TOKENSTILE_DATA_DIR"] = str(data)
    env["TOKENSTILE_RUNTIME_DIR"] = str(tmp_path / "run")
    return data, env


def test_the_database_and_its_directory_are_private(
    fresh_data_dir: tuple[Path, dict[str, str]],
) -> None:
    data, env = fresh_data_dir
    init = run(["manage", "init"], env)
    assert init.returncode == 0, init.stderr
    database = data / "tokenstile.db"
    assert mode(data) == 0o700
    assert mode(database) == 0o600
    assert mode(data / "kek.key") == 0o600

    port = free_port()
    server = subprocess.Popen(
        [TOKENSTILE, "--log-level", "WARNING", "server", "--port", str(port)],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        preexec_fn=loose_umask,  # noqa: PLW1509 - single-threaded set-up
    )
    try:
        base = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + 30
        while True:
            assert server.poll() is None, "the server exited"
            try:
                if httpx.get(f"{base}/healthz", timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            assert time.monotonic() < deadline, "the server did not start"
            time.sleep(0.05)
        # A write (a failed login's audit row) while the server holds the database open:
        # SQLite's write-ahead log and shared-memory index exist beside it now.
        answer = httpx.post(f"{base}/login/totp", json={"username": "nobody", "code": "123456"})
        assert answer.status_code in (400, 401), answer.text
        wal, shm = Path(f"{database}-wal"), Path(f"{database}-shm")
        assert wal.exists()
        assert shm.exists()
        assert {p.name: mode(p) for p in (database, wal, shm)} == {
            "tokenstile.db": 0o600,
            "tokenstile.db-wal": 0o600,
            "tokenstile.db-shm": 0o600,
        }
        for path in data.iterdir():
            assert mode(path) & 0o077 == 0, f"{path.name} is {oct(mode(path))}"
    finally:
        server.terminate()
        server.wait(10)


def test_a_key_file_kept_apart_from_the_database_gets_a_private_directory(
    fresh_data_dir: tuple[Path, dict[str, str]], tmp_path: Path
) -> None:
    """The KEK kept out of the database's backups (operations.md) is as private there."""
    _data, env = fresh_data_dir
    kek = tmp_path / "secrets" / "tokenstile" / "kek.key"  # neither directory exists yet
    init = run(["manage", "init"], {**env, "TOKENSTILE_KEK_FILE": str(kek)})
    assert init.returncode == 0, init.stderr
    assert mode(kek) == 0o600
    assert mode(kek.parent) == 0o700
    assert mode(kek.parent.parent) == 0o700


def test_an_admins_mode_on_an_existing_database_is_left_alone(
    fresh_data_dir: tuple[Path, dict[str, str]],
) -> None:
    """The admin chose a group-readable file (a backup group): it stays so, with a warning."""
    data, env = fresh_data_dir
    assert run(["manage", "init"], env).returncode == 0
    database = data / "tokenstile.db"
    database.chmod(0o640)
    again = run(["manage", "init"], env)
    assert again.returncode == 0, again.stderr
    assert mode(database) == 0o640
    assert "readable by other users" in again.stderr


# -- the broker's session without a keychain -----------------------------------------------


def keychainless_env(root: Path, **extra: str) -> tuple[dict[str, str], list[Path]]:
    """A fresh user with no D-Bus session (so no Secret Service): every place a file
    could go is under ``root``."""
    home = root / "home"
    dirs = {
        "HOME": home,
        "XDG_CONFIG_HOME": root / "xdg-config",
        "XDG_DATA_HOME": root / "xdg-data",
        "XDG_CACHE_HOME": root / "xdg-cache",
        "XDG_STATE_HOME": root / "xdg-state",
        "XDG_RUNTIME_DIR": root / "xdg-runtime",
        "TOKENSTILE_DATA_DIR": root / "tokenstile-data",
        "TOKENSTILE_RUNTIME_DIR": root / "tokenstile-run",
        "TMPDIR": root / "tmp",
    }
    for path in dirs.values():
        path.mkdir(parents=True, mode=0o700)
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("TOKENSTILE_", "XDG_", "DBUS_", "PYTHON_KEYRING"))
    }
    env.update({k: str(v) for k, v in dirs.items()})
    env.update(extra)
    (root / "cwd").mkdir()
    return env, [root]


def files_under(roots: list[Path]) -> dict[Path, bytes]:
    return {p: p.read_bytes() for r in roots for p in r.rglob("*") if p.is_file()}


def sign_in(service: AttackedService, env: dict[str, str], root: Path) -> str:
    """``tokenstile login --factor totp`` as alice: the one-line error (exit 1)."""
    login = run(
        ["login", "--server", service.url, "--factor", "totp", "--username", "alice"],
        env,
        input=service.code("alice") + "\n",
        cwd=root / "cwd",
    )
    assert login.returncode == 1, (login.stdout, login.stderr)
    assert login.stdout == ""
    lines = login.stderr.strip().splitlines()
    assert len(lines) == 1, login.stderr
    return lines[0]


def assert_no_token_left(service: AttackedService, roots: list[Path]) -> None:
    """The server did sign alice in (so there were tokens to lose), none of them is on
    disk, and the session they belong to is over."""
    logins = [e for e in service.audit("login") if e["outcome"] == "success"]
    assert [e["username"] for e in logins] == ["alice"]
    sid = logins[0]["sid"]
    assert sid
    for path, content in files_under(roots).items():
        assert JWT_PREFIX not in content, f"{path} holds a JWT"
        assert sid.encode() not in content, f"{path} names the session"
        assert b"refresh_token" not in content, f"{path} holds a refresh token"
    revoked = [e for e in service.audit("revoke") if e["sid"] == sid]
    assert revoked, "the orphaned session was not revoked at the server"


def test_a_login_without_a_keychain_writes_no_token(attacked: Any, tmp_path: Path) -> None:
    service: AttackedService = attacked()
    env, roots = keychainless_env(tmp_path / "user")
    error = sign_in(service, env, tmp_path / "user")
    assert error.startswith("tokenstile: No OS keychain is available to keep the session")
    assert "TOKENSTILE_BROKER_STORE=encrypted-file" in error
    assert_no_token_left(service, roots)
    # Nothing at all was written: not even the broker's lock or change stamp.
    assert files_under(roots) == {}


def test_a_dpop_bound_login_without_a_keychain_writes_no_key(attacked: Any, tmp_path: Path) -> None:
    """The session's DPoP private key is as secret as its tokens."""
    service: AttackedService = attacked()
    env, roots = keychainless_env(tmp_path / "user", TOKENSTILE_BROKER_DPOP="true")
    assert "No OS keychain" in sign_in(service, env, tmp_path / "user")
    assert_no_token_left(service, roots)
    assert files_under(roots) == {}


@pytest.mark.parametrize(
    "backend",
    [
        "keyrings.alt.file.PlaintextKeyring",
        "keyrings.alt.file.EncryptedKeyring",
    ],
)
@pytest.mark.parametrize("chosen_by", ["environment", "keyringrc.cfg"])
def test_keyrings_alt_file_backends_are_refused(
    attacked: Any, tmp_path: Path, backend: str, chosen_by: str
) -> None:
    service: AttackedService = attacked()
    root = tmp_path / "user"
    if chosen_by == "environment":
        env, roots = keychainless_env(root, PYTHON_KEYRING_BACKEND=backend)
        config: Path | None = None
    else:
        env, roots = keychainless_env(root)
        config = root / "xdg-config" / "python_keyring" / "keyringrc.cfg"
        config.parent.mkdir()
        config.write_text(f"[backend]\ndefault-keyring={backend}\n")
    error = sign_in(service, env, root)
    assert "No OS keychain" in error, error
    assert "file" in error  # says why the configured backend is no keychain
    assert_no_token_left(service, roots)
    written = set(files_under(roots)) - {config}
    assert written == set(), f"files written: {sorted(map(str, written))}"
