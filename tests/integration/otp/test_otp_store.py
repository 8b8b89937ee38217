"""The SQL OTP store on SQLite and a real PostgreSQL: single use across processes,
lockout across requests, drift, resync, all-or-nothing PSKC import, the audit trail."""

from __future__ import annotations

import base64
import json
import multiprocessing
import threading
from pathlib import Path
from typing import Any

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import select

from tests.conftest import add_user
from tokenstile.clock import FrozenClock
from tokenstile.config import load_settings
from tokenstile.deployment import Deployment
from tokenstile.errors import NotFound
from tokenstile.factors.otp import (
    OtpParameters,
    OtpResyncFailed,
    hotp_code,
    totp_code,
    totp_step,
)
from tokenstile.factors.otp_enrollment import parse_base32_secret
from tokenstile.factors.otp_service import OtpService
from tokenstile.factors.otp_tx import OtpCodeRefused, OtpConflict
from tokenstile.store import schema as t
from tokenstile.store.database import current_revision, head_revision
from tokenstile.store.otp_repository import SqlOtpStore
from tokenstile.tokens.model import AuditEvent

from .conftest import START

SEED = b"12345678901234567890"
SHORT_SEED = bytes.fromhex("8f6a1c2e9b0d47a35e21")  # 80 bits, below pyotp's minimum
DATA = Path(__file__).resolve().parents[2] / "unit" / "factors" / "data"


def code_at(offset: int = 0, *, seed: bytes = SEED, at: float = START) -> str:
    return totp_code(seed, at + offset * 30)


def credential_row(dep: Deployment, serial: str) -> Any:
    with dep.engine.connect() as conn:
        return conn.execute(
            select(t.otp_credentials).where(t.otp_credentials.c.serial == serial)
        ).one()


def user_failures(dep: Deployment, username: str) -> int:
    f, u = t.otp_user_failures, t.users
    with dep.engine.connect() as conn:
        value = conn.execute(
            select(f.c.failures).join(u, u.c.id == f.c.user_id).where(u.c.username == username)
        ).scalar()
    return int(value or 0)


def audit(dep: Deployment, event: str) -> list[tuple[str, str | None, dict[str, Any]]]:
    return [
        (e["outcome"], e["username"], e["detail"])
        for e in dep.store.audit_entries()
        if e["event"] == event
    ]


def enroll(repo: OtpService, username: str = "alice", **kwargs: Any) -> str:
    kwargs.setdefault("seed", SEED)
    info, _ = repo.enroll_app(username, by="test", **kwargs)
    return info.serial


# -- schema ------------------------------------------------------------------------------


def test_migration_creates_what_the_schema_declares(any_deployment: Deployment) -> None:
    assert current_revision(any_deployment.engine) == head_revision()
    with any_deployment.engine.connect() as conn:
        diff = compare_metadata(MigrationContext.configure(conn), t.metadata)
    assert [d for d in diff if "otp_" in repr(d)] == []


# -- single use ----------------------------------------------------------------------------


def test_sequential_replay_is_refused_and_drift_is_stored(
    any_deployment: Deployment, repo: OtpService, otp_clock: FrozenClock
) -> None:
    add_user(any_deployment)
    serial = enroll(repo)
    assert repo.login("alice", code_at(1)).accepted  # the fob runs a step ahead
    row = credential_row(any_deployment, serial)
    assert (row.last_used, row.drift) == (totp_step(START, 30) + 1, 1)
    again = repo.login("alice", code_at(1))
    assert (again.accepted, again.outcome.status) == (False, "replayed")
    assert not repo.login("alice", code_at(0)).accepted  # an older step is spent too
    # The drift is read back from the database: two minutes later the window is centred
    # one step ahead, so a code two steps ahead of the server's clock is accepted.
    otp_clock.advance(120)
    assert repo.login("alice", code_at(4 + 2)).accepted
    assert credential_row(any_deployment, serial).drift == 2
    assert [(o, d.get("reason")) for o, _, d in audit(any_deployment, "otp_login")] == [
        ("success", None),
        ("failure", "replayed"),
        ("failure", "replayed"),
        ("success", None),
    ]


