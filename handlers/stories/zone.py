"""The team's local time: which day "today" is for the team and how a moment reads to it."""

from __future__ import annotations

from datetime import date, datetime

from handlers.context import Policy


def local_today(now: datetime, policy: Policy) -> date:
    return now.astimezone(policy.zone).date()


def local_time_label(when: datetime, policy: Policy) -> str:
    """`Tue 2026-11-24 18:00 CET`: a time as the team reads it."""
    return f"{when.astimezone(policy.zone):%a %Y-%m-%d %H:%M %Z}"
