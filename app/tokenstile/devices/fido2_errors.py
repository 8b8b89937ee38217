"""What can go wrong with a FIDO2 security key, as the kiosk says it.

The tree (under :class:`tokenstile.devices.errors.DeviceError`)::

    SecurityKeyError                   security_key_error
    ├── KeyWrongPin(retries_left)      key_wrong_pin         the key refused the PIN
    ├── KeyPinBlocked                  key_pin_blocked       too many wrong PINs: reset
    ├── KeyPinAuthBlocked              key_pin_auth_blocked  3 in a row: reinsert the key
    ├── KeyPinNotSet                   key_pin_not_set       no PIN yet (enrollment sets one)
    ├── KeyPinRequired                 key_pin_required      nobody typed the PIN
    ├── KeyPinPolicy                   key_pin_policy        a new PIN the key refuses
    ├── KeyUvBlocked                   key_uv_blocked        built-in UV blocked: use the PIN
    ├── KeyUvFailed                    key_uv_failed         the fingerprint was not matched
    ├── KeyTimedOut                    key_timed_out         nobody touched the key in time
    ├── KeyCancelled                   key_cancelled         the kiosk cancelled
    ├── KeyRemoved                     key_removed           unplugged or lifted off the reader
    ├── KeyNoCredential                key_no_credential     no credential for this site
    ├── KeyAlreadyEnrolled             key_already_enrolled  this key is enrolled already
    ├── KeyDenied                      key_denied            the user refused on the key
    ├── KeyUnsupported                 key_unsupported       no resident keys, full, no ES256/EdDSA
    └── KeyCommunicationError          key_io_error          anything else

python-fido2's ``ClientError``/``CtapError``, and the HID and PC/SC exceptions beneath
them, never leave ``tokenstile.devices``: :func:`key_error` translates them where they
are caught. Messages are sentences for a person and never contain a PIN.
"""

from __future__ import annotations

from tokenstile.devices.errors import DeviceError, tries_left


class SecurityKeyError(DeviceError):
    code = "security_key_error"


class KeyWrongPin(SecurityKeyError):
    code = "key_wrong_pin"

    def __init__(self, retries_left: int | None) -> None:
        if retries_left is None:
            message = "Wrong PIN."
        else:
            message = f"Wrong PIN: {tries_left(retries_left)} before the key locks."
        super().__init__(message)
        self.retries_left = retries_left


class KeyPinBlocked(SecurityKeyError):
    code = "key_pin_blocked"

    def __init__(self) -> None:
        super().__init__(
            "The key's PIN is blocked after too many wrong PINs: the key must be reset, "
            "which erases its credentials."
        )


class KeyPinAuthBlocked(SecurityKeyError):
    code = "key_pin_auth_blocked"

    def __init__(self) -> None:
        super().__init__("Three wrong PINs in a row: remove the key, insert it again, retry.")


class KeyPinNotSet(SecurityKeyError):
    code = "key_pin_not_set"

    def __init__(self) -> None:
        super().__init__("This key has no PIN yet: set one before it can be used here.")


class KeyPinRequired(SecurityKeyError):
    code = "key_pin_required"

    def __init__(self) -> None:
        super().__init__("The key needs its PIN.")


class KeyPinPolicy(SecurityKeyError):
    code = "key_pin_policy"


class KeyUvBlocked(SecurityKeyError):
    code = "key_uv_blocked"

    def __init__(self) -> None:
        super().__init__("The key's fingerprint check is blocked: use the key's PIN.")


class KeyUvFailed(SecurityKeyError):
    code = "key_uv_failed"

    def __init__(self) -> None:
        super().__init__("The key did not recognise the fingerprint: try again.")


class KeyTimedOut(SecurityKeyError):
    code = "key_timed_out"

    def __init__(self) -> None:
        super().__init__("The key was not touched in time: try again.")


class KeyCancelled(SecurityKeyError):
    code = "key_cancelled"

    def __init__(self) -> None:
        super().__init__("Cancelled.")


class KeyRemoved(SecurityKeyError):
    code = "key_removed"

    def __init__(self) -> None:
        super().__init__("The key was removed before it answered: insert or tap it again.")


class KeyNoCredential(SecurityKeyError):
    code = "key_no_credential"

    def __init__(self) -> None:
        super().__init__("This key holds no sign-in for this site: ask to have it enrolled.")


class KeyAlreadyEnrolled(SecurityKeyError):
    code = "key_already_enrolled"

    def __init__(self) -> None:
        super().__init__("This key is already enrolled for this person.")


class KeyDenied(SecurityKeyError):
    code = "key_denied"

    def __init__(self) -> None:
        super().__init__("The request was refused on the key.")


class KeyUnsupported(SecurityKeyError):
    code = "key_unsupported"


class KeyCommunicationError(SecurityKeyError):
    code = "key_io_error"
