"""When reminders and periodic posts fall due: pure planning, no database.

An `Occurrence` is one moment something falls due, under a unique key. Direct messages
are deferred (never dropped) by the recipient's days off, quiet hours, away periods and
snoozes (`defer`); `settle` decides a series at a given moment (send the newest due one,
record the expired, drop the superseded); periodic posts coalesce to one per period.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from handlers.context import ReminderRules
from handlers.timing import at_local, day_start, iso_week_label, local_week, next_allowed

PITCH_CALL_ANCHOR = date(2024, 1, 1)  # a Monday: pitch-call periods count from here
REMINDER_KEY_PREFIXES = ("draft-reminder:", "draft-escalation:", "review-nudge:")
SUPERSEDE_WITHIN = timedelta(hours=6)


def is_reminder_key(key: str) -> bool:
    """Direct reminders expire after the late cutoff; other messages are never dropped."""
    return key.startswith(REMINDER_KEY_PREFIXES)


@dataclass(frozen=True)
class Occurrence:
    """One moment something falls due. `due` is `moment` after deferral; after `expires`
    it is recorded as expired instead of sent."""

    key: str
    series: str
    moment: datetime
    due: datetime
    expires: datetime
    label: str
    days: int = 0


@dataclass(frozen=True)
class Deferral:
    """What may push a direct message later: the recipient's zone, days away, a snooze."""

    zone: ZoneInfo
    away: tuple[tuple[date, date], ...] = ()
    snoozed_until: datetime | None = None


def defer(moment: datetime, deferral: Deferral, rules: ReminderRules) -> datetime:
    """The instant a direct message planned for `moment` may arrive."""
    due = moment
    if deferral.snoozed_until is not None and deferral.snoozed_until > due:
        due = deferral.snoozed_until
    for _ in range(len(deferral.away) + 1):
        local_day = due.astimezone(deferral.zone).date()
        back = [last for first, last in deferral.away if first <= local_day <= last]
        if not back:
            break
        due = at_local(max(back) + timedelta(days=1), day_start(rules), deferral.zone)
    return next_allowed(due, deferral.zone, rules)


def _dm(key: str, series: str, moment: datetime, deferral: Deferral, rules: ReminderRules,
        label: str, days: int = 0) -> Occurrence:
    due = defer(moment, deferral, rules)
    return Occurrence(key, series, moment, due, due + timedelta(hours=rules.late_cutoff_hours),
                      label, days)


