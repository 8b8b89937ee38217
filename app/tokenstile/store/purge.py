"""Deleting the rows that can never matter again, in short transactions.

What ends first: a session parked past its deadline (``tokens.parking``) is revoked
(``park_expired``, with its ``session_revoked`` audit row), so a parked session ends on
time even if nothing ever presents it again; it is then purged as any ended session.

What goes, and when:

- a session once it has ended (revoked, past its absolute end, or idle too long) and
  ``keep_seconds`` more have passed, so refresh-token reuse detection and the admin's
  session list still see recent ones; its refresh tokens and opaque tokens go first
  (foreign keys: children before the parent);
- opaque access tokens past their expiry (introspection answers "inactive" either way);
- revoked access token ids (``revoked_access_tokens``) past the token's own expiry;
- WebAuthn and PIV login challenges past their expiry plus the few minutes the
  repositories keep them so a late answer hears "expired";
- DPoP proof records past their expiry (the token endpoint also drops some as it goes);
- accepted client assertions' ``jti`` records (private_key_jwt) past the assertion's expiry;
- kiosk single sign-on hand-offs past their expiry (nothing reads one after it);
- rate-limit counters whose window ended (a new hit starts a new window anyway);
- back-channel logout deliveries ``keep_seconds`` after they were delivered or failed;
- authorization codes ``keep_seconds`` after their expiry (and with their provider
  session, as every row that hangs off an ended session: browser sessions too).

Never the audit log (append-only: triggers refuse UPDATE and DELETE), people,
credentials, clients or keys. Pending OTP enrollments do not expire: an admin confirms
or revokes them, so they stay.

Each batch is one transaction of at most ``batch_size`` rows, so a large purge never
holds SQLite's writer lock for long. On PostgreSQL a batch locks its rows with
``FOR UPDATE SKIP LOCKED``: two purges at once (one per replica) share the work
instead of waiting on, or deadlocking with, each other.
"""

from __future__ import annotations

import logging
import threading
from dataclasses import dataclass
from typing import Any

from sqlalchemy import ColumnElement, Engine, Table, delete, func, or_, select

from tokenstile.background import BackgroundLoop
from tokenstile.clock import Clock
from tokenstile.errors import TokenstileError
from tokenstile.store import schema as t
from tokenstile.store.database import transaction
from tokenstile.store.piv_repository import EXPIRED_CHALLENGES_KEPT
from tokenstile.store.rate_limit import rate_limits
from tokenstile.store.repository import Store
from tokenstile.store.token_tx import SESSION_ROWS, SqlTx
from tokenstile.store.webauthn_repository import KEEP_EXPIRED
from tokenstile.tokens.minting import PARK_EXPIRED
from tokenstile.tokens.model import AuditEvent

log = logging.getLogger(__name__)

DEFAULT_RETENTION = 7 * 86_400.0
DEFAULT_RATE_LIMIT_WINDOW = 86_400.0  # the longest window the settings allow
BATCH_SIZE = 1000
# The first periodic purge comes this soon after start-up at most, so a service that is
# restarted more often than the interval still purges.
FIRST_RUN_AFTER = 300.0

_s = t.sessions
_rt = t.refresh_tokens
_ot = t.opaque_tokens


@dataclass(frozen=True, kw_only=True)
class PurgeReport:
    """Rows deleted per table (in a dry run: rows that would be)."""

    counts: dict[str, int]
    dry_run: bool = False
    # Parked sessions past their deadline that this purge revoked (would revoke).
    parked_ended: int = 0

    @property
    def total(self) -> int:
        return sum(self.counts.values())

    def describe(self) -> str:
        return ", ".join(f"{table} {count}" for table, count in self.counts.items())


def _ended_sessions(cutoff: float) -> ColumnElement[bool]:
    return or_(
        _s.c.revoked_at < cutoff,
        _s.c.expires_at < cutoff,
        _s.c.last_used_at + _s.c.idle_timeout < cutoff,
    )


