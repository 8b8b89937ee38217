"""``BackgroundLoop``: work a server does on a daemon thread while it serves.

The periodic purge (``store.purge``), the FIDO metadata refresh (``fetch.mds``) and the
back-channel logout delivery (``server.backchannel``) each run their own ``_loop`` on one
thread; this class starts it once, stops it (``_stop`` is the event the loop waits on)
and ties both to the app's lifespan.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager


class BackgroundLoop:
    """One daemon thread running ``_loop`` from :meth:`start` until :meth:`stop`; an
    ``interval`` of 0 or less never starts it."""

    def __init__(self, name: str, interval: float) -> None:
        self._name = name
        self._interval = interval
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        if self._interval <= 0 or self._thread is not None:
            return
        self._thread = threading.Thread(target=self._loop, name=self._name, daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join()
            self._thread = None
        self._stopped()

    @asynccontextmanager
    async def lifespan(self, _app: object) -> AsyncIterator[None]:
        """For ``FastAPI(lifespan=...)``: runs while the app serves."""
        self.start()
        try:
            yield
        finally:
            await asyncio.to_thread(self.stop)

    def _loop(self) -> None:
        raise NotImplementedError

    def _stopped(self) -> None:
        """What to release once the thread has ended (nothing by default)."""
