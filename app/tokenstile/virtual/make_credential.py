"""authenticatorMakeCredential (CTAP 2.1 section 6.1) for the software key: its
parameters read and checked, and the credential it makes stored in the key's state.

The command itself (PIN token, exclude list, presence, attestation) runs in
:class:`~tokenstile.virtual.ctap2_authenticator.Ctap2Authenticator`, beside
authenticatorGetAssertion, with which it shares those steps.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Any

from fido2.ctap import CtapError

from tokenstile.virtual import credential_keys
from tokenstile.virtual.ctap_params import (
    ERR,
    CtapParams,
    options_map,
    required_member,
    text_or_none,
)
from tokenstile.virtual.key_state import KeyState, StoredCredential

CREDENTIAL_ID_LENGTH = 32


@dataclass(frozen=True, kw_only=True)
class NewCredentialRequest:
    client_data_hash: bytes
    rp_id: str
    rp_name: str | None
    user_id: bytes
    user_name: str | None
    user_display_name: str | None
    alg: int
    exclude_list: list[Any]
    resident: bool

    @classmethod
    def parse(cls, params: CtapParams, *, has_token: bool) -> NewCredentialRequest:
        client_data_hash = params.required(0x01, bytes)
        rp = params.required(0x02, dict)
        user = params.required(0x03, dict)
        key_params = params.required(0x04, list)
        exclude_list = params.optional(0x05, list) or []
        params.optional(0x06, dict)  # no extensions are offered; inputs are ignored
        options = options_map(params.optional(0x07, dict))
        request = cls(
            client_data_hash=client_data_hash,
            rp_id=required_member(rp, "id", str),
            rp_name=text_or_none(rp, "name"),
            user_id=required_member(user, "id", bytes),
            user_name=text_or_none(user, "name"),
            user_display_name=text_or_none(user, "displayName"),
            alg=choose_algorithm(key_params),
            exclude_list=exclude_list,
            resident=options.get("rk", False),
        )
        if params.raw(0x0A) is not None:
            raise CtapError(ERR.INVALID_PARAMETER)  # no enterprise attestation
        if options.get("up") is False:
            raise CtapError(ERR.INVALID_OPTION)
        if options.get("uv") and not has_token:
            raise CtapError(ERR.INVALID_OPTION)  # no built-in user verification
        return request


def store_new_credential(
    state: KeyState, request: NewCredentialRequest, *, max_resident: int
) -> StoredCredential:
    """A new credential for ``request``, kept in ``state`` (which the caller persists)."""
    if request.resident:
        # A new discoverable credential replaces the one of the same RP and user.
        replaced = [
            c
            for c in state.credentials
            if c.discoverable and c.rp_id == request.rp_id and c.user_id == request.user_id
        ]
        if not replaced and resident_count(state) >= max_resident:
            raise CtapError(ERR.KEY_STORE_FULL)
        for old in replaced:
            state.credentials.remove(old)
    credential = StoredCredential(
        credential_id=os.urandom(CREDENTIAL_ID_LENGTH),
        rp_id=request.rp_id,
        rp_name=request.rp_name,
        user_id=request.user_id,
        user_name=request.user_name,
        user_display_name=request.user_display_name,
        algorithm=request.alg,
        private_key=credential_keys.generate_private_key(request.alg),
        discoverable=request.resident,
        sign_count=0,
        sequence=state.next_sequence,
    )
    state.next_sequence += 1
    state.credentials.append(credential)
    return credential


def resident_count(state: KeyState) -> int:
    return sum(1 for c in state.credentials if c.discoverable)


def choose_algorithm(key_params: list[Any]) -> int:
    # The RP lists algorithms by preference; the first one this key supports wins.
    for entry in key_params:
        if not isinstance(entry, dict):
            raise CtapError(ERR.CBOR_UNEXPECTED_TYPE)
        alg, kind = entry.get("alg"), entry.get("type")
        if not isinstance(alg, int) or isinstance(alg, bool) or not isinstance(kind, str):
            raise CtapError(ERR.CBOR_UNEXPECTED_TYPE)
        if kind == "public-key" and alg in credential_keys.SUPPORTED_ALGORITHMS:
            return alg
    raise CtapError(ERR.UNSUPPORTED_ALGORITHM)
