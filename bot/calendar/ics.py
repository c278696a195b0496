"""The calendar feed: scheduled stories, free slots and events as an ICS file.

Served at `/calendar/<STORYDESK_CALENDAR_SECRET>.ics` so that a coordinator can subscribe
from any calendar app; the secret in the link is the only key, compared in constant time.
"""

from __future__ import annotations

import hmac
from datetime import UTC, datetime, timedelta

from icalendar import Calendar, Event
from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response
from starlette.routing import BaseRoute, Route

from bot.calendar.personal_ics import personal_feed
from bot.runtime import Runtime
from handlers.calendar import FEED_AHEAD, FEED_PAST, CalendarEntry, calendar_entries
from storage.db import read_session

SLOT_LENGTH = timedelta(minutes=30)


def build_ics(entries: list[CalendarEntry], now: datetime, domain: str = "storydesk") -> bytes:
    calendar = Calendar()
    calendar.add("prodid", "-//Storydesk//publication calendar//EN")
    calendar.add("version", "2.0")
    calendar.add("x-wr-calname", "Storydesk publications")
    for entry in entries:
        event = Event()
        event.add("uid", f"{entry.uid}@{domain}")
        event.add("summary", entry.title)
        event.add("dtstart", entry.at.astimezone(UTC))
        event.add("dtend", entry.at.astimezone(UTC) + SLOT_LENGTH)
        event.add("dtstamp", now.astimezone(UTC))
        event.add("categories", [entry.kind])
        if entry.kind == "free":
            event.add("transp", "TRANSPARENT")
        calendar.add_component(event)
    return calendar.to_ical()


def calendar_routes(runtime: Runtime) -> list[BaseRoute]:
    """`/calendar/<key>.ics`: the team feed for STORYDESK_CALENDAR_SECRET, else the
    personal feed of the member whose link carries that key; anything else is 404."""
    secret = runtime.settings.calendar_secret

    def feed(request: Request) -> Response:  # sync: Starlette runs it in a thread
        given = request.path_params["secret"]
        now = datetime.now(UTC)
        if secret and hmac.compare_digest(given.encode(), secret.encode()):
            with read_session(runtime.engine) as session:
                entries = calendar_entries(
                    session, runtime.policy, now - FEED_PAST, now + FEED_AHEAD
                )
            return Response(build_ics(entries, now), media_type="text/calendar; charset=utf-8")
        personal = personal_feed(runtime.engine, runtime.policy, given, now)
        if personal is not None:
            return personal
        return PlainTextResponse("Not found", status_code=404)

    return [Route("/calendar/{secret}.ics", feed, methods=["GET"])]
