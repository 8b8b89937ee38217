"""PSKC import: the RFC 6030 examples, all-or-nothing reports, the CSV mapping."""

from __future__ import annotations

import logging
from pathlib import Path

import pskc
import pytest

from tokenstile.factors.otp import InvalidOtpParameters, InvalidOtpSecret, hotp_code, totp_code
from tokenstile.factors.pskc_import import (
    ImportProblem,
    PskcImport,
    import_pskc,
    parse_assignments,
    parse_psk_hex,
)

DATA = Path(__file__).parent / "data"
NOW = 1_800_000_000.0
RFC_PSK = bytes.fromhex("12345678901234567890123456789012")
RFC4226_SEED = b"12345678901234567890"


def read(name: str) -> bytes:
    return (DATA / name).read_bytes()


def reasons(report: PskcImport) -> list[tuple[int | None, str | None, str]]:
    return [(p.package, p.serial, p.reason) for p in report.problems]


def package(serial: str, body: str, algorithm: str = "hotp") -> str:
    return f"""
    <KeyPackage>
        <DeviceInfo><Manufacturer>FobWorks</Manufacturer><SerialNo>{serial}</SerialNo></DeviceInfo>
        <Key Id="k-{serial}" Algorithm="urn:ietf:params:xml:ns:keyprov:pskc:{algorithm}">
            {body}
        </Key>
    </KeyPackage>"""


GOOD_DATA = "<Data><Secret><PlainValue>MTIzNDU2Nzg5MDEyMzQ1Njc4OTA=</PlainValue></Secret></Data>"


def container(*packages: str) -> bytes:
    return (
        '<?xml version="1.0" encoding="UTF-8"?>\n'
        '<KeyContainer Version="1.0" xmlns="urn:ietf:params:xml:ns:keyprov:pskc">'
        + "".join(packages)
        + "</KeyContainer>"
    ).encode()


# ---- the RFC 6030 examples -------------------------------------------------------------


def test_figure3_plain_hotp_with_device_data() -> None:
    report = import_pskc(read("rfc6030-figure3.pskcxml"), now=NOW)
    assert report.ok, report.describe()
    (key,) = report.keys
    assert key.serial == "987654321"
    assert key.manufacturer == "Manufacturer"
    assert key.issuer == "Issuer"
    assert key.key_id == "12345678"
    assert key.params.kind == "hotp"
    assert key.params.digits == 8
    assert key.counter == 0
    assert key.last_used == -1
    assert key.seed == RFC4226_SEED
    # RFC 4226 Appendix D, counter 0, 8 digits of the same truncated value 1284755224.
    assert hotp_code(key.seed, 0, digits=8) == "84755224"


def test_figure2_minimal_example_has_a_toy_32_bit_secret() -> None:
    refused = import_pskc(read("rfc6030-figure2.pskcxml"), now=NOW)
    assert reasons(refused) == [(1, "12345678", "the secret is 32 bits; at least 80 needed")]
    assert refused.keys == ()
    accepted = import_pskc(read("rfc6030-figure2.pskcxml"), now=NOW, min_seed_bytes=4)
    (key,) = accepted.keys
    assert key.serial == "12345678"  # no SerialNo: the Key Id stands in
    assert key.seed == b"1234"
    assert key.issuer == "Issuer-A"
    assert key.params.digits == 6
    assert key.counter == 0


def test_figure6_pre_shared_key_aes128_cbc_hmac_sha1() -> None:
    report = import_pskc(read("rfc6030-figure6.pskcxml"), now=NOW, psk=RFC_PSK)
    assert report.ok, report.describe()
    (key,) = report.keys
    assert key.serial == "987654321"
    assert key.seed == RFC4226_SEED
    assert key.params.digits == 8


def test_figure7_password_based_encryption() -> None:
    report = import_pskc(read("rfc6030-figure7.pskcxml"), now=NOW, password="qwerty")
    assert report.ok, report.describe()
    assert report.keys[0].manufacturer == "TokenVendorAcme"
    assert report.keys[0].seed == RFC4226_SEED
    wrong = import_pskc(read("rfc6030-figure7.pskcxml"), now=NOW, password="azerty")
    assert not wrong.ok
    assert "wrong pre-shared key or password" in wrong.problems[0].reason


