"""The PyInstaller bundle (`make bundle`): built once per test run, then started for real.

The build takes about half a minute on two cores, so it happens once, in a session
fixture, into a temporary directory: every run (and a clean CI clone) tests a build of
the code it has, never a stale one.
"""

from __future__ import annotations

import ctypes
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.conftest import ROOT, free_port
from tokenstile import __version__
from tokenstile.tokens import AccessTokenVerifier
from tokenstile.tokens.model import LOCAL_AUDIENCE

pytestmark = [pytest.mark.slow, pytest.mark.timeout(600)]

SPEC = ROOT / "packaging" / "pyinstaller" / "tokenstile.spec"
SECRET = "JBSWY3DPEHPK3PXPJBSWY3DP"
PR_SET_MDWE, PR_MDWE_REFUSE_EXEC_GAIN = 65, 1


@pytest.fixture(scope="session")
def bundle(tmp_path_factory: pytest.TempPathFactory) -> Path:
    work = tmp_path_factory.mktemp("pyinstaller")
    log = work / "build.log"
    with log.open("w") as out:
        result = subprocess.run(
            [
                sys.executable,
                "-m",
                "PyInstaller",
                "--noconfirm",
                "--log-level",
                "WARN",
                "--distpath",
                str(work / "dist"),
                "--workpath",
                str(work / "build"),
                str(SPEC),
            ],
            stdout=out,
            stderr=subprocess.STDOUT,
            check=False,
            timeout=540,
        )
    assert result.returncode == 0, log.read_text()[-4000:]
    program = work / "dist" / "tokenstile" / "tokenstile"
    assert program.is_file()
    return program


def _run(program: Path, *args: str, env: dict[str, str] | None = None) -> str:
    result = subprocess.run(
        [str(program), *args],
        capture_output=True,
        text=True,
        env={**os.environ, **(env or {})},
        check=False,
        timeout=120,
    )
    assert result.returncode == 0, f"{args}: {result.stdout}{result.stderr}"
    return result.stdout


def _deny_write_execute() -> None:
    """What systemd's MemoryDenyWriteExecute=yes does, set in the child before exec."""
    libc = ctypes.CDLL(None, use_errno=True)
    if libc.prctl(PR_SET_MDWE, PR_MDWE_REFUSE_EXEC_GAIN, 0, 0, 0) != 0:
        raise OSError(ctypes.get_errno(), "prctl(PR_SET_MDWE) failed")


@pytest.fixture
def bundled_server(bundle: Path, tmp_path: Path) -> Iterator[str]:
    """`tokenstile server` from the bundle, as the systemd unit runs it (no W+X memory),
    on a database the bundle created, with alice and her TOTP app enrolled."""
    _run(bundle, "manage", "init")
    _run(bundle, "manage", "user", "add", "alice")
    _run(bundle, "manage", "totp", "add", "alice", "--secret", SECRET)
    port = free_port()
    log = tmp_path / "server.log"
    with log.open("w") as out:
        proc = subprocess.Popen(
            [str(bundle), "server", "--port", str(port)],
            stdout=out,
            stderr=subprocess.STDOUT,
            preexec_fn=_deny_write_execute,  # noqa: PLW1509 - one prctl between fork and exec
        )
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            assert proc.poll() is None, log.read_text()
            try:
                if httpx.get(f"{base}/healthz", timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            assert time.monotonic() < deadline, log.read_text()
            time.sleep(0.1)
        yield base
    finally:
        proc.terminate()
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(10)


def test_bundle_prints_its_version(bundle: Path) -> None:
    assert _run(bundle, "--version").strip() == f"tokenstile {__version__}"


def test_bundle_creates_and_upgrades_a_database(bundle: Path) -> None:
    first = _run(bundle, "manage", "init")
    assert "Created the database." in first
    assert "Created signing key" in first
    # The Alembic migrations travel in the bundle: a second run finds the schema at head.
    assert _run(bundle, "manage", "init").splitlines() == ["The database is up to date."]


def test_bundle_enrolls_a_security_key(bundle: Path, tmp_path: Path) -> None:
    """python-fido2's client and CBOR, and the software key, work frozen."""
    _run(bundle, "manage", "init")
    _run(bundle, "manage", "user", "add", "alice")
    key = tmp_path / "key.json"
    _run(bundle, "virtual-key", "create", str(key), "--pin", "4711")
    _run(
        bundle, "manage", "fido2", "enroll", "alice", "--device", f"virtual:{key}", "--pin", "4711"
    )
    assert "alice" in _run(bundle, "manage", "fido2", "list", "alice")


def test_memory_deny_write_execute_is_in_force_for_the_server() -> None:
    # The check below only means something if the prctl really refuses W+X memory here.
    probe = subprocess.run(
        [sys.executable, "-c", "import mmap; mmap.mmap(-1, 4096, prot=7)"],
        preexec_fn=_deny_write_execute,
        capture_output=True,
        text=True,
        check=False,
    )
    assert probe.returncode != 0
    assert "Permission denied" in probe.stderr


def test_bundled_server_answers_and_signs_in_without_write_execute_memory(
    bundled_server: str,
) -> None:
    base = bundled_server
    assert httpx.get(f"{base}/healthz", timeout=10).json() == {
        "status": "ok",
        "version": __version__,
    }
    code = subprocess.run(
        ["oathtool", "--totp", "-b", SECRET], capture_output=True, text=True, check=True
    ).stdout.strip()
    answer = httpx.post(f"{base}/login/totp", json={"username": "alice", "code": code}, timeout=10)
    assert answer.status_code == 200, answer.text
    # The frozen server's ES256 signature verifies with the JWKS it publishes.
    verifier = AccessTokenVerifier(base, LOCAL_AUDIENCE, f"{base}/jwks.json")
    assert verifier.verify(answer.json()["access_token"])["sub"] == "alice"


def test_bundled_kiosk_self_test_offscreen(bundle: Path) -> None:
    out = _run(bundle, "kiosk", "--self-test", env={"QT_QPA_PLATFORM": "offscreen"})
    assert out.strip().splitlines()[-1] == "kiosk ok"
