"""The weekly reach summary and the monthly audience summary, queued for the group channel.

The scheduler calls `enqueue_digests` on every tick. Inside the posting window (from the
configured weekday and time, for a day) it queues the summary of the last complete week;
on the first such weekday of a month it adds the audience summary. The outbox's unique keys
make every further tick a no-op, on one replica or several.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, time, timedelta

from sqlmodel import Session, col, select

from handlers import warnings
from handlers.context import Policy
from handlers.outbox import post_to_channel, queued_everywhere
from handlers.reach.audience import AudienceChartMaker, audience_reply, build_audience
from handlers.reach.summary import DIGEST_WINDOW, build_weekly, weekly_reply
from handlers.reach.weeks import ChartMaker, monday_of, week_label
from handlers.reminders import Job
from handlers.reply import Reply
from handlers.timing import at_local, next_monthly, next_weekly, weekly_due
from storage.models import Outbound


def digest_due(now: datetime, policy: Policy, weekday: int, at: time,
               window: timedelta = DIGEST_WINDOW) -> datetime | None:
    """This week's posting moment if `now` is within its window, else None."""
    return weekly_due(now, weekday, at, policy.zone, window)


def upcoming_posts(
    now: datetime, policy: Policy, weekday: int, at: time, fetch_at: time | None = None
) -> list[Job]:
    """When the next weekly summary, monthly audience summary and daily fetch happen."""
    zone = policy.zone
    weekly = next_weekly(now, weekday, at, zone)
    monthly = next_monthly(now, weekday, at, zone)
    jobs = [
        Job(weekly, "weekly reach summary, with its chart", "group channel"),
        Job(monthly, "monthly audience summary", "group channel"),
    ]
    if fetch_at is not None:
        today = now.astimezone(zone).date()
        fetch = at_local(today, fetch_at, zone)
        if fetch <= now:
            fetch = at_local(today + timedelta(days=1), fetch_at, zone)
        jobs.append(Job(fetch, "Instagram figures fetched", "Graph API"))
    return jobs


def weekly_key(week_start_label: str) -> str:
    return f"digest:reach:{week_start_label}"


def audience_key(moment: datetime) -> str:
    return f"digest:audience:{moment:%Y-%m}"


MISSING_SUMMARY = "weekly-summary-missing"


def enqueue_digests(
    session: Session,
    now: datetime,
    policy: Policy,
    *,
    weekday: int = 0,
    at: time = time(9, 0),
    weekly_chart: ChartMaker | None = None,
    audience_chart: AudienceChartMaker | None = None,
    window: timedelta = DIGEST_WINDOW,
) -> list[Outbound]:
    """Queue what is due at `now`: the weekly summary, and on the month's first posting
    day the audience summary. Returns the rows queued by this call."""
    moment = digest_due(now, policy, weekday, at, window)
    if moment is None:
        return []
    platforms = policy.channel_platforms
    queued: list[Outbound] = []
    week_start = monday_of(moment.date()) - timedelta(days=7)
    key = weekly_key(week_label(week_start))
    if not queued_everywhere(session, key, platforms):
        summary = build_weekly(session, now, policy, week_start)
        if summary.current.has_data:
            image = weekly_chart(summary.chart) if weekly_chart else None
            reply = replace(weekly_reply(summary, image), visibility="in_channel")
            queued += post_to_channel(session, platforms, "group", reply, key=key, now=now)
            warnings.cleared(session, MISSING_SUMMARY)
        else:
            note = Reply(
                text=f"The weekly reach summary for {week_label(week_start)} was not posted: "
                "there are no figures for that week. Check `storydesk reach fetch`, or "
                "import or enter the figures, then `storydesk digest preview`.",
                tone="warning",
            )
            rows = post_to_channel(session, platforms, "team", note, key=key, now=now)
            if not warnings.first_time(session, MISSING_SUMMARY, "no figures"):
                # Said before and nothing changed: recorded, not repeated every Monday.
                for row in rows:
                    row.status, row.last_error = "skipped", "warning said before"
                    session.add(row)
                rows = []
            queued += rows
    if moment.day <= 7:
        key = audience_key(moment)
        if not queued_everywhere(session, key, platforms):
            audience = build_audience(session, moment.date())
            if audience.has_data:
                image = audience_chart(audience) if audience_chart else None
                reply = replace(audience_reply(audience, image), visibility="in_channel")
                queued += post_to_channel(session, platforms, "group", reply, key=key,
                                          now=now)
    return queued


def pending_digests(session: Session, now: datetime) -> list[Outbound]:
    """Digest posts not sent yet, so the bot can redraw a chart file that went missing."""
    return list(session.exec(
        select(Outbound).where(
            col(Outbound.unique_key).like("digest:%"),
            col(Outbound.status).in_(["pending", "sending"]),
            col(Outbound.created_at) >= now.astimezone(UTC) - timedelta(days=8),
        )
    ).all())
