"""Kind nudges, the year's-end "your year" message and the monthly crowd-health post,
queued by the tick on both databases, with the clock frozen."""

from __future__ import annotations

from collections.abc import Callable
from contextlib import AbstractContextManager
from datetime import UTC, date, datetime
from pathlib import Path

import pytest
from freezegun import freeze_time
from sqlalchemy.engine import Engine
from sqlmodel import Session, col, select

from bot.commands import Caller, CommandRunner
from bot.crowd import jobs as crowd_jobs
from bot.crowd.jobs import CrowdJobs
from bot.delivery.dispatcher import Dispatcher
from config.settings import load_settings
from handlers.context import Policy
from handlers.courtesy import follows_reminder_choice
from handlers.crowd.nudges import nudge_key, run_crowd_tick, year_key
from handlers.crowd.stats import CrowdStats, build_stats
from handlers.members import set_reminders
from handlers.outbox import notify_member
from handlers.reply import Image, Reply
from storage.db import write_session
from storage.models import AwayPeriod, Member, Outbound
from tests.conftest import add_member
from tests.crowd.conftest import add_post, add_story
from tests.delivery.conftest import RecordingTransport


def day(text: str) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=UTC)


def tick(session: Session, policy: Policy, at: str) -> list[int]:
    with freeze_time(at):
        return run_crowd_tick(session, datetime.now(UTC), policy).nudged


def dms(session: Session, prefix: str) -> list[Outbound]:
    return list(session.exec(select(Outbound).where(col(Outbound.unique_key).like(
        f"{prefix}%")).order_by(col(Outbound.id))).all())


def test_a_silent_member_is_nudged_at_most_once_a_quarter(
        session: Session, team: dict[str, Member], policy: Policy) -> None:
    dana = team["Dana"]
    add_story(session, dana, day("2026-04-01"))  # nearly eight months ago
    add_story(session, team["Emil"], day("2026-10-01"))  # recent: no nudge
    session.add(team["Farah"])
    team["Farah"].reminders_enabled = False  # `/story reminders off`: never nudged
    session.flush()
    # Monday 23 November, 07:30 in Berlin: before the usual reminder time
    assert tick(session, policy, "2026-11-23 06:30:00") == []
    assert tick(session, policy, "2026-11-23 08:30:00") == [dana.id]
    [nudge] = dms(session, "crowd-nudge:")
    assert nudge.unique_key == f"crowd-nudge:member-{dana.id}:2026-Q4"
    reply = Reply.from_json(nudge.payload)
    assert reply.text.startswith("Hello Dana! It has been a while: your last pitch was in "
                                 "April 2026.")
    body = " ".join(getattr(b, "text", "") for b in reply.blocks)
    assert "Most wanted: a #outreach story" in body  # nothing published: the largest target
    assert "`/pitch" in body and "`/story reminders off`" in body
    # every later tick, that day or in the weeks after, queues nothing more
    for moment in ("2026-11-23 08:31:00", "2026-12-15 09:00:00", "2027-01-05 09:00:00",
                   "2027-02-22 08:30:00"):
        assert tick(session, policy, moment) == []
    # three months after the first, still silent: the next quarter's nudge
    assert tick(session, policy, "2027-02-23 08:30:00") == [dana.id]
    assert [row.unique_key for row in dms(session, "crowd-nudge:")] == [
        f"crowd-nudge:member-{dana.id}:2026-Q4", f"crowd-nudge:member-{dana.id}:2027-Q1"]
    assert all(row.member_id == dana.id for row in dms(session, "crowd-nudge:"))


def test_nudges_wait_for_working_hours_and_the_end_of_an_absence(
        session: Session, policy: Policy) -> None:
    add_member(session, "Ada", coordinator=True)  # coordinators are never nudged
    away = add_member(session, "Gus")
    tokyo = add_member(session, "Hana")
    tokyo.timezone = "Asia/Tokyo"
    session.add(tokyo)
    assert away.id is not None
    session.add(AwayPeriod(member_id=away.id, first_day=date(2026, 11, 27),
                           last_day=date(2026, 12, 6)))
    session.flush()
    # Saturday: no direct messages on days off
    assert tick(session, policy, "2026-11-28 10:00:00") == []
    # Monday 30 November 09:30 Berlin is 17:30 in Tokyo: Hana is nudged; Gus is away
    assert tick(session, policy, "2026-11-30 08:30:00") == [tokyo.id]
    # 21:00 in Berlin: quiet hours
    assert tick(session, policy, "2026-12-07 20:00:00") == []
    assert tick(session, policy, "2026-12-08 08:30:00") == [away.id]


