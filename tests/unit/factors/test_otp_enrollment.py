"""Key URIs, seeds and QR codes for app enrollment."""

from __future__ import annotations

import base64
import io

import png
import pyotp
import pytest

from tokenstile.factors.otp import InvalidOtpParameters, InvalidOtpSecret, OtpParameters, totp_code
from tokenstile.factors.otp_enrollment import (
    base32_secret,
    generate_seed,
    key_uri,
    new_app_enrollment,
    parse_base32_secret,
    qr_png,
    qr_text,
)

SEED = b"12345678901234567890"
B32 = "GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ"


def test_generated_seed_is_160_bits_and_random() -> None:
    seeds = {generate_seed() for _ in range(8)}
    assert len(seeds) == 8
    assert all(len(seed) == 20 for seed in seeds)


def test_base32_round_trip_without_padding() -> None:
    assert base32_secret(SEED) == B32
    short = bytes.fromhex("8f6a1c2e9b0d47a35e21")
    assert "=" not in base32_secret(short)
    assert parse_base32_secret(base32_secret(short)) == short
    assert parse_base32_secret("gezd gnbv-gy3t qojq gezd gnbv gy3t qojq") == SEED
    assert parse_base32_secret(B32 + "====") == SEED


@pytest.mark.parametrize(
    ("text", "reason"), [("", "empty"), ("GEZD1!", "base32"), ("GEZDGNBV", "bits")]
)
def test_bad_admin_secrets(text: str, reason: str) -> None:
    with pytest.raises(InvalidOtpSecret, match=reason) as caught:
        parse_base32_secret(text)
    if text:
        assert text not in caught.value.message


def test_totp_uri_exact() -> None:
    uri = key_uri(OtpParameters.totp(), SEED, issuer="ACME Co", account="alice@example.com")
    assert uri == (
        "otpauth://totp/ACME%20Co:alice%40example.com"
        f"?secret={B32}&issuer=ACME%20Co&algorithm=SHA1&digits=6&period=30"
    )


def test_totp_uri_sha256_8_60_exact() -> None:
    params = OtpParameters.totp(algorithm="SHA256", digits=8, period=60)
    uri = key_uri(params, SEED, issuer="Tokenstile", account="bob")
    assert uri == (
        f"otpauth://totp/Tokenstile:bob?secret={B32}"
        "&issuer=Tokenstile&algorithm=SHA256&digits=8&period=60"
    )


def test_hotp_uri_exact() -> None:
    uri = key_uri(
        OtpParameters.hotp(digits=8), SEED, issuer="Ünï Corp", account="c d/e", counter=42
    )
    assert uri == (
        "otpauth://hotp/%C3%9Cn%C3%AF%20Corp:c%20d%2Fe"
        f"?secret={B32}&issuer=%C3%9Cn%C3%AF%20Corp&algorithm=SHA1&digits=8&counter=42"
    )


def test_uri_is_read_back_by_pyotp() -> None:
    params = OtpParameters.totp(algorithm="SHA512", digits=8, period=60)
    uri = key_uri(params, SEED, issuer="ACME Co", account="alice@example.com")
    parsed = pyotp.parse_uri(uri)
    assert isinstance(parsed, pyotp.TOTP)
    assert parsed.name == "alice@example.com"
    assert parsed.issuer == "ACME Co"
    assert parsed.digits == 8
    assert parsed.interval == 60
    assert parsed.at(1_800_000_000) == totp_code(
        SEED, 1_800_000_000, digits=8, period=60, algorithm="SHA512"
    )


@pytest.mark.parametrize(
    ("issuer", "account"), [("ACME:Co", "alice"), ("ACME", "al:ice"), ("", "alice"), ("ACME", " ")]
)
def test_uri_refuses_colons_and_empty_parts(issuer: str, account: str) -> None:
    with pytest.raises(InvalidOtpParameters):
        key_uri(OtpParameters.totp(), SEED, issuer=issuer, account=account)


def test_qr_png_is_a_png_of_a_qr_code() -> None:
    data = qr_png("otpauth://totp/ACME:alice?secret=" + B32)
    assert data.startswith(b"\x89PNG\r\n\x1a\n")
    width, height, rows, info = png.Reader(bytes=data).read()
    pixels = [list(row) for row in rows]
    assert width == height
    assert info["greyscale"]
    assert info["bitdepth"] == 1
    # A quiet zone of 4 white modules (8 px each) all round, then the finder's black corner.
    assert all(value == 1 for value in pixels[0])
    assert all(row[0] == 1 for row in pixels)
    assert pixels[32][32] == 0


def test_qr_text_draws_half_blocks() -> None:
    dark = qr_text("otpauth://totp/ACME:alice?secret=" + B32)
    light = qr_text("otpauth://totp/ACME:alice?secret=" + B32, dark_terminal=False)
    assert dark.strip()
    assert set(dark) <= {"\u00a0", "\u2580", "\u2584", "\u2588", "\n"}
    assert dark != light
    lines = dark.splitlines()
    assert len({len(line) for line in lines}) == 1  # a rectangle
    assert len(lines) >= 14  # (21 modules + 8 quiet) / 2 rows per line, at least


def test_app_enrollment_keeps_secrets_out_of_repr() -> None:
    enrollment = new_app_enrollment(issuer="Tokenstile", account="alice")
    text = repr(enrollment)
    assert base32_secret(enrollment.seed) not in text
    assert "otpauth" not in text
    assert enrollment.serial.startswith("APP-")
    assert enrollment.uri.startswith("otpauth://totp/Tokenstile:alice?secret=")
    assert base64.b32decode(enrollment.uri.split("secret=")[1].split("&")[0]) == enrollment.seed
    assert enrollment.qr_png().startswith(b"\x89PNG")
    assert io.StringIO(enrollment.qr_text()).read()
