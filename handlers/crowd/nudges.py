"""Kind nudges and the year's-end "your year" message, queued by the scheduler's tick.

- A member (not a coordinator) with nothing pitched for `nudge_after_months` months, or
  never since joining that long ago, gets one direct message inviting a pitch and naming
  what the schedule lacks; never more than one in three months (unique key per member and
  quarter, and the three-month rule of `decisions.nudge_due`).
- From 15 December, each member with a story published that year gets their year's
  impact (unique key per member and year); until 15 January it may still go out.
- Both respect `/story reminders off`: nothing is queued, and one queued before it was
  turned off is skipped when it falls due, like a reminder (`follows_reminder_choice` in
  handlers/courtesy.py). They are queued in the person's working hours: on a working day,
  outside quiet hours, not while away, from the usual reminder time on. A tick outside
  those hours queues nothing; a later one does. Like every DM, they then pass the
  dispatcher's courtesy rule (handlers/courtesy.py): on a day another message already
  reached the person, they wait for the next day's.

What is due is decided by `crowd_due`, which only reads, so that the tick opens a write
transaction only when there is something to queue (`queue_crowd`).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from sqlalchemy import func
from sqlmodel import Session, col, select

from handlers.context import Policy
from handlers.crowd.decisions import nudge_due, quarter_label
from handlers.crowd.impact import build_impact, impact_reply
from handlers.crowd.stats import NUDGE_KEY_PREFIX, lacking_line, lacking_objective
from handlers.dm_actions import stop_reminders_action
from handlers.members import COORDINATOR
from handlers.outbox import notify_member
from handlers.reminders import Deferral, Job, defer
from handlers.reply import Paragraph, Reply
from handlers.timing import at_local, next_allowed, next_monthly, zone_named
from storage.models import AwayPeriod, Member, Outbound, Story

YEAR_KEY_PREFIX = "crowd-year:"
YEAR_END_FROM = (12, 15)  # month, day: the "your year" message goes out from then
YEAR_END_UNTIL = (1, 15)  # ... and, if it could not, until then in the new year
# An older nudge no longer counts: `nudge_due` waits three months between two.
NUDGE_MEMORY = timedelta(days=100)


@dataclass
class CrowdTickReport:
    nudged: list[int] = field(default_factory=list)
    your_year: list[int] = field(default_factory=list)


def nudge_key(member_id: int, day: date) -> str:
    return f"{NUDGE_KEY_PREFIX}member-{member_id}:{quarter_label(day)}"


def year_key(member_id: int, year: int) -> str:
    return f"{YEAR_KEY_PREFIX}member-{member_id}:{year}"


def may_arrive_now(member: Member, now: datetime, policy: Policy,
                   away: tuple[tuple[date, date], ...]) -> bool:
    """Is `now` inside the member's working hours, and past the usual reminder time? These
    messages are never urgent: they wait for a moment the member expects messages at."""
    rules = policy.reminders
    zone = zone_named(member.timezone, policy.zone)
    if now < at_local(now.astimezone(zone).date(), rules.remind_at, zone):
        return False
    return defer(now, Deferral(zone=zone, away=away), rules) <= now


def _away(session: Session, today: date) -> dict[int, tuple[tuple[date, date], ...]]:
    result: dict[int, tuple[tuple[date, date], ...]] = {}
    for period in session.exec(select(AwayPeriod).where(AwayPeriod.last_day >= today)).all():
        result[period.member_id] = (*result.get(period.member_id, ()),
                                    (period.first_day, period.last_day))
    return result


def _last_nudges(session: Session, member_ids: list[int],
                 now: datetime) -> dict[int, datetime]:
    """When each of these members was last nudged, if in the last NUDGE_MEMORY: only their
    own recent outbox rows are read (indexed by member and time), never the whole outbox."""
    if not member_ids:
        return {}
    rows = session.exec(
        select(Outbound.member_id, func.max(Outbound.created_at))
        .where(col(Outbound.member_id).in_(member_ids),
               col(Outbound.created_at) >= now - NUDGE_MEMORY,
               col(Outbound.unique_key).like(f"{NUDGE_KEY_PREFIX}%"))
        .group_by(col(Outbound.member_id))
    ).all()
    return {member_id: at for member_id, at in rows if member_id is not None and at}


def _last_pitches(session: Session) -> dict[int, datetime]:
    rows = session.exec(
        select(Story.author_id, func.max(Story.created_at)).group_by(col(Story.author_id))
    ).all()
    return {author: at for author, at in rows if at is not None}


def _nudge_due(member: Member, today: date, zone: ZoneInfo, pitched: datetime | None,
               nudged: datetime | None, policy: Policy) -> bool:
    return nudge_due(today, joined=_local_day(member.created_at, zone),
                     last_pitch=_local_day(pitched, zone), last_nudge=_local_day(nudged, zone),
                     after_months=policy.crowd.nudge_after_months)


def _local_day(moment: datetime | None, zone: ZoneInfo) -> date | None:
    return moment.astimezone(zone).date() if moment else None


def nudge_reply(member: Member, last_pitch: date | None, lacking: str | None) -> Reply:
    since = (f"your last pitch was in {last_pitch:%B %Y}" if last_pitch
             else "we have not had a pitch from you yet")
    text = (f"Hello {member.display_name}! It has been a while: {since}. The group's account "
            "would love a story from you, big or small.")
    blocks = [Paragraph(text)]
    if lacking:
        blocks.append(Paragraph(lacking))
    blocks.append(Paragraph("Pitch with `/pitch <title> #objective -- a line or two`, or type "
                            "`/pitch` alone for a form. A coordinator will help you shape it."))
    blocks.append(Paragraph("`/story reminders off` (or the button) and you will not hear "
                            "this again."))
    return Reply(text=text, blocks=tuple(blocks), actions=(stop_reminders_action(),))


@dataclass(frozen=True)
class CrowdMessage:
    """A nudge or a "your year" message due for one member, with its unique key."""

    member: Member
    key: str
    reply: Reply
    nudge: bool


def _nudges(session: Session, now: datetime, policy: Policy, members: list[Member],
            away: dict[int, tuple[tuple[date, date], ...]]) -> list[CrowdMessage]:
    last_pitch = _last_pitches(session)
    silent = []  # quiet for long enough and reachable now; their last nudge is read next
    for member in members:
        if member.id is None or member.role == COORDINATOR or not member.reminders_enabled:
            continue
        zone = zone_named(member.timezone, policy.zone)
        today = now.astimezone(zone).date()
        if _nudge_due(member, today, zone, last_pitch.get(member.id), None, policy) \
                and may_arrive_now(member, now, policy, away.get(member.id, ())):
            silent.append(member)
    last_nudge = _last_nudges(session, [m.id for m in silent if m.id is not None], now)
    lacking: str | bool | None = False  # computed once, when the first nudge is due
    due = []
    for member in silent:
        assert member.id is not None
        zone = zone_named(member.timezone, policy.zone)
        today = now.astimezone(zone).date()
        pitched = last_pitch.get(member.id)
        if not _nudge_due(member, today, zone, pitched, last_nudge.get(member.id), policy):
            continue
        if lacking is False:
            row = lacking_objective(session, now, policy)
            lacking = lacking_line(row) if row else None
        reply = nudge_reply(member, _local_day(pitched, zone),
                            lacking if isinstance(lacking, str) else None)
        due.append(CrowdMessage(member, nudge_key(member.id, today), reply, nudge=True))
    return due


def year_to_report(today: date) -> int | None:
    """Which year's "your year" message may go out on `today`, if any."""
    if (today.month, today.day) >= YEAR_END_FROM:
        return today.year
    if (today.month, today.day) <= YEAR_END_UNTIL:
        return today.year - 1
    return None


