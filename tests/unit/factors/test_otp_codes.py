"""Code generation against the RFC vectors and two generators nobody here wrote."""

from __future__ import annotations

import base64
import subprocess

import pyotp
import pytest

from tokenstile.factors.otp import (
    MAX_CODE_INPUT,
    InvalidOtpParameters,
    OtpParameters,
    hotp_code,
    normalise_code,
    totp_code,
    totp_step,
)

RFC4226_SEED = b"12345678901234567890"
RFC6238_SEEDS = {
    "SHA1": b"12345678901234567890",
    "SHA256": b"12345678901234567890123456789012",
    "SHA512": b"1234567890123456789012345678901234567890123456789012345678901234",
}


# RFC 4226 Appendix D: HOTP values for counters 0..9.
@pytest.mark.parametrize(
    ("counter", "expected"),
    list(
        enumerate(
            [
                "755224",
                "287082",
                "359152",
                "969429",
                "338314",
                "254676",
                "287922",
                "162583",
                "399871",
                "520489",
            ]
        )
    ),
)
def test_rfc4226_appendix_d(counter: int, expected: str) -> None:
    assert hotp_code(RFC4226_SEED, counter) == expected


# RFC 6238 Appendix B: 8-digit TOTP values, 30 s steps, one seed per hash.
@pytest.mark.parametrize(
    ("at", "expected", "algorithm"),
    [
        (59, "94287082", "SHA1"),
        (59, "46119246", "SHA256"),
        (59, "90693936", "SHA512"),
        (1111111109, "07081804", "SHA1"),
        (1111111109, "68084774", "SHA256"),
        (1111111109, "25091201", "SHA512"),
        (1111111111, "14050471", "SHA1"),
        (1111111111, "67062674", "SHA256"),
        (1111111111, "99943326", "SHA512"),
        (1234567890, "89005924", "SHA1"),
        (1234567890, "91819424", "SHA256"),
        (1234567890, "93441116", "SHA512"),
        (2000000000, "69279037", "SHA1"),
        (2000000000, "90698825", "SHA256"),
        (2000000000, "38618901", "SHA512"),
        (20000000000, "65353130", "SHA1"),
        (20000000000, "77737706", "SHA256"),
        (20000000000, "47863826", "SHA512"),
    ],
)
def test_rfc6238_appendix_b(at: int, expected: str, algorithm: str) -> None:
    seed = RFC6238_SEEDS[algorithm]
    assert totp_code(seed, at, digits=8, period=30, algorithm=algorithm) == expected


def oathtool(*args: str) -> str:
    result = subprocess.run(
        ["/usr/bin/oathtool", *args], check=True, capture_output=True, text=True, timeout=10
    )
    return result.stdout.strip()


@pytest.mark.parametrize(
    ("algorithm", "digits", "period", "at"),
    [
        ("SHA1", 6, 30, 1_800_000_000),
        ("SHA1", 8, 30, 1_111_111_111),
        ("SHA256", 8, 60, 1_700_000_000),
        ("SHA256", 6, 30, 1_800_000_031),
        ("SHA512", 8, 60, 2_000_000_000),
        ("SHA512", 6, 30, 59),
    ],
)
def test_totp_matches_oathtool(algorithm: str, digits: int, period: int, at: int) -> None:
    seed = bytes(range(1, 21))
    expected = oathtool(
        f"--totp={algorithm.lower()}",
        "-d",
        str(digits),
        "-s",
        str(period),
        "-N",
        f"@{at}",
        seed.hex(),
    )
    assert totp_code(seed, at, digits=digits, period=period, algorithm=algorithm) == expected


def test_hotp_matches_oathtool_with_an_80_bit_seed() -> None:
    seed = bytes.fromhex("8f6a1c2e9b0d47a35e21")  # 80 bits: pyotp refuses it, fobs carry it
    expected = oathtool("--hotp", "-d", "6", "-c", "41", "-w", "3", seed.hex()).split()
    assert [hotp_code(seed, counter) for counter in range(41, 45)] == expected


def test_totp_80_bit_seed_matches_oathtool_base32() -> None:
    seed = bytes.fromhex("8f6a1c2e9b0d47a35e21")
    secret = base64.b32encode(seed).decode()
    expected = oathtool("--totp", "-b", "-N", "@1800000000", secret)
    assert totp_code(seed, 1_800_000_000) == expected
    with pytest.raises(ValueError, match="112"):
        pyotp.TOTP(secret).at(1_800_000_000)


@pytest.mark.parametrize(
    ("algorithm", "digest"), [("SHA1", "sha1"), ("SHA256", "sha256"), ("SHA512", "sha512")]
)
@pytest.mark.parametrize("digits", [6, 8])
def test_matches_pyotp_for_long_seeds(algorithm: str, digest: str, digits: int) -> None:
    import hashlib

    seed = bytes(range(100, 132))
    secret = base64.b32encode(seed).decode()
    for period in (30, 60):
        reference = pyotp.TOTP(
            secret, digits=digits, digest=getattr(hashlib, digest), interval=period
        )
        for at in (0, 59, 1_234_567_890, 1_800_000_017):
            assert totp_code(
                seed, at, digits=digits, period=period, algorithm=algorithm
            ) == reference.at(at)
    hotp = pyotp.HOTP(secret, digits=digits, digest=getattr(hashlib, digest))
    for counter in (0, 1, 99, 2**40):
        assert hotp_code(seed, counter, digits=digits, algorithm=algorithm) == hotp.at(counter)


def test_totp_step_floors() -> None:
    assert totp_step(59.999, 30) == 1
    assert totp_step(60, 30) == 2
    assert totp_step(1_800_000_000, 60) == 30_000_000


def test_counter_must_fit_eight_bytes() -> None:
    hotp_code(RFC4226_SEED, 2**64 - 1)
    with pytest.raises(InvalidOtpParameters):
        hotp_code(RFC4226_SEED, 2**64)
    with pytest.raises(InvalidOtpParameters):
        hotp_code(RFC4226_SEED, -1)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("123456", "123456"),
        (" 123 456 ", "123456"),
        ("1234-5678", "12345678"),
        ("12345", None),
        ("123456789", None),
        ("", None),
        ("12345a", None),
        ("١٢٣٤٥٦", None),  # Arabic-Indic digits are digits to str.isdigit, not to us
        ("1" * (MAX_CODE_INPUT + 1), None),
        ("123456\n", "123456"),
    ],
)
def test_normalise_code(text: str, expected: str | None) -> None:
    assert normalise_code(text) == expected


@pytest.mark.parametrize(
    "kwargs",
    [
        {"kind": "totp", "digits": 7},
        {"kind": "totp", "period": 45},
        {"kind": "totp", "algorithm": "MD5"},
        {"kind": "hotp", "period": 30},
        {"kind": "sms"},
    ],
)
def test_parameters_refuse_what_is_not_supported(kwargs: dict[str, object]) -> None:
    with pytest.raises(InvalidOtpParameters):
        OtpParameters(**kwargs)


def test_parameters_constructors() -> None:
    assert OtpParameters.totp(algorithm="SHA256", digits=8, period=60).time_step == 60
    assert OtpParameters.hotp().period is None
    with pytest.raises(InvalidOtpParameters):
        _ = OtpParameters.hotp().time_step
