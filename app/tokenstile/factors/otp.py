"""One-time passwords: HOTP (RFC 4226) and TOTP (RFC 6238) credentials and their codes.

Codes are computed here from the raw seed with ``hmac``, not with pyotp: hardware fobs
often carry 80-bit seeds, which pyotp refuses. Every candidate in a window is computed
and compared with ``hmac.compare_digest``; the loop never stops at the first match, so
the time taken does not tell which step matched.

A match is only a proposal: the caller records it with the store's conditional update
(``OtpStore.record_otp_use`` in ``otp_login``), which accepts a step or counter only if
it is greater than the last one used. That is what makes a code single-use across
server processes.

The errors of this factor::

    TokenstileError
    └── OtpError                  otp_error
        ├── InvalidOtpParameters  otp_bad_parameters
        ├── InvalidOtpSecret      otp_bad_secret
        └── OtpResyncFailed       otp_resync_failed
"""

from __future__ import annotations

import hmac
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Literal, Protocol

from tokenstile.errors import TokenstileError

OtpKind = Literal["totp", "hotp"]
HashName = Literal["SHA1", "SHA256", "SHA512"]
CredentialState = Literal["pending", "active", "locked", "revoked"]

OTP_KINDS: tuple[OtpKind, ...] = ("totp", "hotp")
HASH_NAMES: tuple[HashName, ...] = ("SHA1", "SHA256", "SHA512")
CREDENTIAL_STATES: tuple[CredentialState, ...] = ("pending", "active", "locked", "revoked")
DIGITS: tuple[int, ...] = (6, 8)
PERIODS: tuple[int, ...] = (30, 60)

# ``last_used`` of a credential that has never accepted a code: every step and every
# counter (both start at 0) is greater.
NEVER_USED = -1
# RFC 4226 section 5.1: the counter is an 8-byte value.
MAX_COUNTER = 2**64 - 1
# What a store can record: SQL integers are signed 64-bit. Candidates stop here.
MAX_STORED_COUNTER = 2**63 - 1
# Longest input looked at before deciding a code is malformed (the rest is not read).
MAX_CODE_INPUT = 64

_DIGEST = {"SHA1": "sha1", "SHA256": "sha256", "SHA512": "sha512"}
_CODE_RE = re.compile(r"[0-9]{6,8}")
_SEPARATORS = str.maketrans("", "", " -")


class OtpError(TokenstileError):
    code = "otp_error"


class InvalidOtpParameters(OtpError):
    """Algorithm, digits, period, issuer or account that Tokenstile does not accept."""

    code = "otp_bad_parameters"


class InvalidOtpSecret(OtpError):
    """A seed given by an admin (base32, hex) that cannot be used. Never holds the seed."""

    code = "otp_bad_secret"


class OtpResyncFailed(OtpError):
    """The two codes given to resynchronise a credential were not found in the window."""

    code = "otp_resync_failed"


@dataclass(frozen=True, slots=True)
class OtpParameters:
    """How a credential turns its seed into codes. ``period`` is for TOTP only."""

    kind: OtpKind = "totp"
    algorithm: HashName = "SHA1"
    digits: int = 6
    period: int | None = 30

    def __post_init__(self) -> None:
        if self.kind not in OTP_KINDS:
            raise InvalidOtpParameters(f"Unknown OTP kind {self.kind!r}; use totp or hotp.")
        if self.algorithm not in HASH_NAMES:
            raise InvalidOtpParameters(
                f"Unsupported OTP algorithm {self.algorithm!r}; use SHA1, SHA256 or SHA512."
            )
        if self.digits not in DIGITS:
            raise InvalidOtpParameters(f"Codes must have 6 or 8 digits, not {self.digits!r}.")
        if self.kind == "totp" and self.period not in PERIODS:
            raise InvalidOtpParameters(
                f"The TOTP period must be 30 or 60 seconds, not {self.period!r}."
            )
        if self.kind == "hotp" and self.period is not None:
            raise InvalidOtpParameters("An HOTP credential counts events and has no period.")

    @property
    def time_step(self) -> int:
        """The TOTP period; an HOTP credential has none."""
        if self.period is None:
            raise InvalidOtpParameters("An HOTP credential counts events and has no period.")
        return self.period

    @classmethod
    def totp(
        cls, *, algorithm: HashName = "SHA1", digits: int = 6, period: int = 30
    ) -> OtpParameters:
        return cls("totp", algorithm, digits, period)

    @classmethod
    def hotp(cls, *, algorithm: HashName = "SHA1", digits: int = 6) -> OtpParameters:
        return cls("hotp", algorithm, digits, None)


