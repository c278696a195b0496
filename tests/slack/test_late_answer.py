"""A late answer the response URL refuses comes by direct message.

Past Slack's deadline the person is told "Working on it…" (the request held in the inbox)
or, if the inbox cannot hold it, that the answer follows if it goes through and to send
it again if none comes. Either way the work may commit after the response URL has stopped
taking answers (expired, used up, Slack down for a moment): the answer then goes to the
person's direct messages with the bot, so that nobody sends again what was taken. If Slack
refuses that too, a held request stays in the inbox for the next drain; one that nothing
holds is logged as lost, naming the person.
"""

from __future__ import annotations

import logging
import threading
from datetime import timedelta
from pathlib import Path

import pytest

from bot.inbox import Inbox
from tests.slack.conftest import NOW, SlackBench, direct_messages, payload
from tests.slack.fake_slack import Answer, error, server_error
from tests.slack.test_inbox_failure import FullInbox, slow_work

REPLAYED = NOW + timedelta(minutes=3)  # a lease after the request: taken as abandoned


def expired() -> Answer:
    """What Slack answers on a response URL past its thirty minutes or five posts."""
    return Answer(404, "expired_url")


@pytest.fixture
def unheld(bench: SlackBench, tmp_path: Path) -> SlackBench:
    """The app with an inbox that cannot hold anything (a full disk); every request
    outlives the ack deadline too, so it is told to send it again if nothing comes."""
    bench.slack.deps.inbox = FullInbox(tmp_path / "inbox.db")
    bench.slack.deps.answer_deadline = 0.1
    bench.slack.deps.ack_deadline = 0.3
    return bench


def late_pitch(bench: SlackBench, monkeypatch: pytest.MonkeyPatch, title: str) -> str:
    """Send /pitch, let its work commit only after the ack; what the ack said."""
    go_on = threading.Event()
    slow_work(bench, monkeypatch, until=go_on)
    try:
        ack = str(bench.command(title, response="late").json()["text"])
    finally:
        go_on.set()
    bench.slack.settle()
    return ack


def test_a_held_command_whose_response_url_refuses_is_answered_by_direct_message(
        held: SlackBench, inbox: Inbox, monkeypatch: pytest.MonkeyPatch) -> None:
    held.fake.script("response_url", expired())
    ack = late_pitch(held, monkeypatch, "Muon tomography of a volcano")
    assert ack.startswith("Working on it") and "direct message" in ack
    [answer] = direct_messages(held, "U0DANA")
    assert "Story #1 is pitched" in answer
    assert inbox.pending() == 0  # answered: nothing left to replay or to give up on
    assert [s.title for s in held.stories()] == ["Muon tomography of a volcano"]


def test_a_command_the_inbox_could_not_hold_is_answered_by_direct_message(
        unheld: SlackBench, monkeypatch: pytest.MonkeyPatch) -> None:
    """The ack said: if none comes within a couple of minutes, it was not taken. It was
    taken, so the answer must come, and by DM when the response URL refuses it."""
    unheld.fake.script("response_url", expired())
    ack = late_pitch(unheld, monkeypatch, "Cloud chamber at the open day")
    assert "if none comes within a couple of minutes, it was not taken" in ack
    assert "here or in a direct message" in ack
    [refused] = unheld.fake.calls_to("response_url")
    assert "Story #1 is pitched" in refused.params["text"]
    [answer] = direct_messages(unheld, "U0DANA")
    assert "Story #1 is pitched" in answer
    assert [s.title for s in unheld.stories()] == ["Cloud chamber at the open day"]


def test_an_answer_nothing_could_deliver_or_holds_is_logged_naming_the_person(
        unheld: SlackBench, monkeypatch: pytest.MonkeyPatch,
        caplog: pytest.LogCaptureFixture) -> None:
    unheld.fake.script("response_url", server_error())
    unheld.fake.script("chat.postMessage", server_error())
    with caplog.at_level(logging.ERROR, logger="bot.late_answer"):
        late_pitch(unheld, monkeypatch, "Detector tour for schools")
    [line] = [r.getMessage() for r in caplog.records
              if r.name == "bot.late_answer" and r.levelno >= logging.ERROR]
    assert "not even by direct message" in line and "U0DANA" in line
    assert direct_messages(unheld, "U0DANA") == []
    assert [s.title for s in unheld.stories()] == ["Detector tour for schools"]


def test_a_replayed_command_whose_response_url_expired_is_answered_by_direct_message(
        held: SlackBench, inbox: Inbox) -> None:
    """A process stopped before answering; the next one replays the command after the
    response URL stopped taking answers."""
    command = payload("slash_command.json")
    command.update(text="Lab tour for schools", trigger_id="43.1700000000.dana",
                   user_id="U0DANA", response_url=held.fake.response_url("gone"))
    inbox.hold("slack:command:43.1700000000.dana", "slack", "command", command, NOW)
    held.fake.script("response_url", expired())
    assert inbox.drain(REPLAYED) == 1
    [answer] = direct_messages(held, "U0DANA")
    assert "is pitched" in answer
    assert inbox.pending() == 0
    assert [s.title for s in held.stories()] == ["Lab tour for schools"]


def test_a_late_refusal_of_a_press_comes_by_direct_message_too(
        held: SlackBench, inbox: Inbox, monkeypatch: pytest.MonkeyPatch) -> None:
    """A press answered late with a refusal (the card was stale) whose response URL
    refuses it."""
    assert "is pitched" in held.command("A story to press on").json()["text"]
    [story] = held.stories()
    assert story.id is not None
    go_on = threading.Event()
    slow_work(held, monkeypatch, until=go_on)
    held.fake.script("response_url", error("expired_url", 404))
    try:
        assert held.press("approve", story.id, story.version + 5).text == ""
    finally:
        go_on.set()
    held.slack.settle()
    [refusal] = direct_messages(held, "U0ADA")
    assert f"#{story.id}" in refusal
    assert inbox.pending() == 0
