"""Group commit for SQLite: many small write transactions, one fsync.

With ``synchronous=FULL`` every commit waits for an fsync (~0.2 ms here), and SQLite has
one writer at a time, so the refresh grant was bound by fsyncs in a row. A single writer
thread takes every job waiting, runs each inside its own SAVEPOINT of one transaction,
commits once, and only then answers each caller: nobody hears "done" before the data is
durable. A job that raises is rolled back to its savepoint alone; the others commit.
"""

from __future__ import annotations

import logging
import queue
import threading
from collections.abc import Callable
from concurrent.futures import Future
from typing import Any, TypeVar

from sqlalchemy import Connection, Engine
from sqlalchemy.exc import DBAPIError

from tokenstile.store import audit_feed
from tokenstile.store.database import store_error, transaction

log = logging.getLogger(__name__)

T = TypeVar("T")
_MAX_BATCH = 256
_Job = tuple[Callable[[Connection], Any], "Future[Any]"]


class GroupCommitter:
    """Runs write jobs for one SQLite engine on one writer thread, batched."""

    def __init__(self, engine: Engine) -> None:
        self._engine = engine
        self._jobs: queue.SimpleQueue[_Job | None] = queue.SimpleQueue()
        self._thread: threading.Thread | None = None
        self._start_lock = threading.Lock()
        self._closed = False
        # Told the size of every batch committed (metrics); must not block.
        self.batch_observer: Callable[[int], None] | None = None

    def run(self, job: Callable[[Connection], T]) -> T:
        """Run ``job`` in a write transaction; return once it is committed."""
        if threading.current_thread() is self._thread:
            raise RuntimeError("a group-commit job cannot wait for another job")
        future: Future[T] = Future()
        self._ensure_started()
        self._jobs.put((job, future))
        return future.result()

    def close(self) -> None:
        with self._start_lock:
            self._closed = True
            thread = self._thread
        if thread is not None:
            self._jobs.put(None)
            thread.join(10)
        while True:  # a job that slipped in during close must not wait forever
            try:
                left = self._jobs.get_nowait()
            except queue.Empty:
                return
            if left is not None:
                left[1].set_exception(RuntimeError("the store is closed"))

    def _ensure_started(self) -> None:
        if self._closed:
            raise RuntimeError("the store is closed")
        if self._thread is not None:
            return
        with self._start_lock:
            if self._closed:
                raise RuntimeError("the store is closed")
            if self._thread is None:
                self._thread = threading.Thread(
                    target=self._loop, name="tokenstile-group-commit", daemon=True
                )
                self._thread.start()

    def _loop(self) -> None:
        while True:
            first = self._jobs.get()
            if first is None:
                return
            batch = [first]
            while len(batch) < _MAX_BATCH:
                try:
                    more = self._jobs.get_nowait()
                except queue.Empty:
                    break
                if more is None:
                    self._jobs.put(None)  # finish this batch, then stop
                    break
                batch.append(more)
            self._commit(batch)

    def _commit(self, batch: list[_Job]) -> None:
        results: list[tuple[Future[Any], bool, Any]] = []
        try:
            with transaction(self._engine, write=True) as conn:
                raw = conn.connection.driver_connection
                assert raw is not None  # noqa: S101
                for index, (job, future) in enumerate(batch):
                    name = f"job{index}"
                    raw.execute(f"SAVEPOINT {name}")
                    audited = audit_feed.mark(conn)
                    try:
                        value = job(conn)
                    except BaseException as exc:  # noqa: BLE001 - handed to the caller
                        raw.execute(f"ROLLBACK TO {name}")
                        audit_feed.forget_since(conn, audited)
                        raw.execute(f"RELEASE {name}")
                        failure = store_error(exc) if isinstance(exc, DBAPIError) else exc
                        results.append((future, False, failure))
                    else:
                        raw.execute(f"RELEASE {name}")
                        results.append((future, True, value))
        except BaseException as exc:  # noqa: BLE001 - the commit failed: nothing is durable
            log.warning("group commit of %d jobs failed: %s", len(batch), exc)
            for _job, future in batch:
                if not future.done():
                    future.set_exception(exc)
            return
        observer = self.batch_observer
        if observer is not None:
            observer(len(batch))
        for future, ok, value in results:
            if ok:
                future.set_result(value)
            else:
                future.set_exception(value)
