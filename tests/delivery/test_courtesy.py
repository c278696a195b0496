"""Every direct message respects the person: working hours, away periods, one a day, and
words that are true when they arrive. The real tick and the dispatcher with the team's
rules, on a frozen clock, on SQLite and PostgreSQL."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator
from dataclasses import replace
from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from freezegun import freeze_time
from sqlalchemy.engine import Engine
from sqlmodel import col, select

from bot.delivery.dispatcher import Dispatcher
from bot.delivery.scheduler import Ticker, reminder_job
from handlers import members, reminders, stories, wording
from handlers.context import Policy
from handlers.outbox import notify_member
from handlers.reply import Reply, plural
from handlers.stories import PitchForm
from storage.db import read_session, write_session
from storage.models import AwayPeriod, Outbound, Story
from tests.conftest import add_member, at_once
from tests.delivery.conftest import Desk, RecordingTransport, dms, local
from tests.delivery.test_reminders import make_team, mark_sent, member

NEW_YORK = ZoneInfo("America/New_York")
MONDAY = date(2026, 11, 30)  # the day a reminder held over the weekend arrives


@pytest.fixture
def kind_desk(engine: Engine, policy: Policy) -> Iterator[Desk]:
    """The delivery desk, with a dispatcher that applies the team's rules to DMs."""
    with freeze_time(datetime(2026, 11, 23, 8, 0, tzinfo=UTC)) as clock:
        transport = RecordingTransport()
        dispatcher = Dispatcher(engine, {"console": transport}, owner="test", policy=policy)
        ticker = Ticker([reminder_job(engine, policy)], 30, wake=lambda: None)
        yield Desk(engine, policy, clock, transport, dispatcher, ticker)


def pitched(engine: Engine, policy: Policy, team: dict[str, int], at: datetime,
            title: str = "Muons") -> int:
    with write_session(engine) as session:
        reply = stories.pitch(session, member(session, team["Dana"]), at, policy,
                              PitchForm(title=title))
        assert reply.story_id is not None
        return reply.story_id


def in_review(engine: Engine, policy: Policy, team: dict[str, int], at: datetime,
              title: str = "Muons") -> int:
    story_id = pitched(engine, policy, team, at, title)
    with write_session(engine) as session:
        stories.accept(session, member(session, team["Ada"]), at, policy, story_id)
        stories.submit_draft(session, member(session, team["Dana"]), at, policy, story_id,
                             "https://x.org/d")
        mark_sent(session)
    return story_id


def test_a_decision_at_night_reaches_the_author_next_working_morning(
    kind_desk: Desk, engine: Engine, policy: Policy
) -> None:
    team = make_team(engine)
    story_id = in_review(engine, policy, team, local("2026-11-25 10:00"))
    with write_session(engine) as session:  # Thursday 22:24: Ben approves
        stories.approve(session, member(session, team["Ben"]), local("2026-11-26 22:24"),
                        policy, story_id)
    assert not dms(kind_desk.at(local("2026-11-26 22:25")), "Dana")
    assert not dms(kind_desk.at(local("2026-11-27 08:30")), "Dana")
    friday = dms(kind_desk.at(local("2026-11-27 09:00")), "Dana")
    assert len(friday) == 1 and "approved by Ben" in friday[0].reply.text


def test_an_assignment_on_saturday_reaches_the_reviewer_on_monday_in_their_zone(
    kind_desk: Desk, engine: Engine, policy: Policy
) -> None:
    team = make_team(engine, Ada="America/New_York")
    pitched(engine, policy, team, local("2026-11-28 11:00"))  # Saturday
    assert not dms(kind_desk.at(local("2026-11-28 11:01")), "Ada")
    assert not dms(kind_desk.at(local("2026-11-30 09:00")), "Ada")  # 03:00 in New York
    monday = dms(kind_desk.at(datetime(2026, 11, 30, 9, 0, tzinfo=NEW_YORK)), "Ada")
    assert len(monday) == 1 and "You are reviewing story #1" in monday[0].reply.text


