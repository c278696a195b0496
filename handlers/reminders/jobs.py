"""What comes next (`storydesk jobs`), and when the next thing is due for a simulated
clock that jumps ahead."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from sqlalchemy import func
from sqlmodel import Session, col, select

from handlers.context import Policy
from handlers.decisions import STATE_LABELS
from handlers.release import release_moment
from handlers.reminders.direct import planned_reminders
from handlers.reminders.occurrences import Occurrence, next_pitch_call
from handlers.reminders.snapshot import CATCH_UP_DAYS, Snapshot, existing_keys, load_snapshot
from handlers.reminders.team_posts import empty_slot_occurrences
from handlers.reply import plural
from handlers.timing import at_local, next_weekly
from storage.models import Outbound, Story

LOOKAHEAD_DAYS = 60  # how far ahead `upcoming` looks
_REMINDER_LABELS = {"before": "draft reminder", "on-the-day": "draft due today",
                    "escalation": "overdue draft, to the reviewer", "review": "review waiting"}


@dataclass(frozen=True)
class Job:
    when: datetime
    what: str
    to: str


def upcoming(session: Session, now: datetime, policy: Policy, limit: int = 20) -> list[Job]:
    """The next reminders and posts after `now`, soonest first."""
    snapshot = load_snapshot(session, now, policy)
    rules = policy.reminders
    zone = policy.zone
    jobs: list[Job] = []
    plans = planned_reminders(snapshot, now - timedelta(days=CATCH_UP_DAYS),
                              now + timedelta(days=LOOKAHEAD_DAYS))
    existing = existing_keys(session, (o.key for p in plans for o in p.occurrences))
    for plan in plans:
        if not plan.recipient.reminders_enabled:
            continue
        following = [o for o in plan.occurrences if o.due > now and o.key not in existing]
        if following:
            jobs.append(Job(following[0].due, reminder_description(following[0], plan.story),
                            f"DM {plan.recipient.display_name} ({plan.recipient.platform})"))
    jobs += [job for job in release_jobs(snapshot) if job.when > now]
    week = next_weekly(now, rules.coming_week_weekday, rules.coming_week_at, zone)
    jobs.append(Job(week, "coming-week post", "team channel"))
    jobs.append(Job(next_pitch_call(now, zone, rules), "call for pitches", "group channel"))
    days = sorted({s.scheduled_at.astimezone(zone).date() for s in snapshot.scheduled
                   if s.scheduled_at and s.scheduled_at > now})
    for day in days:
        moment = at_local(day, rules.publishing_today_at, zone)
        if moment > now:
            jobs.append(Job(moment, f"publishing today ({day:%a %d %b})", "team channel"))
    horizon = now + timedelta(weeks=rules.free_slot_weeks)
    for slot, occurrence in empty_slot_occurrences(session, snapshot, horizon):
        if occurrence.moment > now:
            jobs.append(Job(occurrence.moment,
                            f"empty-slot warning for {slot.astimezone(zone):%a %d %b %H:%M}",
                            "team channel"))
    jobs.sort(key=lambda job: job.when)
    return jobs[:limit]


def reminder_description(occurrence: Occurrence, story: Story) -> str:
    """How `storydesk jobs` names a reminder, whether it is due now or comes next."""
    what = (f"draft overdue {plural(occurrence.days, 'day')}" if occurrence.label == "overdue"
            else _REMINDER_LABELS.get(occurrence.label, occurrence.label))
    return f"{what}: story #{story.id} ({STATE_LABELS[story.state]})"


def release_jobs(snapshot: Snapshot) -> list[Job]:
    """When each story still waiting for its draft is released if the draft does not come
    (`handlers.release`); nothing when releases are off."""
    jobs = []
    for story in snapshot.drafting:
        assert story.draft_due is not None
        moment = release_moment(story.draft_due, snapshot.policy)
        if moment is None:
            continue
        what = "revision" if story.state == "changes_requested" else "draft"
        people = [snapshot.members.get(member_id)
                  for member_id in (story.author_id, story.reviewer_id) if member_id]
        names = " and ".join(person.display_name for person in people if person)
        jobs.append(Job(moment, f"release, no {what} {snapshot.policy.release_after_days} "
                        f"days after due: story #{story.id} ({STATE_LABELS[story.state]})",
                        f"DM {names}"))
    return jobs


def next_moment(session: Session, now: datetime, policy: Policy) -> datetime | None:
    """When something is next due, for a simulated clock that jumps ahead: the next
    reminder or post not queued yet, or a message queued for later (a reminder queued
    ahead of its moment, a direct message held for the recipient's working hours)."""
    jobs = upcoming(session, now, policy, limit=1)
    queued = session.exec(
        select(func.min(Outbound.due_at)).where(Outbound.status == "pending",
                                                col(Outbound.due_at) > now)
    ).first()
    moments = [job.when for job in jobs]
    if queued is not None:
        moments.append(queued if queued.tzinfo is not None else queued.replace(tzinfo=UTC))
    return min(moments, default=None)
