"""Every reminder rule, driven through the scheduler's tick on a frozen clock (freezegun)
and delivered by the dispatcher, on SQLite and PostgreSQL."""

from __future__ import annotations

from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

from sqlalchemy.engine import Engine
from sqlmodel import Session, select

from bot.delivery.transport import Delivery
from handlers import members, reminders, stories
from handlers.context import Policy
from handlers.errors import Refused
from handlers.outbox import notify_member
from handlers.reply import Reply
from handlers.stories import PitchForm
from storage.db import read_session, write_session
from storage.delivery import DeliveryNotice
from storage.models import Member, Outbound, Story
from tests.conftest import add_member, at_once
from tests.delivery.conftest import Desk, dms, local, posts

NEW_YORK = ZoneInfo("America/New_York")


def make_team(engine: Engine, **zones: str) -> dict[str, int]:
    """Ada and Ben coordinate; Dana and Emil contribute. Keyword arguments set time zones."""
    ids = {}
    with write_session(engine) as session:
        for name, coordinator in (("Ada", True), ("Ben", True), ("Dana", False),
                                  ("Emil", False)):
            member = add_member(session, name, coordinator=coordinator)
            member.timezone = zones.get(name)
            session.add(member)
            session.flush()
            assert member.id is not None
            ids[name] = member.id
    return ids


def mark_sent(session: Session) -> None:
    """The notifications of a story's set-up went out long ago; keep them out of the way."""
    for row in session.exec(select(Outbound).where(Outbound.status == "pending")).all():
        row.status = "sent"
        session.add(row)


def member(session: Session, member_id: int) -> Member:
    found = session.get(Member, member_id)
    assert found is not None
    return found


def drafting_story(engine: Engine, policy: Policy, team: dict[str, int], at: datetime,
                   due: date, author: str = "Dana", title: str = "Muons") -> tuple[int, str]:
    """A story pitched and accepted at `at` with the draft due on `due`; (id, reviewer)."""
    with write_session(engine) as session:
        reply = stories.pitch(session, member(session, team[author]), at, policy,
                              PitchForm(title=title, objective="outreach"))
        assert reply.story_id is not None
        story = session.get(Story, reply.story_id)
        assert story is not None and story.reviewer_id is not None
        reviewer = member(session, story.reviewer_id)
        stories.accept(session, reviewer, at, policy, reply.story_id, due)
        mark_sent(session)
        return reply.story_id, reviewer.display_name


def in_review_story(engine: Engine, policy: Policy, team: dict[str, int],
                    submitted: datetime) -> tuple[int, str]:
    story_id, reviewer = drafting_story(engine, policy, team, submitted - timedelta(days=5),
                                        submitted.date() + timedelta(days=3))
    with write_session(engine) as session:
        stories.submit_draft(session, member(session, team["Dana"]), submitted, policy,
                             story_id, "https://docs.example.org/d/1")
        mark_sent(session)
    return story_id, reviewer


def scheduled_story(engine: Engine, policy: Policy, team: dict[str, int], when: datetime,
                    title: str, objective: str = "outreach") -> int:
    at = when - timedelta(days=20)
    with write_session(engine) as session:
        author = member(session, team["Emil"])
        reply = stories.pitch(session, author, at, policy,
                              PitchForm(title=title, objective=objective))
        assert reply.story_id is not None
        coordinator = member(session, team["Ada"])
        stories.accept(session, coordinator, at, policy, reply.story_id, None)
        stories.submit_draft(session, author, at, policy, reply.story_id,
                             "https://docs.example.org/d/2")
        stories.approve(session, coordinator, at, policy, reply.story_id)
        stories.schedule(session, coordinator, at, policy, reply.story_id, when)
        mark_sent(session)
        return reply.story_id


def coming_week(deliveries: list[Delivery]) -> list[Delivery]:
    return [p for p in posts(deliveries, "team") if p.reply.text.startswith("The coming week")]


