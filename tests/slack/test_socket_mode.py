"""Socket Mode against a local websocket server playing Slack's end of the socket.

apps.connections.open (on the fake Web API) hands out ws://127.0.0.1:<port>/link; the
server says hello, sends a slash command envelope the way Slack does, and records the ack
envelope the app sends back. slack_sdk's built-in client speaks plain ws:// to a port other
than 443, so nothing here needs TLS or the internet.
"""

from __future__ import annotations

import json
import queue
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy.engine import Engine
from sqlmodel import select
from websockets.exceptions import ConnectionClosed
from websockets.sync.server import Server, ServerConnection, serve

from bot.errors import StartupError
from bot.runtime import build_runtime
from bot.server import starters
from bot.slack.service import socket_mode_starter
from storage.db import read_session
from storage.models import Story
from tests.slack.conftest import payload
from tests.slack.fake_slack import FakeSlack
from tests.slack.test_service import ack_seconds, slack_settings, slow_commands

APP_TOKEN = "xapp-1-A0STORYDESK-6081390384115-0f1e2d3c4b5a69788796a5b4c3d2e1f0"


class SlackSocket:
    """One connection at a time: hello, then whatever the test queues."""

    def __init__(self) -> None:
        self.outgoing: queue.Queue[dict[str, Any]] = queue.Queue()
        self.received: queue.Queue[dict[str, Any]] = queue.Queue()
        self.server: Server = serve(self._session, "127.0.0.1", 0)
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        port = self.server.socket.getsockname()[1]
        return f"ws://127.0.0.1:{port}/link/?ticket=4d0a2f1e-test&app_id=A0STORYDESK"

    def _session(self, connection: ServerConnection) -> None:
        connection.send(json.dumps({
            "type": "hello", "num_connections": 1,
            "debug_info": {"host": "applink-local", "approximate_connection_time": 18060},
            "connection_info": {"app_id": "A0STORYDESK"},
        }))
        while True:
            try:
                message = self.outgoing.get(timeout=0.05)
                connection.send(json.dumps(message))
            except queue.Empty:
                pass
            try:
                raw = connection.recv(timeout=0.05)
            except TimeoutError:
                continue
            except ConnectionClosed:
                return
            self.received.put(json.loads(raw))


@pytest.fixture
def slack_socket() -> Iterator[SlackSocket]:
    socket = SlackSocket()
    socket.thread.start()
    yield socket
    socket.server.shutdown()


def test_slash_command_over_socket_mode_is_answered_in_its_ack(
        db_url_engine: Engine, fake_slack: FakeSlack, slack_socket: SlackSocket) -> None:
    fake_slack.socket_url = slack_socket.url
    settings = slack_settings(fake_slack, slack_app_token=APP_TOKEN, slack_signing_secret="")
    runtime = build_runtime(settings, engine=db_url_engine)
    assert socket_mode_starter in starters(runtime)
    stop = socket_mode_starter(runtime)
    try:
        [opened] = fake_slack.calls_to("apps.connections.open")
        assert opened.headers["authorization"] == f"Bearer {APP_TOKEN}"
        command = payload("slash_command.json")
        command.update(text="Cosmic rays over the campus #outreach",
                       response_url=fake_slack.response_url("socket"))
        slack_socket.outgoing.put({
            "envelope_id": "57d6a792-4d35-4d0b-b6aa-3361493e1caf", "type": "slash_commands",
            "payload": command, "accepts_response_payload": True,
        })
        ack = slack_socket.received.get(timeout=10)
        # committed first, then acknowledged with the answer in the envelope's payload
        assert ack["envelope_id"] == "57d6a792-4d35-4d0b-b6aa-3361493e1caf"
        assert "Story #1 is pitched" in ack["payload"]["text"]
    finally:
        stop()
    with read_session(db_url_engine) as session:
        story = session.exec(select(Story)).one()
        assert (story.title, story.objective) == ("Cosmic rays over the campus", "outreach")


def test_the_ack_time_over_socket_mode_includes_the_work(
        db_url_engine: Engine, fake_slack: FakeSlack, slack_socket: SlackSocket,
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    fake_slack.socket_url = slack_socket.url
    settings = slack_settings(fake_slack, slack_app_token=APP_TOKEN, slack_signing_secret="",
                              inbox_path=str(tmp_path / "inbox.db"))
    runtime = build_runtime(settings, engine=db_url_engine)
    slow_commands(runtime.runner, monkeypatch, 0.3)
    stop = socket_mode_starter(runtime)
    try:
        command = payload("slash_command.json")
        command.update(text="A slow pitch over the socket",
                       response_url=fake_slack.response_url("slow"))
        slack_socket.outgoing.put({"envelope_id": "0c1d-slow", "type": "slash_commands",
                                   "payload": command, "accepts_response_payload": True})
        ack = slack_socket.received.get(timeout=10)
        assert "is pitched" in ack["payload"]["text"]
    finally:
        stop()
    deadline = time.monotonic() + 5  # timed once the ack has gone out, on the socket's thread
    while ack_seconds(runtime)[0] != 1.0 and time.monotonic() < deadline:
        time.sleep(0.01)
    count, seconds = ack_seconds(runtime)
    assert count == 1.0 and seconds is not None and seconds >= 0.3


def test_a_refused_app_token_stops_the_start(db_url_engine: Engine,
                                             fake_slack: FakeSlack) -> None:
    fake_slack.bad_tokens[APP_TOKEN] = "invalid_auth"
    settings = slack_settings(fake_slack, slack_app_token=APP_TOKEN, slack_signing_secret="")
    runtime = build_runtime(settings, engine=db_url_engine)
    with pytest.raises(StartupError) as caught:
        socket_mode_starter(runtime)
    assert "SLACK_APP_TOKEN (invalid_auth)" in str(caught.value)
