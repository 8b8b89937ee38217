"""``store.audit_feed``: listeners see exactly the audit rows that were committed."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.conftest import make_deployment
from tokenstile.store import audit_feed
from tokenstile.store.audit_feed import AuditRow
from tokenstile.store.repository import Store
from tokenstile.store.token_tx import SqlTx
from tokenstile.tokens.model import AuditEvent


class Boom(Exception):
    pass


def audit_then_fail(store: Store) -> None:
    with store.write() as tx:
        tx.audit(AuditEvent("undone", "info"), at=3.0)
        raise Boom


@pytest.mark.parametrize("backend", ["sqlite", "postgresql"])
def test_only_committed_rows_reach_the_listeners(
    tmp_path: Path, backend: str, request: pytest.FixtureRequest
) -> None:
    db = (
        f"sqlite:///{tmp_path / 'ts.db'}"
        if backend == "sqlite"
        else request.getfixturevalue("postgres_url")
    )
    dep = make_deployment(db)
    seen: list[AuditRow] = []
    stop = audit_feed.listen(dep.engine, seen.append)
    try:

        def kept(tx: SqlTx) -> None:
            tx.audit(AuditEvent("kept", "info", username="ann"), at=1.0)

        def undone(tx: SqlTx) -> None:
            tx.audit(AuditEvent("undone", "info", username="bob"), at=2.0)
            raise Boom

        dep.store.run_write(kept)  # group commit on SQLite, a transaction of its own else
        with pytest.raises(Boom):
            dep.store.run_write(undone)
        with pytest.raises(Boom):
            audit_then_fail(dep.store)
        dep.store.audit(AuditEvent("also_kept", "alert", detail={"n": 1}), at=4.0)

        assert [(r["event"], r["username"]) for r in seen] == [
            ("kept", "ann"),
            ("also_kept", None),
        ]
        assert json.loads(seen[1]["detail"]) == {"n": 1}
        stored = [e["event"] for e in dep.store.audit_entries()]
        assert "undone" not in stored
        assert {"kept", "also_kept"} <= set(stored)
        stop()  # a stopped listener hears nothing more
        dep.store.audit(AuditEvent("after", "info"), at=5.0)
        assert [r["event"] for r in seen] == ["kept", "also_kept"]
    finally:
        stop()
        dep.close()


def test_a_failing_listener_fails_nothing(tmp_path: Path) -> None:
    dep = make_deployment(f"sqlite:///{tmp_path / 'ts.db'}")
    seen: list[AuditRow] = []

    def broken(_row: AuditRow) -> None:
        raise RuntimeError("listener bug")

    stops = [audit_feed.listen(dep.engine, broken), audit_feed.listen(dep.engine, seen.append)]
    try:
        dep.store.audit(AuditEvent("x", "info"), at=1.0)
        assert len(seen) == 1
        assert any(e["event"] == "x" for e in dep.store.audit_entries())
    finally:
        for stop in stops:
            stop()
        dep.close()