def _session_children() -> list[Table]:
    """Every table with a foreign key to ``sessions``: emptied of a session's rows first."""
    return [
        table
        for table in t.metadata.sorted_tables
        if any(fk.column.table is _s for fk in table.foreign_keys)
    ]


@dataclass(frozen=True, kw_only=True)
class _Step:
    table: Table
    key: Any
    where: ColumnElement[bool]


def _steps(*, now: float, keep_seconds: float, rate_limit_window: float) -> list[_Step]:
    ended = _ended_sessions(now - keep_seconds)
    dead_sids = select(_s.c.sid).where(ended)
    wa, piv, dpop = t.webauthn_challenges, t.piv_challenges, t.dpop_replay
    rat = t.revoked_access_tokens
    caj = t.client_assertion_jtis
    ac = t.authorization_codes
    sso = t.kiosk_sso_handoffs
    bcl = t.backchannel_logouts
    return [
        _Step(table=_rt, key=_rt.c.id, where=_rt.c.sid.in_(dead_sids)),
        _Step(
            table=_ot,
            key=_ot.c.token_hash,
            where=or_(_ot.c.expires_at < now, _ot.c.sid.in_(dead_sids)),
        ),
        _Step(table=_s, key=_s.c.sid, where=ended),
        _Step(table=wa, key=wa.c.handle_hash, where=wa.c.expires_at < now - KEEP_EXPIRED),
        _Step(
            table=piv, key=piv.c.handle_hash, where=piv.c.expires_at < now - EXPIRED_CHALLENGES_KEPT
        ),
        _Step(table=dpop, key=dpop.c.key_hash, where=dpop.c.expires_at < now),
        _Step(table=rat, key=rat.c.jti, where=rat.c.expires_at < now),
        _Step(table=caj, key=caj.c.key_hash, where=caj.c.expires_at < now),
        _Step(table=sso, key=sso.c.handoff_hash, where=sso.c.expires_at < now),
        _Step(
            table=t.offline_evidence,
            key=t.offline_evidence.c.digest,
            where=t.offline_evidence.c.keep_until < now,
        ),
        # Codes are kept as long as ended sessions (a replay found later still ends what
        # the code gave); their provider session's purge takes them too.
        _Step(table=ac, key=ac.c.code_hash, where=ac.c.expires_at < now - keep_seconds),
        # Back-channel logouts once delivered or failed (their audit rows stay).
        _Step(table=bcl, key=bcl.c.id, where=bcl.c.finished_at < now - keep_seconds),
        _Step(
            table=rate_limits,
            key=rate_limits.c.bucket,
            where=rate_limits.c.window_start < now - rate_limit_window,
        ),
    ]


def _overdue_parked(now: float) -> ColumnElement[bool]:
    return (_s.c.parked_until <= now) & _s.c.revoked_at.is_(None)


def _end_overdue_parked(engine: Engine, *, now: float, batch_size: int, origin: str | None) -> int:
    """Revoke up to ``batch_size`` sessions parked past their deadline, in one
    transaction; how many this call revoked."""
    with transaction(engine, write=True) as conn:
        tx = SqlTx(conn)
        rows = conn.execute(
            SESSION_ROWS.where(_overdue_parked(now)).order_by(_s.c.sid).limit(batch_size)
        ).all()
        return sum(
            tx.end_session(row, reason=PARK_EXPIRED, by=origin or "purge", origin=origin, at=now)
            for row in rows
        )


def _delete_batch(
    engine: Engine, step: _Step, batch_size: int, children: list[Table], counts: dict[str, int]
) -> int:
    """One transaction: lock up to ``batch_size`` rows (skipping rows another purge or a
    request holds), delete what hangs off them, then them. How many were taken."""
    with transaction(engine, write=True) as conn:
        keys = list(
            conn.execute(
                select(step.key)
                .where(step.where)
                .limit(batch_size)
                .with_for_update(skip_locked=True)
            ).scalars()
        )
        if not keys:
            return 0
        if step.table is _s:  # refresh and opaque tokens went before; anything left here
            for child in children:
                fk = next(fk for fk in child.foreign_keys if fk.column.table is _s)
                gone = conn.execute(delete(child).where(fk.parent.in_(keys))).rowcount
                counts[child.name] = counts.get(child.name, 0) + int(gone or 0)
        gone = conn.execute(delete(step.table).where(step.key.in_(keys))).rowcount
        counts[step.table.name] = counts.get(step.table.name, 0) + int(gone or 0)
    return len(keys)


