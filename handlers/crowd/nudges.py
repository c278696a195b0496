"""Kind nudges and the year's-end "your year" message, queued by the scheduler's tick.

- A member (not a coordinator) with nothing pitched for `nudge_after_months` months, or
  never since joining that long ago, gets one direct message inviting a pitch and naming
  what the schedule lacks; never more than one in three months (unique key per member and
  quarter, and the three-month rule of `decisions.nudge_due`).
- From 15 December, each member with a story published that year gets their year's
  impact (unique key per member and year); until 15 January it may still go out.
- Both respect `/story reminders off` (nothing is queued) and arrive in the person's
  working hours: on a working day, outside quiet hours, not while away, from the usual
  reminder time on, and not on a day the person already had a direct message. A tick
  outside those hours queues nothing; a later one does.
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
from handlers.members import COORDINATOR
from handlers.outbox import notify_member
from handlers.reminders import Deferral, Job, defer
from handlers.reply import Paragraph, Reply
from handlers.timing import at_local, next_allowed, next_weekly, zone_named
from storage.models import AwayPeriod, Member, Outbound, Story

YEAR_KEY_PREFIX = "crowd-year:"
YEAR_END_FROM = (12, 15)  # month, day: the "your year" message goes out from then
YEAR_END_UNTIL = (1, 15)  # ... and, if it could not, until then in the new year


@dataclass
class CrowdTickReport:
    nudged: list[int] = field(default_factory=list)
    your_year: list[int] = field(default_factory=list)


def nudge_key(member_id: int, day: date) -> str:
    return f"{NUDGE_KEY_PREFIX}member-{member_id}:{quarter_label(day)}"


def year_key(member_id: int, year: int) -> str:
    return f"{YEAR_KEY_PREFIX}member-{member_id}:{year}"


def may_arrive_now(member: Member, now: datetime, policy: Policy,
                   away: tuple[tuple[date, date], ...],
                   last_message: datetime | None = None) -> bool:
    """Is `now` inside the member's working hours (and past the usual reminder time), on a
    day they have had no other direct message yet? These messages are never urgent: a
    day with a reminder or a decision in it can do without them."""
    rules = policy.reminders
    zone = zone_named(member.timezone, policy.zone)
    today = now.astimezone(zone).date()
    if now < at_local(today, rules.remind_at, zone):
        return False
    if last_message is not None and last_message >= at_local(today, time(0), zone):
        return False
    return defer(now, Deferral(zone=zone, away=away), rules) <= now


def _messaged_recently(session: Session, now: datetime) -> dict[int, datetime]:
    """When each member last had a direct message queued, over the last two days."""
    rows = session.exec(
        select(Outbound.member_id, func.max(Outbound.created_at))
        .where(col(Outbound.member_id).is_not(None),
               col(Outbound.created_at) >= now - timedelta(days=2),
               col(Outbound.status).in_(["pending", "sending", "sent"]))
        .group_by(col(Outbound.member_id))
    ).all()
    return {member_id: at for member_id, at in rows if member_id is not None and at}


def _away(session: Session, today: date) -> dict[int, tuple[tuple[date, date], ...]]:
    result: dict[int, tuple[tuple[date, date], ...]] = {}
    for period in session.exec(select(AwayPeriod).where(AwayPeriod.last_day >= today)).all():
        result[period.member_id] = (*result.get(period.member_id, ()),
                                    (period.first_day, period.last_day))
    return result


def _latest_by_member(session: Session, prefix: str) -> dict[int, datetime]:
    rows = session.exec(
        select(Outbound.member_id, func.max(Outbound.created_at))
        .where(col(Outbound.unique_key).like(f"{prefix}%"))
        .group_by(col(Outbound.member_id))
    ).all()
    return {member_id: at for member_id, at in rows if member_id is not None and at}


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
    blocks.append(Paragraph("`/story reminders off` and you will not hear this again."))
    return Reply(text=text, blocks=tuple(blocks))


def _nudges(session: Session, now: datetime, policy: Policy, members: list[Member],
            away: dict[int, tuple[tuple[date, date], ...]], messaged: dict[int, datetime],
            report: CrowdTickReport) -> None:
    last_pitch = dict(session.exec(
        select(Story.author_id, func.max(Story.created_at)).group_by(col(Story.author_id))
    ).all())
    last_nudge = _latest_by_member(session, NUDGE_KEY_PREFIX)
    lacking: str | bool | None = False  # computed once, when the first nudge is due
    for member in members:
        assert member.id is not None
        if member.role == COORDINATOR or not member.reminders_enabled:
            continue
        zone = zone_named(member.timezone, policy.zone)
        today = now.astimezone(zone).date()
        pitched = last_pitch.get(member.id)
        nudged = last_nudge.get(member.id)
        if not nudge_due(today, joined=member.created_at.astimezone(zone).date()
                         if member.created_at else None,
                         last_pitch=pitched.astimezone(zone).date() if pitched else None,
                         last_nudge=nudged.astimezone(zone).date() if nudged else None,
                         after_months=policy.crowd.nudge_after_months):
            continue
        if not may_arrive_now(member, now, policy, away.get(member.id, ()),
                              messaged.get(member.id)):
            continue
        if lacking is False:
            row = lacking_objective(session, now, policy)
            lacking = lacking_line(row) if row else None
        reply = nudge_reply(member, pitched.astimezone(zone).date() if pitched else None,
                            lacking if isinstance(lacking, str) else None)
        if notify_member(session, member, reply, key=nudge_key(member.id, today), now=now):
            report.nudged.append(member.id)


def year_to_report(today: date) -> int | None:
    """Which year's "your year" message may go out on `today`, if any."""
    if (today.month, today.day) >= YEAR_END_FROM:
        return today.year
    if (today.month, today.day) <= YEAR_END_UNTIL:
        return today.year - 1
    return None


