"""The channel posts of a tick: the team channel's coming week, publishing today, empty
slots and two stories on one day, and the group channel's call for pitches.

Each post is queued once per channel platform under `key@platform`; a post missed by more
than the late cutoff waits for its next period. The coming-week and publishing-today posts
also count the reminders that expired during downtime.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from datetime import date, datetime, time, timedelta
from functools import partial
from zoneinfo import ZoneInfo

from sqlalchemy import and_, or_
from sqlmodel import Session, col, select

from handlers import decisions
from handlers.context import Policy, ReminderRules
from handlers.crowd.stats import lacking_line, lacking_objective, wanted_objective_line
from handlers.decisions import OBJECTIVES
from handlers.outbox import post_to_channel
from handlers.publication import posted_actions
from handlers.reminders.occurrences import (
    Occurrence,
    coming_week_occurrence,
    is_late,
    period_post_due,
    pitch_call_occurrence,
)
from handlers.reminders.report import TickReport
from handlers.reminders.snapshot import Snapshot, existing_keys
from handlers.reply import Bullets, Fields, Heading, Paragraph, Reply, plural
from handlers.timing import at_local, local_week
from storage.delivery import DeliveryNotice
from storage.models import CalendarEvent, Story


def _post(session: Session, snapshot: Snapshot, report: TickReport, channel: str,
          occurrence: Occurrence, reply: Reply) -> None:
    rows = post_to_channel(session, snapshot.policy.channel_platforms, channel, reply,
                           key=occurrence.key, now=snapshot.now)
    late = is_late(occurrence, snapshot.now, snapshot.policy.reminders)
    for row in rows:
        row.late = late
        session.add(row)
    report.queued += len(rows)
    report.late += len(rows) if late else 0
    if rows:
        report.keys.append(occurrence.key)


def channel_post_key(policy: Policy, key: str) -> str:
    """Channel posts are queued once per platform as `key@platform`: a post is done when
    the first platform's row exists (they are queued together)."""
    first = policy.channel_platforms[0] if policy.channel_platforms else "console"
    return f"{key}@{first}"


def _platform_keys(policy: Policy, keys: Iterable[str]) -> dict[str, str]:
    return {key: channel_post_key(policy, key) for key in keys}


def queue_team_posts(session: Session, snapshot: Snapshot, report: TickReport) -> None:
    now = snapshot.now
    policy = snapshot.policy
    rules = policy.reminders
    zone = policy.zone
    # Each post is built only once its key is known not to be queued yet: the coming-week
    # post reads the whole week, and the tick comes every few minutes of its day.
    candidates: list[tuple[Occurrence, Callable[[], Reply]]] = []

    week = coming_week_occurrence(now, zone, rules)
    if week.due <= now < week.expires:
        candidates.append((week, partial(_coming_week_reply, session, snapshot)))

    today = now.astimezone(zone).date()
    today_stories = [s for s in snapshot.scheduled
                     if s.scheduled_at and s.scheduled_at.astimezone(zone).date() == today]
    if today_stories:
        moment = at_local(today, rules.publishing_today_at, zone)
        last = max(s.scheduled_at for s in today_stories if s.scheduled_at)
        key = f"publishing-today:{today.isoformat()}"
        occurrence = Occurrence(key, key, moment, moment, last, "publishing-today")
        if moment <= now < last:
            candidates.append((occurrence,
                               partial(_publishing_today_reply, snapshot, today_stories)))

    for slot, occurrence in empty_slot_occurrences(session, snapshot):
        if occurrence.due <= now < occurrence.expires:
            candidates.append((occurrence, partial(_empty_slot_reply, session, snapshot, slot)))

    for day, stories in _crowded_days(snapshot):
        ids = "-".join(str(s.id) for s in stories)
        key = f"double-booked:{day.isoformat()}:{ids}"
        end = at_local(day + timedelta(days=1), time(0), zone)
        candidates.append((Occurrence(key, key, now, now, end, "double-booked"),
                           partial(_crowded_reply, snapshot, day, stories)))

    names = _platform_keys(policy, (c[0].key for c in candidates))
    existing = existing_keys(session, names.values())
    for occurrence, build in candidates:
        if names[occurrence.key] in existing:
            continue
        reply = build()
        if occurrence.label in {"coming-week", "publishing-today"}:
            reply = _with_expired_count(session, now, reply)
        _post(session, snapshot, report, "team", occurrence, reply)
    session.flush()


