"""Two replicas never sync one directory at once, on SQLite and a real PostgreSQL: the
sync lease in ``directories`` is taken by exactly one of two racing claims, a replica
whose lease ran out and was taken over writes nothing, and the server's periodic sync
skips a directory another replica holds. The directory is a real slapd."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.conftest import make_deployment
from tests.integration.directory.slapd import SYNC_DN, Slapd
from tests.integration.directory.test_directory_sync import (
    ad_person,
    configure,
    user_count,
)
from tests.integration.store.races import at_once
from tokenstile.clock import FrozenClock
from tokenstile.config import load_settings
from tokenstile.deployment import Deployment
from tokenstile.fetch.ldap_directory import read_directory
from tokenstile.server.directory_sync import (
    DirectorySync,
    PeriodicDirectorySync,
    directory_sync_loop,
    read_password_file,
)
from tokenstile.store.directory_repository import LEASE_SECONDS
from tokenstile.tokens.directory import DirectoryBusy, plan_sync

pytestmark = pytest.mark.ldap


@pytest.fixture
def dep(db_url: str, clock: FrozenClock) -> Iterator[Deployment]:
    deployment = make_deployment(db_url, clock)
    yield deployment
    deployment.close()


def test_of_two_racing_claims_exactly_one_wins(
    dep: Deployment, slapd: Slapd, people_ou: str, password_file: Path
) -> None:
    configure(dep, slapd, people_ou, password_file)
    replicas = [DirectorySync(dep.store, dep.clock, holder=f"replica-{i}") for i in range(4)]
    results = at_once(4, lambda i: replicas[i].directories.claim("corp", replicas[i].holder))
    assert sum(r is None for r in results) == 1
    assert sum(isinstance(r, DirectoryBusy) for r in results) == 3


def test_a_replica_whose_lease_was_taken_over_writes_nothing(
    dep: Deployment, clock: FrozenClock, slapd: Slapd, people_ou: str, password_file: Path
) -> None:
    slapd.add(ad_person(people_ou, "quinn", "Quinn"))
    config = configure(dep, slapd, people_ou, password_file)
    slow, other = (DirectorySync(dep.store, dep.clock, holder=h) for h in ("slow", "other"))
    slow.directories.claim("corp", "slow")
    with pytest.raises(DirectoryBusy, match="another sync holds it"):
        other.run("corp")
    # The slow replica read and planned, then stalled past its lease ...
    snapshot = read_directory(config, read_password_file(config.password_file))
    plan = plan_sync("corp", snapshot, slow.directories.local_people("corp"))
    clock.advance(LEASE_SECONDS + 1)
    assert other.run("corp").plan.counts()["created"] == 1  # ... and another took over.
    with pytest.raises(DirectoryBusy, match="nothing was written"):
        slow.directories.apply("corp", "slow", plan)
    assert user_count(dep) == 1


def test_the_periodic_sync_skips_a_directory_another_replica_holds(
    deployment: Deployment, slapd: Slapd, people_ou: str, password_file: Path
) -> None:
    slapd.add(ad_person(people_ou, "rosa", "Rosa"))
    configure(deployment, slapd, people_ou, password_file, "busy")
    configure(deployment, slapd, people_ou, password_file, "free", bind_dn=SYNC_DN)
    DirectorySync(deployment.store, deployment.clock).directories.claim("busy", "elsewhere")
    loop = PeriodicDirectorySync(DirectorySync(deployment.store, deployment.clock), interval=60)
    done = loop.run_once()
    assert done["busy"] is None
    report = done["free"]
    assert report is not None
    assert report.applied
    assert report.plan.counts()["created"] == 1


def test_the_server_syncs_only_when_an_interval_is_set(tmp_path: Path) -> None:
    db = f"sqlite:///{tmp_path / 'ts.db'}"
    off = Deployment(load_settings(db=db, issuer="https://auth.example"))
    on = Deployment(
        load_settings(db=db, issuer="https://auth.example", directory_sync_interval=300)
    )
    try:
        assert off.settings.directory_sync_interval == 0
        loop = directory_sync_loop(off)
        loop.start()  # an interval of 0 starts no thread
        assert loop._thread is None
        assert directory_sync_loop(on)._interval == 300
    finally:
        off.close()
        on.close()
