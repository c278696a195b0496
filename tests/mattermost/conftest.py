"""Fixtures of the Mattermost adapter's tests: a fake Mattermost and the adapter wired to it."""

from __future__ import annotations

import json
import warnings
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, time
from pathlib import Path
from string import Template
from typing import Any
from urllib.parse import quote

import pytest
from sqlalchemy.engine import Engine
from starlette.applications import Starlette

with warnings.catch_warnings():  # Starlette would rather have httpx2; httpx works the same
    warnings.simplefilter("ignore")
    from starlette.testclient import TestClient

from bot.commands import CommandRunner
from bot.delivery.dispatcher import Dispatcher
from bot.mattermost.service import MattermostService, build_mattermost
from bot.mattermost.web import MattermostEndpoints
from config.settings import Settings
from handlers.context import Policy
from handlers.decisions import CadenceSlot
from handlers.members import COORDINATOR, ensure_member
from storage.db import write_session
from tests.mattermost.fake_server import FakeMattermost

PAYLOADS = Path(__file__).parent / "payloads"
BOT_TOKEN = "9xuqwrwgstrb3mzrxb83nb357a"
PITCH_TOKEN = "xr3j5x3p4pfm3m8cmt7ycbrnpc"
STORY_TOKEN = "b8tq1ffaq7gsxm1gyrmwnmwbqe"
PUBLIC_URL = "https://storydesk.lab.example"


@dataclass
class World:
    """The fake server and who lives on it."""

    server: FakeMattermost
    bot: str
    team: str
    team_channel: str
    town_square: str
    users: dict[str, str] = field(default_factory=dict)  # username -> id

    def user(self, name: str) -> str:
        return self.users[name]


@pytest.fixture
def world() -> Iterator[World]:
    server = FakeMattermost().start()
    bot = server.add_user("storydesk", "Storydesk", "", bot=True, token=BOT_TOKEN)
    users = {
        "ada": server.add_user("ada", "Ada", "Lovelace", timezone="Europe/Berlin", locale="de"),
        "ben": server.add_user("ben", "Ben", "Okafor", timezone="America/Chicago"),
        "chloe": server.add_user("chloe", "Chloe", "Martin", timezone="Europe/Paris",
                                 locale="fr"),
        "dana": server.add_user("dana", "Dana", "Kim", timezone="Asia/Seoul"),
        "emil": server.add_user("emil", "Emil", "Larsen"),
    }
    everyone = [bot, *users.values()]
    team = server.add_team("lab", everyone)
    team_channel = server.add_channel(team, "storydesk-team", everyone)
    town_square = server.add_channel(team, "town-square", everyone)
    yield World(server, bot, team, team_channel, town_square, users)
    server.stop()


def mm_settings(world: World, **overrides: Any) -> Settings:
    values: dict[str, Any] = {
        "mattermost_url": world.server.url,
        "mattermost_bot_token": BOT_TOKEN,
        "mattermost_command_tokens": (PITCH_TOKEN, STORY_TOKEN),
        "public_url": PUBLIC_URL,
        "team_channel": "storydesk-team",
        "group_channel": "lab/town-square",
        "send_timeout_seconds": 5,
    }
    values.update(overrides)
    return Settings(**values)


@pytest.fixture
def settings(world: World) -> Settings:
    return mm_settings(world)


@pytest.fixture
def service(settings: Settings) -> Iterator[MattermostService]:
    built = build_mattermost(settings)
    yield built
    built.client.close()


@pytest.fixture
def mm_policy() -> Policy:
    return Policy(
        timezone="Europe/Berlin",
        cadence=(CadenceSlot(1, time(18, 0)), CadenceSlot(3, time(18, 0))),
        draft_days=14,
        channel_platforms=("mattermost",),
    )


@pytest.fixture
def clock_now() -> datetime:
    return datetime(2026, 11, 23, 9, 30, tzinfo=UTC)  # a Monday