# --- the author's draft reminders ------------------------------------------------------------


def test_draft_reminders_before_on_the_day_overdue_and_the_reviewer_after_four_days(
    desk: Desk, engine: Engine, policy: Policy
) -> None:
    team = make_team(engine)
    story_id, reviewer = drafting_story(engine, policy, team, local("2026-11-23 10:00"),
                                        date(2026, 12, 3))
    assert not dms(desk.at(local("2026-11-30 08:59")))
    before = dms(desk.at(local("2026-11-30 09:00")))
    assert [d.recipient.display_name for d in before if d.recipient] == ["Dana"]
    assert "due Thursday 03 December, in 3 days" in before[0].reply.text
    assert not dms(desk.at(local("2026-11-30 09:00:30")))  # a repeated tick queues nothing
    on_day = dms(desk.at(local("2026-12-03 09:00")))
    assert [d.reply.text for d in on_day] == [
        f'Your draft of story #{story_id} "Muons" is due today.']
    # Two days overdue is a Saturday: deferred to Monday, where the four-day one is due
    # within the hour, so only that one goes; the reviewer hears on the same morning.
    assert not dms(desk.at(local("2026-12-05 09:00")))
    assert not dms(desk.at(local("2026-12-07 08:00")))
    monday = dms(desk.at(local("2026-12-07 09:00")))
    assert sorted(d.recipient.display_name for d in monday if d.recipient) == sorted(
        ["Dana", reviewer])
    dana = dms(monday, "Dana")[0]
    # Worded as they are sent, side by side: the reviewer's message is not out yet, so
    # Dana is not told that it is; two days later it is true, and said.
    assert "4 days ago" in dana.reply.text and "reviewer has been told" not in dana.reply.text
    assert "4 days overdue" in dms(monday, reviewer)[0].reply.text
    wednesday = dms(desk.at(local("2026-12-09 09:00")))
    assert [d.recipient.display_name for d in wednesday if d.recipient] == ["Dana"]
    assert "6 days ago" in wednesday[0].reply.text
    assert "Your reviewer has been told too." in wednesday[0].reply.text
    assert f"draft-reminder:story-{story_id}:due-2026-12-03:overdue-2d" not in desk.keys("sent")


def test_no_reminder_for_a_moment_before_the_story_was_accepted(
    desk: Desk, engine: Engine, policy: Policy
) -> None:
    team = make_team(engine)
    drafting_story(engine, policy, team, local("2026-11-24 10:00"), date(2026, 11, 26))
    delivered = desk.at(local("2026-11-25 09:00"))
    assert not dms(delivered)
    assert desk.keys("expired") == []  # not "missed": it never applied
    assert len(dms(desk.at(local("2026-11-26 09:00")), "Dana")) == 1


def test_reminders_follow_the_authors_time_zone(desk: Desk, engine: Engine,
                                                policy: Policy) -> None:
    team = make_team(engine, Dana="America/New_York")
    drafting_story(engine, policy, team, local("2026-11-23 10:00"), date(2026, 12, 3))
    assert not dms(desk.at(local("2026-11-30 08:59", NEW_YORK)), "Dana")
    assert len(dms(desk.at(local("2026-11-30 09:00", NEW_YORK)), "Dana")) == 1


# --- the reviewer's nudge --------------------------------------------------------------------


def test_a_draft_untouched_in_review_for_three_days_nudges_the_reviewer(
    desk: Desk, engine: Engine, policy: Policy
) -> None:
    team = make_team(engine)
    story_id, reviewer = in_review_story(engine, policy, team, local("2026-11-24 14:00"))
    assert not dms(desk.at(local("2026-11-27 13:59")), reviewer)
    nudged = dms(desk.at(local("2026-11-27 14:00")), reviewer)
    assert len(nudged) == 1 and "waited 3 days for your review" in nudged[0].reply.text
    assert len(dms(desk.at(local("2026-11-30 14:00")), reviewer)) == 1  # 6 days
    with write_session(engine) as session:  # touched: changes requested
        stories.request_changes(session, member(session, team["Ada"]
                                                if reviewer == "Ada" else team["Ben"]),
                                local("2026-11-30 15:00"), policy, story_id, "shorter")
        mark_sent(session)
    assert not dms(desk.at(local("2026-12-03 15:00")), reviewer)