def test_a_message_to_someone_away_waits_until_they_are_back(
    kind_desk: Desk, engine: Engine, policy: Policy
) -> None:
    team = make_team(engine)
    story_id = in_review(engine, policy, team, local("2026-11-23 10:00"))
    with write_session(engine) as session:
        session.add(AwayPeriod(member_id=team["Dana"], first_day=date(2026, 11, 24),
                               last_day=date(2026, 11, 26)))
        stories.request_changes(session, member(session, team["Ada"]),
                                local("2026-11-24 11:00"), policy, story_id, "Shorter")
    assert not dms(kind_desk.at(local("2026-11-24 11:01")), "Dana")
    assert not dms(kind_desk.at(local("2026-11-26 16:00")), "Dana")
    back = dms(kind_desk.at(local("2026-11-27 09:00")), "Dana")
    assert len(back) == 1  # the changes note, then the revision's first reminder
    parts = [back[0].reply.text] + [getattr(b, "text", "") for b in back[0].reply.blocks]
    assert "asks for changes" in parts[0]
    assert any("your revision of" in part and "in 2 days" in part for part in parts)


def test_notices_held_together_arrive_as_one_message_in_their_order(
    kind_desk: Desk, engine: Engine, policy: Policy
) -> None:
    """Each commit wakes the dispatcher, as in the live runtime: two notices in the evening
    are both held, and the next working morning brings them as one message."""
    team = make_team(engine)
    story_id = in_review(engine, policy, team, local("2026-11-23 10:00"))
    with write_session(engine) as session:
        stories.approve(session, member(session, team["Ada"]), local("2026-11-24 20:30"),
                        policy, story_id, unscheduled=True)
    assert not dms(kind_desk.dispatch(local("2026-11-24 20:30")), "Dana")
    with write_session(engine) as session:
        stories.schedule(session, member(session, team["Ben"]), local("2026-11-24 20:35"),
                         policy, story_id, None)
    assert not dms(kind_desk.dispatch(local("2026-11-24 20:35")), "Dana")
    delivered = dms(kind_desk.at(local("2026-11-25 09:00")), "Dana")
    assert len(delivered) == 1
    reply = delivered[0].reply
    parts = [reply.text] + [getattr(b, "text", "") for b in reply.blocks]
    assert parts[0].startswith("2 notes from Storydesk: ") and "approved by Ada" in parts[0]
    assert "will be published on" in parts[1]
    assert sum("approved by Ada" in part for part in parts) == 1  # said once
    with read_session(engine) as session:
        rows = session.exec(select(Outbound).where(
            Outbound.member_id == team["Dana"], Outbound.status == "sent",
            col(Outbound.created_at) >= local("2026-11-24 00:00"))).all()
    assert len(rows) == 2  # both rows are recorded as sent, in one message


def test_in_working_hours_a_notice_goes_at_once_and_the_next_waits_a_day(
    kind_desk: Desk, engine: Engine, policy: Policy
) -> None:
    """Two coordinators a few minutes apart: the approval is sent as soon as it commits,
    so the scheduling is the day's second notice and waits for the next morning."""
    team = make_team(engine)
    story_id = in_review(engine, policy, team, local("2026-11-23 10:00"))
    with write_session(engine) as session:
        stories.approve(session, member(session, team["Ada"]), local("2026-11-24 10:00"),
                        policy, story_id, unscheduled=True)
    [approval] = dms(kind_desk.dispatch(local("2026-11-24 10:00")), "Dana")
    assert "approved by Ada" in approval.reply.text
    with write_session(engine) as session:
        stories.schedule(session, member(session, team["Ben"]), local("2026-11-24 10:05"),
                         policy, story_id, None)
    assert not dms(kind_desk.dispatch(local("2026-11-24 10:05")), "Dana")
    [scheduling] = dms(kind_desk.at(local("2026-11-25 09:00")), "Dana")
    assert "will be published on" in scheduling.reply.text


