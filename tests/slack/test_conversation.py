"""Slack events through bolt against the fake Web API: a direct message is a command, an
@-mention gets the short help, retries and bots are ignored; over HTTP and Socket Mode.
Also the buttons on reminder DMs, which the author (not a coordinator) may press."""

from __future__ import annotations

import copy
import json
import time
from typing import Any

from sqlalchemy.engine import Engine
from sqlmodel import select

from bot.runtime import build_runtime
from bot.slack.service import socket_mode_starter
from storage.db import read_session
from storage.delivery import ReminderSnooze
from storage.models import Member, Outbound
from storage.requests import HandledRequest
from tests.slack.conftest import SlackBench, payload, signature
from tests.slack.fake_slack import FakeSlack, server_error
from tests.slack.test_app import pitch
from tests.slack.test_service import slack_settings
from tests.slack.test_socket_mode import APP_TOKEN, SlackSocket
from tests.slack.test_socket_mode import slack_socket as slack_socket  # the fixture


def send_event(bench: SlackBench, data: dict[str, Any], retry: int | None = None) -> int:
    body = json.dumps(data)
    timestamp = int(time.time())
    headers = {"Content-Type": "application/json",
               "X-Slack-Request-Timestamp": str(timestamp),
               "X-Slack-Signature": signature(body, timestamp)}
    if retry is not None:
        headers["X-Slack-Retry-Num"] = str(retry)
        headers["X-Slack-Retry-Reason"] = "http_timeout"
    status = bench.post(body, headers).status_code
    bench.settle()  # the answer is posted after the acknowledgement
    return status


def dm(text: str, event_id: str = "Ev0DM0000001", user: str = "U0DANA",
       **changes: Any) -> dict[str, Any]:
    data = payload("event_message_im.json")
    data["event_id"] = event_id
    data["event"].update(text=text, user=user, **changes)
    return data


def posts_to(fake: FakeSlack, channel: str) -> list[dict[str, Any]]:
    return [call.params for call in fake.calls_to("chat.postMessage")
            if call.params.get("channel") == channel]


def test_a_direct_message_is_read_as_a_story_command(bench: SlackBench) -> None:
    story = pitch(bench, "Muon tomography of a pyramid #scicomm")
    assert send_event(bench, dm("list mine")) == 200
    [answer] = posts_to(bench.fake, "D0DANA")
    assert "Muon tomography of a pyramid" in json.dumps(answer["blocks"])
    assert send_event(bench, dm(f"snooze {story.id} 2", "Ev0DM0000002")) == 200
    assert len(posts_to(bench.fake, "D0DANA")) == 2
    assert "Snoozed: no reminders about story #1 until Wednesday 25 November" in \
        posts_to(bench.fake, "D0DANA")[-1]["text"]
    with read_session(bench.engine) as session:
        assert len(session.exec(select(ReminderSnooze)).all()) == 1


def test_a_retried_event_is_neither_run_nor_answered_twice(bench: SlackBench) -> None:
    story = pitch(bench)
    event = dm(f"snooze {story.id} 3", "Ev0DMRETRY01")
    assert send_event(bench, event) == 200
    assert send_event(bench, event, retry=1) == 200
    assert send_event(bench, event, retry=2) == 200
    assert len(posts_to(bench.fake, "D0DANA")) == 1
    with read_session(bench.engine) as session:
        assert len(session.exec(select(ReminderSnooze)).all()) == 1
        handled = session.get(HandledRequest, "slack:event:Ev0DMRETRY01")
        assert handled is not None and handled.platform == "slack"


def test_an_answer_slack_refuses_waits_in_the_outbox_and_is_delivered_once(
        bench: SlackBench) -> None:
    """The snooze committed, Slack then refused its answer: the answer is queued as Dana's
    direct message (settle() sends what is queued as the dispatcher would)."""
    story = pitch(bench)
    bench.fake.script("chat.postMessage", server_error(503))
    assert send_event(bench, dm(f"snooze {story.id} 2", "Ev0DMDOWN001")) == 200
    with read_session(bench.engine) as session:
        [row] = session.exec(select(Outbound).where(
            Outbound.unique_key == "answer:slack:event:Ev0DMDOWN001")).all()
        assert (row.kind, row.status) == ("answer", "sent")
    [answer] = [p for p in posts_to(bench.fake, "U0DANA") if "Snoozed" in p["text"]]
    assert posts_to(bench.fake, "D0DANA")[-1]["text"] == answer["text"]  # the refused one
    assert send_event(bench, dm(f"snooze {story.id} 2", "Ev0DMDOWN001"), retry=1) == 200
    with read_session(bench.engine) as session:
        assert len(session.exec(select(ReminderSnooze)).all()) == 1


