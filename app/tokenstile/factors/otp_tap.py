"""The fob tap of tap-and-go (issue 17): a TOTP code alone, without the username.

The code is checked only against the TOTP fobs that opened a live shift grant at the
kiosk's group (the candidates the route hands in, ``store.shift_repository``), never
against everyone's. Exactly one match signs that person in (at ``acr`` ``tap``, by the
route); none, or more than one, is refused, and the person types the username.

What this changes about guessing: one random code is now tried against every candidate
at once, so each guess is N times likelier to hit someone than a guess at one named
person. So:

- a failure is never counted against the candidates' own fobs or persons (one wrong code
  would otherwise count against, and soon lock, everyone on shift); it is counted
  against the *group* instead, by the route, which refuses fob taps at the group after
  ``tap_fob_max_failures`` wrong codes in ``tap_fob_window`` seconds (docs/token-service.md
  gives the odds);
- the candidates are bounded (``tap_fob_max_holders``): a group with more TOTP shifts
  open takes no fob taps at all;
- a person or fob that the OTP lockout has delayed or locked is no candidate (their own
  lockout still applies), and HOTP fobs are no candidates (their look-ahead window would
  multiply the odds again);
- the matched step is recorded with the OTP login's conditional update: a code is used
  once, by a tap or a login.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

from tokenstile.factors.otp import OtpCredential, check_code, normalise_code, open_seed
from tokenstile.factors.otp_lockout import FailureCount
from tokenstile.factors.otp_login import OtpAuthenticator, OtpStore
from tokenstile.factors.otp_tx import OtpTx

FobTapStatus = Literal["accepted", "malformed", "no_match", "ambiguous", "replayed"]


@dataclass(frozen=True, slots=True)
class FobCandidate:
    """A live shift grant opened with a fob: its holder and the fob's serial."""

    user_id: int
    serial: str


@dataclass(frozen=True, slots=True)
class FobTapOutcome:
    status: FobTapStatus
    user_id: int | None = None
    credential: OtpCredential | None = None
    checked: int = 0  # how many fobs the code was checked against


def _usable(
    store: OtpStore, authenticator: OtpAuthenticator, credential: OtpCredential | None, now: float
) -> bool:
    if credential is None or credential.user_id is None:
        return False
    if credential.params.kind != "totp" or credential.state != "active":
        return False
    if not credential.valid_at(now):
        return False
    lockout = authenticator.lockout
    own = lockout.assess(FailureCount(credential.failures, credential.last_failure_at), now=now)
    person = lockout.assess(store.user_otp_failures(credential.user_id), now=now)
    return own.allowed and person.allowed


def match_fob_tap(
    store: OtpTx,
    authenticator: OtpAuthenticator,
    candidates: Sequence[FobCandidate],
    code: str,
    *,
    now: float,
) -> FobTapOutcome:
    """Check ``code`` against the candidates' fobs (each one, whatever matched before)."""
    normalised = normalise_code(code)
    if normalised is None:
        return FobTapOutcome("malformed")
    hits: list[tuple[FobCandidate, OtpCredential, int, int]] = []
    replayed = False
    checked = 0
    for candidate in candidates:
        credential = store.credential_by_serial(candidate.serial)
        if credential is None or credential.user_id != candidate.user_id:
            continue
        if not _usable(store, authenticator, credential, now):
            continue
        checked += 1
        seed = open_seed(authenticator.box, credential)
        check = check_code(credential, seed, normalised, at=now, policy=authenticator.policy)
        if check.matched is not None:
            hits.append((candidate, credential, check.matched, check.drift))
        elif check.replayed:
            replayed = True
    if len(hits) > 1:
        return FobTapOutcome("ambiguous", checked=checked)
    if not hits:
        return FobTapOutcome("replayed" if replayed else "no_match", checked=checked)
    [(candidate, credential, counter, drift)] = hits
    if not store.record_otp_use(credential.id, counter=counter, drift=drift, at=now):
        return FobTapOutcome("replayed", candidate.user_id, credential, checked)
    return FobTapOutcome("accepted", candidate.user_id, credential, checked)
