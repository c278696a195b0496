"""`storydesk run`'s way: the work behind Slack's acks runs in child processes."""

from __future__ import annotations

import os
import time
from datetime import UTC, datetime
from pathlib import Path
from urllib.parse import urlencode

from sqlalchemy.engine import Engine
from sqlmodel import select

from bot.runtime import build_runtime
from bot.scheduler import delivery_starter
from bot.web import create_web_app
from storage.db import read_session
from storage.models import Outbound, Story
from tests.slack.conftest import TestClient, payload, signed_headers
from tests.slack.fake_slack import FakeSlack
from tests.slack.test_service import slack_settings


def test_pitches_are_worked_in_a_child_process_and_delivered_at_once(
    fake_slack: FakeSlack, tmp_path: Path
) -> None:
    settings = slack_settings(
        fake_slack, database_url=f"sqlite:///{tmp_path / 'run.db'}", tick_seconds=3600,
        quiet_hours=None, working_days=(0, 1, 2, 3, 4, 5, 6),
    )
    runtime = build_runtime(settings)
    runtime.slack_work_processes = 1
    stop_delivery = delivery_starter(runtime)
    http = TestClient(create_web_app(runtime))
    try:
        for n, text in enumerate(("Open day #recruitment", "Cloud chamber #outreach")):
            fields = payload("slash_command.json")
            fields.update(text=text, response_url=fake_slack.response_url(f"r{n}"))
            body = urlencode(fields)
            assert http.post("/slack/events", content=body, headers=signed_headers(body)).text == ""
        answers = fake_slack.wait_for("response_url", count=2, timeout=60)
        assert sorted(
            "Story #1 is pitched" in a.params["text"] or "Story #2 is pitched" in a.params["text"]
            for a in answers
        ) == [True, True]
        # The child delivered what its work queued: each card went out without waiting
        # for the hour-long tick.
        cards = fake_slack.wait_for("chat.postMessage", count=4, timeout=30)
        assert len(cards) >= 4  # two cards and two reviewers' messages
        with read_session(runtime.engine) as session:
            assert len(session.exec(select(Story)).all()) == 2
        assert _eventually_all_sent(runtime.engine)
        worker_pids = {pid for pid in _children(os.getpid())}
        assert worker_pids, "the work ran in a child process"
    finally:
        stop_delivery()
        runtime.engine.dispose()


def _eventually_all_sent(engine: Engine) -> bool:
    """The dispatcher records a send just after the platform answered it. (A second DM
    to the one reviewer the same day is held for the next day: not due yet.)"""
    for _ in range(200):
        with read_session(engine) as session:
            now = datetime.now(UTC)
            if all(row.status == "sent" or (row.due_at and row.due_at > now)
                   for row in session.exec(select(Outbound)).all()):
                return True
        time.sleep(0.05)
    return False


def _children(pid: int) -> list[int]:
    tasks = Path(f"/proc/{pid}/task")
    found: list[int] = []
    for task in tasks.iterdir():
        children = task / "children"
        if children.exists():
            found += [int(child) for child in children.read_text().split()]
    return found
