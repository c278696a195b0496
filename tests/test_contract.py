"""One contract, three adapters: the same scenarios give the same replies everywhere.

The scenario (a pitch, its acceptance, showing it, an illegal move, help) is played through
each adapter's own entry point, as its platform would call it: the console's input lines,
Mattermost's slash-command requests (token and all) and Slack's signed requests through
bolt. Each adapter's answer is read back the way a person would see it (the console's
printed line, Mattermost's command response, Slack's response_url message), decoded to the
neutral reply's tone and text, and the three transcripts must be identical.

Each adapter starts from an empty database holding the same five people (three
coordinators), at the same moment, with the same rules.
"""

from __future__ import annotations

import io
import re
import warnings
from collections.abc import Callable
from datetime import UTC, datetime, time

from sqlalchemy.engine import Engine
from sqlmodel import SQLModel
from starlette.applications import Starlette

with warnings.catch_warnings():  # Starlette would rather have httpx2; httpx works the same
    warnings.simplefilter("ignore")
    from starlette.testclient import TestClient

from bot.commands import CommandRunner
from bot.console.adapter import Console, ConsoleTransport
from bot.delivery.dispatcher import Dispatcher
from bot.mattermost import render as mm_render
from bot.mattermost.dialogs import pitch_dialog
from bot.mattermost.service import build_mattermost
from bot.mattermost.web import MattermostEndpoints
from bot.metrics import Metrics
from bot.runtime import Runtime
from bot.slack import render as slack_render
from bot.slack.forms import pitch_modal
from config.settings import Settings
from handlers.context import Policy
from handlers.decisions import CadenceSlot
from handlers.members import COORDINATOR
from storage.db import write_session
from storage.models import Member
from tests.mattermost.fake_server import FakeMattermost
from tests.slack.conftest import make_bench
from tests.slack.fake_slack import FakeSlack

NOW = datetime(2026, 11, 23, 9, 30, tzinfo=UTC)  # a Monday
PEOPLE = (("Ada", True), ("Ben", True), ("Chloe", True), ("Dana", False), ("Emil", False))
SCENARIO = (
    ("Dana", "pitch", "Muon tomography of a volcano #scicomm -- Imaging magma with cosmic rays"),
    ("Ada", "story", "accept 1"),
    ("Emil", "story", "show 1"),
    ("Ada", "story", "approve 1"),  # accepted, not in review: an illegal move
    ("Dana", "story", "accept 1"),  # a contributor trying a coordinator's move
    ("Emil", "story", "help"),
    ("Emil", "story", "frobnicate 1"),
)
Step = tuple[str, str]  # (tone, text)


def policy(platform: str) -> Policy:
    return Policy(timezone="Europe/Berlin",
                  cadence=(CadenceSlot(1, time(18, 0)), CadenceSlot(3, time(18, 0))),
                  draft_days=14, channel_platforms=(platform,))


def fresh_database(engine: Engine) -> None:
    SQLModel.metadata.drop_all(engine)
    SQLModel.metadata.create_all(engine)


def add_people(engine: Engine, platform: str, user_id: Callable[[str], str]) -> None:
    with write_session(engine) as session:
        for name, coordinator in PEOPLE:
            session.add(Member(platform=platform, user_id=user_id(name), display_name=name,
                               role=COORDINATOR if coordinator else "contributor",
                               created_at=datetime(2026, 1, 1, tzinfo=UTC)))


def decode(text: str, marks: dict[str, str]) -> Step:
    for tone, mark in marks.items():
        if mark and text.startswith(mark):
            return tone, text[len(mark):]
    return "info", text


# --- the console ------------------------------------------------------------------------


def console_transcript(engine: Engine) -> list[Step]:
    fresh_database(engine)
    add_people(engine, "console", str.lower)
    out = io.StringIO()
    transports = {"console": ConsoleTransport(io.StringIO())}
    rules = policy("console")
    runtime = Runtime(Settings(), engine, rules, CommandRunner(engine, rules), transports,
                      Dispatcher(engine, transports), Metrics())
    console = Console(runtime, "Ada", NOW, out)
    transcript = []
    for person, command, text in SCENARIO:
        console.handle(f"/as {person}")
        start = out.tell()
        console.handle(f"/{command} {text}")
        first_line = out.getvalue()[start:].split("\n", 1)[0]
        transcript.append(decode(first_line, {"success": "✓ ", "warning": "! ",
                                              "error": "✗ "}))
    return transcript


