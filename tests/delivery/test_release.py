"""Abandoned drafts are released by the bot: on the day, said beforehand, once, through the
real tick and dispatcher on a frozen clock, on SQLite and PostgreSQL."""

from __future__ import annotations

from dataclasses import replace
from datetime import date

from sqlalchemy.engine import Engine
from sqlmodel import Session, col, select

from handlers import release, reminders, stories
from handlers.context import Policy
from handlers.operations import due_now
from storage.db import read_session, write_session
from storage.models import Member, Outbound, Story, StoryEvent
from tests.conftest import at_once
from tests.delivery.conftest import Desk, dms, local, posts
from tests.delivery.test_reminders import drafting_story, make_team, mark_sent, member

DUE = date(2026, 12, 3)  # a Thursday; released 21 days later, Thursday 24 December


def story_state(engine: Engine, story_id: int) -> str:
    with read_session(engine) as session:
        story = session.get(Story, story_id)
        assert story is not None
        return story.state


def withdrawals(session: Session, story_id: int) -> list[StoryEvent]:
    return list(session.exec(
        select(StoryEvent).where(StoryEvent.story_id == story_id,
                                 StoryEvent.action == "withdraw")).all())


def texts_to(session: Session, member_id: int) -> list[str]:
    return list(session.exec(
        select(Outbound.text).where(Outbound.member_id == member_id)
        .order_by(col(Outbound.id))).all())


# --- the release ---------------------------------------------------------------------------


def test_an_abandoned_draft_is_released_on_its_day_and_both_people_are_told(
    desk: Desk, engine: Engine
) -> None:
    desk.dispatcher.policy = desk.policy  # direct messages wait for working hours
    team = make_team(engine)
    story_id, reviewer = drafting_story(desk.engine, desk.policy, team,
                                        local("2026-11-23 10:00"), DUE)
    desk.at(local("2026-12-23 23:59"))  # queues the day's reminder, held for the night
    reminder = f"draft-reminder:story-{story_id}:due-2026-12-03:overdue-20d"
    assert reminder in desk.keys("pending")
    assert story_state(engine, story_id) == "accepted"  # the day before: still waiting
    at_midnight = desk.at(local("2026-12-24 00:00"))
    assert story_state(engine, story_id) == "withdrawn"
    assert [p.reply.text for p in posts(at_midnight, "team")] == [
        f"Story #{story_id}: Muons (withdrawn)"]  # the card, updated
    assert not dms(at_midnight)
    morning = desk.at(local("2026-12-24 09:00"))
    assert reminder in desk.keys("skipped")  # no longer true: not sent
    assert sorted(d.recipient.display_name for d in dms(morning) if d.recipient) == sorted(
        ["Dana", reviewer])
    assert [d.reply.text for d in dms(morning, "Dana")] == [
        f'Story #{story_id} "Muons" is released: its draft was due Thursday 03 December and '
        "has not come in 21 days, so Storydesk has withdrawn the story and nobody waits for "
        "it now."]
    assert [getattr(b, "text", "") for b in dms(morning, "Dana")[0].reply.blocks] == [
        f"Nothing is lost: `/story show {story_id}` keeps the pitch and its history. When "
        "you want to take it up again, pitch it anew with `/pitch Muons #outreach`."]
    assert [d.reply.text for d in dms(morning, reviewer)] == [
        f'Story #{story_id} "Muons" by Dana is released: its draft was due Thursday 03 '
        "December and has not come in 21 days, so Storydesk has withdrawn it. Nothing more "
        "is needed from you."]
    with read_session(engine) as session:
        [event] = withdrawals(session, story_id)
    assert event.actor_id is None  # the bot's own move, shown as "Storydesk"
    assert (event.from_state, event.to_state) == ("accepted", "withdrawn")
    assert event.detail == "released: no draft 21 days after it was due (2026-12-03)"


def test_a_second_tick_releases_nothing_more(
    session: Session, team: dict[str, Member], policy: Policy
) -> None:
    story_id = _accepted(session, team, policy)
    assert reminders.run_tick(session, local("2026-12-24 00:00"), policy).released == 1
    queued = _keys_about(session, story_id)
    assert reminders.run_tick(session, local("2026-12-24 00:00"), policy).released == 0
    assert reminders.run_tick(session, local("2026-12-29 09:00"), policy).released == 0
    assert _keys_about(session, story_id) == queued
    assert len(withdrawals(session, story_id)) == 1