def hotp_code(seed: bytes, counter: int, *, digits: int = 6, algorithm: HashName = "SHA1") -> str:
    """RFC 4226 section 5.3: HMAC, dynamic truncation, the low ``digits`` decimal digits.

    RFC 6238 TOTP is this with the time step as the counter (and SHA-256/512 allowed).
    """
    if not 0 <= counter <= MAX_COUNTER:
        raise InvalidOtpParameters("An OTP counter is an unsigned 64-bit number.")
    mac = hmac.digest(seed, counter.to_bytes(8, "big"), _DIGEST[algorithm])
    offset = mac[-1] & 0x0F
    binary = int.from_bytes(mac[offset : offset + 4], "big") & 0x7FFF_FFFF
    return str(binary % 10**digits).zfill(digits)


def totp_step(at: float, period: int) -> int:
    """RFC 6238 section 4.2: ``T = floor((unix time - T0) / X)`` with ``T0 = 0``."""
    return int(at // period)


def totp_code(
    seed: bytes, at: float, *, digits: int = 6, period: int = 30, algorithm: HashName = "SHA1"
) -> str:
    return hotp_code(seed, totp_step(at, period), digits=digits, algorithm=algorithm)


def code_for(seed: bytes, params: OtpParameters, counter: int) -> str:
    """The code for one moving factor: a time step (TOTP) or an event counter (HOTP)."""
    return hotp_code(seed, counter, digits=params.digits, algorithm=params.algorithm)


def normalise_code(text: str) -> str | None:
    """The code as 6 to 8 ASCII digits, or None when it cannot be a code at all.

    Spaces and hyphens people type to group digits ("123 456") are dropped. Letters,
    other scripts' digits, wrong lengths, empty and huge inputs are all None.
    """
    if len(text) > MAX_CODE_INPUT:
        return None
    compact = text.strip().translate(_SEPARATORS)
    return compact if _CODE_RE.fullmatch(compact) else None


@dataclass(frozen=True, slots=True, kw_only=True)
class OtpCredential:
    """An OTP credential as stored; the seed stays sealed under the KEK.

    ``last_used`` is the last accepted moving factor: the time step for TOTP, the event
    counter for HOTP (``NEVER_USED`` before the first code). ``drift`` is, for TOTP,
    the fob's clock offset in steps as last observed (``accepted step - server step``);
    verification searches around it. HOTP credentials keep ``drift`` at 0.
    """

    id: int
    serial: str
    label: str
    params: OtpParameters
    state: CredentialState
    sealed_seed: bytes = field(repr=False)
    user_id: int | None = None
    last_used: int = NEVER_USED
    drift: int = 0
    failures: int = 0
    last_failure_at: float | None = None
    not_before: float | None = None
    not_after: float | None = None
    manufacturer: str | None = None
    model: str | None = None

    def valid_at(self, at: float) -> bool:
        """Inside the validity period the vendor set (PSKC ``StartDate``/``ExpiryDate``)."""
        if self.not_before is not None and at < self.not_before:
            return False
        return self.not_after is None or at <= self.not_after


@dataclass(frozen=True, slots=True)
class VerificationPolicy:
    """Windows for code checks, in steps (TOTP) or counters (HOTP).

    ``totp_window``: steps either side of the expected one (RFC 6238 section 5.2
    recommends at most one). ``hotp_look_ahead``: counters past the expected one a fob
    may have advanced without logging in (button presses). ``resync_window``: how far
    an admin resync searches, either way for TOTP and forward for HOTP.
    ``work_floor``: HMACs computed per login attempt at least, real or dummy, so that
    an unknown user, a delayed one and a wrong code cost about the same.
    """

    totp_window: int = 1
    hotp_look_ahead: int = 10
    resync_window: int = 100
    work_floor: int = 16

    def __post_init__(self) -> None:
        if not 0 <= self.totp_window <= 10:
            raise InvalidOtpParameters("The TOTP window must be between 0 and 10 steps.")
        if not 0 <= self.hotp_look_ahead <= 100:
            raise InvalidOtpParameters("The HOTP look-ahead must be between 0 and 100.")
        if not 1 <= self.resync_window <= 10_000:
            raise InvalidOtpParameters("The resync window must be between 1 and 10000.")
        if not 0 <= self.work_floor <= 1_000:
            raise InvalidOtpParameters("The work floor must be between 0 and 1000 HMACs.")


@dataclass(frozen=True, slots=True)
class CodeCheck:
    """What one code check found.

    ``matched``: the step or counter to record (greater than ``last_used``), or None.
    ``drift``: the drift to record with it. ``replayed``: the code is the one for a
    step or counter already used (and for no fresh one). ``work``: HMACs computed.
    """

    matched: int | None
    drift: int
    replayed: bool
    work: int


def _candidates(
    credential: OtpCredential, at: float, policy: VerificationPolicy
) -> Iterator[tuple[int, int]]:
    """``(counter, drift)`` pairs to try, nearest to the expected one first."""
    params = credential.params
    if params.kind == "totp":
        now_step = totp_step(at, params.time_step)
        centre = now_step + credential.drift
        offsets = [0]
        for distance in range(1, policy.totp_window + 1):
            offsets += [-distance, distance]
        for offset in offsets:
            step = centre + offset
            if 0 <= step <= MAX_STORED_COUNTER:
                yield step, step - now_step
    else:
        # The last used counter is tried too, only to tell a replay from a wrong code.
        first = max(credential.last_used, 0)
        for counter in range(first, credential.last_used + policy.hotp_look_ahead + 2):
            if counter <= MAX_STORED_COUNTER:
                yield counter, 0


def check_code(
    credential: OtpCredential, seed: bytes, code: str, *, at: float, policy: VerificationPolicy
) -> CodeCheck:
    """Check a normalised code against every candidate of the window, in constant time.

    The matched step must then be recorded with the store's conditional update: this
    function only looks at ``credential.last_used`` as it was read.
    """
    wanted = code.encode("ascii")
    matched: int | None = None
    matched_drift = credential.drift
    replayed = False
    work = 0
    for counter, drift in _candidates(credential, at, policy):
        work += 1
        equal = hmac.compare_digest(code_for(seed, credential.params, counter).encode(), wanted)
        if equal and counter <= credential.last_used:
            replayed = True
        elif equal and matched is None:
            matched, matched_drift = counter, drift
    if matched is not None:
        replayed = False
    return CodeCheck(matched, matched_drift, replayed, work)


@dataclass(frozen=True, slots=True)
class ResyncResult:
    """Record ``counter`` as last used and ``drift`` as the credential's drift."""

    counter: int
    drift: int


def find_resync(
    credential: OtpCredential,
    seed: bytes,
    first_code: str,
    second_code: str,
    *,
    at: float,
    policy: VerificationPolicy,
) -> ResyncResult:
    """Find two consecutive codes: TOTP around the server's clock (ignoring the recorded
    drift, which is what is wrong), HOTP forward from the last used counter.

    Both codes must be for steps or counters not used yet. Raises ``OtpResyncFailed``.
    """
    first = normalise_code(first_code)
    second = normalise_code(second_code)
    if first is None or second is None:
        raise OtpResyncFailed("Both codes must be 6 or 8 digits.")
    params = credential.params
    if len(first) != params.digits or len(second) != params.digits:
        raise OtpResyncFailed(f"This credential shows {params.digits}-digit codes.")
    if params.kind == "totp":
        now_step = totp_step(at, params.time_step)
        offsets = [0]
        for distance in range(1, policy.resync_window + 1):
            offsets += [-distance, distance]
        starts = [now_step + offset for offset in offsets]
    else:
        now_step = 0
        start = credential.last_used + 1
        starts = list(range(start, start + policy.resync_window + 1))
    for start in starts:
        if start <= credential.last_used or not 0 <= start < MAX_STORED_COUNTER:
            continue
        first_ok = hmac.compare_digest(code_for(seed, params, start), first)
        if first_ok and hmac.compare_digest(code_for(seed, params, start + 1), second):
            drift = start + 1 - now_step if params.kind == "totp" else 0
            return ResyncResult(start + 1, drift)
    raise OtpResyncFailed(
        "The two codes are not consecutive codes of this credential within "
        f"{policy.resync_window} {'steps' if params.kind == 'totp' else 'counters'}: "
        "check the serial and type two codes in a row."
    )


class SecretBox(Protocol):
    """Authenticated encryption of secrets at rest (``tokens.keys.KeyEncryptionKey``)."""

    def encrypt(self, plaintext: bytes, *, context: bytes) -> bytes: ...

    def decrypt(self, blob: bytes, *, context: bytes) -> bytes: ...


def seed_context(serial: str) -> bytes:
    """Binds a sealed seed to its credential, so a blob moved to another row fails."""
    return b"tokenstile/otp-seed/" + serial.encode("utf-8")


def seal_seed(box: SecretBox, serial: str, seed: bytes) -> bytes:
    return box.encrypt(seed, context=seed_context(serial))


def open_seed(box: SecretBox, credential: OtpCredential) -> bytes:
    return box.decrypt(credential.sealed_seed, context=seed_context(credential.serial))
