"""Lazy acceptance: a pitch its reviewer has not declined in time is accepted for them.

With `STORYDESK_AUTO_ACCEPT_HOURS` set, the tick accepts every pitch that has waited that
many of its reviewer's working hours (their working days, outside quiet hours, in their
zone, not counting days away) with the default draft date, and tells the reviewer that it
happened and how to decline after all. Pitches without a reviewer wait for a person.

The hours are the current reviewer's: they count from the pitch, or from the story's last
reassignment (`/story reassign`, or the hand-over from an away reviewer), whichever came
later, so that a pitch handed over is never accepted in its new reviewer's name before
they had their hours.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

from sqlalchemy import func
from sqlmodel import Session, col, select

from handlers import stories
from handlers.context import Policy, ReminderRules
from handlers.members import away_days
from handlers.timing import MIDNIGHT, allowed_windows, at_local, zone_named
from storage.models import Member, Story, StoryEvent

log = logging.getLogger(__name__)


def _windows(day: date, zone: ZoneInfo, rules: ReminderRules) -> list[tuple[datetime, datetime]]:
    """The working stretches of one local day, as UTC instants: the hours in which a
    direct message may arrive are the hours a reviewer is counted as working."""
    next_midnight = at_local(day + timedelta(days=1), MIDNIGHT, zone)
    return [(at_local(day, start, zone), next_midnight if end is None else at_local(day, end, zone))
            for start, end in allowed_windows(rules)]


def working_hours(since: datetime, until: datetime, zone: ZoneInfo, rules: ReminderRules,
                  away: Sequence[tuple[date, date]] = ()) -> float:
    """Hours between `since` and `until` that fall in the person's working time."""
    if until <= since:
        return 0.0
    total = timedelta()
    day = since.astimezone(zone).date()
    last = until.astimezone(zone).date()
    while day <= last:
        working = not rules.working_days or day.weekday() in rules.working_days
        if working and not any(first <= day <= end for first, end in away):
            for start, end in _windows(day, zone, rules):
                overlap = min(end, until) - max(start, since)
                if overlap > timedelta():
                    total += overlap
        day += timedelta(days=1)
    return total.total_seconds() / 3600


def run(session: Session, now: datetime, policy: Policy) -> list[int]:
    """Accept every pitch whose reviewer let the working hours pass; the ids accepted."""
    hours = policy.auto_accept_hours
    if hours is None:
        return []
    accepted = []
    pitched = session.exec(
        select(Story).where(Story.state == "pitched", col(Story.reviewer_id).is_not(None))
        .order_by(col(Story.id))
    ).all()
    reassigned = last_reassigned(session, [s.id for s in pitched if s.id is not None])
    away = away_days(session, (s.reviewer_id for s in pitched if s.reviewer_id is not None))
    for story in pitched:
        reviewer = session.get(Member, story.reviewer_id)
        since = waiting_since(story, reassigned.get(story.id or 0))
        if reviewer is None or reviewer.id is None or since is None:
            continue
        zone = zone_named(reviewer.timezone, policy.zone)
        if working_hours(since, now, zone, policy.reminders, away.get(reviewer.id, ())) < hours:
            continue
        # Locked and read afresh: the reviewer's own decision, or another replica's tick,
        # may have come since the list was read.
        locked = session.get(Story, story.id, with_for_update=True, populate_existing=True)
        if locked is None or locked.state != "pitched" or locked.reviewer_id != reviewer.id:
            continue
        _accept(session, locked, reviewer, now, policy, hours)
        log.info("story #%s accepted automatically after %d working hours of %s",
                 story.id, hours, reviewer.display_name)
        assert story.id is not None
        accepted.append(story.id)
    return accepted


def last_reassigned(session: Session, story_ids: Sequence[int]) -> dict[int, datetime]:
    """When each story was last given to another reviewer, in one query."""
    if not story_ids:
        return {}
    rows = session.exec(
        select(StoryEvent.story_id, func.max(StoryEvent.at))
        .where(StoryEvent.action == "reassigned", col(StoryEvent.story_id).in_(story_ids))
        .group_by(col(StoryEvent.story_id))
    ).all()
    return {story_id: at for story_id, at in rows if at is not None}


def waiting_since(story: Story, reassigned_at: datetime | None) -> datetime | None:
    """Since when the pitch has waited on its current reviewer."""
    pitched = story.state_changed_at or story.created_at
    if pitched is None or reassigned_at is None:
        return pitched or reassigned_at
    return max(pitched, reassigned_at)


def _accept(session: Session, story: Story, reviewer: Member, now: datetime, policy: Policy,
            hours: int) -> None:
    due = stories.local_today(now, policy) + timedelta(days=policy.draft_days)
    story.draft_due = due
    stories.change_state(session, story, None, now, "accept",
                         f"draft due {due}; accepted automatically: not declined within "
                         f"{hours} working hours")
    stories.announce_card(session, story, now, policy)
    stories.tell_accepted(session, story, now, due, reviewer)
    stories.tell_reviewer(
        session, story, now, policy,
        f'Story #{story.id} "{story.title}" was accepted automatically: it waited {hours} of '
        f"your working hours without being declined. The draft is due {due:%A %d %B}. "
        f"If it should not go ahead, `/story decline {story.id} <reason>` still works.",
        "auto-accepted",
    )


