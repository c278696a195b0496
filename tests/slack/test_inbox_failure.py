"""A request past the answer deadline that the inbox cannot hold is never acknowledged as
safe: it is answered in the ack if the work finishes before Slack's last moment, and told
plainly what is not yet certain if it does not; the operator sees the cause once, and
/metrics counts every request it touched."""

from __future__ import annotations

import logging
import sqlite3
import threading
import time
from functools import partial
from pathlib import Path
from typing import Any

import pytest

from bot.inbox import Inbox
from bot.metrics import Metrics
from tests.slack.conftest import SlackBench

DISK_FULL = "database or disk is full"


class FullInbox(Inbox):
    """An inbox whose disk has filled up: every hold fails as SQLite reports it."""

    def __init__(self, path: Path) -> None:
        super().__init__(path)
        self.failure: Exception | None = sqlite3.OperationalError(DISK_FULL)
        self.tried = threading.Event()  # a hold was attempted (and failed)

    def hold(self, *args: Any, **kwargs: Any) -> int | None:
        self.tried.set()
        if self.failure is not None:
            raise self.failure
        return super().hold(*args, **kwargs)


def slow_work(bench: SlackBench, monkeypatch: pytest.MonkeyPatch,
              until: threading.Event) -> None:
    """Commands and presses start their transaction only once `until` is set."""
    for name in ("run_request", "press"):
        real = getattr(bench.runner, name)

        def waiting(*args: Any, _real: Any = real, **kwargs: Any) -> Any:
            assert until.wait(10), "the test never let the work go on"
            return _real(*args, **kwargs)

        monkeypatch.setattr(bench.runner, name, waiting)


def count_failures(bench: SlackBench) -> Metrics:
    """The app counting into a registry of its own, as the runtime wires it."""
    metrics = Metrics()
    bench.slack.deps.count_inbox_failure = partial(metrics.count_inbox_write_failure, "slack")
    return metrics


def failures(metrics: Metrics, error: str = "OperationalError") -> float | None:
    return metrics.registry.get_sample_value(
        "storydesk_inbox_write_failures_total", {"platform": "slack", "error": error})


@pytest.fixture
def full_inbox(bench: SlackBench, tmp_path: Path) -> FullInbox:
    inbox = FullInbox(tmp_path / "inbox.db")
    bench.slack.deps.inbox = inbox
    bench.slack.deps.answer_deadline = 0.1
    return inbox


def test_work_done_before_the_last_moment_is_answered_in_the_ack(
        bench: SlackBench, full_inbox: FullInbox, monkeypatch: pytest.MonkeyPatch) -> None:
    """The work finishes after the answer deadline, once the inbox has failed: the person
    gets the answer itself, not a promise."""
    bench.slack.deps.ack_deadline = 10.0  # the work is over long before
    metrics = count_failures(bench)
    slow_work(bench, monkeypatch, until=full_inbox.tried)
    ack = bench.command("Pitched past the deadline", response="past")
    assert "Story #1 is pitched" in ack.json()["text"]
    bench.settle()
    assert bench.fake.calls_to("response_url") == []  # answered once, in the ack
    assert [s.title for s in bench.stories()] == ["Pitched past the deadline"]
    assert failures(metrics) == 1.0


def test_work_still_running_gets_honest_words_then_the_late_answer(
        bench: SlackBench, full_inbox: FullInbox, monkeypatch: pytest.MonkeyPatch) -> None:
    bench.slack.deps.ack_deadline = 0.3
    metrics = count_failures(bench)
    go_on = threading.Event()
    slow_work(bench, monkeypatch, until=go_on)
    try:
        ack = bench.command("Pitched while the inbox was full", response="full").json()
    finally:
        go_on.set()
    assert not ack["text"].startswith("Working on it")
    assert ack["text"].startswith("This is taking longer than usual.")
    assert "if none comes within a couple of minutes, it was not taken" in ack["text"]
    assert ack["response_type"] == "ephemeral"
    [late] = bench.fake.wait_for("response_url", timeout=30)
    assert "Story #1 is pitched" in late.params["text"]
    bench.settle()
    assert [s.title for s in bench.stories()] == ["Pitched while the inbox was full"]
    assert failures(metrics) == 1.0


