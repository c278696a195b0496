"""The APScheduler ticker, delivery started in a runtime, the console's simulated clock,
and `storydesk outbox`, `outbox retry` and `jobs`."""

from __future__ import annotations

import io
import threading
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from pathlib import Path

import pytest
from freezegun import freeze_time
from sqlmodel import select

from bot.cli import main
from bot.commands import Caller
from bot.console.adapter import Console, ConsoleTransport
from bot.delivery.scheduler import Ticker, next_simulated_tick, reminder_rules, start_delivery
from bot.delivery.transport import Delivery, SendResult
from bot.runtime import build_runtime, policy_from
from config.settings import Settings, load_settings
from handlers import stories
from handlers.stories import PitchForm
from storage.db import make_engine, read_session, write_session
from storage.migrate import upgrade
from storage.models import Outbound
from tests.conftest import add_member


@dataclass
class SignallingTransport:
    platform: str = "console"
    sent: list[Delivery] = field(default_factory=list)
    arrived: threading.Event = field(default_factory=threading.Event)

    def send(self, delivery: Delivery) -> SendResult:
        self.sent.append(delivery)
        self.arrived.set()
        return SendResult(f"m{delivery.outbound_id}", channel_id="C")


def test_the_ticker_runs_the_jobs_on_an_interval_and_wakes_the_dispatcher() -> None:
    ticks: list[datetime] = []
    wakes: list[int] = []
    three = threading.Event()

    def job(now: datetime) -> None:
        ticks.append(now)
        if len(ticks) >= 3:
            three.set()

    def failing(_now: datetime) -> None:
        raise RuntimeError("one job failing does not stop the others")

    ticker = Ticker([failing, job], 0.05, wake=lambda: wakes.append(1))
    ticker.start()
    try:
        assert three.wait(20)
        assert isinstance(ticker.next_run(), datetime)
    finally:
        ticker.stop()
    assert len(wakes) >= 3 and ticks == sorted(ticks)
    assert all(t.tzinfo is not None for t in ticks)


def test_delivery_started_in_a_runtime_sends_what_a_command_queues(tmp_path: Path) -> None:
    settings = Settings(database_url=f"sqlite:///{tmp_path / 'run.db'}", tick_seconds=3600)
    transport = SignallingTransport()
    runtime = build_runtime(settings, platforms=("console",),
                            transports={"console": transport})
    with write_session(runtime.engine) as session:
        add_member(session, "Ada", coordinator=True)
    running = start_delivery(runtime, idle_seconds=3600)
    try:
        reply = runtime.runner.run(Caller("console", "dana", "Dana"), "pitch",
                                   "Muons in the rock #outreach", datetime.now(UTC))
        assert reply.ok
        assert transport.arrived.wait(20)  # woken by the command's commit, not a tick
    finally:
        running.stop()
        runtime.engine.dispose()
    assert runtime.policy.reminders == reminder_rules(settings)


def test_reminder_rules_come_from_the_settings() -> None:
    settings = load_settings({"STORYDESK_QUIET_HOURS": "", "STORYDESK_WORKING_DAYS": "mon-sat",
                              "STORYDESK_REMIND_DAYS_BEFORE": "5",
                              "STORYDESK_COMING_WEEK_POST": "sun 18:30"}, env_file=None)
    rules = reminder_rules(settings)
    assert rules.quiet_start is None and rules.quiet_end is None
    assert rules.working_days == (0, 1, 2, 3, 4, 5)
    assert rules.remind_days_before == 5
    assert (rules.coming_week_weekday, rules.coming_week_at.hour) == (6, 18)
    default = reminder_rules(Settings())
    assert (default.quiet_start, default.quiet_end) == (time(20, 0), time(8, 0))


def test_the_console_clock_stops_exactly_when_a_reminder_falls_due(tmp_path: Path) -> None:
    settings = Settings(database_url=f"sqlite:///{tmp_path / 'console.db'}")
    out = io.StringIO()
    runtime = build_runtime(settings, platforms=("console",),
                            transports={"console": ConsoleTransport(out)})
    accepted = datetime(2026, 11, 23, 10, 0, tzinfo=UTC)
    with write_session(runtime.engine) as session:
        ada = add_member(session, "Ada", coordinator=True)
        dana = add_member(session, "Dana")
        reply = stories.pitch(session, dana, accepted, runtime.policy, PitchForm(title="Muons"))
        assert reply.story_id is not None
        stories.accept(session, ada, accepted, runtime.policy, reply.story_id, date(2026, 12, 3))
    monday_nine = datetime(2026, 11, 30, 8, 0, tzinfo=UTC)  # 09:00 in Berlin
    assert next_simulated_tick(runtime, monday_nine - timedelta(minutes=30),
                               monday_nine + timedelta(hours=2), timedelta(hours=1)) == monday_nine
    console = Console(runtime, "Dana", accepted, out)
    console.handle(":advance 8d")
    text = out.getvalue()
    assert '[DM @Dana] Friendly reminder: your draft of story #1 "Muons" is due' in text
    assert "(late)" not in text.split("Friendly reminder")[0].splitlines()[-1]
    runtime.engine.dispose()


