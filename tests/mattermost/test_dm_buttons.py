"""Buttons on direct messages and schedule posts, on Mattermost: the author presses the
reminder's buttons (not only coordinators), the draft button opens a dialog for the link,
and "Posted, with link…" records a story from the team channel."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy.engine import Engine
from sqlmodel import select

from storage.db import read_session, write_session
from storage.delivery import ReminderSnooze
from storage.models import Member, Story
from tests.mattermost.conftest import Adapter
from tests.mattermost.test_web import pitch, stories


def signed(adapter: Adapter, action: str, story: Story) -> dict[str, str]:
    assert story.id is not None
    return adapter.service.signer.context(action, story.id, story.version)


def test_the_author_presses_the_reminder_buttons(adapter: Adapter, engine: Engine) -> None:
    pitch(adapter)
    [story] = stories(engine)
    with write_session(engine) as session:
        stored = session.get(Story, story.id)
        assert stored is not None
        stored.state = "drafting"
        session.add(stored)
    [story] = stories(engine)
    answer = adapter.press("dana", signed(adapter, "snooze", story)).json()
    assert "Snoozed" in answer["ephemeral_text"]

    assert adapter.press("dana", signed(adapter, "draft", story)).json() == {}
    opened = adapter.world.server.state.dialogs[-1]
    [link] = opened["dialog"]["elements"]
    assert link["name"] == "link" and link["optional"] is False
    empty = adapter.submit("dana", "press", opened["dialog"]["state"], {"link": ""}).json()
    assert empty == {"errors": {"link": "Paste the link to the draft."}}
    wrong = adapter.submit("dana", "press", opened["dialog"]["state"], {"link": "my doc"}).json()
    assert wrong == {"errors": {"link": "Not a web link."}}
    done = adapter.submit("dana", "press", opened["dialog"]["state"],
                          {"link": "https://docs.example/draft"}).json()
    assert done == {}
    assert stories(engine)[0].state == "in_review"

    off = adapter.press("dana", signed(adapter, "reminders_off", story)).json()
    assert "off" in off["ephemeral_text"]
    with read_session(engine) as session:
        assert len(session.exec(select(ReminderSnooze)).all()) == 1
        dana = session.exec(select(Member).where(
            Member.user_id == adapter.world.user("dana"))).one()
        assert dana.reminders_enabled is False
    # Card buttons stay the coordinators'.
    refused = adapter.press("dana", signed(adapter, "approve", stories(engine)[0])).json()
    assert "Only coordinators" in refused["ephemeral_text"]


def test_posted_with_link_records_the_story(adapter: Adapter, engine: Engine) -> None:
    pitch(adapter)
    with write_session(engine) as session:
        stored = session.exec(select(Story)).one()
        stored.state, stored.scheduled_at = "scheduled", adapter.now - timedelta(hours=2)
        session.add(stored)
    [story] = stories(engine)
    refused = adapter.press("dana", signed(adapter, "posted_link", story)).json()
    assert "Only coordinators" in refused["ephemeral_text"]
    assert adapter.press("ada", signed(adapter, "posted_link", story)).json() == {}
    opened = adapter.world.server.state.dialogs[-1]
    body = adapter.submit("ada", "press", opened["dialog"]["state"],
                          {"link": "https://www.instagram.com/p/Cabc123/"}).json()
    assert body == {}
    [story] = stories(engine)
    assert (story.state, story.permalink) == ("published", "https://www.instagram.com/p/Cabc123/")