def test_at_most_one_unsolicited_message_a_day(
    kind_desk: Desk, engine: Engine, policy: Policy
) -> None:
    team = make_team(engine)
    first = in_review(engine, policy, team, local("2026-11-23 10:00"), "First")
    second = in_review(engine, policy, team, local("2026-11-23 10:00"), "Second")
    with write_session(engine) as session:
        stories.approve(session, member(session, team["Ada"]), local("2026-11-24 10:00"),
                        policy, first)
    assert len(dms(kind_desk.at(local("2026-11-24 10:01")), "Dana")) == 1
    with write_session(engine) as session:
        stories.request_changes(session, member(session, team["Ada"]),
                                local("2026-11-24 15:00"), policy, second, "A photo?")
    assert not dms(kind_desk.at(local("2026-11-24 15:01")), "Dana")
    next_day = dms(kind_desk.at(local("2026-11-25 09:00")), "Dana")
    assert len(next_day) == 1 and "asks for changes" in next_day[0].reply.text


def test_a_reminder_held_over_the_weekend_counts_its_days_when_it_arrives(
    kind_desk: Desk, engine: Engine, policy: Policy
) -> None:
    team = make_team(engine)
    held = held_reminder(engine, held_over_the_weekend(kind_desk, engine, policy, team))
    assert "in 3 days" in held.text
    monday = dms(kind_desk.at(local("2026-11-30 09:00")), "Dana")
    # The held reminder and the day's own are one message, saying what is true on Monday.
    assert len(monday) == 1
    assert monday[0].reply.text == f'Your draft of story #{held.story_id} "Muons" is due today.'
    assert "in 3 days" not in str(monday[0].reply.blocks)


def test_a_reminder_held_over_the_weekend_and_not_superseded_counts_from_monday(
    kind_desk: Desk, engine: Engine, policy: Policy
) -> None:
    """Reminded 5 days ahead, so that Monday brings no reminder of its own to stand in for
    Friday's: the one held over the weekend is the one said, and counts from Monday."""
    early = replace(policy, reminders=replace(policy.reminders, remind_days_before=5))
    desk = Desk(engine, early, kind_desk.clock, kind_desk.transport,
                Dispatcher(engine, {"console": kind_desk.transport}, owner="test", policy=early),
                Ticker([reminder_job(engine, early)], 30, wake=lambda: None))
    team = make_team(engine)
    due = date(2026, 12, 2)  # Wednesday: the reminder falls on Friday
    held = held_reminder(engine, held_over_the_weekend(desk, engine, early, team, due), due)
    assert "in 5 days" in held.text
    [monday] = dms(desk.at(local("2026-11-30 09:00")), "Dana")
    assert monday.reply.text == (f'Friendly reminder: your draft of story #{held.story_id} '
                                 '"Muons" is due Wednesday 02 December, in 2 days.')
    assert "in 5 days" not in str(monday.reply.blocks)


def test_an_escalation_held_over_the_weekend_counts_the_overdue_days_from_monday(
    kind_desk: Desk, engine: Engine, policy: Policy
) -> None:
    """The reviewer hears of an overdue draft once: held from Friday to Monday, it says
    how late the draft is on Monday."""
    team = make_team(engine)
    story_id = pitched(engine, policy, team, local("2026-11-09 10:00"))
    with write_session(engine) as session:
        stories.accept(session, member(session, team["Ada"]), local("2026-11-09 10:00"),
                       policy, story_id, date(2026, 11, 23))  # 4 days overdue on Friday
        mark_sent(session)
        # Friday 08:30: Ada hears of something else; the day's one message is used.
        notify_member(session, member(session, team["Ada"]), Reply(text="Hello"),
                      key="friday-note", now=local("2026-11-27 08:30"))
    assert len(dms(kind_desk.at(local("2026-11-27 08:31")), "Ada")) == 1
    assert not dms(kind_desk.at(local("2026-11-27 09:00")), "Ada")  # queued, held
    with read_session(engine) as session:
        held = session.exec(select(Outbound).where(
            col(Outbound.unique_key).startswith(f"draft-escalation:story-{story_id}:"))).one()
    assert "is 4 days overdue" in held.text and held.due_at == local("2026-11-30 09:00")
    [monday] = dms(kind_desk.at(local("2026-11-30 09:00")), "Ada")
    assert monday.reply.text.startswith(
        f'The draft of story #{story_id} "Muons" by Dana is 7 days overdue (it was due '
        "Monday 23 November).")


