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


def signed(adapter: Adapter, action: str, story: Story, who: str = "dana") -> dict[str, str]:
    """A button as a direct message to `who` carries it: bound to that person."""
    assert story.id is not None
    return adapter.service.signer.context(action, story.id, story.version,
                                          user_id=adapter.world.user(who))


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
    assert adapter.press("ada", signed(adapter, "posted_link", story, "ada")).json() == {}
    opened = adapter.world.server.state.dialogs[-1]
    body = adapter.submit("ada", "press", opened["dialog"]["state"],
                          {"link": "https://www.instagram.com/p/Cabc123/"}).json()
    assert body == {}
    [story] = stories(engine)
    assert (story.state, story.permalink) == ("published", "https://www.instagram.com/p/Cabc123/")


def test_reminder_and_posted_buttons_are_accepted_by_mattermost(
        adapter: Adapter, engine: Engine) -> None:
    """Sent through the real transport: the fake refuses action ids that are not
    alphanumeric, as Mattermost does."""
    from datetime import date

    from handlers import reminders

    pitch(adapter)
    pitch(adapter, "Open day at the lab #recruitment")
    with write_session(engine) as session:
        first, second = session.exec(select(Story).order_by(Story.id)).all()
        first.state, first.draft_due = "drafting", date(2026, 11, 23)
        first.state_changed_at = adapter.now - timedelta(days=10)
        second.state, second.scheduled_at = "scheduled", adapter.now + timedelta(hours=7)
        session.add_all([first, second])
        report = reminders.run_tick(session, adapter.now, adapter.runner.policy)
    assert report.queued >= 2
    adapter.deliver()
    dana_dm = [p for p in adapter.world.server.state.posts.values()
               if "due today" in p["message"]]
    assert dana_dm, "the draft reminder was not delivered"
    ids = [a["id"] for a in dana_dm[0]["props"]["attachments"][0]["actions"]]
    assert ids == ["draft1v2", "snooze1v2", "remindersoff1v2"]
    today = [p for p in adapter.world.server.posts_in(adapter.world.team_channel)
             if p["message"].startswith("Publishing today")]
    [post] = today
    names = [a["name"] for a in post["props"]["attachments"][0]["actions"]]
    assert names == ["Posted #2", "Posted, with link…"]
