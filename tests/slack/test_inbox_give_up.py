"""A request the inbox gives up on is told to the person who sent it: a direct message
through the Web API (the response URL has expired by then), naming the request, its time
and why it could not be confirmed. The operator's error stays; a message that cannot be
posted either is logged, and never tried again."""

from __future__ import annotations

import json
import logging
import threading
from datetime import timedelta
from typing import Any

import pytest

from bot.inbox import GIVE_UP_AFTER, Inbox
from tests.slack.conftest import NOW, SlackBench, direct_messages, payload
from tests.slack.fake_slack import error, server_error
from tests.slack.test_app import pitch
from tests.slack.test_inbox_failure import slow_work

REPLAYED = NOW + timedelta(minutes=3)  # a lease after the request: taken as abandoned
TOO_LATE = NOW + GIVE_UP_AFTER + timedelta(minutes=1)
TITLE = "Muon tomography of a volcano #outreach -- how cosmic rays see inside"


def command_payload(bench: SlackBench, text: str, trigger: str) -> dict[str, Any]:
    fields = payload("slash_command.json")
    fields.update(text=text, trigger_id=trigger, response_url=bench.fake.response_url("gone"))
    return fields


def test_a_pitch_whose_answer_never_got_through_is_told_by_direct_message(
        held: SlackBench, inbox: Inbox, monkeypatch: pytest.MonkeyPatch,
        caplog: pytest.LogCaptureFixture) -> None:
    """Acknowledged "Working on it…", committed, but Slack refused the late answer and every
    replay's, on the response URL and by direct message alike: after half an hour the person
    hears by DM that it could not be confirmed."""
    go_on = threading.Event()
    slow_work(held, monkeypatch, until=go_on)
    held.fake.script("response_url", server_error(), server_error())  # late, then replayed
    held.fake.script("chat.postMessage", server_error(), server_error())  # their fallbacks
    try:
        ack = held.command(TITLE, response="down").json()
        assert ack["text"].startswith("Working on it")
    finally:
        go_on.set()
    held.slack.settle()
    assert inbox.pending() == 1
    assert inbox.drain(REPLAYED) == 0 and inbox.pending() == 1
    with caplog.at_level(logging.INFO, logger="bot.inbox"):
        assert inbox.drain(TOO_LATE) == 0
    assert inbox.pending() == 0
    assert direct_messages(held, "U0DANA") == [
        ":warning: Storydesk could not confirm your `/pitch Muon tomography of a volcano …` "
        "of 10:30 (its answer could not be delivered). Check with `/story list mine` and "
        "send it again if it is not there."]
    assert [s.title for s in held.stories()] == ["Muon tomography of a volcano"]  # once
    messages = [r.getMessage() for r in caplog.records]
    assert any(m.startswith("gave up on the slack command") for m in messages)
    assert any(m.startswith("told the person behind the slack command") for m in messages)


def test_a_request_nobody_ran_again_in_time_is_not_run_but_told(
        held: SlackBench, inbox: Inbox) -> None:
    """Every process was down for the half hour: the request is not run that late (the
    person may have sent it again); they are told it was interrupted."""
    inbox.hold("slack:command:41.1700000000.dana", "slack", "command",
               command_payload(held, "Lab tour for schools #recruitment", "41.1700000000.dana"),
               NOW)
    assert inbox.drain(TOO_LATE) == 0
    assert direct_messages(held, "U0DANA") == [
        ":warning: Storydesk could not confirm your `/pitch Lab tour for schools "
        "#recruitment` of 10:30 (Storydesk was interrupted before it was done). Check with "
        "`/story list mine` and send it again if it is not there."]
    assert held.stories() == [] and held.fake.calls_to("response_url") == []


def test_a_press_given_up_on_names_the_button_and_the_story(
        held: SlackBench, inbox: Inbox) -> None:
    story = pitch(held)
    press = payload("block_actions.json")
    press["actions"][0].update(
        action_id="story_approve", text={"type": "plain_text", "text": "Approve"},
        value=json.dumps({"story_id": story.id, "version": story.version}))
    inbox.hold("slack:action:U0ADA:1700000100.123456:approve", "slack", "interaction",
               press, NOW)
    inbox.drain(TOO_LATE)
    assert direct_messages(held, "U0ADA") == [
        f":warning: Storydesk could not confirm your press of `Approve` on story "
        f"#{story.id} of 10:30 (Storydesk was interrupted before it was done). Check with "
        f"`/story show {story.id}` and press the button again if it did not take effect."]


def test_a_pitch_form_given_up_on_is_named_by_its_title(
        held: SlackBench, inbox: Inbox) -> None:
    form = payload("view_submission_pitch.json")
    form["view"]["state"]["values"]["title"]["value"]["value"] = "A night in the control room"
    inbox.hold("slack:view:V0PITCH:h1", "slack", "interaction", form, NOW)
    inbox.drain(TOO_LATE)
    user = form["user"]["id"]
    assert direct_messages(held, user) == [
        ":warning: Storydesk could not confirm your pitch `A night in the control room` of 10:30 "
        "(Storydesk was interrupted before it was done). Check with `/story list mine` and "
        "send it again if it is not there."]


def test_a_direct_message_slack_refuses_too_is_logged_and_not_tried_again(
        held: SlackBench, inbox: Inbox, caplog: pytest.LogCaptureFixture) -> None:
    held.fake.script("chat.postMessage", error("channel_not_found"))
    inbox.hold("slack:command:42.1700000000.dana", "slack", "command",
               command_payload(held, "Open day #recruitment", "42.1700000000.dana"), NOW)
    with caplog.at_level(logging.ERROR, logger="bot.inbox"):
        inbox.drain(TOO_LATE)
        inbox.drain(TOO_LATE + timedelta(minutes=5))
    assert len(held.fake.calls_to("chat.postMessage")) == 1
    assert inbox.pending() == 0
    [error_line] = [r.getMessage() for r in caplog.records
                    if r.getMessage().startswith("could not tell")]
    assert "slack:command:42.1700000000.dana" in error_line