def test_a_reminder_about_a_withdrawn_story_is_not_sent(
    kind_desk: Desk, engine: Engine, policy: Policy
) -> None:
    team = make_team(engine)
    story_id = held_over_the_weekend(kind_desk, engine, policy, team)  # the reminder waits
    with write_session(engine) as session:
        stories.withdraw(session, member(session, team["Dana"]), local("2026-11-27 12:00"),
                         policy, story_id)
    assert not dms(kind_desk.at(local("2026-11-30 09:00")), "Dana")
    with read_session(engine) as session:
        statuses = {r.unique_key: (r.status, r.last_error) for r in session.exec(
            select(Outbound).where(Outbound.member_id == team["Dana"])).all()}
        story = session.get(Story, story_id)
    assert story is not None and story.state == "withdrawn"
    reminder = [v for k, v in statuses.items() if k.startswith("draft-reminder:")]
    assert reminder == [("skipped", "no longer true when due")]


def reviewer_rows(engine: Engine, member_id: int) -> dict[str, tuple[str, str | None]]:
    """The direct messages to a member, by key: (status, why not sent)."""
    with read_session(engine) as session:
        return {r.unique_key: (r.status, r.last_error) for r in session.exec(
            select(Outbound).where(Outbound.member_id == member_id)).all()}


def pitched_monday_evening(kind_desk: Desk, engine: Engine,
                           policy: Policy) -> tuple[dict[str, int], int]:
    """The team, and Dana's pitch of Monday 21:00, whose news to Ada is held overnight."""
    team = make_team(engine)
    story_id = pitched(engine, policy, team, local("2026-11-23 21:00"))
    assert not dms(kind_desk.at(local("2026-11-23 21:01")), "Ada")
    return team, story_id


def test_a_review_assignment_held_overnight_arrives_when_nothing_changed(
    kind_desk: Desk, engine: Engine, policy: Policy
) -> None:
    _team, story_id = pitched_monday_evening(kind_desk, engine, policy)
    [told] = dms(kind_desk.at(local("2026-11-24 09:00")), "Ada")
    assert told.reply.text.startswith(f"You are reviewing story #{story_id}: Muons")


def test_a_review_assignment_held_overnight_is_not_sent_once_the_story_went_to_another(
    kind_desk: Desk, engine: Engine, policy: Policy
) -> None:
    team, story_id = pitched_monday_evening(kind_desk, engine, policy)
    with write_session(engine) as session:  # Ben takes it over before Ada has heard
        stories.reassign(session, member(session, team["Ben"]), local("2026-11-23 21:30"),
                         policy, story_id, member(session, team["Ben"]))
    morning = kind_desk.at(local("2026-11-24 09:00"))
    assert not dms(morning, "Ada")
    [ben] = dms(morning, "Ben")
    assert ben.reply.text.startswith(f"You are now reviewing story #{story_id}: Muons")
    assert list(reviewer_rows(engine, team["Ada"]).values()) == [
        ("skipped", "no longer true when due")]  # her "You are reviewing story #1"


def test_a_review_assignment_held_while_the_reviewer_is_away_is_not_sent_after_a_hand_over(
    kind_desk: Desk, engine: Engine, policy: Policy
) -> None:
    team = make_team(engine)
    story_id = pitched(engine, policy, team, local("2026-11-27 21:00"))  # Friday evening
    with write_session(engine) as session:  # Ada will be away Monday to Wednesday
        session.add(AwayPeriod(member_id=team["Ada"], first_day=date(2026, 11, 30),
                               last_day=date(2026, 12, 2)))
    monday = kind_desk.at(local("2026-11-30 09:00"))  # the tick hands the pitch to Ben
    assert not dms(monday, "Ada")
    [ben] = dms(monday, "Ben")
    assert ben.reply.text.startswith(f"You are now reviewing story #{story_id}: Muons")
    assert not dms(kind_desk.at(local("2026-12-03 09:00")), "Ada")  # back, and not told
    assert list(reviewer_rows(engine, team["Ada"]).values()) == [
        ("skipped", "no longer true when due")]


