"""Requests left in the inbox are replayed by the next drain: run here and now, and the entry
is kept until the work has committed and its answer is given."""

from __future__ import annotations

import json
import threading
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest

from bot.inbox import Inbox
from tests.slack.conftest import NOW, SlackBench, payload
from tests.slack.fake_slack import server_error
from tests.slack.test_app import move_to_review, pitch, story_version
from tests.slack.test_inbox_failure import slow_work

# A lease (two minutes) after the request arrived: whoever held it is taken to have stopped.
LATER = NOW + timedelta(minutes=3)


@pytest.fixture
def inbox(bench: SlackBench, tmp_path: Path) -> Inbox:
    """The inbox, drained by this app as the runtime wires it."""
    inbox = Inbox(tmp_path / "inbox.db")
    bench.slack.deps.inbox = inbox
    bench.slack.deps.answer_deadline = 0.1
    inbox.register("slack", "command", bench.slack.listeners.replay_command)
    inbox.register("slack", "interaction", bench.slack.listeners.replay_interaction)
    return inbox


def approve_press(bench: SlackBench, story_id: int, version: int,
                  response: str = "replay") -> dict[str, Any]:
    """A coordinator's press of Approve, as Slack sent it."""
    data = payload("block_actions.json")
    data["user"].update(id="U0ADA", username="ada", name="ada")
    data["response_url"] = bench.fake.response_url(response)
    data["actions"][0].update(action_id="story_approve", action_ts="1700000100.654321",
                              value=json.dumps({"story_id": story_id, "version": version}))
    return data


def a_story_in_review(bench: SlackBench) -> tuple[int, int]:
    story = pitch(bench)
    assert story.id is not None
    move_to_review(bench, story.id)
    return story.id, story_version(bench, story.id)


def test_a_replayed_press_slower_than_the_deadline_is_done_only_once_committed(
        bench: SlackBench, inbox: Inbox, monkeypatch: pytest.MonkeyPatch) -> None:
    """The replay runs the work itself rather than through the listener: past the answer
    deadline, the listener would find its own entry in the inbox, take it as held, and
    the drain would forget the entry while the work still ran."""
    story_id, version = a_story_in_review(bench)
    inbox.hold("slack:action:U0ADA:1700000100.654321:approve", "slack", "interaction",
               approve_press(bench, story_id, version), NOW)
    started, go_on = threading.Event(), threading.Event()
    real = bench.runner.press

    def slow_press(*args: Any, **kwargs: Any) -> Any:
        started.set()
        assert go_on.wait(10), "the test never let the work go on"
        return real(*args, **kwargs)

    monkeypatch.setattr(bench.runner, "press", slow_press)
    drain = threading.Thread(target=inbox.drain, args=(LATER,))
    drain.start()
    try:
        assert started.wait(10)
        drain.join(timeout=1.0)  # ten times the answer deadline
        assert drain.is_alive()  # still running the work, not done with the entry
        assert inbox.pending() == 1
    finally:
        go_on.set()
        drain.join(timeout=10)
    assert inbox.pending() == 0
    assert bench.stories()[0].state == "scheduled"
    bench.settle()
    assert "approved" in bench.responses("replay")[0]["text"]


def test_a_late_answer_that_could_not_be_posted_stays_until_a_drain_posts_it(
        bench: SlackBench, inbox: Inbox, monkeypatch: pytest.MonkeyPatch) -> None:
    """The work commits while Slack is down (its response_url and its Web API, so no direct
    message either): the entry is kept, and the next drain finds the committed copy and posts
    the reply stored with it, once it gets through."""
    go_on = threading.Event()
    slow_work(bench, monkeypatch, until=go_on)
    bench.fake.script("response_url", server_error(), server_error())  # the late one, a drain's
    bench.fake.script("chat.postMessage", server_error(), server_error())  # their fallbacks
    try:
        ack = bench.command("Pitched while Slack was down", response="down").json()
        assert ack["text"].startswith("Working on it")
    finally:
        go_on.set()
    bench.slack.settle()
    assert inbox.pending() == 1  # the answer did not get through: still owed
    assert inbox.drain(LATER) == 0 and inbox.pending() == 1
    assert inbox.drain(LATER) == 0  # tried again only once its lease has run out
    assert inbox.drain(LATER + timedelta(minutes=3)) == 1 and inbox.pending() == 0
    tries = bench.fake.calls_to("response_url")
    assert len(tries) == 3
    assert all("Story #1 is pitched" in call.params["text"] for call in tries)
    assert [s.title for s in bench.stories()] == ["Pitched while Slack was down"]  # once