def test_quiet_hours_and_the_weekend_defer_a_nudge_and_never_drop_it(
    desk: Desk, engine: Engine, policy: Policy
) -> None:
    team = make_team(engine)
    _, reviewer = in_review_story(engine, policy, team, local("2026-11-24 21:30"))
    assert not dms(desk.at(local("2026-11-27 21:30")), reviewer)  # Friday, quiet hours
    assert not dms(desk.at(local("2026-11-28 12:00")), reviewer)  # Saturday
    assert not dms(desk.at(local("2026-11-30 07:59")), reviewer)  # Monday, still quiet
    # Deferred to a later day, it comes with that day's reminders at 09:00, not at 08:00.
    assert not dms(desk.at(local("2026-11-30 08:00")), reviewer)
    arrived = dms(desk.at(local("2026-11-30 09:00")), reviewer)
    assert len(arrived) == 1
    assert not arrived[0].late  # deferred on purpose, not late


# --- snooze and reminders off ------------------------------------------------------------------


def test_a_snooze_defers_everything_due_meanwhile_into_one_message(
    desk: Desk, engine: Engine, policy: Policy
) -> None:
    team = make_team(engine)
    story_id, _ = drafting_story(engine, policy, team, local("2026-11-23 10:00"),
                                 date(2026, 12, 3))
    desk.at(local("2026-11-30 09:00"))
    with write_session(engine) as session:
        reply = reminders.snooze(session, member(session, team["Dana"]),
                                 local("2026-12-02 10:00"), policy, story_id, 5)
    assert "until Monday 07 December 10:00" in reply.text
    for moment in ("2026-12-03 09:00", "2026-12-05 09:00", "2026-12-07 09:00",
                   "2026-12-07 09:59"):
        assert not dms(desk.at(local(moment)), "Dana"), moment
    after = dms(desk.at(local("2026-12-07 10:00")), "Dana")
    assert len(after) == 1 and "4 days ago" in after[0].reply.text
    assert not dms(desk.at(local("2026-12-08 10:00")), "Dana")
    assert desk.keys("expired") == []


def test_snooze_is_refused_to_someone_the_story_does_not_remind(
    desk: Desk, engine: Engine, policy: Policy
) -> None:
    team = make_team(engine)
    story_id, _ = drafting_story(engine, policy, team, local("2026-11-23 10:00"),
                                 date(2026, 12, 3))
    with write_session(engine) as session:
        try:
            reminders.snooze(session, member(session, team["Emil"]), local("2026-11-24 10:00"),
                             policy, story_id, 2)
        except Refused as refusal:
            assert "only its author and its reviewer" in refusal.message
        else:
            raise AssertionError("Emil could snooze a story he has nothing to do with")


def test_reminders_off_skips_them_and_on_again_does_not_replay_the_past(
    desk: Desk, engine: Engine, policy: Policy
) -> None:
    team = make_team(engine)
    drafting_story(engine, policy, team, local("2026-11-23 10:00"), date(2026, 12, 3))
    with write_session(engine) as session:
        members.set_reminders(session, member(session, team["Dana"]), False)
    assert not dms(desk.at(local("2026-11-30 09:00")), "Dana")
    assert not dms(desk.at(local("2026-12-03 09:00")), "Dana")
    assert len(desk.keys("skipped")) == 2
    with write_session(engine) as session:
        members.set_reminders(session, member(session, team["Dana"]), True)
    assert not dms(desk.at(local("2026-12-03 12:00")), "Dana")
    assert len(dms(desk.at(local("2026-12-07 09:00")), "Dana")) == 1


