"""The publication calendar: cadence slots, one-off events and extra slots, what is free."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, time, timedelta

from sqlmodel import Session, col, select

from handlers import decisions
from handlers.context import Policy
from handlers.errors import Refused
from handlers.members import require_coordinator
from handlers.reply import Bullets, Heading, Paragraph, Reply, plural, success
from storage.models import CalendarEvent, Member, Story

MAX_WEEKS = 26
# What the calendar feeds (the team's and each member's) hold around today.
FEED_PAST = timedelta(weeks=8)
FEED_AHEAD = timedelta(weeks=26)


def extra_slots(session: Session, after: datetime) -> list[datetime]:
    rows = session.exec(
        select(CalendarEvent.starts_at).where(
            col(CalendarEvent.is_slot).is_(True), col(CalendarEvent.starts_at) > after
        )
    ).all()
    return [row for row in rows if row is not None]


def add_event(
    session: Session,
    actor: Member,
    now: datetime,
    policy: Policy,
    when: datetime,
    title: str,
    is_slot: bool,
) -> Reply:
    require_coordinator(actor, "add events to the calendar")
    title = " ".join(title.split())
    if not title:
        raise Refused("Give the event a title: `/story event add 2026-12-03 18:00 Open day`.")
    if len(title) > 150:
        raise Refused("Keep the event title under 150 characters.")
    if when <= now:
        raise Refused("That time is in the past.")
    event = CalendarEvent(title=title, starts_at=when, is_slot=is_slot, created_by=actor.id)
    session.add(event)
    session.flush()
    local = when.astimezone(policy.zone)
    kind = "Extra publication slot" if is_slot else "Event"
    return success(f"{kind} #{event.id} added: {title}, {local:%a %Y-%m-%d %H:%M}.")


def remove_event(session: Session, actor: Member, event_id: int) -> Reply:
    require_coordinator(actor, "remove events from the calendar")
    event = session.get(CalendarEvent, event_id) if 0 < event_id < 2**31 else None
    if event is None:
        raise Refused(f"There is no event #{event_id}; `/story calendar` lists them.")
    session.delete(event)
    session.flush()
    return success(f"Event #{event_id} removed: {event.title}.")


@dataclass(frozen=True)
class CalendarEntry:
    """One line of the calendar: a scheduled story, a free slot, or an event."""

    at: datetime
    kind: str  # "story", "free" or "event"
    title: str
    uid: str


def calendar_entries(
    session: Session, policy: Policy, start: datetime, end: datetime
) -> list[CalendarEntry]:
    """Slots (cadence and extra), scheduled stories and events with start <= time < end."""
    slots = set(decisions.cadence_slots(start, end, policy.cadence, policy.zone))
    events = list(
        session.exec(
            select(CalendarEvent)
            .where(col(CalendarEvent.starts_at) >= start, col(CalendarEvent.starts_at) < end)
            .order_by(col(CalendarEvent.starts_at))
        ).all()
    )
    slots |= {e.starts_at for e in events if e.is_slot and e.starts_at}
    scheduled = session.exec(
        select(Story).where(
            Story.state == "scheduled",
            col(Story.scheduled_at) >= start,
            col(Story.scheduled_at) < end,
        )
    ).all()
    entries: list[CalendarEntry] = []
    taken: set[datetime] = set()
    for story in scheduled:
        assert story.scheduled_at is not None
        taken.add(story.scheduled_at)
        off = "" if story.scheduled_at in slots else " (off-cadence)"
        entries.append(
            CalendarEntry(
                story.scheduled_at, "story", f"#{story.id} {story.title}{off}", f"story-{story.id}"
            )
        )
    for slot in slots - taken:
        entries.append(CalendarEntry(slot, "free", "free slot", f"slot-{slot:%Y%m%dT%H%M}"))
    for event in events:
        if event.starts_at and not event.is_slot:
            entries.append(
                CalendarEntry(
                    event.starts_at,
                    "event",
                    f"event #{event.id}: {event.title}",
                    f"event-{event.id}",
                )
            )
    entries.sort(key=lambda entry: (entry.at, entry.kind, entry.uid))
    return entries


def calendar(
    session: Session, actor: Member, now: datetime, policy: Policy, weeks: int = 4
) -> Reply:
    if not 1 <= weeks <= MAX_WEEKS:
        raise Refused(f"Show between 1 and {MAX_WEEKS} weeks: `/story calendar 4`.")
    zone = policy.zone
    today = now.astimezone(zone).date()
    start = datetime.combine(today, time(0), tzinfo=zone).astimezone(UTC)
    end = start + timedelta(weeks=weeks)
    entries = [
        entry
        for entry in calendar_entries(session, policy, start, end)
        if entry.kind != "free" or entry.at >= now
    ]
    scheduled = [entry for entry in entries if entry.kind == "story"]
    free = sum(1 for entry in entries if entry.kind == "free")
    per_day: dict[str, int] = {}
    for entry in scheduled:
        day = entry.at.astimezone(zone).date().isoformat()
        per_day[day] = per_day.get(day, 0) + 1
    lines = tuple(f"{e.at.astimezone(zone):%a %d %b %H:%M} — {e.title}" for e in entries)
    blocks: list[Heading | Bullets | Paragraph] = [
        Heading(f"Calendar, next {weeks} week{'s' if weeks != 1 else ''} ({policy.timezone})"),
        Bullets(lines or ("nothing in this period",)),
    ]
    crowded = sorted(day for day, count in per_day.items() if count > 1)
    if crowded:
        blocks.append(Paragraph(f"Two or more stories on: {', '.join(crowded)}."))
    return Reply(
        text=(f"Calendar: {len(scheduled)} scheduled, {plural(free, 'free slot')} in the next "
              f"{plural(weeks, 'week')}."),
        blocks=tuple(blocks),
    )