def test_a_held_message_to_the_reviewer_is_not_sent_once_the_story_is_closed(
    kind_desk: Desk, engine: Engine, policy: Policy
) -> None:
    """The draft is withdrawn before its reviewer hears of it: only the withdrawal, which
    is still true, reaches them."""
    team = make_team(engine)
    story_id = draft_in_the_evening(engine, policy, team)
    with write_session(engine) as session:
        stories.withdraw(session, member(session, team["Dana"]), local("2026-11-24 21:30"),
                         policy, story_id)
    assert not dms(kind_desk.at(local("2026-11-24 21:31")), "Ada")
    [ada] = dms(kind_desk.at(local("2026-11-25 09:00")), "Ada")
    assert ada.reply.text.startswith(f'Story #{story_id} "Muons" was withdrawn by Dana')
    assert "ready for your review" not in str(ada.reply.blocks)
    statuses = ada_statuses(engine, team)
    assert statuses["draft-submitted"] == ("skipped", "no longer true when due")
    assert statuses["withdrawn"] == ("sent", None)


def draft_in_the_evening(engine: Engine, policy: Policy, team: dict[str, int]) -> int:
    """Dana's story, accepted by Ada, its draft submitted Tuesday 21:00: Ada's "ready for
    your review" waits for Wednesday morning. The story's id."""
    story_id = pitched(engine, policy, team, local("2026-11-23 10:00"))
    with write_session(engine) as session:
        stories.accept(session, member(session, team["Ada"]), local("2026-11-23 10:00"),
                       policy, story_id)
        mark_sent(session)
        stories.submit_draft(session, member(session, team["Dana"]),
                             local("2026-11-24 21:00"), policy, story_id, "https://x.org/d")
    return story_id


def ada_statuses(engine: Engine, team: dict[str, int]) -> dict[str, tuple[str, str | None]]:
    """Ada's direct messages by what they are about: (status, why not sent)."""
    return {key.split(":")[1]: status
            for key, status in reviewer_rows(engine, team["Ada"]).items()}


def test_a_message_to_a_reviewer_is_true_while_they_review_the_story() -> None:
    story = Story(id=4, title="Muons", author_id=1, reviewer_id=2, state="in_review")
    data = wording.as_reviewer(story, 2)
    assert wording.still_reviews(story, data)
    assert not wording.still_reviews(None, data)
    assert not wording.still_reviews(Story(**{**story.model_dump(), "reviewer_id": 3}), data)
    for closed in ("withdrawn", "declined", "published"):
        assert not wording.still_reviews(Story(**{**story.model_dump(), "state": closed}), data)
    withdrawn = Story(**{**story.model_dump(), "state": "withdrawn"})
    assert wording.still_reviews(withdrawn, wording.as_reviewer(withdrawn, 2))  # its notice
    # It asked for a decision on the draft; another coordinator has made it meanwhile.
    for decided in ("approved", "scheduled", "changes_requested"):
        assert not wording.still_reviews(Story(**{**story.model_dump(), "state": decided}),
                                         data)
    accepted = Story(**{**story.model_dump(), "state": "accepted"})
    assert wording.still_reviews(accepted, wording.as_reviewer(accepted, 2))  # a notice


def test_a_held_draft_for_review_is_not_sent_once_another_coordinator_approved_it(
    kind_desk: Desk, engine: Engine, policy: Policy
) -> None:
    team = make_team(engine)
    story_id = draft_in_the_evening(engine, policy, team)
    with write_session(engine) as session:
        stories.approve(session, member(session, team["Ben"]), local("2026-11-24 21:30"),
                        policy, story_id)
    kind_desk.at(local("2026-11-25 09:00"))
    assert ada_statuses(engine, team)["draft-submitted"] == ("skipped",
                                                             "no longer true when due")


def test_wording_counts_days_from_the_moment_of_delivery() -> None:
    story = Story(id=4, title="Muons", author_id=1, state="drafting",
                  draft_due=date(2026, 12, 1))
    data = wording.facts("before", story, ZoneInfo("Europe/Berlin"), due=story.draft_due)
    assert "in 4 days" in wording.text_at(data, local("2026-11-27 09:00"))
    assert "due tomorrow, Tuesday 01 December" in wording.text_at(data, local("2026-11-30 09:00"))
    assert wording.text_at(data, local("2026-12-01 09:00")).endswith("is due today.")
    late = wording.text_at(data, local("2026-12-02 09:00"), reviewer_told=True)
    assert "1 day ago" in late and late.endswith("Your reviewer has been told too.")


