"""The default log: one line per thing an operator can act on, nothing per tick."""

from __future__ import annotations

import io
import json
import logging
import os
import subprocess
import sys
import threading
from pathlib import Path

import httpx
import pytest
from slack_bolt import App
from slack_sdk import WebClient

from bot.console.adapter import ConsoleTransport
from bot.delivery.dispatcher import DispatcherWorker
from bot.delivery.scheduler import Ticker
from bot.logs import configure_logging
from bot.runtime import build_runtime
from bot.slack.bolt_log import bolt_logger
from config.settings import Settings

TICKS = 10
ROOT = Path(__file__).resolve().parents[2]


def run_ticks(tmp_path: Path, level: str) -> list[str]:
    """Ten real ticks of the scheduler and wakes of the dispatcher on an empty database."""
    runtime = build_runtime(Settings(database_url=f"sqlite:///{tmp_path / f'{level}.db'}"),
                            platforms=("console",),
                            transports={"console": ConsoleTransport(io.StringIO())})
    out = io.StringIO()
    configure_logging(level, stream=out)
    worker = DispatcherWorker(runtime.dispatcher, idle_seconds=0.05)
    done, count = threading.Event(), [0]

    def wake() -> None:
        worker.wake()
        count[0] += 1
        if count[0] >= TICKS:
            done.set()

    ticker = Ticker(runtime.tick_jobs, 0.05, wake)
    worker.start()
    ticker.start()
    try:
        assert done.wait(60), f"only {count[0]} ticks"
    finally:
        ticker.stop()
        worker.stop()
        runtime.engine.dispose()
    return out.getvalue().splitlines()


def test_ten_ticks_with_nothing_due_write_no_line_at_the_default_level(tmp_path: Path) -> None:
    assert run_ticks(tmp_path, Settings().log_level) == []


def test_at_debug_the_ticks_are_there(tmp_path: Path) -> None:
    # The same measurement sees the scheduler's lines when they are asked for.
    lines = run_ticks(tmp_path, "DEBUG")
    assert sum("executed successfully" in line for line in lines) >= TICKS


def test_http_requests_are_logged_only_at_debug() -> None:
    out = io.StringIO()
    configure_logging("INFO", stream=out)
    with httpx.Client(transport=httpx.MockTransport(lambda r: httpx.Response(200))) as client:
        client.get("https://chat.lab.example/api/v4/users/me")
    assert out.getvalue() == ""
    configure_logging("DEBUG", stream=out)
    with httpx.Client(transport=httpx.MockTransport(lambda r: httpx.Response(200))) as client:
        client.get("https://chat.lab.example/api/v4/users/me")
    assert "HTTP Request: GET https://chat.lab.example/api/v4/users/me" in out.getvalue()


def test_bolt_does_not_warn_about_the_token_it_reads_itself(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("SLACK_BOT_TOKEN", "xoxb-1-2-abc")
    out = io.StringIO()
    configure_logging("INFO", stream=out)
    client = WebClient(token="xoxb-1-2-abc")
    App(client=client, signing_secret="s", token_verification_enabled=False,
        logger=logging.getLogger("elsewhere"))
    assert "`token` will be unused" in out.getvalue()  # what bolt says on its own
    out.truncate(0)
    out.seek(0)
    App(client=client, signing_secret="s", token_verification_enabled=False,
        logger=bolt_logger())
    assert out.getvalue() == ""
    bolt_logger().warning("something else")
    assert "something else" in out.getvalue()


def test_json_format_writes_one_object_per_line_with_the_exception() -> None:
    out = io.StringIO()
    configure_logging("INFO", "json", stream=out)
    log = logging.getLogger("storydesk.test")
    log.info("delivery started: tick every %ss", 30)
    try:
        raise RuntimeError("the database went away")
    except RuntimeError:
        log.exception("tick job failed")
    first, second = (json.loads(line) for line in out.getvalue().splitlines())
    assert first["message"] == "delivery started: tick every 30s"
    assert (first["level"], first["logger"]) == ("INFO", "storydesk.test")
    assert first["time"].endswith("+00:00") and "exception" not in first
    assert second["level"] == "ERROR" and second["message"] == "tick job failed"
    assert "RuntimeError: the database went away" in second["exception"]


def test_console_shows_warnings_only_unless_debug() -> None:
    out = io.StringIO()
    configure_logging("INFO", stream=out, floor="WARNING")
    logging.getLogger("bot.runtime").info("seeded the team with 1 coordinators")
    logging.getLogger("bot.runtime").warning("a warning")
    assert out.getvalue().splitlines()[-1].endswith("a warning")
    assert "seeded" not in out.getvalue()
    configure_logging("DEBUG", stream=out, floor="WARNING")
    logging.getLogger("bot.runtime").info("now shown")
    assert "now shown" in out.getvalue()


def test_no_info_line_interrupts_a_console_session(tmp_path: Path) -> None:
    """In its own process: pytest's log capture would hide a root logger set up too late."""
    env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"),
           "DATABASE_URL": f"sqlite:///{tmp_path / 'console.db'}",
           "STORYDESK_COORDINATORS": "console:ada"}  # seeding the team logs at INFO
    result = subprocess.run([sys.executable, "-m", "bot.cli", "console", "--as", "Ada"],
                            input="/story team\n", capture_output=True, text=True, cwd=tmp_path,
                            env={**env, "PYTHONPATH": str(ROOT)}, timeout=120)
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith("Coordinators: Ada")
    assert result.stderr == ""
