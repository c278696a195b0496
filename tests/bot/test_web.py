"""The web app: health, metrics and the calendar feed, through Starlette's test client."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest
from icalendar import Calendar
from sqlalchemy.engine import Engine
from starlette.testclient import TestClient

from bot.commands import Caller
from bot.runtime import Runtime, build_runtime
from bot.web import create_web_app
from config.settings import Settings

SECRET = "k3Yf9q2LmZpX7wRt"


@pytest.fixture
def runtime(db_url_engine: Engine) -> Runtime:
    settings = replace(Settings(), calendar_secret=SECRET, coordinators=("console:ada",))
    return build_runtime(settings, platforms=("console",), engine=db_url_engine)


def test_healthz_answers_when_the_database_does(runtime: Runtime) -> None:
    client = TestClient(create_web_app(runtime))
    assert client.get("/healthz").json() == {"status": "ok"}


def test_healthz_is_503_when_the_database_is_gone(runtime: Runtime) -> None:
    from storage.db import make_engine

    broken = replace(runtime, engine=make_engine("sqlite:////nonexistent-dir/storydesk.db"))
    client = TestClient(create_web_app(broken))
    response = client.get("/healthz")
    assert response.status_code == 503


def test_metrics_count_commands_and_show_the_outbox(runtime: Runtime) -> None:
    now = datetime.now(UTC)
    runtime.runner.run(Caller("console", "dana", "Dana"), "pitch", "A story", now)
    runtime.runner.run(Caller("console", "dana", "Dana"), "story", "accept 1", now)
    body = TestClient(create_web_app(runtime)).get("/metrics").text
    assert 'storydesk_commands_total{command="pitch",outcome="ok"} 1.0' in body
    assert 'storydesk_commands_total{command="accept",outcome="refused"} 1.0' in body
    assert 'storydesk_outbox_messages{status="pending"} 2.0' in body


def test_the_calendar_feed_needs_its_secret_and_lists_slots_and_stories(
    runtime: Runtime,
) -> None:
    now = datetime.now(UTC)
    ada, dana = Caller("console", "ada", "Ada"), Caller("console", "dana", "Dana")
    run = runtime.runner.run
    run(dana, "pitch", "Cloud chamber", now)
    run(ada, "story", "accept 1", now)
    run(dana, "story", "draft 1 https://docs.example.org/d", now)
    run(ada, "story", "approve 1", now)
    assert run(ada, "story", "schedule 1 next", now).ok
    client = TestClient(create_web_app(runtime))
    assert client.get("/calendar/wrong.ics").status_code == 404
    response = client.get(f"/calendar/{SECRET}.ics")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/calendar")
    calendar = Calendar.from_ical(response.content)
    events = [c for c in calendar.walk("VEVENT")]
    summaries = [str(e["summary"]) for e in events]
    assert "#1 Cloud chamber" in summaries
    assert "free slot" in summaries
    first = min(e.decoded("dtstart") for e in events)
    assert first <= now + timedelta(days=7)


def test_no_secret_no_feed(db_url_engine: Engine) -> None:
    runtime = build_runtime(Settings(), platforms=("console",), engine=db_url_engine)
    assert TestClient(create_web_app(runtime)).get("/calendar/.ics").status_code == 404