def test_no_release_with_the_setting_off(
    session: Session, team: dict[str, Member], policy: Policy
) -> None:
    off = replace(policy, release_after_days=None)
    story_id = _accepted(session, team, off)
    for day in ("2026-12-24 00:00", "2027-03-01 09:00"):
        assert reminders.run_tick(session, local(day), off).released == 0
    story = session.get(Story, story_id)
    assert story is not None and story.state == "accepted"


def test_no_release_for_a_story_whose_draft_was_submitted(
    session: Session, team: dict[str, Member], policy: Policy
) -> None:
    story_id = _accepted(session, team, policy)
    stories.submit_draft(session, team["Dana"], local("2026-12-23 22:00"), policy, story_id,
                         "https://docs.example.org/d/late")
    assert reminders.run_tick(session, local("2026-12-24 00:00"), policy).released == 0
    story = session.get(Story, story_id)
    assert story is not None and story.state == "in_review"


def test_a_revision_never_sent_is_released_too_and_the_earlier_draft_is_kept(
    session: Session, team: dict[str, Member], policy: Policy
) -> None:
    story_id = _accepted(session, team, policy)
    at = local("2026-11-30 10:00")
    stories.submit_draft(session, team["Dana"], at, policy, story_id, "https://x.org/d1")
    stories.request_changes(session, team["Ada"], at, policy, story_id, "Shorter")  # due 12-05
    assert reminders.run_tick(session, local("2026-12-25 23:59"), policy).released == 0
    assert reminders.run_tick(session, local("2026-12-26 00:00"), policy).released == 1
    [event] = withdrawals(session, story_id)
    assert event.detail == "released: no revision 21 days after it was due (2026-12-05)"
    told = texts_to(session, team["Dana"].id)[-1]
    assert told.startswith(f'Story #{story_id} "Muons" is released: its revision was due')
    payload = session.exec(select(Outbound.payload).where(
        Outbound.member_id == team["Dana"].id).order_by(col(Outbound.id).desc())).first()
    assert payload is not None and "keeps the pitch, your earlier draft and its history" in payload


def test_the_release_day_follows_the_setting(session: Session, team: dict[str, Member],
                                             policy: Policy) -> None:
    week = replace(policy, release_after_days=7)
    _accepted(session, team, week)
    assert reminders.run_tick(session, local("2026-12-09 23:59"), week).released == 0
    assert reminders.run_tick(session, local("2026-12-10 00:00"), week).released == 1


def test_two_replicas_at_once_release_a_story_once(engine: Engine, policy: Policy) -> None:
    team = make_team(engine)
    story_id, _ = drafting_story(engine, policy, team, local("2026-11-23 10:00"), DUE)
    now = local("2026-12-24 00:00")

    def replica() -> int:
        with write_session(engine) as session:
            return reminders.run_tick(session, now, policy).released

    assert sorted(at_once(4, replica)) == [0, 0, 0, 1]
    with read_session(engine) as session:
        assert len(withdrawals(session, story_id)) == 1
        keys = list(session.exec(select(Outbound.unique_key)).all())
    assert len(keys) == len(set(keys))


# --- said beforehand -----------------------------------------------------------------------


def test_the_overdue_reminders_and_the_reviewers_message_name_the_release_day(
    desk: Desk, engine: Engine
) -> None:
    team = make_team(engine)
    story_id, reviewer = drafting_story(desk.engine, desk.policy, team,
                                        local("2026-11-23 10:00"), DUE)
    on_day = dms(desk.at(local("2026-12-03 09:00")), "Dana")
    assert "releases" not in on_day[0].reply.text  # only once the draft is overdue
    monday = dms(desk.at(local("2026-12-07 09:00")))
    assert dms(monday, reviewer)[0].reply.text == (
        f'The draft of story #{story_id} "Muons" by Dana is 4 days overdue (it was due '
        "Thursday 03 December). A word from you may help. Unless the draft comes, Storydesk "
        f"releases the story on Thursday 24 December; `/story withdraw {story_id} <reason>` "
        "releases it now.")
    assert dms(monday, "Dana")[0].reply.text.endswith(
        "If you need more time, tell your reviewer. Unless it comes first, Storydesk releases "
        "the story on Thursday 24 December: it is withdrawn, and you can pitch it again "
        "whenever you like.")
    # Worded when it arrives: the last reminder before the release says "tomorrow".
    last = dms(desk.at(local("2026-12-23 09:00")), "Dana")
    assert "20 days ago" in last[0].reply.text
    assert "releases the story tomorrow, Thursday 24 December:" in last[0].reply.text


