"""Personal calendar feeds end to end: the command, the DM with the link, the ICS served.

Runs on SQLite and PostgreSQL through the web app; feeds are parsed back with icalendar.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field, replace
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import pytest
from icalendar import Calendar
from sqlalchemy.engine import Engine
from sqlmodel import col, select
from starlette.testclient import TestClient

from bot.backup import export_database
from bot.commands import Caller
from bot.delivery.transport import Delivery, PermanentFailure, SendResult
from bot.runtime import Runtime, build_runtime
from bot.web import create_web_app
from config.settings import Settings
from handlers.members import find_member
from handlers.outbox import NOT_KEPT
from storage.calendars import CalendarToken
from storage.db import read_session
from storage.models import Outbound

PUBLIC_URL = "https://storydesk.lab.example"
ADA = Caller("console", "ada", "Ada")
DANA = Caller("console", "dana", "Dana", timezone="America/New_York")
LINK = re.compile(re.escape(PUBLIC_URL) + r"/calendar/([A-Za-z0-9_\-]+)\.ics")


@pytest.fixture
def runtime(db_url_engine: Engine) -> Runtime:
    settings = replace(Settings(), public_url=PUBLIC_URL + "/", coordinators=("console:ada",))
    return build_runtime(settings, platforms=("console",), engine=db_url_engine)


def links_sent_to(runtime: Runtime, caller: Caller) -> list[str]:
    with read_session(runtime.engine) as session:
        member = find_member(session, caller.platform, caller.user_id)
        assert member is not None
        rows = session.exec(
            select(Outbound)
            .where(
                Outbound.member_id == member.id,
                col(Outbound.unique_key).like("calendar-link:%"),
            )
            .order_by(col(Outbound.id))
        ).all()
    tokens = []
    for row in rows:
        match = LINK.search(row.text)
        assert match, row.text
        tokens.append(match.group(1))
    return tokens


def feed(client: TestClient, token: str) -> Calendar:
    response = client.get(f"/calendar/{token}.ics")
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("text/calendar")
    return Calendar.from_ical(response.content)


def events_by_uid(calendar: Calendar) -> dict[str, object]:
    return {str(event["uid"]): event for event in calendar.walk("VEVENT")}


def story_through_review(runtime: Runtime, now: datetime, due: date) -> None:
    run = runtime.runner.run
    assert run(DANA, "pitch", "Cloud chamber at the open day #outreach", now).ok
    assert run(ADA, "story", f"accept 1 due {due}", now).ok


def test_the_link_comes_by_dm_and_the_feed_holds_the_members_own_items(
    runtime: Runtime,
) -> None:
    now = datetime.now(UTC).replace(microsecond=0)
    due = (now + timedelta(days=10)).date()
    story_through_review(runtime, now, due)
    run = runtime.runner.run
    assert run(DANA, "pitch", "Life at the lab #recruitment", now).ok  # story 2: Ada decides

    reply = run(DANA, "story", "calendar link", now)
    assert reply.ok and "direct message" in reply.text
    [dana_token] = links_sent_to(runtime, DANA)
    assert run(ADA, "story", "calendar link", now).ok
    [ada_token] = links_sent_to(runtime, ADA)

    client = TestClient(create_web_app(runtime))
    dana_feed = feed(client, dana_token)
    assert str(dana_feed["x-wr-calname"]) == "Storydesk: Dana"
    [timezone] = dana_feed.walk("VTIMEZONE")
    assert str(timezone["tzid"]) == "America/New_York"
    dana_events = events_by_uid(dana_feed)
    assert set(dana_events) == {"story-1-draft-due@storydesk"}
    draft_due = dana_events["story-1-draft-due@storydesk"]
    assert draft_due.decoded("dtstart") == due  # type: ignore[attr-defined]
    assert str(draft_due["summary"]) == "Draft due: #1 Cloud chamber at the open day"  # type: ignore[index]

    ada_events = events_by_uid(feed(client, ada_token))
    assert set(ada_events) == {"story-2-pitch-waiting@storydesk"}
    waiting = ada_events["story-2-pitch-waiting@storydesk"]
    start = waiting["dtstart"]  # type: ignore[index]
    assert start.params["TZID"] == "Europe/Berlin"  # Ada has no zone of her own: the team's
    assert start.dt.astimezone(UTC) > now

    # The draft comes in: Ada's feed gains the review, Dana's loses the due date.
    assert run(DANA, "story", "draft 1 https://docs.example.org/cloud", now).ok
    ada_events = events_by_uid(feed(client, ada_token))
    assert "story-1-review-waiting@storydesk" in ada_events
    assert str(ada_events["story-1-review-waiting@storydesk"]["url"]) == (  # type: ignore[index]
        "https://docs.example.org/cloud"
    )
    assert events_by_uid(feed(client, dana_token)) == {}

    assert run(ADA, "story", "approve 1", now).ok
    assert run(ADA, "story", "schedule 1 next", now).ok
    publication = events_by_uid(feed(client, dana_token))["story-1-publication@storydesk"]
    start = publication["dtstart"]  # type: ignore[index]
    assert start.params["TZID"] == "America/New_York"
    assert "VALUE" not in start.params
    assert str(publication["summary"]).startswith("Publishing: #1")  # type: ignore[index]


def test_dtstamp_and_uid_change_only_when_the_story_does(runtime: Runtime) -> None:
    start = datetime.now(UTC).replace(microsecond=0) - timedelta(days=2)
    story_through_review(runtime, start, (start + timedelta(days=12)).date())
    assert runtime.runner.run(DANA, "story", "calendar link", start).ok
    [token] = links_sent_to(runtime, DANA)
    client = TestClient(create_web_app(runtime))

    first = client.get(f"/calendar/{token}.ics").content
    second = client.get(f"/calendar/{token}.ics").content
    assert first == second  # read twice, nothing changed: the very same feed
    event = events_by_uid(Calendar.from_ical(first))["story-1-draft-due@storydesk"]
    assert event.decoded("dtstamp") == start  # type: ignore[attr-defined]

    later = start + timedelta(days=1, hours=3)
    assert runtime.runner.run(DANA, "story", "start 1", later).ok
    moved = events_by_uid(feed(client, token))["story-1-draft-due@storydesk"]
    assert moved.decoded("dtstamp") == later  # type: ignore[attr-defined]
    assert moved.decoded("last-modified") == later  # type: ignore[attr-defined]
    assert int(moved["sequence"]) > int(event["sequence"])  # type: ignore[index]


def test_a_second_link_request_is_refused_politely_and_reset_replaces_the_link(
    runtime: Runtime,
) -> None:
    now = datetime.now(UTC)
    run = runtime.runner.run
    assert run(DANA, "story", "calendar link", now).ok
    again = run(DANA, "story", "calendar link", now)
    assert again.ok and "already have" in again.text
    [old] = links_sent_to(runtime, DANA)  # no second DM

    client = TestClient(create_web_app(runtime))
    assert client.get(f"/calendar/{old}.ics").status_code == 200

    reset = run(DANA, "story", "calendar reset", now)
    assert reset.ok and "no longer works" in reset.text
    tokens = links_sent_to(runtime, DANA)
    assert len(tokens) == 2 and tokens[0] == old
    new = tokens[1]
    assert new != old
    assert client.get(f"/calendar/{old}.ics").status_code == 404
    assert client.get(f"/calendar/{new}.ics").status_code == 200
    with read_session(runtime.engine) as session:
        rows = session.exec(select(CalendarToken)).all()
    assert len(rows) == 1  # one link per member, kept only as a fingerprint
    assert rows[0].token_hash != new and new not in rows[0].token_hash
    assert rows[0].last_used_at is not None


def test_wrong_tokens_get_404(runtime: Runtime) -> None:
    assert runtime.runner.run(DANA, "story", "calendar link", datetime.now(UTC)).ok
    [token] = links_sent_to(runtime, DANA)
    client = TestClient(create_web_app(runtime))
    for wrong in (token[:-1], token + "x", token.upper(), "x" * 300, "calendar"):
        if wrong != token:
            assert client.get(f"/calendar/{wrong}.ics").status_code == 404


def test_without_a_public_url_the_member_is_told_and_nothing_is_stored(
    db_url_engine: Engine,
) -> None:
    runtime = build_runtime(Settings(), platforms=("console",), engine=db_url_engine)
    reply = runtime.runner.run(DANA, "story", "calendar link", datetime.now(UTC))
    assert not reply.ok and "STORYDESK_PUBLIC_URL" in reply.text
    reset = runtime.runner.run(DANA, "story", "calendar reset", datetime.now(UTC))
    assert not reset.ok and "STORYDESK_PUBLIC_URL" in reset.text
    with read_session(runtime.engine) as session:
        assert session.exec(select(CalendarToken)).all() == []
        assert session.exec(select(Outbound)).all() == []


def test_the_team_calendar_in_chat_still_works_and_sub_words_are_checked(
    runtime: Runtime,
) -> None:
    now = datetime.now(UTC)
    run = runtime.runner.run
    assert run(DANA, "story", "calendar", now).text.startswith("Calendar:")
    assert run(DANA, "story", "calendar 2", now).ok
    wrong = run(DANA, "story", "calendar link now", now)
    assert not wrong.ok and "/story calendar" in wrong.text
    assert "calendar link" in run(DANA, "story", "help calendar", now).text



@dataclass
class Transport:
    """Hands each message over, or refuses it for good with `refuse`."""

    refuse: bool = False
    sent: list[Delivery] = field(default_factory=list)

    def send(self, delivery: Delivery) -> SendResult:
        if self.refuse:
            raise PermanentFailure("user_not_found")
        self.sent.append(delivery)
        return SendResult(f"msg-{delivery.outbound_id}")


def exported(runtime: Runtime, folder: Path) -> str:
    export_database(runtime.engine, folder, force=False, now=datetime.now(UTC))
    return "".join(path.read_text(encoding="utf-8") for path in sorted(folder.iterdir()))


@pytest.mark.parametrize("refused", [False, True], ids=["sent", "failed"])
def test_the_outbox_keeps_no_working_link_once_the_dm_is_done_with_and_no_export_does(
    db_url_engine: Engine, tmp_path: Path, refused: bool
) -> None:
    transport = Transport(refuse=refused)
    settings = replace(Settings(), public_url=PUBLIC_URL)
    runtime = build_runtime(settings, platforms=("console",), engine=db_url_engine,
                            transports={"console": transport})
    now = datetime.now(UTC)
    assert runtime.runner.run(DANA, "story", "calendar link", now).ok
    [token] = links_sent_to(runtime, DANA)  # waiting in the outbox, link and all
    assert token not in exported(runtime, tmp_path / "before")

    runtime.dispatcher.dispatch_due(now)
    if not refused:
        [delivery] = transport.sent
        assert token in delivery.reply.text  # Dana got the link itself
    with read_session(runtime.engine) as session:
        rows = session.exec(select(Outbound).where(
            col(Outbound.unique_key).like("calendar-link:%"))).all()
    assert [row.status for row in rows] == ["failed" if refused else "sent"]
    assert all(token not in row.text + row.payload for row in rows)
    assert rows[0].text == f"Your personal Storydesk calendar: {NOT_KEPT}"
    assert token not in exported(runtime, tmp_path / "after")
    client = TestClient(create_web_app(runtime))
    assert client.get(f"/calendar/{token}.ics").status_code == 200  # the link still works
