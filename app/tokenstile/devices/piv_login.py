"""The card's ceremonies: a PIV login, the PIN loop, and the card's identity.

Every station that holds a card calls these (the kiosk, the admin console, the CLI):
:func:`login_with_card` between the two HTTP steps of a login, :func:`verify_card_pin`
(the PIN pad asked again after a wrong PIN, with the tries left), :func:`card_guid` and
:func:`card_proves_key` when a card is enrolled.

DESIGN.md's flow, with the card in a reader::

    read the 9A certificate ─► server: challenge (exactly 32 bytes, or refused here)
    ─► ask the PIN (retries shown after a wrong one) ─► VERIFY ─► GENERAL AUTHENTICATE
    over SHA-256(login message) ─► server: tokens

The card never signs bytes a server chose. The login message is built here
(:func:`tokenstile.protocol.piv_message.login_message`): a fixed, versioned prefix, the
origin of the service this client connected to (``PivLoginServer.origin``: from the
URL the person or the kiosk's configuration names, never from what a server says), and
the 32-byte challenge. A challenge of any other length is refused before the PIN is
asked or the card touched; a relayed challenge signed here names the relay's origin,
which the real service refuses.

The token service is reached through a :class:`PivLoginServer` the caller hands in (the
broker's plain HTTP steps, ``TokenServiceClient.piv_login_steps()``; tests use the ASGI
app), so this module imports no HTTP client and the broker no device.
The PIN comes from a :data:`PinPrompt`: the GUI's PIN pad, or a test's list. A
challenge that expired while the person typed is asked for again before the card signs.

Blocking, like every device call: the GUI runs it on a worker thread. ``cancel`` (a
``threading.Event``) stops it between steps, before the card is asked for anything more.

Pulling the card ends the kiosk session: :func:`end_session_on_removal` is the
:class:`~tokenstile.devices.monitor.CardMonitor` callback that says when.
"""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol, TypeVar

from cryptography.hazmat.primitives.serialization import Encoding

from tokenstile.devices.errors import (
    CardCommandError,
    DeviceError,
    InvalidCardData,
    PinBlocked,
    WrongPin,
)
from tokenstile.devices.monitor import CardEvent, CardEventKind
from tokenstile.devices.piv import PivCard, PivSlot
from tokenstile.protocol.piv_message import (
    CHALLENGE_BYTES,
    ForeignChallenge,
    NotAServiceUrl,
    PivChallenge,
    card_signature_verifies,
    login_message,
    service_origin,
)

__all__ = [
    "ForeignChallengeRefused",
    "PinEntryCancelled",
    "PinPrompt",
    "PinRequest",
    "PivChallenge",
    "PivLoginServer",
    "card_guid",
    "card_proves_key",
    "end_session_on_removal",
    "login_with_card",
    "verify_card_pin",
]

Answer_co = TypeVar("Answer_co", covariant=True)

_EXPIRY_MARGIN = 5.0  # seconds: ask for a new challenge rather than sign one about to lapse


class PinEntryCancelled(DeviceError):
    """The person cancelled at the PIN pad, or the login was cancelled."""

    code = "pin_entry_cancelled"


class ForeignChallengeRefused(DeviceError):
    """The server's challenge is not a Tokenstile login challenge: the card signs nothing."""

    code = "piv_foreign_challenge"


class PivLoginServer(Protocol[Answer_co]):
    """The token service's two PIV login steps (``/login/piv/challenge``, ``/login/piv``).

    ``origin`` is the URL of the service as the caller's own configuration names it
    (``scheme://host[:port]``, any path ignored): the card's signature is bound to it.
    ``complete`` answers what the login gives (the token response, or the broker's
    ``TokenGrant``).
    """

    @property
    def origin(self) -> str: ...

    def begin(self, certificate: bytes) -> PivChallenge: ...

    def complete(self, handle: str, signature: bytes) -> Answer_co: ...


@dataclass(frozen=True, slots=True, kw_only=True)
class PinRequest:
    """What the PIN pad shows: the tries left, and whether the last PIN was wrong."""

    retries_left: int | None
    wrong_pin: bool = False


# Returns the PIN typed, or None when the person cancelled.
PinPrompt = Callable[[PinRequest], str | None]


def login_with_card(
    card: PivCard,
    server: PivLoginServer[Answer_co],
    ask_pin: PinPrompt,
    *,
    cancel: threading.Event | None = None,
    clock: Callable[[], float] = time.monotonic,
) -> Answer_co:
    """Sign in with the card: the server's token response.

    Raises :class:`WrongPin` never (the prompt is asked again, with the retries left),
    :class:`PinBlocked` when the card locks, :class:`PinEntryCancelled`,
    :class:`ForeignChallengeRefused` (a challenge that is not 32 bytes, before the PIN is
    asked), and whatever the card (``CardRemoved``...) or the server raises.
    """
    stop = cancel or threading.Event()
    try:
        origin = service_origin(server.origin)
    except NotAServiceUrl as exc:
        raise ForeignChallengeRefused(str(exc)) from exc
    certificate = card.read_certificate(PivSlot.AUTHENTICATION).public_bytes(Encoding.DER)
    challenge = server.begin(certificate)
    message = _message(origin, challenge)  # before the PIN: a foreign challenge ends here
    asked_at = clock()
    _check(stop)
    # Every login proves the PIN now: a card left in its reader still holds the PIN of
    # the last sign-in, and must not unlock or sign in without it.
    card.logout()
    verify_card_pin(card, ask_pin, cancel=stop)
    _check(stop)
    if clock() - asked_at > challenge.expires_in - _EXPIRY_MARGIN:
        challenge = server.begin(certificate)  # the person took their time
        message = _message(origin, challenge)
    signature = card.sign(message, slot=PivSlot.AUTHENTICATION)
    return server.complete(challenge.handle, signature)


