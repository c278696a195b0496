"""Local time for reminders: wall-clock moments in a zone, working days and quiet hours.

Every instant is an aware UTC datetime; wall-clock times are turned into instants through
the person's zone. A wall-clock time the clocks skip (the spring daylight-saving gap) is
moved forward by the length of the gap, as the zone's offset before the change implies;
an ambiguous one (the autumn fold) means its first occurrence. Nothing here reads a clock.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from handlers.context import ReminderRules
from handlers.decisions import local_datetime

MIDNIGHT = time(0)


def at_local(day: date, at: time, zone: ZoneInfo) -> datetime:
    """The UTC instant of the wall-clock time `at` on `day` in `zone` (never a skipped one).

    A time the clock skips is read with the offset before the gap, which lands after it
    (02:30 on a spring-forward night becomes 03:30). That is `fold=0`; `fold=1` would move
    it back before the gap, so a caller's fold is dropped for skipped times.
    """
    local = local_datetime(day, at, zone) or datetime.combine(day, at.replace(fold=0), zone)
    return local.astimezone(UTC)


def zone_named(name: str | None, fallback: ZoneInfo) -> ZoneInfo:
    """The member's zone when it names a real one, else the team's."""
    if not name:
        return fallback
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        return fallback


def is_quiet(at: time, rules: ReminderRules) -> bool:
    start, end = rules.quiet_start, rules.quiet_end
    if start is None or end is None:
        return False
    if start > end:  # wraps midnight, as 20:00-08:00 does
        return at >= start or at < end
    return start <= at < end


def is_allowed(moment: datetime, zone: ZoneInfo, rules: ReminderRules) -> bool:
    """May a direct message arrive at `moment`: a working day, outside quiet hours."""
    local = moment.astimezone(zone)
    return local.weekday() in rules.working_days and not is_quiet(local.time(), rules)


def day_start(rules: ReminderRules) -> time:
    """When a deferred message arrives on a later day: the usual reminder time, so that it
    meets that day's reminders in one message; the end of the night's quiet hours if the
    reminder time lies inside them."""
    start, end = rules.quiet_start, rules.quiet_end
    if start is not None and end is not None and start > end and is_quiet(rules.remind_at,
                                                                            rules):
        return end
    return rules.remind_at


def allowed_windows(rules: ReminderRules) -> list[tuple[time, time | None]]:
    """The allowed stretches of a working day, local; None as an end means midnight."""
    start, end = rules.quiet_start, rules.quiet_end
    if start is None or end is None:
        return [(MIDNIGHT, None)]
    if start > end:
        return [(end, start)]
    return [(MIDNIGHT, start), (end, None)]


def next_allowed(moment: datetime, zone: ZoneInfo, rules: ReminderRules) -> datetime:
    """The first instant at or after `moment` at which a direct message may arrive.

    Quiet hours and days off defer a message; they never drop it. On a later day the
    message arrives at `day_start`, not at midnight.
    """
    if not rules.working_days:
        return moment
    first_day = moment.astimezone(zone).date()
    for offset in range(9):
        day = first_day + timedelta(days=offset)
        if day.weekday() not in rules.working_days:
            continue
        for window_start, window_end in allowed_windows(rules):
            opens = window_start if offset == 0 else max(window_start, day_start(rules))
            if window_end is not None and opens >= window_end:
                continue
            start = at_local(day, opens, zone)
            end = (at_local(day, window_end, zone) if window_end is not None
                   else at_local(day + timedelta(days=1), MIDNIGHT, zone))
            if moment < end and start < end:
                return max(moment, start)
    raise ValueError("no allowed moment within a week; check the working days")


def next_weekly(after: datetime, weekday: int, at: time, zone: ZoneInfo) -> datetime:
    """The first weekly moment (a weekday and a local time) strictly after `after`."""
    local_day = after.astimezone(zone).date()
    for offset in range(15):
        day = local_day + timedelta(days=offset)
        if day.weekday() != weekday:
            continue
        moment = at_local(day, at, zone)
        if moment > after:
            return moment
    raise AssertionError("a weekday recurs within two weeks")


def weekly_due(now: datetime, weekday: int, at: time, zone: ZoneInfo,
               window: timedelta) -> datetime | None:
    """This week's moment (a weekday and a local time) if `now` lies within `window` after
    it; None otherwise, and when the local clock skips it."""
    today = now.astimezone(zone).date()
    moment = local_datetime(today + timedelta(days=weekday - today.weekday()), at, zone)
    if moment is None or not moment <= now < moment + window:
        return None
    return moment


def next_monthly(after: datetime, weekday: int, at: time, zone: ZoneInfo) -> datetime:
    """The first weekly moment after `after` that falls on the month's first such weekday
    (within its first seven days): when the monthly posts go out."""
    moment = next_weekly(after, weekday, at, zone)
    while moment.astimezone(zone).day > 7:
        moment = next_weekly(moment, weekday, at, zone)
    return moment


def local_week(moment: datetime, zone: ZoneInfo) -> tuple[date, date]:
    """The local Monday that starts the ISO week of `moment`, and the next Monday."""
    local_day = moment.astimezone(zone).date()
    monday = local_day - timedelta(days=local_day.weekday())
    return monday, monday + timedelta(days=7)


def iso_week_label(day: date) -> str:
    year, week, _ = day.isocalendar()
    return f"{year}-W{week:02d}"
