"""Typed access to a CTAP command's CBOR parameter map, failing with CTAP error codes.

A missing mandatory member is ``CTAP2_ERR_MISSING_PARAMETER`` and a member of the wrong
CBOR type is ``CTAP2_ERR_CBOR_UNEXPECTED_TYPE`` (CTAP 2.1 section 8.2).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, TypeVar

from fido2.ctap import CtapError

ERR = CtapError.ERR
T = TypeVar("T")


class CtapParams:
    def __init__(self, members: Mapping[Any, Any]) -> None:
        self._members = members

    def __contains__(self, key: object) -> bool:
        return key in self._members

    def optional(self, key: int, kind: type[T]) -> T | None:
        value = self._members.get(key)
        if value is None:
            return None
        # bool is an int in Python, but not in CBOR
        if not isinstance(value, kind) or (kind is int and isinstance(value, bool)):
            raise CtapError(ERR.CBOR_UNEXPECTED_TYPE)
        return value

    def required(self, key: int, kind: type[T]) -> T:
        value = self.optional(key, kind)
        if value is None:
            raise CtapError(ERR.MISSING_PARAMETER)
        return value

    def raw(self, key: int) -> Any:
        return self._members.get(key)


def required_member(entity: Mapping[Any, Any], key: str, kind: type[T]) -> T:
    """A mandatory member of an entity map such as ``rp`` or ``user``."""
    value = entity.get(key)
    if value is None:
        raise CtapError(ERR.MISSING_PARAMETER)
    if not isinstance(value, kind):
        raise CtapError(ERR.CBOR_UNEXPECTED_TYPE)
    return value


def text_or_none(entity: Mapping[Any, Any], key: str) -> str | None:
    value = entity.get(key)
    if value is None:
        return None
    if not isinstance(value, str):
        raise CtapError(ERR.CBOR_UNEXPECTED_TYPE)
    return value


def options_map(value: dict[Any, Any] | None) -> dict[str, bool]:
    """The ``options`` member: text keys with boolean values; unknown options are kept."""
    if value is None:
        return {}
    for key, flag in value.items():
        if not isinstance(key, str) or not isinstance(flag, bool):
            raise CtapError(ERR.CBOR_UNEXPECTED_TYPE)
    return dict(value)
