"""``Lazy``: a value built on first use, once, under a lock.

The factor routes build their repositories this way: a repository needs the KEK (read
from the database) or settings that may be wrong, and neither should stop the service
from starting or slow every request once it is built.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Generic, TypeVar

_T = TypeVar("_T")


class Lazy(Generic[_T]):
    """Calling it returns ``factory()``, built by the first caller only.

    A factory that raises builds nothing: the next call tries again (and a setting that
    is wrong keeps failing the routes that need it, not the service's start).
    """

    __slots__ = ("_built", "_factory", "_lock")

    def __init__(self, factory: Callable[[], _T]) -> None:
        self._factory = factory
        self._lock = threading.Lock()
        self._built: tuple[_T] | None = None

    def __call__(self) -> _T:
        built = self._built
        if built is None:  # double-checked: the lock is taken only until it is built
            with self._lock:
                if self._built is None:
                    self._built = (self._factory(),)
                built = self._built
        return built[0]
