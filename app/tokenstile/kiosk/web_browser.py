"""The kiosk's browser (``tokenstile kiosk --browser URL``, ``kiosk_browser_url``).

Once someone signs in, the kiosk opens the URL in Chromium in app mode (``--app=URL``)
with a throwaway profile: a new ``--user-data-dir`` (``mkdtemp``, mode 0700) for every
sign-in. When the session ends — sign-out, the card pulled (when that signs out), the
session's end, another person switching in — the browser is killed by its PID and the
profile directory removed: nothing the person's browsing left (cookies, the provider
session's cookie, history, cache) is there for the next person.

A missing browser (``kiosk_browser_path``, default ``/usr/bin/chromium``) is said once
in the log, and the kiosk carries on without it.
"""

from __future__ import annotations

import logging
import os
import shutil
import subprocess
import tempfile
from pathlib import Path

logger = logging.getLogger(__name__)

STOP_WAIT = 5.0  # seconds for the browser to go after SIGTERM, before SIGKILL


class KioskBrowser:
    """One browser at a time, with its own throwaway profile."""

    def __init__(self, url: str, *, executable: Path) -> None:
        self.url = url
        self.executable = executable
        self._process: subprocess.Popen[bytes] | None = None
        self._profile: Path | None = None
        self._warned = False

    @property
    def pid(self) -> int | None:
        return self._process.pid if self._process is not None else None

    @property
    def profile(self) -> Path | None:
        return self._profile

    def available(self) -> bool:
        return self.executable.is_file() and os.access(self.executable, os.X_OK)

    def open(self) -> bool:
        """Start the browser with a new profile (closing any previous one first)."""
        self.close()
        if not self.available():
            if not self._warned:
                logger.warning(
                    "The kiosk browser %s is missing or not executable: the kiosk goes on "
                    "without it (set kiosk_browser_path).",
                    self.executable,
                )
                self._warned = True
            return False
        profile = Path(tempfile.mkdtemp(prefix="tokenstile-browser-"))
        profile.chmod(0o700)
        try:
            self._process = subprocess.Popen(  # noqa: S603 - our configured browser, no shell
                [
                    str(self.executable),
                    f"--app={self.url}",
                    f"--user-data-dir={profile}",
                    "--no-first-run",
                    "--no-default-browser-check",
                ],
                stdin=subprocess.DEVNULL,
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
                start_new_session=True,
            )
        except OSError as exc:
            shutil.rmtree(profile, ignore_errors=True)
            logger.warning("The kiosk browser %s did not start: %s", self.executable, exc)
            return False
        self._profile = profile
        return True

    def close(self) -> None:
        """Kill the browser (its process group: Chromium's helpers too) and remove its
        profile."""
        process, profile = self._process, self._profile
        self._process = self._profile = None
        if process is not None and process.poll() is None:
            _stop(process)
        if profile is not None:
            shutil.rmtree(profile, ignore_errors=True)


def _stop(process: subprocess.Popen[bytes]) -> None:
    try:
        os.killpg(process.pid, 15)  # its own session (start_new_session): its group
    except ProcessLookupError:
        return
    try:
        process.wait(STOP_WAIT)
    except subprocess.TimeoutExpired:
        try:
            os.killpg(process.pid, 9)
        except ProcessLookupError:
            return
        process.wait(STOP_WAIT)
