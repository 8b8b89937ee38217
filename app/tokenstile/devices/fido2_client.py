"""The kiosk's FIDO2 client: python-fido2's ``Fido2Client`` behind callbacks and a cancel event.

::

    client = SecurityKeyClient(
        key,                                   # a SecurityKey from KeyFinder.wait_for_key()
        origin="https://auth.example",
        on_touch=lambda: show("Touch your key"),
        on_pin=lambda prompt: ask_pin(prompt),  # None: the person gave up
        cancel=cancel_event,                   # set by the GUI's Cancel button
    )
    response = client.authenticate(options["publicKey"])   # AuthenticationResponseJSON

Calls block (a key waits for a touch): the GUI runs them on a worker thread, and its
callbacks turn into Qt signals. Options and answers are the WebAuthn Level 3 JSON forms
the server speaks. Every failure is a :mod:`~tokenstile.devices.fido2_errors` error with
a stable code; a wrong PIN reports the retries the key has left.
"""

from __future__ import annotations

import contextlib
import logging
import threading
import uuid
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from fido2.client import (
    ClientError,
    DefaultClientDataCollector,
    Fido2Client,
    PinRequiredError,
    UserInteraction,
)
from fido2.ctap import CtapDevice, CtapError
from fido2.ctap2.base import Ctap2
from fido2.ctap2.pin import ClientPin
from fido2.webauthn import PublicKeyCredentialCreationOptions, PublicKeyCredentialRequestOptions

from tokenstile.devices.fido2_errors import (
    KeyAlreadyEnrolled,
    KeyCancelled,
    KeyCommunicationError,
    KeyDenied,
    KeyNoCredential,
    KeyPinAuthBlocked,
    KeyPinBlocked,
    KeyPinNotSet,
    KeyPinPolicy,
    KeyPinRequired,
    KeyRemoved,
    KeyTimedOut,
    KeyUnsupported,
    KeyUvBlocked,
    KeyUvFailed,
    KeyWrongPin,
    SecurityKeyError,
)
from tokenstile.devices.security_keys import KeyFinder, SecurityKey

logger = logging.getLogger(__name__)

DEFAULT_TIMEOUT = 30.0  # seconds a person has to touch the key
ERR = CtapError.ERR


@dataclass(frozen=True, slots=True)
class PinPrompt:
    """What the PIN dialog shows: the site, and the tries the key has left."""

    rp_id: str | None
    retries_left: int | None


@dataclass(frozen=True, slots=True)
class Account:
    """One of several people a key signs in for this site (usernameless)."""

    name: str | None
    display_name: str | None


@dataclass(frozen=True, slots=True)
class KeyInfo:
    """What the key says about itself (authenticatorGetInfo)."""

    aaguid: str
    versions: tuple[str, ...]
    pin_set: bool
    pin_supported: bool
    builtin_uv: bool
    resident_keys: bool
    transports: tuple[str, ...]
    algorithms: tuple[int, ...]

    @property
    def uv_method(self) -> str:
        """How the key verifies its user: ``pin`` (clientPin, no built-in UV),
        ``builtin`` (a fingerprint reader or on-key PIN entry), or ``unknown``."""
        if self.builtin_uv:
            return "builtin"
        return "pin" if self.pin_supported else "unknown"


class KioskInteraction(UserInteraction):
    """python-fido2's prompts as callbacks (the GUI makes Qt signals of them)."""

    def __init__(
        self,
        *,
        on_touch: Callable[[], None] | None = None,
        on_pin: Callable[[PinPrompt], str | None] | None = None,
        retries: Callable[[], int | None] | None = None,
    ) -> None:
        self._on_touch = on_touch
        self._on_pin = on_pin
        self._retries = retries
        self.touch_prompts = 0
        self.pin_requests = 0

    def prompt_up(self) -> None:
        self.touch_prompts += 1
        if self._on_touch is not None:
            self._on_touch()

    def request_pin(self, permissions: ClientPin.PERMISSION, rp_id: str | None) -> str | None:
        self.pin_requests += 1
        if self._on_pin is None:
            return None
        retries = self._retries() if self._retries is not None else None
        return self._on_pin(PinPrompt(rp_id, retries))

    def request_uv(self, permissions: ClientPin.PERMISSION, rp_id: str | None) -> bool:
        return True  # built-in user verification (a fingerprint) is always welcome


class _LinkedEvent(threading.Event):
    """Set when set itself or when the caller's cancel event is: what python-fido2 polls."""

    def __init__(self, other: threading.Event) -> None:
        super().__init__()
        self._other = other

    def is_set(self) -> bool:
        return super().is_set() or self._other.is_set()


