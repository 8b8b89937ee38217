"""Group commit: many callers, one transaction, each job undone alone when it raises."""

from __future__ import annotations

import threading
from pathlib import Path

import pytest
from sqlalchemy import Connection, text

from tokenstile.store.database import create_database_engine
from tokenstile.store.group_commit import GroupCommitter


@pytest.fixture
def committer(tmp_path: Path) -> GroupCommitter:
    engine = create_database_engine(f"sqlite:///{tmp_path / 'g.db'}")
    with engine.begin() as conn:
        conn.execute(text("CREATE TABLE t (x INTEGER UNIQUE)"))
    group = GroupCommitter(engine)
    yield group  # type: ignore[misc]
    group.close()
    engine.dispose()


def rows(group: GroupCommitter) -> list[int]:
    return group.run(lambda c: [r[0] for r in c.execute(text("SELECT x FROM t ORDER BY x"))])


def insert(value: int):  # type: ignore[no-untyped-def]
    def job(conn: Connection) -> int:
        conn.execute(text("INSERT INTO t VALUES (:x)"), {"x": value})
        return value

    return job


def test_many_threads_each_get_their_own_result(committer: GroupCommitter) -> None:
    barrier = threading.Barrier(20)
    results: list[int] = []

    def caller(value: int) -> None:
        barrier.wait()
        results.append(committer.run(insert(value)))

    threads = [threading.Thread(target=caller, args=(i,)) for i in range(20)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(10)
    assert sorted(results) == list(range(20))
    assert rows(committer) == list(range(20))


def test_a_failing_job_is_undone_alone(committer: GroupCommitter) -> None:
    def half_then_fail(conn: Connection) -> None:
        conn.execute(text("INSERT INTO t VALUES (100)"))
        raise ValueError("refused")

    committer.run(insert(1))
    with pytest.raises(ValueError, match="refused"):
        committer.run(half_then_fail)
    with pytest.raises(Exception, match="UNIQUE"):
        committer.run(insert(1))  # a database error in a job is that job's error
    committer.run(insert(2))
    assert rows(committer) == [1, 2]


def test_jobs_cannot_wait_on_the_writer(committer: GroupCommitter) -> None:
    with pytest.raises(RuntimeError, match="cannot wait"):
        committer.run(lambda _conn: committer.run(insert(5)))


def test_closed_committer_refuses_work(committer: GroupCommitter) -> None:
    committer.run(insert(1))
    committer.close()
    with pytest.raises(RuntimeError, match="closed"):
        committer.run(insert(2))
