"""The CTAP 2.1 command processor of the software key: a request in, a response out.

A request is the command byte followed by its CBOR parameters; the response is a status
byte followed, on success, by canonical CBOR (CTAP 2.1 section 8). Transports wrap this
processor: :mod:`tokenstile.virtual.ctap_device` in-process, and
:mod:`tokenstile.virtual.nfc_applet` over ISO 7816 APDUs.

Command groups with state or parsing of their own live beside this module:
:mod:`~tokenstile.virtual.client_pin`, :mod:`~tokenstile.virtual.credential_management`
and :mod:`~tokenstile.virtual.make_credential`.
"""

from __future__ import annotations

import hashlib
import logging
import struct
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from enum import IntEnum, IntFlag
from typing import Any, TypedDict

from fido2 import cbor
from fido2.ctap import STATUS, CtapError

from tokenstile.clock import Clock, SystemClock
from tokenstile.virtual import credential_keys
from tokenstile.virtual.attestation import AttestationMode, attestation_statement
from tokenstile.virtual.client_pin import Permission, PinGuard, PinUvAuthToken
from tokenstile.virtual.credential_management import CredentialManagementCommand
from tokenstile.virtual.ctap_params import ERR, CtapParams, options_map
from tokenstile.virtual.key_state import (
    CounterMode,
    KeyState,
    KeyStateStore,
    MemoryKeyStore,
    StoredCredential,
)
from tokenstile.virtual.make_credential import (
    NewCredentialRequest,
    resident_count,
    store_new_credential,
)
from tokenstile.virtual.user_presence import (
    PresenceOutcome,
    PresenceRequest,
    UserPresence,
    always_approve,
)

logger = logging.getLogger(__name__)

KeepaliveCallback = Callable[[STATUS], None]

MAX_MSG_SIZE = 1200
MAX_CREDENTIALS_IN_LIST = 8
MAX_CREDENTIAL_ID_LENGTH = 128
# Section 6.3: the platform must fetch the next assertion within 30 s of the last one.
NEXT_ASSERTION_TIMEOUT = 30.0
# Section 6.6: authenticatorReset is only honoured shortly after power-up.
RESET_WINDOW = 10.0
MAX_SIGN_COUNT = 0xFFFFFFFF


class Command(IntEnum):
    MAKE_CREDENTIAL = 0x01
    GET_ASSERTION = 0x02
    GET_INFO = 0x04
    CLIENT_PIN = 0x06
    RESET = 0x07
    GET_NEXT_ASSERTION = 0x08
    CREDENTIAL_MANAGEMENT = 0x0A
    SELECTION = 0x0B


class AuthDataFlag(IntFlag):
    UP = 0x01
    UV = 0x04
    AT = 0x40


@dataclass(frozen=True)
class _Call:
    cancel: threading.Event
    on_keepalive: KeepaliveCallback | None


@dataclass(kw_only=True)
class _AssertionBatch:
    """What authenticatorGetNextAssertion continues (section 6.3)."""

    rp_id: str
    client_data_hash: bytes
    flags: AuthDataFlag
    remaining: list[bytes]
    total: int
    last_at: float


class _BuildOptions(TypedDict):
    """What a clone is built with besides its store and its presence."""

    attestation: AttestationMode
    transports: Sequence[str]
    clock: Clock
    max_resident_credentials: int
    reset_window: float | None


