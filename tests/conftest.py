"""Shared fixtures: redirected paths, initialised deployments, a real PostgreSQL, a real server.

Every fixture that needs a real service starts it itself; nothing is skipped because a
service is missing (``make test`` installs what these need).
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest

from tokenstile.clock import FrozenClock
from tokenstile.config import Settings, load_settings
from tokenstile.deployment import DEFAULT_KIOSK_CLIENT_ID, Deployment
from tokenstile.tokens.model import AuditEvent, Client, User

ROOT = Path(__file__).resolve().parent.parent

# How `make test` splits the suite between its two xdist workers.
pytest_plugins = ["tests.xdist_units"]


def isolate_paths(folder: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Settings from nowhere but ``folder``: no ``TOKENSTILE_*`` of the outer environment,
    the data and runtime directories inside ``folder``. Also what a fixture wider than one
    test (which ``_isolated_paths`` cannot serve) uses, in a ``MonkeyPatch.context()``."""
    for name in list(os.environ):
        if name.startswith("TOKENSTILE_"):
            monkeypatch.delenv(name)
    monkeypatch.setenv("TOKENSTILE_DATA_DIR", str(folder / "data"))
    monkeypatch.setenv("TOKENSTILE_RUNTIME_DIR", str(folder / "run"))
    # The suite's deployments enroll the project's software key (tests of the refusal
    # turn this off for their own deployment).
    monkeypatch.setenv("TOKENSTILE_WEBAUTHN_ALLOW_SOFTWARE_KEYS", "true")