def make_coordinators(engine: Engine, world: World, names: tuple[str, ...],
                      now: datetime) -> None:
    with write_session(engine) as session:
        for name in names:
            member = ensure_member(session, "mattermost", world.user(name), name.title(), now)
            member.role = COORDINATOR
            session.add(member)


@dataclass
class Adapter:
    """The Mattermost endpoints on a Starlette app, with the outbox dispatcher beside them."""

    world: World
    service: MattermostService
    runner: CommandRunner
    endpoints: MattermostEndpoints
    client: TestClient
    dispatcher: Dispatcher
    now: datetime

    def command(self, user: str, command: str, text: str = "", *, token: str | None = None,
                header: bool = True, response_url: str | None = None,
                trigger_id: str | None = None) -> Any:
        token = STORY_TOKEN if token is None else token
        body = slash_command_body(self.world, user, command, text,
                                  token="" if header else token,
                                  response_url=response_url or self.world.server.hook_url(),
                                  trigger_id=trigger_id or self.world.server.issue_trigger())
        headers = {"Content-Type": "application/x-www-form-urlencoded"}
        if header:
            headers["Authorization"] = f"Token {token}"
        return self.client.post("/mattermost/command", content=body, headers=headers)

    def press(self, user: str, context: Any, post_id: str = "", trigger_id: str = "") -> Any:
        """Press a button as Mattermost would: on the post the button sits on, by `user`."""
        if not post_id and isinstance(context, dict):
            post_id = str(context.get("post") or "")
        body = fill_json("button_action.json", {
            "user_id": self.world.user(user), "user_name": user,
            "channel_id": self.world.team_channel, "team_id": self.world.team,
            "post_id": post_id or "p" * 26,
            "trigger_id": trigger_id or self.world.server.issue_trigger(),
            "context": json.dumps(context),
        })
        return self.client.post("/mattermost/action", content=body,
                                headers={"Content-Type": "application/json"})

    def submit(self, user: str, callback_id: str, state: str,
               submission: dict[str, Any] | None, *, cancelled: bool = False) -> Any:
        name = "dialog_cancelled.json" if cancelled else "dialog_submission.json"
        body = fill_json(name, {
            "callback_id": callback_id, "state": json.dumps(state),
            "user_id": self.world.user(user), "channel_id": self.world.team_channel,
            "team_id": self.world.team, "submission": json.dumps(submission),
        })
        return self.client.post("/mattermost/dialog", content=body,
                                headers={"Content-Type": "application/json"})

    def deliver(self) -> None:
        self.dispatcher.dispatch_due(self.now)


def slash_command_body(world: World, user: str, command: str, text: str, *, token: str,
                       response_url: str, trigger_id: str) -> str:
    template = Template((PAYLOADS / "slash_command.form").read_text().strip())
    return template.substitute(
        channel_id=world.team_channel, command=command, response_url=quote(response_url, ""),
        team_id=world.team, text=quote(text, ""), token=quote(token, ""),
        trigger_id=quote(trigger_id, ""), user_id=world.user(user), user_name=user,
    )


def fill_json(name: str, values: dict[str, str]) -> str:
    text = Template((PAYLOADS / name).read_text()).substitute(values)
    json.loads(text)  # the fixture stays valid JSON
    return text


@pytest.fixture
def adapter(
    world: World, service: MattermostService, engine: Engine, mm_policy: Policy,
    clock_now: datetime,
) -> Iterator[Adapter]:
    runner = CommandRunner(engine, mm_policy, {"mattermost": service.directory})
    endpoints = MattermostEndpoints(service, runner, engine, mm_policy,
                                    clock=lambda: clock_now)
    app = Starlette(routes=endpoints.routes())
    dispatcher = Dispatcher(engine, {"mattermost": service.transport})
    make_coordinators(engine, world, ("ada", "ben", "chloe"), clock_now)
    with TestClient(app) as client:
        yield Adapter(world, service, runner, endpoints, client, dispatcher, clock_now)
    endpoints.close()
