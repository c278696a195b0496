"""Loading what one tick works from: the stories, people, snoozes, away periods and the
keys already queued."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date, datetime, timedelta

from sqlalchemy import func
from sqlmodel import Session, col, select

from handlers.context import Policy
from handlers.decisions import DRAFTING_STATES
from handlers.reminders.occurrences import Deferral
from handlers.timing import zone_named
from storage.delivery import ReminderSnooze
from storage.models import AwayPeriod, Member, Outbound, Story, StoryEvent

CATCH_UP_DAYS = 30  # how far back a tick looks for reminders missed during downtime
DUE_DATE_ACTIONS = ("accept", "changes")  # the moves that set a (new) draft date
KEY_QUERY_CHUNK = 400


@dataclass
class Snapshot:
    """The stories, people and queued keys one tick works from."""

    now: datetime
    policy: Policy
    members: dict[int, Member]
    drafting: list[Story]
    in_review: list[Story]
    scheduled: list[Story]
    accepted_at: dict[int, datetime]
    snoozes: dict[tuple[int, int], datetime]
    away: dict[int, tuple[tuple[date, date], ...]]

    def deferral(self, member: Member, story_id: int) -> Deferral:
        assert member.id is not None
        return Deferral(
            zone=zone_named(member.timezone, self.policy.zone),
            away=self.away.get(member.id, ()),
            snoozed_until=self.snoozes.get((member.id, story_id)),
        )


def load_snapshot(session: Session, now: datetime, policy: Policy) -> Snapshot:
    drafting = list(session.exec(
        select(Story).where(col(Story.state).in_(DRAFTING_STATES),
                            col(Story.draft_due).is_not(None)).order_by(col(Story.id))
    ).all())
    in_review = list(session.exec(
        select(Story).where(Story.state == "in_review").order_by(col(Story.id))
    ).all())
    horizon = now + timedelta(weeks=policy.reminders.free_slot_weeks + 1)
    scheduled = list(session.exec(
        select(Story).where(Story.state == "scheduled",
                            col(Story.scheduled_at) >= now - timedelta(days=1),
                            col(Story.scheduled_at) < horizon)
        .order_by(col(Story.scheduled_at), col(Story.id))
    ).all())
    ids = [s.id for s in drafting if s.id is not None]
    accepted_at: dict[int, datetime] = {}
    if ids:
        rows = session.exec(
            select(StoryEvent.story_id, func.max(StoryEvent.at))
            .where(col(StoryEvent.action).in_(DUE_DATE_ACTIONS),
                   col(StoryEvent.story_id).in_(ids))
            .group_by(col(StoryEvent.story_id))
        ).all()
        accepted_at = {story_id: at for story_id, at in rows if at is not None}
    member_ids = {s.author_id for s in drafting + in_review + scheduled}
    member_ids |= {s.reviewer_id for s in drafting + in_review if s.reviewer_id is not None}
    members = {m.id: m for m in session.exec(
        select(Member).where(col(Member.id).in_(member_ids or {-1}))
    ).all() if m.id is not None}
    snoozes = {
        (s.member_id, s.story_id): s.until
        for s in session.exec(
            # Ended snoozes still place what they deferred: at their end, not before.
            select(ReminderSnooze).where(
                col(ReminderSnooze.until) > now - timedelta(days=CATCH_UP_DAYS))
        ).all() if s.until is not None
    }
    away: dict[int, tuple[tuple[date, date], ...]] = {}
    today = now.astimezone(policy.zone).date() - timedelta(days=CATCH_UP_DAYS)
    for period in session.exec(
        select(AwayPeriod).where(col(AwayPeriod.member_id).in_(member_ids or {-1}),
                                 AwayPeriod.last_day >= today)
    ).all():
        away[period.member_id] = (*away.get(period.member_id, ()),
                                  (period.first_day, period.last_day))
    return Snapshot(now, policy, members, drafting, in_review, scheduled, accepted_at,
                    snoozes, away)


def existing_keys(session: Session, keys: Iterable[str]) -> set[str]:
    wanted = sorted(set(keys))
    found: set[str] = set()
    for start in range(0, len(wanted), KEY_QUERY_CHUNK):
        chunk = wanted[start:start + KEY_QUERY_CHUNK]
        found.update(session.exec(
            select(Outbound.unique_key).where(col(Outbound.unique_key).in_(chunk))
        ).all())
    return found