def test_the_console_clock_stops_when_a_reminder_queued_ahead_falls_due(tmp_path: Path) -> None:
    """A tick just before a review nudge queues it for its own moment; the simulated clock
    must still stop there rather than step past it and deliver it late."""
    settings = Settings(database_url=f"sqlite:///{tmp_path / 'console.db'}")
    runtime = build_runtime(settings, platforms=("console",),
                            transports={"console": ConsoleTransport(io.StringIO())})
    submitted = datetime(2026, 11, 24, 13, 0, tzinfo=UTC)  # Tuesday 14:00 in Berlin
    with write_session(runtime.engine) as session:
        ada = add_member(session, "Ada", coordinator=True)
        dana = add_member(session, "Dana")
        reply = stories.pitch(session, dana, submitted, runtime.policy, PitchForm(title="Muons"))
        assert reply.story_id is not None
        stories.accept(session, ada, submitted, runtime.policy, reply.story_id, date(2026, 12, 4))
        stories.submit_draft(session, dana, submitted, runtime.policy, reply.story_id,
                             "https://docs.example.org/d/1")
    nudge = submitted + timedelta(days=3)  # Friday 14:00: nothing else is due then
    runtime.tick(nudge - timedelta(seconds=30))
    with read_session(runtime.engine) as session:
        queued = session.exec(select(Outbound).where(Outbound.member_id == ada.id)).all()
    assert [(row.status, row.due_at) for row in queued
            if row.unique_key.startswith("review-nudge:")] == [("pending", nudge)]
    assert next_simulated_tick(runtime, nudge - timedelta(seconds=30), nudge + timedelta(hours=2),
                               timedelta(hours=1)) == nudge
    runtime.engine.dispose()


def test_outbox_and_retry_on_the_command_line(tmp_path: Path, capsys: pytest.CaptureFixture[str],
                                             monkeypatch: pytest.MonkeyPatch) -> None:
    url = f"sqlite:///{tmp_path / 'cli.db'}"
    monkeypatch.setenv("DATABASE_URL", url)
    engine = make_engine(url)
    upgrade(engine)
    with write_session(engine) as session:
        dana = add_member(session, "Dana")
        for key, status, due in (("a", "pending", datetime(2026, 11, 23, 9, 0, tzinfo=UTC)),
                                 ("b", "failed", datetime(2026, 11, 23, 8, 0, tzinfo=UTC)),
                                 ("c", "sent", datetime(2026, 11, 23, 8, 0, tzinfo=UTC))):
            session.add(Outbound(unique_key=key, platform="console", member_id=dana.id,
                                 text=key, due_at=due, status=status))
    env_file = str(tmp_path / "none.env")
    with freeze_time(datetime(2026, 11, 23, 10, 0, tzinfo=UTC)):
        assert main(["--env-file", env_file, "outbox"]) == 0
        shown = capsys.readouterr().out
        assert "Outbox: 1 pending, 0 sending, 1 sent, 1 failed" in shown
        assert "Oldest message waiting: due 60 min ago (2026-11-23 09:00 UTC)." in shown
        assert "outbox retry failed" in shown
        assert main(["--env-file", env_file, "outbox", "retry", "failed"]) == 0
        assert "Queued 1 message again" in capsys.readouterr().out
        assert main(["--env-file", env_file, "outbox", "retry", "999"]) == 1
    with read_session(engine) as session:
        row = session.exec(select(Outbound).where(Outbound.unique_key == "b")).one()
    assert row.status == "pending" and row.last_error is None
    engine.dispose()


def test_jobs_lists_what_comes_next(tmp_path: Path, capsys: pytest.CaptureFixture[str],
                                    monkeypatch: pytest.MonkeyPatch) -> None:
    url = f"sqlite:///{tmp_path / 'jobs.db'}"
    monkeypatch.setenv("DATABASE_URL", url)
    engine = make_engine(url)
    upgrade(engine)
    settings = Settings(database_url=url)
    accepted = datetime(2026, 11, 23, 10, 0, tzinfo=UTC)
    policy = policy_from(settings, ("console",))
    with write_session(engine) as session:
        ada = add_member(session, "Ada", coordinator=True)
        dana = add_member(session, "Dana")
        reply = stories.pitch(session, dana, accepted, policy, PitchForm(title="Muons"))
        assert reply.story_id is not None
        stories.accept(session, ada, accepted, policy, reply.story_id, date(2026, 12, 3))
    with freeze_time(datetime(2026, 11, 24, 12, 0, tzinfo=UTC)):
        assert main(["--env-file", str(tmp_path / "none.env"), "jobs", "--limit", "5"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].startswith("Every 30 s the scheduler queues what is due")
    assert any("Mon 2026-11-30 09:00" in line and "draft reminder: story #1" in line
               and "DM Dana (console)" in line for line in lines)
    assert any("coming-week post" in line and "team channel" in line for line in lines)
    following = lines[lines.index("Next:") + 1:]  # after what is due now: the messages
    whens = [line.split("  ")[1][4:] for line in following if line.startswith("  ")]
    assert whens == sorted(whens) and len(whens) == 5
    engine.dispose()
