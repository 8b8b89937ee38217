"""The `tokenstile` command contract and its errors, run in-process."""

from __future__ import annotations

import json
import os
import stat
from pathlib import Path

import pytest

from tokenstile.cli.main import main
from tokenstile.tokens.keys import KeyEncryptionKey


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


@pytest.fixture
def db(tmp_path: Path) -> str:
    return f"sqlite:///{tmp_path / 'cli.db'}"


def test_init_is_idempotent_and_creates_a_private_key_file(
    capsys: pytest.CaptureFixture[str], db: str, tmp_path: Path
) -> None:
    code, out, _ = run(capsys, "manage", "--db", db, "init")
    assert code == 0
    assert "Created the database." in out
    kek_file = tmp_path / "data" / "kek.key"
    assert stat.S_IMODE(kek_file.stat().st_mode) == 0o600
    code, out, _ = run(capsys, "manage", "--db", db, "init")
    assert code == 0
    assert out.strip() == "The database is up to date."


def test_db_defaults_to_the_embedded_database(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    assert run(capsys, "manage", "init")[0] == 0
    assert (tmp_path / "data" / "tokenstile.db").exists()


def test_db_from_environment(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("TOKENSTILE_DB", f"sqlite:///{tmp_path / 'env.db'}")
    assert run(capsys, "manage", "init")[0] == 0
    assert (tmp_path / "env.db").exists()


def test_users_clients_keys_and_audit(capsys: pytest.CaptureFixture[str], db: str) -> None:
    run(capsys, "manage", "--db", db, "init")
    code, out, _ = run(
        capsys, "manage", "--db", db, "user", "add", "alice", "--display-name", "Alice", "--admin"
    )
    assert (code, out.strip()) == (0, "Added alice (admin).")
    code, _, err = run(capsys, "manage", "--db", db, "user", "add", "alice")
    assert code == 1
    assert "is taken" in err
    code, out, err = run(
        capsys,
        "manage",
        "--db",
        db,
        "client",
        "add",
        "payroll-api",
        "--kind",
        "resource-server",
        "--audience",
        "https://payroll",
    )
    assert code == 0
    lines = dict(line.split(": ", 1) for line in out.strip().splitlines())
    assert len(lines["client_secret"]) >= 43
    assert "shown only once" in err
    code, out, _ = run(capsys, "manage", "--db", db, "client", "add", "desk", "--kind", "app")
    assert "client_secret" not in out
    code, out, _ = run(capsys, "manage", "--db", db, "rotate-keys", "--alg", "EdDSA")
    assert code == 0
    assert "(EdDSA)" in out
    code, out, _ = run(capsys, "manage", "--db", db, "audit", "--json")
    events = [json.loads(line) for line in out.strip().splitlines()]
    assert [e["event"] for e in events] == [
        "key_created",
        "client_added",
        "client_added",
        "user_added",
        "client_added",
        "client_added",
        "key_rotated",
    ]
    assert lines["client_secret"] not in out  # the secret is never in the audit log
    code, out, _ = run(capsys, "manage", "--db", db, "audit", "--since", "2999-01-01T00:00:00Z")
    assert (code, out) == (0, "")
    code, _, err = run(capsys, "manage", "--db", db, "audit", "--since", "yesterday")
    assert code == 1
    assert "ISO 8601" in err


def test_user_disable(capsys: pytest.CaptureFixture[str], db: str) -> None:
    run(capsys, "manage", "--db", db, "init")
    run(capsys, "manage", "--db", db, "user", "add", "bob")
    assert (
        run(capsys, "manage", "--db", db, "user", "disable", "bob")[1].strip()
        == "bob is disabled; 0 sessions ended."
    )
    code, _, err = run(capsys, "manage", "--db", db, "user", "disable", "nobody")
    assert code == 1
    assert "No person named" in err


def test_commands_before_init_say_what_to_do(capsys: pytest.CaptureFixture[str], db: str) -> None:
    code, _, err = run(capsys, "manage", "--db", db, "user", "add", "alice")
    assert code == 1
    assert "tokenstile manage init" in err


def test_kek_mismatch_is_refused(
    capsys: pytest.CaptureFixture[str], db: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    _, text = KeyEncryptionKey.generate()
    monkeypatch.setenv("TOKENSTILE_KEK", text)
    assert run(capsys, "manage", "--db", db, "init")[0] == 0
    _, other = KeyEncryptionKey.generate()
    monkeypatch.setenv("TOKENSTILE_KEK", other)
    for argv in (("init",), ("rotate-keys",), ("user", "add", "x")):
        code, _, err = run(capsys, "manage", "--db", db, *argv)
        assert code == 1
        assert "key-encryption key" in err
    monkeypatch.setenv("TOKENSTILE_KEK", text)
    assert run(capsys, "manage", "--db", db, "user", "add", "x")[0] == 0


def test_world_readable_key_file_is_refused(
    capsys: pytest.CaptureFixture[str], db: str, tmp_path: Path
) -> None:
    run(capsys, "manage", "--db", db, "init")
    os.chmod(tmp_path / "data" / "kek.key", 0o644)
    code, _, err = run(capsys, "manage", "--db", db, "user", "add", "x")
    assert code == 2
    assert "chmod 600" in err


def test_unwritable_database_path(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("not a directory")
    code, _, err = run(capsys, "manage", "--db", f"sqlite:///{blocker}/sub/ts.db", "init")
    assert code == 1
    assert "Cannot create the database directory" in err
    code, _, err = run(capsys, "manage", "--db", "mysql://x/y", "init")
    assert code == 2
    assert "Unsupported database" in err


def test_read_only_database_changes_nothing(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    folder = tmp_path / "ro"
    folder.mkdir()
    db = f"sqlite:///{folder / 'ts.db'}"
    run(capsys, "manage", "--db", db, "init")
    before = (folder / "ts.db").read_bytes()
    os.chmod(folder / "ts.db", 0o444)
    os.chmod(folder, 0o555)
    try:
        code, _, err = run(capsys, "manage", "--db", db, "user", "add", "alice")
    finally:
        os.chmod(folder, 0o755)
        os.chmod(folder / "ts.db", 0o644)
    if os.geteuid() == 0:
        # root ignores file modes; the point here is only that nothing half-written remains
        assert code in (0, 1)
    else:
        assert code == 1
        assert "read-only" in err
        assert (folder / "ts.db").read_bytes() == before


def test_server_refuses_plain_http_off_loopback(
    capsys: pytest.CaptureFixture[str], db: str
) -> None:
    run(capsys, "manage", "--db", db, "init")
    code, _, err = run(capsys, "server", "--db", db, "--host", "0.0.0.0", "--port", "1")  # noqa: S104
    assert code == 2
    assert "Refusing to serve plain HTTP" in err
    code, _, err = run(capsys, "server", "--db", db, "--tls-cert", "/nonexistent")
    assert code == 2
    assert "both --tls-cert and --tls-key" in err


def test_server_refuses_an_uninitialised_database(
    capsys: pytest.CaptureFixture[str], db: str
) -> None:
    code, _, err = run(capsys, "server", "--db", db, "--port", "1")
    assert code == 1
    assert "tokenstile manage init" in err


def test_toml_config_file(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    config = tmp_path / "tokenstile.toml"
    config.write_text(f'db = "sqlite:///{tmp_path / "toml.db"}"\nsigning_alg = "EdDSA"\n')
    monkeypatch.delenv("TOKENSTILE_CONFIG", raising=False)
    code, _, _ = run(capsys, "--config", str(config), "manage", "init")
    assert code == 0
    assert (tmp_path / "toml.db").exists()
    bad = tmp_path / "bad.toml"
    bad.write_text('signing_alg = "HS256"\n')
    code, _, err = run(capsys, "--config", str(bad), "manage", "init")
    assert code == 2
    assert "signing_alg" in err
    monkeypatch.delenv("TOKENSTILE_CONFIG", raising=False)


def test_a_closed_pipe_is_not_a_traceback(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    import subprocess
    import sys

    from tests.conftest import add_user, make_deployment

    db = f"sqlite:///{tmp_path / 'pipe.db'}"
    dep = make_deployment(db)
    for name in range(1500):  # well past a pipe's 64 KiB buffer of audit lines
        add_user(dep, f"person{name}")
    dep.close()
    reader = subprocess.Popen(
        [sys.executable, "-m", "tokenstile.cli", "manage", "--db", db, "audit"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env=dict(os.environ),
    )
    assert reader.stdout is not None
    assert reader.stdout.readline()
    reader.stdout.close()  # like `| head -1`
    _, err = reader.communicate(timeout=60)
    assert b"Traceback" not in err
    assert reader.returncode == 1
