"""Wiring: `storydesk run` with Mattermost settings gets the transport, the directory and
the endpoints; a wrong token or missing command tokens stop it with one line."""

from __future__ import annotations

import warnings
from datetime import UTC, datetime
from pathlib import Path

import pytest
from sqlmodel import select

with warnings.catch_warnings():  # Starlette would rather have httpx2; httpx works the same
    warnings.simplefilter("ignore")
    from starlette.testclient import TestClient

from bot.cli import main
from bot.mattermost.transport import MattermostTransport
from bot.runtime import build_runtime
from bot.web import create_web_app
from handlers.members import COORDINATOR
from storage.db import read_session
from storage.models import Member, Story
from tests.mattermost.conftest import BOT_TOKEN, PITCH_TOKEN, World, mm_settings


def test_the_runtime_serves_mattermost_when_the_settings_enable_it(
    world: World, tmp_path: Path
) -> None:
    settings = mm_settings(world, database_url=f"sqlite:///{tmp_path / 'sd.db'}",
                           coordinators=("mattermost:ada", "mattermost:@ben"))
    runtime = build_runtime(settings)
    assert isinstance(runtime.transports["mattermost"], MattermostTransport)
    assert runtime.policy.channel_platforms == ("mattermost",)
    with read_session(runtime.engine) as session:
        team = session.exec(select(Member).where(Member.role == COORDINATOR)).all()
        assert {m.user_id for m in team} == {world.user("ada"), world.user("ben")}
    app = create_web_app(runtime)
    with TestClient(app) as client:
        response = client.post(
            "/mattermost/command",
            data={"command": "/pitch", "text": "Neutrino night #outreach",
                  "user_id": world.user("dana"), "user_name": "dana",
                  "channel_id": world.team_channel, "token": PITCH_TOKEN})
        assert response.status_code == 200, response.text
        assert "Story #1 is pitched" in response.json()["text"]
        refused = client.post("/mattermost/command", data={
            "command": "/pitch", "text": "x", "user_id": world.user("dana"), "token": "no"})
        assert refused.status_code == 401
        metrics = client.get("/metrics").text
        assert 'storydesk_ack_seconds_count{platform="mattermost"} 1.0' in metrics
    runtime.dispatcher.dispatch_due(datetime.now(UTC))
    with read_session(runtime.engine) as session:
        assert [s.title for s in session.exec(select(Story)).all()] == ["Neutrino night"]
    assert world.server.posts_in(world.team_channel)


@pytest.fixture
def run_env(world: World, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Path:
    for name in ("SLACK_BOT_TOKEN", "SLACK_APP_TOKEN", "SLACK_SIGNING_SECRET",
                 "STORYDESK_COORDINATORS"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("MATTERMOST_URL", world.server.url)
    monkeypatch.setenv("MATTERMOST_BOT_TOKEN", BOT_TOKEN)
    monkeypatch.setenv("MATTERMOST_COMMAND_TOKENS", PITCH_TOKEN)
    monkeypatch.setenv("DATABASE_URL", f"sqlite:///{tmp_path / 'run.db'}")
    return tmp_path / "absent.env"


def test_run_with_a_wrong_token_stops_with_one_line(
    run_env: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("MATTERMOST_BOT_TOKEN", "wrongtoken0000000000000000")
    assert main(["--env-file", str(run_env), "run"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1
    assert "Mattermost refused MATTERMOST_BOT_TOKEN (401)" in err


def test_run_without_command_tokens_says_to_run_setup(
    run_env: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.delenv("MATTERMOST_COMMAND_TOKENS")
    assert main(["--env-file", str(run_env), "run"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "storydesk mattermost setup" in err
