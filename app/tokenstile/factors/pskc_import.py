"""Importing fob seeds from PSKC files (RFC 6030), all or nothing.

python-pskc reads the XML and decrypts (pre-shared key, or a password with PBKDF2);
this module decides what Tokenstile accepts. Every key package is checked and every
problem collected (package number, serial, reason); when there is any problem, in the
file or in the optional ``serial,username`` CSV, the result holds no key at all, so the
caller stores nothing.

Accepted: the HOTP and TOTP profiles of RFC 6030 section 10, HMAC-SHA1/256/512 (the
``Suite``), 6 or 8 decimal digits, 30 or 60 s, seeds from ``min_seed_bytes`` (80 bits by
default: fobs often carry less than pyotp's 112-bit minimum). The ``serial`` of a key is
the device ``SerialNo``, else the ``Key Id``. Seeds come back as plain bytes for the
caller to seal with the KEK at once; they are never in a repr, a problem, or a log.
"""

from __future__ import annotations

import csv
import datetime
import io
from collections.abc import Container
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING

import pskc
from pskc.exceptions import DecryptionError, PSKCError
from pskc.key import EncryptedValue

from tokenstile.factors.otp import (
    MAX_STORED_COUNTER,
    HashName,
    InvalidOtpParameters,
    InvalidOtpSecret,
    OtpKind,
    OtpParameters,
)

if TYPE_CHECKING:
    from pskc.device import Device
    from pskc.key import Key

MIN_IMPORT_SEED_BYTES = 10  # 80 bits
MAX_IMPORT_SEED_BYTES = 128
MAX_PSKC_BYTES = 16 * 1024 * 1024
MAX_CSV_BYTES = 4 * 1024 * 1024

_PSKC_NS = "urn:ietf:params:xml:ns:keyprov:pskc"
# Final "#" forms come from the drafts before RFC 6030; vendors still write them.
_ALGORITHMS: dict[str, OtpKind] = {
    f"{_PSKC_NS}:hotp": "hotp",
    f"{_PSKC_NS}:totp": "totp",
    f"{_PSKC_NS}#hotp": "hotp",
    f"{_PSKC_NS}#totp": "totp",
}
_SUITES: dict[str, HashName] = {
    "hmac-sha1": "SHA1",
    "hmac-sha-1": "SHA1",
    "sha1": "SHA1",
    "sha-1": "SHA1",
    "hmac-sha256": "SHA256",
    "hmac-sha-256": "SHA256",
    "sha256": "SHA256",
    "sha-256": "SHA256",
    "hmac-sha512": "SHA512",
    "hmac-sha-512": "SHA512",
    "sha512": "SHA512",
    "sha-512": "SHA512",
}
_DECRYPTION_REASONS = {
    "No key available": "the secret is encrypted: give the pre-shared key or the password",
    "MAC value does not match": (
        "the MAC does not match: wrong pre-shared key or password, or the file was altered"
    ),
    "Invalid padding": (
        "the secret does not decrypt: wrong pre-shared key or password, or the file was altered"
    ),
    "Invalid key length": "the pre-shared key has the wrong length for the file's cipher",
}


@dataclass(frozen=True, slots=True)
class ImportProblem:
    """Why an import was refused. ``package`` is the 1-based KeyPackage number, ``line``
    the CSV line; both None for a problem with the whole file."""

    reason: str
    package: int | None = None
    serial: str | None = None
    line: int | None = None

    def describe(self) -> str:
        where = []
        if self.package is not None:
            where.append(f"key package {self.package}")
        if self.line is not None:
            where.append(f"CSV line {self.line}")
        if self.serial is not None:
            where.append(f"serial {self.serial}")
        return f"{', '.join(where) or 'file'}: {self.reason}"


@dataclass(frozen=True, slots=True, kw_only=True)
class ImportedOtpKey:
    """One fob key ready to store. ``counter`` is the next HOTP counter the fob will use
    (store ``last_used = counter - 1``); ``drift`` the TOTP drift in steps the vendor
    measured. ``username`` comes from the CSV mapping."""

    package: int
    serial: str
    params: OtpParameters
    seed: bytes = field(repr=False)
    counter: int = 0
    drift: int = 0
    label: str
    manufacturer: str | None = None
    model: str | None = None
    issuer: str | None = None
    key_id: str | None = None
    not_before: float | None = None
    not_after: float | None = None
    username: str | None = None

    @property
    def last_used(self) -> int:
        return self.counter - 1 if self.params.kind == "hotp" else -1