def test_a_direct_message_commits_and_is_acknowledged_while_the_web_api_is_held(
        bench: SlackBench) -> None:
    """Neither users.info nor chat.postMessage stands between the command and the ack."""
    bench.fake.hold()  # the Web API answers nothing until released
    body = json.dumps(dm("pitch Cosmic rays over the campus #outreach", "Ev0DMHELD001",
                         user="U0EMIL"))
    timestamp = int(time.time())
    response = bench.post(body, {"Content-Type": "application/json",
                                 "X-Slack-Request-Timestamp": str(timestamp),
                                 "X-Slack-Signature": signature(body, timestamp)})
    assert response.status_code == 200
    assert [s.title for s in bench.stories()] == ["Cosmic rays over the campus"]
    assert not any(call.finished.is_set() for call in bench.fake.calls_to("chat.postMessage"))
    bench.fake.release()
    bench.settle()
    assert any("is pitched" in str(call.params.get("text"))
               for call in bench.fake.calls_to("chat.postMessage"))


def test_help_and_unknown_words_in_a_direct_message(bench: SlackBench) -> None:
    send_event(bench, dm("help", "Ev0DMHELP001"))
    send_event(bench, dm("/story frobnicate", "Ev0DMHELP002"))
    send_event(bench, dm("/story frobnicate", "Ev0DMHELP002"), retry=1)
    help_post, unknown = posts_to(bench.fake, "D0DANA")
    assert "Storydesk commands" in help_post["text"]
    assert "I don't know `frobnicate`" in unknown["text"]


def test_bots_own_messages_and_edits_are_ignored(bench: SlackBench) -> None:
    send_event(bench, dm("list", "Ev0DMBOT0001", user="U0BOT"))
    send_event(bench, dm("list", "Ev0DMBOT0002", bot_id="B0OTHER"))
    send_event(bench, dm("list", "Ev0DMBOT0003", subtype="message_changed"))
    channel_message = dm("list", "Ev0DMBOT0004", channel="C0GENERAL", channel_type="channel")
    send_event(bench, channel_message)
    assert bench.fake.calls_to("chat.postMessage") == []


def test_a_mention_is_answered_once_with_the_short_help_in_its_thread(
        bench: SlackBench) -> None:
    mention = payload("event_app_mention.json")
    assert send_event(bench, mention) == 200
    assert send_event(bench, mention, retry=1) == 200
    [answer] = posts_to(bench.fake, "C0GENERAL")
    assert answer["thread_ts"] == "1700000300.000200"
    assert "I'm Storydesk" in answer["text"]
    assert "/story help" in json.dumps(answer["blocks"])
    # A chatty channel: another mention is another (single) answer; a bot's is none.
    second = copy.deepcopy(mention)
    second["event_id"], second["event"]["ts"] = "Ev0MENTION02", "1700000400.000300"
    send_event(bench, second)
    from_bot = copy.deepcopy(mention)
    from_bot["event_id"] = "Ev0MENTION03"
    from_bot["event"]["bot_id"] = "B0OTHER"
    send_event(bench, from_bot)
    assert len(posts_to(bench.fake, "C0GENERAL")) == 2


