"""Slack wired into the runtime: the token check, /slack/events, /metrics, the manifest."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import pytest
import yaml
from sqlalchemy.engine import Engine
from sqlmodel import select

from bot.cli import main
from bot.commands import CommandRunner, Outcome
from bot.errors import StartupError
from bot.runtime import Runtime, build_runtime
from bot.slack.client import check_token, make_web_client
from bot.slack.service import build_slack_app
from bot.slack.transport import SlackTransport
from bot.web import create_web_app
from config.settings import Settings
from storage.db import read_session
from storage.models import Member, Story
from tests.processes import free_port
from tests.slack.conftest import SECRET, TOKEN, TestClient, payload, signed_headers
from tests.slack.fake_slack import FakeSlack

SCOPES = ["commands", "chat:write", "users:read", "files:write", "app_mentions:read",
          "im:history"]


def slack_settings(fake: FakeSlack, **overrides: object) -> Settings:
    values: dict[str, object] = dict(
        slack_bot_token=TOKEN, slack_signing_secret=SECRET,
        slack_api_url=fake.api_url.rstrip("/"), coordinators=("slack:U0ADA",),
    )
    values.update(overrides)
    return Settings(**values)  # type: ignore[arg-type]


# --- the manifest -----------------------------------------------------------------------


def test_manifest_for_socket_mode(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["slack", "manifest"]) == 0
    data = yaml.safe_load(capsys.readouterr().out)
    assert data["settings"]["socket_mode_enabled"] is True
    assert data["settings"]["interactivity"] == {"is_enabled": True}
    assert [c["command"] for c in data["features"]["slash_commands"]] == ["/pitch", "/story"]
    assert all("url" not in c and c["should_escape"] for c in data["features"]["slash_commands"])
    assert data["oauth_config"]["scopes"]["bot"] == SCOPES
    assert data["settings"]["event_subscriptions"] == {
        "bot_events": ["app_mention", "message.im"]}
    assert data["features"]["app_home"]["messages_tab_read_only_enabled"] is False


def test_manifest_for_http_points_everything_at_slack_events(
        capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["slack", "manifest", "--url", "https://storydesk.lab.org/"]) == 0
    data = yaml.safe_load(capsys.readouterr().out)
    url = "https://storydesk.lab.org/slack/events"
    assert data["settings"]["socket_mode_enabled"] is False
    assert data["settings"]["interactivity"]["request_url"] == url
    assert [c["url"] for c in data["features"]["slash_commands"]] == [url, url]
    assert data["settings"]["event_subscriptions"]["request_url"] == url
    assert data["oauth_config"]["scopes"]["bot"] == SCOPES


def test_manifest_refuses_an_address_slack_would_refuse(
        capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["slack", "manifest", "--url", "http://storydesk.lab.org"]) == 2
    captured = capsys.readouterr()
    assert captured.out == "" and "https://" in captured.err


# --- start-up -------------------------------------------------------------------------


@pytest.mark.parametrize("code", ["invalid_auth", "token_revoked", "account_inactive"])
def test_a_refused_token_is_one_clear_startup_error(fake_slack: FakeSlack, code: str) -> None:
    fake_slack.bad_tokens[TOKEN] = code
    with pytest.raises(StartupError) as caught:
        check_token(make_web_client(TOKEN, fake_slack.api_url))
    message = str(caught.value)
    assert code in message and "SLACK_BOT_TOKEN" in message and "\n" not in message


def test_storydesk_run_with_a_revoked_token_stops_with_one_line(
        fake_slack: FakeSlack, tmp_path: Path) -> None:
    fake_slack.bad_tokens[TOKEN] = "token_revoked"
    env = {key: value for key, value in os.environ.items()
           if not key.startswith(("SLACK_", "MATTERMOST_", "STORYDESK_", "INSTAGRAM_"))}
    env.update(SLACK_BOT_TOKEN=TOKEN, SLACK_SIGNING_SECRET=SECRET,
               SLACK_API_URL=fake_slack.api_url, DATABASE_URL=f"sqlite:///{tmp_path / 'x.db'}",
               STORYDESK_HTTP_PORT=str(free_port()))
    done = subprocess.run([sys.executable, "-m", "bot.cli", "--env-file", str(tmp_path / "none"),
                           "run"], env=env, capture_output=True, text=True, timeout=60,
                          cwd=tmp_path)
    assert done.returncode == 2
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1, done.stderr
    assert lines[0].startswith("storydesk: Slack refused SLACK_BOT_TOKEN (token_revoked)")
    assert "Traceback" not in done.stderr
    assert len(fake_slack.calls_to("auth.test")) == 1  # asked once, not in a loop


# --- the runtime serves /slack/events ------------------------------------------------


def test_runtime_serves_slack_events_and_counts_in_metrics(
        db_url_engine: Engine, fake_slack: FakeSlack) -> None:
    runtime = build_runtime(slack_settings(fake_slack), engine=db_url_engine)
    assert isinstance(runtime.transports["slack"], SlackTransport)
    with read_session(db_url_engine) as session:
        ada = session.exec(select(Member).where(Member.user_id == "U0ADA")).one()
        assert ada.role == "coordinator" and ada.platform == "slack"
    http = TestClient(create_web_app(runtime))
    fields = payload("slash_command.json")
    fields.update(text="Open day at the accelerator #recruitment",
                  response_url=fake_slack.response_url("run"))
    body = urlencode(fields)
    answer = http.post("/slack/events", content=body, headers=signed_headers(body)).json()
    assert "Story #1 is pitched" in answer["text"]
    with read_session(db_url_engine) as session:
        assert session.exec(select(Story)).one().objective == "recruitment"
    metrics = http.get("/metrics").text
    assert 'storydesk_ack_seconds_count{platform="slack"} 1.0' in metrics
    assert 'storydesk_commands_total{command="pitch",outcome="ok"} 1.0' in metrics
    assert 'storydesk_command_seconds_count{command="pitch",platform="slack"} 1.0' in metrics
    assert http.post("/slack/events", content=body,
                     headers={"X-Slack-Signature": "v0=00"}).status_code == 401
    assert http.get("/healthz").status_code == 200


def slow_commands(runner: CommandRunner, monkeypatch: pytest.MonkeyPatch,
                  seconds: float) -> None:
    """Every command takes `seconds` longer before its transaction."""
    real = runner.run_request

    def slow(*args: Any, **kwargs: Any) -> Outcome:
        time.sleep(seconds)
        return real(*args, **kwargs)

    monkeypatch.setattr(runner, "run_request", slow)


def ack_seconds(runtime: Runtime) -> tuple[float | None, float | None]:
    """How many Slack acks were timed, and their seconds in all."""
    sample = runtime.metrics.registry.get_sample_value
    return (sample("storydesk_ack_seconds_count", {"platform": "slack"}),
            sample("storydesk_ack_seconds_sum", {"platform": "slack"}))


def test_the_ack_time_includes_the_work_the_person_waits_for(
        db_url_engine: Engine, fake_slack: FakeSlack, tmp_path: Path,
        monkeypatch: pytest.MonkeyPatch) -> None:
    """The listener runs inside bolt's dispatch, after every middleware has returned: the
    timer goes around the dispatch, so a slow command shows in the histogram."""
    settings = slack_settings(fake_slack, inbox_path=str(tmp_path / "inbox.db"))
    runtime = build_runtime(settings, engine=db_url_engine)
    slow_commands(runtime.runner, monkeypatch, 0.3)
    http = TestClient(create_web_app(runtime))
    fields = payload("slash_command.json")
    fields.update(text="A pitch that takes its time", response_url=fake_slack.response_url())
    body = urlencode(fields)
    answer = http.post("/slack/events", content=body, headers=signed_headers(body)).json()
    assert "is pitched" in answer["text"]
    count, seconds = ack_seconds(runtime)
    assert count == 1.0 and seconds is not None and seconds >= 0.3


def test_inbox_write_failures_are_counted_in_the_runtimes_metrics(
        db_url_engine: Engine, fake_slack: FakeSlack, tmp_path: Path) -> None:
    settings = slack_settings(fake_slack, inbox_path=str(tmp_path / "inbox.db"))
    runtime = build_runtime(settings, engine=db_url_engine)
    app = build_slack_app(runtime)
    try:
        assert app.deps.count_inbox_failure is not None
        app.deps.count_inbox_failure("OperationalError")
    finally:
        app.close()
    assert runtime.metrics.registry.get_sample_value(
        "storydesk_inbox_write_failures_total",
        {"platform": "slack", "error": "OperationalError"}) == 1.0


def test_socket_mode_has_no_http_route(db_url_engine: Engine, fake_slack: FakeSlack) -> None:
    settings = slack_settings(fake_slack, slack_app_token="xapp-1-A0STORYDESK-1-abc")
    runtime = build_runtime(settings, engine=db_url_engine)
    http = TestClient(create_web_app(runtime))
    assert http.post("/slack/events", content="x").status_code in (404, 405)
    assert json.loads(http.get("/healthz").text)["status"] == "ok"
