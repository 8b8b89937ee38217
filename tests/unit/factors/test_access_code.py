"""Temporary access codes, the pure part: shape, normalising what a person types, the
stored hash and its check (``factors.access_code``)."""

from __future__ import annotations

import pytest

from tokenstile.errors import InvalidRequest
from tokenstile.factors.access_code import (
    ALPHABET,
    check_lifetime,
    code_matches,
    hash_code,
    new_code,
    normalize,
)


def test_a_code_is_twelve_unambiguous_characters_in_three_groups() -> None:
    codes = {new_code() for _ in range(200)}
    assert len(codes) == 200
    for code in codes:
        groups = code.split("-")
        assert [len(g) for g in groups] == [4, 4, 4]
        assert set("".join(groups)) <= set(ALPHABET)
    assert len(ALPHABET) == 32
    assert not set("01IO") & set(ALPHABET)


@pytest.mark.parametrize(
    ("typed", "plain"),
    [
        ("K7QD-3MXP-W9TR", "K7QD3MXPW9TR"),
        ("k7qd 3mxp w9tr", "K7QD3MXPW9TR"),
        ("  K7QD3MXPW9TR ", "K7QD3MXPW9TR"),
        ("K7QD-3MXP-W9T", None),  # short
        ("K7QD-3MXP-W9TRX", None),  # long
        ("K7QD-3MXP-W9T0", None),  # a zero is not in the alphabet
        ("K7QD-3MXP-W9T\u0406", None),  # a Cyrillic I
        ("", None),
        ("-" * 1000 + "K7QD3MXPW9TR", None),  # too long to read at all
    ],
)
def test_what_a_person_types_is_normalised_or_refused(typed: str, plain: str | None) -> None:
    assert normalize(typed) == plain


def test_the_stored_hash_is_salted_and_only_the_code_matches() -> None:
    code = new_code()
    first, second = hash_code(code), hash_code(code)
    assert first != second  # a new salt each time
    assert first.startswith("scrypt$16384$8$1$")
    assert code.replace("-", "") not in first
    assert code_matches(normalize(code), first)
    assert code_matches(normalize(code.lower()), second)
    assert not code_matches(normalize(new_code()), first)
    assert not code_matches(None, first)
    assert not code_matches(normalize(code), None)
    # A stored value with other parameters or a broken form never matches.
    weaker = first.replace("$16384$", "$1024$")
    assert not code_matches(normalize(code), weaker)
    assert not code_matches(normalize(code), "scrypt$16384$8$1$broken")
    assert not code_matches(normalize(code), "bcrypt$whatever")
    with pytest.raises(InvalidRequest):
        hash_code("not a code")


@pytest.mark.parametrize(
    ("hours", "uses", "ok"),
    [
        (8, 1, True),
        (72, 20, True),
        (0.5, 1, True),
        (0, 1, False),
        (72.1, 1, False),
        (-1, 1, False),
        (8, 0, False),
        (8, 21, False),
    ],
)
def test_lifetime_and_uses_are_bounded(hours: float, uses: int, ok: bool) -> None:
    if ok:
        check_lifetime(hours, uses)
    else:
        with pytest.raises(InvalidRequest, match="temporary access code"):
            check_lifetime(hours, uses)
