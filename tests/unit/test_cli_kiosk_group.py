"""``tokenstile manage kiosk-group``: groups and their shift length, which group a kiosk is
in, and the sentences for every bad input (tap-and-go, issue 17)."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.unit.test_cli import run


@pytest.fixture
def db(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> str:
    url = f"sqlite:///{tmp_path / 'cli.db'}"
    assert run(capsys, "manage", "--db", url, "init")[0] == 0
    return url


def group(capsys: pytest.CaptureFixture[str], db: str, *args: str) -> tuple[int, str, str]:
    return run(capsys, "manage", "--db", db, "kiosk-group", *args)


def test_a_kiosk_joins_a_group_with_a_shift_and_leaves_it(
    capsys: pytest.CaptureFixture[str], db: str
) -> None:
    assert group(capsys, db, "set", "ward-3", "--shift-hours", "8")[:2] == (
        0,
        "kiosk group ward-3: shift 8 h\n",
    )
    assert group(capsys, db, "assign", "tokenstile-kiosk", "ward-3")[:2] == (
        0,
        "tokenstile-kiosk: kiosk group ward-3\n",
    )
    assert group(capsys, db, "list")[:2] == (0, "ward-3\t8\ttokenstile-kiosk\t0 open shifts\n")
    assert group(capsys, db, "set", "ward-3", "--shift-hours", "0")[1] == (
        "kiosk group ward-3: tap-and-go off\n"
    )
    assert group(capsys, db, "assign", "tokenstile-kiosk", "--none")[1] == (
        "tokenstile-kiosk: no group\n"
    )
    assert group(capsys, db, "list")[1] == "ward-3\t0\t-\t0 open shifts\n"


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("set", "ward", "--shift-hours", "25"), "A shift is 0 (tap-and-go off) to 24 hours long."),
        (("set", "ward", "--shift-hours", "-1"), "A shift is 0 (tap-and-go off) to 24 hours long."),
        (("set", " ward", "--shift-hours", "8"), "A kiosk group's name is 1 to 64 printable"),
        (("assign", "tokenstile-kiosk", "nowhere"), "No kiosk group is named 'nowhere'."),
        (("assign", "nobody", "--none"), "No client has the id 'nobody'."),
    ],
)
def test_bad_input_is_one_sentence(
    capsys: pytest.CaptureFixture[str], db: str, args: tuple[str, ...], message: str
) -> None:
    code, out, err = group(capsys, db, *args)
    assert (code, out) == (1, "")
    assert err.startswith(f"tokenstile: {message}")


def test_assign_needs_a_group_or_none(capsys: pytest.CaptureFixture[str], db: str) -> None:
    with pytest.raises(SystemExit) as exit_:
        group(capsys, db, "assign", "tokenstile-kiosk")
    assert exit_.value.code == 2
    assert "one of the arguments group --none is required" in capsys.readouterr().err