def test_a_press_the_inbox_cannot_hold_is_told_to_press_again_if_nothing_comes(
        bench: SlackBench, full_inbox: FullInbox, monkeypatch: pytest.MonkeyPatch) -> None:
    assert "is pitched" in bench.command("A story to press on").json()["text"]
    [story] = bench.stories()
    assert story.id is not None
    bench.slack.deps.ack_deadline = 0.3
    go_on = threading.Event()
    slow_work(bench, monkeypatch, until=go_on)
    try:
        assert bench.press("approve", story.id, story.version, response="press").text == ""
        [note] = bench.fake.wait_for("response_url", timeout=30)
    finally:
        go_on.set()
    assert note.params["text"].startswith("This is taking longer than usual.")
    assert "press the button again" in note.params["text"]
    bench.settle()


def test_each_kind_of_failure_is_logged_once_until_the_inbox_works_again(
        bench: SlackBench, full_inbox: FullInbox, monkeypatch: pytest.MonkeyPatch,
        caplog: pytest.LogCaptureFixture) -> None:
    bench.slack.deps.ack_deadline = 10.0
    metrics = count_failures(bench)
    slow_work(bench, monkeypatch, until=full_inbox.tried)

    def pitch(title: str, answer: str = "is pitched") -> None:
        full_inbox.tried.clear()
        assert answer in bench.command(title).json()["text"]

    def errors() -> list[logging.LogRecord]:
        return [r for r in caplog.records if r.levelno >= logging.ERROR]

    with caplog.at_level(logging.INFO, logger="bot.inbox"):
        pitch("First while full")
        pitch("Second while full")
        [error] = errors()
        message = error.getMessage()
        assert full_inbox.path in message and DISK_FULL in message  # which file, and why
        assert error.exc_info is not None
        full_inbox.failure = PermissionError(13, "Permission denied")
        pitch("Third, another failure")
        assert len(errors()) == 2  # a new kind of failure is reported
        full_inbox.failure = None
        pitch("Fourth, the disk has room again", "Working on it")  # held, promise kept
        full_inbox.failure = sqlite3.OperationalError(DISK_FULL)
        pitch("Fifth, full once more")
    assert len(errors()) == 3  # after a recovery, the same failure is news again
    assert any("holds slack requests again" in r.getMessage() for r in caplog.records)
    assert failures(metrics) == 3.0
    assert failures(metrics, "PermissionError") == 1.0
    bench.settle()


def test_a_locked_inbox_gives_up_in_time_for_slack(
        bench: SlackBench, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Another process holds the inbox file's write lock: the hold stops waiting at the ack
    deadline rather than after the file's ten-second busy timeout."""
    inbox = Inbox(tmp_path / "inbox.db")
    bench.slack.deps.inbox = inbox
    bench.slack.deps.answer_deadline = 0.1
    bench.slack.deps.ack_deadline = 0.5
    metrics = count_failures(bench)
    locker = sqlite3.connect(inbox.path, isolation_level=None, check_same_thread=False)
    locker.execute("BEGIN IMMEDIATE")
    go_on = threading.Event()
    slow_work(bench, monkeypatch, until=go_on)
    try:
        started = time.monotonic()
        ack = bench.command("Pitched while the inbox was locked").json()
        took = time.monotonic() - started
    finally:
        go_on.set()
        locker.execute("ROLLBACK")
        locker.close()
    assert took < 3.0  # Slack's limit; before, the hold alone waited ten seconds
    assert ack["text"].startswith("This is taking longer than usual.")
    assert failures(metrics) == 1.0
    bench.settle()
    assert inbox.pending() == 0
