"""authenticatorClientPIN (CTAP 2.1 section 6.5) and the pinUvAuthToken it hands out.

:class:`PinGuard` owns the PIN: the retry counter (persistent, at most 8), the count of
consecutive mismatches (volatile: three in a row and the key refuses PIN attempts until a
power cycle), the key-agreement keys of both protocols, and the one pinUvAuthToken with
its permissions. Other commands ask it to check their ``pinUvAuthParam``.
"""

from __future__ import annotations

import hashlib
import hmac
import logging
import os
from collections.abc import Callable
from dataclasses import dataclass
from enum import IntEnum, IntFlag
from typing import Any

from fido2.ctap import CtapError

from tokenstile.clock import Clock
from tokenstile.virtual.ctap_params import ERR, CtapParams
from tokenstile.virtual.key_state import MAX_PIN_RETRIES, PinRecord
from tokenstile.virtual.pin_protocols import PinProtocolOne, PinProtocolTwo, PinUvAuthProtocol

logger = logging.getLogger(__name__)

MIN_PIN_LENGTH = 4  # code points; section 6.4 minPINLength default
MAX_PIN_BYTES = 63
MAX_CONSECUTIVE_MISMATCHES = 3
# Section 6.5.2.1 pinUvAuthToken usage timer: unused tokens expire after the initial
# usage time limit, all tokens after the maximum usage time period.
INITIAL_USAGE_LIMIT = 30.0
MAX_USAGE_PERIOD = 600.0


class Permission(IntFlag):
    MAKE_CREDENTIAL = 0x01
    GET_ASSERTION = 0x02
    CREDENTIAL_MANAGEMENT = 0x04
    BIO_ENROLLMENT = 0x08
    LARGE_BLOB_WRITE = 0x10
    AUTHENTICATOR_CONFIG = 0x20
    PERSISTENT_CREDENTIAL_MANAGEMENT_READ_ONLY = 0x40


SUPPORTED_PERMISSIONS = (
    Permission.MAKE_CREDENTIAL | Permission.GET_ASSERTION | Permission.CREDENTIAL_MANAGEMENT
)


class SubCommand(IntEnum):
    GET_PIN_RETRIES = 0x01
    GET_KEY_AGREEMENT = 0x02
    SET_PIN = 0x03
    CHANGE_PIN = 0x04
    GET_PIN_TOKEN = 0x05
    GET_PIN_UV_AUTH_TOKEN_USING_UV_WITH_PERMISSIONS = 0x06
    GET_UV_RETRIES = 0x07
    GET_PIN_UV_AUTH_TOKEN_USING_PIN_WITH_PERMISSIONS = 0x09


# Request and response members of authenticatorClientPIN
_PROTOCOL, _SUB_COMMAND, _KEY_AGREEMENT, _PIN_UV_AUTH_PARAM = 0x01, 0x02, 0x03, 0x04
_NEW_PIN_ENC, _PIN_HASH_ENC, _PERMISSIONS, _RP_ID = 0x05, 0x06, 0x09, 0x0A
_R_KEY_AGREEMENT, _R_TOKEN, _R_PIN_RETRIES, _R_POWER_CYCLE_STATE = 0x01, 0x02, 0x03, 0x04


@dataclass(kw_only=True)
class PinUvAuthToken:
    protocol: int
    value: bytes
    permissions: Permission
    rp_id: str | None
    issued_at: float
    used: bool = False


