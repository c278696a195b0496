"""The composition root: everything Storydesk runs with, wired once from the Settings."""

from __future__ import annotations

import importlib
import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime

from sqlalchemy.engine import Engine

from bot.commands import CommandRunner, Directory
from bot.crowd.jobs import crowd_job, crowd_rules
from bot.delivery.dispatcher import Dispatcher
from bot.delivery.scheduler import reminder_job, reminder_rules
from bot.delivery.transport import Transport
from bot.handled import forget_handled_job
from bot.inbox import Inbox, default_inbox_path
from bot.metrics import Metrics
from bot.reach.jobs import reach_job
from bot.reach.publication_watch import publication_job
from bot.team_names import name_coordinators
from config.settings import Settings
from handlers.context import Policy
from handlers.decisions import CadenceSlot
from handlers.members import seed_coordinators
from handlers.reply import plural
from storage import migrate
from storage.db import make_engine, write_session

log = logging.getLogger(__name__)

PLATFORMS = ("slack", "mattermost", "console")


def policy_from(settings: Settings, channel_platforms: tuple[str, ...]) -> Policy:
    return Policy(
        timezone=settings.timezone,
        cadence=tuple(CadenceSlot(slot.weekday, slot.at) for slot in settings.slots),
        draft_days=settings.draft_days,
        min_lead_hours=settings.min_lead_hours,
        changes_days=settings.changes_days,
        auto_accept_hours=settings.auto_accept_hours,
        release_after_days=settings.release_after_days,
        channel_platforms=channel_platforms,
        reminders=reminder_rules(settings),
        public_url=settings.public_url.rstrip("/"),
        crowd=crowd_rules(settings),
        instagram_watch=settings.instagram_enabled,
    )


def enabled_platforms(settings: Settings) -> tuple[str, ...]:
    platforms = []
    if settings.slack_enabled:
        platforms.append("slack")
    if settings.mattermost_enabled:
        platforms.append("mattermost")
    return tuple(platforms) or ("console",)


@dataclass
class Runtime:
    settings: Settings
    engine: Engine
    policy: Policy
    runner: CommandRunner
    transports: dict[str, Transport]
    dispatcher: Dispatcher
    metrics: Metrics
    directories: dict[str, Directory] = field(default_factory=dict)
    tick_jobs: list[Callable[[datetime], object]] = field(default_factory=list)
    # Run when `storydesk run` stops, after the web app has answered its last request.
    on_stop: list[Callable[[], None]] = field(default_factory=list)
    inbox: Inbox | None = None

    def open_inbox(self) -> Inbox:
        """The inbox of requests answered "Working on it…" (opened by a chat adapter that
        needs it); drained at every tick, so what a stopped process left is answered."""
        if self.inbox is None:
            path = self.settings.inbox_path or default_inbox_path(self.settings.database_url)
            self.inbox = Inbox(path)
            self.tick_jobs.append(self.inbox.drain)
        return self.inbox

    def tick(self, now: datetime) -> None:
        """Enqueue what the calendar says is due at `now`, then deliver what is due."""
        for job in self.tick_jobs:
            job(now)
        self.dispatcher.dispatch_due(now)


def build_runtime(
    settings: Settings,
    *,
    platforms: tuple[str, ...] | None = None,
    transports: dict[str, Transport] | None = None,
    engine: Engine | None = None,
    owner: str | None = None,
) -> Runtime:
    """Wire the engine, the rules, the command runner and the outbox dispatcher.

    `platforms` defaults to what the settings enable (the console when nothing is);
    tests and the console pass their own transports.
    """
    platforms = platforms or enabled_platforms(settings)
    engine = engine or make_engine(settings.database_url)
    migrate.upgrade(engine)
    policy = policy_from(settings, platforms)
    transports = dict(transports or {})
    directories: dict[str, Directory] = {}
    metrics = Metrics()
    metrics.watch_outbox(engine)
    runner = CommandRunner(engine, policy, directories, on_command=metrics.count_command)
    dispatcher = Dispatcher(engine, transports, owner=owner,
                            lease_seconds=settings.lease_seconds,
                            send_timeout_seconds=settings.send_timeout_seconds,
                            late_cutoff_hours=settings.late_cutoff_hours,
                            late_after_seconds=policy.reminders.late_after_seconds,
                            pace=settings.pace, channel_pace=settings.channel_pace,
                            policy=policy)
    runtime = Runtime(settings, engine, policy, runner, transports, dispatcher, metrics,
                      directories)
    runtime.tick_jobs.append(reminder_job(engine, policy))
    runtime.tick_jobs.append(reach_job(engine, settings, policy))
    runtime.tick_jobs.append(crowd_job(engine, settings, policy))
    runtime.tick_jobs.append(forget_handled_job(engine))
    runtime.tick_jobs.append(publication_job(engine, settings, policy))
    if "mattermost" in platforms and "mattermost" not in transports:
        attach_platform(runtime, "bot.mattermost.service", "attach_mattermost")
    if "slack" in platforms and "slack" not in transports and settings.slack_enabled:
        attach_platform(runtime, "bot.slack.service", "attach_slack")
    seed_team(runtime, datetime.now(UTC))
    return runtime


def attach_platform(runtime: Runtime, module: str, function: str) -> None:
    """Let a chat platform attach its transport and directory to the runtime.

    Imported by name: the composition root knows every platform, the platforms see the
    runtime, and Slack and Mattermost must stay independent of each other (a static import
    here would make Slack -> runtime -> Mattermost a path the import contract refuses).
    """
    getattr(importlib.import_module(module), function)(runtime)


def seed_team(runtime: Runtime, now: datetime) -> None:
    """Make STORYDESK_COORDINATORS the team on first start (`platform:id` or a bare id)."""
    default = runtime.policy.channel_platforms[0]
    identities = []
    for entry in runtime.settings.coordinators:
        platform, _, user_id = entry.rpartition(":")
        if platform not in PLATFORMS:
            platform, user_id = default, entry
        identities.append((platform, user_id))
    with write_session(runtime.engine) as session:
        seeded = seed_coordinators(session, identities, now)
    if seeded:
        log.info("seeded the team with %s", plural(seeded, "coordinator"))
    name_coordinators(runtime.engine, runtime.directories, now)