def test_stats_count_who_was_nudged_and_who_pitched_afterwards(
        session: Session, team: dict[str, Member], policy: Policy) -> None:
    assert sorted(tick(session, policy, "2026-11-23 08:30:00")) == sorted(
        [team[n].id for n in ("Dana", "Emil", "Farah")])
    add_story(session, team["Dana"], day("2026-11-25 10:00"))
    figures = build_stats(session, day("2026-11-30 10:00"), policy)
    assert (figures.nudged, figures.pitched_after) == (3, 1)


def test_your_year_goes_to_each_contributor_once_from_mid_december(
        session: Session, team: dict[str, Member], policy: Policy) -> None:
    dana, emil, farah = team["Dana"], team["Emil"], team["Farah"]
    add_story(session, dana, day("2026-02-01"), title="Muons", published=day("2026-03-01"),
              media_id="m1")
    add_story(session, dana, day("2026-05-01"), title="Lab day", published=day("2026-06-01"))
    add_post(session, "m1", reach=1500, views=9000)
    add_story(session, emil, day("2025-02-01"), published=day("2025-03-01"))  # last year
    add_story(session, farah, day("2026-02-01"), published=day("2026-03-01"))
    farah.reminders_enabled = False
    session.add(farah)
    gus = add_member(session, "Gus")
    add_story(session, gus, day("2026-08-01"), published=day("2026-09-01"))
    assert gus.id is not None
    session.add(AwayPeriod(member_id=gus.id, first_day=date(2026, 12, 10),
                           last_day=date(2027, 1, 10)))
    session.flush()
    for moment in ("2026-11-30 08:30:00", "2026-12-14 10:00:00"):
        with freeze_time(moment):
            assert run_crowd_tick(session, datetime.now(UTC), policy).your_year == []
    with freeze_time("2026-12-15 08:30:00"):
        assert run_crowd_tick(session, datetime.now(UTC), policy).your_year == [dana.id]
        assert run_crowd_tick(session, datetime.now(UTC), policy).your_year == []
    [message] = dms(session, "crowd-year:")
    assert message.unique_key == f"crowd-year:member-{dana.id}:2026"
    reply = Reply.from_json(message.payload)
    assert reply.text == "Your 2026 with the group's account: 2 stories published. Thank you!"
    assert [a.name for a in reply.actions] == ["reminders_off"]  # what stops it, one click
    assert "#1 Muons (01 Mar 2026; outreach · reel): accounts reached 1,500" in \
        message.payload
    # away over the holidays: the year just ended comes in January, once
    with freeze_time("2027-01-12 08:30:00"):
        assert run_crowd_tick(session, datetime.now(UTC), policy).your_year == [gus.id]
    assert dms(session, "crowd-year:")[-1].unique_key == f"crowd-year:member-{gus.id}:2026"


