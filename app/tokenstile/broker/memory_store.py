"""A :class:`~tokenstile.broker.store.SessionStore` that keeps the session in memory only."""

from __future__ import annotations


class MemorySessionStore:
    """A session store in this process's memory: what the demo falls back to when the
    machine has no keychain (other programs then cannot see the session), and what tests
    and benchmarks use for a broker whose session no other process needs."""

    def __init__(self) -> None:
        self._document: str | None = None

    @property
    def location(self) -> str:
        return "memory (kiosk demo)"

    def load(self) -> str | None:
        return self._document

    def save(self, document: str) -> None:
        self._document = document

    def clear(self) -> None:
        self._document = None