def purge_expired(
    target: Store | Engine,
    *,
    now: float,
    keep_seconds: float = DEFAULT_RETENTION,
    rate_limit_window: float = DEFAULT_RATE_LIMIT_WINDOW,
    batch_size: int = BATCH_SIZE,
    dry_run: bool = False,
    origin: str | None = None,
    stop: threading.Event | None = None,
    audit_empty: bool = True,
) -> PurgeReport:
    """Delete what can never matter again as of ``now`` (see the module docstring) and
    audit one ``purge`` event with the counts. ``dry_run``: count, delete nothing, audit
    nothing. ``stop``: set, the purge ends after the batch in hand. ``audit_empty``: False
    leaves a purge that deleted nothing out of the audit log (the periodic one, which
    would otherwise add a row per replica per interval)."""
    if keep_seconds < 0 or rate_limit_window < 0 or batch_size < 1:
        raise ValueError("keep_seconds and rate_limit_window must be >= 0, batch_size >= 1.")
    engine = target.engine if isinstance(target, Store) else target
    steps = _steps(now=now, keep_seconds=keep_seconds, rate_limit_window=rate_limit_window)
    counts = {step.table.name: 0 for step in steps}
    if dry_run:
        with transaction(engine, write=False) as conn:
            for step in steps:
                counted = conn.execute(select(func.count()).where(step.where)).scalar_one()
                counts[step.table.name] = int(counted)
            overdue = conn.execute(select(func.count()).where(_overdue_parked(now))).scalar_one()
        return PurgeReport(counts=counts, dry_run=True, parked_ended=int(overdue))
    parked_ended = 0
    while not (stop is not None and stop.is_set()):
        ended = _end_overdue_parked(engine, now=now, batch_size=batch_size, origin=origin)
        parked_ended += ended
        if ended < batch_size:
            break
    children = _session_children()
    for step in steps:
        while not (stop is not None and stop.is_set()):
            if _delete_batch(engine, step, batch_size, children, counts) < batch_size:
                break
    report = PurgeReport(counts=counts, parked_ended=parked_ended)
    if report.total == 0 and parked_ended == 0 and not audit_empty:
        return report
    with transaction(engine, write=True) as conn:
        SqlTx(conn).audit(
            AuditEvent(
                "purge",
                "info",
                origin=origin,
                detail={"deleted": counts, "keep_seconds": keep_seconds},
            ),
            at=now,
        )
    return report


class PeriodicPurge(BackgroundLoop):
    """``purge_expired`` every ``interval`` seconds on a daemon thread of the server.

    Every replica may run one: purges at once share the work (see the module docstring).
    A failure is logged and the next run tried at the next interval.
    """

    def __init__(
        self,
        store: Store,
        clock: Clock,
        *,
        interval: float,
        keep_seconds: float = DEFAULT_RETENTION,
        rate_limit_window: float = DEFAULT_RATE_LIMIT_WINDOW,
    ) -> None:
        super().__init__("tokenstile-purge", interval)
        self._store = store
        self._clock = clock
        self._keep = keep_seconds
        self._window = rate_limit_window

    def run_once(self) -> PurgeReport | None:
        try:
            report = purge_expired(
                self._store,
                now=self._clock.now(),
                keep_seconds=self._keep,
                rate_limit_window=self._window,
                origin="periodic purge",
                stop=self._stop,
                audit_empty=False,
            )
        except TokenstileError as exc:
            log.warning("purge failed: %s", exc.message)
            return None
        except Exception:
            log.exception("purge failed")
            return None
        log.info("purged %d rows: %s", report.total, report.describe())
        return report

    def _loop(self) -> None:
        delay = min(self._interval, FIRST_RUN_AFTER)
        while not self._stop.wait(delay):
            self.run_once()
            delay = self._interval