def test_figure5_pin_package_makes_the_file_fail() -> None:
    report = import_pskc(read("rfc6030-figure5.pskcxml"), now=NOW)
    assert report.keys == ()
    assert report.packages == 2
    assert {p.package for p in report.problems} == {2}
    assert any("unsupported algorithm" in p.reason and "pin" in p.reason for p in report.problems)


def test_figure10_bulk_expired_and_duplicate_serials() -> None:
    report = import_pskc(read("rfc6030-figure10.pskcxml"), now=NOW)
    assert report.keys == ()
    assert (4, "9999999", "the serial is also in key package 3") in reasons(report)
    assert (1, "654321", "the key expired on 2006-05-31") in reasons(report)
    # The same file, read as of May 2006, only has the duplicate left.
    may_2006 = 1_147_000_000.0
    early = import_pskc(read("rfc6030-figure10.pskcxml"), now=may_2006)
    assert (4, "9999999", "the serial is also in key package 3") in reasons(early)
    assert all(p.package in (3, 4) for p in early.problems)


def test_figure3_importing_keeps_the_seed_out_of_the_repr_and_logs(
    caplog: pytest.LogCaptureFixture,
) -> None:
    with caplog.at_level(logging.DEBUG):
        report = import_pskc(read("rfc6030-figure3.pskcxml"), now=NOW)
    assert "1234567890" not in repr(report)
    assert "MTIzNDU2" not in repr(report)
    assert "1234567890" not in caplog.text


# ---- our own TOTP file -----------------------------------------------------------------


def test_totp_fobs_sha256_60s_8_digits_and_80_bit_seed() -> None:
    report = import_pskc(read("totp-fobs.pskcxml"), now=NOW)
    assert report.ok, report.describe()
    first, second = report.keys
    assert (first.serial, first.label, first.model) == ("FW-0001", "Front desk fob", "T8-60")
    assert first.params.algorithm == "SHA256"
    assert (first.params.digits, first.params.period, first.drift) == (8, 60, -1)
    assert first.seed == b"12345678901234567890123456789012"
    # RFC 6238 Appendix B's SHA-256 vector for T=59 s is step 1; with 60 s steps that is
    # the minute from 60 s.
    assert totp_code(first.seed, 60, digits=8, period=60, algorithm="SHA256") == "46119246"
    assert (second.serial, second.params.period, second.params.digits) == ("FW-0002", 30, 6)
    assert len(second.seed) == 10
    assert second.last_used == -1


# ---- all or nothing --------------------------------------------------------------------


def test_one_bad_package_imports_nothing_and_is_named() -> None:
    report = import_pskc(read("one-bad-package.pskcxml"), now=NOW)
    assert report.keys == ()
    assert report.packages == 3
    assert report.problems == (ImportProblem("the key has no secret", package=2, serial="H-2"),)
    assert "key package 2, serial H-2: the key has no secret" in report.describe()
    assert report.describe().startswith("Nothing imported")


@pytest.mark.parametrize(
    ("body", "algorithm", "reason"),
    [
        (GOOD_DATA.replace("Secret>", "X>"), "hotp", "the key has no secret"),
        (GOOD_DATA, "ocra", "unsupported algorithm"),
        (
            '<AlgorithmParameters><ResponseFormat Length="7" Encoding="DECIMAL"/>'
            f"</AlgorithmParameters>{GOOD_DATA}",
            "hotp",
            "codes of 7 digits",
        ),
        (
            '<AlgorithmParameters><ResponseFormat Length="6" Encoding="HEXADECIMAL"/>'
            f"</AlgorithmParameters>{GOOD_DATA}",
            "hotp",
            "unsupported response encoding",
        ),
        (
            f"<AlgorithmParameters><Suite>HMAC-MD5</Suite></AlgorithmParameters>{GOOD_DATA}",
            "totp",
            "unsupported algorithm suite",
        ),
        (
            GOOD_DATA.replace(
                "</Data>", "<TimeInterval><PlainValue>45</PlainValue></TimeInterval></Data>"
            ),
            "totp",
            "a time step of 45 s",
        ),
        (
            GOOD_DATA.replace(
                "</Data>", f"<Counter><PlainValue>{2**63}</PlainValue></Counter></Data>"
            ),
            "hotp",
            "the counter is out of range",
        ),
        (
            f"{GOOD_DATA}<Policy><KeyUsage>Encrypt</KeyUsage></Policy>",
            "hotp",
            "not OTP",
        ),
        (
            f'{GOOD_DATA}<Policy><PINPolicy PINUsageMode="Append" MinLength="4"/></Policy>',
            "hotp",
            "PIN mode 'Append'",
        ),
        (
            f"{GOOD_DATA}<Policy><Frobnicate/></Policy>",
            "hotp",
            "does not understand",
        ),
    ],
)
def test_each_bad_package_reason(body: str, algorithm: str, reason: str) -> None:
    data = container(package("OK-1", GOOD_DATA), package("BAD-2", body, algorithm))
    report = import_pskc(data, now=NOW)
    assert report.keys == ()
    assert len(report.problems) == 1, report.describe()
    problem = report.problems[0]
    assert (problem.package, problem.serial) == (2, "BAD-2")
    assert reason in problem.reason


