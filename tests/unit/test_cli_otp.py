"""The OTP command contract of ``tokenstile manage``, run in-process."""

from __future__ import annotations

import base64
import json
import stat
import time
from pathlib import Path

import pytest

from tokenstile.cli.main import main
from tokenstile.factors.otp import hotp_code, totp_code

SEED = b"12345678901234567890"
SEED_B32 = base64.b32encode(SEED).decode()
DATA = Path(__file__).resolve().parent / "factors" / "data"


def run(capsys: pytest.CaptureFixture[str], db: str, *argv: str) -> tuple[int, str, str]:
    code = main(["manage", "--db", db, *argv])
    out, err = capsys.readouterr()
    return code, out, err


def usage_error(capsys: pytest.CaptureFixture[str], db: str, *argv: str) -> str:
    with pytest.raises(SystemExit) as exited:
        main(["manage", "--db", db, *argv])
    assert exited.value.code == 2
    return capsys.readouterr().err


@pytest.fixture
def db(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> str:
    url = f"sqlite:///{tmp_path / 'cli.db'}"
    assert run(capsys, url, "init")[0] == 0
    for name in ("alice", "bob"):
        assert run(capsys, url, "user", "add", name)[0] == 0
    return url


def listing(capsys: pytest.CaptureFixture[str], db: str, *user: str) -> list[list[str]]:
    code, out, _ = run(capsys, db, "otp", "list", *user)
    assert code == 0
    if out.strip() == "No OTP credentials.":
        return []
    return [line.split() for line in out.strip().splitlines()[1:]]


def audit(capsys: pytest.CaptureFixture[str], db: str) -> list[dict[str, object]]:
    out = run(capsys, db, "audit", "--json")[1]
    return [json.loads(line) for line in out.splitlines()]


def test_totp_add_for_an_app_prints_the_uri_and_a_qr_and_stays_pending(
    capsys: pytest.CaptureFixture[str], db: str, tmp_path: Path
) -> None:
    png = tmp_path / "alice.png"
    code, out, err = run(capsys, db, "totp", "add", "alice", "--qr", str(png))
    assert (code, err) == (0, "")
    lines = out.splitlines()
    assert lines[0].startswith("Enrolled TOTP APP-")
    assert "pending until its first code" in lines[0]
    uri = lines[1]
    assert uri.startswith("otpauth://totp/Tokenstile:alice?secret=")
    assert "&issuer=Tokenstile&algorithm=SHA1&digits=6&period=30" in uri
    assert any("\u2580" in line or "\u2584" in line or "\u2588" in line for line in lines[2:])
    assert png.read_bytes().startswith(b"\x89PNG")
    assert stat.S_IMODE(png.stat().st_mode) == 0o600
    serial = lines[0].split()[2]
    assert listing(capsys, db)[0][:2] == [serial, "alice"]
    assert "pending" in listing(capsys, db)[0]

    secret = uri.split("secret=")[1].split("&")[0]
    seed = base64.b32decode(secret + "=" * (-len(secret) % 8))
    assert run(capsys, db, "otp", "confirm", serial, "000000")[0] == 1
    code, out, _ = run(capsys, db, "otp", "confirm", serial, totp_code(seed, time.time()))
    assert (code, out.strip()) == (0, f"{serial} is active.")
    assert secret not in json.dumps(audit(capsys, db))


def test_totp_add_with_an_admin_secret_is_active(
    capsys: pytest.CaptureFixture[str], db: str
) -> None:
    code, out, _ = run(
        capsys,
        db,
        "totp",
        "add",
        "alice",
        "--secret",
        SEED_B32.lower(),
        "--algorithm",
        "SHA256",
        "--digits",
        "8",
        "--period",
        "60",
        "--serial",
        "FOB-9",
    )
    assert code == 0
    assert out.splitlines()[0] == "Enrolled TOTP FOB-9 for alice (active)."
    assert f"secret={SEED_B32}&" in out.splitlines()[1]
    assert "algorithm=SHA256&digits=8&period=60" in out.splitlines()[1]
    row = listing(capsys, db, "alice")[0]
    assert row[:6] == ["FOB-9", "alice", "TOTP", "SHA256", "8", "digits"]
    assert "active" in row


def test_hotp_add_and_resync(capsys: pytest.CaptureFixture[str], db: str) -> None:
    code, out, _ = run(
        capsys, db, "hotp", "add", "bob", "--secret", SEED_B32, "--counter", "7", "--serial", "H-7"
    )
    assert (code, out.strip()) == (0, "Enrolled HOTP H-7 for bob (active, next counter 7).")
    code, out, _ = run(capsys, db, "otp", "resync", "H-7", hotp_code(SEED, 60), hotp_code(SEED, 61))
    assert (code, out.strip()) == (0, "Resynchronised H-7.")
    code, _, err = run(capsys, db, "otp", "resync", "H-7", hotp_code(SEED, 60), hotp_code(SEED, 61))
    assert code == 1
    assert err.startswith("tokenstile: The two codes are not consecutive codes")


def test_totp_resync_reports_the_drift(capsys: pytest.CaptureFixture[str], db: str) -> None:
    run(capsys, db, "totp", "add", "alice", "--secret", SEED_B32, "--serial", "T-1")
    behind = time.time() - 20 * 30
    code, out, _ = run(
        capsys,
        db,
        "otp",
        "resync",
        "T-1",
        totp_code(SEED, behind - 30),
        totp_code(SEED, behind),
    )
    assert code == 0
    assert "its clock is -20 step(s) off" in out or "its clock is -19 step(s) off" in out


def test_import_prints_the_report_and_assigns(
    capsys: pytest.CaptureFixture[str], db: str, tmp_path: Path
) -> None:
    mapping = tmp_path / "map.csv"
    mapping.write_text("serial,username\nFW-0002,bob\n")
    code, out, err = run(
        capsys, db, "otp", "import", str(DATA / "totp-fobs.pskcxml"), "--assign", str(mapping)
    )
    assert (code, err) == (0, "")
    assert out.splitlines() == [
        "Imported 2 credential(s) from 2 package(s).",
        "  FW-0001: TOTP SHA256 8 digits 60 s, unassigned",
        "  FW-0002: TOTP SHA1 6 digits 30 s, bob",
    ]
    assert [row[0] for row in listing(capsys, db, "bob")] == ["FW-0002"]
    code, out, _ = run(capsys, db, "otp", "assign", "FW-0001", "alice")
    assert (code, out.strip()) == (0, "FW-0001 now belongs to alice.")


def test_import_with_a_pre_shared_key(capsys: pytest.CaptureFixture[str], db: str) -> None:
    figure6 = str(DATA / "rfc6030-figure6.pskcxml")
    code, _, err = run(capsys, db, "otp", "import", figure6)
    assert code == 1
    assert "give the pre-shared key" in err
    code, out, _ = run(
        capsys, db, "otp", "import", figure6, "--psk", "12345678901234567890123456789012"
    )
    assert code == 0
    assert out.startswith("Imported 1 credential(s)")


@pytest.mark.parametrize(
    "case",
    [
        (None, ["otp", "import", "one-bad-package.pskcxml"], "key package 2, serial H-2"),
        (None, ["otp", "import", "missing.pskcxml"], "Cannot read PSKC file"),
        (None, ["otp", "import", "totp-fobs.pskcxml", "--psk", "xyz"], "not hexadecimal"),
        ("serial,username\nFW-0002,carol\n", ["otp", "import", "totp-fobs.pskcxml"], "carol"),
        ("serial,username\nNOPE,bob\n", ["otp", "import", "totp-fobs.pskcxml"], "NOPE"),
        ("not a mapping\n", ["otp", "import", "totp-fobs.pskcxml"], "header line"),
    ],
)
def test_a_bad_import_says_why_and_imports_nothing(
    capsys: pytest.CaptureFixture[str],
    db: str,
    tmp_path: Path,
    case: tuple[str | None, list[str], str],
) -> None:
    setup, argv, message = case
    argv = [str(DATA / a) if a.endswith(".pskcxml") else a for a in argv]
    if setup is not None:
        (tmp_path / "map.csv").write_text(setup)
        argv += ["--assign", str(tmp_path / "map.csv")]
    code, out, err = run(capsys, db, *argv)
    assert code == 1
    assert out == ""
    assert message in err
    assert "Traceback" not in err
    assert listing(capsys, db) == []


def test_revoke_unlock_and_their_errors(capsys: pytest.CaptureFixture[str], db: str) -> None:
    run(capsys, db, "totp", "add", "alice", "--secret", SEED_B32, "--serial", "FOB-1")
    revoked = run(capsys, db, "otp", "revoke", "FOB-1")[1].strip()
    assert revoked == "Revoked FOB-1 of alice; 0 sessions ended."
    code, _, err = run(capsys, db, "otp", "revoke", "FOB-1")
    assert (code, err.strip()) == (1, "tokenstile: Credential FOB-1 is already revoked.")
    code, _, err = run(capsys, db, "otp", "revoke", "NOPE")
    assert (code, err.strip()) == (1, "tokenstile: No OTP credential has the serial 'NOPE'.")
    code, out, _ = run(capsys, db, "otp", "unlock", "alice")
    assert (code, out.strip()) == (0, "Cleared the OTP failures of alice.")
    code, _, err = run(capsys, db, "otp", "unlock", "nobody")
    assert (code, err.strip()) == (1, "tokenstile: No user named 'nobody'.")
    events = [e["event"] for e in audit(capsys, db) if str(e["event"]).startswith("otp_")]
    assert events == ["otp_enrolled", "otp_revoked", "otp_unlocked"]


def test_errors_change_nothing(capsys: pytest.CaptureFixture[str], db: str, tmp_path: Path) -> None:
    cases = [
        (["totp", "add", "nobody"], "No user named 'nobody'."),
        (["totp", "add", "alice", "--secret", "not base32!"], "not base32"),
        (["totp", "add", "alice", "--secret", "MFRGG"], "between 80 and"),
        (["totp", "add", "alice", "--qr", str(tmp_path / "no" / "dir" / "q.png")], "Cannot write"),
        (["hotp", "add", "nobody", "--secret", SEED_B32], "No user named"),
        (["otp", "list", "nobody"], "No user named"),
        (["otp", "confirm", "NOPE", "123456"], "No OTP credential"),
    ]
    for argv, message in cases:
        code, out, err = run(capsys, db, *argv)
        assert code == 1, argv
        assert message in err, argv
        assert len(err.strip().splitlines()) == 1, argv
        assert out == "", argv
    assert listing(capsys, db) == []
    assert list(tmp_path.glob("**/*.png")) == []
    assert not [e for e in audit(capsys, db) if str(e["event"]).startswith("otp_")]


@pytest.mark.parametrize(
    "argv",
    [
        ["totp", "add", "alice", "--digits", "7"],
        ["totp", "add", "alice", "--period", "45"],
        ["totp", "add", "alice", "--algorithm", "MD5"],
        ["totp", "add"],
        ["hotp", "add", "alice"],
        ["hotp", "add", "alice", "--secret", SEED_B32, "--counter", "-1"],
        ["otp", "resync", "FOB-1", "123456"],
        ["otp", "frobnicate"],
    ],
)
def test_bad_usage_exits_2(capsys: pytest.CaptureFixture[str], db: str, argv: list[str]) -> None:
    assert "usage:" in usage_error(capsys, db, *argv)
    assert listing(capsys, db) == []