class PinGuard:
    def __init__(self, record: PinRecord, persist: Callable[[], None], clock: Clock) -> None:
        self._record = record
        self._persist = persist
        self._clock = clock
        self._protocols: dict[int, PinUvAuthProtocol] = {2: PinProtocolTwo(), 1: PinProtocolOne()}
        self._token: PinUvAuthToken | None = None
        self._mismatches = 0

    @property
    def is_set(self) -> bool:
        return self._record.pin_hash is not None

    @property
    def retries(self) -> int:
        return self._record.retries

    @property
    def protocol_versions(self) -> list[int]:
        return list(self._protocols)  # preferred first: [2, 1]

    @property
    def power_cycle_required(self) -> bool:
        return self._mismatches >= MAX_CONSECUTIVE_MISMATCHES

    def power_cycle(self) -> None:
        """Volatile state starts over: new key-agreement keys, no token, no mismatches."""
        for protocol in self._protocols.values():
            protocol.regenerate()
        self._token = None
        self._mismatches = 0

    def forget_pin(self) -> None:
        """authenticatorReset: the PIN goes, the retry counter is full again."""
        self._record.clear()
        self.power_cycle()

    def provision(self, pin: str) -> None:
        """Set the PIN directly, as a factory or the ``virtual-key create`` command does."""
        if not _meets_pin_policy(pin.encode()):
            raise ValueError(
                f"a PIN has {MIN_PIN_LENGTH} to {MAX_PIN_BYTES} characters (UTF-8 bytes)"
            )
        self._record.pin_hash = _pin_hash(pin.encode())
        self._record.retries = MAX_PIN_RETRIES
        self._persist()

    def protocol(self, version: int | None) -> PinUvAuthProtocol:
        if version is None:
            raise CtapError(ERR.MISSING_PARAMETER)
        protocol = self._protocols.get(version)
        if protocol is None:
            raise CtapError(ERR.INVALID_PARAMETER)
        return protocol

    def verify(
        self,
        version: int | None,
        pin_uv_auth_param: bytes,
        message: bytes,
        permission: Permission,
    ) -> PinUvAuthToken:
        """Check a ``pinUvAuthParam`` made with the token; the caller checks the RP binding."""
        protocol = self.protocol(version)
        token = self._token
        if token is not None and self._expired(token):
            self._token = token = None
        if (
            token is None
            or token.protocol != protocol.version
            or not protocol.verify(token.value, message, pin_uv_auth_param)
            or not token.permissions & permission
        ):
            raise CtapError(ERR.PIN_AUTH_INVALID)
        token.used = True
        return token

    def clear_permissions_after_presence(self) -> None:
        # Section 6.1.2 step 11 / 6.2.2 step 9: once user presence was collected with a
        # token, it loses every permission but lbw, so one touch authorises one operation.
        if self._token is not None:
            self._token.permissions &= Permission.LARGE_BLOB_WRITE

    def handle(self, params: CtapParams) -> dict[int, Any] | None:
        sub_command = params.required(_SUB_COMMAND, int)
        match sub_command:
            case SubCommand.GET_PIN_RETRIES:
                return {
                    _R_PIN_RETRIES: self._record.retries,
                    _R_POWER_CYCLE_STATE: self.power_cycle_required,
                }
            case SubCommand.GET_KEY_AGREEMENT:
                protocol = self.protocol(params.optional(_PROTOCOL, int))
                return {_R_KEY_AGREEMENT: protocol.get_public_key()}
            case SubCommand.SET_PIN:
                self._set_pin(params)
                return None
            case SubCommand.CHANGE_PIN:
                self._change_pin(params)
                return None
            case SubCommand.GET_PIN_TOKEN:
                if _PERMISSIONS in params or _RP_ID in params:
                    raise CtapError(ERR.INVALID_PARAMETER)
                # Legacy tokens get the default permissions mc and ga, bound to no RP.
                default = Permission.MAKE_CREDENTIAL | Permission.GET_ASSERTION
                return self._get_token(params, default, None)
            case SubCommand.GET_PIN_UV_AUTH_TOKEN_USING_PIN_WITH_PERMISSIONS:
                permissions = params.required(_PERMISSIONS, int)
                if permissions == 0:
                    raise CtapError(ERR.INVALID_PARAMETER)
                if permissions & ~SUPPORTED_PERMISSIONS:
                    raise CtapError(ERR.UNAUTHORIZED_PERMISSION)
                rp_id = params.optional(_RP_ID, str)
                return self._get_token(params, Permission(permissions), rp_id)
            case _:
                # No built-in user verification: the UV sub-commands are not offered.
                raise CtapError(ERR.INVALID_SUBCOMMAND)

    def _set_pin(self, params: CtapParams) -> None:
        # Section 6.5.5.5
        version = params.required(_PROTOCOL, int)
        peer = params.required(_KEY_AGREEMENT, dict)
        new_pin_enc = params.required(_NEW_PIN_ENC, bytes)
        pin_uv_auth_param = params.required(_PIN_UV_AUTH_PARAM, bytes)
        protocol = self.protocol(version)
        if self.is_set:
            raise CtapError(ERR.NOT_ALLOWED)
        shared = self._decapsulate(protocol, peer)
        if not protocol.verify(shared, new_pin_enc, pin_uv_auth_param):
            raise CtapError(ERR.PIN_AUTH_INVALID)
        new_pin = self._decrypt_new_pin(protocol, shared, new_pin_enc)
        self._record.pin_hash = _pin_hash(new_pin)
        self._record.retries = MAX_PIN_RETRIES
        self._persist()
        logger.info("virtual key: PIN set")

    def _change_pin(self, params: CtapParams) -> None:
        # Section 6.5.5.6
        version = params.required(_PROTOCOL, int)
        peer = params.required(_KEY_AGREEMENT, dict)
        pin_hash_enc = params.required(_PIN_HASH_ENC, bytes)
        new_pin_enc = params.required(_NEW_PIN_ENC, bytes)
        pin_uv_auth_param = params.required(_PIN_UV_AUTH_PARAM, bytes)
        protocol, shared = self._pin_channel(version, peer)
        if not protocol.verify(shared, new_pin_enc + pin_hash_enc, pin_uv_auth_param):
            raise CtapError(ERR.PIN_AUTH_INVALID)
        self._check_pin_hash(protocol, shared, pin_hash_enc)
        new_pin = self._decrypt_new_pin(protocol, shared, new_pin_enc)
        self._record.pin_hash = _pin_hash(new_pin)
        self._persist()
        self._token = None
        logger.info("virtual key: PIN changed")

    def _get_token(
        self, params: CtapParams, permissions: Permission, rp_id: str | None
    ) -> dict[int, Any]:
        # Sections 6.5.5.7.1 and 6.5.5.7.2
        version = params.required(_PROTOCOL, int)
        peer = params.required(_KEY_AGREEMENT, dict)
        pin_hash_enc = params.required(_PIN_HASH_ENC, bytes)
        protocol, shared = self._pin_channel(version, peer)
        self._check_pin_hash(protocol, shared, pin_hash_enc)
        # resetPinUvAuthToken() for every protocol, then beginUsingPinUvAuthToken()
        self._token = PinUvAuthToken(
            protocol=protocol.version,
            value=os.urandom(32),
            permissions=permissions,
            rp_id=rp_id,
            issued_at=self._clock.now(),
        )
        return {_R_TOKEN: protocol.encrypt(shared, self._token.value)}

    def _pin_channel(self, version: int, peer: dict[Any, Any]) -> tuple[PinUvAuthProtocol, bytes]:
        """The protocol and shared secret of a command that offers the PIN's hash."""
        protocol = self.protocol(version)
        self._check_may_try_pin()
        return protocol, self._decapsulate(protocol, peer)

    def _check_may_try_pin(self) -> None:
        if not self.is_set:
            raise CtapError(ERR.PIN_NOT_SET)
        if self._record.retries <= 0:
            raise CtapError(ERR.PIN_BLOCKED)
        if self.power_cycle_required:
            raise CtapError(ERR.PIN_AUTH_BLOCKED)

    def _check_pin_hash(self, protocol: PinUvAuthProtocol, shared: bytes, enc: bytes) -> None:
        # The counter goes down before the comparison, so pulling the key out mid-way
        # cannot buy a free guess.
        self._record.retries -= 1
        self._persist()
        try:
            pin_hash = protocol.decrypt(shared, enc)
        except ValueError:
            raise CtapError(ERR.INVALID_PARAMETER) from None
        stored = self._record.pin_hash
        if stored is None or not hmac.compare_digest(pin_hash, stored):
            protocol.regenerate()
            self._mismatches += 1
            logger.info("virtual key: wrong PIN, %d retries left", self._record.retries)
            if self._record.retries <= 0:
                raise CtapError(ERR.PIN_BLOCKED)
            if self.power_cycle_required:
                raise CtapError(ERR.PIN_AUTH_BLOCKED)
            raise CtapError(ERR.PIN_INVALID)
        self._mismatches = 0
        self._record.retries = MAX_PIN_RETRIES
        self._persist()

    def _decapsulate(self, protocol: PinUvAuthProtocol, peer: dict[Any, Any]) -> bytes:
        try:
            return protocol.decapsulate(peer)
        except ValueError:
            raise CtapError(ERR.INVALID_PARAMETER) from None

    def _decrypt_new_pin(self, protocol: PinUvAuthProtocol, shared: bytes, enc: bytes) -> bytes:
        try:
            padded = protocol.decrypt(shared, enc)
        except ValueError:
            raise CtapError(ERR.INVALID_PARAMETER) from None
        if len(padded) != 64:
            raise CtapError(ERR.INVALID_PARAMETER)
        new_pin = padded.rstrip(b"\x00")
        if not _meets_pin_policy(new_pin):
            raise CtapError(ERR.PIN_POLICY_VIOLATION)
        return new_pin

    def _expired(self, token: PinUvAuthToken) -> bool:
        age = self._clock.now() - token.issued_at
        return age > MAX_USAGE_PERIOD or (not token.used and age > INITIAL_USAGE_LIMIT)


def _meets_pin_policy(pin: bytes) -> bool:
    try:
        length = len(pin.decode("utf-8"))
    except UnicodeDecodeError:
        return False
    return length >= MIN_PIN_LENGTH and len(pin) <= MAX_PIN_BYTES


def _pin_hash(pin: bytes) -> bytes:
    return hashlib.sha256(pin).digest()[:16]