def test_wrong_mac_is_refused() -> None:
    data = read("rfc6030-figure6.pskcxml").replace(
        b"Su+NvtQfmvfJzF6bmQiJqoLRExc=", b"AAAAAAAAAAAAAAAAAAAAAAAAAAA="
    )
    report = import_pskc(data, now=NOW, psk=RFC_PSK)
    assert report.keys == ()
    assert reasons(report) == [
        (
            1,
            "987654321",
            "the MAC does not match: wrong pre-shared key or password, or the file was altered",
        )
    ]


def test_wrong_or_missing_pre_shared_key() -> None:
    wrong = import_pskc(read("rfc6030-figure6.pskcxml"), now=NOW, psk=bytes(16))
    assert wrong.keys == ()
    assert "wrong pre-shared key" in wrong.problems[0].reason
    missing = import_pskc(read("rfc6030-figure6.pskcxml"), now=NOW)
    assert missing.problems[0].reason.startswith("the secret is encrypted")
    short = import_pskc(read("rfc6030-figure6.pskcxml"), now=NOW, psk=bytes(5))
    assert "wrong length" in short.problems[0].reason


def test_encrypted_secret_without_a_mac_is_refused() -> None:
    data = read("rfc6030-figure6.pskcxml").replace(
        b"<ValueMAC>Su+NvtQfmvfJzF6bmQiJqoLRExc=\n                    </ValueMAC>", b""
    )
    assert b"<ValueMAC>" not in data
    report = import_pskc(data, now=NOW, psk=RFC_PSK)
    assert reasons(report) == [(1, "987654321", "the encrypted secret has no ValueMAC")]


def test_encrypted_file_written_by_python_pskc_round_trips(tmp_path: Path) -> None:
    writer = pskc.PSKC()
    writer.add_key(
        serial="RT-1",
        secret=bytes(range(10)),
        algorithm="urn:ietf:params:xml:ns:keyprov:pskc:totp",
        time_interval=60,
        response_length=8,
    )
    key = bytes(range(16, 48))
    writer.encryption.setup_preshared_key(key=key, algorithm="aes256-cbc")
    writer.write(str(tmp_path / "out.pskcxml"))
    report = import_pskc((tmp_path / "out.pskcxml").read_bytes(), now=NOW, psk=key)
    assert report.ok, report.describe()
    assert report.keys[0].seed == bytes(range(10))
    assert report.keys[0].params.period == 60


@pytest.mark.parametrize(
    ("data", "reason"),
    [
        (b"this is not XML", "not a PSKC file"),
        (b"<html><body/></html>", "not a PSKC file"),
        (b"\xff\xfe<\x00K\x00", "not UTF-8"),
        (
            b'<?xml version="1.0"?><!DOCTYPE x [<!ENTITY a "aaaa">]>'
            b'<KeyContainer xmlns="urn:ietf:params:xml:ns:keyprov:pskc">&a;</KeyContainer>',
            "DOCTYPE",
        ),
        (
            b'<KeyContainer Version="1.0" xmlns="urn:ietf:params:xml:ns:keyprov:pskc">'
            b"</KeyContainer>",
            "no key package",
        ),
        (
            container(
                package("X", GOOD_DATA.replace("MTIzNDU2Nzg5MDEyMzQ1Njc4OTA=", "not base64!"))
            ),
            "not a PSKC file",
        ),
    ],
)
def test_unreadable_files(data: bytes, reason: str) -> None:
    report = import_pskc(data, now=NOW)
    assert report.keys == ()
    assert reason in report.problems[0].reason
    assert report.problems[0].package is None


