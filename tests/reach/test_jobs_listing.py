"""`storydesk jobs` names the weekly summary, the monthly audience summary and the fetch."""

from __future__ import annotations

import io
from dataclasses import replace
from datetime import UTC, datetime, time
from pathlib import Path

from bot.cli.delivery import show_jobs
from config.settings import Settings, WeeklyTime
from handlers.context import Policy
from handlers.reach.digest import upcoming_posts
from storage.db import make_engine
from storage.migrate import upgrade

BERLIN = Policy(timezone="Europe/Berlin")


def test_next_weekly_and_first_monday_of_the_month() -> None:
    now = datetime(2026, 11, 24, 12, 0, tzinfo=UTC)  # a Tuesday
    weekly, monthly = upcoming_posts(now, BERLIN, 0, time(9, 0))
    assert weekly.when == datetime(2026, 11, 30, 8, 0, tzinfo=UTC)
    assert monthly.when == datetime(2026, 12, 7, 8, 0, tzinfo=UTC)
    assert (weekly.to, monthly.to) == ("group channel", "group channel")


def test_the_daily_fetch_is_listed_only_with_instagram() -> None:
    now = datetime(2026, 11, 24, 12, 0, tzinfo=UTC)
    jobs = upcoming_posts(now, BERLIN, 0, time(9, 0), fetch_at=time(6, 0))
    assert jobs[-1].what == "Instagram figures fetched"
    assert jobs[-1].when == datetime(2026, 11, 25, 5, 0, tzinfo=UTC)
    early = datetime(2026, 11, 24, 4, 0, tzinfo=UTC)
    assert upcoming_posts(early, BERLIN, 0, time(9, 0), time(6, 0))[-1].when == datetime(
        2026, 11, 24, 5, 0, tzinfo=UTC
    )


def test_show_jobs_includes_the_summaries(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'jobs.db'}"
    engine = make_engine(url)
    upgrade(engine)
    settings = replace(
        Settings(database_url=url),
        digest_post=WeeklyTime(0, time(9, 0)),
        instagram_access_token="EAAB1234567890",
        instagram_user_id="17841400000000000",
    )
    out = io.StringIO()
    show_jobs(engine, settings, datetime(2026, 11, 24, 12, 0, tzinfo=UTC), 20, out)
    text = out.getvalue()
    assert "Mon 2026-11-30 09:00  weekly reach summary, with its chart" in text
    assert "Mon 2026-12-07 09:00  monthly audience summary" in text
    assert "Wed 2026-11-25 06:00  Instagram figures fetched" in text
    engine.dispose()
