"""The bot keeps the books: approval schedules, revisions have a rhythm, withdrawals are
honest, away reviewers are skipped, pitches may be accepted lazily, warnings are said once.
On SQLite and PostgreSQL, with "now" frozen."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace
from datetime import UTC, date, datetime
from zoneinfo import ZoneInfo

import pytest
from freezegun import freeze_time
from sqlalchemy import event
from sqlmodel import Session, col, select

from bot.grammar import help_reply
from handlers import auto_accept, reminders, stories, warnings
from handlers.context import Policy, ReminderRules
from handlers.errors import Refused
from handlers.reach import digest as reach_digest
from handlers.reach.store import DailyFigure, store_daily
from handlers.stories import PitchForm
from storage.models import AwayPeriod, Member, Outbound, Story, StoryEvent

BERLIN = ZoneInfo("Europe/Berlin")


def local(text: str) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=BERLIN).astimezone(UTC)


def rows_to(session: Session, member: Member) -> list[Outbound]:
    return list(session.exec(
        select(Outbound).where(Outbound.member_id == member.id).order_by(col(Outbound.id))
    ).all())


def in_review(session: Session, team: dict[str, Member], policy: Policy, now: datetime,
              title: str = "Muons", **fields: object) -> int:
    reply = stories.pitch(session, team["Dana"], now, policy,
                          PitchForm(title=title, **fields))  # type: ignore[arg-type]
    assert reply.story_id is not None
    stories.accept(session, team["Ada"], now, policy, reply.story_id)
    stories.submit_draft(session, team["Dana"], now, policy, reply.story_id, "https://x.org/d")
    return reply.story_id


def state(session: Session, story_id: int) -> Story:
    story = session.get(Story, story_id)
    assert story is not None
    return story


# --- approval schedules ------------------------------------------------------------------


def test_approving_schedules_into_the_next_slot_and_tells_the_author_once(
    session: Session, team: dict[str, Member], policy: Policy
) -> None:
    with freeze_time(local("2026-11-23 10:00")):  # Monday
        now = datetime.now(UTC)
        story_id = in_review(session, team, policy, now)
        before = len(rows_to(session, team["Dana"]))
        reply = stories.approve(session, team["Ben"], now, policy, story_id)
    story = state(session, story_id)
    assert story.state == "scheduled" and story.scheduled_at == local("2026-11-24 18:00")
    assert reply.text == (f"Story #{story_id} approved and scheduled for Tue 2026-11-24 18:00 "
                          "(Europe/Berlin), the first free slot at least 24 h ahead.")
    assert f"`/story schedule {story_id} YYYY-MM-DD HH:MM`" in reply.blocks[1].text  # type: ignore[union-attr]
    new = rows_to(session, team["Dana"])[before:]
    assert [r.text for r in new] == [
        f'Story #{story_id} "Muons" is approved by Ben. It goes out on Tuesday 24 November '
        "at 18:00."]
    card = stories.card(session, story, policy)
    assert any("To move it: `/story schedule" in getattr(b, "text", "") for b in card.blocks)
    actions = [e.action for e in session.exec(
        select(StoryEvent).where(StoryEvent.story_id == story_id))]
    assert actions[-2:] == ["approve", "schedule"]


def test_approval_and_schedule_next_keep_the_lead(
    session: Session, team: dict[str, Member], policy: Policy
) -> None:
    # Tuesday 14:12: the same evening's 18:00 slot is 3.8 h ahead, too close.
    now = local("2026-11-24 14:12")
    first = in_review(session, team, policy, now, "First")
    stories.approve(session, team["Ada"], now, policy, first)
    assert state(session, first).scheduled_at == local("2026-11-26 18:00")
    second = in_review(session, team, policy, now, "Second")
    stories.approve(session, team["Ada"], now, policy, second, unscheduled=True)
    reply = stories.schedule(session, team["Ada"], now, policy, second, None)
    assert "Tue 2026-12-01 18:00" in reply.text  # Thursday is taken, Tuesday is too close
    short = replace(policy, min_lead_hours=2)
    third = in_review(session, team, policy, now, "Third")
    stories.approve(session, team["Ada"], now, short, third)
    assert state(session, third).scheduled_at == local("2026-11-24 18:00")


def test_approve_unscheduled_keeps_the_story_out_of_the_calendar(
    session: Session, team: dict[str, Member], policy: Policy, now: datetime
) -> None:
    story_id = in_review(session, team, policy, now)
    reply = stories.approve(session, team["Ada"], now, policy, story_id, unscheduled=True)
    story = state(session, story_id)
    assert story.state == "approved" and story.scheduled_at is None
    assert "kept out of the calendar" in reply.text
    told = rows_to(session, team["Dana"])[-1].text
    assert "The coordinators will choose when it goes out." in told


def test_approval_without_a_free_slot_says_so(
    session: Session, team: dict[str, Member], now: datetime
) -> None:
    no_cadence = Policy(timezone="Europe/Berlin", cadence=(), channel_platforms=("console",))
    story_id = in_review(session, team, no_cadence, now)
    reply = stories.approve(session, team["Ada"], now, no_cadence, story_id)
    assert state(session, story_id).state == "approved"
    assert "no free slot lies ahead" in reply.text
    # Nothing schedules it later by itself: the author hears who will, and how.
    assert rows_to(session, team["Dana"])[-1].text == (
        f'Story #{story_id} "Muons" is approved by Ada. No publication slot is free for it '
        f"yet; a coordinator will give it a time with `/story schedule {story_id} "
        "YYYY-MM-DD HH:MM`.")


# --- changes requested -------------------------------------------------------------------


def test_changes_set_a_revision_date_with_reminders_and_the_reviewer_is_nudged(
    session: Session, team: dict[str, Member], policy: Policy
) -> None:
    now = local("2026-11-23 10:00")  # Monday
    story_id = in_review(session, team, policy, now)
    reply = stories.request_changes(session, team["Ada"], now, policy, story_id, "Shorter")
    assert state(session, story_id).draft_due == date(2026, 11, 28)
    assert "revision is due 2026-11-28" in reply.text
    assert "The revision is due on Saturday 28 November." in rows_to(session, team["Dana"])[-1].text
    # Three days before Saturday is Wednesday at 09:00: the author's reminder.
    reminders.run_tick(session, local("2026-11-25 09:00"), policy)
    keys = [r.unique_key for r in rows_to(session, team["Dana"])]
    assert f"draft-reminder:story-{story_id}:due-2026-11-28:before" in keys
    text = rows_to(session, team["Dana"])[-1].text
    assert text.startswith("Friendly reminder: your revision of") and "in 3 days" in text
    # The resubmission waits with the reviewer: nudged after three days.
    stories.submit_draft(session, team["Dana"], local("2026-11-26 10:00"), policy, story_id,
                         "https://x.org/d2")
    reminders.run_tick(session, local("2026-11-30 10:00"), policy)
    nudges = [r for r in rows_to(session, team["Ada"]) if r.unique_key.startswith("review-nudge")]
    assert len(nudges) == 1 and "https://x.org/d2" in nudges[0].text


def test_changes_days_come_from_the_policy(
    session: Session, team: dict[str, Member], policy: Policy, now: datetime
) -> None:
    story_id = in_review(session, team, policy, now)
    stories.request_changes(session, team["Ada"], now, replace(policy, changes_days=9),
                            story_id, "")
    assert state(session, story_id).draft_due == date(2026, 12, 2)


# --- withdrawals ------------------------------------------------------------------------


def test_a_coordinator_withdraws_only_with_a_reason_that_the_author_receives(
    session: Session, team: dict[str, Member], policy: Policy, now: datetime
) -> None:
    story_id = in_review(session, team, policy, now)
    with pytest.raises(Refused, match="Say why story #1 is withdrawn"):
        stories.withdraw(session, team["Ben"], now, policy, story_id)
    with pytest.raises(Refused, match="Only the author or a coordinator"):
        stories.withdraw(session, team["Emil"], now, policy, story_id, "no")
    reply = stories.withdraw(session, team["Ben"], now, policy, story_id, "Embargo extended")
    assert reply.text == "Story #1 is withdrawn. Its author is told, with your reason."
    assert rows_to(session, team["Dana"])[-1].text == (
        'Story #1 "Muons" was withdrawn by Ben: Embargo extended')
    event = session.exec(select(StoryEvent).where(StoryEvent.action == "withdraw")).one()
    assert event.detail == "Embargo extended"


def test_the_author_withdraws_without_a_reason_and_is_not_told_of_it(
    session: Session, team: dict[str, Member], policy: Policy, now: datetime
) -> None:
    story_id = in_review(session, team, policy, now)
    before = len(rows_to(session, team["Dana"]))
    reply = stories.withdraw(session, team["Dana"], now, policy, story_id)
    assert reply.text == "Story #1 is withdrawn."
    assert len(rows_to(session, team["Dana"])) == before
    assert "withdrawn by Dana" in rows_to(session, team["Ada"])[-1].text  # the reviewer


def test_help_says_who_may_withdraw() -> None:
    usage = help_reply("withdraw", Policy())
    text = " ".join([usage.text, *(getattr(b, "text", "") for b in usage.blocks)])
    assert "/story withdraw N [reason]" in text
    assert "A coordinator may withdraw someone else's story only with a reason" in text


# --- away reviewers -----------------------------------------------------------------------


def test_a_draft_arriving_while_its_reviewer_is_away_goes_to_another_coordinator(
    session: Session, team: dict[str, Member], policy: Policy, now: datetime
) -> None:
    reply = stories.pitch(session, team["Dana"], now, policy, PitchForm(title="Muons"))
    story_id = reply.story_id
    assert story_id is not None and state(session, story_id).reviewer_id == team["Ada"].id
    stories.accept(session, team["Ada"], now, policy, story_id)
    session.add(AwayPeriod(member_id=team["Ada"].id, first_day=date(2026, 11, 30),
                           last_day=date(2026, 12, 4)))
    session.flush()
    stories.submit_draft(session, team["Dana"], local("2026-12-01 10:00"), policy, story_id,
                         "https://x.org/d")
    story = state(session, story_id)
    assert story.reviewer_id in {team["Ben"].id, team["Chloe"].id}
    assert story.assignment_reason.startswith("Ada is away until 2026-12-04; ")
    new = session.get(Member, story.reviewer_id)
    assert new is not None
    told = rows_to(session, new)[-1].text
    assert "ready for your review" in told
    assert told.endswith(f"https://x.org/d ({story.assignment_reason})")  # and why it is theirs
    assert not any("ready for your review" in r.text for r in rows_to(session, team["Ada"]))


def test_a_draft_stays_with_a_reviewer_who_is_not_away(
    session: Session, team: dict[str, Member], policy: Policy, now: datetime
) -> None:
    story_id = in_review(session, team, policy, now)
    assert state(session, story_id).reviewer_id == team["Ada"].id
    told = rows_to(session, team["Ada"])[-1].text  # no hand-over, so no reason
    assert told == f'A draft of story #{story_id} "Muons" is ready for your review: https://x.org/d'


# --- lazy acceptance --------------------------------------------------------------------


def test_working_hours_count_only_the_working_time() -> None:
    rules = ReminderRules()  # Monday to Friday, quiet 20:00-08:00
    hours = auto_accept.working_hours(local("2026-11-27 17:00"), local("2026-11-30 13:00"),
                                      BERLIN, rules)
    assert hours == 3 + 5  # Friday 17-20, Monday 08-13; the weekend does not count
    away = ((date(2026, 11, 30), date(2026, 11, 30)),)
    assert auto_accept.working_hours(local("2026-11-27 17:00"), local("2026-11-30 13:00"),
                                     BERLIN, rules, away) == 3


def test_a_pitch_not_declined_within_the_hours_is_accepted_and_the_reviewer_told(
    session: Session, team: dict[str, Member], policy: Policy
) -> None:
    lazy = replace(policy, auto_accept_hours=8)
    reply = stories.pitch(session, team["Dana"], local("2026-11-27 17:00"), lazy,
                          PitchForm(title="Muons"))
    story_id = reply.story_id
    assert story_id is not None
    assert reminders.run_tick(session, local("2026-11-30 12:59"), lazy).accepted == 0
    assert state(session, story_id).state == "pitched"
    assert reminders.run_tick(session, local("2026-11-30 13:00"), policy).accepted == 0  # off
    assert reminders.run_tick(session, local("2026-11-30 13:00"), lazy).accepted == 1
    story = state(session, story_id)
    assert story.state == "accepted" and story.draft_due == date(2026, 12, 14)
    told = rows_to(session, team["Ada"])[-1].text
    assert told.startswith(f'Story #{story_id} "Muons" was accepted automatically: it waited 8')
    assert "is accepted. Your draft is due on Monday 14 December" in \
        rows_to(session, team["Dana"])[-1].text
    assert reminders.run_tick(session, local("2026-11-30 14:00"), lazy).accepted == 0


def test_a_reassigned_pitch_waits_the_new_reviewers_hours_from_the_reassignment(
    session: Session, team: dict[str, Member], policy: Policy
) -> None:
    lazy = replace(policy, auto_accept_hours=8)
    reply = stories.pitch(session, team["Dana"], local("2026-11-30 09:00"), lazy,
                          PitchForm(title="Muons"))  # Monday
    story_id = reply.story_id
    assert story_id is not None and state(session, story_id).reviewer_id == team["Ada"].id
    stories.reassign(session, team["Ada"], local("2026-11-30 16:00"), lazy, story_id,
                     team["Ben"])
    # Eight hours since the pitch, one of them Ben's: still his to decide.
    assert reminders.run_tick(session, local("2026-11-30 17:00"), lazy).accepted == 0
    # Monday 16-20 and Tuesday 08-12 make Ben's eight working hours.
    assert reminders.run_tick(session, local("2026-12-01 11:59"), lazy).accepted == 0
    assert state(session, story_id).state == "pitched"
    assert reminders.run_tick(session, local("2026-12-01 12:00"), lazy).accepted == 1
    assert state(session, story_id).state == "accepted"
    told = rows_to(session, team["Ben"])[-1].text
    assert told.startswith(f'Story #{story_id} "Muons" was accepted automatically: it waited 8')


def test_a_pitch_handed_over_by_the_tick_is_not_accepted_by_the_same_tick(
    session: Session, team: dict[str, Member], policy: Policy
) -> None:
    lazy = replace(policy, auto_accept_hours=8)
    reply = stories.pitch(session, team["Dana"], local("2026-11-30 09:00"), lazy,
                          PitchForm(title="Muons"))
    story_id = reply.story_id
    assert story_id is not None
    session.add(AwayPeriod(member_id=team["Ada"].id, first_day=date(2026, 12, 1),
                           last_day=date(2026, 12, 4)))
    session.flush()
    report = reminders.run_tick(session, local("2026-12-01 09:00"), lazy)
    assert (report.handed_over, report.accepted) == (1, 0)
    assert state(session, story_id).state == "pitched"


# --- team-channel warnings -----------------------------------------------------------------


def test_the_missing_weekly_summary_is_said_once_until_its_cause_changes(
    session: Session, team: dict[str, Member], policy: Policy
) -> None:
    first = reach_digest.enqueue_digests(session, local("2026-11-30 09:30"), policy)
    assert len(first) == 1 and "was not posted" in first[0].text
    again = reach_digest.enqueue_digests(session, local("2026-12-07 09:30"), policy)
    assert again == []
    skipped = session.exec(select(Outbound).where(Outbound.status == "skipped")).all()
    assert [r.last_error for r in skipped] == ["warning said before"]
    assert reach_digest.enqueue_digests(session, local("2026-12-07 10:30"), policy) == []
    warnings.cleared(session, reach_digest.MISSING_SUMMARY)  # figures came back meanwhile
    third = reach_digest.enqueue_digests(session, local("2026-12-14 09:30"), policy)
    assert len(third) == 1


def test_a_posted_summary_clears_the_warning_so_the_next_missing_week_warns_again(
    session: Session, team: dict[str, Member], policy: Policy
) -> None:
    def team_warnings(rows: list[Outbound]) -> list[str]:
        return [r.unique_key for r in rows if r.channel == "team"]

    # 2026-W48 has no figures: the team is told on Monday 30 November.
    first = reach_digest.enqueue_digests(session, local("2026-11-30 09:30"), policy)
    assert team_warnings(first) == ["digest:reach:2026-W48@console"]
    # 2026-W49 has figures: its summary goes to the group channel on Monday 7 December.
    store_daily(session, [DailyFigure(date(2026, 12, 2), "accounts_reached", 250)],
                source="manual", now=local("2026-12-06 12:00"))
    posted = reach_digest.enqueue_digests(session, local("2026-12-07 09:30"), policy)
    assert [(r.channel, r.unique_key) for r in posted] == [
        ("group", "digest:reach:2026-W49@console")]
    # 2026-W50 has none again: a new gap, said again rather than recorded as skipped.
    third = reach_digest.enqueue_digests(session, local("2026-12-14 09:30"), policy)
    assert team_warnings(third) == ["digest:reach:2026-W50@console"]
    assert "2026-W50 was not posted" in third[0].text
    assert not session.exec(select(Outbound).where(Outbound.status == "skipped")).all()


def test_a_warning_is_said_again_when_its_cause_changes(session: Session) -> None:
    assert warnings.first_time(session, "kind", "a")
    assert not warnings.first_time(session, "kind", "a")
    assert warnings.first_time(session, "kind", "b")


def test_empty_slot_warnings_come_on_the_last_working_day_that_leaves_time() -> None:
    rules = ReminderRules()
    tuesday, thursday = local("2026-12-01 18:00"), local("2026-12-03 18:00")
    assert reminders.empty_slot_warning_day(tuesday, BERLIN, rules) == date(2026, 11, 27)
    assert reminders.empty_slot_warning_day(thursday, BERLIN, rules) == date(2026, 12, 1)


def test_an_empty_tuesday_is_warned_of_on_friday_not_on_sunday(
    session: Session, team: dict[str, Member], policy: Policy
) -> None:
    # Thursday's slot is filled, so only Tuesday's is empty.
    story_id = in_review(session, team, policy, local("2026-11-20 10:00"))
    stories.approve(session, team["Ada"], local("2026-11-20 10:00"), policy, story_id,
                    unscheduled=True)
    stories.schedule(session, team["Ada"], local("2026-11-20 10:00"), policy, story_id,
                     local("2026-12-03 18:00"))
    reminders.run_tick(session, local("2026-11-27 08:59"), policy)
    assert not _empty_slot_keys(session)
    reminders.run_tick(session, local("2026-11-27 09:00"), policy)
    assert _empty_slot_keys(session) == [f"empty-slot:{local('2026-12-01 18:00'):%Y-%m-%dT%H:%MZ}"
                                         "@console"]
    reminders.run_tick(session, local("2026-11-29 09:00"), policy)
    assert len(_empty_slot_keys(session)) == 1


def _empty_slot_keys(session: Session) -> list[str]:
    return [k for k in session.exec(select(Outbound.unique_key)).all()
            if k.startswith("empty-slot:")]


def away_queries(session: Session, work: Callable[[], object]) -> int:
    """How many times `work` reads the away periods."""
    statements: list[str] = []

    def seen(_conn: object, _cursor: object, statement: str, *_args: object) -> None:
        if statement.lstrip().upper().startswith("SELECT") and "away_period" in statement:
            statements.append(statement)

    engine = session.get_bind()
    event.listen(engine, "before_cursor_execute", seen)
    try:
        work()
    finally:
        event.remove(engine, "before_cursor_execute", seen)
    return len(statements)


def test_the_tick_reads_the_reviewers_away_periods_once_not_once_a_story(
    session: Session, team: dict[str, Member], policy: Policy
) -> None:
    lazy = replace(policy, auto_accept_hours=8)
    at = local("2026-11-30 09:00")
    for title in ("One", "Two", "Three", "Four"):
        stories.pitch(session, team["Dana"], at, lazy, PitchForm(title=title))
    in_review(session, team, lazy, at, "Five")
    later = local("2026-11-30 10:00")
    assert away_queries(session, lambda: stories.hand_over_waiting_reviews(
        session, later, lazy)) == 1
    assert away_queries(session, lambda: auto_accept.run(session, later, lazy)) == 1


def test_a_review_waiting_on_a_coordinator_who_goes_away_moves_on_at_the_next_tick(
    session: Session, team: dict[str, Member], policy: Policy, now: datetime
) -> None:
    story_id = in_review(session, team, policy, now)
    assert state(session, story_id).reviewer_id == team["Ada"].id
    assert reminders.run_tick(session, local("2026-11-24 10:00"), policy).handed_over == 0
    session.add(AwayPeriod(member_id=team["Ada"].id, first_day=date(2026, 11, 25),
                           last_day=date(2026, 12, 2)))
    session.flush()
    assert reminders.run_tick(session, local("2026-11-25 09:00"), policy).handed_over == 1
    story = state(session, story_id)
    assert story.reviewer_id in {team["Ben"].id, team["Chloe"].id}
    new = session.get(Member, story.reviewer_id)
    assert new is not None
    told = rows_to(session, new)[-1].text
    assert told.startswith(f"You are now reviewing story #{story_id}: Muons, the draft")
    assert "Ada is away until 2026-12-02" in told
    assert reminders.run_tick(session, local("2026-11-25 10:00"), policy).handed_over == 0
