"""The names of the steps of a card's set-up, as a station reports them to the service.

An enrollment station that sets a factory card up (``tokenstile.devices.piv_setup``:
``manage piv enroll --generate``, the admin console) says what it did in these words;
the token service records them in the ``piv_card_setup`` audit row and refuses any other
word, so a station cannot write free text, let alone a secret, into the audit log.
"""

from __future__ import annotations

PIN_CHANGED = "pin_changed"
PUK_CHANGED = "puk_changed"
PUK_BLOCKED = "puk_blocked"
MANAGEMENT_KEY_PROTECTED = "management_key_protected_by_pin"
# The new management key's algorithm follows the colon.
MANAGEMENT_KEY_REPLACED = "management_key_replaced:{algorithm}"
MANAGEMENT_KEY_ALGORITHMS = ("AES128", "AES192", "AES256")

SETUP_STEPS = frozenset(
    {
        PIN_CHANGED,
        PUK_CHANGED,
        PUK_BLOCKED,
        MANAGEMENT_KEY_PROTECTED,
        *(MANAGEMENT_KEY_REPLACED.format(algorithm=name) for name in MANAGEMENT_KEY_ALGORITHMS),
    }
)
