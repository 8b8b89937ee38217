"""authenticatorCredentialManagement (CTAP 2.1 section 6.8): list, delete and update the
discoverable credentials of the software key, under a token with the ``cm`` permission.
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Callable
from enum import IntEnum
from typing import Any

from fido2 import cbor
from fido2.ctap import CtapError

from tokenstile.virtual import credential_keys
from tokenstile.virtual.client_pin import Permission, PinGuard, PinUvAuthToken
from tokenstile.virtual.ctap_params import ERR, CtapParams, required_member, text_or_none
from tokenstile.virtual.key_state import KeyState, StoredCredential

logger = logging.getLogger(__name__)


class SubCommand(IntEnum):
    GET_CREDS_METADATA = 0x01
    ENUMERATE_RPS_BEGIN = 0x02
    ENUMERATE_RPS_GET_NEXT_RP = 0x03
    ENUMERATE_CREDENTIALS_BEGIN = 0x04
    ENUMERATE_CREDENTIALS_GET_NEXT_CREDENTIAL = 0x05
    DELETE_CREDENTIAL = 0x06
    UPDATE_USER_INFORMATION = 0x07


_SUB_COMMAND, _SUB_COMMAND_PARAMS, _PROTOCOL, _PIN_UV_AUTH_PARAM = 0x01, 0x02, 0x03, 0x04
# subCommandParams members
_P_RP_ID_HASH, _P_CREDENTIAL_ID, _P_USER = 0x01, 0x02, 0x03
# response members
_R_EXISTING, _R_REMAINING, _R_RP, _R_RP_ID_HASH, _R_TOTAL_RPS = 0x01, 0x02, 0x03, 0x04, 0x05
_R_USER, _R_CREDENTIAL_ID, _R_PUBLIC_KEY, _R_TOTAL_CREDENTIALS = 0x06, 0x07, 0x08, 0x09
_R_CRED_PROTECT = 0x0A
_USER_VERIFICATION_OPTIONAL = 0x01  # credProtect level 1: what every credential here has


class CredentialManagementCommand:
    def __init__(
        self,
        *,
        state: KeyState,
        pin: PinGuard,
        persist: Callable[[], None],
        max_resident_credentials: int,
    ) -> None:
        self._state = state
        self._pin = pin
        self._persist = persist
        self._max_resident = max_resident_credentials
        self._pending_rps: list[str] = []
        self._pending_credentials: list[bytes] = []

    def interrupt(self) -> None:
        """Any other command ends an enumeration."""
        self._pending_rps = []
        self._pending_credentials = []

    def handle(self, params: CtapParams) -> dict[int, Any] | None:
        sub_command = params.required(_SUB_COMMAND, int)
        if sub_command == SubCommand.ENUMERATE_RPS_GET_NEXT_RP:
            self._pending_credentials = []
            return self._next_rp()
        if sub_command == SubCommand.ENUMERATE_CREDENTIALS_GET_NEXT_CREDENTIAL:
            self._pending_rps = []
            return self._next_credential()
        self.interrupt()
        if sub_command not in set(SubCommand):
            raise CtapError(ERR.INVALID_SUBCOMMAND)
        sub_params = params.optional(_SUB_COMMAND_PARAMS, dict)
        token = self._authorise(params, sub_command, sub_params)
        members = CtapParams(sub_params or {})
        match sub_command:
            case SubCommand.GET_CREDS_METADATA:
                _require_unbound(token)
                existing = len(self._resident())
                return {
                    _R_EXISTING: existing,
                    _R_REMAINING: max(0, self._max_resident - existing),
                }
            case SubCommand.ENUMERATE_RPS_BEGIN:
                _require_unbound(token)
                return self._begin_rps()
            case SubCommand.ENUMERATE_CREDENTIALS_BEGIN:
                rp_id_hash = members.required(_P_RP_ID_HASH, bytes)
                _require_rp(token, rp_id_hash)
                return self._begin_credentials(rp_id_hash)
            case SubCommand.DELETE_CREDENTIAL:
                credential = self._credential(members)
                _require_rp(token, _rp_id_hash(credential.rp_id))
                self._state.credentials.remove(credential)
                self._persist()
                logger.info("virtual key: discoverable credential deleted")
                return None
            case _:  # UPDATE_USER_INFORMATION
                credential = self._credential(members)
                _require_rp(token, _rp_id_hash(credential.rp_id))
                user = members.required(_P_USER, dict)
                if required_member(user, "id", bytes) != credential.user_id:
                    raise CtapError(ERR.INVALID_PARAMETER)
                credential.user_name = text_or_none(user, "name")
                credential.user_display_name = text_or_none(user, "displayName")
                self._persist()
                return None

    def _authorise(
        self, params: CtapParams, sub_command: int, sub_params: dict[Any, Any] | None
    ) -> PinUvAuthToken:
        pin_uv_auth_param = params.optional(_PIN_UV_AUTH_PARAM, bytes)
        if pin_uv_auth_param is None:
            raise CtapError(ERR.PUAT_REQUIRED)
        message = bytes([sub_command]) + (cbor.encode(sub_params) if sub_params else b"")
        return self._pin.verify(
            params.optional(_PROTOCOL, int),
            pin_uv_auth_param,
            message,
            Permission.CREDENTIAL_MANAGEMENT,
        )

    def _resident(self) -> list[StoredCredential]:
        return [c for c in self._state.credentials if c.discoverable]

    def _begin_rps(self) -> dict[int, Any]:
        rp_ids = list(dict.fromkeys(c.rp_id for c in self._resident()))
        if not rp_ids:
            raise CtapError(ERR.NO_CREDENTIALS)
        self._pending_rps = rp_ids[1:]
        return {**self._rp_entry(rp_ids[0]), _R_TOTAL_RPS: len(rp_ids)}

    def _next_rp(self) -> dict[int, Any]:
        if not self._pending_rps:
            raise CtapError(ERR.NOT_ALLOWED)
        return self._rp_entry(self._pending_rps.pop(0))

    def _rp_entry(self, rp_id: str) -> dict[int, Any]:
        rp: dict[str, Any] = {"id": rp_id}
        names = [c.rp_name for c in self._resident() if c.rp_id == rp_id and c.rp_name]
        if names:
            rp["name"] = names[-1]
        return {_R_RP: rp, _R_RP_ID_HASH: _rp_id_hash(rp_id)}

    def _begin_credentials(self, rp_id_hash: bytes) -> dict[int, Any]:
        matching = [c for c in self._resident() if _rp_id_hash(c.rp_id) == rp_id_hash]
        if not matching:
            raise CtapError(ERR.NO_CREDENTIALS)
        self._pending_credentials = [c.credential_id for c in matching[1:]]
        return {**_credential_entry(matching[0]), _R_TOTAL_CREDENTIALS: len(matching)}

    def _next_credential(self) -> dict[int, Any]:
        while self._pending_credentials:
            wanted = self._pending_credentials.pop(0)
            for credential in self._resident():
                if credential.credential_id == wanted:
                    return _credential_entry(credential)
        raise CtapError(ERR.NOT_ALLOWED)

    def _credential(self, members: CtapParams) -> StoredCredential:
        descriptor = members.required(_P_CREDENTIAL_ID, dict)
        credential_id = required_member(descriptor, "id", bytes)
        for credential in self._resident():
            if credential.credential_id == credential_id:
                return credential
        raise CtapError(ERR.NO_CREDENTIALS)


def _credential_entry(credential: StoredCredential) -> dict[int, Any]:
    user: dict[str, Any] = {"id": credential.user_id}
    if credential.user_name is not None:
        user["name"] = credential.user_name
    if credential.user_display_name is not None:
        user["displayName"] = credential.user_display_name
    return {
        _R_USER: user,
        _R_CREDENTIAL_ID: {"id": credential.credential_id, "type": "public-key"},
        _R_PUBLIC_KEY: credential_keys.cose_public_key(
            credential.algorithm, credential.private_key
        ),
        _R_CRED_PROTECT: _USER_VERIFICATION_OPTIONAL,
    }


def _rp_id_hash(rp_id: str) -> bytes:
    return hashlib.sha256(rp_id.encode()).digest()


def _require_unbound(token: PinUvAuthToken) -> None:
    # Section 6.8.2/6.8.3: listing every RP needs a token not bound to one RP.
    if token.rp_id is not None:
        raise CtapError(ERR.PIN_AUTH_INVALID)


def _require_rp(token: PinUvAuthToken, rp_id_hash: bytes) -> None:
    if token.rp_id is not None and _rp_id_hash(token.rp_id) != rp_id_hash:
        raise CtapError(ERR.PIN_AUTH_INVALID)