def _all_slots(session: Session, policy: Policy, start: datetime, end: datetime) -> list[datetime]:
    slots = decisions.cadence_slots(start, end, policy.cadence, policy.zone)
    extra = session.exec(
        select(CalendarEvent.starts_at).where(
            col(CalendarEvent.is_slot).is_(True), col(CalendarEvent.starts_at) >= start,
            col(CalendarEvent.starts_at) < end)
    ).all()
    return sorted(set(slots) | {e for e in extra if e is not None})


def empty_slot_occurrences(
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


def _coming_week_reply(session: Session, snapshot: Snapshot) -> Reply:
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


FULL_LOOKAHEAD_WEEKS = 26  # how far the call for pitches looks for a free slot


def _full_line(session: Session, snapshot: Snapshot, start: datetime) -> str:
    """Every slot in the call's weeks is taken: say when the first free one comes, and how
    many stories in progress will want a slot before a story pitched now."""
    policy = snapshot.policy
    weeks = policy.reminders.free_slot_weeks
    end = start + timedelta(weeks=FULL_LOOKAHEAD_WEEKS - weeks)
    taken = set(session.exec(select(Story.scheduled_at).where(
        Story.state == "scheduled", col(Story.scheduled_at) >= start,
        col(Story.scheduled_at) < end)).all())
    first = next((s for s in _all_slots(session, policy, start, end) if s not in taken), None)
    if first is None:
        return f"Every publication slot in the next {FULL_LOOKAHEAD_WEEKS} weeks is taken."
    ahead = len(snapshot.drafting) + len(snapshot.in_review)
    queue = (f", and {plural(ahead, 'story', 'stories')} in progress will want a slot "
             f"before a story pitched now" if ahead else "")
    return (f"Every publication slot in the next {weeks} weeks is taken; the first free one "
            f"is {first.astimezone(policy.zone):%a %d %b}{queue}.")


def queue_pitch_call(session: Session, snapshot: Snapshot, report: TickReport) -> None:
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
    slots = _all_slots(session, policy, now, end)
    free = [s for s in slots if s not in taken]
    lines = [f"No {objective} story in {rules.objective_gap_weeks} weeks "
             f"({decisions.OBJECTIVE_HINTS[objective]})." for objective in lacking]
    wanted = lacking_objective(session, now, policy)
    if wanted is not None and wanted.name not in lacking:  # else it is named already
        lines.append(lacking_line(wanted))
    if free:
        shown = ", ".join(f"{s.astimezone(policy.zone):%a %d %b}" for s in free[:6])
        more = f" and {len(free) - 6} more" if len(free) > 6 else ""
        lines.append(f"{len(free)} free publication slot{'' if len(free) == 1 else 's'} in "
                     f"the next {rules.free_slot_weeks} weeks: {shown}{more}.")
    elif slots:
        lines.append(_full_line(session, snapshot, end))
    gist = lines[0] if lines else "The schedule is in good shape; new ideas are always welcome."
    text = f"Call for pitches! {gist} Pitch with /pitch."
    blocks = (Heading("Call for pitches"), Bullets(tuple(lines) or (gist,)),
              Paragraph("`/pitch <title> #objective #format -- summary`, or `/pitch` alone "
                        "for a form. Any idea is welcome, big or small."))
    _post(session, snapshot, report, "group", occurrence,
          Reply(text=text, blocks=blocks, visibility="in_channel"))
    session.flush()