def test_the_monthly_post_goes_to_the_coordinators_channel_with_its_chart(
        engine: Engine, policy: Policy, tmp_path: Path) -> None:
    with write_session(engine) as session:
        dana = add_member(session, "Dana")
        add_member(session, "Silent Sam")
        add_story(session, dana, day("2026-10-01"), published=day("2026-10-20"))
    settings = load_settings({}, env_file=None)
    jobs = CrowdJobs(engine, settings, policy, tmp_path)
    assert jobs(day("2026-11-30 08:30")).posted == 0  # not the month's first Monday
    assert jobs(day("2026-12-07 07:30")).posted == 0  # 08:30 in Berlin: not yet 09:00
    assert jobs(day("2026-12-07 08:30")).posted == 1
    assert jobs(day("2026-12-07 09:30")).posted == 0  # once a month
    with write_session(engine) as session:
        [post] = dms(session, "crowd:monthly:")
    assert post.unique_key == "crowd:monthly:2026-12@console" and post.channel == "team"
    reply = Reply.from_json(post.payload)
    [image] = [b for b in reply.blocks if isinstance(b, Image)]
    assert Path(image.path).read_bytes()[:4] == b"\x89PNG"
    # counts only: no names, no profiles in a channel
    assert "Not heard from in 6 months: 1." in post.payload
    for name in ("Silent Sam", "Dana", "make-up"):
        assert name not in post.payload
    # the chart went missing before the post was sent (a restart cleared the directory)
    Path(image.path).unlink()
    assert jobs.redraw_missing() == [image.path]
    assert Path(image.path).read_bytes()[:4] == b"\x89PNG"
    assert jobs.redraw_missing() == []


def test_storydesk_jobs_lists_the_crowd_messages(tmp_path: Path) -> None:
    from io import StringIO

    from bot.cli.delivery import show_jobs
    from storage.migrate import upgrade

    settings = load_settings({"DATABASE_URL": f"sqlite:///{tmp_path / 'jobs.db'}"},
                             env_file=None)
    from storage.db import make_engine

    engine = make_engine(settings.database_url)
    upgrade(engine)
    with write_session(engine) as session:
        add_member(session, "Quiet Quinn")  # known since 1 January, never pitched
        add_member(session, "Ada", coordinator=True)
    out = StringIO()
    show_jobs(engine, settings, day("2026-11-24 12:00"), 30, out)
    engine.dispose()
    text = out.getvalue()
    assert "Mon 2026-12-07 09:00  monthly crowd-health post, with its chart" in text
    assert "Tue 2026-12-15 09:00  \"your year\" impact messages" in text
    # 13:00 in Berlin on a Tuesday: the nudge may go now, to one member (not the coordinator)
    assert "Tue 2026-11-24 13:00  kind nudge to 1 quiet member" in text


def test_a_nudge_on_a_day_another_message_reached_the_member_waits_for_the_next_day(
        engine: Engine, policy: Policy) -> None:
    """The dispatcher's courtesy rule (one unsolicited DM a day) covers nudges too."""
    transport = RecordingTransport()
    dispatcher = Dispatcher(engine, {"console": transport}, policy=policy)
    with write_session(engine) as session:
        quiet = add_member(session, "Quinn")
        notify_member(session, quiet, Reply(text="Your draft is due today."),
                      key="draft-reminder:story-1:due-2026-11-23:on-the-day",
                      now=day("2026-11-23 08:00"))
    dispatcher.dispatch_due(day("2026-11-23 08:00"))  # 09:00 in Berlin: it reaches Quinn
    with write_session(engine) as session:
        assert tick(session, policy, "2026-11-23 10:00:00") == [quiet.id]
    dispatcher.dispatch_due(day("2026-11-23 10:00"))
    assert [d.reply.text for d in transport.sent] == ["Your draft is due today."]
    with write_session(engine) as session:
        [nudge] = dms(session, "crowd-nudge:")
    assert nudge.due_at == day("2026-11-24 08:00")  # the next day's reminder time
    dispatcher.dispatch_due(day("2026-11-24 08:00"))
    assert transport.sent[-1].reply.text.startswith("Hello Quinn!")


