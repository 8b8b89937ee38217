"""Fixtures for the PIV integration tests: real pcscd + vpcd (shared with the PC/SC
tests), and a database on SQLite or a real PostgreSQL."""

from __future__ import annotations

# Real pcscd with the vpcd driver (started here when the machine does not run one), and
# the vpcd readers, held per test: the same fixtures the PC/SC tests use; and the store
# tests' database on SQLite and on PostgreSQL.
from tests.integration.pcsc.conftest import pcscd, vpcd_slot
from tests.integration.store.conftest import db_url

__all__ = ["db_url", "pcscd", "vpcd_slot"]
