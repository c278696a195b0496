"""The Mattermost WebSocket against a local WebSocket server playing Mattermost's end: a
direct message is a command, a mention gets the short help in its thread, the bot's own
posts and other bots' are ignored, a post delivered twice is answered once, and the
connection is opened again after it breaks."""

from __future__ import annotations

import json
import logging
import queue
import threading
import time
from collections.abc import Iterator
from datetime import datetime
from typing import Any

import pytest
from sqlalchemy.engine import Engine
from sqlmodel import select
from websockets.exceptions import ConnectionClosed
from websockets.sync.server import Server, ServerConnection, serve

from bot.commands import CommandRunner
from bot.delivery.dispatcher import Dispatcher
from bot.mattermost.listener import MattermostListener, websocket_url
from bot.mattermost.service import MattermostService
from handlers.context import Policy
from storage.db import read_session
from storage.delivery import ReminderSnooze
from storage.models import Outbound
from tests.mattermost.conftest import BOT_TOKEN, PAYLOADS, World, make_coordinators


class MattermostSocket:
    """Mattermost's WebSocket: checks the bot token, says hello, sends queued events."""

    def __init__(self, token: str) -> None:
        self.token = token
        self.outgoing: queue.Queue[dict[str, Any] | None] = queue.Queue()
        self.connections = 0
        self.refused = 0
        self.stopped = threading.Event()
        # its own quiet logger: its thread may log after a test's log capture has closed
        quiet = logging.getLogger("tests.fake_websocket")
        quiet.disabled = True
        self.server: Server = serve(self._session, "127.0.0.1", 0,
                                    process_request=self._check, logger=quiet)
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.server.socket.getsockname()[1]}"

    def _check(self, connection: ServerConnection, request: Any) -> Any:
        if request.path != "/api/v4/websocket" or \
                request.headers.get("Authorization") != f"Bearer {self.token}":
            self.refused += 1
            return connection.respond(401, "Unauthorized\n")
        return None

    def _session(self, connection: ServerConnection) -> None:
        self.connections += 1
        connection.send(json.dumps({"event": "hello", "data": {"server_version":
                                    "10.5.0.13523.abc.true"}, "broadcast": {}, "seq": 0}))
        while not self.stopped.is_set():
            try:
                message = self.outgoing.get(timeout=0.05)
            except queue.Empty:
                try:
                    connection.recv(timeout=0.01)  # notices a client that went away
                except TimeoutError:
                    pass
                except ConnectionClosed:
                    return
                continue
            if message is None:  # the test breaks the connection
                connection.close()
                return
            try:
                connection.send(json.dumps(message))
            except ConnectionClosed:
                return


@pytest.fixture
def socket() -> Iterator[MattermostSocket]:
    server = MattermostSocket(BOT_TOKEN)
    server.thread.start()
    yield server
    server.stopped.set()
    server.server.shutdown()


def posted(world: World, channel_id: str, user: str, message: str, *, channel_type: str,
           mentions: list[str] | None = None, post_id: str = "", props: dict[str, Any] | None
           = None, post_type: str = "") -> dict[str, Any]:
    post = json.loads((PAYLOADS / "ws_post.json").read_text())
    post.update(id=post_id or f"{len(message):02d}{abs(hash(message)) % 10**24:024d}",
                user_id=world.user(user) if user in world.users else user,
                channel_id=channel_id, message=message, type=post_type,
                pending_post_id=f"{user}:1764495000100")
    if props is not None:
        post["props"] = props
    event = json.loads((PAYLOADS / "ws_posted.json").read_text())
    event["data"].update(channel_type=channel_type, post=json.dumps(post), sender_name=f"@{user}",
                         mentions=json.dumps(mentions) if mentions else "",
                         channel_name="town-square" if channel_type == "O" else "dm",
                         channel_display_name="Town Square" if channel_type == "O" else "",
                         team_id=world.team if channel_type == "O" else "")
    event["broadcast"]["channel_id"] = channel_id
    return event


def dm_channel(world: World, service: MattermostService, user: str) -> str:
    return str(service.client.direct_channel(world.bot, world.user(user))["id"])


def wait_for_posts(world: World, channel_id: str, count: int, timeout: float = 10) -> list[
        dict[str, Any]]:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        posts = world.server.posts_in(channel_id)
        if len(posts) >= count:
            return posts
        time.sleep(0.02)
    raise AssertionError(f"expected {count} posts in {channel_id}, "
                         f"got {len(world.server.posts_in(channel_id))}")


@pytest.fixture
def listener(world: World, service: MattermostService, engine: Engine, mm_policy: Policy,
             clock_now: datetime, socket: MattermostSocket) -> Iterator[MattermostListener]:
    runner = CommandRunner(engine, mm_policy, {"mattermost": service.directory})
    make_coordinators(engine, world, ("ada",), clock_now)
    running = MattermostListener(service, runner, socket.base_url, BOT_TOKEN,
                                 clock=lambda: clock_now, first_pause=0.05).start()
    assert running.connected.wait(10)
    yield running
    running.stop()