def test_a_mention_slack_refuses_to_answer_is_answered_by_direct_message(
        bench: SlackBench) -> None:
    """The channel did not take the help (Slack down for a moment): it waits in the outbox
    as the member's direct message, saying where they asked."""
    send_event(bench, dm("list mine", "Ev0DMEMIL001", user="U0EMIL"))  # Emil is a member
    bench.fake.script("chat.postMessage", server_error(503))
    assert send_event(bench, payload("event_app_mention.json")) == 200
    bench.settle()
    with read_session(bench.engine) as session:
        [row] = session.exec(select(Outbound).where(
            Outbound.unique_key == "answer:slack:event:Ev0MENTION01")).all()
        assert (row.kind, row.status) == ("answer", "sent")
    [refused] = posts_to(bench.fake, "C0GENERAL")
    assert "I'm Storydesk" in refused["text"]
    [answer] = [p for p in posts_to(bench.fake, "U0EMIL") if "mentioned me" in p["text"]]
    assert "where my answer could not be posted" in answer["text"]
    assert "/story help" in json.dumps(answer["blocks"])


def test_reminder_buttons_may_be_pressed_by_the_author(bench: SlackBench) -> None:
    story = pitch(bench)
    assert story.id is not None
    bench.press("snooze", story.id, story.version, user="U0DANA", response="snooze")
    bench.settle()
    [answer] = bench.responses("snooze")
    assert "Snoozed: no reminders about story #1 until Wednesday 25 November" in answer["text"]
    bench.press("draft", story.id, story.version, user="U0DANA", action_ts="1700000100.2")
    bench.settle()
    [opened] = bench.fake.wait_for("views.open")
    view = json.loads(opened.params["view"]) if isinstance(opened.params["view"], str) \
        else opened.params["view"]
    assert view["callback_id"] == "storydesk_draft"
    assert view["blocks"][0]["block_id"] == "link"
    bench.press("reminders_off", story.id, story.version, user="U0DANA",
                action_ts="1700000100.3")
    bench.settle()
    with read_session(bench.engine) as session:
        dana = session.exec(select(Member).where(Member.user_id == "U0DANA")).one()
        assert dana.reminders_enabled is False
    # Card buttons stay the coordinators'.
    bench.press("approve", story.id, story.version, user="U0DANA", action_ts="1700000100.4",
                response="refused")
    bench.settle()
    assert "Only coordinators" in bench.responses("refused")[0]["text"]


def test_a_direct_message_over_socket_mode(db_url_engine: Engine, fake_slack: FakeSlack,
                                           slack_socket: SlackSocket) -> None:
    fake_slack.socket_url = slack_socket.url
    settings = slack_settings(fake_slack, slack_app_token=APP_TOKEN, slack_signing_secret="")
    runtime = build_runtime(settings, engine=db_url_engine)
    stop = socket_mode_starter(runtime)
    try:
        envelope = {"envelope_id": "a1b2c3d4-dm", "type": "events_api",
                    "payload": dm("help", "Ev0SOCKET001"), "accepts_response_payload": False,
                    "retry_attempt": 0, "retry_reason": ""}
        slack_socket.outgoing.put(envelope)
        assert slack_socket.received.get(timeout=10) == {"envelope_id": "a1b2c3d4-dm"}
        [answer] = fake_slack.wait_for("chat.postMessage")
        assert answer.params["channel"] == "D0DANA"
        assert "Storydesk commands" in answer.params["text"]
        mention = {"envelope_id": "e5f6-mention", "type": "events_api",
                   "payload": payload("event_app_mention.json"),
                   "accepts_response_payload": False, "retry_attempt": 0, "retry_reason": ""}
        slack_socket.outgoing.put(mention)
        assert slack_socket.received.get(timeout=10) == {"envelope_id": "e5f6-mention"}
        answers = fake_slack.wait_for("chat.postMessage", 2)
        assert answers[1].params["channel"] == "C0GENERAL"
    finally:
        stop()


def test_two_stories_posted_buttons_render_in_blocks_of_their_own() -> None:
    from bot.slack.render import render_blocks
    from handlers.reply import Action, Reply

    reply = Reply(text="Publishing today", actions=(
        Action("posted", "Posted #1", 1, 3, "primary"), Action("posted_link", "Posted…", 1, 3),
        Action("posted", "Posted #2", 2, 5, "primary"), Action("posted_link", "Posted…", 2, 5)))
    actions = [block for block in render_blocks(reply) if block["type"] == "actions"]
    assert [block["block_id"] for block in actions] == ["story-1-v3-0", "story-2-v5-2"]
    for block in actions:
        ids = [element["action_id"] for element in block["elements"]]
        assert ids == ["story_posted", "story_posted_link"]
