"""The Slack test bench: a fake Web API, the real bolt App behind the real HTTP route.

Requests are signed like Slack signs them (`v0:{timestamp}:{body}`, HMAC-SHA256 with the
signing secret) and go through Starlette to bolt's dispatch; every Web API call the app
makes goes through slack_sdk to the local fake. The app runs with one worker, so that
`settle()` (an empty task queued behind the work) tells a test the work is done.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import time
import warnings
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from datetime import time as clock_time
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import httpx
import pytest
from sqlalchemy.engine import Engine
from sqlmodel import col, select
from starlette.applications import Starlette

with warnings.catch_warnings():  # Starlette would rather have httpx2; httpx works the same
    warnings.simplefilter("ignore")
    from starlette.testclient import TestClient

from bot.commands import CommandRunner
from bot.delivery.dispatcher import Dispatcher, DispatchReport, build_delivery
from bot.inbox import Inbox
from bot.slack.app import SlackApp, build_app
from bot.slack.client import make_web_client
from bot.slack.deps import SlackDeps
from bot.slack.directory import SlackDirectory
from bot.slack.transport import SlackTransport
from bot.slack.web import slack_routes
from handlers.context import Policy
from handlers.decisions import CadenceSlot
from handlers.members import COORDINATOR
from storage.db import read_session, write_session
from storage.models import Member, Outbound, Story
from tests.slack.fake_slack import FakeSlack

PAYLOADS = Path(__file__).parent / "payloads"
SECRET = "8f742231b10e8888abcd99yyyzzz85a5"
TOKEN = "xoxb-17653672481-19874698323-pdFZKVeTuE8sk7oOcBrzbqgy"
NOW = datetime(2026, 11, 23, 9, 30, tzinfo=UTC)  # a Monday
CHANNELS = {"team": "storydesk-team", "group": "general"}
PEOPLE = {
    "U0ADA": ("Ada", True), "U0BEN": ("Ben", True), "U0CHLOE": ("Chloe", True),
    "U0DANA": ("Dana", False), "U0EMIL": ("Emil", False),
}


def payload(name: str) -> dict[str, Any]:
    data: dict[str, Any] = json.loads((PAYLOADS / name).read_text())
    return data


def signature(body: str, timestamp: int, secret: str = SECRET) -> str:
    base = f"v0:{timestamp}:{body}".encode()
    return "v0=" + hmac.new(secret.encode(), base, hashlib.sha256).hexdigest()


def signed_headers(body: str, timestamp: int | None = None, secret: str = SECRET,
                   retry: int | None = None) -> dict[str, str]:
    timestamp = int(time.time()) if timestamp is None else timestamp
    headers = {
        "Content-Type": "application/x-www-form-urlencoded",
        "X-Slack-Request-Timestamp": str(timestamp),
        "X-Slack-Signature": signature(body, timestamp, secret),
    }
    if retry is not None:
        headers["X-Slack-Retry-Num"] = str(retry)
        headers["X-Slack-Retry-Reason"] = "http_timeout"
    return headers


def slack_policy() -> Policy:
    return Policy(
        timezone="Europe/Berlin",
        cadence=(CadenceSlot(1, clock_time(18, 0)), CadenceSlot(3, clock_time(18, 0))),
        draft_days=14, channel_platforms=("slack",),
    )


@pytest.fixture
def fake_slack() -> Iterator[FakeSlack]:
    fake = FakeSlack().start()
    for user_id, (name, _coordinator) in PEOPLE.items():
        fake.add_user(user_id, name)
    yield fake
    fake.stop()


def add_people(engine: Engine) -> None:
    with write_session(engine) as session:
        for user_id, (name, coordinator) in PEOPLE.items():
            session.add(Member(platform="slack", user_id=user_id, display_name=name,
                               role=COORDINATOR if coordinator else "contributor",
                               created_at=datetime(2026, 1, 1, tzinfo=UTC)))


@dataclass
class SlackBench:
    fake: FakeSlack
    engine: Engine
    runner: CommandRunner
    slack: SlackApp
    http: TestClient
    transport: SlackTransport
    acks: list[float]
    # What each named request was answered in its acknowledgement (a slash command's
    # answer travels there), beside what arrived on its response_url.
    acked: dict[str, list[dict[str, Any]]] = field(default_factory=dict)
    triggers: int = 0  # Slack gives every invocation a trigger id of its own

    # --- sending requests as Slack does ---------------------------------------------------

    def post(self, body: str, headers: dict[str, str]) -> httpx.Response:
        return self.http.post("/slack/events", content=body.encode(), headers=headers)

    def command(self, text: str, command: str = "/pitch", user: str = "U0DANA",
                response: str = "cmd") -> httpx.Response:
        fields = payload("slash_command.json")
        self.triggers += 1
        fields.update(command=command, text=text, user_id=user,
                      trigger_id=f"{self.triggers}.1700000000.{user.lower()}",
                      user_name=PEOPLE.get(user, (user,))[0].lower(),
                      response_url=self.fake.response_url(response))
        body = urlencode(fields)
        http_response = self.post(body, signed_headers(body))
        if http_response.status_code == 200 and http_response.content:
            self.acked.setdefault(response, []).append(http_response.json())
        return http_response

    def interact(self, data: dict[str, Any], retry: int | None = None) -> httpx.Response:
        # Response URLs in the recorded payloads point at Slack; answer them here instead.
        raw = json.dumps(data).replace("https://hooks.slack.com/", self.fake.root + "/response/")
        body = urlencode({"payload": raw})
        return self.post(body, signed_headers(body, retry=retry))

    def interact_pitch_form(self, title: str = "Muon tomography of a pyramid") -> httpx.Response:
        data = payload("view_submission_pitch.json")
        data["view"]["state"]["values"]["title"]["value"]["value"] = title
        return self.interact(data)

    def press(self, action: str, story_id: int, version: int, user: str = "U0ADA",
              action_ts: str = "1700000100.123456", response: str = "press",
              retry: int | None = None) -> httpx.Response:
        data = payload("block_actions.json")
        data["user"].update(id=user, username=PEOPLE[user][0].lower(),
                            name=PEOPLE[user][0].lower())
        data["response_url"] = self.fake.response_url(response)
        data["actions"][0].update(
            action_id=f"story_{action}", action_ts=action_ts,
            value=json.dumps({"story_id": story_id, "version": version}))
        return self.interact(data, retry=retry)

    # --- waiting and looking ------------------------------------------------------------

    def metadata(self, story: Story, response: str = "form") -> str:
        return json.dumps({"story_id": story.id, "version": story.version,
                           "channel_id": "C0TEAM",
                           "response_url": self.fake.response_url(response)})

    def settle(self) -> None:
        """Wait until the work started so far is done, then send the answers it queued
        (those to response URLs: a button's or a form's answer travels through the outbox)."""
        self.slack.settle()
        with write_session(self.engine) as session:
            answers = session.exec(select(Outbound).where(
                col(Outbound.unique_key).startswith("answer:"),
                Outbound.status == "pending")).all()
            for row in answers:
                self.transport.send(build_delivery(session, row))
                row.status = "sent"
                session.add(row)

    def dispatch(self) -> DispatchReport:
        return Dispatcher(self.engine, {"slack": self.transport}).dispatch_due(NOW)

    def stories(self) -> list[Story]:
        with read_session(self.engine) as session:
            return list(session.exec(select(Story).order_by(Story.id)).all())  # type: ignore[arg-type]

    def responses(self, name: str) -> list[dict[str, Any]]:
        """Every answer a named request got: in its ack, then on its response_url."""
        return self.acked.get(name, []) + [
            c.params for c in self.fake.calls_to("response_url")
            if c.params.get("response_id") == name]


def make_bench(engine: Engine, fake: FakeSlack, workers: int = 4,
               people: bool = True, inbox: Inbox | None = None) -> tuple[SlackBench, SlackApp]:
    if people:
        add_people(engine)
    client = make_web_client(TOKEN, fake.api_url, timeout=10)
    directory = SlackDirectory(client)
    runner = CommandRunner(engine, slack_policy(), {"slack": directory})
    acks: list[float] = []
    deps = SlackDeps(runner=runner, engine=engine, policy=slack_policy(), directory=directory,
                     clock=lambda: NOW, inbox=inbox)
    slack = build_app(deps, client=client, signing_secret=SECRET, workers=workers)
    http = TestClient(Starlette(routes=slack_routes(slack.bolt, SECRET,
                                                    observe_ack=acks.append)))
    transport = SlackTransport(make_web_client(TOKEN, fake.api_url, timeout=10, retry=False),
                               CHANNELS)
    return SlackBench(fake, engine, runner, slack, http, transport, acks), slack


@pytest.fixture
def bench(engine: Engine, fake_slack: FakeSlack) -> Iterator[SlackBench]:
    bench, slack = make_bench(engine, fake_slack)
    yield bench
    fake_slack.release()
    slack.close(wait=True)


@pytest.fixture
def inbox(tmp_path: Path) -> Iterator[Inbox]:
    inbox = Inbox(tmp_path / "inbox.db")
    yield inbox
    inbox.close()


@pytest.fixture
def held(engine: Engine, fake_slack: FakeSlack, inbox: Inbox) -> Iterator[SlackBench]:
    """The app wired with the inbox, as the runtime does: its replayers and its notifier."""
    bench, slack = make_bench(engine, fake_slack, inbox=inbox)
    slack.deps.answer_deadline = 0.1
    yield bench
    fake_slack.release()
    slack.close(wait=True)


def direct_messages(bench: SlackBench, user: str) -> list[str]:
    """The text of each message Slack took in the person's DM (a warning: with its sign)."""
    return [str(call.params.get("text")) for call in bench.fake.calls_to("chat.postMessage")
            if call.params.get("channel") == user and call.accepted]