def test_websocket_url() -> None:
    assert websocket_url("https://chat.lab.example/") == \
        "wss://chat.lab.example/api/v4/websocket"
    assert websocket_url("http://127.0.0.1:8065") == "ws://127.0.0.1:8065/api/v4/websocket"


def test_a_direct_message_is_a_command_and_a_copy_is_not_run_twice(
        world: World, service: MattermostService, socket: MattermostSocket,
        listener: MattermostListener, engine: Engine) -> None:
    channel = dm_channel(world, service, "dana")
    socket.outgoing.put(posted(world, channel, "dana", "help", channel_type="D",
                               post_id="h" * 26))
    [answer] = wait_for_posts(world, channel, 1)
    assert "Storydesk commands" in answer["message"]
    assert answer["user_id"] == world.bot

    # Dana pitches in the DM, then snoozes it; the same post delivered twice counts once.
    socket.outgoing.put(posted(world, channel, "dana", "pitch Neutrinos under the ice",
                               channel_type="D", post_id="p" * 26))
    wait_for_posts(world, channel, 2)
    snooze = posted(world, channel, "dana", "snooze 1 2", channel_type="D", post_id="s" * 26)
    socket.outgoing.put(snooze)
    socket.outgoing.put(snooze)
    socket.outgoing.put(posted(world, channel, "dana", "list mine", channel_type="D",
                               post_id="l" * 26))
    # Events are handled in order: once "list mine" is answered, so was the copy.
    wait_for_posts(world, channel, 4)
    posts = world.server.posts_in(channel)
    assert len(posts) == 4
    assert "Story #1 is pitched" in posts[1]["message"]
    assert "Snoozed" in posts[2]["message"]
    assert "Neutrinos under the ice" in json.dumps(posts[3])
    with read_session(engine) as session:
        assert len(session.exec(select(ReminderSnooze)).all()) == 1


def test_an_answer_in_a_direct_message_keeps_its_buttons_for_its_reader(
        world: World, service: MattermostService, socket: MattermostSocket,
        listener: MattermostListener) -> None:
    dana = dm_channel(world, service, "dana")
    socket.outgoing.put(posted(world, dana, "dana", "pitch Neutrinos under the ice",
                               channel_type="D", post_id="p" * 26))
    wait_for_posts(world, dana, 1)
    ada = dm_channel(world, service, "ada")
    socket.outgoing.put(posted(world, ada, "ada", "show 1", channel_type="D",
                               post_id="v" * 26))
    [card] = wait_for_posts(world, ada, 1)
    buttons = [button for attachment in card["props"].get("attachments", [])
               for button in attachment.get("actions", [])]
    assert {button["name"] for button in buttons} >= {"Accept", "Decline"}
    for button in buttons:
        signed = service.signer.verify_context(button["integration"]["context"])
        assert signed is not None and signed.user_id == world.user("ada")


def test_a_direct_message_that_fails_is_still_answered(
        world: World, service: MattermostService, socket: MattermostSocket,
        listener: MattermostListener, monkeypatch: pytest.MonkeyPatch) -> None:
    def broken(*args: Any, **kwargs: Any) -> None:
        raise RuntimeError("the database went away")

    monkeypatch.setattr("bot.mattermost.listener.answer_direct_message", broken)
    channel = dm_channel(world, service, "dana")
    socket.outgoing.put(posted(world, channel, "dana", "list mine", channel_type="D",
                               post_id="f" * 26))
    [answer] = wait_for_posts(world, channel, 1)
    assert "Something went wrong on our side; nothing was changed." in answer["message"]


def test_an_answer_mattermost_refuses_waits_in_the_outbox(
        world: World, service: MattermostService, socket: MattermostSocket,
        listener: MattermostListener, engine: Engine, clock_now: datetime) -> None:
    """The pitch committed, then Mattermost refused its answer: the answer is queued as
    Dana's direct message and the dispatcher delivers it, once."""
    channel = dm_channel(world, service, "dana")
    world.server.fail("POST", r"/api/v4/posts", 503)
    socket.outgoing.put(posted(world, channel, "dana", "pitch Neutrinos under the ice",
                               channel_type="D", post_id="q" * 26))
    deadline = time.monotonic() + 10
    while not queued_answers(engine) and time.monotonic() < deadline:
        time.sleep(0.02)
    [row] = queued_answers(engine)
    assert (row.unique_key, row.kind) == (f"answer:mattermost:post:{'q' * 26}", "answer")
    assert world.server.posts_in(channel) == []
    dispatcher = Dispatcher(engine, {"mattermost": service.transport})
    report = dispatcher.dispatch_due(clock_now)  # with the new story's card and its reviewer's DM
    assert row.id in {d.outbound_id for d in report.delivered}
    [answer] = world.server.posts_in(channel)
    assert "Story #1 is pitched" in answer["message"]
    assert dispatcher.dispatch_due(clock_now).sent == 0


