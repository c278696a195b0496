"""The reach tick job: the daily Instagram fetch and the Monday summaries.

On every tick it (1) queues the weekly reach summary (and on the month's first posting day
the audience summary) when STORYDESK_DIGEST_POST says so, drawing their charts; (2) redraws
a chart that a queued summary needs if its file went missing (a restart that cleared the
temporary directory); (3) starts the daily fetch after STORYDESK_REACH_FETCH_AT, when the
Instagram settings are there.

The fetch makes many HTTP requests, so it runs in a thread of its own and the tick stays
short. Replicas share the work through the database: an attempt is claimed by inserting a
row with a unique key, so only one replica fetches, and a failed fetch is tried again two
hours later, up to six times a day.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from pathlib import Path

from sqlalchemy.engine import Engine
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session

from bot.reach.charts import ChartFiles, default_chart_dir, render_audience, render_weekly
from bot.reach.fetch import FetchReport, client_from, fetch_reach
from bot.reach.instagram import GraphClient
from config.settings import Settings
from handlers.context import Policy
from handlers.decisions import local_datetime
from handlers.reach.audience import build_audience
from handlers.reach.digest import digest_due, enqueue_digests, pending_digests
from handlers.reach.summary import build_weekly
from handlers.reach.weeks import parse_week
from handlers.reply import Image, Reply
from storage.db import read_session, write_session
from storage.models import SystemState

log = logging.getLogger(__name__)

RETRY_EVERY = timedelta(hours=2)
ATTEMPTS_PER_DAY = 6


@dataclass
class ReachTick:
    queued: int = 0
    redrawn: list[str] = field(default_factory=list)
    fetch_started: bool = False


def claim(engine: Engine, key: str, value: str) -> bool:
    """Insert a SystemState row; False if it exists (another replica or tick has it)."""
    try:
        with write_session(engine) as session:
            if session.get(SystemState, key) is not None:
                return False
            session.add(SystemState(key=key, value=value[:1000]))
            session.flush()
    except IntegrityError:
        return False
    return True


class ReachJobs:
    def __init__(
        self,
        engine: Engine,
        settings: Settings,
        policy: Policy,
        charts: ChartFiles,
        *,
        client_factory: Callable[[Settings], GraphClient] = client_from,
        background: bool = True,
    ) -> None:
        self.engine = engine
        self.settings = settings
        self.policy = policy
        self.charts = charts
        self.client_factory = client_factory
        self.background = background
        self._fetching = threading.Lock()
        self.last_report: FetchReport | None = None

    def __call__(self, now: datetime) -> ReachTick:
        return self.tick(now)

    def tick(self, now: datetime) -> ReachTick:
        result = ReachTick()
        post = self.settings.digest_post
        if digest_due(now, self.policy, post.weekday, post.at) is not None:
            with write_session(self.engine) as session:
                result.queued = len(enqueue_digests(
                    session, now, self.policy, weekday=post.weekday, at=post.at,
                    weekly_chart=self.charts.weekly, audience_chart=self.charts.audience,
                ))
            result.redrawn = self.redraw_missing(now)
        if self.settings.instagram_enabled:
            result.fetch_started = self.fetch_if_due(now)
        return result

    # --- charts of queued summaries --------------------------------------------------------

    def redraw_missing(self, now: datetime) -> list[str]:
        with read_session(self.engine) as session:
            waiting = pending_digests(session, now)
            redrawn = []
            for row in waiting:
                reply = Reply.from_json(row.payload)
                for block in reply.blocks:
                    if isinstance(block, Image) and not Path(block.path).exists():
                        self._redraw(session, now, reply, block)
                        redrawn.append(block.path)
        return redrawn

    def _redraw(self, session: Session, now: datetime, reply: Reply, image: Image) -> None:
        target = Path(image.path)
        if reply.data.get("week"):
            summary = build_weekly(session, now, self.policy, parse_week(str(reply.data["week"])))
            render_weekly(summary.chart, target)
        elif reply.data.get("as_of"):
            as_of = date.fromisoformat(str(reply.data["as_of"]))
            render_audience(build_audience(session, as_of), target)
        else:
            return
        log.info("redrew the missing chart %s", target)

    # --- the daily fetch -------------------------------------------------------------------

    def fetch_slot(self, now: datetime) -> tuple[date, int] | None:
        """(today, attempt number) when a fetch attempt is due now, else None."""
        zone = self.policy.zone
        today = now.astimezone(zone).date()
        start = local_datetime(today, self.settings.reach_fetch_at, zone)
        if start is None or now < start:
            return None
        attempt = int((now - start) / RETRY_EVERY)
        return (today, attempt) if attempt < ATTEMPTS_PER_DAY else None

    def fetch_if_due(self, now: datetime) -> bool:
        slot = self.fetch_slot(now)
        if slot is None:
            return False
        today, attempt = slot
        with read_session(self.engine) as session:
            if session.get(SystemState, f"reach:fetched:{today}") is not None:
                return False
        if self._fetching.locked():
            return False
        if not claim(self.engine, f"reach:fetch-attempt:{today}:{attempt}", now.isoformat()):
            return False
        if self.background:
            threading.Thread(target=self._fetch, args=(now, today), name="reach-fetch",
                             daemon=True).start()
        else:
            self._fetch(now, today)
        return True

    def _fetch(self, now: datetime, today: date) -> None:
        with self._fetching:
            try:
                with self.client_factory(self.settings) as client:
                    report = fetch_reach(client, self.engine, self.policy, now)
            except Exception:
                log.exception("the reach fetch failed")
                return
            self.last_report = report
            for line in report.lines():
                log.info("reach fetch: %s", line)
            if report.ok or report.token_invalid:
                # A refused token is reported once; trying again today cannot help.
                claim(self.engine, f"reach:fetched:{today}", now.isoformat())


def reach_job(engine: Engine, settings: Settings, policy: Policy) -> ReachJobs:
    """The tick job the composition root adds to the runtime's jobs."""
    return ReachJobs(engine, settings, policy, ChartFiles(default_chart_dir()))
