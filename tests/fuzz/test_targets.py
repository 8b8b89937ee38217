"""Each atheris fuzz target (``targets.py``) for a few seconds, from its seed corpus, in a
process of its own (libFuzzer ends the process it runs in). ``make fuzz`` runs longer."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from tests.fuzz.targets import TARGETS, write_seeds

SECONDS = 3


@pytest.mark.parametrize("target", sorted(TARGETS))
def test_the_fuzz_target_finds_no_crash(target: str, tmp_path: Path) -> None:
    write_seeds(tmp_path / "corpus")
    run = subprocess.run(
        [
            sys.executable,
            "-m",
            "tests.fuzz.targets",
            target,
            str(tmp_path / "corpus" / target),
            f"-max_total_time={SECONDS}",
            "-seed=1",
            f"-artifact_prefix={tmp_path}/",
        ],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    crashes = sorted(p.name for p in tmp_path.iterdir() if p.name.startswith("crash-"))
    assert (run.returncode, crashes) == (0, []), run.stderr[-3000:]
    assert "Done " in run.stderr  # libFuzzer ran and finished
