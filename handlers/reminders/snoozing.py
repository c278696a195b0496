"""`/story snooze N <days>`: no reminders about one story for a few days."""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlmodel import Session, select

from handlers.context import Policy
from handlers.errors import Refused
from handlers.reply import Reply, success
from handlers.timing import next_allowed, zone_named
from storage.delivery import ReminderSnooze
from storage.models import Member, Story

MAX_SNOOZE_DAYS = 30


def snooze(
    session: Session, actor: Member, now: datetime, policy: Policy, story_id: int, days: int
) -> Reply:
    """No reminders about story N to the actor for `days` days (0 ends a snooze)."""
    if not 0 <= days <= MAX_SNOOZE_DAYS:
        raise Refused(f"Snooze for 1 to {MAX_SNOOZE_DAYS} days (0 ends a snooze).")
    story = session.get(Story, story_id) if 0 < story_id < 2**31 else None
    if story is None:
        raise Refused(f"There is no story #{story_id}. `/story list mine` shows yours.")
    if actor.id not in {story.author_id, story.reviewer_id}:
        raise Refused(f"You get no reminders about story #{story_id}: only its author and "
                      "its reviewer do.")
    assert actor.id is not None and story.id is not None
    existing = session.exec(
        select(ReminderSnooze).where(ReminderSnooze.member_id == actor.id,
                                     ReminderSnooze.story_id == story.id)
    ).first()
    if days == 0:
        if existing is not None:
            session.delete(existing)
            session.flush()
        return success(f"Reminders about story #{story.id} are back on schedule.",
                       story_id=story.id)
    until = now + timedelta(days=days)
    if existing is None:
        existing = ReminderSnooze(member_id=actor.id, story_id=story.id, until=until,
                                  created_at=now)
    else:
        existing.until = until
    session.add(existing)
    session.flush()
    zone = zone_named(actor.timezone, policy.zone)
    arrives = next_allowed(until, zone, policy.reminders)
    return success(
        f"Snoozed: no reminders about story #{story.id} until "
        f"{arrives.astimezone(zone):%A %d %B %H:%M}. Anything due meanwhile comes then, once.",
        story_id=story.id,
    )
