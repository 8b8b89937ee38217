"""Real pcscd with the vpcd driver, and virtual cards put into its readers.

``pcscd`` (session): uses the machine's pcscd when its socket answers; otherwise starts
``pcscd -f -a`` as a child process and stops that one, by its PID, at the end. Either
way it waits until both vpcd readers are listed.

``vpcd_slot`` puts a card into a vpcd reader and pulls it at the end of the test. A
vpcd reader holds one card, and other test runs on this machine may want it too: a
file lock per reader (in the system temp directory) serialises them.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import socket
import subprocess
import tempfile
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import filelock
import pytest

from tokenstile.devices.errors import DeviceError
from tokenstile.devices.pcsc import list_readers, readers_with_cards
from tokenstile.virtual.vpcd import CardApplet, VpcdCard

PCSCD_SOCKET = Path("/run/pcscd/pcscd.comm")
READERS = ("Virtual PCD 00 00", "Virtual PCD 00 01")
OPENSC_PKCS11 = Path("/usr/lib/x86_64-linux-gnu/opensc-pkcs11.so")


def _pcscd_answers() -> bool:
    try:
        with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as probe:
            probe.settimeout(1)
            probe.connect(str(PCSCD_SOCKET))
    except OSError:
        return False
    return True


def _running_pcscd() -> bool:
    pidof = shutil.which("pidof")
    if pidof is None:
        return False
    return subprocess.run([pidof, "pcscd"], capture_output=True, check=False).returncode == 0


def _vpcd_readers_listed() -> bool:
    try:
        return all(reader in list_readers() for reader in READERS)
    except DeviceError:
        return False


def wait_until(condition: Callable[[], bool], timeout: float, interval: float = 0.02) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(interval)
    return condition()


@dataclass
class Pcscd:
    started_here: bool
    log: Path | None


@pytest.fixture(scope="session")
def pcscd(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Pcscd]:
    if _pcscd_answers() or (_running_pcscd() and wait_until(_pcscd_answers, 5)):
        if not wait_until(_vpcd_readers_listed, 10):
            pytest.fail(
                f"pcscd runs but does not list {READERS}: install vsmartcard-vpcd and "
                "restart pcscd (`make test` installs it)"
            )
        yield Pcscd(started_here=False, log=None)
        return

    executable = shutil.which("pcscd") or "/usr/sbin/pcscd"
    if not Path(executable).exists():
        pytest.fail("pcscd is not installed: run `make test`, which installs it")
    log = tmp_path_factory.mktemp("pcscd") / "pcscd.log"
    with log.open("wb") as output:
        process = subprocess.Popen(
            [executable, "-f", "-a"], stdout=output, stderr=subprocess.STDOUT
        )
    try:
        ready = wait_until(
            lambda: process.poll() is not None or (_pcscd_answers() and _vpcd_readers_listed()),
            15,
        )
        if process.poll() is not None or not ready:
            pytest.fail(f"pcscd did not come up:\n{log.read_text(errors='replace')}")
        yield Pcscd(started_here=True, log=log)
    finally:
        if process.poll() is None:
            process.terminate()
            try:
                process.wait(10)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait(10)


def card_present(reader: str) -> bool:
    try:
        return reader in readers_with_cards()
    except DeviceError:
        return False


@dataclass
class InsertedCard:
    """A virtual card in a vpcd reader, seen by pcscd."""

    vpcd: VpcdCard
    reader_name: str

    def pull(self, timeout: float = 10) -> None:
        """Pull the card and wait until pcscd has noticed."""
        self.vpcd.remove()
        assert wait_until(lambda: not card_present(self.reader_name), timeout), (
            f"pcscd still sees a card in {self.reader_name}"
        )

    def push(self, timeout: float = 10) -> None:
        """Insert the card (again) and wait until pcscd has powered it up."""
        self.vpcd.insert()
        assert wait_until(lambda: card_present(self.reader_name), timeout), (
            f"pcscd does not see the card in {self.reader_name}"
        )


VpcdSlot = Callable[..., InsertedCard]


def _acquire_reader(reader: int) -> filelock.FileLock:
    lock = filelock.FileLock(Path(tempfile.gettempdir()) / f"tokenstile-vpcd-{reader}.lock")
    try:
        lock.acquire(timeout=60)
    except filelock.Timeout:
        pytest.fail(f"vpcd reader {reader} is held by another test run for over 60 s")
    return lock


@contextlib.contextmanager
def reader_lock(reader: int) -> Iterator[None]:
    """Hold vpcd reader ``reader`` against other test runs on this machine."""
    lock = _acquire_reader(reader)
    try:
        yield
    finally:
        lock.release()


@pytest.fixture
def vpcd_slot(pcscd: Pcscd) -> Iterator[VpcdSlot]:
    """``vpcd_slot(card, reader=0)``: the card inserted and seen by pcscd."""
    held: list[tuple[filelock.FileLock, InsertedCard]] = []

    def insert(card: CardApplet, reader: int = 0) -> InsertedCard:
        lock = _acquire_reader(reader)
        name = READERS[reader]
        if not wait_until(lambda: not card_present(name), 10):
            lock.release()
            pytest.fail(f"another program keeps a card in {name}")
        inserted = InsertedCard(VpcdCard(card, reader=reader), name)
        held.append((lock, inserted))
        inserted.push()
        return inserted

    yield insert
    for lock, inserted in held:
        try:
            inserted.vpcd.close()
            wait_until(lambda name=inserted.reader_name: not card_present(name), 10)  # type: ignore[misc]
        finally:
            lock.release()


@pytest.fixture
def opensc_env(tmp_path: Path) -> dict[str, str]:
    """OpenSC tools with a private HOME, so no file cache from earlier runs is used."""
    home = tmp_path / "home"
    home.mkdir()
    return {**os.environ, "HOME": str(home)}
