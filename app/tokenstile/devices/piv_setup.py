"""Setting a card up the way a careful administrator does, over :class:`PivCard`.

A card from the factory has three well-known secrets: the PIN ``123456``, the PUK
``12345678`` and the management key ``0102…08`` (3DES, or AES-192 on newer YubiKeys).
:func:`set_up_card` replaces them as yubikey-manager's ``ykman piv access
change-management-key --generate --protect`` and ``change-pin``/``change-puk`` do:

- a new PIN (chosen by the holder);
- the PUK changed to a new value, or blocked (tried with random values until the card
  locks it), by the deployment's policy;
- a random AES management key, set with YubiKey's SET MANAGEMENT KEY (``INS FF``) and
  stored on the card PIN-protected: the PIVMAN protected object ``5FC109`` holds
  ``88 { 89 key }`` (readable only after the PIN), and the PIVMAN data object ``5FFF00``
  holds ``80 { 81 flags }`` with flag ``02`` (key stored protected) and ``01`` (PUK
  blocked). Whoever knows the PIN can then administer the card; nobody else can.

What was done comes back as a list of step names for the audit row
(:mod:`tokenstile.protocol.piv_setup`); no secret is in it. :func:`new_pin_refusal` and
:func:`new_puk_refusal` say, before the card changes, why a chosen PIN or PUK will not do.
"""

from __future__ import annotations

import os
import secrets
from dataclasses import dataclass
from typing import Literal

from tokenstile.devices import tlv
from tokenstile.devices.errors import (
    CardSetupInterrupted,
    DeviceError,
    InvalidCardData,
    ManagementKeyRejected,
    ObjectNotFound,
    PukBlocked,
    WrongPuk,
)
from tokenstile.devices.piv import ManagementKeyAlgorithm, PivCard
from tokenstile.protocol.piv_setup import (
    MANAGEMENT_KEY_PROTECTED,
    MANAGEMENT_KEY_REPLACED,
    PIN_CHANGED,
    PUK_BLOCKED,
    PUK_CHANGED,
)

FACTORY_MANAGEMENT_KEY = bytes.fromhex("010203040506070801020304050607080102030405060708")
FACTORY_PIN = "123456"
FACTORY_PUK = "12345678"

PIVMAN_DATA = 0x5FFF00
PIVMAN_PROTECTED_DATA = 0x5FC109  # the Printed Information container, PIN-protected
_FLAG_PUK_BLOCKED, _FLAG_KEY_PROTECTED = 0x01, 0x02
_KEY_LENGTHS = {
    ManagementKeyAlgorithm.AES128: 16,
    ManagementKeyAlgorithm.AES192: 24,
    ManagementKeyAlgorithm.AES256: 32,
}


@dataclass(frozen=True, kw_only=True)
class CardSetup:
    """What the administrator chose; checked before anything on the card changes."""

    new_pin: str | None
    puk: Literal["block", "set"]
    new_puk: str | None = None
    management_key_algorithm: ManagementKeyAlgorithm = ManagementKeyAlgorithm.AES192


def new_pin_refusal(pin: str) -> str | None:
    """Why ``pin`` cannot be a card's new PIN (one sentence), or None."""
    if pin == FACTORY_PIN or not pin.isdigit() or not 6 <= len(pin) <= 8:
        return "The new PIN must be 6 to 8 digits and not the factory PIN."
    return None


def new_puk_refusal(puk: str) -> str | None:
    """Why ``puk`` cannot be a card's new PUK (one sentence), or None."""
    if puk == FACTORY_PUK or not 6 <= len(puk.encode()) <= 8:
        return "The new PUK must be 6 to 8 characters, not the factory PUK."
    return None


def pivman_flags(card: PivCard) -> int:
    """The PIVMAN data flags (``0`` for a card that has none)."""
    try:
        content = card.read_object(PIVMAN_DATA)
    except ObjectNotFound:
        return 0
    flags = tlv.find(tlv.unwrap(content, 0x80), 0x81)
    return flags[0] if flags else 0


def management_key_is_protected(card: PivCard) -> bool:
    return bool(pivman_flags(card) & _FLAG_KEY_PROTECTED)