def test_password_for_a_file_without_one() -> None:
    report = import_pskc(read("rfc6030-figure3.pskcxml"), now=NOW, password="x")
    assert "not protected by a password" in report.problems[0].reason


def test_existing_serials_are_reported() -> None:
    report = import_pskc(read("totp-fobs.pskcxml"), now=NOW, existing_serials={"FW-0002"})
    assert reasons(report) == [(2, "FW-0002", "a credential with this serial is already enrolled")]


def test_psk_and_password_together_is_an_error() -> None:
    with pytest.raises(InvalidOtpParameters):
        import_pskc(b"", now=NOW, psk=RFC_PSK, password="x")


def test_parse_psk_hex() -> None:
    assert parse_psk_hex("12345678 90123456 78901234 56789012") == RFC_PSK
    with pytest.raises(InvalidOtpSecret, match="hexadecimal"):
        parse_psk_hex("xyz")
    with pytest.raises(InvalidOtpSecret, match="16, 24 or 32"):
        parse_psk_hex("1234")


# ---- the CSV mapping -------------------------------------------------------------------


def test_csv_mapping_assigns_users() -> None:
    csv_text = "\ufeffSerial, Username\r\nFW-0001,alice\r\n\r\nFW-0002,bob\r\n"
    report = import_pskc(
        read("totp-fobs.pskcxml"),
        now=NOW,
        assignments_csv=csv_text,
        known_usernames={"alice", "bob"},
    )
    assert report.ok, report.describe()
    assert [(k.serial, k.username) for k in report.keys] == [
        ("FW-0001", "alice"),
        ("FW-0002", "bob"),
    ]


def test_csv_mapping_may_leave_keys_unassigned() -> None:
    report = import_pskc(
        read("totp-fobs.pskcxml"), now=NOW, assignments_csv="serial,username\nFW-0002,bob\n"
    )
    assert [(k.serial, k.username) for k in report.keys] == [("FW-0001", None), ("FW-0002", "bob")]


def test_csv_mapping_errors_import_nothing() -> None:
    csv_text = (
        "serial,username\n"
        "FW-0001,alice\n"
        "FW-0001,bob\n"  # line 3: duplicate serial
        "NOPE-9,carol\n"  # line 4: not in the file
        "FW-0002,mallory\n"  # line 5: no such user
        "just-one-field\n"  # line 6
        ",dave\n"  # line 7: empty serial
    )
    report = import_pskc(
        read("totp-fobs.pskcxml"),
        now=NOW,
        assignments_csv=csv_text,
        known_usernames={"alice", "bob", "carol", "dave"},
    )
    assert report.keys == ()
    found = {(p.line, p.serial, p.reason) for p in report.problems}
    assert found == {
        (3, "FW-0001", "the serial is already assigned on line 2"),
        (4, "NOPE-9", "this serial is not in the PSKC file"),
        (5, "FW-0002", "there is no user 'mallory'"),
        (6, None, "expected 'serial,username'"),
        (7, None, "expected 'serial,username'"),
    }
    assert "CSV line 5, serial FW-0002: there is no user 'mallory'" in report.describe()


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        ("", "the CSV mapping is empty"),
        ("user,serial\nalice,FW-0001\n", "must start with the header line 'serial,username'"),
        ("serial,username,extra\n", "must start with the header line"),
    ],
)
def test_csv_header(text: str, reason: str) -> None:
    mapping, problems = parse_assignments(text)
    assert mapping == {}
    assert reason in problems[0].reason


def test_bad_csv_with_a_good_pskc_still_imports_nothing() -> None:
    report = import_pskc(read("totp-fobs.pskcxml"), now=NOW, assignments_csv="oops\n")
    assert report.keys == ()
    assert report.problems[0].line == 1