def test_the_tick_looks_for_nudges_once_an_hour_and_writes_only_when_one_is_due(
        engine: Engine, policy: Policy, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    writes: list[Engine] = []

    def counted(bound: Engine) -> AbstractContextManager[Session]:
        writes.append(bound)
        return write_session(bound)

    monkeypatch.setattr(crowd_jobs, "write_session", counted)
    jobs = CrowdJobs(engine, load_settings({}, env_file=None), policy, tmp_path)
    assert jobs.nudge(day("2026-11-24 08:05")).nudged == []  # 09:05 in Berlin, nobody due
    assert writes == []
    with write_session(engine) as session:
        quiet = add_member(session, "Quinn")  # known since January, never pitched
    assert jobs.nudge(day("2026-11-24 08:40")).nudged == []  # looked this hour already
    assert jobs.nudge(day("2026-11-24 09:00")).nudged == [quiet.id]
    assert writes == [engine]


def test_the_chart_is_drawn_before_the_write_transaction_and_redrawn_only_in_the_window(
        engine: Engine, policy: Policy, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    with write_session(engine) as session:
        add_story(session, add_member(session, "Dana"), day("2026-10-01"),
                  published=day("2026-10-20"))
    steps: list[str] = []

    def counted(bound: Engine) -> AbstractContextManager[Session]:
        steps.append("write")
        return write_session(bound)

    monkeypatch.setattr(crowd_jobs, "write_session", counted)
    jobs = CrowdJobs(engine, load_settings({}, env_file=None), policy, tmp_path)
    real_chart = jobs.chart

    def chart(stats: CrowdStats) -> str:
        steps.append("chart")
        return real_chart(stats)

    monkeypatch.setattr(jobs, "chart", chart)
    assert jobs(day("2026-12-07 08:30")).posted == 1  # the first Monday, 09:30 in Berlin
    assert steps[-2:] == ["chart", "write"]  # no writer of the process waits for the drawing
    with write_session(engine) as session:
        [post] = dms(session, "crowd:monthly:")
    [image] = [b for b in Reply.from_json(post.payload).blocks if isinstance(b, Image)]
    Path(image.path).unlink()  # a restart cleared the directory
    jobs(day("2026-12-10 08:30"))  # Thursday: outside the posting window, nothing is redrawn
    assert not Path(image.path).exists()
    jobs(day("2026-12-07 09:30"))  # inside it: drawn again, and not queued again
    assert Path(image.path).read_bytes()[:4] == b"\x89PNG"
    assert steps.count("write") == 1


def held_to_the_next_day(engine: Engine, dispatcher: Dispatcher, key_for: Callable[[int], str],
                         text: str) -> tuple[Member, str]:
    """Quinn, whose message `text` (under the key `key_for` their id) was queued on Monday
    23 November after a reminder reached them that morning: it waits for Tuesday's
    reminder time. Quinn, and the message's key."""
    with write_session(engine) as session:
        quinn = add_member(session, "Quinn")
        assert quinn.id is not None
        key = key_for(quinn.id)
        notify_member(session, quinn, Reply(text="Your draft is due today."),
                      key="draft-reminder:story-1:due-2026-11-23:on-the-day",
                      now=day("2026-11-23 08:00"))
    dispatcher.dispatch_due(day("2026-11-23 08:00"))
    with write_session(engine) as session:
        notify_member(session, quinn, Reply(text=text), key=key, now=day("2026-11-23 10:00"))
    dispatcher.dispatch_due(day("2026-11-23 10:00"))
    assert status_of(engine, key) == ("pending", None)
    with write_session(engine) as session:
        row = session.exec(select(Outbound).where(Outbound.unique_key == key)).one()
        assert row.due_at == day("2026-11-24 08:00")  # held for the next day
    return quinn, key


def test_a_nudge_carries_stop_reminders_and_the_press_turns_them_off(
        engine: Engine, policy: Policy) -> None:
    """The button asks for what `/story reminders off` does, one click away; it names no
    story (0), and the press needs none."""
    with write_session(engine) as session:
        dana = add_member(session, "Dana")
        add_story(session, dana, day("2026-04-01"))
        assert tick(session, policy, "2026-11-23 08:30:00") == [dana.id]
        [nudge] = dms(session, "crowd-nudge:")
        [button] = Reply.from_json(nudge.payload).actions
    assert (button.name, button.label, button.story_id) == ("reminders_off", "Stop reminders", 0)
    runner = CommandRunner(engine, policy)
    reply = runner.press(Caller("console", "dana", "Dana"), button.name, button.story_id,
                         button.version, day("2026-11-23 10:00"))
    assert reply.ok, reply.text
    with write_session(engine) as session:
        member = session.get(Member, dana.id)
        assert member is not None and member.reminders_enabled is False


def turn_reminders_off(engine: Engine, person: Member) -> None:
    with write_session(engine) as session:
        member = session.get(Member, person.id)
        assert member is not None
        set_reminders(session, member, False)


def status_of(engine: Engine, key: str) -> tuple[str, str | None]:
    with write_session(engine) as session:
        row = session.exec(select(Outbound).where(Outbound.unique_key == key)).one()
        return row.status, row.last_error


def a_nudge(member_id: int) -> str:
    return nudge_key(member_id, date(2026, 11, 23))


def your_year(member_id: int) -> str:
    return year_key(member_id, 2026)


@pytest.mark.parametrize("key_for, text", [
    (a_nudge, "Hello Quinn! It has been a while."),
    (your_year, "Your 2026 with the group's account: 1 story published. Thank you!"),
], ids=["nudge", "your-year"])
def test_reminders_turned_off_while_a_crowd_message_is_held_stop_it_too(
        engine: Engine, policy: Policy, key_for: Callable[[int], str], text: str) -> None:
    """Queued while reminders were on, held for the next day; turned off meanwhile: it is
    not sent, exactly as a held reminder is not (counted as skipped, with the reason)."""
    transport = RecordingTransport()
    dispatcher = Dispatcher(engine, {"console": transport}, policy=policy)
    quinn, key = held_to_the_next_day(engine, dispatcher, key_for, text)
    turn_reminders_off(engine, quinn)
    dispatcher.dispatch_due(day("2026-11-24 08:00"))
    dispatcher.dispatch_due(day("2026-11-25 08:00"))
    assert [d.reply.text for d in transport.sent] == ["Your draft is due today."]
    assert status_of(engine, key) == ("skipped", "reminders turned off")


def test_a_message_about_ones_story_still_comes_with_reminders_off(
        engine: Engine, policy: Policy) -> None:
    """`/story reminders off` is not a wish to hear nothing: a decision about one's story,
    held the same way, still arrives."""
    transport = RecordingTransport()
    dispatcher = Dispatcher(engine, {"console": transport}, policy=policy)
    quinn, key = held_to_the_next_day(engine, dispatcher, lambda _id: "story-1:author:v2",
                                      "Story #1 was accepted by Ada.")
    turn_reminders_off(engine, quinn)
    dispatcher.dispatch_due(day("2026-11-24 08:00"))
    assert transport.sent[-1].reply.text == "Story #1 was accepted by Ada."
    assert status_of(engine, key) == ("sent", None)


def test_a_nudge_held_for_someone_who_then_goes_away_waits_until_they_are_back(
        engine: Engine, policy: Policy) -> None:
    transport = RecordingTransport()
    dispatcher = Dispatcher(engine, {"console": transport}, policy=policy)
    quinn, key = held_to_the_next_day(engine, dispatcher, a_nudge, "Hello Quinn!")
    assert quinn.id is not None
    with write_session(engine) as session:
        session.add(AwayPeriod(member_id=quinn.id, first_day=date(2026, 11, 24),
                               last_day=date(2026, 11, 27)))
    dispatcher.dispatch_due(day("2026-11-24 08:00"))
    assert status_of(engine, key)[0] == "pending"
    dispatcher.dispatch_due(day("2026-11-30 08:00"))  # Monday, back: 09:00 in Berlin
    assert transport.sent[-1].reply.text == "Hello Quinn!"


def test_every_message_reminders_off_stops_is_rechecked_when_sent() -> None:
    """One rule says which queued messages `/story reminders off` stops, whoever queued
    them: the tick's reminders, the crowd's nudges and "your year" messages."""
    stopped = [nudge_key(7, date(2026, 11, 23)), year_key(7, 2026),
               "draft-reminder:story-12:due-2026-12-03:before",
               "draft-escalation:story-12:due-2026-12-03:after-3",
               "review-nudge:story-12:since-2026-11-20:1"]
    still_sent = ["story-12:author:accepted:v2", "story-12:review-assigned:3:v1",
                  "answer:slack:command:1", "calendar-link:member-7:abc",
                  "post-ask:m1", "card:story-12:v2"]
    assert all(follows_reminder_choice(key) for key in stopped)
    assert not any(follows_reminder_choice(key) for key in still_sent)
