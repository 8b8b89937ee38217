"""Real pcscd with the vpcd driver, the fixture the PC/SC and PIV integration tests use
(pcscd started here when the machine does not run one)."""

from __future__ import annotations

from tests.integration.pcsc.conftest import pcscd

__all__ = ["pcscd"]