def _your_year(session: Session, now: datetime, policy: Policy, members: list[Member],
               away: dict[int, tuple[tuple[date, date], ...]]) -> list[CrowdMessage]:
    team_today = now.astimezone(policy.zone).date()
    year = year_to_report(team_today)
    if year is None:
        return []
    start = datetime.combine(date(year, 1, 1), time(0), tzinfo=policy.zone).astimezone(UTC)
    end = datetime.combine(date(year + 1, 1, 1), time(0), tzinfo=policy.zone).astimezone(UTC)
    authors = set(session.exec(
        select(Story.author_id).where(Story.state == "published",
                                      col(Story.published_at) >= start,
                                      col(Story.published_at) < end)
    ).all())
    keys = {member.id: year_key(member.id, year) for member in members
            if member.id in authors and member.reminders_enabled}
    if not keys:
        return []
    done = set(session.exec(
        select(Outbound.unique_key).where(col(Outbound.unique_key).in_(list(keys.values())))
    ).all())
    due = []
    for member in members:
        assert member.id is not None
        if member.id not in keys or keys[member.id] in done:
            continue
        if not may_arrive_now(member, now, policy, away.get(member.id, ())):
            continue
        impact = build_impact(session, member, now, policy, since=date(year, 1, 1),
                              until=date(year, 12, 31))
        statement = impact_reply(impact, own=True)
        stories = len(impact.lines)
        text = (f"Your {year} with the group's account: {stories} "
                f"{'story' if stories == 1 else 'stories'} published. Thank you!")
        reply = Reply(text=text, blocks=(Paragraph(text), *statement.blocks, Paragraph(
            "`/story impact` shows it any time; `/story reminders off` (or the button) stops "
            "messages like this one.")), actions=(stop_reminders_action(),))
        due.append(CrowdMessage(member, keys[member.id], reply, nudge=False))
    return due