def test_with_the_setting_off_no_message_speaks_of_a_release(
    session: Session, team: dict[str, Member], policy: Policy
) -> None:
    off = replace(policy, release_after_days=None)
    _accepted(session, team, off)
    reminders.run_tick(session, local("2026-12-07 09:00"), off)
    texts = texts_to(session, team["Dana"].id)[-1:] + texts_to(session, team["Ada"].id)[-1:]
    assert "4 days ago" in texts[0] and "4 days overdue" in texts[1]
    assert not any("release" in text for text in texts)


# --- what comes next -----------------------------------------------------------------------


def test_jobs_list_the_release_and_no_reminder_after_it(
    session: Session, team: dict[str, Member], policy: Policy
) -> None:
    story_id = _accepted(session, team, policy)
    now = local("2026-12-23 09:30")  # the last reminder before the release is due
    jobs = reminders.upcoming(session, now, policy, limit=50)
    assert [(job.when, job.what, job.to) for job in jobs if job.what.startswith("release")] == [
        (local("2026-12-24 00:00"),
         f"release, no draft 21 days after due: story #{story_id} (accepted)",
         "DM Dana and Ada")]
    assert not [job for job in jobs if job.what.startswith("draft overdue")]  # 22 days: never
    assert reminders.next_moment(session, now, policy) == local("2026-12-24 00:00")
    # Missed while the bot was down: due now, released by the next tick.
    late = local("2026-12-24 08:00")
    assert [(job.what, job.state) for job in due_now(session, late, policy)
            if job.what.startswith("release")] == [
        (f"release, no draft 21 days after due: story #{story_id} (accepted)", "releases")]
    reminders.run_tick(session, late, policy)
    assert not [job for job in due_now(session, late, policy) if job.what.startswith("release")]
    assert not [job for job in reminders.upcoming(session, late, policy)
                if job.what.startswith("release")]


def test_jobs_name_a_reminder_alike_whether_it_comes_next_or_is_due_now(
    session: Session, team: dict[str, Member], policy: Policy
) -> None:
    daily = replace(policy, reminders=replace(policy.reminders, overdue_every_days=1))
    story_id = _accepted(session, team, daily)
    said = f"draft overdue 1 day: story #{story_id} (accepted)"  # Friday 4 December, 09:00
    coming = reminders.upcoming(session, local("2026-12-04 08:00"), daily, limit=50)
    assert [job.what for job in coming if job.what.startswith("draft overdue")] == [said]
    due = due_now(session, local("2026-12-04 09:30"), daily)
    assert [job.what for job in due if job.what.startswith("draft overdue")] == [said]


def test_no_release_is_listed_with_the_setting_off(
    session: Session, team: dict[str, Member], policy: Policy
) -> None:
    off = replace(policy, release_after_days=None)
    _accepted(session, team, off)
    assert not [job for job in reminders.upcoming(session, local("2026-12-20 12:00"), off, 50)
                if job.what.startswith("release")]
    assert release.release_moment(DUE, off) is None


def _keys_about(session: Session, story_id: int) -> list[str]:
    return list(session.exec(select(Outbound.unique_key).where(Outbound.story_id == story_id)
                             .order_by(col(Outbound.id))).all())


def _accepted(session: Session, team: dict[str, Member], policy: Policy) -> int:
    """Dana's story, accepted by Ada on 23 November with the draft due 3 December."""
    at = local("2026-11-23 10:00")
    reply = stories.pitch(session, team["Dana"], at, policy,
                          stories.PitchForm(title="Muons", objective="outreach"))
    assert reply.story_id is not None
    story = session.get(Story, reply.story_id)
    assert story is not None
    stories.accept(session, member(session, story.reviewer_id or 0), at, policy,
                   reply.story_id, DUE)
    mark_sent(session)
    return reply.story_id


def test_two_replicas_at_once_accept_a_lazy_pitch_once(engine: Engine, policy: Policy) -> None:
    """Lazy acceptance takes the same care: the pitch is locked and read again."""
    lazy = replace(policy, auto_accept_hours=8)
    team = make_team(engine)
    with write_session(engine) as session:
        story_id = stories.pitch(session, member(session, team["Dana"]),
                                 local("2026-11-27 17:00"), lazy,
                                 stories.PitchForm(title="Muons")).story_id

    def replica() -> int:
        with write_session(engine) as session:
            return reminders.run_tick(session, local("2026-11-30 13:00"), lazy).accepted

    assert sorted(at_once(4, replica)) == [0, 0, 0, 1]
    with read_session(engine) as session:
        accepts = session.exec(select(StoryEvent).where(
            StoryEvent.story_id == story_id, StoryEvent.action == "accept")).all()
        assert len(accepts) == 1
        keys = list(session.exec(select(Outbound.unique_key)).all())
    assert len(keys) == len(set(keys))
