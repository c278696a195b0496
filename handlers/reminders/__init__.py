"""Reminders and schedule posts: what the calendar says is due, queued in the outbox.

The scheduler's tick calls `run_tick(session, now, policy)`. It computes, from the
stories and the calendar, every reminder and post whose moment has come, and queues each
under a unique key (`draft-reminder:story-12:due-2026-12-03:before`), so that a repeated
tick, a restart or a second replica never queues one twice.

- Authors, by direct message: `remind_days_before` days before the draft date, on the
  day, then every `overdue_every_days` while overdue; after `escalate_after_days` overdue
  days the reviewer is told too. Reviewers: a draft in review untouched for
  `review_nudge_days` (and again after as many days).
- Direct messages are computed in the recipient's zone and deferred (never dropped) by
  days off, quiet hours, away periods and snoozes; members who turned reminders off are
  skipped (recorded as such, so turning them back on does not replay the past).
- The team channel: a "coming week" post, "publishing today", a warning two days ahead
  for an empty slot, a warning for two stories on one day. The group channel: a call for
  pitches every `pitch_call_every_days` naming what the schedule lacks.

After downtime, a reminder that fell due less than `late_cutoff_hours` ago is sent marked
late; older ones are recorded as expired and counted in the next coordinators' post. In a
series (the draft reminders of one story) only the newest due one is sent. Periodic posts
coalesce: one per period, sent late within its period, never a burst of old ones.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from sqlalchemy import and_, func, or_
from sqlmodel import Session, col, select

from handlers import auto_accept, decisions, wording
from handlers.context import Policy, ReminderRules
from handlers.crowd.stats import wanted_objective_line
from handlers.decisions import OBJECTIVES, STATE_LABELS
from handlers.dm_actions import author_reminder_actions, reviewer_reminder_actions
from handlers.errors import Refused
from handlers.outbox import notify_member, post_to_channel
from handlers.publication import posted_actions
from handlers.reply import Bullets, Fields, Heading, Paragraph, Reply, success
from handlers.stories import hand_over_waiting_reviews
from handlers.timing import (
    at_local,
    day_start,
    iso_week_label,
    local_week,
    next_allowed,
    next_weekly,
    zone_named,
)
from storage.delivery import DeliveryNotice, ReminderSnooze
from storage.models import AwayPeriod, CalendarEvent, Member, Outbound, Story, StoryEvent

CATCH_UP_DAYS = 30  # how far back a tick looks for reminders missed during downtime
LOOKAHEAD_DAYS = 60  # how far ahead `upcoming` looks
MAX_SNOOZE_DAYS = 30
PITCH_CALL_ANCHOR = date(2024, 1, 1)  # a Monday: pitch-call periods count from here
DRAFT_REMINDER_STATES = frozenset({"accepted", "drafting", "changes_requested"})
DUE_DATE_ACTIONS = ("accept", "changes")  # the moves that set a (new) draft date
REMINDER_KEY_PREFIXES = ("draft-reminder:", "draft-escalation:", "review-nudge:")
KEY_QUERY_CHUNK = 400
SUPERSEDE_WITHIN = timedelta(hours=6)


def is_reminder_key(key: str) -> bool:
    """Direct reminders expire after the late cutoff; other messages are never dropped."""
    return key.startswith(REMINDER_KEY_PREFIXES)


# --- occurrences: pure --------------------------------------------------------------------


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


def settle(occurrences: Sequence[Occurrence], existing: set[str], now: datetime) -> Settlement:
    """Decide a series of occurrences (in moment order) at `now`, given the keys queued.

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
    due = [o for o in newer if o.due <= now]
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