# --- Mattermost -------------------------------------------------------------------------


def mattermost_transcript(engine: Engine) -> list[Step]:
    fresh_database(engine)
    server = FakeMattermost().start()
    try:
        bot = server.add_user("storydesk", "Storydesk", bot=True, token="c" * 26)
        ids = {name: server.add_user(name.lower(), name) for name, _ in PEOPLE}
        team = server.add_team("lab", [bot, *ids.values()])
        channel = server.add_channel(team, "storydesk-team", [bot, *ids.values()])
        server.add_channel(team, "general", [bot, *ids.values()])
        add_people(engine, "mattermost", ids.__getitem__)
        settings = Settings(mattermost_url=server.url, mattermost_bot_token="c" * 26,
                            mattermost_command_tokens=("t" * 26,),
                            public_url="https://storydesk.lab.example")
        service = build_mattermost(settings)
        rules = policy("mattermost")
        runner = CommandRunner(engine, rules, {"mattermost": service.directory})
        endpoints = MattermostEndpoints(service, runner, engine, rules, clock=lambda: NOW)
        transcript = []
        with TestClient(Starlette(routes=endpoints.routes())) as client:
            for person, command, text in SCENARIO:
                response = client.post("/mattermost/command", data={
                    "channel_id": channel, "channel_name": "storydesk-team", "team_id": team,
                    "team_domain": "lab", "command": f"/{command}", "text": text,
                    "user_id": ids[person], "user_name": person.lower(),
                    "response_url": server.hook_url(), "trigger_id": server.issue_trigger(),
                }, headers={"Authorization": f"Token {'t' * 26}"})
                assert response.status_code == 200, response.text
                shown = mm_render.unescape(response.json()["text"])
                transcript.append(decode(shown, mm_render.TONE_MARK))
        endpoints.close()
        service.client.close()
        assert server.violations == []
    finally:
        server.stop()
    return transcript


# --- Slack ------------------------------------------------------------------------------


def slack_transcript(engine: Engine) -> list[Step]:
    fresh_database(engine)
    fake = FakeSlack().start()
    try:
        for name, _ in PEOPLE:
            fake.add_user(f"U0{name.upper()}", name)
        bench, app = make_bench(engine, fake)
        transcript = []
        try:
            for number, (person, command, text) in enumerate(SCENARIO):
                response = bench.command(text, command=f"/{command}", user=f"U0{person.upper()}",
                                         response=f"step{number}")
                assert response.status_code == 200, response.text
                bench.settle()
                [answer] = bench.responses(f"step{number}")
                shown = slack_render.unescape(str(answer["text"]))
                transcript.append(decode(shown, slack_render.TONE_MARK))
        finally:
            fake.release()
            app.close(wait=True)
    finally:
        fake.stop()
    return transcript


def test_console_mattermost_and_slack_give_the_same_replies(engine: Engine) -> None:
    console = console_transcript(engine)
    assert [tone for tone, _ in console] == [
        "success", "success", "info", "error", "error", "info", "error"]
    assert re.match(r"Thanks! Story #1 is pitched\. Reviewer: Ada", console[0][1])
    assert console[3][1].startswith("Story #1 is accepted, so you cannot approve it.")
    assert mattermost_transcript(engine) == console
    assert slack_transcript(engine) == console


def test_the_pitch_form_has_the_same_fields_on_slack_and_mattermost() -> None:
    slack_fields = [block["block_id"] for block in pitch_modal()["blocks"]]
    mattermost_fields = [element["name"] for element in pitch_dialog("state")["elements"]]
    assert mattermost_fields == slack_fields
    assert "title" in slack_fields and "embargo_until" in slack_fields
