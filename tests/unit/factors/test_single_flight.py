"""``factors.single_flight``: callers of one key at once share one call, its result or its
error; different keys and later callers call again."""

from __future__ import annotations

import threading
import time

import pytest

from tokenstile.factors.single_flight import SingleFlight


def _joined(flight: SingleFlight[int], count: int) -> None:
    deadline = time.monotonic() + 30
    while flight.waiting < count:
        assert time.monotonic() < deadline, "the callers did not join the running call"
        time.sleep(0.01)


def _share(flight: SingleFlight[int], outcome: BaseException | int) -> list[object]:
    """Four callers of one key while the first one's call is held open."""
    started, release = threading.Event(), threading.Event()
    calls: list[int] = []
    results: list[object] = []

    def call() -> int:
        calls.append(1)
        started.set()
        assert release.wait(30)
        if isinstance(outcome, BaseException):
            raise outcome
        return outcome

    def caller() -> None:
        try:
            results.append(flight.run("source", call))
        except RuntimeError as exc:
            results.append(exc)

    threads = [threading.Thread(target=caller) for _ in range(4)]
    threads[0].start()
    assert started.wait(30)
    for thread in threads[1:]:
        thread.start()
    _joined(flight, 3)
    release.set()
    for thread in threads:
        thread.join(30)
    assert len(calls) == 1
    assert flight.waiting == 0
    return results


def test_callers_at_once_share_one_result() -> None:
    assert _share(SingleFlight(), 7) == [7, 7, 7, 7]


def test_callers_at_once_share_one_error() -> None:
    failure = RuntimeError("responder down")
    assert _share(SingleFlight(), failure) == [failure] * 4


def test_later_callers_and_other_keys_call_again() -> None:
    flight: SingleFlight[int] = SingleFlight()
    calls: list[str] = []

    def call(key: str) -> int:
        calls.append(key)
        return len(calls)

    assert flight.run("a", lambda: call("a")) == 1
    assert flight.run("a", lambda: call("a")) == 2
    assert flight.run("b", lambda: call("b")) == 3
    with pytest.raises(ZeroDivisionError):
        flight.run("a", lambda: 1 // 0)
    assert flight.run("a", lambda: call("a")) == 4  # a failed call is not kept either
