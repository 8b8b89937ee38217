"""The audit rows a process has committed, handed to listeners after the commit.

Audit rows are written inside the transaction of what they record (``SqlTx.audit``): a
refused login counts its failure and audits it in one commit, a rolled-back job audits
nothing. Metrics and audit streaming (``server.metrics``, ``server.audit_stream``) must
see exactly the committed rows, no more: so ``SqlTx.audit`` notes each row on its
connection (:func:`note`), ``database.transaction`` hands the noted rows to the engine's
listeners once its commit returned (:func:`committed`) and drops them on a rollback, and
group commit drops a job's rows when it rolls that job back to its savepoint
(:func:`mark`, :func:`forget_since`).

A listener runs on the committing thread, after the commit, so it must not block: the
metrics increment counters, the streams put the row on a bounded queue. An engine with
no listener notes nothing (a CLI command, a test).

Each process sees only the rows it committed itself: every replica (and every worker)
reports and streams its own, so together they stream each row once.
"""

from __future__ import annotations

import logging
import threading
import weakref
from collections.abc import Callable, Mapping
from typing import Any

from sqlalchemy import Connection, Engine

log = logging.getLogger(__name__)

AuditRow = Mapping[str, Any]
"""One committed audit row: the columns of ``schema.audit`` but the id (``detail`` as
its JSON text)."""

AuditListener = Callable[[AuditRow], None]

_PENDING = "tokenstile_audit_pending"
_LISTENERS: weakref.WeakKeyDictionary[Engine, tuple[AuditListener, ...]] = (
    weakref.WeakKeyDictionary()
)
_LOCK = threading.Lock()


def listen(engine: Engine, listener: AuditListener) -> Callable[[], None]:
    """Call ``listener`` with every audit row committed through ``engine`` from now on;
    returns the function that stops it."""
    with _LOCK:
        _LISTENERS[engine] = (*_LISTENERS.get(engine, ()), listener)

    def stop() -> None:
        with _LOCK:
            left = tuple(f for f in _LISTENERS.get(engine, ()) if f is not listener)
            if left:
                _LISTENERS[engine] = left
            else:
                _LISTENERS.pop(engine, None)

    return stop


def note(conn: Connection, row: AuditRow) -> None:
    """Remember ``row``, just written on ``conn``, until its transaction ends."""
    if conn.engine not in _LISTENERS:
        return
    pending: list[AuditRow] | None = conn.info.get(_PENDING)
    if pending is None:
        pending = conn.info[_PENDING] = []
    pending.append(row)


def mark(conn: Connection) -> int:
    """How many rows are noted on ``conn`` so far (for :func:`forget_since`)."""
    pending = conn.info.get(_PENDING)
    return len(pending) if pending else 0


def forget_since(conn: Connection, count: int) -> None:
    """Drop the rows noted after :func:`mark` said ``count`` (a savepoint rolled back)."""
    pending = conn.info.get(_PENDING)
    if pending:
        del pending[count:]


def discard(conn: Connection) -> None:
    """Drop every noted row (the transaction rolled back, or is about to begin)."""
    conn.info.pop(_PENDING, None)


def committed(conn: Connection) -> None:
    """Hand the rows noted on ``conn`` to the engine's listeners: its commit returned."""
    pending: list[AuditRow] | None = conn.info.pop(_PENDING, None)
    if not pending:
        return
    listeners = _LISTENERS.get(conn.engine, ())
    for row in pending:
        for listener in listeners:
            try:
                listener(row)
            except Exception:  # a listener's fault never fails what was committed
                log.exception("an audit listener failed")