def _race_worker(db: str, kek_file: str, rounds: int, sync: tuple[Any, Any], worker: int) -> None:
    """One process: for each round, wait for the other, then present that round's code."""
    barrier, results = sync
    clock = FrozenClock(START)
    dep = Deployment(load_settings(db=db, kek_file=kek_file), clock=clock)
    repo = OtpService(SqlOtpStore(dep.store), box=dep.kek, clock=clock)
    try:
        for number in range(rounds):
            clock.set(START + 30 * number)
            code = totp_code(SEED, clock.now())
            barrier.wait(timeout=60)
            results.put((number, worker, repo.login("alice", code).outcome.status))
    finally:
        dep.close()


def test_the_same_code_from_two_processes_at_once_is_accepted_once(
    any_deployment: Deployment, repo: OtpService, db_url: str
) -> None:
    add_user(any_deployment)
    enroll(repo)
    rounds = 12
    ctx = multiprocessing.get_context("spawn")
    barrier, results = ctx.Barrier(2), ctx.Queue()
    kek_file = str(any_deployment.settings.kek_file)
    workers = [
        ctx.Process(target=_race_worker, args=(db_url, kek_file, rounds, (barrier, results), n))
        for n in range(2)
    ]
    for process in workers:
        process.start()
    outcomes = [results.get(timeout=120) for _ in range(2 * rounds)]
    for process in workers:
        process.join(30)
        assert process.exitcode == 0
    for number in range(rounds):
        statuses = sorted(status for n, _, status in outcomes if n == number)
        assert statuses == ["accepted", "replayed"], (number, statuses)
    successes = [o for o, _, _ in audit(any_deployment, "otp_login") if o == "success"]
    assert len(successes) == rounds


# -- lockout ---------------------------------------------------------------------------------


def test_delay_then_lock_across_requests_and_unlock(
    any_deployment: Deployment, repo: OtpService, otp_clock: FrozenClock
) -> None:
    add_user(any_deployment)
    serial = enroll(repo)
    policy = repo.authenticator.lockout
    for failure in range(1, policy.lock_after + 1):
        result = repo.login("alice", "000000")
        assert result.outcome.status == "wrong_code"
        if failure >= policy.delay_after and failure < policy.lock_after:
            # During the delay the right code is refused without being checked.
            current = totp_code(SEED, otp_clock.now())
            assert repo.login("alice", current).outcome.status == "delayed"
            assert result.outcome.retry_at is not None
            otp_clock.set(result.outcome.retry_at)
    assert user_failures(any_deployment, "alice") == policy.lock_after
    assert credential_row(any_deployment, serial).state == "locked"
    otp_clock.advance(86_400)
    assert repo.login("alice", totp_code(SEED, otp_clock.now())).outcome.status == "locked"
    assert [u for _, u, _ in audit(any_deployment, "otp_user_locked")] == ["alice"]
    assert [d["serial"] for _, _, d in audit(any_deployment, "otp_credential_locked")] == [serial]

    assert repo.unlock("alice", by="test") == [serial]
    row = credential_row(any_deployment, serial)
    assert (row.state, row.failures, user_failures(any_deployment, "alice")) == ("active", 0, 0)
    assert repo.login("alice", totp_code(SEED, otp_clock.now())).accepted
    assert audit(any_deployment, "otp_unlocked")[0][2]["serials"] == [serial]


