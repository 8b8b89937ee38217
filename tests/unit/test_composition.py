"""``composition.Lazy``: built by the first caller only, retried after a failure."""

from __future__ import annotations

import threading
import time

import pytest

from tokenstile.composition import Lazy


def test_built_once_and_shared() -> None:
    built: list[object] = []

    def factory() -> object:
        built.append(object())
        return built[-1]

    value = Lazy(factory)
    assert built == []
    first = value()
    assert value() is first
    assert built == [first]


def test_concurrent_first_callers_build_once() -> None:
    calls = 0

    def slow() -> list[int]:
        nonlocal calls
        calls += 1
        time.sleep(0.05)
        return [calls]

    value = Lazy(slow)
    start = threading.Barrier(8)
    seen: list[list[int]] = []

    def call() -> None:
        start.wait()
        seen.append(value())

    threads = [threading.Thread(target=call) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert calls == 1
    assert len(seen) == 8
    assert all(result is seen[0] for result in seen)


def test_a_failing_factory_builds_nothing_and_is_tried_again() -> None:
    attempts = 0

    def flaky() -> str:
        nonlocal attempts
        attempts += 1
        if attempts == 1:
            raise RuntimeError("a wrong setting")
        return "built"

    value = Lazy(flaky)
    with pytest.raises(RuntimeError, match="a wrong setting"):
        value()
    assert value() == "built"
    assert value() == "built"
    assert attempts == 2


def test_none_is_a_value_too() -> None:
    calls = 0

    def nothing() -> None:
        nonlocal calls
        calls += 1

    value = Lazy(nothing)
    assert value() is None
    assert value() is None
    assert calls == 1
