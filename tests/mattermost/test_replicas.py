"""Two real `storydesk run` processes on one PostgreSQL: the same Mattermost form submitted
five times, to both replicas at once, pitches one story."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from sqlalchemy.engine import Engine
from sqlmodel import select

from storage.db import read_session
from storage.migrate import upgrade
from storage.models import Story
from storage.requests import HandledRequest
from tests.conftest import PG_URL, drop_schema, pg_engine_with_schema, require_postgres
from tests.mattermost.conftest import BOT_TOKEN, PITCH_TOKEN, PUBLIC_URL, World
from tests.processes import free_port, wait_healthy

ROOT = Path(__file__).resolve().parents[2]
pytestmark = pytest.mark.slow


@pytest.fixture
def pg() -> Iterator[tuple[Engine, str]]:
    require_postgres()
    engine, schema = pg_engine_with_schema()
    upgrade(engine)  # what `storydesk db upgrade` does before the replicas start
    yield engine, schema
    engine.dispose()
    drop_schema(schema)


def test_one_form_submitted_to_two_replicas_five_times_pitches_once(
    world: World, pg: tuple[Engine, str], tmp_path: Path
) -> None:
    engine, schema = pg
    env = dict(os.environ, PYTHONPATH=str(ROOT),
               DATABASE_URL=f"{PG_URL}?options=-csearch_path%3D{schema}",
               MATTERMOST_URL=world.server.url, MATTERMOST_BOT_TOKEN=BOT_TOKEN,
               MATTERMOST_COMMAND_TOKENS=PITCH_TOKEN, STORYDESK_PUBLIC_URL=PUBLIC_URL,
               STORYDESK_HTTP_HOST="127.0.0.1", STORYDESK_LOG_LEVEL="WARNING")
    for name in ("SLACK_BOT_TOKEN", "SLACK_APP_TOKEN", "SLACK_SIGNING_SECRET"):
        env.pop(name, None)
    replicas, bases = [], []
    for name in ("a", "b"):
        port = free_port()
        log = (tmp_path / f"{name}.log").open("w")
        replicas.append((subprocess.Popen(
            [sys.executable, "-m", "bot.cli", "--env-file", str(tmp_path / "none.env"), "run"],
            cwd=tmp_path, env=dict(env, STORYDESK_HTTP_PORT=str(port)),
            stdout=log, stderr=subprocess.STDOUT), log))
        bases.append(f"http://127.0.0.1:{port}")
    answers: list[httpx.Response] = []
    try:
        with httpx.Client(timeout=30) as client:
            for (process, _log), base, name in zip(replicas, bases, "ab", strict=True):
                wait_healthy(base, process, timeout=90,
                             log=(tmp_path / f"{name}.log").read_text)
            dana = world.user("dana")
            opened = client.post(f"{bases[0]}/mattermost/command", data={
                "command": "/pitch", "text": "", "user_id": dana, "user_name": "dana",
                "channel_id": world.team_channel, "token": PITCH_TOKEN,
                "trigger_id": world.server.issue_trigger(),
                "response_url": world.server.hook_url()})
            assert opened.status_code == 200 and opened.json() == {}, opened.text
            state = world.server.state.dialogs[-1]["dialog"]["state"]
        body = json.dumps({
            "type": "dialog_submission", "callback_id": "pitch", "state": state,
            "user_id": dana, "channel_id": world.team_channel, "team_id": world.team,
            "submission": {"title": "Open day at the lab"}, "cancelled": False})
        start = threading.Barrier(5)

        def submit(base: str) -> None:
            with httpx.Client(timeout=60) as own:
                start.wait(30)
                answers.append(own.post(f"{base}/mattermost/dialog", content=body,
                                        headers={"Content-Type": "application/json"}))

        threads = [threading.Thread(target=submit, args=(bases[i % 2],)) for i in range(5)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(90)
    finally:
        for process, _log in replicas:
            process.terminate()
        for process, log in replicas:
            process.wait(timeout=30)
            log.close()
    assert [a.status_code for a in answers] == [200] * 5
    assert all(a.json() == {} for a in answers), [a.text for a in answers]
    with read_session(engine) as session:
        assert [s.title for s in session.exec(select(Story)).all()] == ["Open day at the lab"]
        assert len(session.exec(select(HandledRequest)).all()) == 1