def protected_management_key(card: PivCard) -> bytes:
    """The management key stored under the PIN (verify the PIN first)."""
    key = tlv.find(tlv.unwrap(card.read_object(PIVMAN_PROTECTED_DATA), 0x88), 0x89)
    if not key:
        raise InvalidCardData("The card's protected data holds no management key.")
    return key


def authenticate_with_protected_key(card: PivCard) -> ManagementKeyAlgorithm:
    """Authenticate with the key stored under the PIN (verify the PIN first); its
    algorithm. The length names it, but for 24 bytes (AES-192 or 3DES): the card's
    answer to each, since a wrong algorithm or key costs no try."""
    key = protected_management_key(card)
    candidates = {
        16: (ManagementKeyAlgorithm.AES128,),
        24: (ManagementKeyAlgorithm.AES192, ManagementKeyAlgorithm.TDES),
        32: (ManagementKeyAlgorithm.AES256,),
    }.get(len(key), ())
    for algorithm in candidates:
        try:
            card.authenticate(key, algorithm)
        except ManagementKeyRejected:
            continue
        return algorithm
    raise ManagementKeyRejected("The card does not take the management key it stores.", 0x6982)


def on_factory_management_key(card: PivCard) -> bool:
    """Whether the card still takes the factory management key (3DES, or AES-192 as newer
    YubiKeys ship). A wrong management key costs no try; on True the session is
    authenticated with it."""
    for algorithm in (ManagementKeyAlgorithm.TDES, ManagementKeyAlgorithm.AES192):
        try:
            card.authenticate(FACTORY_MANAGEMENT_KEY, algorithm)
        except ManagementKeyRejected:
            continue
        return True
    return False


def set_up_card(card: PivCard, setup: CardSetup, *, pin: str) -> list[str]:
    """PIN, PUK and management key as the module docstring says; the steps done.

    The card must be authenticated with its current management key and ``pin`` verified.
    The new management key is stored under the PIN before the card takes it, so that no
    failure leaves a card on a key nobody knows; a failure part way raises
    :class:`CardSetupInterrupted` with the steps done so far, for the audit row.
    """
    steps: list[str] = []
    try:
        if setup.new_pin is not None:
            card.change_pin(pin, setup.new_pin)
            steps.append(PIN_CHANGED)
        flags = _FLAG_KEY_PROTECTED
        if setup.puk == "set":
            if setup.new_puk is None:
                raise ValueError("the set PUK policy needs a new PUK")
            card.change_puk(FACTORY_PUK, setup.new_puk)
            steps.append(PUK_CHANGED)
        else:
            _block_puk(card)
            flags |= _FLAG_PUK_BLOCKED
            steps.append(PUK_BLOCKED)
        key = os.urandom(_KEY_LENGTHS[setup.management_key_algorithm])
        # Stored first: until the flags below say so, the card does not claim the stored
        # key is its own, and a card that then refuses the new key keeps its old one.
        card.put_object(
            PIVMAN_PROTECTED_DATA, tlv.tlv(0x88, tlv.tlv(0x89, key)), what="the protected key"
        )
        card.set_management_key(key, setup.management_key_algorithm)
        steps.append(MANAGEMENT_KEY_REPLACED.format(algorithm=setup.management_key_algorithm.name))
        card.put_object(
            PIVMAN_DATA, tlv.tlv(0x80, tlv.tlv(0x81, bytes([flags]))), what="PIVMAN data"
        )
        steps.append(MANAGEMENT_KEY_PROTECTED)
    except DeviceError as exc:
        done = ", ".join(steps) if steps else "nothing"
        raise CardSetupInterrupted(
            f"The card's set-up stopped part way ({done} done): {exc}", list(steps)
        ) from exc
    return steps


def _block_puk(card: PivCard) -> None:
    """Spend every PUK try on random values until the card reports it blocked."""
    for _ in range(16):
        guess = f"{secrets.randbelow(10**8):08d}"
        try:
            card.change_puk(guess, guess)
        except WrongPuk:
            continue
        except PukBlocked:
            return
    raise InvalidCardData("The card did not block its PUK.")