class Ctap2Authenticator:
    """A software FIDO2 authenticator.

    ``store`` keeps the persistent state (a :class:`~tokenstile.virtual.key_file.KeyFile`
    or, by default, memory); a store holding no key yet gets a new one with ``aaguid``
    (random when not given) and ``counter_mode``. ``presence`` answers every request for
    user presence and may be replaced at any time.
    """

    def __init__(
        self,
        store: KeyStateStore | None = None,
        *,
        presence: UserPresence = always_approve,
        attestation: AttestationMode = AttestationMode.PACKED,
        aaguid: bytes | None = None,
        counter_mode: CounterMode = CounterMode.PER_CREDENTIAL,
        transports: Sequence[str] = ("nfc", "usb"),
        clock: Clock | None = None,
        max_resident_credentials: int = 100,
        reset_window: float | None = RESET_WINDOW,
    ) -> None:
        self.presence = presence
        self._store: KeyStateStore = store if store is not None else MemoryKeyStore()
        self._attestation = attestation
        self._transports = list(transports)
        self._clock: Clock = clock if clock is not None else SystemClock()
        self._max_resident = max_resident_credentials
        self._reset_window = reset_window
        self._build_options = _BuildOptions(
            attestation=attestation,
            transports=self._transports,
            clock=self._clock,
            max_resident_credentials=max_resident_credentials,
            reset_window=reset_window,
        )
        self._lock = threading.RLock()
        state = self._store.load()
        if state is None:
            state = KeyState.new(now=self._clock.now(), aaguid=aaguid, counter_mode=counter_mode)
            self._store.save(state)
        self._state = state
        self._pin = PinGuard(state.pin, self._persist, self._clock)
        self._credential_management = CredentialManagementCommand(
            state=state,
            pin=self._pin,
            persist=self._persist,
            max_resident_credentials=max_resident_credentials,
        )
        self._batch: _AssertionBatch | None = None
        self._powered_up_at = self._clock.now()
        self._handlers: dict[int, Callable[[CtapParams, _Call], dict[Any, Any] | None]] = {
            Command.MAKE_CREDENTIAL: self._make_credential,
            Command.GET_ASSERTION: self._get_assertion,
            Command.GET_INFO: self._get_info,
            Command.CLIENT_PIN: lambda params, _call: self._pin.handle(params),
            Command.RESET: self._reset,
            Command.GET_NEXT_ASSERTION: self._get_next_assertion,
            Command.CREDENTIAL_MANAGEMENT: lambda params, _call: self._credential_management.handle(
                params
            ),
            Command.SELECTION: self._selection,
        }

    # -- what tests, the demo and the CLI look at or arrange -------------------------------

    @property
    def aaguid(self) -> bytes:
        return self._state.aaguid

    @property
    def attestation_root_certificate(self) -> bytes:
        """DER of the root an RP trusts to accept this key's packed attestation."""
        return self._state.attestation.root_certificate

    @property
    def pin_is_set(self) -> bool:
        return self._pin.is_set

    @property
    def pin_retries(self) -> int:
        return self._pin.retries

    @property
    def global_sign_count(self) -> int:
        return self._state.global_sign_count

    def credentials(self, rp_id: str | None = None) -> list[StoredCredential]:
        """Copies of the stored credentials (all, or one RP's), oldest first."""
        with self._lock:
            return [
                replace(c) for c in self._state.credentials if rp_id is None or c.rp_id == rp_id
            ]

    def provision_pin(self, pin: str) -> None:
        """Set the PIN without the clientPIN protocol, as at the factory."""
        with self._lock:
            if self._pin.is_set:
                raise ValueError("this key already has a PIN")
            self._pin.provision(pin)

    def set_sign_count(self, value: int, credential_id: bytes | None = None) -> None:
        """Move a counter: one credential's, or the global one without ``credential_id``."""
        if not 0 <= value <= MAX_SIGN_COUNT:
            raise ValueError("a signature counter is an unsigned 32-bit number")
        with self._lock:
            if credential_id is None:
                self._state.global_sign_count = value
            else:
                self._credential_by_id(credential_id).sign_count = value
            self._persist()

    def clone(self) -> Ctap2Authenticator:
        """A second key with the same secrets and counters, as an attacker's copy would be."""
        with self._lock:
            store = MemoryKeyStore()
            store.save(self._state)
            return Ctap2Authenticator(store, presence=self.presence, **self._build_options)

    def power_cycle(self) -> None:
        """Unplug and plug in again: volatile state (PIN tokens, pending commands) is lost."""
        with self._lock:
            self._pin.power_cycle()
            self._batch = None
            self._credential_management.interrupt()
            self._powered_up_at = self._clock.now()

    # -- the protocol ---------------------------------------------------------------------

    def process(
        self,
        request: bytes,
        *,
        cancel: threading.Event | None = None,
        on_keepalive: KeepaliveCallback | None = None,
    ) -> bytes:
        """Answer one CTAP2 request (command byte + CBOR) with status byte + CBOR."""
        call = _Call(cancel if cancel is not None else threading.Event(), on_keepalive)
        with self._lock:
            command = request[0] if request else None
            try:
                response = self._dispatch(request, call)
            except CtapError as exc:
                logger.debug("virtual key: command %s answered %s", command, exc.code.name)
                return bytes([exc.code])
            return b"\x00" + (cbor.encode(response) if response is not None else b"")

    def _dispatch(self, request: bytes, call: _Call) -> dict[Any, Any] | None:
        if not request:
            raise CtapError(ERR.INVALID_LENGTH)
        if len(request) > MAX_MSG_SIZE:
            raise CtapError(ERR.REQUEST_TOO_LARGE)
        command, payload = request[0], request[1:]
        handler = self._handlers.get(command)
        if handler is None:
            raise CtapError(ERR.INVALID_COMMAND)
        if command != Command.GET_NEXT_ASSERTION:
            self._batch = None
        if command != Command.CREDENTIAL_MANAGEMENT:
            self._credential_management.interrupt()
        try:
            decoded = cbor.decode(payload) if payload else {}
        except (ValueError, IndexError, KeyError, struct.error, RecursionError):
            raise CtapError(ERR.INVALID_CBOR) from None
        if not isinstance(decoded, dict):
            raise CtapError(ERR.CBOR_UNEXPECTED_TYPE)
        return handler(CtapParams(decoded), call)

    def _get_info(self, params: CtapParams, call: _Call) -> dict[Any, Any]:
        # Section 6.4
        return {
            0x01: ["FIDO_2_0", "FIDO_2_1"],
            0x03: self._state.aaguid,
            0x04: {
                "rk": True,
                "up": True,
                "plat": False,
                "clientPin": self._pin.is_set,
                "pinUvAuthToken": True,
                "credMgmt": True,
            },
            0x05: MAX_MSG_SIZE,
            0x06: self._pin.protocol_versions,
            0x07: MAX_CREDENTIALS_IN_LIST,
            0x08: MAX_CREDENTIAL_ID_LENGTH,
            0x09: self._transports,
            0x0A: [
                {"alg": alg, "type": "public-key"} for alg in credential_keys.SUPPORTED_ALGORITHMS
            ],
            0x0D: 4,
            0x0E: 1,
            0x14: max(0, self._max_resident - resident_count(self._state)),
        }

    def _make_credential(self, params: CtapParams, call: _Call) -> dict[Any, Any]:
        # Section 6.1.2
        pin_uv_auth_param = params.optional(0x08, bytes)
        protocol_version = params.optional(0x09, int)
        self._check_pin_uv_auth_param_shape(pin_uv_auth_param, protocol_version, call)
        request = NewCredentialRequest.parse(params, has_token=pin_uv_auth_param is not None)

        if pin_uv_auth_param is not None:
            token = self._pin.verify(
                protocol_version,
                pin_uv_auth_param,
                request.client_data_hash,
                Permission.MAKE_CREDENTIAL,
            )
            _bind_rp(token, request.rp_id)
        elif self._pin.is_set:
            # Step 6: a key protected by a PIN, not offering makeCredUvNotRqd, makes no
            # credential without user verification.
            raise CtapError(ERR.PUAT_REQUIRED)

        for descriptor in request.exclude_list:
            if self._find_credential(descriptor, request.rp_id) is not None:
                # Step 7: the touch keeps a site from probing silently for its credentials.
                self._collect_presence(call, "makeCredential", request.rp_id)
                raise CtapError(ERR.CREDENTIAL_EXCLUDED)

        self._collect_presence(call, "makeCredential", request.rp_id)
        if pin_uv_auth_param is not None:
            self._pin.clear_permissions_after_presence()

        credential = store_new_credential(self._state, request, max_resident=self._max_resident)
        count = self._next_global_count() if self._state.counter_mode is CounterMode.GLOBAL else 0
        flags = AuthDataFlag.UP | AuthDataFlag.AT
        if pin_uv_auth_param is not None:
            flags |= AuthDataFlag.UV
        cose_key = credential_keys.cose_public_key(credential.algorithm, credential.private_key)
        attested = (
            self._state.aaguid
            + struct.pack(">H", len(credential.credential_id))
            + credential.credential_id
            + cbor.encode(cose_key)
        )
        auth_data = _auth_data(request.rp_id, flags, count) + attested
        fmt, statement = attestation_statement(
            self._attestation,
            self._state.attestation,
            alg=credential.algorithm,
            credential_private_key=credential.private_key,
            auth_data=auth_data,
            client_data_hash=request.client_data_hash,
        )
        self._persist()
        logger.info("virtual key: new credential (discoverable: %s)", request.resident)
        return {0x01: fmt, 0x02: auth_data, 0x03: statement}

    def _get_assertion(self, params: CtapParams, call: _Call) -> dict[Any, Any]:
        # Section 6.2.2
        pin_uv_auth_param = params.optional(0x06, bytes)
        protocol_version = params.optional(0x07, int)
        self._check_pin_uv_auth_param_shape(pin_uv_auth_param, protocol_version, call)
        rp_id = params.required(0x01, str)
        client_data_hash = params.required(0x02, bytes)
        allow_list = params.optional(0x03, list) or []
        params.optional(0x04, dict)  # extensions: none offered
        options = options_map(params.optional(0x05, dict))
        if "rk" in options:
            raise CtapError(ERR.UNSUPPORTED_OPTION)
        if options.get("uv") and pin_uv_auth_param is None:
            raise CtapError(ERR.INVALID_OPTION)
        user_present = options.get("up", True)

        flags = AuthDataFlag(0)
        if pin_uv_auth_param is not None:
            token = self._pin.verify(
                protocol_version, pin_uv_auth_param, client_data_hash, Permission.GET_ASSERTION
            )
            _bind_rp(token, rp_id)
            flags |= AuthDataFlag.UV

        if allow_list:
            found = [self._find_credential(d, rp_id) for d in allow_list]
            candidates = [c for c in found if c is not None][:1]
        else:
            candidates = sorted(
                (c for c in self._state.credentials if c.discoverable and c.rp_id == rp_id),
                key=lambda c: -c.sequence,
            )
        if not candidates:
            raise CtapError(ERR.NO_CREDENTIALS)

        if user_present:
            self._collect_presence(call, "getAssertion", rp_id)
            flags |= AuthDataFlag.UP
            if pin_uv_auth_param is not None:
                self._pin.clear_permissions_after_presence()

        first, rest = candidates[0], candidates[1:]
        response = self._sign_assertion(first, rp_id, client_data_hash, flags)
        if rest:
            response[0x05] = len(candidates)
            self._batch = _AssertionBatch(
                rp_id=rp_id,
                client_data_hash=client_data_hash,
                flags=flags,
                remaining=[c.credential_id for c in rest],
                total=len(candidates),
                last_at=self._clock.now(),
            )
        return response

    def _get_next_assertion(self, params: CtapParams, call: _Call) -> dict[Any, Any]:
        # Section 6.3
        batch = self._batch
        if batch is None or not batch.remaining:
            raise CtapError(ERR.NOT_ALLOWED)
        now = self._clock.now()
        if now - batch.last_at > NEXT_ASSERTION_TIMEOUT:
            self._batch = None
            raise CtapError(ERR.NOT_ALLOWED)
        credential = self._credential_by_id(batch.remaining.pop(0))
        batch.last_at = now
        return self._sign_assertion(credential, batch.rp_id, batch.client_data_hash, batch.flags)

    def _reset(self, params: CtapParams, call: _Call) -> None:
        # Section 6.6
        if (
            self._reset_window is not None
            and self._clock.now() - self._powered_up_at > self._reset_window
        ):
            raise CtapError(ERR.NOT_ALLOWED)
        self._collect_presence(call, "reset", None)
        self._state.credentials.clear()
        self._pin.forget_pin()
        self._persist()
        logger.info("virtual key: reset, all credentials and the PIN erased")

    def _selection(self, params: CtapParams, call: _Call) -> None:
        # Section 6.9
        self._collect_presence(call, "selection", None)

    # -- pieces ---------------------------------------------------------------------------

    def _check_pin_uv_auth_param_shape(
        self, pin_uv_auth_param: bytes | None, protocol_version: int | None, call: _Call
    ) -> None:
        if pin_uv_auth_param is None:
            return
        if not pin_uv_auth_param:
            # Sections 6.1.2 / 6.2.2 step 1: an empty pinUvAuthParam is a platform asking
            # which key the user means; answer after a touch.
            self._collect_presence(call, "selection", None)
            raise CtapError(ERR.PIN_INVALID if self._pin.is_set else ERR.PIN_NOT_SET)
        self._pin.protocol(protocol_version)

    def _collect_presence(self, call: _Call, command: str, rp_id: str | None) -> None:
        if call.cancel.is_set():
            raise CtapError(ERR.KEEPALIVE_CANCEL)
        if call.on_keepalive is not None:
            call.on_keepalive(STATUS.UPNEEDED)
        outcome = self.presence(PresenceRequest(command=command, rp_id=rp_id), call.cancel)
        if call.cancel.is_set():
            raise CtapError(ERR.KEEPALIVE_CANCEL)
        if outcome is PresenceOutcome.DENIED:
            raise CtapError(ERR.OPERATION_DENIED)
        if outcome is PresenceOutcome.TIMED_OUT:
            raise CtapError(ERR.USER_ACTION_TIMEOUT)

    def _sign_assertion(
        self,
        credential: StoredCredential,
        rp_id: str,
        client_data_hash: bytes,
        flags: AuthDataFlag,
    ) -> dict[Any, Any]:
        if self._state.counter_mode is CounterMode.GLOBAL:
            count = self._next_global_count()
        else:
            credential.sign_count = min(credential.sign_count + 1, MAX_SIGN_COUNT)
            count = credential.sign_count
        self._persist()
        auth_data = _auth_data(rp_id, flags, count)
        signature = credential_keys.sign(
            credential.algorithm, credential.private_key, auth_data + client_data_hash
        )
        response: dict[Any, Any] = {
            0x01: {"id": credential.credential_id, "type": "public-key"},
            0x02: auth_data,
            0x03: signature,
        }
        if credential.discoverable:
            user: dict[str, Any] = {"id": credential.user_id}
            # Section 6.2.2 step 12: names only after user verification
            if flags & AuthDataFlag.UV:
                if credential.user_name is not None:
                    user["name"] = credential.user_name
                if credential.user_display_name is not None:
                    user["displayName"] = credential.user_display_name
            response[0x04] = user
        return response

    def _find_credential(self, descriptor: object, rp_id: str) -> StoredCredential | None:
        if not isinstance(descriptor, dict):
            raise CtapError(ERR.CBOR_UNEXPECTED_TYPE)
        credential_id = descriptor.get("id")
        kind = descriptor.get("type")
        if not isinstance(credential_id, bytes) or not isinstance(kind, str):
            raise CtapError(ERR.CBOR_UNEXPECTED_TYPE)
        if kind != "public-key":
            return None
        for credential in self._state.credentials:
            if credential.credential_id == credential_id and credential.rp_id == rp_id:
                return credential
        return None

    def _credential_by_id(self, credential_id: bytes) -> StoredCredential:
        for credential in self._state.credentials:
            if credential.credential_id == credential_id:
                return credential
        raise KeyError("no such credential on this key")

    def _next_global_count(self) -> int:
        self._state.global_sign_count = min(self._state.global_sign_count + 1, MAX_SIGN_COUNT)
        return self._state.global_sign_count

    def _persist(self) -> None:
        self._store.save(self._state)


def _auth_data(rp_id: str, flags: AuthDataFlag, count: int) -> bytes:
    # WebAuthn section 6.1: rpIdHash, flags, signCount (+ attested credential data)
    return hashlib.sha256(rp_id.encode()).digest() + struct.pack(">BI", flags, count)


def _bind_rp(token: PinUvAuthToken, rp_id: str) -> None:
    # Sections 6.1.2 step 4 / 6.2.2 step 4: a token without a permissions RP ID takes the
    # first RP it is used for; a token bound to another RP is refused.
    if token.rp_id is None:
        token.rp_id = rp_id
    elif token.rp_id != rp_id:
        raise CtapError(ERR.PIN_AUTH_INVALID)