@pytest.fixture(autouse=True)
def _isolated_paths(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """No test touches the real data directory, environment settings or config file."""
    isolate_paths(tmp_path, monkeypatch)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture
def clock() -> FrozenClock:
    return FrozenClock(1_800_000_000.0)


def make_deployment(db: str, clock: FrozenClock | None = None, **overrides: Any) -> Deployment:
    settings = load_settings(db=db, issuer="https://auth.example", **overrides)
    deployment = Deployment(settings, clock=clock)
    deployment.init()
    return deployment


@pytest.fixture
def deployment(tmp_path: Path, clock: FrozenClock) -> Iterator[Deployment]:
    """An initialised embedded (SQLite) deployment on a frozen clock."""
    dep = make_deployment(f"sqlite:///{tmp_path / 'ts.db'}", clock)
    yield dep
    dep.close()


def add_user(dep: Deployment, username: str = "alice", **kwargs: Any) -> User:
    return dep.store.add_user(
        username,
        display_name=kwargs.get("display_name", username.title()),
        is_admin=kwargs.get("is_admin", False),
        at=dep.clock.now(),
        audit=AuditEvent("user_added", "info", username=username),
    )


def kiosk_client(dep: Deployment) -> Client:
    client = dep.store.find_client(DEFAULT_KIOSK_CLIENT_ID)
    assert client is not None
    return client


# -- PostgreSQL ------------------------------------------------------------------------


@dataclass
class PostgresCluster:
    directory: Path
    port: int
    pg_bin: Path

    def url(self, database: str = "postgres") -> str:
        return f"postgresql+psycopg://postgres@/{database}?host={self.directory}&port={self.port}"

    def _as_owner(self, args: list[str]) -> subprocess.CompletedProcess[str]:
        cmd = args if os.geteuid() != 0 else ["runuser", "-u", "postgres", "--", *args]
        return subprocess.run(cmd, check=True, capture_output=True, text=True, timeout=60)

    def create_database(self, name: str) -> str:
        self._as_owner(
            [
                str(self.pg_bin / "createdb"),
                "-h",
                str(self.directory),
                "-p",
                str(self.port),
                "-U",
                "postgres",
                name,
            ]
        )
        return self.url(name)

    def restart(self) -> None:
        ctl = str(self.pg_bin / "pg_ctl")
        self._as_owner([ctl, "-D", str(self.directory / "data"), "-m", "fast", "-w", "restart"])


def _pg_bin() -> Path:
    base = Path("/usr/lib/postgresql")
    versions = sorted(base.glob("*/bin/initdb")) if base.exists() else []
    if not versions:
        pytest.fail("PostgreSQL is not installed: run `make test`, which installs it.")
    return versions[-1].parent


@contextmanager
def running_cluster(directory: Path, *, options: str = "-c fsync=off") -> Iterator[PostgresCluster]:
    """A PostgreSQL cluster made and started in ``directory`` (its socket there too, no
    TCP), stopped with ``immediate`` afterwards; the caller removes the directory."""
    pg_bin = _pg_bin()
    os.chmod(directory, 0o755)  # the postgres user must reach its socket
    if os.geteuid() == 0:
        shutil.chown(directory, "postgres", "postgres")
    cluster = PostgresCluster(directory, free_port(), pg_bin)
    data = directory / "data"
    cluster._as_owner([str(pg_bin / "initdb"), "-D", str(data), "-A", "trust", "-U", "postgres"])
    cluster._as_owner(
        [
            str(pg_bin / "pg_ctl"),
            "-D",
            str(data),
            "-l",
            str(directory / "log"),
            "-w",
            "-o",
            f"-k {directory} -p {cluster.port} -c listen_addresses= {options}",
            "start",
        ]
    )
    try:
        yield cluster
    finally:
        subprocess.run(
            (["runuser", "-u", "postgres", "--"] if os.geteuid() == 0 else [])
            + [str(pg_bin / "pg_ctl"), "-D", str(data), "-m", "immediate", "-w", "stop"],
            check=False,
            capture_output=True,
            timeout=60,
        )
        _kill_left_postmaster(data)


def _kill_left_postmaster(data: Path) -> None:
    """The postmaster of ``data`` if ``pg_ctl stop`` left it running (seen once: a
    cluster outlived its test by an hour), stopped by the PID in its pid file."""
    with contextlib.suppress(OSError, ValueError, IndexError):
        pid = int((data / "postmaster.pid").read_text().splitlines()[0])
        if b"postgres" in Path(f"/proc/{pid}/cmdline").read_bytes():  # not a reused PID
            os.kill(pid, signal.SIGKILL)


@pytest.fixture(scope="session")
def postgres() -> Iterator[PostgresCluster]:
    """A throwaway PostgreSQL cluster on a Unix socket (TESTING.md recipe)."""
    directory = Path(tempfile.mkdtemp(prefix="tokenstile-pg-"))
    try:
        with running_cluster(directory) as cluster:
            yield cluster
    finally:
        shutil.rmtree(directory, ignore_errors=True)


_pg_counter = iter(range(1_000_000))


@pytest.fixture
def postgres_url(postgres: PostgresCluster) -> str:
    """A fresh, empty database in the session's cluster."""
    return postgres.create_database(f"ts_{os.getpid()}_{next(_pg_counter)}")


# -- a real server process ---------------------------------------------------------------


@dataclass
class ServerProcess:
    process: subprocess.Popen[bytes]
    base_url: str
    settings: Settings
    log_path: Path

    def client(self, **kwargs: Any) -> httpx.Client:
        return httpx.Client(base_url=self.base_url, timeout=10, **kwargs)

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(10)


def start_server(
    settings: Settings, log_path: Path, env: dict[str, str] | None = None
) -> ServerProcess:
    port = settings.port
    cmd = [
        sys.executable,
        "-m",
        "tokenstile.cli",
        "--log-level",
        "WARNING",
        "server",
        "--db",
        settings.db,
        "--port",
        str(port),
        "--host",
        "127.0.0.1",
    ]
    if settings.issuer:
        cmd += ["--issuer", settings.issuer]
    full_env = {**os.environ, **(env or {})}
    full_env["TOKENSTILE_KEK_FILE"] = str(settings.kek_file)
    with log_path.open("ab") as log:
        proc = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT, env=full_env)
    base = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"server exited: {log_path.read_text()}")
        try:
            if httpx.get(f"{base}/healthz", timeout=1).status_code == 200:
                return ServerProcess(proc, base, settings, log_path)
        except httpx.HTTPError:
            time.sleep(0.05)
    proc.kill()
    raise RuntimeError(f"server did not start: {log_path.read_text()}")


