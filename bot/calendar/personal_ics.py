"""A member's personal calendar as an ICS file, served at `/calendar/<token>.ics`.

Timed events are written in the member's time zone (TZID, with its VTIMEZONE), so that
a calendar app shows them right across daylight-saving changes; a draft's due date is an
all-day event. DTSTAMP and LAST-MODIFIED are the time of the story's last change, and UIDs
name the story and the kind of entry, so that a feed read twice is the same feed unless a
story moved.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

from icalendar import Calendar, Event, Timezone
from sqlalchemy.engine import Engine
from starlette.responses import Response

from handlers.calendar import FEED_AHEAD, FEED_PAST
from handlers.context import Policy
from handlers.personal_calendar import (
    PersonalEntry,
    link_for_token,
    needs_use_noted,
    note_use,
    personal_entries,
)
from handlers.timing import zone_named
from storage.db import read_session, write_session
from storage.models import Member

EVENT_LENGTH = timedelta(minutes=30)
UID_DOMAIN = "storydesk"


def build_personal_ics(
    member: Member, zone: ZoneInfo, entries: list[PersonalEntry], today: date
) -> bytes:
    """The feed; `today` only bounds the VTIMEZONE's transitions (last year to next)."""
    calendar = Calendar()
    calendar.add("prodid", "-//Storydesk//personal calendar//EN")
    calendar.add("version", "2.0")
    calendar.add("calscale", "GREGORIAN")
    calendar.add("x-wr-calname", f"Storydesk: {member.display_name}")
    calendar.add("x-wr-timezone", zone.key)
    calendar.add("refresh-interval", timedelta(hours=1), parameters={"VALUE": "DURATION"})
    calendar.add("x-published-ttl", "PT1H")
    # The member's zone always, even when every entry is all-day, for X-WR-TIMEZONE.
    first, last = date(today.year - 1, 1, 1), date(today.year + 2, 1, 1)
    calendar.add_component(Timezone.from_tzinfo(zone, zone.key, first, last))
    for entry in entries:
        calendar.add_component(_event(entry, zone))
    calendar.add_missing_timezones(first, last)
    return calendar.to_ical()


def _event(entry: PersonalEntry, zone: ZoneInfo) -> Event:
    event = Event()
    event.add("uid", f"{entry.uid}@{UID_DOMAIN}")
    event.add("summary", entry.title)
    event.add("description", entry.description)
    if entry.at is not None:
        local = entry.at.astimezone(zone)
        event.add("dtstart", local)
        event.add("dtend", local + EVENT_LENGTH)
    else:
        assert entry.day is not None
        event.add("dtstart", entry.day)
        event.add("dtend", entry.day + timedelta(days=1))
        event.add("transp", "TRANSPARENT")
    stamp = entry.changed_at.astimezone(UTC)
    event.add("dtstamp", stamp)
    event.add("last-modified", stamp)
    event.add("sequence", entry.sequence)
    event.add("categories", [entry.kind])
    if entry.url:
        event.add("url", entry.url)
    return event


def personal_feed(engine: Engine, policy: Policy, token: str, now: datetime) -> Response | None:
    """The feed behind `token`, or None when no member's link carries it."""
    with read_session(engine) as session:
        link = link_for_token(session, token)
        member = session.get(Member, link.member_id) if link is not None else None
        if link is None or link.id is None or member is None:
            return None
        zone = zone_named(member.timezone, policy.zone)
        entries = personal_entries(session, member, policy, now - FEED_PAST, now + FEED_AHEAD)
        body = build_personal_ics(member, zone, entries, now.astimezone(zone).date())
    if needs_use_noted(link, now):
        with write_session(engine) as session:
            note_use(session, link.id, now)
    return Response(
        body,
        media_type="text/calendar; charset=utf-8",
        headers={"Cache-Control": "private, max-age=300"},
    )
