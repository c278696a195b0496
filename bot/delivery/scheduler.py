"""The scheduler only ticks: every `tick_seconds` it asks the handlers what is due, queues
it in the outbox under unique keys, and wakes the dispatcher.

APScheduler 3.x runs one interval job in a BackgroundScheduler with its in-memory store; it
keeps no state of its own, so a restart, a missed tick or a second replica loses and
doubles nothing: the outbox's unique keys do the bookkeeping. The console's `:advance`
calls the very same tick on its simulated clock (`run_tick`).
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any, Protocol

from apscheduler.schedulers.background import BackgroundScheduler
from sqlalchemy.engine import Engine

from bot.delivery.dispatcher import Dispatcher, DispatcherWorker, DispatchReport
from config.settings import Settings
from handlers import reminders
from handlers.context import Policy, ReminderRules
from storage.db import read_session, write_session

log = logging.getLogger(__name__)

TickJob = Callable[[datetime], object]


def reminder_job(engine: Engine, policy: Policy) -> Callable[[datetime], reminders.TickReport]:
    """The tick job of reminders and schedule posts: one write transaction per tick."""

    def job(now: datetime) -> reminders.TickReport:
        with write_session(engine) as session:
            report = reminders.run_tick(session, now, policy)
        if report.queued or report.expired:
            log.debug("tick %s: queued %d (%d late), expired %d", now.isoformat(timespec="seconds"),
                     report.queued, report.late, report.expired)
        return report

    return job


class TickRuntime(Protocol):
    tick_jobs: list[Callable[[datetime], object]]
    dispatcher: Dispatcher


@dataclass
class TickResult:
    jobs: list[object] = field(default_factory=list)
    dispatch: DispatchReport = field(default_factory=DispatchReport)


def run_jobs(jobs: Sequence[TickJob], now: datetime) -> list[object]:
    """Run every tick job; one failing job does not keep the others from running."""
    results: list[object] = []
    for job in jobs:
        try:
            results.append(job(now))
        except Exception:
            log.exception("tick job %s failed at %s", getattr(job, "__name__", job), now)
    return results


def run_tick(runtime: TickRuntime, now: datetime) -> TickResult:
    """One tick at `now`, then deliver in this thread: what the console's clock drives."""
    results = run_jobs(runtime.tick_jobs, now)
    return TickResult(results, runtime.dispatcher.dispatch_due(now))


class Ticker:
    """The BackgroundScheduler with its single interval job."""

    def __init__(
        self,
        jobs: Sequence[TickJob],
        tick_seconds: float,
        wake: Callable[[], None],
        clock: Callable[[], datetime] | None = None,
    ) -> None:
        self.jobs = jobs
        self.tick_seconds = tick_seconds
        self.wake = wake
        self.clock = clock or (lambda: datetime.now(UTC))
        self._lock = threading.Lock()
        self.scheduler = BackgroundScheduler(timezone=UTC)

    def tick(self) -> None:
        with self._lock:
            run_jobs(self.jobs, self.clock())
        self.wake()

    def start(self) -> None:
        self.scheduler.add_job(
            self.tick, "interval", seconds=self.tick_seconds, id="storydesk-tick",
            name="enqueue what is due, wake the dispatcher",
            next_run_time=datetime.now(UTC), coalesce=True, max_instances=1,
            misfire_grace_time=max(1, int(self.tick_seconds)),
        )
        self.scheduler.start()

    def next_run(self) -> datetime | None:
        job = self.scheduler.get_job("storydesk-tick")
        when: Any = job.next_run_time if job is not None else None
        return when if isinstance(when, datetime) else None

    def stop(self) -> None:
        if self.scheduler.running:
            self.scheduler.shutdown(wait=True)


@dataclass
class RunningDelivery:
    """The running pair: the ticker and the dispatcher's worker thread."""

    worker: DispatcherWorker
    ticker: Ticker

    def stop(self) -> None:
        self.ticker.stop()
        self.worker.stop()


class SimulatedRuntime(Protocol):
    engine: Engine
    policy: Policy


class DeliveryRuntime(TickRuntime, Protocol):
    runner: Any
    settings: Any


def start_delivery(runtime: DeliveryRuntime, idle_seconds: float | None = None) -> RunningDelivery:
    """Start the dispatcher's worker and the ticker; commands wake the worker on commit."""
    tick_seconds = float(runtime.settings.tick_seconds)
    worker = DispatcherWorker(runtime.dispatcher,
                              idle_seconds=idle_seconds if idle_seconds is not None
                              else tick_seconds)
    worker.start()
    runtime.runner.after_commit.append(worker.wake)
    ticker = Ticker(runtime.tick_jobs, tick_seconds, worker.wake)
    ticker.start()
    log.info("delivery started: tick every %ss, dispatcher %s", tick_seconds,
             runtime.dispatcher.owner)
    return RunningDelivery(worker, ticker)


def delivery_starter(runtime: DeliveryRuntime) -> Callable[[], None]:
    """For `storydesk run`: start, and hand back the function that stops."""
    return start_delivery(runtime).stop


def reminder_rules(settings: Settings) -> ReminderRules:
    """The delivery settings as the plain data the handlers take."""
    quiet = settings.quiet_hours
    return ReminderRules(
        working_days=tuple(settings.working_days),
        quiet_start=quiet.start if quiet else None,
        quiet_end=quiet.end if quiet else None,
        remind_days_before=settings.remind_days_before,
        overdue_every_days=settings.overdue_every_days,
        escalate_after_days=settings.escalate_after_days,
        review_nudge_days=settings.review_nudge_days,
        late_cutoff_hours=settings.late_cutoff_hours,
        late_after_seconds=max(300, 3 * settings.tick_seconds),
        queue_ahead_seconds=2 * settings.tick_seconds,
        pitch_call_every_days=settings.pitch_call_every_days,
        objective_gap_weeks=settings.objective_gap_weeks,
        coming_week_weekday=settings.coming_week_post.weekday,
        coming_week_at=settings.coming_week_post.at,
        publishing_today_at=settings.publishing_today_at,
    )


class SimulatedClock:
    """Where a simulated clock moving towards `end` ticks next: after `step`, or sooner,
    exactly when the next reminder or post falls due (so none arrives late).

    The next due moment is looked up once and reused until reached: ticks only queue
    what is due, which can make the next moment later, never earlier.
    """

    def __init__(self, runtime: SimulatedRuntime) -> None:
        self.runtime = runtime
        self.known_due: datetime | None = None

    def next(self, now: datetime, end: datetime, step: timedelta) -> datetime:
        candidate = min(end, now + step)
        if self.known_due is None or self.known_due <= now:
            with read_session(self.runtime.engine) as session:
                self.known_due = reminders.next_moment(session, now, self.runtime.policy)
            if self.known_due is None:
                self.known_due = end
        if now < self.known_due < candidate:
            return self.known_due
        return candidate


def next_simulated_tick(runtime: SimulatedRuntime, now: datetime, end: datetime,
                        step: timedelta) -> datetime:
    """One step of a SimulatedClock, for callers that keep no clock between steps."""
    return SimulatedClock(runtime).next(now, end, step)