def launch_server(folder: Path, db: str | None = None, **overrides: Any) -> ServerProcess:
    """``tokenstile server`` on a free loopback port, its database initialised first (in
    ``folder``, unless ``db``), settings as keyword overrides; the caller stops it."""
    port = free_port()
    settings = load_settings(
        db=db or f"sqlite:///{folder / 'server.db'}",
        port=port,
        issuer=overrides.pop("issuer", f"http://127.0.0.1:{port}"),
        **overrides,
    )
    setup = Deployment(settings)
    setup.init()
    setup.close()
    # The server process reads every other setting from its environment (lists and
    # tables as JSON, as pydantic-settings reads them).
    env = {
        f"TOKENSTILE_{name.upper()}": (
            json.dumps(value) if isinstance(value, list | tuple | dict) else str(value)
        )
        for name, value in overrides.items()
    }
    return start_server(settings, folder / f"server-{port}.log", env)


@pytest.fixture
def server_factory(tmp_path: Path) -> Iterator[Callable[..., ServerProcess]]:
    """Start ``tokenstile server`` processes on free loopback ports; stopped afterwards."""
    started: list[ServerProcess] = []

    def factory(db: str | None = None, **overrides: Any) -> ServerProcess:
        server = launch_server(tmp_path, db, **overrides)
        started.append(server)
        return server

    yield factory
    for server in started:
        server.stop()


# -- the OS keychain: gnome-keyring's Secret Service on a private D-Bus session ------------


@dataclass(frozen=True)
class SecretService:
    """A D-Bus session bus of the test run with gnome-keyring's Secret Service on it."""

    address: str
    home: Path
    runtime: Path

    @property
    def env(self) -> dict[str, str]:
        """What a process needs to reach this keychain (``keyring``, ``secret-tool``)."""
        return {
            "DBUS_SESSION_BUS_ADDRESS": self.address,
            "HOME": str(self.home),
            "XDG_DATA_HOME": str(self.home / ".local" / "share"),
            "XDG_RUNTIME_DIR": str(self.runtime),
        }

    def secret_tool(self, *args: str) -> subprocess.CompletedProcess[str]:
        """``secret-tool`` (libsecret, outside Python) against this keychain."""
        return subprocess.run(
            ["secret-tool", *args],
            env={**os.environ, **self.env},
            check=False,
            capture_output=True,
            text=True,
            timeout=20,
        )


def _wait_for_secret_service(env: dict[str, str], daemon: subprocess.Popen[bytes]) -> None:
    probe = [
        sys.executable,
        "-c",
        "import secretstorage as s; s.get_default_collection(s.dbus_init())",
    ]
    deadline = time.monotonic() + 15
    while time.monotonic() < deadline:
        if daemon.poll() is not None:
            pytest.fail("gnome-keyring-daemon exited at start")
        answer = subprocess.run(probe, check=False, env=env, capture_output=True, timeout=10)
        if answer.returncode == 0:
            return
        time.sleep(0.1)
    pytest.fail("the Secret Service did not come up on the private bus")


# The private bus has no service directories: nothing is started by D-Bus activation.
# With the system's (org.freedesktop.secrets.service) a keyring daemon that died was
# replaced by one started with the bus's environment (another HOME, no password), whose
# missing "login" collection failed every later keychain test with "Prompt dismissed".
_BUS_CONFIG = """<!DOCTYPE busconfig PUBLIC "-//freedesktop//DTD D-BUS Bus Configuration 1.0//EN"
 "http://www.freedesktop.org/standards/dbus/1.0/busconfig.dtd">
<busconfig>
  <type>session</type>
  <listen>unix:path={path}</listen>
  <policy context="default">
    <allow send_destination="*" eavesdrop="true"/>
    <allow eavesdrop="true"/>
    <allow own="*"/>
  </policy>
</busconfig>
"""

_KEYRING_PASSWORD = b"keyring-password"


def _start_keyring_daemon(env: dict[str, str], log: Path) -> subprocess.Popen[bytes]:
    # --unlock reads the login keyring's password from stdin: with a password the
    # keyring file on disk is encrypted (an empty one would leave it readable). What the
    # daemon says goes to ``log``, to find out why it sometimes exits mid-run.
    with log.open("ab") as output:
        daemon = subprocess.Popen(
            ["gnome-keyring-daemon", "--foreground", "--unlock", "--components=secrets"],
            stdin=subprocess.PIPE,
            stdout=output,
            stderr=subprocess.STDOUT,
            env=env,
        )
    assert daemon.stdin is not None
    daemon.stdin.write(_KEYRING_PASSWORD)
    daemon.stdin.close()
    _wait_for_secret_service(env, daemon)
    return daemon