def queued_answers(engine: Engine) -> list[Outbound]:
    with read_session(engine) as session:
        return list(session.exec(select(Outbound).where(Outbound.kind == "answer")).all())


def test_a_mention_mattermost_refuses_to_answer_waits_in_the_outbox(
        world: World, service: MattermostService, socket: MattermostSocket,
        listener: MattermostListener, engine: Engine, clock_now: datetime) -> None:
    """The channel did not take the help: it is queued as Dana's direct message, saying
    where she asked, and the dispatcher delivers it."""
    channel = dm_channel(world, service, "dana")
    socket.outgoing.put(posted(world, channel, "dana", "list mine", channel_type="D",
                               post_id="k" * 26))  # Dana is a member
    wait_for_posts(world, channel, 1)
    world.server.fail("POST", r"/api/v4/posts", 503)
    socket.outgoing.put(posted(world, world.town_square, "dana", "@storydesk help?",
                               channel_type="O", mentions=[world.bot], post_id="h" * 26))
    deadline = time.monotonic() + 10
    while not queued_answers(engine) and time.monotonic() < deadline:
        time.sleep(0.02)
    [row] = queued_answers(engine)
    assert row.unique_key == f"answer:mattermost:post:{'h' * 26}"
    assert world.server.posts_in(world.town_square) == []
    dispatcher = Dispatcher(engine, {"mattermost": service.transport})
    assert row.id in {d.outbound_id for d in dispatcher.dispatch_due(clock_now).delivered}
    answer = world.server.posts_in(channel)[-1]
    assert "You mentioned me in a channel, where my answer could not be posted" \
        in answer["message"]


def test_a_mention_gets_the_short_help_in_its_thread_and_bots_are_ignored(
        world: World, service: MattermostService, socket: MattermostSocket,
        listener: MattermostListener) -> None:
    square = world.town_square
    socket.outgoing.put(posted(world, square, "emil", "@storydesk how do I pitch?",
                               channel_type="O", mentions=[world.bot], post_id="m" * 26))
    socket.outgoing.put(posted(world, square, "emil", "lunch anyone?", channel_type="O",
                               post_id="n" * 26))
    socket.outgoing.put(posted(world, square, world.bot, "@storydesk echo", channel_type="O",
                               mentions=[world.bot], post_id="b" * 26))
    socket.outgoing.put(posted(world, square, "emil", "@storydesk from a bot",
                               channel_type="O", mentions=[world.bot], post_id="w" * 26,
                               props={"from_bot": "true"}))
    socket.outgoing.put(posted(world, square, "emil", "emil joined the channel",
                               channel_type="O", mentions=[world.bot], post_id="j" * 26,
                               post_type="system_join_channel"))
    # Events are handled in order: once this direct message is answered, so were those.
    channel = dm_channel(world, service, "dana")
    socket.outgoing.put(posted(world, channel, "dana", "help", channel_type="D",
                               post_id="z" * 26))
    wait_for_posts(world, channel, 1)
    [answer] = world.server.posts_in(square)
    assert "I'm Storydesk" in answer["message"]
    [created] = [call.body for call in world.server.calls("POST", "/api/v4/posts")
                 if call.body.get("channel_id") == square]
    assert created["root_id"] == "m" * 26


def test_the_connection_is_opened_again_after_it_breaks(
        world: World, service: MattermostService, socket: MattermostSocket,
        listener: MattermostListener) -> None:
    channel = dm_channel(world, service, "dana")
    socket.outgoing.put(None)
    deadline = time.monotonic() + 10
    while socket.connections < 2 and time.monotonic() < deadline:
        time.sleep(0.02)
    assert socket.connections == 2
    socket.outgoing.put(posted(world, channel, "dana", "help", channel_type="D",
                               post_id="r" * 26))
    assert wait_for_posts(world, channel, 1)


def test_a_wrong_token_is_refused_and_retried_later(
        world: World, service: MattermostService, engine: Engine, mm_policy: Policy,
        socket: MattermostSocket) -> None:
    runner = CommandRunner(engine, mm_policy, {"mattermost": service.directory})
    wrong = MattermostListener(service, runner, socket.base_url, "not-the-token",
                               first_pause=0.05).start()
    try:
        deadline = time.monotonic() + 10
        while socket.refused < 2 and time.monotonic() < deadline:
            time.sleep(0.02)
        assert socket.refused >= 2 and not wrong.connected.is_set()
    finally:
        wrong.stop()


def test_storydesk_run_starts_the_listener_with_mattermost(world: World, tmp_path: Any
                                                           ) -> None:
    from bot.mattermost.listener import websocket_starter
    from bot.runtime import build_runtime
    from bot.server import starters
    from tests.mattermost.conftest import mm_settings

    runtime = build_runtime(mm_settings(world, database_url=f"sqlite:///{tmp_path}/sd.db"))
    assert websocket_starter in starters(runtime)
    stop = websocket_starter(runtime)
    stop()  # the fake HTTP server refuses the upgrade; stopping still ends the thread