# --- downtime ------------------------------------------------------------------------------------


def test_after_downtime_recent_reminders_go_late_and_older_ones_are_counted_as_expired(
    desk: Desk, engine: Engine, policy: Policy
) -> None:
    team = make_team(engine)
    story_id, _ = drafting_story(engine, policy, team, local("2026-11-23 10:00"),
                                 date(2026, 12, 3))
    desk.at(local("2026-11-28 12:00"))
    # Down from Saturday until Thursday 15:00: the Monday reminder is 3 days old, the
    # Thursday one 6 hours.
    back = desk.at(local("2026-12-03 15:00"))
    late = dms(back, "Dana")
    assert len(late) == 1 and late[0].late and "due today" in late[0].reply.text
    series = f"draft-reminder:story-{story_id}:due-2026-12-03"
    assert desk.keys("expired") == [f"{series}:before"]
    assert not coming_week(back)  # Monday's post is too old to send: no burst of stale posts
    monday = coming_week(desk.at(local("2026-12-07 09:00")))
    assert len(monday) == 1
    assert "1 reminder fell more than a day overdue" in monday[0].reply.text
    for day in range(8, 14):  # running again: nothing more expires
        desk.at(local(f"2026-12-{day:02d} 09:00"))
    following = coming_week(desk.at(local("2026-12-14 09:00")))
    assert len(following) == 1 and "overdue" not in following[0].reply.text
    with read_session(engine) as session:
        notices = session.exec(select(DeliveryNotice)).all()
    assert [(n.kind, n.reported_at is not None) for n in notices] == [("expired", True)]


def test_a_queued_reminder_past_the_cutoff_is_expired_by_the_dispatcher(
    desk: Desk, engine: Engine, policy: Policy
) -> None:
    team = make_team(engine)
    drafting_story(engine, policy, team, local("2026-11-23 10:00"), date(2026, 12, 3))
    with write_session(engine) as session:  # queued, then the platform was away for days
        dana = member(session, team["Dana"])
        notify_member(session, dana, Reply(text="old"),
                                key="draft-reminder:story-1:due-2026-12-03:before",
                                now=local("2026-11-30 09:00"))
        notify_member(session, dana, Reply(text="decision"),
                                key="story-1:author:accepted:v9", now=local("2026-11-30 09:00"))
    desk.clock.move_to(local("2026-12-02 12:00"))
    report = desk.dispatcher.dispatch_due(local("2026-12-02 12:00"))
    assert report.expired == 1
    assert [d.reply.text for d in report.delivered] == ["decision"]  # never dropped
    assert report.delivered[0].late


# --- team and group channel posts --------------------------------------------------------------


def test_the_coming_week_post_goes_once_on_monday_morning(desk: Desk, engine: Engine,
                                                          policy: Policy) -> None:
    team = make_team(engine)
    scheduled_story(engine, policy, team, local("2026-12-01 18:00"), "Cloud chamber")
    assert not posts(desk.at(local("2026-11-30 08:59")), "team")
    first = posts(desk.at(local("2026-11-30 09:00")), "team")
    assert len(first) == 1
    assert first[0].reply.text.startswith("The coming week: 1 to publish, 1 free slot")
    for moment in ("2026-11-30 09:00:30", "2026-11-30 13:00", "2026-12-02 09:00"):
        assert not coming_week(desk.at(local(moment)))


def test_publishing_today_and_an_empty_slot_two_days_ahead(desk: Desk, engine: Engine,
                                                           policy: Policy) -> None:
    team = make_team(engine)
    scheduled_story(engine, policy, team, local("2026-12-01 18:00"), "Cloud chamber")
    sunday = posts(desk.at(local("2026-11-29 09:00")), "team")
    assert not sunday  # Tuesday's slot is taken: no warning
    tuesday = posts(desk.at(local("2026-12-01 09:00")), "team")
    texts = sorted(p.reply.text for p in tuesday)
    assert texts[0].startswith("Nothing is scheduled for Thursday 03 December 18:00")
    assert texts[1].startswith("Publishing today: #")
    assert "Cloud chamber at 18:00" in texts[1]
    assert not posts(desk.at(local("2026-12-01 19:00")), "team")