# The keyring daemon of this run, by bus address: ``keychain`` starts it again (same
# home, same password) if it has exited, so one test's lost daemon is not every later one's.
_keyring_daemons: dict[str, subprocess.Popen[bytes]] = {}
_keyring_restarts: list[str] = []


def pytest_terminal_summary(terminalreporter: Any) -> None:
    if _keyring_restarts:
        terminalreporter.section("keychain daemon restarts")
        for line in _keyring_restarts:
            terminalreporter.write_line(line)


@pytest.fixture(scope="session")
def secret_service(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SecretService]:
    """TESTING.md's keychain recipe, once per run: ``dbus-daemon`` and
    ``gnome-keyring-daemon`` of our own, stopped by their PIDs at the end."""
    for tool in ("dbus-daemon", "gnome-keyring-daemon", "secret-tool"):
        if shutil.which(tool) is None:
            pytest.fail(f"{tool} is not installed: run `make test`, which installs it")
    home = tmp_path_factory.mktemp("keychain-home")
    runtime = home / "run"
    runtime.mkdir(mode=0o700)
    config = home / "bus.conf"
    config.write_text(_BUS_CONFIG.format(path=runtime / "bus"))
    bus = subprocess.Popen(
        ["dbus-daemon", f"--config-file={config}", "--nofork", "--nopidfile", "--print-address=1"],
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
    )
    address = ""
    try:
        assert bus.stdout is not None
        address = bus.stdout.readline().decode().strip()
        assert address.startswith("unix:"), address
        service = SecretService(address, home, runtime)
        _keyring_daemons[address] = _start_keyring_daemon(
            {**os.environ, **service.env}, home / "keyring-daemon.log"
        )
        yield service
    finally:
        if bus.stdout is not None:
            bus.stdout.close()
        for process in (_keyring_daemons.pop(address, None), bus):
            if process is not None and process.poll() is None:
                process.terminate()  # by its PID: other runs have their own daemons
                try:
                    process.wait(10)
                except subprocess.TimeoutExpired:
                    process.kill()
                    process.wait(10)


def restart_keychain_daemon(service: SecretService) -> None:
    """Stop this run's gnome-keyring-daemon (by its PID) and start it again, as a desktop
    session does after the daemon died: same home, same password, items kept on disk."""
    daemon = _keyring_daemons[service.address]
    if daemon.poll() is None:
        daemon.terminate()
        daemon.wait(10)
    _keyring_daemons[service.address] = _start_keyring_daemon(
        {**os.environ, **service.env}, service.home / "keyring-daemon.log"
    )


@pytest.fixture
def keychain(
    secret_service: SecretService, monkeypatch: pytest.MonkeyPatch, request: pytest.FixtureRequest
) -> Iterator[Any]:
    """The real keychain for this test (and its subprocesses), emptied before and after:
    the broker's ``KeyringStore`` on it."""
    from tokenstile.broker.store import KeyringStore

    daemon = _keyring_daemons.get(secret_service.address)
    if daemon is not None and daemon.poll() is not None:
        log = secret_service.home / "keyring-daemon.log"
        said = log.read_text(errors="replace")[-2000:] if log.exists() else ""
        # Said at the end of the run (pytest_terminal_summary): the exit code (negative:
        # the signal) and the daemon's last words are what is needed to find the cause.
        _keyring_restarts.append(
            f"gnome-keyring-daemon exited with {daemon.returncode} before {request.node.nodeid}; "
            f"started again. It said: {said!r}"
        )
        _keyring_daemons[secret_service.address] = _start_keyring_daemon(
            {**os.environ, **secret_service.env}, log
        )
    for name, value in secret_service.env.items():
        monkeypatch.setenv(name, value)
    monkeypatch.delenv("PYTHON_KEYRING_BACKEND", raising=False)
    store = KeyringStore()
    store.clear()
    yield store
    store.clear()