def test_one_plural_counts_for_every_reply() -> None:
    assert [plural(count, "day") for count in (0, 1, 2)] == ["0 days", "1 day", "2 days"]
    assert plural(1, "story", "stories") == "1 story"
    assert plural(3, "story", "stories") == "3 stories"


def test_a_calendar_link_asked_for_at_night_arrives_at_once(
    kind_desk: Desk, engine: Engine, policy: Policy
) -> None:
    """The answer to one's own request is not held for the morning, unlike a notice."""
    from handlers import personal_calendar

    team = make_team(engine)
    with write_session(engine) as session:  # Thursday 22:30: Dana asks for her link
        personal_calendar.calendar_link(
            session, member(session, team["Dana"]), local("2026-11-26 22:30"),
            replace(policy, public_url="https://storydesk.example.org"))
    [link] = dms(kind_desk.at(local("2026-11-26 22:31")), "Dana")
    assert "https://storydesk.example.org/calendar/" in link.reply.text


def test_a_held_notice_and_the_days_reminder_arrive_together_at_the_reminder_time(
    kind_desk: Desk, engine: Engine, policy: Policy
) -> None:
    """As the live runtime runs: the dispatcher wakes at 09:00:00 for the held notice, the
    next tick comes seconds later. The reminder must not miss the notice and wait a day."""
    team = make_team(engine)
    decided = in_review(engine, policy, team, local("2026-11-23 10:00"), "Decided")
    drafting = pitched(engine, policy, team, local("2026-11-23 10:00"))
    with write_session(engine) as session:
        stories.accept(session, member(session, team["Ada"]), local("2026-11-23 10:00"),
                       policy, drafting, date(2026, 11, 30))  # the reminder: Friday 09:00
        mark_sent(session)
        stories.approve(session, member(session, team["Ben"]), local("2026-11-26 22:24"),
                        policy, decided)  # Thursday night: held for Friday's 09:00
    assert not dms(kind_desk.at(local("2026-11-26 22:25")), "Dana")
    assert not dms(kind_desk.at(local("2026-11-27 08:59:40")), "Dana")  # the last tick before
    friday = dms(kind_desk.dispatch(local("2026-11-27 09:00")), "Dana")
    assert len(friday) == 1
    parts = [friday[0].reply.text] + [getattr(b, "text", "") for b in friday[0].reply.blocks]
    assert parts[0].startswith("2 notes from Storydesk: ") and "approved by Ben" in parts[0]
    assert any("due Monday 30 November, in 3 days" in part for part in parts)
    assert not dms(kind_desk.at(local("2026-11-27 09:00:10")), "Dana")  # the tick after
    assert not [key for key in kind_desk.keys("pending") if key.startswith("draft-reminder:")]


def held_over_the_weekend(kind_desk: Desk, engine: Engine, policy: Policy,
                          team: dict[str, int], due: date = MONDAY) -> int:
    """Dana's draft due `due` (Monday 30 November unless said), whose reminder falls on
    Friday after that day's one message went to her (about her other story): held till
    Monday. The story's id."""
    other = pitched(engine, policy, team, local("2026-11-20 10:00"), "Other")
    story_id = pitched(engine, policy, team, local("2026-11-20 10:00"))
    with write_session(engine) as session:
        ada = member(session, team["Ada"])
        stories.accept(session, ada, local("2026-11-20 10:00"), policy, story_id, due)
        mark_sent(session)
        stories.accept(session, ada, local("2026-11-27 08:30"), policy, other)
    assert len(dms(kind_desk.at(local("2026-11-27 08:31")), "Dana")) == 1
    assert not dms(kind_desk.at(local("2026-11-27 09:00")), "Dana")  # queued, held
    assert held_reminder(engine, story_id, due).due_at == local("2026-11-30 09:00")
    return story_id