def crowd_due(session: Session, now: datetime, policy: Policy) -> list[CrowdMessage]:
    """The nudges and "your year" messages due at `now`, worded; only reads."""
    members = list(session.exec(select(Member).order_by(col(Member.id))).all())
    away = _away(session, now.astimezone(policy.zone).date() - timedelta(days=1))
    return (_nudges(session, now, policy, members, away)
            + _your_year(session, now, policy, members, away))


def queue_crowd(session: Session, now: datetime,
                messages: list[CrowdMessage]) -> CrowdTickReport:
    """Queue what `crowd_due` found (idempotent by key: another replica may have been first)."""
    report = CrowdTickReport()
    for message in messages:
        assert message.member.id is not None
        if notify_member(session, message.member, message.reply, key=message.key, now=now):
            (report.nudged if message.nudge else report.your_year).append(message.member.id)
    session.flush()
    return report


def run_crowd_tick(session: Session, now: datetime, policy: Policy) -> CrowdTickReport:
    """Queue the nudges and "your year" messages due at `now` (idempotent by key)."""
    return queue_crowd(session, now, crowd_due(session, now, policy))


def upcoming_crowd(session: Session, now: datetime, policy: Policy, weekday: int,
                   at: time) -> list[Job]:
    """For `storydesk jobs`: the next monthly crowd-health post, the next "your year"
    messages, and how many members a nudge would reach today."""
    zone = policy.zone
    monthly = next_monthly(now, weekday, at, zone)
    today = now.astimezone(zone).date()
    year_start = date(today.year, *YEAR_END_FROM)
    jobs = [Job(monthly, "monthly crowd-health post, with its chart", "team channel"),
            Job(at_local(year_start if today < year_start else
                         date(today.year + 1, *YEAR_END_FROM), policy.reminders.remind_at,
                         zone), "\"your year\" impact messages", "DM each contributor")]
    members = list(session.exec(select(Member).where(Member.role != COORDINATOR,
                                                     col(Member.reminders_enabled))).all())
    last_pitch = _last_pitches(session)
    last_nudge = _last_nudges(session, [m.id for m in members if m.id is not None], now)
    due = [m for m in members if m.id is not None and _nudge_due(
        m, today, zone, last_pitch.get(m.id), last_nudge.get(m.id), policy)]
    if due:
        moment = next_allowed(max(now, at_local(today, policy.reminders.remind_at, zone)),
                              zone, policy.reminders)
        jobs.append(Job(moment, f"kind nudge to {len(due)} quiet "
                        f"member{'' if len(due) == 1 else 's'}", "DM each, in their hours"))
    return jobs
