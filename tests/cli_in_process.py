"""``tokenstile`` commands run by the CLI's own ``main`` inside the test process.

A ``tokenstile`` process costs one to two seconds before it does anything (the interpreter
and the imports), which is what a test pays for every step it runs that way. Where the
process itself is not what a test is about (a loop of ``manage`` steps against the same
database), :func:`run_tokenstile` runs the same ``main`` with the same arguments and
environment, and answers like :func:`subprocess.run` does: the exit status and what the
command wrote to stdout and stderr. Each command keeps at least one test that runs it as
a real process.
"""

from __future__ import annotations

import contextlib
import io
import logging
import subprocess
import sys

import pytest

from tokenstile.cli.main import main


def run_tokenstile(
    *args: str, stdin: str | None = None, **env: str
) -> subprocess.CompletedProcess[str]:
    """``tokenstile *args`` with ``env`` added to the environment, in this process."""
    out, err = io.StringIO(), io.StringIO()
    root = logging.getLogger()
    handlers, level = root.handlers[:], root.level
    with pytest.MonkeyPatch.context() as patch:
        for name, value in env.items():
            patch.setenv(name, value)
        patch.setattr(sys, "stdin", io.StringIO(stdin or ""))
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
            try:
                status = main(list(args))
            except SystemExit as exc:  # argparse's refusals, as the process would exit
                status = exc.code if isinstance(exc.code, int) else 1
            finally:
                # ``main`` sets up logging for a process of its own: undo it for the tests.
                root.handlers[:] = handlers
                root.setLevel(level)
    return subprocess.CompletedProcess(
        ["tokenstile", *args], status, out.getvalue(), err.getvalue()
    )