class SecurityKeyClient:
    """One key, one origin: register, authenticate, read its info, set its PIN."""

    def __init__(
        self,
        key: SecurityKey | CtapDevice,
        *,
        origin: str,
        on_touch: Callable[[], None] | None = None,
        on_pin: Callable[[PinPrompt], str | None] | None = None,
        cancel: threading.Event | None = None,
        timeout: float = DEFAULT_TIMEOUT,
    ) -> None:
        self.device: CtapDevice = key.device if isinstance(key, SecurityKey) else key
        self.origin = origin
        self.cancel = cancel or threading.Event()
        self.timeout = timeout
        self.interaction = KioskInteraction(
            on_touch=on_touch, on_pin=on_pin, retries=self._pin_retries_quietly
        )
        try:
            self._ctap2 = Ctap2(self.device)
            self._client = Fido2Client(
                self.device,
                DefaultClientDataCollector(origin),
                user_interaction=self.interaction,
            )
        except (CtapError, ValueError) as exc:
            raise KeyUnsupported("This key does not speak FIDO2 (CTAP2).") from exc
        except Exception as exc:
            raise self._translate(exc) from exc

    @classmethod
    def find(
        cls,
        finder: KeyFinder,
        *,
        origin: str,
        wait: float | None = 30.0,
        cancel: threading.Event | None = None,
        **options: Any,
    ) -> SecurityKeyClient:
        """The first key ``finder`` sees (waiting up to ``wait`` seconds for one)."""
        key = finder.wait_for_key(timeout=wait, cancel=cancel)
        return cls(key, origin=origin, cancel=cancel, **options)

    def close(self) -> None:
        """Let go of the key (the HID handle or the PC/SC connection)."""
        close = getattr(self.device, "close", None)
        if callable(close):
            with contextlib.suppress(Exception):
                close()

    def __enter__(self) -> SecurityKeyClient:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    # -- what the key says about itself ------------------------------------------------------

    def info(self) -> KeyInfo:
        info = self._guard(self._ctap2.get_info)
        options = info.options
        return KeyInfo(
            aaguid=str(uuid.UUID(bytes=bytes(info.aaguid))),
            versions=tuple(info.versions),
            pin_set=bool(options.get("clientPin")),
            pin_supported="clientPin" in options,
            builtin_uv="uv" in options or "bioEnroll" in options,
            resident_keys=bool(options.get("rk")),
            transports=tuple(str(t) for t in info.transports or ()),
            algorithms=tuple(int(a["alg"]) for a in info.algorithms or () if "alg" in a),
        )

    def pin_retries(self) -> int:
        retries, _ = self._guard(lambda: ClientPin(self._ctap2).get_pin_retries())
        return int(retries)

    def _pin_retries_quietly(self) -> int | None:
        with contextlib.suppress(CtapError, OSError, ValueError):
            return int(ClientPin(self._ctap2).get_pin_retries()[0])
        return None

    def set_pin(self, pin: str) -> None:
        """Give a key without a PIN its first one (the key checks its own length rules)."""
        if len(pin) < 4 or len(pin.encode()) > 63:
            raise KeyPinPolicy("A PIN is 4 to 63 characters.")
        self._guard(lambda: ClientPin(self._ctap2).set_pin(pin))

    # -- ceremonies ------------------------------------------------------------------------------

    def register(self, options: Mapping[str, Any]) -> dict[str, Any]:
        """``navigator.credentials.create()``: a RegistrationResponseJSON."""
        public_key = PublicKeyCredentialCreationOptions.from_dict(_without_timeout(options))
        self._require_uv_configured()
        response = self._run(lambda event: self._client.make_credential(public_key, event))
        body: dict[str, Any] = dict(response)
        transports = self._transports()
        if transports:
            body["response"] = {**body["response"], "transports": list(transports)}
        return body

    def authenticate(
        self,
        options: Mapping[str, Any],
        *,
        choose: Callable[[Sequence[Account]], int] | None = None,
    ) -> dict[str, Any]:
        """``navigator.credentials.get()``: an AuthenticationResponseJSON. When the key
        holds several people's credentials for the site, ``choose`` picks one."""
        public_key = PublicKeyCredentialRequestOptions.from_dict(_without_timeout(options))
        self._require_uv_configured()
        selection = self._run(lambda event: self._client.get_assertion(public_key, event))
        assertions = selection.get_assertions()
        index = 0
        if len(assertions) > 1 and choose is not None:
            accounts = [
                Account(
                    (a.user or {}).get("name"),
                    (a.user or {}).get("displayName"),
                )
                for a in assertions
            ]
            index = choose(accounts)
            if not 0 <= index < len(assertions):
                raise KeyCancelled()
        return dict(selection.get_response(index))

    # -- plumbing ---------------------------------------------------------------------------------

    def _transports(self) -> tuple[str, ...]:
        with contextlib.suppress(SecurityKeyError):
            return self.info().transports
        return ()

    def _require_uv_configured(self) -> None:
        info = self.info()
        if not info.pin_set and not info.builtin_uv:
            raise KeyPinNotSet()

    def _run(self, call: Callable[[threading.Event], Any]) -> Any:
        """One ceremony with the time limit and the cancel event in force."""
        if self.cancel.is_set():
            raise KeyCancelled()
        # The time limit sets only this call's event; the caller's cancel event stays
        # clear, which is how a time-out is told from a cancel afterwards.
        event = _LinkedEvent(self.cancel)
        timer = threading.Timer(self.timeout, event.set)
        timer.daemon = True
        timer.start()
        try:
            return call(event)
        except Exception as exc:
            raise self._translate(exc) from exc
        finally:
            timer.cancel()

    def _guard(self, call: Callable[[], Any]) -> Any:
        try:
            return call()
        except Exception as exc:
            raise self._translate(exc) from exc

    def _translate(self, exc: BaseException) -> SecurityKeyError:
        """The one place python-fido2's, HID's and PC/SC's failures become ours."""
        if isinstance(exc, SecurityKeyError):
            return exc
        if isinstance(exc, PinRequiredError):
            return KeyPinRequired()
        cause: object = exc.cause if isinstance(exc, ClientError) else exc
        if isinstance(cause, CtapError):
            return self._ctap_error(cause.code)
        if isinstance(exc, ClientError):
            if exc.code == ClientError.ERR.TIMEOUT:
                return KeyCancelled() if self.cancel.is_set() else KeyTimedOut()
            if exc.code == ClientError.ERR.CONFIGURATION_UNSUPPORTED:
                text = str(cause)
                if "not configured" in text:
                    return KeyPinNotSet()
                return KeyUnsupported(f"This key cannot do what is asked ({text}).")
            if exc.code == ClientError.ERR.DEVICE_INELIGIBLE:
                return KeyNoCredential()
            if exc.code == ClientError.ERR.BAD_REQUEST:
                return KeyCommunicationError(
                    "The sign-in request does not fit this site's origin (rpId)."
                )
        if _is_removal(exc):
            return KeyRemoved()
        logger.info("security key failed: %s", type(exc).__name__)
        return KeyCommunicationError(f"The key did not answer as expected ({type(exc).__name__}).")

    def _ctap_error(self, code: int) -> SecurityKeyError:
        if code == ERR.PIN_INVALID:
            return KeyWrongPin(self._pin_retries_quietly())
        if code == ERR.KEEPALIVE_CANCEL:
            if self.cancel.is_set():
                return KeyCancelled()
            return KeyTimedOut()
        simple: dict[int, Callable[[], SecurityKeyError]] = {
            ERR.PIN_BLOCKED: KeyPinBlocked,
            ERR.PIN_AUTH_BLOCKED: KeyPinAuthBlocked,
            ERR.PIN_NOT_SET: KeyPinNotSet,
            ERR.PUAT_REQUIRED: KeyPinRequired,
            ERR.UV_BLOCKED: KeyUvBlocked,
            ERR.UV_INVALID: KeyUvFailed,
            ERR.USER_ACTION_TIMEOUT: KeyTimedOut,
            ERR.ACTION_TIMEOUT: KeyTimedOut,
            ERR.NO_CREDENTIALS: KeyNoCredential,
            ERR.CREDENTIAL_EXCLUDED: KeyAlreadyEnrolled,
            ERR.OPERATION_DENIED: KeyDenied,
        }
        if code in simple:
            return simple[code]()
        if code == ERR.PIN_POLICY_VIOLATION:
            return KeyPinPolicy("The key refuses that PIN (too short or too simple).")
        if code == ERR.KEY_STORE_FULL:
            return KeyUnsupported("The key has no room left for another sign-in.")
        if code in (ERR.UNSUPPORTED_ALGORITHM, ERR.UNSUPPORTED_OPTION):
            return KeyUnsupported("This key cannot make the kind of credential asked for.")
        name = ERR(code).name if code in ERR._value2member_map_ else hex(code)
        return KeyCommunicationError(f"The key answered an error ({name}).")


def _without_timeout(options: Mapping[str, Any]) -> dict[str, Any]:
    """The client keeps its own time limit (so it can tell a time-out from a cancel)."""
    return {k: v for k, v in options.items() if k != "timeout"}


def _is_removal(exc: BaseException) -> bool:
    if isinstance(exc, OSError | EOFError | ConnectionError):
        return True
    try:
        from smartcard.Exceptions import SmartcardException
    except ImportError:  # pragma: no cover - pyscard is a dependency
        return False
    return isinstance(exc, SmartcardException)
