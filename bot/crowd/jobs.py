"""The crowd tick job: kind nudges, the year's-end "your year" messages, and the monthly
crowd-health post (with its chart) for the coordinators' channel."""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

from sqlalchemy.engine import Engine

from bot.crowd.charts import render_stats
from bot.reach.charts import default_chart_dir
from config.settings import Settings
from handlers.context import CrowdRules, Policy
from handlers.crowd.nudges import CrowdTickReport, crowd_due, queue_crowd
from handlers.crowd.stats import (
    CrowdStats,
    build_stats,
    monthly_due,
    monthly_moment,
    pending_monthly,
    queue_monthly,
    team_post_reply,
)
from handlers.reply import Image, Reply
from storage.db import read_session, write_session

log = logging.getLogger(__name__)


def crowd_rules(settings: Settings) -> CrowdRules:
    return CrowdRules(objective_targets=settings.objective_targets,
                      format_targets=settings.format_targets,
                      nudge_after_months=settings.nudge_after_months)


@dataclass
class CrowdTick:
    report: CrowdTickReport = field(default_factory=CrowdTickReport)
    posted: int = 0


class CrowdJobs:
    def __init__(self, engine: Engine, settings: Settings, policy: Policy,
                 chart_dir: Path) -> None:
        self.engine = engine
        self.settings = settings
        self.policy = policy
        self.chart_dir = chart_dir
        self.nudged_hour: datetime | None = None  # the clock hour last looked at

    def chart(self, stats: CrowdStats) -> str:
        return str(render_stats(stats, self.chart_dir / f"crowd-{stats.last_day:%Y-%m}.png"))

    def __call__(self, now: datetime) -> CrowdTick:
        report = self.nudge(now)
        post = self.settings.digest_post
        moment = monthly_moment(now, self.policy, weekday=post.weekday, at=post.at)
        posted = 0
        if moment is not None:  # the month's posting window: nothing to do outside it
            posted = self.post_monthly(now, moment)
            self.redraw_missing()
        if report.nudged or report.your_year or posted:
            log.debug("crowd tick %s: %d nudged, %d your-year, %d posts",
                      now.isoformat(timespec="seconds"), len(report.nudged),
                      len(report.your_year), posted)
        return CrowdTick(report, posted)

    def post_monthly(self, now: datetime, moment: datetime) -> int:
        """Queue the month's crowd-health post with its chart. The figures are read and
        the chart drawn (a quarter of a second) before the write transaction opens, so
        that no other writer of the process waits for the drawing."""
        with read_session(self.engine) as session:
            if not monthly_due(session, moment, self.policy):
                return 0
            figures = build_stats(session, now, self.policy)
        reply = team_post_reply(figures, self.chart(figures))
        with write_session(self.engine) as session:
            return len(queue_monthly(session, now, moment, self.policy, reply))

    def nudge(self, now: datetime) -> CrowdTickReport:
        """Queue the nudges and "your year" messages due, once an hour: they are never
        urgent, and looking costs reads of the members and their last messages. The
        write transaction opens only when something is due."""
        hour = now.replace(minute=0, second=0, microsecond=0)
        if hour == self.nudged_hour:
            return CrowdTickReport()
        self.nudged_hour = hour
        with read_session(self.engine) as session:
            due = crowd_due(session, now, self.policy)
        if not due:
            return CrowdTickReport()
        with write_session(self.engine) as session:
            return queue_crowd(session, now, due)

    def redraw_missing(self) -> list[str]:
        """Draw again a chart that a queued crowd-health post needs if its file went
        missing (a restart that cleared the temporary directory), as of when it was queued;
        Slack refuses a message whose file is gone."""
        redrawn = []
        with read_session(self.engine) as session:
            for row in pending_monthly(session):
                reply = Reply.from_json(row.payload)
                for block in reply.blocks:
                    if isinstance(block, Image) and not Path(block.path).exists() \
                            and row.created_at is not None:
                        figures = build_stats(session, row.created_at, self.policy)
                        render_stats(figures, Path(block.path))
                        redrawn.append(block.path)
                        log.info("redrew the missing chart %s", block.path)
        return redrawn


def crowd_job(engine: Engine, settings: Settings, policy: Policy) -> CrowdJobs:
    """The tick job the composition root adds to the runtime's jobs."""
    return CrowdJobs(engine, settings, policy, default_chart_dir())