def test_concurrent_failures_are_all_counted(any_deployment: Deployment, repo: OtpService) -> None:
    add_user(any_deployment)
    serial = enroll(repo)
    barrier = threading.Barrier(4)

    def fail() -> None:
        barrier.wait()
        repo.login("alice", "000000")

    threads = [threading.Thread(target=fail) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    assert user_failures(any_deployment, "alice") == 4
    assert credential_row(any_deployment, serial).failures == 4


def test_unknown_and_disabled_people_change_nothing_but_the_audit_log(
    any_deployment: Deployment, repo: OtpService, otp_clock: FrozenClock
) -> None:
    add_user(any_deployment)
    serial = enroll(repo)
    any_deployment.store.set_user_enabled(
        "alice", False, at=otp_clock.now(), audit=AuditEvent("user_disabled", "info")
    )
    assert repo.login("alice", code_at()).outcome.status == "unknown_user"
    assert repo.login("nobody", code_at()).outcome.status == "unknown_user"
    assert repo.login("bad\x00name", code_at()).outcome.status == "unknown_user"
    row = credential_row(any_deployment, serial)
    assert (row.last_used, row.failures, user_failures(any_deployment, "alice")) == (-1, 0, 0)
    assert [(u, d["reason"]) for _, u, d in audit(any_deployment, "otp_login")] == [
        ("alice", "user_disabled"),
        ("nobody", "unknown_user"),
        ("bad\ufffdname", "unknown_user"),
    ]


# -- enrollment, states --------------------------------------------------------------------


def test_pending_app_is_confirmed_by_its_first_code_and_seeds_are_sealed(
    any_deployment: Deployment, repo: OtpService
) -> None:
    add_user(any_deployment)
    info, enrollment = repo.enroll_app("alice", by="admin:root")
    assert info.state == "pending"
    seed = parse_base32_secret(enrollment.uri.split("secret=")[1].split("&")[0])
    assert len(seed) == 20
    assert repo.login("alice", code_at(seed=seed)).outcome.status == "no_credential"
    with pytest.raises(OtpCodeRefused):
        repo.confirm(info.serial, "000000", by="admin:root")
    assert repo.confirm(info.serial, code_at(seed=seed), by="admin:root").state == "active"
    with pytest.raises(OtpConflict):
        repo.confirm(info.serial, code_at(1, seed=seed), by="admin:root")
    # The confirming code is spent; the next step's code logs in.
    assert repo.login("alice", code_at(seed=seed)).outcome.status == "replayed"
    assert repo.login("alice", code_at(1, seed=seed)).accepted
    stored = bytes(credential_row(any_deployment, info.serial).sealed_seed)
    assert seed not in stored
    assert [o for o, _, _ in audit(any_deployment, "otp_confirm")] == ["failure", "success"]


def test_revoked_credentials_do_not_log_in_and_serials_are_unique(
    any_deployment: Deployment, repo: OtpService
) -> None:
    add_user(any_deployment)
    serial = enroll(repo, serial="FOB-7")
    with pytest.raises(OtpConflict, match="already enrolled"):
        enroll(repo, serial="FOB-7")
    assert repo.revoke(serial, by="test").info.state == "revoked"
    with pytest.raises(OtpConflict, match="already revoked"):
        repo.revoke(serial, by="test")
    assert repo.login("alice", code_at()).outcome.status == "no_credential"
    with pytest.raises(NotFound):
        repo.revoke("NOPE", by="test")
    with pytest.raises(NotFound):
        enroll(repo, "nobody")


def test_sha256_8_digit_60_second_fob_and_two_credentials(
    any_deployment: Deployment, repo: OtpService
) -> None:
    add_user(any_deployment)
    enroll(repo)
    enroll(
        repo,
        seed=SHORT_SEED,
        params=OtpParameters.totp(algorithm="SHA256", digits=8, period=60),
        serial="T8",
    )
    code = totp_code(SHORT_SEED, START, digits=8, period=60, algorithm="SHA256")
    result = repo.login("alice", code)
    assert result.accepted
    assert result.outcome.credential is not None
    assert result.outcome.credential.serial == "T8"


# -- HOTP and resync --------------------------------------------------------------------


def test_hotp_look_ahead_and_admin_resync(any_deployment: Deployment, repo: OtpService) -> None:
    add_user(any_deployment)
    info = repo.enroll_hotp("alice", SEED, by="test", counter=5)
    assert credential_row(any_deployment, info.serial).last_used == 4
    assert repo.login("alice", hotp_code(SEED, 12)).accepted  # within the look-ahead
    assert repo.login("alice", hotp_code(SEED, 12)).outcome.status == "replayed"
    assert repo.login("alice", hotp_code(SEED, 40)).outcome.status == "wrong_code"
    with pytest.raises(OtpResyncFailed):
        repo.resync(info.serial, hotp_code(SEED, 40), hotp_code(SEED, 42), by="test")
    found = repo.resync(info.serial, hotp_code(SEED, 40), hotp_code(SEED, 41), by="test")
    assert found.counter == 41
    assert credential_row(any_deployment, info.serial).last_used == 41
    assert repo.login("alice", hotp_code(SEED, 42)).accepted
    assert [(o, d.get("drift")) for o, _, d in audit(any_deployment, "otp_resync")] == [
        ("failure", None),
        ("success", 0),
    ]


def test_totp_resync_of_a_far_drift_is_stored(
    any_deployment: Deployment, repo: OtpService, otp_clock: FrozenClock
) -> None:
    add_user(any_deployment)
    serial = enroll(repo)
    assert repo.login("alice", code_at(-40)).outcome.status == "wrong_code"
    repo.resync(serial, code_at(-41), code_at(-40), by="test")
    assert credential_row(any_deployment, serial).drift == -40
    otp_clock.advance(30)
    assert repo.login("alice", code_at(-40, at=otp_clock.now())).accepted


# -- PSKC import ----------------------------------------------------------------------------


def stored_serials(dep: Deployment) -> list[str]:
    with dep.engine.connect() as conn:
        return list(conn.execute(select(t.otp_credentials.c.serial)).scalars())


def test_pskc_import_is_all_or_nothing(any_deployment: Deployment, repo: OtpService) -> None:
    add_user(any_deployment, "bob")
    bad = repo.import_pskc((DATA / "one-bad-package.pskcxml").read_bytes(), by="test")
    assert not bad.ok
    assert [(p.package, p.serial) for p in bad.report.problems] == [(2, "H-2")]
    assert stored_serials(any_deployment) == []

    fobs = (DATA / "totp-fobs.pskcxml").read_bytes()
    unknown = repo.import_pskc(fobs, by="test", assignments_csv="serial,username\nFW-0002,carol\n")
    assert "there is no user 'carol'" in unknown.describe()
    assert stored_serials(any_deployment) == []

    enroll(repo, "bob", serial="FW-0001")
    taken = repo.import_pskc(fobs, by="test")
    assert [(p.package, p.reason) for p in taken.report.problems] == [
        (1, "a credential with this serial is already enrolled")
    ]
    assert stored_serials(any_deployment) == ["FW-0001"]

    fresh = fobs.replace(b"FW-0001", b"FW-0003")
    good = repo.import_pskc(fresh, by="test", assignments_csv="serial,username\nFW-0002,bob\n")
    assert good.ok, good.describe()
    assert [(i.serial, i.username, i.state) for i in good.imported] == [
        ("FW-0003", None, "active"),
        ("FW-0002", "bob", "active"),
    ]
    assert credential_row(any_deployment, "FW-0003").drift == -1  # the vendor's TimeDrift
    # The 80-bit fob logs in.
    assert repo.login("bob", totp_code(SHORT_SEED, START)).accepted
    outcomes = [(o, d.get("serials")) for o, _, d in audit(any_deployment, "otp_import")]
    assert outcomes[-1] == ("success", ["FW-0003", "FW-0002"])
    assert [o for o, _ in outcomes] == ["failure", "failure", "failure", "success"]


def test_pskc_import_with_a_pre_shared_key(any_deployment: Deployment, repo: OtpService) -> None:
    data = (DATA / "rfc6030-figure6.pskcxml").read_bytes()
    wrong = repo.import_pskc(data, by="test", psk=bytes(16))
    assert not wrong.ok
    assert "wrong pre-shared key" in wrong.describe()
    good = repo.import_pskc(data, by="test", psk=bytes.fromhex("12345678901234567890123456789012"))
    assert good.ok, good.describe()
    assert [i.kind for i in good.imported] == ["hotp"]


# -- the audit log ------------------------------------------------------------------------


def test_no_seed_and_no_code_reaches_the_audit_log(
    any_deployment: Deployment, repo: OtpService
) -> None:
    add_user(any_deployment)
    info, enrollment = repo.enroll_app("alice", by="test")
    secret = enrollment.uri.split("secret=")[1].split("&")[0]
    seed = parse_base32_secret(secret)
    first = code_at(seed=seed)
    repo.confirm(info.serial, first, by="test")
    repo.login("alice", "13579246")
    repo.login("alice", code_at(1, seed=seed))
    repo.resync(info.serial, code_at(5, seed=seed), code_at(6, seed=seed), by="test")
    text = json.dumps(any_deployment.store.audit_entries())
    for secret_text in (
        secret,
        base64.b64encode(seed).decode(),
        seed.hex(),
        first,
        "13579246",
        code_at(1, seed=seed),
        code_at(5, seed=seed),
    ):
        assert secret_text not in text


def test_assign_moves_a_fob(any_deployment: Deployment, repo: OtpService) -> None:
    add_user(any_deployment, "bob")
    repo.import_pskc((DATA / "totp-fobs.pskcxml").read_bytes(), by="test")
    assert repo.login("bob", totp_code(SHORT_SEED, START)).outcome.status == "no_credential"
    assert repo.assign("FW-0002", "bob", by="test").username == "bob"
    assert repo.login("bob", totp_code(SHORT_SEED, START)).accepted
    assert [i.serial for i in repo.credentials("bob")] == ["FW-0002"]
    assert audit(any_deployment, "otp_assigned")[0][1:] == (
        "bob",
        {"serial": "FW-0002", "previous": None, "by": "test"},
    )
