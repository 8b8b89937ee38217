"""The FIDO2 command contract (``virtual-key``, ``manage fido2``), run in-process with the
software key kept in a file."""

from __future__ import annotations

import json
import stat
from pathlib import Path

import pytest

from tokenstile.cli.main import main
from tokenstile.virtual import VirtualAuthenticator


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


@pytest.fixture
def db(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> str:
    url = f"sqlite:///{tmp_path / 'cli.db'}"
    assert run(capsys, "manage", "--db", url, "init")[0] == 0
    for name in ("alice", "bob"):
        assert run(capsys, "manage", "--db", url, "user", "add", name)[0] == 0
    return url


@pytest.fixture
def key(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> Path:
    path = tmp_path / "key.json"
    code, out, _ = run(capsys, "virtual-key", "create", str(path), "--pin", "4711")
    assert code == 0
    assert out.startswith(f"Created the software security key {path} (AAGUID ")
    return path


def fido2(capsys: pytest.CaptureFixture[str], db: str, *argv: str) -> tuple[int, str, str]:
    return run(capsys, "manage", "--db", db, "fido2", *argv)


def listing(capsys: pytest.CaptureFixture[str], db: str, *user: str) -> list[list[str]]:
    code, out, _ = fido2(capsys, db, "list", *user)
    assert code == 0
    if out.strip() == "No security keys.":
        return []
    return [line.split() for line in out.strip().splitlines()[1:]]


def audit(capsys: pytest.CaptureFixture[str], db: str) -> list[dict[str, object]]:
    out = run(capsys, "manage", "--db", db, "audit", "--json")[1]
    return [json.loads(line) for line in out.splitlines()]


def test_virtual_key_create(tmp_path: Path, capsys: pytest.CaptureFixture[str], key: Path) -> None:
    assert stat.S_IMODE(key.stat().st_mode) == 0o600
    device = VirtualAuthenticator.from_file(key)
    assert device.authenticator.pin_is_set
    code, _, err = run(capsys, "virtual-key", "create", str(key))
    assert code == 1
    assert "already exists" in err
    bare = tmp_path / "bare.json"
    assert run(capsys, "virtual-key", "create", str(bare))[0] == 0
    assert not VirtualAuthenticator.from_file(bare).authenticator.pin_is_set
    short = tmp_path / "short.json"
    code, _, err = run(capsys, "virtual-key", "create", str(short), "--pin", "12")
    assert code == 1
    assert "4 to 63" in err
    assert not short.exists()


def test_enroll_list_revoke(capsys: pytest.CaptureFixture[str], db: str, key: Path) -> None:
    assert listing(capsys, db) == []
    code, out, err = fido2(
        capsys,
        db,
        "enroll",
        "alice",
        "--device",
        f"virtual:{key}",
        "--pin",
        "4711",
        "--label",
        "Blue",
    )
    assert code == 0, err
    assert "Touch your key." in err
    assert "for alice (ES256, AAGUID" in out
    assert "verification: pin" in out
    [row] = listing(capsys, db)
    credential_id = row[0]
    assert row[1:5] == ["alice", "active", "ES256", "0"]
    assert row[-1] == "Blue"
    assert listing(capsys, db, "bob") == []
    # The key holds the credential, for the RP of this database's issuer (loopback: localhost).
    [stored] = VirtualAuthenticator.from_file(key).authenticator.credentials()
    assert stored.rp_id == "localhost"
    assert stored.discoverable

    # The same key for the same person again: the key refuses (excluded credential).
    code, _, err = fido2(
        capsys, db, "enroll", "alice", "--device", f"virtual:{key}", "--pin", "4711"
    )
    assert code == 1
    assert "already enrolled" in err
    # For another person the same key adds a second credential.
    assert fido2(capsys, db, "enroll", "bob", "--device", f"virtual:{key}", "--pin", "4711")[0] == 0
    assert len(listing(capsys, db)) == 2

    code, out, _ = fido2(capsys, db, "revoke", credential_id)
    assert code == 0
    assert out.strip() == f"Revoked {credential_id} of alice; 0 sessions ended."
    assert listing(capsys, db, "alice")[0][2] == "revoked:admin"
    code, _, err = fido2(capsys, db, "revoke", credential_id)
    assert code == 1
    assert "only an active or suspended" in err
    code, _, err = fido2(capsys, db, "unsuspend", credential_id)
    assert code == 1
    assert "only a suspended" in err
    assert fido2(capsys, db, "revoke", "AAAA")[2].startswith("tokenstile: No security key")
    assert "base64url" in fido2(capsys, db, "revoke", "!!")[2]
    # One base64url ID in 64 starts with "-": it is still an ID, not an option.
    assert fido2(capsys, db, "revoke", "-AAA")[2].startswith("tokenstile: No security key")
    assert fido2(capsys, db, "unsuspend", "--AA")[2].startswith("tokenstile: No security key")
    events = [(e["event"], e["outcome"]) for e in audit(capsys, db) if "fido2" in str(e["event"])]
    assert ("fido2_enrolled", "info") in events
    assert ("fido2_revoked", "info") in events


def test_enroll_refusals_change_nothing(
    capsys: pytest.CaptureFixture[str], db: str, key: Path, tmp_path: Path
) -> None:
    code, _, err = fido2(capsys, db, "enroll", "zed", "--device", f"virtual:{key}", "--pin", "4711")
    assert (code, err.strip()) == (1, "tokenstile: No user named 'zed'.")
    code, _, err = fido2(capsys, db, "enroll", "alice", "--device", f"virtual:{tmp_path / 'no'}")
    assert code == 1
    assert "virtual-key create" in err
    code, _, err = fido2(capsys, db, "enroll", "alice", "--device", "bluetooth")
    assert code == 1
    assert "virtual:PATH, usb or nfc" in err
    # No --pin and no terminal: the PIN cannot be asked.
    code, _, err = fido2(capsys, db, "enroll", "alice", "--device", f"virtual:{key}")
    assert (code, err.strip().splitlines()[-1]) == (1, "tokenstile: The key needs its PIN.")
    code, _, err = fido2(
        capsys, db, "enroll", "alice", "--device", f"virtual:{key}", "--pin", "0000"
    )
    assert code == 1
    assert "Wrong PIN: 7 tries left" in err
    assert listing(capsys, db) == []
    assert VirtualAuthenticator.from_file(key).authenticator.credentials() == []


def test_a_key_without_a_pin_gets_one(
    capsys: pytest.CaptureFixture[str], db: str, tmp_path: Path
) -> None:
    path = tmp_path / "bare.json"
    assert run(capsys, "virtual-key", "create", str(path))[0] == 0
    code, _, err = fido2(capsys, db, "enroll", "alice", "--device", f"virtual:{path}")
    assert code == 1
    assert "no PIN yet" in err
    code, _, err = fido2(
        capsys, db, "enroll", "alice", "--device", f"virtual:{path}", "--pin", "2468"
    )
    assert code == 0, err
    assert "Set the key's PIN." in err
    assert VirtualAuthenticator.from_file(path).authenticator.pin_is_set


def test_the_pin_is_asked_without_echo_on_a_terminal(
    capsys: pytest.CaptureFixture[str], db: str, key: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    asked: list[str] = []

    def getpass(prompt: str = "") -> str:
        asked.append(prompt)
        return "4711"

    monkeypatch.setattr("sys.stdin.isatty", lambda: True)
    monkeypatch.setattr("getpass.getpass", getpass)
    code, _, err = fido2(capsys, db, "enroll", "alice", "--device", f"virtual:{key}")
    assert code == 0, err
    assert asked == ["PIN of the security key (8 tries left): "]
    # A key without a PIN: the new PIN is typed twice.
    bare = key.parent / "bare.json"
    assert run(capsys, "virtual-key", "create", str(bare))[0] == 0
    asked.clear()
    assert fido2(capsys, db, "enroll", "bob", "--device", f"virtual:{bare}")[0] == 0
    assert asked[:2] == [
        "The key has no PIN. New PIN (4 to 63 characters): ",
        "The same PIN again: ",
    ]


def test_the_commands_are_in_the_help(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit):
        main(["manage", "fido2", "--help"])
    out = capsys.readouterr().out
    for action in ("enroll", "list", "revoke", "unsuspend"):
        assert action in out
    with pytest.raises(SystemExit):
        main(["virtual-key", "serve-nfc", "--help"])
    assert "--reader" in capsys.readouterr().out
    with pytest.raises(SystemExit) as exited:
        main(["virtual-key", "serve-nfc", "x", "--reader", "2"])
    assert exited.value.code == 2
