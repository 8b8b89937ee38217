"""Tap-and-go (issue 17): shift grants, and the one rule a tap must pass.

A kiosk client may belong to a kiosk group (``KioskShift``) with a shift length. A full
sign-in (factor and PIN or user verification, or a fob's code with the username) at a
kiosk of a group whose shift is longer than 0 makes or renews the person's shift grant for
that group: the credential used, until now + the shift length. Afterwards the same person
may re-enter at any kiosk of that group with that credential alone: a tap. Built for
security keys (a touch without user verification, ``server.tap_routes``), cards (the PIV
card authentication key, slot 9E, ``factors.piv_tap``) and TOTP fobs (a code without the
username, ``factors.otp_tap``).
The service decides, never the kiosk: ``check_tap`` runs before the tap's session and
again in the transaction that opens it.

A tap session has ``acr`` ``tap`` (weakest but ``tac``, ``model.ACR_LEVELS``), so every
audience with a ``min_acr`` refuses it; and it ends with the grant's shift at the latest.

A grant ends early at sign-out at the end of the shift (the kiosk says so), when an admin
revokes one of the person's sessions or disables the person, when its credential is
revoked or suspended, and when the group's tap-and-go is turned off (the store does each
in the transaction of that change, with an audit row).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from tokenstile.tokens.model import TAP_ACR, AuditEvent, Client, KioskShift, Session, TokenTx

HOUR = 3600.0

TapRefusal = Literal[
    "tap_off",
    "no_grant",
    "other_group",
    "expired",
    "ended",
    "other_credential",
    # the fob tap's own (a code without the username, ``factors.otp_tap``)
    "fob_off",
    "fob_malformed",
    "fob_no_match",
    "fob_ambiguous",
    "fob_replayed",
    "fob_limit",
    "fob_crowded",
]

# What the person at the kiosk reads for each refused tap (the audit row keeps the code).
TAP_REFUSALS: dict[str, str] = {
    "tap_off": "Tap-and-go is off at this kiosk: sign in with your PIN.",
    "no_grant": "No shift is open for you at this kiosk group: sign in with your PIN.",
    "other_group": "Your shift is open at another kiosk group, not this one: sign in with "
    "your PIN.",
    "expired": "Your shift has ended: sign in with your PIN to start a new one.",
    "ended": "Your shift was ended (signed out, or revoked by an administrator): sign in "
    "with your PIN.",
    "other_credential": "This is not the key, card or fob you signed in with at the start "
    "of your shift: sign in with your PIN.",
    "fob_off": "A code alone is not taken here: type your username and code.",
    "fob_malformed": "That is not a code: type the digits your fob shows.",
    "fob_no_match": "This code matches no one on shift at this kiosk group: type your "
    "username and code.",
    "fob_ambiguous": "This code matches more than one person on shift here: type your "
    "username and code.",
    "fob_replayed": "This code was used already: wait for your fob's next code.",
    "fob_limit": "Too many wrong codes were tried at this kiosk group: type your username "
    "and code.",
    "fob_crowded": "Too many people are on shift at this kiosk group for a code alone: type "
    "your username and code.",
}


@dataclass(frozen=True, slots=True)
class TapAccepted:
    """A tap inside a live grant: the session must end with the shift (``not_after``)."""

    shift: KioskShift
    not_after: float


def shift_of(tx: TokenTx, client: Client) -> KioskShift | None:
    """The kiosk group of ``client`` with tap-and-go on, or None."""
    if client.kind != "kiosk":
        return None
    shift = tx.kiosk_shift(client.client_id)
    return shift if shift is not None and shift.tap_and_go else None


def grant_after_sign_in(tx: TokenTx, session: Session, client: Client, username: str) -> None:
    """After a full sign-in (``session`` just added): make or renew the person's shift
    grant when the kiosk's group has tap-and-go, with its audit row. A tap renews nothing."""
    if session.acr == TAP_ACR or session.credential is None:
        return
    shift = shift_of(tx, client)
    if shift is None:
        return
    expires_at = session.created_at + shift.shift_hours * HOUR
    tx.renew_shift_grant(
        user_id=session.user_id,
        group=shift.group,
        credential=session.credential,
        sid=session.sid,
        at=session.created_at,
        expires_at=expires_at,
    )
    tx.audit(
        AuditEvent(
            "shift_grant",
            "success",
            username=username,
            client_id=client.client_id,
            sid=session.sid,
            factor=session.factor,
            detail={"group": shift.group, "expires_at": expires_at},
        ),
        at=session.created_at,
    )


def check_tap(
    tx: TokenTx, client: Client, *, user_id: int, credential: str, now: float
) -> TapAccepted | TapRefusal:
    """Whether a tap by ``user_id`` with ``credential`` at ``client`` is inside a live
    grant for that kiosk's group; the refusal's code otherwise."""
    shift = shift_of(tx, client)
    if shift is None:
        return "tap_off"
    grants = tx.shift_grants_of(user_id)
    grant = next((g for g in grants if g.group == shift.group), None)
    if grant is None:
        # Only the message differs: a person with a live shift elsewhere is told so.
        elsewhere = any(g.live(now) for g in grants)
        return "other_group" if elsewhere else "no_grant"
    if grant.ended_at is not None:
        return "ended"
    if not grant.live(now):
        return "expired"
    if grant.credential != credential:
        return "other_credential"
    return TapAccepted(shift, grant.expires_at)


def audit_refusal(
    tx: TokenTx,
    refusal: TapRefusal,
    *,
    username: str | None,
    client: Client,
    factor: str,
    origin: str | None,
    now: float,
    detail: dict[str, object] | None = None,
) -> None:
    tx.audit(
        AuditEvent(
            "tap_refused",
            "failure",
            username=username,
            client_id=client.client_id,
            factor=factor,
            origin=origin,
            detail={"reason": refusal, **(detail or {})},
        ),
        at=now,
    )
