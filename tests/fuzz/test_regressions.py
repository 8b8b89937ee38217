"""Inputs the fuzz targets once crashed on, kept as plain tests."""

from __future__ import annotations

from pathlib import Path

import pytest

from tokenstile.factors.pskc_import import import_pskc

DATA = Path(__file__).resolve().parent.parent / "unit" / "factors" / "data"


@pytest.mark.parametrize(
    ("date", "bad"),
    [
        # atheris, pskc target: dateutil raised OverflowError (a year too large) and
        # decimal.InvalidOperation (a minute with 90 digits); the import let both through.
        ("2006-05-31T00:00:00Z", "20" + "4" * 60 + "6-05-31T00:00:00Z"),
        ("2006-05-31T00:00:00Z", "2006-05-31T00:0" + "8" * 90 + "0:00Z"),
    ],
)
def test_a_pskc_date_dateutil_cannot_read_is_a_problem_not_a_crash(date: str, bad: str) -> None:
    sample = (DATA / "rfc6030-figure10.pskcxml").read_text()
    assert date in sample
    result = import_pskc(sample.replace(date, bad, 1).encode(), now=1_800_000_000.0)
    assert (result.keys, result.packages) == ((), 0)
    assert "a value cannot be read" in result.describe()
