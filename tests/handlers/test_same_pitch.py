"""A pitch sent again (a new request, the same author and title, minutes later) is taken
once, on SQLite and PostgreSQL, also when both copies arrive at once."""

from __future__ import annotations

import threading
import time
from datetime import UTC, datetime, timedelta

import pytest
from freezegun import freeze_time
from sqlalchemy import text
from sqlalchemy.engine import Engine
from sqlmodel import Session, col, select

from bot.commands import Caller, CommandRunner
from handlers import stories
from handlers.context import Policy
from handlers.reply import Reply
from handlers.stories import PitchForm
from storage.db import read_session, write_session
from storage.models import Member, Outbound, Story
from tests.conftest import add_member, at_once

NOW = datetime(2026, 11, 23, 9, 30, tzinfo=UTC)
TITLE = "Muon tomography of a volcano"


def pitch(session: Session, author: Member, now: datetime, policy: Policy,
          title: str = TITLE, **fields: object) -> Reply:
    return stories.pitch(session, author, now, policy, PitchForm(title=title, **fields))  # type: ignore[arg-type]


def all_stories(session: Session) -> list[Story]:
    return list(session.exec(select(Story).order_by(col(Story.id))).all())


def reviewer_messages(session: Session) -> list[str]:
    return [row.unique_key for row in session.exec(select(Outbound)).all()
            if ":review-assigned:" in row.unique_key]


@freeze_time(NOW)
def test_the_same_pitch_sent_again_is_taken_once_and_the_answer_names_it(
        session: Session, team: dict[str, Member], policy: Policy) -> None:
    first = pitch(session, team["Dana"], NOW, policy)
    again = pitch(session, team["Dana"], NOW + timedelta(minutes=2), policy,
                  title="  muon TOMOGRAPHY of a   volcano ", summary="a second wording")
    assert again.ok and again.story_id == first.story_id
    assert again.text == (f"You pitched this 2 minutes ago: it is #{first.story_id}, "
                          "reviewer Ada. Nothing new was created.")
    assert [s.title for s in all_stories(session)] == [TITLE]
    assert len(reviewer_messages(session)) == 1  # the reviewer is asked once


@freeze_time(NOW)
def test_a_pitch_accepted_meanwhile_is_still_the_same_one(
        session: Session, team: dict[str, Member], policy: Policy) -> None:
    story_id = pitch(session, team["Dana"], NOW, policy).story_id
    assert story_id is not None
    stories.accept(session, team["Ada"], NOW, policy, story_id,
                   NOW.date() + timedelta(days=10))
    again = pitch(session, team["Dana"], NOW + timedelta(seconds=30), policy)
    assert again.text.startswith(f"You pitched this a moment ago: it is #{story_id} "
                                 "(accepted), reviewer Ada.")
    assert len(all_stories(session)) == 1


@pytest.mark.parametrize("later, author, title, declined", [
    (timedelta(minutes=10, seconds=1), "Dana", TITLE, False),  # past the ten minutes
    (timedelta(minutes=2), "Emil", TITLE, False),  # someone else's
    (timedelta(minutes=2), "Dana", TITLE + " II", False),  # another title
    (timedelta(minutes=2), "Dana", TITLE, True),  # declined meanwhile: pitch it anew
], ids=["later", "other-author", "other-title", "declined"])
@freeze_time(NOW)
def test_a_pitch_that_is_not_the_same_one_is_taken(
        session: Session, team: dict[str, Member], policy: Policy, later: timedelta,
        author: str, title: str, declined: bool) -> None:
    story_id = pitch(session, team["Dana"], NOW, policy).story_id
    assert story_id is not None
    if declined:
        stories.decline(session, team["Ada"], NOW, policy, story_id, "not for us")
    again = pitch(session, team[author], NOW + later, policy, title=title)
    assert again.story_id != story_id and again.text.startswith("Thanks!")
    assert len(all_stories(session)) == 2


def runner_of(engine: Engine, policy: Policy) -> CommandRunner:
    return CommandRunner(engine, policy)


