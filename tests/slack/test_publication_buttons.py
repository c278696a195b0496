"""The publication buttons on Slack, pressed as Slack sends them to the real bolt app:
"Posted #N" records the story with one click, "Posted, with link…" opens a form whose
submission records the link, and "Yes, it is #N" confirms a post seen on Instagram.

Each button is taken from the message the Slack transport posted to the team channel, so
the press carries the action id and value that Slack would send back."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlmodel import select

from handlers import publication
from storage.db import read_session, write_session
from storage.models import Story, StoryEvent
from storage.publication import SeenPost
from tests.slack.conftest import NOW, SlackBench, payload, slack_policy
from tests.slack.test_app import pitch

SLOT = datetime(2026, 11, 20, 17, 0, tzinfo=UTC)  # Friday 18:00 in Berlin; NOW is Monday
PERMALINK = "https://www.instagram.com/p/Cabc123/"


def scheduled(bench: SlackBench, at: datetime = SLOT) -> Story:
    """A story pitched on Slack, then scheduled for `at`."""
    story = pitch(bench, "Muon tomography of a pyramid")
    with write_session(bench.engine) as session:
        stored = session.get(Story, story.id)
        assert stored is not None
        stored.state, stored.scheduled_at = "scheduled", at
        stored.version += 1
        session.add(stored)
    return bench.stories()[-1]


def posted_buttons(bench: SlackBench, says: str) -> dict[str, dict[str, Any]]:
    """The buttons, by action id, of the team-channel message that says `says`."""
    bench.dispatch()
    [message] = [c.params for c in bench.fake.calls_to("chat.postMessage")
                 if c.params["channel"] == "storydesk-team" and says in c.params["text"]]
    return {element["action_id"]: element for block in message["blocks"]
            if block["type"] == "actions" for element in block["elements"]}


def press(bench: SlackBench, button: dict[str, Any], user: str = "U0ADA",
          response: str = "press", action_ts: str = "1700000100.123456") -> None:
    value = json.loads(button["value"])
    assert bench.press(button["action_id"].removeprefix("story_"), value["story_id"],
                       value["version"], user=user, response=response,
                       action_ts=action_ts).status_code == 200
    bench.settle()


def published(bench: SlackBench, story_id: int) -> Story:
    with read_session(bench.engine) as session:
        story = session.get(Story, story_id)
        assert story is not None
        return story


def unrecorded_slot_buttons(bench: SlackBench) -> tuple[Story, dict[str, dict[str, Any]]]:
    story = scheduled(bench)
    with write_session(bench.engine) as session:
        assert publication.raise_unrecorded(session, NOW, slack_policy()) == [story.id]
    buttons = posted_buttons(bench, f'Story #{story.id} "Muon tomography of a pyramid" was '
                                    "scheduled for Friday 20 November 18:00")
    assert list(buttons) == ["story_posted", "story_posted_link"]
    assert buttons["story_posted"]["text"]["text"] == f"Posted #{story.id}"
    return story, buttons


def test_posted_records_the_story_with_one_click(bench: SlackBench) -> None:
    story, buttons = unrecorded_slot_buttons(bench)
    assert story.id is not None
    press(bench, buttons["story_posted"], user="U0DANA", response="dana")
    [refused] = bench.responses("dana")
    assert "Only coordinators" in refused["text"] and refused["response_type"] == "ephemeral"
    assert published(bench, story.id).state == "scheduled"

    press(bench, buttons["story_posted"], action_ts="1700000101.000001", response="ada")
    recorded = published(bench, story.id)
    assert (recorded.state, recorded.permalink, recorded.published_at) == (
        "published", None, NOW)
    [answer] = bench.responses("ada")
    assert f"Story #{story.id} is recorded as published." in answer["text"]
    assert "next time use *Posted, with link*" in answer["text"]
    with read_session(bench.engine) as session:
        event = session.exec(select(StoryEvent).where(StoryEvent.action == "publish")).one()
    assert "marked as posted" in event.detail


def test_posted_with_link_opens_a_form_whose_submission_records_the_link(
        bench: SlackBench) -> None:
    story, buttons = unrecorded_slot_buttons(bench)
    assert story.id is not None
    press(bench, buttons["story_posted_link"], response="posted")
    [opened] = bench.fake.calls_to("views.open")
    view = opened.params["view"]
    assert view["callback_id"] == "storydesk_posted_link"
    assert [block["block_id"] for block in view["blocks"]] == ["link"]
    assert published(bench, story.id).state == "scheduled"  # nothing recorded by the press

    submission = payload("view_submission_accept.json")
    submitted = submission["view"]
    submitted["callback_id"] = view["callback_id"]
    submitted["private_metadata"] = view["private_metadata"]
    submitted["state"]["values"] = {
        "link": {"value": {"type": "plain_text_input", "value": "not a link"}}}
    assert bench.interact(submission).status_code == 200
    bench.settle()
    assert published(bench, story.id).state == "scheduled"
    assert "Give the post's link" in bench.responses("posted")[0]["text"]

    submitted["state"]["values"]["link"]["value"]["value"] = f" {PERMALINK} "
    submitted["hash"] = "1700000400.Second"
    assert bench.interact(submission).status_code == 200
    bench.settle()
    recorded = published(bench, story.id)
    assert (recorded.state, recorded.permalink) == ("published", PERMALINK)
    assert bench.responses("posted")[-1]["text"] == (
        f":white_check_mark: Story #{story.id} is recorded as published: {PERMALINK}.")


def test_yes_it_is_confirms_the_post_seen_on_instagram(bench: SlackBench) -> None:
    story = scheduled(bench)
    assert story.id is not None
    post = publication.Post("9002", PERMALINK, "A night at the observatory",
                            SLOT + timedelta(minutes=2))
    with write_session(bench.engine) as session:
        report = publication.record_posts(session, NOW, slack_policy(), [post])
    assert report.asked == [story.id]
    buttons = posted_buttons(bench, "A new post on Instagram")
    assert list(buttons) == ["story_confirm_post"]
    assert buttons["story_confirm_post"]["text"]["text"] == f"Yes, it is #{story.id}"

    press(bench, buttons["story_confirm_post"], response="yes")
    recorded = published(bench, story.id)
    assert (recorded.state, recorded.permalink, recorded.media_id, recorded.published_at) == (
        "published", PERMALINK, "9002", SLOT + timedelta(minutes=2))
    assert bench.responses("yes")[0]["text"] == (
        f":white_check_mark: Story #{story.id} is recorded as published: {PERMALINK}.")
    with read_session(bench.engine) as session:
        assert session.get(SeenPost, "9002").outcome == "confirmed"  # type: ignore[union-attr]
