"""The reach tick job: the daily fetch once a day (retried later on failure), the Monday
summary with its chart, and a chart redrawn when its file went missing."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, date, datetime, time
from pathlib import Path

import pytest
from PIL import Image
from sqlalchemy.engine import Engine
from sqlmodel import select

from bot.reach.charts import ChartFiles
from bot.reach.instagram import GraphClient
from bot.reach.jobs import ReachJobs
from config.settings import Settings, WeeklyTime
from handlers.context import Policy
from handlers.reply import Image as ImageBlock
from handlers.reply import Reply
from storage.db import read_session
from storage.models import Outbound
from storage.reach import ReachDaily
from tests.reach.graph_server import TEMPORARY, TOKEN, USER, VERSION, GraphServer
from tests.reach.test_instagram import make_account


def berlin(day: int, hour: int, minute: int = 0) -> datetime:
    """A November 2026 time in Berlin (UTC+1), as UTC."""
    return datetime(2026, 11, day, hour - 1, minute, tzinfo=UTC)


@pytest.fixture
def server() -> Iterator[GraphServer]:
    with GraphServer(make_account()) as running:
        yield running


@pytest.fixture
def jobs(engine: Engine, server: GraphServer, policy: Policy, tmp_path: Path) -> ReachJobs:
    settings = Settings(
        instagram_access_token=TOKEN, instagram_user_id=USER, graph_api_url=server.url,
        graph_api_version=VERSION, digest_post=WeeklyTime(0, time(9, 0)),
        reach_fetch_at=time(6, 0),
    )

    def client(s: Settings) -> GraphClient:
        return GraphClient(s.graph_api_url, s.graph_api_version, s.instagram_access_token,
                           s.instagram_user_id, attempts=2, sleep=lambda _: None)

    return ReachJobs(engine, settings, policy, ChartFiles(tmp_path / "charts"),
                     client_factory=client, background=False)


def fetch_calls(server: GraphServer) -> int:
    return len(server.calls(f"{USER}/insights"))


def test_fetch_once_a_day_after_its_time(jobs: ReachJobs, server: GraphServer,
                                         engine: Engine) -> None:
    assert not jobs.tick(berlin(23, 5, 59)).fetch_started
    assert fetch_calls(server) == 0
    assert jobs.tick(berlin(23, 6, 5)).fetch_started
    calls = fetch_calls(server)
    assert calls > 0 and jobs.last_report is not None and jobs.last_report.ok
    with read_session(engine) as session:
        assert session.exec(select(ReachDaily).where(
            ReachDaily.day == date(2026, 11, 22),
            ReachDaily.metric == "accounts_reached")).one().value == 127
    for later in (berlin(23, 6, 35), berlin(23, 9, 0), berlin(23, 20, 0)):
        assert not jobs.tick(later).fetch_started
    assert fetch_calls(server) == calls
    assert jobs.tick(berlin(24, 6, 1)).fetch_started  # the next day


def test_a_failed_fetch_is_tried_again_two_hours_later(jobs: ReachJobs,
                                                       server: GraphServer) -> None:
    server.fail(f"{USER}/insights", TEMPORARY, TEMPORARY)
    assert jobs.tick(berlin(23, 6, 0)).fetch_started
    assert jobs.last_report is not None and jobs.last_report.failed
    assert not jobs.tick(berlin(23, 7, 0)).fetch_started  # same attempt slot
    assert jobs.tick(berlin(23, 8, 1)).fetch_started
    assert jobs.last_report.ok


def test_monday_summary_with_its_chart_and_a_redraw(jobs: ReachJobs, engine: Engine) -> None:
    jobs.tick(berlin(23, 6, 5))  # fetch first: the summary needs figures
    assert jobs.tick(berlin(23, 8, 59)).queued == 0
    assert jobs.tick(berlin(23, 9, 0)).queued == 1
    assert jobs.tick(berlin(23, 9, 1)).queued == 0
    with read_session(engine) as session:
        row = session.exec(select(Outbound).where(Outbound.channel == "group")).one()
    reply = Reply.from_json(row.payload)
    assert row.unique_key == "digest:reach:2026-W47@console"
    image = next(b for b in reply.blocks if isinstance(b, ImageBlock))
    chart = Path(image.path)
    with Image.open(chart) as png:
        assert png.format == "PNG" and png.size == (960, 1200)

    chart.unlink()
    assert jobs.tick(berlin(23, 9, 2)).redrawn == [str(chart)]
    assert chart.exists()
