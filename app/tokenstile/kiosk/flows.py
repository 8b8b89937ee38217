"""The kiosk's sign-in flows: the work that runs on the window's worker thread, and what
a flow and a session end in.

A flow reads a security key, a card or a code into a grant through the
:class:`~tokenstile.kiosk.service.SignInService`, then applies the shared-workstation
rule: nobody signed in -> save the session; the same person -> unlock; someone else ->
revoke and wipe the first session, then save the second (or decline when switching user
is off). With parking on (``kiosk_park_sessions``) the first person is parked instead of
signed out (declined when as many as allowed are parked already; signed out as before
when the service cannot be told to park), and a parked person's sign-in resumes their
session (the broker does that in ``save``). Nothing here touches a widget: PIN
questions go through the task's :meth:`~tokenstile.kiosk.tasks.TaskContext.ask`, "touch
your key" through its ``say``.
"""

from __future__ import annotations

import contextlib
import logging
from dataclasses import dataclass
from enum import Enum

from tokenstile.broker import SessionInfo, TokenGrant
from tokenstile.broker.errors import ParkingFull
from tokenstile.devices.errors import DeviceError
from tokenstile.devices.fido2_client import PinPrompt as KeyPinPrompt
from tokenstile.devices.fido2_errors import KeyWrongPin
from tokenstile.devices.piv_login import PinRequest
from tokenstile.devices.security_keys import SecurityKey
from tokenstile.errors import TokenstileError
from tokenstile.kiosk.devices import CardOpener
from tokenstile.kiosk.messages import Factor
from tokenstile.kiosk.service import KeyPrompts, SignInService, grant_subject
from tokenstile.kiosk.tasks import Task, TaskContext
from tokenstile.kiosk.widgets import PinQuestion

logger = logging.getLogger(__name__)


@dataclass(slots=True, kw_only=True)
class Flow:
    """One sign-in under way, as the GUI thread follows it."""

    factor: Factor
    reader: str | None = None  # the card's
    key: tuple[str, str] | None = None  # the key's identity
    pulled: bool = False  # the card or key was taken away during the flow
    task: Task | None = None

    def cancel(self) -> None:
        if self.task is not None:
            self.task.cancel()

    @property
    def cancelled(self) -> bool:
        return self.task is not None and self.task.cancel_event.is_set()


@dataclass(frozen=True, slots=True)
class SignedIn:
    info: SessionInfo
    switched: bool
    # Switching user: whether the service was told to end the first person's session. It
    # is wiped here either way; when False it lives at the service until it expires.
    first_revoked: bool = True
    # Switching user with parking on: the first person was parked, not signed out.
    parked: bool = False


@dataclass(frozen=True, slots=True)
class Unlocked:
    subject: str


@dataclass(frozen=True, slots=True)
class Declined:
    """Someone else is signed in and switching user is turned off (or, parking on, no
    one more may be parked: ``parking_full`` says why)."""

    parking_full: str | None = None


FlowResult = SignedIn | Unlocked | Declined


class EndReason(Enum):
    """Why a session ended here."""

    SIGNED_OUT = "signed_out"
    CARD_REMOVED = "card_removed"
    SESSION_ENDED = "session_ended"
    SWITCHED = "switched"
    PARKED = "parked"
    SHIFT_ENDED = "shift_ended"  # End shift (tap-and-go): the session and the shift


def session_end(info: SessionInfo, lifetime_seconds: float) -> float:
    """When ``info``'s session ends: the service's word, else sign-in time + lifetime."""
    if info.session_expires_at is not None:
        return info.session_expires_at
    return info.auth_time + lifetime_seconds


def session_over(info: SessionInfo, lifetime_seconds: float, now: float) -> bool:
    """Whether ``info``'s session has reached its absolute end (the service refuses it)."""
    return now >= session_end(info, lifetime_seconds)


# Everything below runs on the worker thread.


def ask_pin(ctx: TaskContext, question: PinQuestion) -> str | None:
    return ctx.ask_text("pin", question)


def key_login(service: SignInService, ctx: TaskContext, key: SecurityKey) -> TokenGrant:
    wrong = False

    def on_pin(prompt: KeyPinPrompt) -> str | None:
        question = PinQuestion(factor=Factor.KEY, retries_left=prompt.retries_left, wrong=wrong)
        return ask_pin(ctx, question)

    try:
        while True:
            try:
                prompts = KeyPrompts(
                    on_touch=lambda: ctx.say("touch"), on_pin=on_pin, cancel=ctx.cancel
                )
                return service.login_fido2(key, prompts)
            except KeyWrongPin as exc:
                # A fresh challenge and the PIN pad again, saying how many tries are left.
                if ctx.cancel.is_set() or exc.retries_left == 0:
                    raise
                wrong = True
    finally:
        key.close()


def card_login(
    service: SignInService,
    ctx: TaskContext,
    open_card: CardOpener | None,
    reader: str,
) -> TokenGrant:
    if open_card is None:
        raise DeviceError("This kiosk has no card reader.")
    card = open_card(reader)

    def ask(request: PinRequest) -> str | None:
        question = PinQuestion(
            factor=Factor.CARD, retries_left=request.retries_left, wrong=request.wrong_pin
        )
        return ask_pin(ctx, question)

    try:
        return service.login_piv(card, ask, cancel=ctx.cancel)
    finally:
        with contextlib.suppress(DeviceError):
            card.close()


def finish_login(
    service: SignInService,
    grant: TokenGrant,
    current: SessionInfo | None,
    *,
    switch: bool,
    park: int | None = None,
) -> FlowResult:
    """Apply the shared-workstation rule to a fresh ``grant``. ``current``: the session held
    here, None when there is none or when it is over (nobody is really signed in then).
    ``park``: parking is on, with at most this many people parked."""
    if current is None:
        return SignedIn(service.save(grant), switched=False)
    subject = grant_subject(grant)
    if subject == current.subject:
        service.discard(grant)  # proof of who it is; the session stays the same
        return Unlocked(subject)
    if not switch:
        service.discard(grant)
        return Declined()
    if park is not None:
        try:
            service.park(park)
        except ParkingFull as exc:
            service.discard(grant)
            return Declined(parking_full=exc.message)
        except TokenstileError as exc:
            logger.warning("switching user: could not park, signing out: %s", exc.code)
        else:
            return SignedIn(service.save(grant), switched=True, parked=True)
    # The first person's session is revoked and wiped before the second one is saved. The
    # broker wipes it even when the service cannot be told (as Sign out does): nothing on
    # this machine can use it any more, and the window says the service was not told.
    try:
        service.sign_out()
    except TokenstileError as exc:
        logger.warning("switching user: the first session could not be revoked: %s", exc.code)
        return SignedIn(service.save(grant), switched=True, first_revoked=False)
    return SignedIn(service.save(grant), switched=True)


def sign_out_if(service: SignInService, sid: str, *, end_shift: bool = False) -> None:
    """Sign out the keychain's session if it is still ``sid`` (not a newer one); with
    ``end_shift``, end the person's shift at the kiosk's group too (tap-and-go)."""
    current = service.session()
    if current is not None and current.sid == sid:
        if end_shift:
            service.end_shift()
        else:
            service.sign_out()
