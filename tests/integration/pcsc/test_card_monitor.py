"""Card insert and remove events from real pcscd, as the kiosk will receive them."""

from __future__ import annotations

import queue
import threading
import time

import pytest

from tests.integration.pcsc.conftest import READERS, Pcscd, VpcdSlot
from tokenstile.devices.monitor import CardEvent, CardEventKind, CardMonitor
from tokenstile.virtual.piv_provision import create_piv_card
from tokenstile.virtual.vpcd import DEFAULT_ATR

pytestmark = pytest.mark.pcsc


class Events:
    """The callback: records each event and the thread it arrived on."""

    def __init__(self) -> None:
        self.queue: queue.Queue[CardEvent] = queue.Queue()
        self.threads: set[str] = set()

    def __call__(self, event: CardEvent) -> None:
        self.threads.add(threading.current_thread().name)
        self.queue.put(event)

    def next(self, kind: CardEventKind, reader: str, timeout: float = 10) -> CardEvent:
        """The next event of ``kind`` for ``reader``; events for other readers (another
        test run may use them) are skipped, others for ours fail the test."""
        deadline = time.monotonic() + timeout
        while True:
            remaining = deadline - time.monotonic()
            try:
                event = self.queue.get(timeout=max(remaining, 0.01))
            except queue.Empty:
                pytest.fail(f"no {kind.value} event for {reader} within {timeout} s")
            if event.reader != reader:
                continue
            assert event.kind is kind, event
            return event

    def nothing_for(self, reader: str, seconds: float) -> None:
        deadline = time.monotonic() + seconds
        while (remaining := deadline - time.monotonic()) > 0:
            try:
                event = self.queue.get(timeout=remaining)
            except queue.Empty:
                return
            assert event.reader != reader, event


def test_insert_and_remove_events(vpcd_slot: VpcdSlot) -> None:
    events = Events()
    with CardMonitor(events) as monitor:
        assert monitor.ready.wait(5)
        events.next(CardEventKind.READER_ADDED, READERS[0])
        events.nothing_for(READERS[0], 0.3)

        inserted = vpcd_slot(create_piv_card())
        event = events.next(CardEventKind.CARD_INSERTED, READERS[0])
        assert event.atr == DEFAULT_ATR
        assert monitor.cards()[READERS[0]] == DEFAULT_ATR

        inserted.pull()
        assert events.next(CardEventKind.CARD_REMOVED, READERS[0]).atr == DEFAULT_ATR
        assert READERS[0] not in monitor.cards()

        inserted.push()
        events.next(CardEventKind.CARD_INSERTED, READERS[0])
    assert events.threads == {"card-monitor"}


def test_a_card_already_in_the_reader_is_reported(vpcd_slot: VpcdSlot) -> None:
    vpcd_slot(create_piv_card(), reader=1)
    events = Events()
    with CardMonitor(events):
        events.next(CardEventKind.READER_ADDED, READERS[1])
        events.next(CardEventKind.CARD_INSERTED, READERS[1])


def test_stop_is_prompt_and_start_works_again(pcscd: Pcscd) -> None:
    monitor = CardMonitor(Events())
    for attempt in range(6):
        monitor.start()
        assert monitor.ready.wait(5)
        if attempt % 2:
            time.sleep(0.1)  # by now blocked in SCardGetStatusChange
        started = time.monotonic()
        monitor.stop()
        assert time.monotonic() - started < 1
        assert not monitor.running


def test_a_failing_callback_does_not_stop_the_monitor(vpcd_slot: VpcdSlot) -> None:
    events = Events()

    def callback(event: CardEvent) -> None:
        events(event)
        if event.kind is CardEventKind.CARD_INSERTED:
            raise RuntimeError("receiver bug")

    with CardMonitor(callback):
        events.next(CardEventKind.READER_ADDED, READERS[0])
        inserted = vpcd_slot(create_piv_card())
        events.next(CardEventKind.CARD_INSERTED, READERS[0])
        inserted.pull()
        events.next(CardEventKind.CARD_REMOVED, READERS[0])