def test_two_stories_on_one_day_are_flagged_once(desk: Desk, engine: Engine,
                                                  policy: Policy) -> None:
    team = make_team(engine)
    first = scheduled_story(engine, policy, team, local("2026-12-01 18:00"), "Cloud chamber")
    second = scheduled_story(engine, policy, team, local("2026-12-01 12:00"), "Canteen")
    flagged = [p for p in posts(desk.at(local("2026-11-24 10:00")), "team")
               if p.reply.text.startswith("Two stories on")]
    assert len(flagged) == 1
    assert f"#{first}" in flagged[0].reply.text and f"#{second}" in flagged[0].reply.text
    assert not [p for p in posts(desk.at(local("2026-11-25 10:00")), "team")
                if p.reply.text.startswith("Two stories on")]


def test_a_call_for_pitches_every_two_weeks_names_what_the_schedule_lacks(
    desk: Desk, engine: Engine, policy: Policy
) -> None:
    team = make_team(engine)
    scheduled_story(engine, policy, team, local("2026-12-03 18:00"), "Lab life",
                    objective="recruitment")
    assert not posts(desk.at(local("2026-11-23 09:00")), "group")  # last call is too old
    call = posts(desk.at(local("2026-11-30 09:00")), "group")
    assert len(call) == 1
    lines = [item for block in call[0].reply.blocks for item in getattr(block, "items", ())]
    assert "No outreach story in 6 weeks (spark interest, basic concepts)." in lines
    assert not any("recruitment" in line for line in lines)
    assert any(line.startswith("7 free publication slots in the next 4 weeks") for line in lines)
    assert not posts(desk.at(local("2026-12-07 09:00")), "group")
    assert len(posts(desk.at(local("2026-12-14 09:00")), "group")) == 1


def test_a_call_for_pitches_when_every_slot_is_taken_says_when_the_first_free_one_is(
    desk: Desk, engine: Engine, policy: Policy
) -> None:
    team = make_team(engine)
    for day in ("01", "03", "08", "10", "15", "17", "22", "24"):
        scheduled_story(engine, policy, team, local(f"2026-12-{day} 18:00"), f"Story {day}")
    drafting_story(engine, policy, team, local("2026-11-23 10:00"), date(2026, 12, 10))
    call = posts(desk.at(local("2026-11-30 09:00")), "group")
    lines = [item for block in call[0].reply.blocks for item in getattr(block, "items", ())]
    assert ("Every publication slot in the next 4 weeks is taken; the first free one is "
            "Tue 29 Dec, and 1 story in progress will want a slot before a story pitched "
            "now.") in lines
    assert not any("free publication slot" in line for line in lines)


# --- idempotence across replicas --------------------------------------------------------------


def test_two_replicas_ticking_at_once_queue_each_reminder_once(
    engine: Engine, policy: Policy
) -> None:
    team = make_team(engine)
    drafting_story(engine, policy, team, local("2026-11-23 10:00"), date(2026, 12, 3))
    for n, name in enumerate(("Emil",) * 3, start=1):  # three stories, not one sent thrice
        drafting_story(engine, policy, team, local("2026-11-23 10:00"), date(2026, 12, 3),
                       author=name, title=f"Story {n} by {name}")
    now = local("2026-11-30 09:00")

    def replica() -> None:
        with write_session(engine) as session:
            reminders.run_tick(session, now, policy)

    at_once(4, replica)
    with read_session(engine) as session:
        keys = list(session.exec(select(Outbound.unique_key)).all())
    reminder_keys = [k for k in keys if k.startswith("draft-reminder:")]
    assert len(reminder_keys) == 4 == len(set(reminder_keys))
    assert len(keys) == len(set(keys))