@dataclass(frozen=True, slots=True)
class PskcImport:
    """``keys`` is empty whenever ``problems`` is not: import all of them or none."""

    keys: tuple[ImportedOtpKey, ...]
    problems: tuple[ImportProblem, ...]
    packages: int

    @property
    def ok(self) -> bool:
        return not self.problems

    def describe(self) -> str:
        if self.ok:
            return f"{len(self.keys)} key(s) ready to import from {self.packages} package(s)."
        lines = [
            f"Nothing imported: {len(self.problems)} problem(s) in {self.packages} package(s)."
        ]
        lines += [f"  {problem.describe()}" for problem in self.problems]
        return "\n".join(lines)


def parse_psk_hex(text: str) -> bytes:
    """A pre-shared key typed as hex (``--psk``): 16, 24 or 32 bytes."""
    try:
        key = bytes.fromhex("".join(text.split()))
    except ValueError as exc:
        raise InvalidOtpSecret("The pre-shared key is not hexadecimal.") from exc
    if len(key) not in (16, 24, 32):
        raise InvalidOtpSecret(
            f"The pre-shared key is {len(key)} bytes; AES keys are 16, 24 or 32 bytes."
        )
    return key


def import_pskc(
    data: bytes,
    *,
    now: float,
    psk: bytes | None = None,
    password: str | None = None,
    assignments_csv: str | None = None,
    known_usernames: Container[str] | None = None,
    existing_serials: Container[str] = frozenset(),
    min_seed_bytes: int = MIN_IMPORT_SEED_BYTES,
) -> PskcImport:
    """Read a PSKC file (bytes) and, optionally, a ``serial,username`` CSV (text).

    ``known_usernames`` (when given) and ``existing_serials`` let the report name CSV
    users that do not exist and serials already enrolled before anything is written;
    the store must still enforce both in its transaction.
    """
    if psk is not None and password is not None:
        raise InvalidOtpParameters("Give a pre-shared key or a password, not both.")
    if not 1 <= min_seed_bytes <= MAX_IMPORT_SEED_BYTES:
        raise InvalidOtpParameters("The minimum seed length must be between 1 and 128 bytes.")

    assignments: dict[str, tuple[str, int]] = {}
    problems: list[ImportProblem] = []
    if assignments_csv is not None:
        assignments, csv_problems = parse_assignments(
            assignments_csv, known_usernames=known_usernames
        )
        problems += csv_problems

    opened = _open_container(data, psk=psk, password=password)
    if isinstance(opened, ImportProblem):
        return PskcImport((), (*problems, opened), 0)
    keys, package_problems, serials = _read_packages(
        opened, existing_serials=existing_serials, now=now, min_seed_bytes=min_seed_bytes
    )
    problems += package_problems
    for serial, (_username, line) in assignments.items():
        if serial not in serials:
            problems.append(
                ImportProblem("this serial is not in the PSKC file", line=line, serial=serial)
            )
    if problems:
        return PskcImport((), tuple(problems), len(opened.devices))
    assigned = [
        replace(key, username=assignments[key.serial][0]) if key.serial in assignments else key
        for key in keys
    ]
    return PskcImport(tuple(assigned), (), len(opened.devices))


def _read_packages(
    container: pskc.PSKC, *, existing_serials: Container[str], now: float, min_seed_bytes: int
) -> tuple[list[ImportedOtpKey], list[ImportProblem], set[str]]:
    """Every package's key or problems, and the serials seen."""
    keys: list[ImportedOtpKey] = []
    problems: list[ImportProblem] = []
    first_package_of: dict[str, int] = {}
    for number, device in enumerate(container.devices, start=1):
        key, reasons = _read_package(number, device, now=now, min_seed_bytes=min_seed_bytes)
        serial = _serial_of(device)
        if serial is not None:
            if serial in first_package_of:
                reasons.append(f"the serial is also in key package {first_package_of[serial]}")
            else:
                first_package_of[serial] = number
            if serial in existing_serials:
                reasons.append("a credential with this serial is already enrolled")
        problems += [ImportProblem(reason, package=number, serial=serial) for reason in reasons]
        if key is not None and not reasons:
            keys.append(key)
    if not container.devices:
        problems.append(ImportProblem("the file holds no key package"))
    return keys, problems, set(first_package_of)


