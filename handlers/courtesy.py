"""When a direct message may reach a person, whatever caused it.

Every direct message in the outbox (a reminder, a decision about one's story, a review
assignment) arrives in the recipient's working hours: on their working days, outside the
quiet hours in their own time zone, and not while they are away. It is held, never dropped.
And a person gets at most one unsolicited message a day: what falls due for them while
one has already reached them today waits for the next day's reminder time, where it is
combined with whatever else falls due then into one message, in order.

Every message that `/story reminders off` stops (`follows_reminder_choice`: the direct
reminders, kind nudges and "your year" messages) also follows the recipient's wishes when
it is sent, not only when it is queued: it may be held for a day, a weekend or an away
period, and meanwhile they may have turned reminders off (it is skipped) or snoozed its
story (it waits for the snooze's end, where the tick defers the series too, and the newest
of it is said once).

The immediate answer to a person's own command never passes through here (it goes back
in the command's response), nor do rows of kind `answer`.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from sqlalchemy import and_, or_
from sqlmodel import Session, col, select

from handlers import wording
from handlers.context import Policy
from handlers.crowd.nudges import YEAR_KEY_PREFIX
from handlers.crowd.stats import NUDGE_KEY_PREFIX
from handlers.reminders import REMINDER_KEY_PREFIXES, Deferral, defer
from handlers.reply import Block, Paragraph, Reply
from handlers.timing import at_local, next_allowed, zone_named
from storage.delivery import ReminderSnooze
from storage.models import AwayPeriod, Member, Outbound

EXEMPT_KINDS = frozenset({"answer", "response"})  # not held, and not counted as unsolicited
REMINDERS_OFF = "reminders turned off"
# What `/story reminders off` stops, by unique key: messages Storydesk sends on its own
# initiative to remind or encourage. Messages about decisions on one's stories still come.
REMINDER_CHOICE_PREFIXES = (*REMINDER_KEY_PREFIXES, NUDGE_KEY_PREFIX, YEAR_KEY_PREFIX)


def follows_reminder_choice(key: str) -> bool:
    """Is the message under `key` one that `/story reminders off` stops, also once queued?"""
    return key.startswith(REMINDER_CHOICE_PREFIXES)


def snoozed_until(session: Session, member: Member, story_id: int | None,
                  now: datetime) -> datetime | None:
    """The end of `member`'s snooze of reminders about the story, if it is still on."""
    if story_id is None or member.id is None:
        return None
    until = session.exec(
        select(ReminderSnooze.until).where(ReminderSnooze.member_id == member.id,
                                           ReminderSnooze.story_id == story_id)
    ).first()
    return until if until is not None and until > now else None


def hold_until(session: Session, member: Member, now: datetime, policy: Policy) -> datetime:
    """The first moment at or after `now` at which a DM may reach `member` (working hours,
    not away), or the next day's reminder time if one reached them today already."""
    rules = policy.reminders
    zone = zone_named(member.timezone, policy.zone)
    assert member.id is not None
    periods = [
        (p.first_day, p.last_day)
        for p in session.exec(
            select(AwayPeriod).where(
                AwayPeriod.member_id == member.id,
                AwayPeriod.last_day >= now.astimezone(zone).date() - timedelta(days=1),
            )
        ).all()
    ]
    moment = now
    for _ in range(len(periods) + 3):
        allowed = _outside_away(next_allowed(moment, zone, rules), periods, zone, policy)
        if allowed > moment:
            # Held past now: arrive with that day's reminders, so that they combine.
            moment = _with_the_reminders(allowed, zone, policy)
            continue
        day_start = at_local(moment.astimezone(zone).date(), time(0), zone)
        if not _reached_since(session, member.id, day_start, now):
            return moment
        next_day = moment.astimezone(zone).date() + timedelta(days=1)
        moment = at_local(next_day, rules.remind_at, zone)
    return moment


def _outside_away(moment: datetime, periods: Sequence[tuple[date, date]], zone: ZoneInfo,
                  policy: Policy) -> datetime:
    return defer(moment, Deferral(zone=zone, away=tuple(periods)), policy.reminders)


def _with_the_reminders(moment: datetime, zone: ZoneInfo, policy: Policy) -> datetime:
    """On the day `moment` falls, the reminder time if it is still ahead, else `moment`."""
    reminders_at = at_local(moment.astimezone(zone).date(), policy.reminders.remind_at, zone)
    return max(moment, reminders_at)


def _reached_since(session: Session, member_id: int, since: datetime, now: datetime) -> bool:
    """Did an unsolicited DM reach this member since `since`? One being sent right now
    counts too: a dispatcher (another replica's, maybe) has claimed it under a live lease,
    and it is not marked sent until the platform has taken it."""
    reached = and_(col(Outbound.status) == "sent", col(Outbound.sent_at) >= since)
    if since <= now:
        reached = or_(reached, and_(col(Outbound.status) == "sending",
                                    col(Outbound.lease_until) > now))
    return session.exec(
        select(Outbound.id).where(
            Outbound.member_id == member_id,
            reached,
            col(Outbound.kind).not_in(EXEMPT_KINDS),
        ).limit(1)
    ).first() is not None


def newest_of_each_series(replies: Sequence[Reply]) -> list[Reply]:
    """Of several reminders about one story's draft (or one review), only the newest says
    anything: a held "due in 3 days" and the day's "due today" would repeat each other."""
    last: dict[tuple[object, str], int] = {}
    for index, reply in enumerate(replies):
        data = reply.data.get(wording.WORDING)
        if isinstance(data, dict):
            last[(data.get("story_id"), wording.series_of(data["kind"]))] = index
    keep = set(last.values())
    return [reply for index, reply in enumerate(replies)
            if not isinstance(reply.data.get(wording.WORDING), dict) or index in keep]


def combine(replies: Sequence[Reply]) -> Reply:
    """Several notices for one person as one message, in their order."""
    if len(replies) == 1:
        return replies[0]
    blocks: list[Block] = []
    for index, reply in enumerate(replies):
        if index:  # the first note's sentence is the message's own text
            blocks.append(Paragraph(reply.text))
        blocks.extend(b for b in reply.blocks
                      if not (isinstance(b, Paragraph) and b.text == reply.text))
    stories = {r.story_id for r in replies}
    text = f"{len(replies)} notes from Storydesk: " + replies[0].text
    return Reply(
        text=text,
        blocks=tuple(blocks),
        actions=tuple(a for r in replies for a in r.actions),
        story_id=replies[0].story_id if len(stories) == 1 else None,
        tone="info",
    )