@freeze_time(NOW)
def test_a_resend_under_a_new_request_key_is_answered_not_applied(
        engine: Engine, policy: Policy) -> None:
    """The person was told their /pitch was taking longer and sent it again: a new trigger
    id, so a new request key. Its answer is kept with its key like any other."""
    runner = runner_of(engine, policy)
    with write_session(engine) as session:
        add_member(session, "Ada", coordinator=True)
    dana = Caller("console", "dana", "Dana")
    first = runner.run(dana, "pitch", f"{TITLE} #outreach", NOW, request_key="slack:command:1")
    again = runner.run(dana, "pitch", f"{TITLE.upper()} #outreach", NOW + timedelta(minutes=3),
                       request_key="slack:command:2")
    assert first.text.startswith("Thanks! Story #1 is pitched")
    assert again.text.startswith("You pitched this 3 minutes ago: it is #1, reviewer Ada.")
    copy = runner.run(dana, "pitch", TITLE, NOW + timedelta(minutes=4),
                      request_key="slack:command:2")
    assert copy.data.get("repeated") and copy.text == again.text
    with read_session(engine) as session:
        assert len(all_stories(session)) == 1


def test_copies_at_once_on_two_replicas_make_one_story(engine: Engine, policy: Policy) -> None:
    with write_session(engine) as session:
        add_member(session, "Ada", coordinator=True)
        add_member(session, "Dana")
    keys = iter(range(4))
    lock = threading.Lock()

    def replica() -> str:
        with lock:
            key = next(keys)
        runner = runner_of(engine, policy)
        return runner.run(Caller("console", "dana", "Dana"), "pitch", TITLE, NOW,
                          request_key=f"slack:command:{key}").text

    answers = at_once(4, replica)
    assert sum(a.startswith("Thanks!") for a in answers) == 1
    assert sum(a.startswith("You pitched this") for a in answers) == 3
    with read_session(engine) as session:
        assert len(all_stories(session)) == 1


def test_a_copy_waits_for_the_pitch_in_flight_and_then_sees_it(
        pg_engine: Engine, policy: Policy) -> None:
    """Two replicas on PostgreSQL: the first pitch's transaction has not committed when
    the copy's begins. The copy waits for it (on SQLite every writer waits for the one
    before it anyway), then finds the story instead of making a second."""
    engine = pg_engine
    with write_session(engine) as session:
        add_member(session, "Ada", coordinator=True)
        dana_id = add_member(session, "Dana").id
    inside, commit = threading.Event(), threading.Event()
    copy: list[Reply] = []

    def dana(session: Session) -> Member:
        author = session.get(Member, dana_id)
        assert author is not None
        return author

    def first() -> None:
        with write_session(engine) as session:
            pitch(session, dana(session), NOW, policy)
            inside.set()
            assert commit.wait(10), "the test never let the first pitch commit"

    def second() -> None:
        with write_session(engine) as session:
            copy.append(pitch(session, dana(session), NOW + timedelta(minutes=1), policy))

    one = threading.Thread(target=first)
    one.start()
    assert inside.wait(10)
    two = threading.Thread(target=second)
    two.start()
    try:
        waiting_for_the_lock(engine, two)
    finally:
        commit.set()
        one.join(10)
        two.join(10)
    assert [r.text for r in copy] == [
        "You pitched this 1 minute ago: it is #1, reviewer Ada. Nothing new was created."]
    with read_session(engine) as session:
        assert len(all_stories(session)) == 1


def waiting_for_the_lock(engine: Engine, thread: threading.Thread) -> None:
    """Until `thread` waits for a lock in PostgreSQL, or has finished (it did not wait)."""
    deadline = time.monotonic() + 10
    query = text("SELECT count(*) FROM pg_stat_activity WHERE wait_event_type = 'Lock' "
                 "AND datname = current_database()")
    while time.monotonic() < deadline and thread.is_alive():
        with engine.connect() as connection:
            if connection.execute(query).scalar():
                return
        time.sleep(0.01)