def tap_with_card(card: PivCard, server: PivLoginServer[Answer_co]) -> Answer_co:
    """The card tap of tap-and-go: the card authentication key (slot 9E) signs the
    service's challenge without the PIN (``server`` is the tap's two steps). The service
    decides whether that is enough: only inside the holder's open shift at this kiosk's
    group, at ``acr`` ``tap``. Raises :class:`NoCertificate` for a card without a 9E
    certificate, :class:`ForeignChallengeRefused`, and whatever the card or server raises.
    """
    try:
        origin = service_origin(server.origin)
    except NotAServiceUrl as exc:
        raise ForeignChallengeRefused(str(exc)) from exc
    certificate = card.read_certificate(PivSlot.CARD_AUTHENTICATION).public_bytes(Encoding.DER)
    challenge = server.begin(certificate)
    message = _message(origin, challenge)
    return server.complete(challenge.handle, card.sign(message, slot=PivSlot.CARD_AUTHENTICATION))


def card_proves_card_auth_key(card: PivCard) -> bool:
    """The card's 9E key signs a fresh challenge (no PIN) that verifies with its 9E
    certificate: the station checks it before enrolling that certificate."""
    challenge = os.urandom(CHALLENGE_BYTES)
    signature = card.sign(challenge, slot=PivSlot.CARD_AUTHENTICATION)
    certificate = card.read_certificate(PivSlot.CARD_AUTHENTICATION)
    return card_signature_verifies(certificate, challenge, signature)


def _message(origin: str, challenge: PivChallenge) -> bytes:
    """The login message for ``challenge`` at ``origin``; refused unless 32 bytes."""
    try:
        return login_message(origin, challenge.challenge)
    except ForeignChallenge as exc:
        raise ForeignChallengeRefused(
            f"The token service at {origin} sent a {len(challenge.challenge)}-byte "
            f"challenge, not a {CHALLENGE_BYTES}-byte Tokenstile login challenge: the card "
            "was not asked to sign it. A server may be pretending to be the token service."
        ) from exc


def _check(stop: threading.Event) -> None:
    if stop.is_set():
        raise PinEntryCancelled("The login was cancelled.")


def verify_card_pin(
    card: PivCard, ask_pin: PinPrompt, *, cancel: threading.Event | None = None
) -> None:
    """The PIN loop: ``ask_pin`` until the card takes the PIN, again after a wrong one
    (with the tries left). Nothing is asked when the card already holds it;
    :class:`PinBlocked` when it is locked; :class:`PinEntryCancelled` when the prompt
    answers None or ``cancel`` is set."""
    stop = cancel or threading.Event()
    status = card.pin_status()
    if status.verified:
        return
    if status.blocked:
        raise PinBlocked()
    request = PinRequest(retries_left=status.retries_left)
    while True:
        pin = ask_pin(request)
        _check(stop)
        if pin is None:
            raise PinEntryCancelled("The PIN entry was cancelled.")
        try:
            card.verify_pin(pin)
        except WrongPin as exc:
            request = PinRequest(retries_left=exc.retries_left, wrong_pin=True)
            continue
        return


def card_guid(card: PivCard) -> str | None:
    """The card's GUID from its CHUID (hex), or None when it has no readable one."""
    try:
        return card.read_chuid().card_id
    except (CardCommandError, InvalidCardData):
        return None


def card_proves_key(card: PivCard) -> bool:
    """The card signs a fresh challenge that verifies with its 9A certificate (the PIN
    already verified): it holds the key the certificate names."""
    challenge = os.urandom(CHALLENGE_BYTES)
    signature = card.sign(challenge, slot=PivSlot.AUTHENTICATION)
    certificate = card.read_certificate(PivSlot.AUTHENTICATION)
    return card_signature_verifies(certificate, challenge, signature)


def end_session_on_removal(
    reader: str, end_session: Callable[[], None]
) -> Callable[[CardEvent], None]:
    """A ``CardMonitor`` callback that calls ``end_session`` once, when the card leaves
    ``reader``, the reader goes away, or pcscd stops (the card may be gone unseen).

    It runs on the monitor's thread: ``end_session`` must return quickly (the kiosk emits
    a Qt signal; the GUI thread then revokes the session and locks the screen).
    """
    ended = threading.Event()
    gone = {CardEventKind.CARD_REMOVED, CardEventKind.READER_REMOVED}

    def on_event(event: CardEvent) -> None:
        if ended.is_set():
            return
        if (event.kind in gone and event.reader == reader) or (
            event.kind is CardEventKind.SERVICE_UNAVAILABLE
        ):
            ended.set()
            end_session()

    return on_event
