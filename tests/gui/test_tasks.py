"""The worker tasks of the kiosk and the console, with real Qt: outcomes come back on the
GUI thread, a question blocks only the worker, cancel ends a wait, a closed widget hears
nothing, and a one-thread runner keeps the order its tasks were started in."""

from __future__ import annotations

import threading

from PySide6.QtWidgets import QWidget
from pytestqt.qtbot import QtBot

from tokenstile.kiosk.tasks import TaskContext, TaskRunner


def test_outcomes_and_questions_reach_the_gui_thread(qtbot: QtBot) -> None:
    runner = TaskRunner()
    seen: list[tuple[str, object, bool]] = []
    main = threading.main_thread()

    def work(ctx: TaskContext) -> str:
        assert threading.current_thread() is not main
        ctx.say("working")
        pin = ctx.ask("pin", 3)
        return f"got {pin}"

    def on_prompt(kind: str, payload: object) -> None:
        seen.append((kind, payload, threading.current_thread() is main))
        task.answer("1234")

    task = runner.start(
        work,
        on_done=lambda result: seen.append(("done", result, threading.current_thread() is main)),
        on_prompt=on_prompt,
        on_progress=lambda text: seen.append(("say", text, threading.current_thread() is main)),
    )
    qtbot.waitUntil(lambda: len(seen) == 3, timeout=5_000)
    assert seen == [("say", "working", True), ("pin", 3, True), ("done", "got 1234", True)]
    qtbot.waitUntil(lambda: not runner.busy, timeout=5_000)


def test_cancel_ends_a_question_and_the_failure_is_reported(qtbot: QtBot) -> None:
    runner = TaskRunner()
    failures: list[BaseException] = []
    answers: list[object] = []

    def work(ctx: TaskContext) -> None:
        answers.append(ctx.ask("pin"))
        raise RuntimeError("stopped")

    task = runner.start(
        work, on_prompt=lambda _kind, _payload: task.cancel(), on_error=failures.append
    )
    qtbot.waitUntil(lambda: bool(failures), timeout=5_000)
    assert answers == [None]
    assert task.cancel_event.is_set()
    assert isinstance(failures[0], RuntimeError)


def test_ask_text_gives_only_text(qtbot: QtBot) -> None:
    runner = TaskRunner()
    answers: list[str | None] = []
    given: list[object] = ["1234", 1234]

    def work(ctx: TaskContext) -> None:
        answers.append(ctx.ask_text("pin", "first"))
        answers.append(ctx.ask_text("pin"))

    task = runner.start(work, on_prompt=lambda _kind, _payload: task.answer(given.pop(0)))
    qtbot.waitUntil(lambda: len(answers) == 2, timeout=5_000)
    assert answers == ["1234", None]
    qtbot.waitUntil(lambda: not runner.busy, timeout=5_000)


def test_a_closed_owner_hears_nothing(qtbot: QtBot) -> None:
    runner = TaskRunner()
    owner = QWidget()
    release = threading.Event()
    heard: list[object] = []
    task = runner.start(
        lambda _ctx: release.wait(5),
        on_done=heard.append,
        on_end=lambda: heard.append("end"),
        owner=owner,
    )
    owner.deleteLater()
    qtbot.waitUntil(lambda: not isValid(owner), timeout=5_000)
    release.set()
    # Once the end is handled, the outcome (queued before it) was delivered to nobody.
    qtbot.waitUntil(lambda: task.done.is_set() and runner.pending == 0, timeout=5_000)
    assert heard == []


def isValid(obj: object) -> bool:  # noqa: N802 - shiboken's name
    import shiboken6

    return bool(shiboken6.isValid(obj))


def test_one_thread_keeps_the_order(qtbot: QtBot) -> None:
    runner = TaskRunner(threads=1)
    seen: list[int] = []
    for number in range(5):
        runner.start(lambda _ctx, n=number: seen.append(n))  # type: ignore[misc]
    assert runner.wait(5_000)
    assert seen == [0, 1, 2, 3, 4]