def draft_occurrences(
    story_id: int, draft_due: date, since: datetime, until: datetime, deferral: Deferral,
    rules: ReminderRules,
) -> list[Occurrence]:
    """The author's reminders for one draft date with moments in [since, until], in order."""
    zone = deferral.zone
    series = f"draft-reminder:story-{story_id}:due-{draft_due.isoformat()}"
    planned: list[tuple[date, str, int]] = [
        (draft_due - timedelta(days=rules.remind_days_before), "before",
         rules.remind_days_before),
        (draft_due, "on-the-day", 0),
    ]
    result = []
    for day, label, days in planned:
        moment = at_local(day, rules.remind_at, zone)
        if since <= moment <= until:
            result.append(_dm(f"{series}:{label}", series, moment, deferral, rules, label, days))
    step = rules.overdue_every_days
    first_overdue = max(1, (since.astimezone(zone).date() - draft_due).days // step)
    overdue = first_overdue * step
    while True:
        moment = at_local(draft_due + timedelta(days=overdue), rules.remind_at, zone)
        if moment > until:
            break
        if moment >= since:
            result.append(_dm(f"{series}:overdue-{overdue}d", series, moment, deferral, rules,
                              "overdue", overdue))
        overdue += step
    return result


def escalation_occurrence(
    story_id: int, draft_due: date, reviewer_id: int, deferral: Deferral, rules: ReminderRules
) -> Occurrence:
    """The reviewer hears once, after `escalate_after_days` overdue days."""
    key = f"draft-escalation:story-{story_id}:due-{draft_due.isoformat()}:reviewer-{reviewer_id}"
    moment = at_local(draft_due + timedelta(days=rules.escalate_after_days), rules.remind_at,
                      deferral.zone)
    return _dm(key, key, moment, deferral, rules, "escalation", rules.escalate_after_days)


def review_occurrences(
    story_id: int, version: int, reviewer_id: int, waiting_since: datetime, since: datetime,
    until: datetime, deferral: Deferral, rules: ReminderRules,
) -> list[Occurrence]:
    """Nudges for a draft left in review: after N days untouched, then every N days,
    with moments in [since, until]."""
    series = f"review-nudge:story-{story_id}:v{version}:reviewer-{reviewer_id}"
    step = timedelta(days=rules.review_nudge_days)
    result = []
    count = max(1, int((since - waiting_since) / step))
    while True:
        moment = waiting_since + count * step
        if moment > until:
            break
        if moment >= since:
            days = count * rules.review_nudge_days
            result.append(_dm(f"{series}:{days}d", series, moment, deferral, rules, "review",
                              days))
        count += 1
    return result


@dataclass(frozen=True)
class Settlement:
    """What a tick does with one series: send the newest due occurrence, record the rest."""

    send: Occurrence | None = None
    expired: tuple[Occurrence, ...] = ()


def settle(occurrences: Sequence[Occurrence], existing: set[str], now: datetime,
           until: datetime | None = None) -> Settlement:
    """Decide a series of occurrences (in moment order) at `now`, given the keys queued;
    with `until`, what falls due by then counts as due (it is queued ahead of its moment).

    Only what comes after the newest queued occurrence is considered. Of those due, the
    newest is sent if it has not expired; expired ones are recorded (to be counted); older
    ones still within the cutoff are superseded by the newest and dropped silently. A due
    occurrence whose successor falls due within SUPERSEDE_WITHIN waits for it.
    """
    newer: list[Occurrence] = []
    for occurrence in reversed(occurrences):
        if occurrence.key in existing:
            break
        newer.append(occurrence)
    newer.reverse()
    due = [o for o in newer if o.due <= max(now, until or now)]
    if not due:
        return Settlement()
    expired = tuple(o for o in due if now >= o.expires)
    latest = due[-1]
    if now >= latest.expires:
        return Settlement(expired=expired)
    following = newer[len(due)] if len(newer) > len(due) else None
    if following is not None and following.due - latest.due < SUPERSEDE_WITHIN:
        # A deferred reminder and the next one land hours apart: send only the newer.
        return Settlement(expired=expired)
    return Settlement(send=latest, expired=expired)


def period_post_due(occurrence: Occurrence | None, existing: set[str], now: datetime) -> bool:
    """A periodic post is sent once within its period, late if need be; never after it."""
    return (occurrence is not None and occurrence.key not in existing
            and occurrence.due <= now < occurrence.expires)


def coming_week_occurrence(now: datetime, zone: ZoneInfo, rules: ReminderRules) -> Occurrence:
    monday, next_monday = local_week(now, zone)
    day = monday + timedelta(days=rules.coming_week_weekday)
    moment = at_local(day, rules.coming_week_at, zone)
    key = f"coming-week:{iso_week_label(monday)}"
    return Occurrence(key, key, moment, moment,
                      _period_expiry(moment, at_local(next_monday, time(0), zone), rules),
                      "coming-week")


def pitch_call_occurrence(now: datetime, zone: ZoneInfo, rules: ReminderRules) -> Occurrence:
    every = rules.pitch_call_every_days
    today = now.astimezone(zone).date()
    start = PITCH_CALL_ANCHOR + timedelta(days=((today - PITCH_CALL_ANCHOR).days // every) * every)
    moment = at_local(start, rules.coming_week_at, zone)
    key = f"pitch-call:{start.isoformat()}"
    end = at_local(start + timedelta(days=every), time(0), zone)
    return Occurrence(key, key, moment, moment, _period_expiry(moment, end, rules), "pitch-call")


def _period_expiry(moment: datetime, period_end: datetime, rules: ReminderRules) -> datetime:
    """A periodic post missed by more than the late cutoff waits for its next period."""
    return min(period_end, moment + timedelta(hours=rules.late_cutoff_hours))


def next_pitch_call(after: datetime, zone: ZoneInfo, rules: ReminderRules) -> datetime:
    current = pitch_call_occurrence(after, zone, rules)
    if current.moment > after:
        return current.moment
    following = current.moment.astimezone(zone).date() + timedelta(
        days=rules.pitch_call_every_days)
    return at_local(following, rules.coming_week_at, zone)


def is_late(occurrence: Occurrence, now: datetime, rules: ReminderRules) -> bool:
    return (now - occurrence.due).total_seconds() > rules.late_after_seconds