def held_reminder(engine: Engine, story_id: int, due: date = MONDAY) -> Outbound:
    """The "before" reminder of the story's draft due `due`, as the outbox holds it."""
    with read_session(engine) as session:
        return session.exec(select(Outbound).where(
            Outbound.unique_key == f"draft-reminder:story-{story_id}:due-{due}:before")
        ).one()


def test_reminders_turned_off_while_one_is_held_stop_it_too(
    kind_desk: Desk, engine: Engine, policy: Policy
) -> None:
    team = make_team(engine)
    story_id = held_over_the_weekend(kind_desk, engine, policy, team)
    with write_session(engine) as session:  # Saturday
        members.set_reminders(session, member(session, team["Dana"]), False)
    assert not dms(kind_desk.at(local("2026-11-30 09:00")), "Dana")
    held = held_reminder(engine, story_id)
    assert (held.status, held.last_error) == ("skipped", "reminders turned off")


def test_a_snooze_while_a_reminder_is_held_holds_it_to_the_snoozes_end(
    kind_desk: Desk, engine: Engine, policy: Policy
) -> None:
    team = make_team(engine)
    story_id = held_over_the_weekend(kind_desk, engine, policy, team)
    with write_session(engine) as session:  # Friday noon: three days' peace
        reminders.snooze(session, member(session, team["Dana"]), local("2026-11-27 12:00"),
                         policy, story_id, 3)
    assert not dms(kind_desk.at(local("2026-11-30 09:00")), "Dana")
    assert not dms(kind_desk.at(local("2026-11-30 11:59")), "Dana")
    noon = dms(kind_desk.at(local("2026-11-30 12:00")), "Dana")
    # The held reminder and Monday's own, both deferred to the snooze's end: said once.
    assert len(noon) == 1
    assert noon[0].reply.text == f'Your draft of story #{story_id} "Muons" is due today.'
    assert not dms(kind_desk.at(local("2026-12-01 09:00")), "Dana")


def test_a_message_another_replica_is_sending_counts_as_the_days_one(
    kind_desk: Desk, engine: Engine, policy: Policy
) -> None:
    """Claimed, not yet marked sent: a second replica must not send another the same minute."""
    team = make_team(engine)
    story_id = in_review(engine, policy, team, local("2026-11-24 09:00"))
    now = local("2026-11-24 10:00")
    with write_session(engine) as session:
        dana = member(session, team["Dana"])
        claimed = notify_member(session, dana, Reply(text="On its way"), key="elsewhere",
                                now=now)
        assert claimed is not None
        claimed.status, claimed.lease_owner = "sending", "other-replica"
        claimed.lease_until = now + timedelta(minutes=2)
        session.add(claimed)
        stories.approve(session, member(session, team["Ada"]), now, policy, story_id)
    assert not dms(kind_desk.dispatch(now), "Dana")
    with read_session(engine) as session:
        held = session.exec(select(Outbound).where(
            Outbound.member_id == team["Dana"], Outbound.status == "pending")).one()
    assert "approved by Ada" in held.text and held.due_at == local("2026-11-25 09:00")


def test_replicas_claiming_at_once_send_each_person_one_message(
    engine: Engine, policy: Policy
) -> None:
    """Three replicas claim one row each at the same moment, two rows per person: each
    must see the others' claims, so that every person gets one message today, not two."""
    now = local("2026-11-24 10:00")
    with write_session(engine) as session:
        for person in range(12):
            recipient = add_member(session, f"P{person}")
            for note in range(2):
                notify_member(session, recipient, Reply(text=f"Note {note}"),
                              key=f"note-{person}-{note}", now=now)
    transport = RecordingTransport()
    replicas = iter([Dispatcher(engine, {"console": transport}, owner=f"replica-{n}",
                                policy=policy, batch_size=1) for n in range(3)])

    def replica() -> None:
        dispatcher = next(replicas)
        for _ in range(12):  # as the worker does: a pass ends at a batch it only held
            dispatcher.dispatch_due(now)

    at_once(3, replica)
    per_person = Counter(d.recipient.display_name for d in transport.sent if d.recipient)
    assert sorted(per_person) == sorted(f"P{person}" for person in range(12))
    assert set(per_person.values()) == {1}
