"""Software devices for the demo and the tests: a CTAP2 authenticator and a PIV card served
to pcscd through vpcd.

The FIDO2 authenticator speaks real CTAP 2.1: :class:`Ctap2Authenticator` is the command
processor, :class:`VirtualAuthenticator` presents it in-process as a
``fido2.ctap.CtapDevice``, and :class:`CtapNfcApplet` answers the APDUs of an NFC reader.
The PIV card (NIST SP 800-73-4, what a login needs) is :mod:`tokenstile.virtual.piv_card`,
made with :func:`tokenstile.virtual.piv_provision.create_piv_card`; :mod:`tokenstile.virtual.vpcd`
serves it (or the NFC applet) to real pcscd through the vpcd reader driver.
"""

from tokenstile.virtual.attestation import AttestationMode
from tokenstile.virtual.ctap2_authenticator import Ctap2Authenticator
from tokenstile.virtual.ctap_device import VirtualAuthenticator
from tokenstile.virtual.key_file import KeyFile, VirtualKeyFileError
from tokenstile.virtual.key_state import CounterMode, KeyStateStore, MemoryKeyStore
from tokenstile.virtual.nfc_applet import FIDO_AID, CtapNfcApplet
from tokenstile.virtual.user_presence import (
    PresenceOutcome,
    PresenceRequest,
    TouchSensor,
    UserPresence,
    always_approve,
    always_deny,
)

__all__ = [
    "FIDO_AID",
    "AttestationMode",
    "CounterMode",
    "Ctap2Authenticator",
    "CtapNfcApplet",
    "KeyFile",
    "KeyStateStore",
    "MemoryKeyStore",
    "PresenceOutcome",
    "PresenceRequest",
    "TouchSensor",
    "UserPresence",
    "VirtualAuthenticator",
    "VirtualKeyFileError",
    "always_approve",
    "always_deny",
]