def parse_assignments(
    text: str, *, known_usernames: Container[str] | None = None
) -> tuple[dict[str, tuple[str, int]], list[ImportProblem]]:
    """``serial,username`` lines after that header; serial -> (username, line)."""
    if len(text) > MAX_CSV_BYTES:
        return {}, [ImportProblem("the CSV mapping is too large")]
    rows = csv.reader(io.StringIO(text.removeprefix("\ufeff"), newline=""))
    result: dict[str, tuple[str, int]] = {}
    problems: list[ImportProblem] = []
    header_seen = False
    try:
        for row in rows:
            line = rows.line_num
            cells = [cell.strip() for cell in row]
            if not any(cells):
                continue
            if not header_seen:
                header_seen = True
                if [cell.lower() for cell in cells] != ["serial", "username"]:
                    return {}, [
                        ImportProblem(
                            "the CSV mapping must start with the header line 'serial,username'",
                            line=line,
                        )
                    ]
                continue
            if len(cells) != 2 or not cells[0] or not cells[1]:
                problems.append(ImportProblem("expected 'serial,username'", line=line))
                continue
            serial, username = cells
            if serial in result:
                problems.append(
                    ImportProblem(
                        f"the serial is already assigned on line {result[serial][1]}",
                        line=line,
                        serial=serial,
                    )
                )
                continue
            if known_usernames is not None and username not in known_usernames:
                problems.append(
                    ImportProblem(f"there is no user {username!r}", line=line, serial=serial)
                )
            result[serial] = (username, line)
    except csv.Error as exc:
        problems.append(ImportProblem(f"the CSV mapping is malformed ({exc})", line=rows.line_num))
    if not header_seen:
        problems.append(ImportProblem("the CSV mapping is empty"))
    return result, problems


def _open_container(
    data: bytes, *, psk: bytes | None, password: str | None
) -> pskc.PSKC | ImportProblem:
    if len(data) > MAX_PSKC_BYTES:
        return ImportProblem(f"the file is larger than {MAX_PSKC_BYTES // 2**20} MiB")
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError:
        return ImportProblem("the file is not UTF-8 XML")
    # PSKC needs no DTD; refusing one rules out entity expansion and external entities
    # whatever XML parser python-pskc picks.
    upper = text.upper()
    if "<!DOCTYPE" in upper or "<!ENTITY" in upper:
        return ImportProblem("the file has a DOCTYPE or ENTITY declaration")
    try:
        container = pskc.PSKC(io.BytesIO(data))
    except PSKCError as exc:
        return ImportProblem(f"not a PSKC file: {exc}")
    except (ValueError, TypeError, AttributeError, LookupError, ArithmeticError):
        # python-pskc lets int(), base64 and date parsing errors through; dateutil raises
        # OverflowError and decimal.InvalidOperation on some numbers (found by tests/fuzz).
        return ImportProblem("not a PSKC file: a value cannot be read (number, base64, date)")
    if psk is not None:
        container.encryption.key = psk
    elif password is not None:
        if container.encryption.derivation.algorithm is None:
            return ImportProblem(
                "the file is not protected by a password: leave the password out, "
                "or give the pre-shared key"
            )
        try:
            container.encryption.derive_key(password)
        except PSKCError as exc:
            return ImportProblem(f"cannot derive the key from the password: {exc}")
    return container


def _serial_of(device: Device) -> str | None:
    if device.serial:
        return str(device.serial).strip() or None
    if len(device.keys) == 1 and device.keys[0].id:
        return str(device.keys[0].id).strip() or None
    return None


def _decryption_reason(exc: DecryptionError, what: str) -> str:
    text = str(exc)
    return _DECRYPTION_REASONS.get(text, f"the {what} cannot be decrypted ({text})")


def _utc_timestamp(value: datetime.datetime | None) -> float | None:
    if value is None:
        return None
    if value.tzinfo is None:
        value = value.replace(tzinfo=datetime.UTC)
    return value.timestamp()


def _earliest(*values: float | None) -> float | None:
    present = [value for value in values if value is not None]
    return min(present) if present else None


def _latest(*values: float | None) -> float | None:
    present = [value for value in values if value is not None]
    return max(present) if present else None


def _read_package(
    number: int, device: Device, *, now: float, min_seed_bytes: int
) -> tuple[ImportedOtpKey | None, list[str]]:
    """One KeyPackage: the key, or every reason it cannot be used."""
    if len(device.keys) != 1:
        return None, [f"a key package must hold exactly one key, not {len(device.keys)}"]
    key = device.keys[0]
    reasons: list[str] = []
    serial = _serial_of(device)
    if serial is None:
        reasons.append("the package has neither a SerialNo nor a Key Id")
    kind = _read_kind(key, reasons)
    seed = _read_seed(key, reasons, min_seed_bytes=min_seed_bytes)
    digits, algorithm = _read_format(key, reasons)
    period, counter, drift = _read_moving_factor(key, kind, reasons)
    not_before, not_after = _read_policy(key, device, reasons, now=now)
    if reasons or kind is None or seed is None or serial is None:
        return None, reasons
    try:
        params = OtpParameters(kind, algorithm, digits, period)
    except InvalidOtpParameters as exc:
        return None, [exc.message]
    label = key.friendly_name or (
        f"{device.manufacturer} {serial}" if device.manufacturer else serial
    )
    imported = ImportedOtpKey(
        package=number,
        serial=serial,
        params=params,
        seed=seed,
        counter=counter,
        drift=drift,
        label=label,
        manufacturer=device.manufacturer,
        model=device.model,
        issuer=key.issuer,
        key_id=key.id,
        not_before=not_before,
        not_after=not_after,
    )
    return imported, reasons


