"""The security key's ceremonies: a usernameless login, and an enrollment (with a first PIN).

Both run between two steps of the token service that the caller hands in, so this
module speaks no HTTP and the broker touches no key:

- :func:`login_with_key`: the server's request options (:class:`KeyLoginServer`
  ``.begin``), the key's assertion (touch, PIN), the server's answer (``.complete``).
  The key signs for exactly the rp id of the origin the caller decided; options naming
  another are :class:`~tokenstile.errors.OriginMismatch` before the key is touched.
- :func:`enroll_security_key`: the key is checked (it must keep resident credentials), a
  key without a PIN is given its first one, then the server's creation options
  (``begin``), the key's new credential (touch), and the server stores it (``complete``).
  The kiosk's admin console, the offline ``tokenstile manage fido2 enroll`` and the
  demo all enroll through it.

Blocking, like every device call: the GUI runs these on a worker thread.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Mapping
from typing import Any, Protocol, TypeVar
from urllib.parse import urlsplit

from fido2.ctap import CtapDevice

from tokenstile.devices.fido2_client import KeyInfo, PinPrompt, SecurityKeyClient
from tokenstile.devices.fido2_errors import KeyUnsupported
from tokenstile.devices.security_keys import SecurityKey
from tokenstile.errors import OriginMismatch

Answer_co = TypeVar("Answer_co", covariant=True)
Answer = TypeVar("Answer")


class KeyLoginServer(Protocol[Answer_co]):
    """The token service's two security-key login steps (``/login/webauthn/options``,
    ``/login/webauthn``). ``origin`` is the service URL as the caller's configuration
    names it (said in the refusal of a foreign rp id)."""

    @property
    def origin(self) -> str: ...

    def begin(self) -> Mapping[str, Any]:
        """The options: ``{"handle": ..., "publicKey": {...}}``."""
        ...

    def complete(self, handle: Any, credential: Mapping[str, Any]) -> Answer_co: ...


def login_with_key(
    key: SecurityKeyClient,
    server: KeyLoginServer[Answer_co],
    *,
    cancel: threading.Event | None = None,
) -> Answer_co:
    """Usernameless: the server's options, the key's assertion (touch, PIN), the answer.

    ``key`` carries the origin the caller decided (``TokenServiceClient.webauthn_origin``);
    ``cancel`` stops the key's wait as its own cancel event does."""
    options = server.begin()
    public_key = bound_to_origin(options["publicKey"], key.origin, server.origin)
    saved = key.cancel
    if cancel is not None:
        key.cancel = _EitherEvent(saved, cancel)
    try:
        credential = key.authenticate(public_key)
    finally:
        key.cancel = saved
    return server.complete(options.get("handle"), credential)


def bound_to_origin(public_key: Mapping[str, Any], origin: str, server: str) -> dict[str, Any]:
    """The request options with ``rpId`` the rp id of ``origin`` (``https://<rp id>``,
    decided on this side); ``OriginMismatch`` when the server asks for another one."""
    rp_id = urlsplit(origin).hostname or ""
    asked = public_key.get("rpId")
    if asked is not None and asked != rp_id:
        raise OriginMismatch(
            f"The token service at {server} asks the security key to sign in for "
            f"{asked!r}, not {rp_id}: a server is pretending to be another, so the "
            "security key was not used."
        )
    return {**public_key, "rpId": rp_id}


class _EitherEvent(threading.Event):
    """Set when either event is: the key's own cancel event, or the caller's."""

    def __init__(self, first: threading.Event, second: threading.Event) -> None:
        super().__init__()
        self._events = (first, second)

    def is_set(self) -> bool:
        return super().is_set() or any(e.is_set() for e in self._events)

    def set(self) -> None:
        super().set()
        for event in self._events:
            event.set()


# -- enrollment ------------------------------------------------------------------------------

# The creation options: ``{"handle": ..., "publicKey": {...}}``.
BeginRegistration = Callable[[], Mapping[str, Any]]
# (handle, RegistrationResponseJSON, the key's user verification method) -> what is stored.
CompleteRegistration = Callable[[Any, dict[str, Any], str], Answer]


def enroll_security_key(
    key: SecurityKey | CtapDevice,
    begin: BeginRegistration,
    complete: CompleteRegistration[Answer],
    *,
    origin: str | Callable[[Mapping[str, Any]], str],
    new_pin: Callable[[], str],
    on_pin: Callable[[PinPrompt], str | None] | None = None,
    on_touch: Callable[[], None] | None = None,
    on_pin_set: Callable[[], None] | None = None,
    cancel: threading.Event | None = None,
) -> Answer:
    """Enroll ``key``: what ``complete`` answers. The caller closes the key.

    ``origin`` is the WebAuthn origin the key makes the credential for; when it can only
    be decided from the server's creation options (the admin console pins it to their
    rp id), it is a function of them and ``begin`` comes first; otherwise the key is
    checked (and given its PIN) before the server is asked anything.
    ``new_pin`` is asked (and raises to give up) when the key has no PIN and no built-in
    verification; the PIN set is then the answer to the key's next PIN request.
    Raises :class:`KeyUnsupported` for a key that cannot keep resident credentials.
    """
    just_set: list[str] = []

    def pin_request(prompt: PinPrompt) -> str | None:
        if just_set:  # the PIN just set: the person need not type it again
            return just_set.pop()
        return on_pin(prompt) if on_pin is not None else None

    def ready(at: str) -> tuple[SecurityKeyClient, KeyInfo]:
        client = SecurityKeyClient(
            key, origin=at, on_touch=on_touch, on_pin=pin_request, cancel=cancel
        )
        info = client.info()
        if not info.resident_keys:
            raise KeyUnsupported("This key cannot keep sign-ins (no resident keys).")
        if not info.pin_set and not info.builtin_uv:
            chosen = new_pin()
            client.set_pin(chosen)
            just_set.append(chosen)
            if on_pin_set is not None:
                on_pin_set()
        return client, info

    if isinstance(origin, str):
        client, info = ready(origin)
        options = begin()
    else:
        options = begin()
        client, info = ready(origin(options["publicKey"]))
    response = client.register(options["publicKey"])
    return complete(options["handle"], response, info.uv_method)