def _your_year(session: Session, now: datetime, policy: Policy, members: list[Member],
               away: dict[int, tuple[tuple[date, date], ...]], messaged: dict[int, datetime],
               report: CrowdTickReport) -> None:
    team_today = now.astimezone(policy.zone).date()
    year = year_to_report(team_today)
    if year is None:
        return
    start = datetime.combine(date(year, 1, 1), time(0), tzinfo=policy.zone).astimezone(UTC)
    end = datetime.combine(date(year + 1, 1, 1), time(0), tzinfo=policy.zone).astimezone(UTC)
    authors = set(session.exec(
        select(Story.author_id).where(Story.state == "published",
                                      col(Story.published_at) >= start,
                                      col(Story.published_at) < end)
    ).all())
    if not authors:
        return
    done = set(session.exec(
        select(Outbound.member_id).where(col(Outbound.unique_key).like(f"{YEAR_KEY_PREFIX}%:{year}"))
    ).all())
    for member in members:
        assert member.id is not None
        if member.id not in authors or member.id in done or not member.reminders_enabled:
            continue
        if not may_arrive_now(member, now, policy, away.get(member.id, ()),
                              messaged.get(member.id)):
            continue
        impact = build_impact(session, member, now, policy, since=date(year, 1, 1),
                              until=date(year, 12, 31))
        statement = impact_reply(impact, own=True)
        stories = len(impact.lines)
        text = (f"Your {year} with the group's account: {stories} "
                f"{'story' if stories == 1 else 'stories'} published. Thank you!")
        reply = Reply(text=text, blocks=(Paragraph(text), *statement.blocks, Paragraph(
            "`/story impact` shows it any time; `/story reminders off` stops messages "
            "like this one.")))
        if notify_member(session, member, reply, key=year_key(member.id, year), now=now):
            report.your_year.append(member.id)


def run_crowd_tick(session: Session, now: datetime, policy: Policy) -> CrowdTickReport:
    """Queue the nudges and "your year" messages due at `now` (idempotent by key)."""
    report = CrowdTickReport()
    members = list(session.exec(select(Member).order_by(col(Member.id))).all())
    away = _away(session, now.astimezone(policy.zone).date() - timedelta(days=1))
    messaged = _messaged_recently(session, now)
    _nudges(session, now, policy, members, away, messaged, report)
    messaged.update({member_id: now for member_id in report.nudged})
    _your_year(session, now, policy, members, away, messaged, report)
    session.flush()
    return report



def upcoming_crowd(session: Session, now: datetime, policy: Policy, weekday: int,
                   at: time) -> list[Job]:
    """For `storydesk jobs`: the next monthly crowd-health post, the next "your year"
    messages, and how many members a nudge would reach today."""
    zone = policy.zone
    monthly = next_weekly(now, weekday, at, zone)
    while monthly.astimezone(zone).day > 7:  # the month's first posting weekday
        monthly = next_weekly(monthly, weekday, at, zone)
    today = now.astimezone(zone).date()
    year_start = date(today.year, *YEAR_END_FROM)
    jobs = [Job(monthly, "monthly crowd-health post, with its chart", "team channel"),
            Job(at_local(year_start if today < year_start else
                         date(today.year + 1, *YEAR_END_FROM), policy.reminders.remind_at,
                         zone), "\"your year\" impact messages", "DM each contributor")]
    members = list(session.exec(select(Member).where(Member.role != COORDINATOR,
                                                     col(Member.reminders_enabled))).all())
    last_pitch = dict(session.exec(
        select(Story.author_id, func.max(Story.created_at)).group_by(col(Story.author_id))
    ).all())
    last_nudge = _latest_by_member(session, NUDGE_KEY_PREFIX)
    due = [m for m in members if m.id is not None and nudge_due(
        today, joined=_local_day(m.created_at, zone),
        last_pitch=_local_day(last_pitch.get(m.id), zone),
        last_nudge=_local_day(last_nudge.get(m.id), zone),
        after_months=policy.crowd.nudge_after_months)]
    if due:
        moment = next_allowed(max(now, at_local(today, policy.reminders.remind_at, zone)),
                              zone, policy.reminders)
        jobs.append(Job(moment, f"kind nudge to {len(due)} quiet "
                        f"member{'' if len(due) == 1 else 's'}", "DM each, in their hours"))
    return jobs