def _read_kind(key: Key, reasons: list[str]) -> OtpKind | None:
    kind = _ALGORITHMS.get((key.algorithm or "").strip())
    if kind is None:
        reasons.append(
            f"unsupported algorithm {key.algorithm!r}: only the HOTP and TOTP profiles"
            if key.algorithm
            else "the key names no algorithm"
        )
    return kind


def _read_format(key: Key, reasons: list[str]) -> tuple[int, HashName]:
    """Digits (``ResponseFormat Length``, default 6) and hash (``Suite``, default SHA-1)."""
    digits = key.response_length if key.response_length is not None else 6
    if key.response_encoding not in (None, "DECIMAL"):
        reasons.append(f"unsupported response encoding {key.response_encoding!r}")
    if digits not in (6, 8):
        reasons.append(f"codes of {digits} digits: only 6 or 8 are supported")
    suite = (key.algorithm_suite or "").strip()
    if not suite:
        return digits, "SHA1"
    algorithm = _SUITES.get(suite.lower())
    if algorithm is None:
        reasons.append(f"unsupported algorithm suite {suite!r}")
        return digits, "SHA1"
    return digits, algorithm


def _read_moving_factor(
    key: Key, kind: OtpKind | None, reasons: list[str]
) -> tuple[int | None, int, int]:
    """TOTP: period (default 30) and drift; HOTP: the counter (default 0)."""
    try:
        if kind == "totp":
            period = key.time_interval if key.time_interval is not None else 30
            if period not in (30, 60):
                reasons.append(f"a time step of {period} s: only 30 or 60 are supported")
            return period, 0, key.time_drift or 0
        counter = key.counter or 0
    except DecryptionError as exc:
        reasons.append(_decryption_reason(exc, "counter or time data"))
        return None, 0, 0
    if not 0 <= counter < MAX_STORED_COUNTER:
        reasons.append("the counter is out of range (0 to 2**63 - 2)")
    return None, counter, 0


def _read_policy(
    key: Key, device: Device, reasons: list[str], *, now: float
) -> tuple[float | None, float | None]:
    """The validity period; reasons for policies Tokenstile cannot honour."""
    policy = key.policy
    if policy.unknown_policy_elements:
        # RFC 6030 section 5: a policy not understood means the key must not be used.
        reasons.append("the key policy has rules Tokenstile does not understand")
    if policy.key_usage and "OTP" not in policy.key_usage:
        reasons.append(f"the key is for {', '.join(policy.key_usage)}, not OTP")
    if policy.pin_usage not in (None, "Local"):
        reasons.append(f"PIN mode {policy.pin_usage!r} (PIN inside the code) is not supported")
    if policy.number_of_transactions is not None:
        reasons.append("a limit on the number of uses is not supported")
    not_before = _latest(_utc_timestamp(policy.start_date), _utc_timestamp(device.start_date))
    not_after = _earliest(_utc_timestamp(policy.expiry_date), _utc_timestamp(device.expiry_date))
    if not_after is not None and not_after < now:
        expired = datetime.datetime.fromtimestamp(not_after, datetime.UTC)
        reasons.append(f"the key expired on {expired:%Y-%m-%d}")
    return not_before, not_after


def _read_seed(key: Key, reasons: list[str], *, min_seed_bytes: int) -> bytes | None:
    raw = getattr(key, "_secret", None)  # python-pskc keeps the still-encrypted value here
    if isinstance(raw, EncryptedValue) and raw.mac_value is None:
        algorithm = raw.algorithm or key.device.pskc.encryption.algorithm or ""
        if algorithm.endswith("-cbc"):
            # CBC alone does not notice a wrong key or a changed ciphertext: demand the MAC
            # RFC 6030 section 6.1.1 requires with it.
            reasons.append("the encrypted secret has no ValueMAC")
            return None
    try:
        seed = key.secret
    except DecryptionError as exc:
        reasons.append(_decryption_reason(exc, "secret"))
        return None
    if not seed:
        reasons.append("the key has no secret")
        return None
    if len(seed) < min_seed_bytes:
        reasons.append(f"the secret is {len(seed) * 8} bits; at least {min_seed_bytes * 8} needed")
        return None
    if len(seed) > MAX_IMPORT_SEED_BYTES:
        reasons.append(f"the secret is longer than {MAX_IMPORT_SEED_BYTES * 8} bits")
        return None
    return bytes(seed)
