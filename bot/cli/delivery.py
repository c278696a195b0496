"""`storydesk outbox`, `storydesk outbox retry <id|failed>` and `storydesk jobs`."""

from __future__ import annotations

import argparse
import sys
from datetime import UTC, datetime, timedelta
from typing import Any, TextIO

from bot.cli.shared import open_database
from config.settings import Settings
from handlers.reply import plural


def add_commands(sub: Any) -> None:
    outbox = sub.add_parser(
        "outbox", help="counts, then the failed and waiting messages with their ids and causes")
    outbox.add_argument("--limit", type=int, default=20,
                        help="how many failed and how many waiting messages to list (default 20)")
    outbox.set_defaults(handler=cmd_outbox)
    actions = outbox.add_subparsers(dest="outbox_command", metavar="ACTION")
    retry = actions.add_parser("retry", help="queue a message again: its id, or `failed`")
    retry.add_argument("which", metavar="ID|failed")
    retry.set_defaults(handler=cmd_outbox_retry)
    jobs = sub.add_parser("jobs", help="what is due now, and what is scheduled next")
    jobs.add_argument("--limit", type=int, default=20, help="how many (default 20)")
    jobs.set_defaults(handler=cmd_jobs)


def age(delta: timedelta) -> str:
    seconds = int(delta.total_seconds())
    if seconds < 120:
        return f"{seconds} s"
    if seconds < 2 * 3600:
        return f"{seconds // 60} min"
    if seconds < 2 * 86400:
        return f"{seconds // 3600} h"
    return f"{seconds // 86400} days"


def _when(moment: datetime, now: datetime) -> str:
    if moment <= now:
        return f"due {age(now - moment)} ago"
    return f"due in {age(moment - now)}"


def _entry_lines(entries: list[Any], now: datetime, more: int) -> list[str]:
    lines = []
    id_width = max(len(str(entry.id)) for entry in entries)
    to_width = max(len(entry.to) for entry in entries)
    for entry in entries:
        attempts = f", {plural(entry.attempts, 'attempt')}" if entry.attempts else ""
        lines.append(f"  #{entry.id:<{id_width}}  {entry.platform:<10}  {entry.to:<{to_width}}  "
                     f"{_when(entry.due_at, now)}{attempts}  \"{entry.text}\"")
        if entry.cause:
            lines.append(f"  {'':<{id_width + 1}}  cause: {entry.cause}")
    if more:
        lines.append(f"  … and {more} more")
    return lines


def show_outbox(engine: Any, now: datetime, out: TextIO, limit: int = 20) -> None:
    from handlers.delivery import outbox_summary
    from handlers.operations import outbox_listing
    from storage.db import read_session

    with read_session(engine) as session:
        summary = outbox_summary(session, now)
        listing = outbox_listing(session, limit)
    counts = summary.counts
    out.write("Outbox: " + ", ".join(f"{counts[s]} {s}" for s in counts) + "\n")
    if summary.oldest_pending is not None:
        out.write(f"Oldest message waiting: due {age(now - summary.oldest_pending)} ago "
                  f"({summary.oldest_pending:%Y-%m-%d %H:%M} UTC).\n")
    else:
        out.write("Nothing is waiting to be sent.\n")
    if summary.next_due is not None:
        out.write(f"Next retry or deferred message: in {age(summary.next_due - now)}.\n")
    if listing.failed:
        out.write("\nFailed, not retried (`storydesk outbox retry ID` sends one again, "
                  "`storydesk outbox retry failed` all of them):\n")
        out.write("\n".join(_entry_lines(listing.failed, now, listing.more_failed)) + "\n")
    if listing.waiting:
        out.write("\nWaiting to be sent (a cause here is the last temporary failure; it is "
                  "retried by itself):\n")
        out.write("\n".join(_entry_lines(listing.waiting, now, listing.more_waiting)) + "\n")


def cmd_outbox(args: argparse.Namespace, settings: Settings) -> int:
    engine = open_database(settings)
    try:
        show_outbox(engine, datetime.now(UTC), sys.stdout, max(1, min(args.limit, 500)))
    finally:
        engine.dispose()
    return 0


def cmd_outbox_retry(args: argparse.Namespace, settings: Settings) -> int:
    from handlers.delivery import retry
    from storage.db import write_session

    engine = open_database(settings)
    try:
        with write_session(engine) as session:
            count = retry(session, args.which.strip().lower(), datetime.now(UTC))
    except (ValueError, LookupError) as error:
        print(f"storydesk: {error}", file=sys.stderr)
        return 1
    finally:
        engine.dispose()
    print(f"Queued {count} message{'' if count == 1 else 's'} again; a running Storydesk "
          "sends them within a tick.")
    return 0


def show_jobs(engine: Any, settings: Settings, now: datetime, limit: int, out: TextIO) -> None:
    from bot.runtime import enabled_platforms, policy_from
    from handlers.crowd.nudges import upcoming_crowd
    from handlers.operations import due_now
    from handlers.reach.digest import upcoming_posts
    from handlers.reminders import upcoming
    from storage.db import read_session

    policy = policy_from(settings, enabled_platforms(settings))
    zone = policy.zone
    with read_session(engine) as session:
        due = due_now(session, now, policy, limit + 100)
        jobs = upcoming(session, now, policy, limit)
        jobs += upcoming_crowd(session, now, policy, settings.digest_post.weekday,
                               settings.digest_post.at)
    fetch_at = settings.reach_fetch_at if settings.instagram_enabled else None
    jobs += upcoming_posts(now, policy, settings.digest_post.weekday, settings.digest_post.at,
                           fetch_at)
    jobs = sorted(jobs, key=lambda job: job.when)[:limit]
    out.write(f"Every {settings.tick_seconds} s the scheduler queues what is due and wakes "
              f"the dispatcher. Times in {policy.timezone}.\n")
    state_notes = {"not queued yet": "the next tick queues it",
                   "expires": "past the late cutoff: the next tick records it as expired",
                   "queued": "queued, not sent yet (see `storydesk outbox`)",
                   "releases": "the next tick releases it"}
    hidden = max(0, len(due) - limit)
    due = due[:limit]
    if due:
        count = f"{len(due)} of {len(due) + hidden}" if hidden else str(len(due))
        out.write(f"Due now ({count} {'item' if len(due) + hidden == 1 else 'items'}):\n")
        due_width = max(len(item.what) for item in due)
        to_width = max(len(item.to) for item in due)
        for item in due:
            out.write(f"  {item.when.astimezone(zone):%a %Y-%m-%d %H:%M}  "
                      f"{item.what:<{due_width}}  {item.to:<{to_width}}  "
                      f"{state_notes[item.state]}\n")
        if hidden:
            out.write(f"  … and {hidden} more (`storydesk jobs --limit N` shows more)\n")
    else:
        out.write("Due now: nothing.\n")
    out.write("Next:\n")
    if not jobs:
        out.write("  nothing scheduled\n")
    width = max((len(job.what) for job in jobs), default=0)
    for job in jobs:
        out.write(f"  {job.when.astimezone(zone):%a %Y-%m-%d %H:%M}  "
                  f"{job.what:<{width}}  {job.to}\n")


def cmd_jobs(args: argparse.Namespace, settings: Settings) -> int:
    engine = open_database(settings)
    try:
        show_jobs(engine, settings, datetime.now(UTC), max(1, min(args.limit, 500)), sys.stdout)
    finally:
        engine.dispose()
    return 0
