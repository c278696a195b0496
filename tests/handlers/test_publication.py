"""Matching posts to the schedule (pure), unrecorded slots raised, the "Posted" buttons and
the buttons on reminder DMs, on both databases."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, date, datetime, timedelta

import pytest
from freezegun import freeze_time
from hypothesis import assume, given
from hypothesis import strategies as st
from sqlalchemy.engine import Engine
from sqlmodel import Session, col, select

from bot.commands import Caller, CommandRunner
from handlers import publication, reminders
from handlers.context import Policy
from handlers.publication import Match, Post, SlotStory, match_post, title_share
from handlers.reply import Reply
from storage.db import read_session, write_session
from storage.delivery import ReminderSnooze
from storage.models import Member, Outbound, Story
from tests.conftest import add_member

SLOT = datetime(2026, 12, 1, 17, 0, tzinfo=UTC)  # Tuesday 18:00 in Berlin
MUON = SlotStory(1, "Muon tomography of a volcano", SLOT)
OPEN_DAY = SlotStory(2, "Open day at the lab", SLOT + timedelta(days=2))


def post(caption: str, at: datetime) -> Post:
    return Post("1", "https://www.instagram.com/p/x/", caption, at)


# --- pure ------------------------------------------------------------------------------


def test_title_share_counts_the_titles_words_the_caption_names() -> None:
    assert title_share("Muon tomography of a volcano", "How muons see inside VOLCANOES") == \
        pytest.approx(2 / 3)  # muon(s) and volcano(es) named, tomography not
    assert title_share("Muon tomography of a volcano",
                       "muon tomography, a volcano!") == 1.0
    assert title_share("Of a", "anything") == 0.0


@pytest.mark.parametrize(("caption", "minutes", "expected"), [
    ("Muon tomography of a volcano 🌋", 4, Match("sure", 1)),
    ("Muon tomography of a volcano", -90, Match("sure", 1)),
    ("A night at the observatory", 4, Match("unsure", 1,
                                            "Its caption does not name the story's title.")),
    ("Muon tomography of a volcano", 60 * 26, Match("unsure", 1,
                                                    "It went out 26 hours after the slot.")),
    ("Behind the scenes at the cryo lab", 60 * 16, Match(
        "none", reason="No story was scheduled around that time.")),
    ("Muon tomography of a volcano", -60 * 5, Match(
        "none", reason="No story was scheduled around that time.")),
])
def test_match_post(caption: str, minutes: int, expected: Match) -> None:
    assert match_post(post(caption, SLOT + timedelta(minutes=minutes)),
                      [MUON, OPEN_DAY]) == expected


def test_two_stories_that_fit_equally_make_it_unsure() -> None:
    twin = SlotStory(3, "Muon tomography of a volcano, part 2", SLOT + timedelta(hours=1))
    match = match_post(post("Muon tomography of a volcano", SLOT + timedelta(minutes=5)),
                       [MUON, twin])
    assert (match.kind, match.story_id) == ("unsure", 1)
    assert match.reason == "Story #3 fits as well."


def test_the_next_working_morning_skips_the_weekend(policy: Policy) -> None:
    friday = datetime(2026, 12, 4, 17, 0, tzinfo=UTC)
    assert publication.next_working_morning(friday, policy) == datetime(
        2026, 12, 7, 8, 0, tzinfo=UTC)  # Monday 09:00 Berlin
    assert publication.next_working_morning(SLOT, policy) == datetime(
        2026, 12, 2, 8, 0, tzinfo=UTC)


# --- on a database ------------------------------------------------------------------------


def scheduled(session: Session, author: Member, at: datetime = SLOT,
              title: str = "Muon tomography of a volcano") -> Story:
    story = Story(title=title, author_id=author.id, state="scheduled", scheduled_at=at,
                  created_at=at - timedelta(days=20), state_changed_at=at - timedelta(days=2))
    session.add(story)
    session.flush()
    return story


def team_posts(session: Session, prefix: str) -> list[Outbound]:
    return [row for row in session.exec(select(Outbound).order_by(col(Outbound.id))).all()
            if row.channel == "team" and row.text.startswith(prefix)]


def test_an_unrecorded_slot_is_raised_once_on_the_next_working_morning(
    session: Session, team: dict[str, Member], policy: Policy
) -> None:
    friday = datetime(2026, 12, 4, 17, 0, tzinfo=UTC)
    story = scheduled(session, team["Dana"], friday)
    assert publication.raise_unrecorded(session, friday + timedelta(hours=2), policy) == []
    saturday = datetime(2026, 12, 5, 9, 0, tzinfo=UTC)
    assert publication.raise_unrecorded(session, saturday, policy) == []
    monday = datetime(2026, 12, 7, 8, 0, tzinfo=UTC)
    assert publication.raise_unrecorded(session, monday, policy) == [story.id]
    assert publication.raise_unrecorded(session, monday + timedelta(hours=3), policy) == []
    [row] = team_posts(session, f"Story #{story.id}")
    assert row.text == (f'Story #{story.id} "Muon tomography of a volcano" was scheduled for '
                        "Friday 04 December 18:00 and is not recorded as published.")
    reply = Reply.from_json(row.payload)
    assert [a.name for a in reply.actions] == ["posted", "posted_link"]


@pytest.mark.parametrize("permalink", ["https://www.instagram.com/p/x/", None])
def test_an_unsure_post_suggests_only_a_command_that_works(
    session: Session, team: dict[str, Member], policy: Policy, permalink: str | None
) -> None:
    story = scheduled(session, team["Dana"])
    unsure = Post("9001", permalink, "A lab photo", SLOT + timedelta(minutes=5))
    report = publication.record_posts(session, SLOT + timedelta(minutes=10), policy, [unsure])
    assert report.asked == [story.id]
    [row] = team_posts(session, "A new post on Instagram")
    hint = Reply.from_json(row.payload).blocks[-1].text  # type: ignore[union-attr]
    if permalink:
        assert "If it is another story: `/story published N https://www.instagram.com/p/x/ " \
               "9001`" in hint
    else:  # `/story published N media 9001` would be refused: no command is offered
        assert "/story published" not in hint
        assert hint.endswith(f"Instagram gave no link for it; if it is not #{story.id}, "
                             "nothing needs doing.")


@pytest.mark.parametrize("instagram", [False, True])
def test_publishing_today_carries_posted_buttons_without_instagram(
    session: Session, team: dict[str, Member], policy: Policy, instagram: bool
) -> None:
    story = scheduled(session, team["Dana"])
    morning = datetime(2026, 12, 1, 8, 0, tzinfo=UTC)
    reminders.run_tick(session, morning, replace(policy, instagram_watch=instagram))
    [row] = team_posts(session, "Publishing today")
    actions = Reply.from_json(row.payload).actions
    if instagram:
        assert actions == ()
    else:
        assert [(a.name, a.story_id) for a in actions] == [("posted", story.id),
                                                           ("posted_link", story.id)]


def press(engine: Engine, policy: Policy, who: str, action: str, story_id: int, version: int,
          now: datetime, text: str = "") -> Reply:
    runner = CommandRunner(engine, policy)
    return runner.press(Caller("console", who.lower(), who), action, story_id, version, now,
                        reason=text)


@pytest.fixture
def people(engine: Engine) -> dict[str, Member]:
    with write_session(engine) as session:
        return {"Ada": add_member(session, "Ada", coordinator=True),
                "Dana": add_member(session, "Dana")}


def test_the_posted_button_records_the_story_with_or_without_its_link(
    engine: Engine, policy: Policy, people: dict[str, Member]
) -> None:
    with write_session(engine) as session:
        first = scheduled(session, people["Dana"])
        second = scheduled(session, people["Dana"], SLOT + timedelta(days=2), "Open day")
        ids = (first.id or 0, second.id or 0)
    later = SLOT + timedelta(hours=1)
    refused = press(engine, policy, "Dana", "posted", ids[0], 1, later)
    assert not refused.ok and "Only coordinators" in refused.text
    one_click = press(engine, policy, "Ada", "posted", ids[0], 1, later)
    assert one_click.ok and "recorded as published" in one_click.text
    twice = press(engine, policy, "Ada", "posted", ids[0], 1, later)
    assert not twice.ok and "changed since" in twice.text
    bad = press(engine, policy, "Ada", "posted_link", ids[1], 1, later, "not a link")
    assert not bad.ok and bad.data["field_errors"] == {"link": "Not a web link."}
    linked = press(engine, policy, "Ada", "posted_link", ids[1], 1, later,
                   "https://www.instagram.com/p/Open1/")
    assert linked.ok
    with read_session(engine) as session:
        a, b = (session.get(Story, i) for i in ids)
        assert a is not None and b is not None
        assert (a.state, a.permalink) == ("published", None)
        assert (b.state, b.permalink) == ("published", "https://www.instagram.com/p/Open1/")


@freeze_time("2026-12-07 09:30:00")
def test_reminder_dms_carry_their_buttons_and_the_buttons_work(
    engine: Engine, policy: Policy, people: dict[str, Member]
) -> None:
    now = datetime.now(UTC)
    with write_session(engine) as session:
        story = Story(title="Cosmic rays", author_id=people["Dana"].id,
                      reviewer_id=people["Ada"].id, state="drafting",
                      draft_due=date(2026, 12, 7), created_at=now - timedelta(days=20),
                      state_changed_at=now - timedelta(days=10))
        session.add(story)
        session.flush()
        story_id = story.id or 0
        reminders.run_tick(session, now, policy)
        dm = session.exec(select(Outbound).where(Outbound.member_id == people["Dana"].id,
                                                 Outbound.status == "pending")).one()
    reply = Reply.from_json(dm.payload)
    assert [a.name for a in reply.actions] == ["draft", "snooze", "reminders_off"]
    assert all(a.story_id == story_id for a in reply.actions)

    snoozed = press(engine, policy, "Dana", "snooze", story_id, 1, now)
    assert snoozed.ok, snoozed.text
    missing = press(engine, policy, "Dana", "draft", story_id, 1, now, "")
    assert not missing.ok
    sent = press(engine, policy, "Dana", "draft", story_id, 1, now, "https://docs.example/d")
    assert sent.ok, sent.text
    off = press(engine, policy, "Dana", "reminders_off", story_id, 1, now)
    assert off.ok and "off" in off.text
    with read_session(engine) as session:
        assert session.exec(select(ReminderSnooze)).first() is not None
        stored = session.get(Story, story_id)
        assert stored is not None and stored.state == "in_review"
        dana = session.get(Member, people["Dana"].id)
        assert dana is not None and dana.reminders_enabled is False


@freeze_time("2026-12-10 09:30:00")
def test_a_review_nudge_to_the_reviewer_carries_the_cards_buttons(
    session: Session, policy: Policy, team: dict[str, Member]
) -> None:
    now = datetime.now(UTC)
    story = Story(title="Cosmic rays", author_id=team["Dana"].id, reviewer_id=team["Ada"].id,
                  state="in_review", draft_link="https://docs.example/d",
                  created_at=now - timedelta(days=20), state_changed_at=now - timedelta(days=4))
    session.add(story)
    session.flush()
    reminders.run_tick(session, now, policy)
    nudge = session.exec(select(Outbound).where(Outbound.member_id == team["Ada"].id)).one()
    names = [a.name for a in Reply.from_json(nudge.payload).actions]
    assert names == ["reassign", "approve", "changes", "snooze", "reminders_off"]


_TITLE_WORD = st.text(alphabet="abcdefghijklmnopqrstuvwxyzäöü", min_size=4, max_size=12)


@given(words=st.lists(_TITLE_WORD, min_size=1, max_size=6),
       minutes=st.integers(min_value=-120, max_value=180))
def test_a_caption_that_is_the_title_near_its_slot_is_always_sure(
        words: list[str], minutes: int) -> None:
    title = " ".join(words)
    slot = SlotStory(7, title, SLOT)
    assume(publication.words(title))
    match = match_post(post(title.upper() + " #science", SLOT + timedelta(minutes=minutes)),
                       [slot])
    assert match == Match("sure", 7)


@given(words=st.lists(_TITLE_WORD, min_size=1, max_size=6),
       hours=st.integers(min_value=-24 * 30, max_value=24 * 30))
def test_a_post_outside_every_slots_window_is_never_matched(words: list[str],
                                                            hours: int) -> None:
    at = SLOT + timedelta(hours=hours)
    assume(not SLOT - publication.EARLY <= at <= SLOT + timedelta(days=publication.WATCH_DAYS))
    match = match_post(post(" ".join(words), at), [SlotStory(7, " ".join(words), SLOT)])
    assert match.kind == "none"
