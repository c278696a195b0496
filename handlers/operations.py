"""What an operator looks at: the outbox's messages one by one, and what is due right now.

Behind `storydesk outbox` (failed and waiting messages with their ids and causes, so that
`storydesk outbox retry <id>` has an id to take) and the "due now" part of
`storydesk jobs` (what the next tick will queue, record as expired or release, and what is
queued but not sent yet).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlmodel import Session, col, func, select

from handlers.context import Policy
from handlers.reminders import (
    CATCH_UP_DAYS,
    SUPERSEDE_WITHIN,
    Job,
    channel_post_key,
    coming_week_occurrence,
    existing_keys,
    load_snapshot,
    period_post_due,
    pitch_call_occurrence,
    planned_reminders,
    release_jobs,
    reminder_description,
    settle,
)
from storage.models import Member, Outbound

WAITING = ("pending", "sending")
TEXT_SHOWN = 60


@dataclass(frozen=True)
class OutboxEntry:
    id: int
    status: str
    platform: str
    to: str
    due_at: datetime
    attempts: int
    text: str
    cause: str | None


@dataclass(frozen=True)
class OutboxListing:
    failed: list[OutboxEntry]
    waiting: list[OutboxEntry]
    more_failed: int
    more_waiting: int


def destination(member: Member | None, row: Outbound) -> str:
    if row.member_id is not None:
        return f"DM {member.display_name}" if member else "a DM"
    return f"{row.channel} channel"


def _entries(session: Session, rows: list[Outbound]) -> list[OutboxEntry]:
    ids = {row.member_id for row in rows if row.member_id is not None}
    members = {m.id: m for m in session.exec(
        select(Member).where(col(Member.id).in_(ids))).all()} if ids else {}
    entries = []
    for row in rows:
        assert row.id is not None and row.due_at is not None
        text = " ".join(row.text.split())
        if len(text) > TEXT_SHOWN:
            text = text[:TEXT_SHOWN - 1].rstrip() + "…"
        entries.append(OutboxEntry(
            id=row.id, status=row.status, platform=row.platform,
            to=destination(members.get(row.member_id), row), due_at=row.due_at,
            attempts=row.attempts, text=text, cause=row.last_error))
    return entries


def newest_outbound_id(session: Session) -> int:
    return session.exec(select(func.max(Outbound.id))).one() or 0


def held_direct_messages(session: Session, now: datetime,
                         after_id: int) -> list[OutboxEntry]:
    """Direct messages queued after outbox row `after_id` that wait past `now` for their
    recipient (working hours, the day's one message, an away period), soonest first."""
    rows = list(session.exec(
        select(Outbound).where(col(Outbound.id) > after_id, Outbound.status == "pending",
                               col(Outbound.member_id).is_not(None),
                               col(Outbound.due_at) > now)
        .order_by(col(Outbound.due_at), col(Outbound.id))).all())
    return _entries(session, rows)


def outbox_listing(session: Session, limit: int = 20) -> OutboxListing:
    """Failed messages (newest first) and waiting ones (soonest due first), `limit` each."""
    def count(statuses: tuple[str, ...]) -> int:
        return int(session.exec(select(func.count()).select_from(Outbound).where(
            col(Outbound.status).in_(statuses))).one())

    failed = list(session.exec(
        select(Outbound).where(Outbound.status == "failed")
        .order_by(col(Outbound.due_at).desc(), col(Outbound.id).desc()).limit(limit)).all())
    waiting = list(session.exec(
        select(Outbound).where(col(Outbound.status).in_(WAITING))
        .order_by(col(Outbound.due_at), col(Outbound.id)).limit(limit)).all())
    return OutboxListing(
        failed=_entries(session, failed), waiting=_entries(session, waiting),
        more_failed=max(0, count(("failed",)) - len(failed)),
        more_waiting=max(0, count(WAITING) - len(waiting)),
    )


@dataclass(frozen=True)
class DueJob(Job):
    state: str  # "not queued yet", "expires", "queued", "releases"


def due_now(session: Session, now: datetime, policy: Policy, limit: int = 20) -> list[DueJob]:
    """What is already due: what the next tick queues, and messages waiting to go out.

    Reminders are decided as the tick decides them (`settle`): the newest due one is queued,
    older ones past the late cutoff are recorded as expired. The coming-week post and the
    call for pitches are listed while due in their period and not queued yet; a story past
    its release day, until the next tick releases it.
    """
    jobs: list[DueJob] = []
    snapshot = load_snapshot(session, now, policy)
    plans = planned_reminders(snapshot, now - timedelta(days=CATCH_UP_DAYS),
                              now + SUPERSEDE_WITHIN)
    existing = existing_keys(session, (o.key for p in plans for o in p.occurrences))
    for plan in plans:
        to = f"DM {plan.recipient.display_name} ({plan.recipient.platform})"
        decision = settle(plan.occurrences, existing, now)
        jobs += [DueJob(o.due, reminder_description(o, plan.story), to, "expires")
                 for o in decision.expired]
        if decision.send is not None and plan.recipient.reminders_enabled:
            jobs.append(DueJob(decision.send.due, reminder_description(decision.send, plan.story),
                               to, "not queued yet"))
    jobs += [DueJob(job.when, job.what, job.to, "releases")
             for job in release_jobs(snapshot) if job.when <= now]
    rules, zone = policy.reminders, policy.zone
    posts = [(coming_week_occurrence(now, zone, rules), "coming-week post", "team channel"),
             (pitch_call_occurrence(now, zone, rules), "call for pitches", "group channel")]
    queued = existing_keys(session, (channel_post_key(policy, o.key) for o, _, _ in posts))
    for occurrence, what, where in posts:
        done = {occurrence.key} if channel_post_key(policy, occurrence.key) in queued else set()
        if period_post_due(occurrence, done, now):
            jobs.append(DueJob(occurrence.due, what, where, "not queued yet"))
    rows = list(session.exec(
        select(Outbound).where(col(Outbound.status).in_(WAITING), col(Outbound.due_at) <= now)
        .order_by(col(Outbound.due_at), col(Outbound.id)).limit(limit)).all())
    for entry in _entries(session, rows):
        jobs.append(DueJob(entry.due_at, f"#{entry.id} {entry.text}",
                           f"{entry.to} ({entry.platform})", "queued"))
    jobs.sort(key=lambda job: job.when)
    return jobs[:limit]