# --- loading what the rules need ------------------------------------------------------------


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
        select(Story).where(col(Story.state).in_(DRAFT_REMINDER_STATES),
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


# --- the direct reminders of one tick ------------------------------------------------------


@dataclass(frozen=True)
class Planned:
    """A direct reminder series and who gets it, with the text built from the story."""

    recipient: Member
    story: Story
    occurrences: tuple[Occurrence, ...]


def planned_reminders(snapshot: Snapshot, since: datetime, until: datetime) -> list[Planned]:
    rules = snapshot.policy.reminders
    result: list[Planned] = []
    for story in snapshot.drafting:
        assert story.id is not None and story.draft_due is not None
        author = snapshot.members.get(story.author_id)
        if author is None:
            continue
        start = max(since, snapshot.accepted_at.get(story.id, story.state_changed_at or since))
        occurrences = draft_occurrences(story.id, story.draft_due, start, until,
                                        snapshot.deferral(author, story.id), rules)
        if occurrences:
            result.append(Planned(author, story, tuple(occurrences)))
        reviewer = snapshot.members.get(story.reviewer_id) if story.reviewer_id else None
        if reviewer is not None and reviewer.id is not None:
            escalation = escalation_occurrence(story.id, story.draft_due, reviewer.id,
                                               snapshot.deferral(reviewer, story.id), rules)
            if start <= escalation.moment <= until:
                result.append(Planned(reviewer, story, (escalation,)))
    for story in snapshot.in_review:
        assert story.id is not None
        reviewer = snapshot.members.get(story.reviewer_id) if story.reviewer_id else None
        if reviewer is None or reviewer.id is None or story.state_changed_at is None:
            continue
        occurrences = review_occurrences(
            story.id, story.version, reviewer.id, story.state_changed_at, since, until,
            snapshot.deferral(reviewer, story.id), rules)
        if occurrences:
            result.append(Planned(reviewer, story, tuple(occurrences)))
    return result


def reminder_reply(snapshot: Snapshot, planned: Planned, occurrence: Occurrence) -> Reply:
    """The reminder as it reads now; it carries its facts so that the dispatcher words it
    again for the moment it is actually delivered (see handlers/wording.py)."""
    story = planned.story
    footer = Paragraph(f"`/story snooze {story.id} 2` reminds you in two days; "
                       "`/story reminders off` stops reminders.")
    zone = zone_named(planned.recipient.timezone, snapshot.policy.zone)
    author = snapshot.members.get(story.author_id)
    escalation_key = ""
    if occurrence.label == "overdue" and story.reviewer_id is not None and story.draft_due:
        escalation_key = (f"draft-escalation:story-{story.id}:due-{story.draft_due.isoformat()}"
                          f":reviewer-{story.reviewer_id}")
    data = wording.facts(
        occurrence.label, story, zone, due=story.draft_due,
        since=story.state_changed_at if occurrence.label == "review" else None,
        author=author.display_name if author else "", escalation_key=escalation_key)
    text = wording.text_at(data, max(snapshot.now, occurrence.due))
    if occurrence.label == "review":
        next_step = Paragraph(f"`/story approve {story.id}` or `/story changes {story.id} <note>`.")
        blocks: tuple[Paragraph, ...] = (Paragraph(text), next_step, footer)
        actions = reviewer_reminder_actions(story)
    elif occurrence.label == "escalation":
        blocks = (Paragraph(text), footer)
        actions = reviewer_reminder_actions(story)
    else:
        send = Paragraph(f"Send the link with `/story draft {story.id} <link>`.")
        blocks = (Paragraph(text), send, footer)
        actions = author_reminder_actions(story)
    return Reply(text=text, blocks=blocks, actions=actions, story_id=story.id,
                 data={wording.WORDING: data})


# --- the tick ----------------------------------------------------------------------------------


@dataclass
class TickReport:
    queued: int = 0
    late: int = 0
    expired: int = 0
    skipped: int = 0
    accepted: int = 0  # pitches accepted automatically (STORYDESK_AUTO_ACCEPT_HOURS)
    handed_over: int = 0  # reviews moved from a reviewer away today to another coordinator
    keys: list[str] = field(default_factory=list)


def run_tick(session: Session, now: datetime, policy: Policy) -> TickReport:
    """Queue every reminder and post due at `now`; what was queued, late and expired."""
    report = TickReport()
    report.handed_over = len(hand_over_waiting_reviews(session, now, policy))
    report.accepted = len(auto_accept.run(session, now, policy))
    snapshot = load_snapshot(session, now, policy)
    _direct_reminders(session, snapshot, report)
    _team_posts(session, snapshot, report)
    _pitch_call(session, snapshot, report)
    return report


def _direct_reminders(session: Session, snapshot: Snapshot, report: TickReport) -> None:
    now = snapshot.now
    rules = snapshot.policy.reminders
    plans = planned_reminders(snapshot, now - timedelta(days=CATCH_UP_DAYS),
                              now + SUPERSEDE_WITHIN)
    existing = existing_keys(session, (o.key for p in plans for o in p.occurrences))
    for plan in plans:
        decision = settle(plan.occurrences, existing, now)
        for occurrence in decision.expired:
            row = _queue_dm(session, snapshot, plan, occurrence, status="expired")
            if row is not None and row.id is not None:
                session.add(DeliveryNotice(kind="expired", outbound_id=row.id,
                                           platform=row.platform, cause="expired", at=now))
                report.expired += 1
        chosen = decision.send
        if chosen is None:
            continue
        if not plan.recipient.reminders_enabled:
            if _queue_dm(session, snapshot, plan, chosen, status="skipped") is not None:
                report.skipped += 1
            continue
        late = is_late(chosen, now, rules)
        if _queue_dm(session, snapshot, plan, chosen, late=late) is not None:
            report.queued += 1
            report.late += int(late)
            report.keys.append(chosen.key)
    session.flush()


def _queue_dm(session: Session, snapshot: Snapshot, plan: Planned, occurrence: Occurrence,
              *, status: str = "pending", late: bool = False) -> Outbound | None:
    row = notify_member(session, plan.recipient, reminder_reply(snapshot, plan, occurrence),
                        key=occurrence.key, now=snapshot.now, story_id=plan.story.id,
                        due_at=min(occurrence.due, snapshot.now))
    if row is None:
        return None
    row.status = status
    row.late = late
    if status != "pending":
        row.last_error = status
    session.add(row)
    return row


# --- team channel posts --------------------------------------------------------------------


def _post(session: Session, snapshot: Snapshot, report: TickReport, channel: str,
          occurrence: Occurrence, reply: Reply, story_id: int | None = None) -> None:
    rows = post_to_channel(session, snapshot.policy.channel_platforms, channel, reply,
                           key=occurrence.key, now=snapshot.now, story_id=story_id)
    late = is_late(occurrence, snapshot.now, snapshot.policy.reminders)
    for row in rows:
        row.late = late
        session.add(row)
    report.queued += len(rows)
    report.late += len(rows) if late else 0
    if rows:
        report.keys.append(occurrence.key)


def _platform_keys(policy: Policy, keys: Iterable[str]) -> dict[str, str]:
    """Channel posts are queued once per platform as `key@platform`: a post is done when
    the first platform's row exists (they are queued together)."""
    first = policy.channel_platforms[0] if policy.channel_platforms else "console"
    return {key: f"{key}@{first}" for key in keys}


def _team_posts(session: Session, snapshot: Snapshot, report: TickReport) -> None:
    now = snapshot.now
    policy = snapshot.policy
    rules = policy.reminders
    zone = policy.zone
    candidates: list[tuple[Occurrence, Reply, int | None]] = []

    week = coming_week_occurrence(now, zone, rules)
    if week.due <= now < week.expires:
        candidates.append((week, _coming_week_reply(session, snapshot, week), None))

    today = now.astimezone(zone).date()
    today_stories = [s for s in snapshot.scheduled
                     if s.scheduled_at and s.scheduled_at.astimezone(zone).date() == today]
    if today_stories:
        moment = at_local(today, rules.publishing_today_at, zone)
        last = max(s.scheduled_at for s in today_stories if s.scheduled_at)
        key = f"publishing-today:{today.isoformat()}"
        occurrence = Occurrence(key, key, moment, moment, last, "publishing-today")
        if moment <= now < last:
            candidates.append((occurrence, _publishing_today_reply(snapshot, today_stories),
                               None))

    for slot, occurrence in _empty_slot_occurrences(session, snapshot):
        if occurrence.due <= now < occurrence.expires:
            candidates.append((occurrence, _empty_slot_reply(session, snapshot, slot), None))

    for day, stories in _crowded_days(snapshot):
        ids = "-".join(str(s.id) for s in stories)
        key = f"double-booked:{day.isoformat()}:{ids}"
        end = at_local(day + timedelta(days=1), time(0), zone)
        candidates.append((Occurrence(key, key, now, now, end, "double-booked"),
                           _crowded_reply(snapshot, day, stories), None))

    names = _platform_keys(policy, (c[0].key for c in candidates))
    existing = existing_keys(session, names.values())
    for occurrence, reply, story_id in candidates:
        if names[occurrence.key] in existing:
            continue
        if occurrence.label in {"coming-week", "publishing-today"}:
            reply = _with_expired_count(session, now, reply)
        _post(session, snapshot, report, "team", occurrence, reply, story_id)
    session.flush()


def _all_slots(session: Session, policy: Policy, start: datetime, end: datetime) -> list[datetime]:
    slots = decisions.cadence_slots(start, end, policy.cadence, policy.zone)
    extra = session.exec(
        select(CalendarEvent.starts_at).where(
            col(CalendarEvent.is_slot).is_(True), col(CalendarEvent.starts_at) >= start,
            col(CalendarEvent.starts_at) < end)
    ).all()
    return sorted(set(slots) | {e for e in extra if e is not None})


def _empty_slot_occurrences(
    session: Session, snapshot: Snapshot, until: datetime | None = None
) -> list[tuple[datetime, Occurrence]]:
    now = snapshot.now
    rules = snapshot.policy.reminders
    zone = snapshot.policy.zone
    horizon = until or now + timedelta(days=rules.empty_slot_warning_days + 8)
    taken = {s.scheduled_at for s in snapshot.scheduled if s.scheduled_at}
    result = []
    for slot in _all_slots(session, snapshot.policy, now, horizon):
        if slot in taken:
            continue
        moment = min(at_local(empty_slot_warning_day(slot, zone, rules),
                              rules.publishing_today_at, zone), slot)
        key = f"empty-slot:{slot:%Y-%m-%dT%H:%MZ}"
        result.append((slot, Occurrence(key, key, moment, moment, slot, "empty-slot")))
    return result


def empty_slot_warning_day(slot: datetime, zone: ZoneInfo, rules: ReminderRules) -> date:
    """The last working day at least `empty_slot_warning_days` before the slot: a slot on
    Tuesday is warned of on Friday, not on Sunday when nobody reads the channel."""
    day = slot.astimezone(zone).date() - timedelta(days=rules.empty_slot_warning_days)
    for _ in range(7):
        if not rules.working_days or day.weekday() in rules.working_days:
            return day
        day -= timedelta(days=1)
    return day


def _crowded_days(snapshot: Snapshot) -> list[tuple[date, list[Story]]]:
    zone = snapshot.policy.zone
    by_day: dict[date, list[Story]] = {}
    for story in snapshot.scheduled:
        if story.scheduled_at and story.scheduled_at >= snapshot.now:
            by_day.setdefault(story.scheduled_at.astimezone(zone).date(), []).append(story)
    return sorted((day, stories) for day, stories in by_day.items() if len(stories) > 1)


def _story_line(snapshot: Snapshot, story: Story) -> str:
    author = snapshot.members.get(story.author_id)
    when = story.scheduled_at.astimezone(snapshot.policy.zone) if story.scheduled_at else None
    at = f"{when:%a %d %b %H:%M} " if when else ""
    return f"{at}#{story.id} {story.title} ({author.display_name if author else '?'})"


def _coming_week_reply(session: Session, snapshot: Snapshot, week: Occurrence) -> Reply:
    zone = snapshot.policy.zone
    monday, next_monday = local_week(snapshot.now, zone)
    start, end = at_local(monday, time(0), zone), at_local(next_monday, time(0), zone)
    stories = [s for s in snapshot.scheduled
               if s.scheduled_at and start <= s.scheduled_at < end]
    taken = {s.scheduled_at for s in stories}
    free = [slot for slot in _all_slots(session, snapshot.policy, max(start, snapshot.now), end)
            if slot not in taken]
    due = [s for s in snapshot.drafting if s.draft_due and monday <= s.draft_due < next_monday]
    events = session.exec(
        select(CalendarEvent).where(col(CalendarEvent.is_slot).is_(False),
                                    col(CalendarEvent.starts_at) >= start,
                                    col(CalendarEvent.starts_at) < end)
        .order_by(col(CalendarEvent.starts_at))
    ).all()
    blocks: list[Heading | Paragraph | Bullets | Fields] = [
        Heading(f"The coming week, {monday:%d %b} to {next_monday - timedelta(days=1):%d %b}")]
    blocks.append(Paragraph("Publishing:"))
    blocks.append(Bullets(tuple(_story_line(snapshot, s) for s in stories)
                          or ("nothing scheduled",)))
    if free:
        blocks.append(Paragraph("Free slots: " + ", ".join(
            f"{slot.astimezone(zone):%a %d %b %H:%M}" for slot in free)))
    if due:
        blocks.append(Paragraph("Drafts due: " + "; ".join(
            f"#{s.id} {s.title} ({s.draft_due:%a})" for s in due)))
    if snapshot.in_review:
        blocks.append(Paragraph(f"Drafts waiting for review: {len(snapshot.in_review)}."))
    if events:
        blocks.append(Paragraph("Events: " + "; ".join(
            f"{e.starts_at.astimezone(zone):%a %d %b %H:%M} {e.title}" for e in events
            if e.starts_at)))
    wanted = wanted_objective_line(session, snapshot.now, snapshot.policy)
    if wanted:
        blocks.append(Paragraph(wanted))
    text = (f"The coming week: {len(stories)} to publish, {len(free)} free slot"
            f"{'' if len(free) == 1 else 's'}, {len(due)} draft{'' if len(due) == 1 else 's'} "
            "due.")
    return Reply(text=text, blocks=tuple(blocks), visibility="in_channel")


def _publishing_today_reply(snapshot: Snapshot, stories: list[Story]) -> Reply:
    text = "Publishing today: " + "; ".join(
        f"#{s.id} {s.title}" + (f" at {s.scheduled_at.astimezone(snapshot.policy.zone):%H:%M}"
                                if s.scheduled_at else "") for s in stories)
    # Without Instagram nobody sees the post go out but the team: one click records it.
    buttons = () if snapshot.policy.instagram_watch else tuple(
        action for s in stories for action in posted_actions(s))
    return Reply(text=text, blocks=(Heading("Publishing today"), Bullets(tuple(
        _story_line(snapshot, s) for s in stories))), actions=buttons, visibility="in_channel")


def _empty_slot_reply(session: Session, snapshot: Snapshot, slot: datetime) -> Reply:
    local = slot.astimezone(snapshot.policy.zone)
    waiting = session.exec(
        select(Story).where(Story.state == "approved").order_by(col(Story.id)).limit(5)
    ).all()
    text = f"Nothing is scheduled for {local:%A %d %B %H:%M}."
    if waiting:
        hint = "Approved and waiting: " + "; ".join(f"#{s.id} {s.title}" for s in waiting) + \
               f". `/story schedule {waiting[0].id} next` fills the slot."
    else:
        hint = "No approved story is waiting; a short repost or a lab photo could fill it."
    return Reply(text=text + " " + hint, blocks=(Paragraph(text), Paragraph(hint)),
                 tone="warning", visibility="in_channel")


def _crowded_reply(snapshot: Snapshot, day: date, stories: list[Story]) -> Reply:
    text = f"Two stories on {day:%A %d %B}: " + "; ".join(
        f"#{s.id} {s.title}" for s in stories) + ". Consider moving one."
    return Reply(text=text, blocks=(Paragraph(text), Paragraph(
        "`/story calendar` shows the free slots.")), tone="warning", visibility="in_channel")


def _with_expired_count(session: Session, now: datetime, reply: Reply) -> Reply:
    """Count reminders that expired after downtime into this post, once."""
    notices = session.exec(
        select(DeliveryNotice).where(DeliveryNotice.kind == "expired",
                                     col(DeliveryNotice.reported_at).is_(None))
    ).all()
    if not notices:
        return reply
    for notice in notices:
        notice.reported_at = now
        session.add(notice)
    count = len(notices)
    line = (f"While Storydesk was down, {count} reminder{'' if count == 1 else 's'} fell "
            "more than a day overdue and "
            f"{'was' if count == 1 else 'were'} not sent (`storydesk outbox` lists them).")
    return Reply(text=f"{reply.text} {line}", blocks=(*reply.blocks, Paragraph(line)),
                 visibility=reply.visibility, tone=reply.tone)


# --- the group channel: calls for pitches --------------------------------------------------


def lacking_objectives(session: Session, now: datetime, weeks: int) -> list[str]:
    """Objectives with no story published in the last `weeks` weeks nor scheduled."""
    since = now - timedelta(weeks=weeks)
    seen = set(session.exec(
        select(Story.objective).where(
            col(Story.objective).is_not(None),
            or_(and_(col(Story.state) == "published", col(Story.published_at) >= since),
                col(Story.state) == "scheduled"))
    ).all())
    return [objective for objective in OBJECTIVES if objective not in seen]


def _pitch_call(session: Session, snapshot: Snapshot, report: TickReport) -> None:
    now = snapshot.now
    policy = snapshot.policy
    rules = policy.reminders
    occurrence = pitch_call_occurrence(now, policy.zone, rules)
    names = _platform_keys(policy, [occurrence.key])
    done = {occurrence.key} if existing_keys(session, names.values()) else set()
    if not period_post_due(occurrence, done, now):
        return
    lacking = lacking_objectives(session, now, rules.objective_gap_weeks)
    end = now + timedelta(weeks=rules.free_slot_weeks)
    taken = {s.scheduled_at for s in snapshot.scheduled}
    free = [s for s in _all_slots(session, policy, now, end) if s not in taken]
    lines = []
    for objective in lacking:
        lines.append(f"No {objective} story in {rules.objective_gap_weeks} weeks "
                     f"({decisions.OBJECTIVE_HINTS[objective]}).")
    wanted = wanted_objective_line(session, now, policy)
    if wanted:
        lines.append(wanted)
    if free:
        shown = ", ".join(f"{s.astimezone(policy.zone):%a %d %b}" for s in free[:6])
        more = f" and {len(free) - 6} more" if len(free) > 6 else ""
        lines.append(f"{len(free)} free publication slot{'' if len(free) == 1 else 's'} in "
                     f"the next {rules.free_slot_weeks} weeks: {shown}{more}.")
    gist = lines[0] if lines else "The schedule is in good shape; new ideas are always welcome."
    text = f"Call for pitches! {gist} Pitch with /pitch."
    blocks = (Heading("Call for pitches"), Bullets(tuple(lines) or (gist,)),
              Paragraph("`/pitch <title> #objective #format -- summary`, or `/pitch` alone "
                        "for a form. Any idea is welcome, big or small."))
    _post(session, snapshot, report, "group", occurrence,
          Reply(text=text, blocks=blocks, visibility="in_channel"))
    session.flush()


# --- /story snooze ---------------------------------------------------------------------------


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


# --- what comes next (`storydesk jobs`) ----------------------------------------------------


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
            first = following[0]
            what = {"before": "draft reminder", "on-the-day": "draft due today",
                    "overdue": f"draft overdue {first.days} days",
                    "escalation": "overdue draft, to the reviewer",
                    "review": "review waiting"}[first.label]
            jobs.append(Job(first.due, f"{what}: story #{plan.story.id} "
                            f"({STATE_LABELS[plan.story.state]})",
                            f"DM {plan.recipient.display_name} ({plan.recipient.platform})"))
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
    for slot, occurrence in _empty_slot_occurrences(session, snapshot, horizon):
        if occurrence.moment > now:
            jobs.append(Job(occurrence.moment,
                            f"empty-slot warning for {slot.astimezone(zone):%a %d %b %H:%M}",
                            "team channel"))
    jobs.sort(key=lambda job: job.when)
    return jobs[:limit]


def next_moment(session: Session, now: datetime, policy: Policy) -> datetime | None:
    """When something is next due, for a simulated clock that jumps ahead."""
    jobs = upcoming(session, now, policy, limit=1)
    return jobs[0].when if jobs else None
