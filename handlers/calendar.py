"""The publication calendar: cadence slots, one-off events and extra slots, what is free."""

from __future__ import annotations

from datetime import UTC, datetime, time, timedelta

from sqlmodel import Session, col, select

from handlers import decisions
from handlers.context import Policy
from handlers.errors import Refused
from handlers.members import require_coordinator
from handlers.reply import Bullets, Heading, Paragraph, Reply, success
from storage.models import CalendarEvent, Member, Story

MAX_WEEKS = 26


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


def calendar(
    session: Session, actor: Member, now: datetime, policy: Policy, weeks: int = 4
) -> Reply:
    if not 1 <= weeks <= MAX_WEEKS:
        raise Refused(f"Show between 1 and {MAX_WEEKS} weeks: `/story calendar 4`.")
    zone = policy.zone
    today = now.astimezone(zone).date()
    start = datetime.combine(today, time(0), tzinfo=zone).astimezone(UTC)
    end = start + timedelta(weeks=weeks)
    slots = decisions.cadence_slots(start, end, policy.cadence, zone)
    events = list(
        session.exec(
            select(CalendarEvent)
            .where(col(CalendarEvent.starts_at) >= start, col(CalendarEvent.starts_at) < end)
            .order_by(col(CalendarEvent.starts_at))
        ).all()
    )
    slots += [e.starts_at for e in events if e.is_slot and e.starts_at]
    stories = list(
        session.exec(
            select(Story).where(
                Story.state == "scheduled",
                col(Story.scheduled_at) >= start,
                col(Story.scheduled_at) < end,
            )
        ).all()
    )
    entries: list[tuple[datetime, str]] = []
    by_time: dict[datetime, list[Story]] = {}
    for story in stories:
        assert story.scheduled_at is not None
        by_time.setdefault(story.scheduled_at, []).append(story)
    free = 0
    for slot in sorted(set(slots)):
        if slot < now:
            continue
        here = by_time.pop(slot, [])
        if here:
            text = "; ".join(f"#{s.id} {s.title}" for s in here)
        else:
            text = "free slot"
            free += 1
        entries.append((slot, text))
    for when, off_cadence in by_time.items():
        entries.append((when, "; ".join(f"#{s.id} {s.title} (off-cadence)" for s in off_cadence)))
    for event in events:
        if event.starts_at and not event.is_slot:
            entries.append((event.starts_at, f"event #{event.id}: {event.title}"))
    entries.sort(key=lambda entry: entry[0])
    day_counts: dict[str, int] = {}
    for story in stories:
        assert story.scheduled_at is not None
        key = story.scheduled_at.astimezone(zone).date().isoformat()
        day_counts[key] = day_counts.get(key, 0) + 1
    lines = tuple(f"{when.astimezone(zone):%a %d %b %H:%M} — {text}" for when, text in entries)
    blocks: list[Heading | Bullets | Paragraph] = [
        Heading(f"Calendar, next {weeks} week{'s' if weeks != 1 else ''} ({policy.timezone})"),
        Bullets(lines or ("nothing in this period",)),
    ]
    crowded = [day for day, count in day_counts.items() if count > 1]
    if crowded:
        blocks.append(Paragraph(f"Two or more stories on: {', '.join(sorted(crowded))}."))
    return Reply(
        text=f"Calendar: {len(stories)} scheduled, {free} free slots in the next {weeks} weeks.",
        blocks=tuple(blocks),
    )
