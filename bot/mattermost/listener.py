"""Mattermost's WebSocket: a direct message to the bot is a command, an @-mention gets help.

Mattermost sends slash commands, buttons and dialogs to the web app, but ordinary posts only
over its WebSocket (`/api/v4/websocket`, authenticated with the bot token). The bot account
receives a `posted` event for every post in its direct messages and in the channels it is a
member of; `data.mentions` names the users a post mentions. A post in a direct message
(`channel_type` "D") is read as a `/story` command, answered in the DM with its buttons
signed for the person who wrote (a command that fails is answered too: something went
wrong, nothing was changed); a post elsewhere that mentions the bot gets the short help,
in the post's thread. Ignored: the bot's own posts, other bots' and
webhooks' (`props.from_bot`, `props.from_webhook`), and system posts (a `type`).

The connection is kept open by a thread of its own and reopened after a growing pause when
it breaks. A reconnect may replay nothing, but the same post could still arrive twice (two
replicas each hold a connection): the post id goes into `handled_request` in the command's
transaction, so only one of them acts and answers.

`websockets` (a maintained, dependency-free client with a synchronous API) speaks to the
server; it is a main dependency for this reason.
"""

from __future__ import annotations

import json
import logging
import threading
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from websockets.exceptions import ConnectionClosed, InvalidHandshake, InvalidURI
from websockets.sync.client import ClientConnection, connect

from bot.commands import Caller, CommandRunner
from bot.conversation import (
    MENTION_HELP_BY_DM,
    answer_direct_message,
    answer_mention,
    queue_answer,
)
from bot.mattermost.directory import PLATFORM, MattermostDirectory
from bot.mattermost.service import MattermostService, RuntimeParts, service_from_parts
from bot.mattermost.transport import MattermostTransport
from handlers.reply import Reply

log = logging.getLogger(__name__)

MAX_PAUSE = 60.0
FAILED = Reply(text="Something went wrong on our side; nothing was changed.", tone="error")


def websocket_url(server_url: str) -> str:
    base = server_url.rstrip("/")
    if base.startswith("https://"):
        base = "wss://" + base[len("https://"):]
    elif base.startswith("http://"):
        base = "ws://" + base[len("http://"):]
    return base + "/api/v4/websocket"


class MattermostListener:
    def __init__(
        self,
        service: MattermostService,
        runner: CommandRunner,
        url: str,
        token: str,
        *,
        clock: Callable[[], datetime] | None = None,
        first_pause: float = 1.0,
    ) -> None:
        self.service = service
        self.runner = runner
        self.url = websocket_url(url)
        self.token = token
        self.clock = clock or (lambda: datetime.now(UTC))
        self.first_pause = first_pause
        self.stopping = threading.Event()
        self.connected = threading.Event()
        self.thread = threading.Thread(target=self.run, name="mattermost-websocket",
                                       daemon=True)

    def start(self) -> MattermostListener:
        self.thread.start()
        return self

    def stop(self) -> None:
        self.stopping.set()
        if self.thread.is_alive():
            self.thread.join(timeout=5)

    def run(self) -> None:
        pause = self.first_pause
        while not self.stopping.is_set():
            try:
                with connect(self.url, open_timeout=10, close_timeout=2,
                             additional_headers={"Authorization": f"Bearer {self.token}"}
                             ) as connection:
                    log.info("Mattermost: listening on %s", self.url)
                    self.connected.set()
                    pause = self.first_pause
                    self.listen(connection)
            except (OSError, InvalidHandshake, InvalidURI, ConnectionClosed,
                    TimeoutError) as error:
                log.warning("Mattermost WebSocket: %s; reconnecting in %.0f s", error, pause)
            self.connected.clear()
            self.stopping.wait(pause)
            pause = min(MAX_PAUSE, pause * 2)

    def listen(self, connection: ClientConnection) -> None:
        while not self.stopping.is_set():
            try:
                raw = connection.recv(timeout=0.5)
            except TimeoutError:
                continue
            try:
                self.handle(json.loads(raw))
            except Exception:
                log.exception("Mattermost event could not be handled")

    # --- events --------------------------------------------------------------------------

    def handle(self, event: dict[str, Any]) -> None:
        if event.get("event") != "posted":
            return
        data = event.get("data") or {}
        post = json.loads(data.get("post") or "{}")
        if not isinstance(post, dict) or not self.from_a_person(post):
            return
        key = f"mattermost:post:{post.get('id')}"
        channel_id = str(post.get("channel_id") or "")
        now = self.clock()
        if data.get("channel_type") == "D":
            self.answer_direct(post, str(data.get("sender_name") or ""), key, now)
            return
        if self.service.bot_user_id in _mentions(data):
            reply = answer_mention(self.runner.engine, PLATFORM, key, now)
            if reply is not None and not self.answer(
                    channel_id, reply, root_id=str(post.get("root_id") or post["id"])):
                user_id = str(post["user_id"])
                self.queue(Caller(PLATFORM, user_id, user_id, provisional=True), key,
                           MENTION_HELP_BY_DM)

    def answer_direct(self, post: dict[str, Any], sender_name: str, key: str,
                      now: datetime) -> None:
        """A direct message is a command; its answer's buttons are for the person who wrote.
        Whatever goes wrong, the person hears that it did, as on Slack."""
        user_id = str(post["user_id"])
        caller = Caller(PLATFORM, user_id, user_id, provisional=True)
        try:
            caller = self.service.directory.caller(user_id, sender_name.lstrip("@"))
            reply = answer_direct_message(self.runner, caller, str(post.get("message") or ""),
                                          now, key)
        except Exception:
            log.exception("direct message from %s failed", user_id)
            reply = FAILED
        if reply is None or self.answer(str(post.get("channel_id") or ""), reply,
                                        user_id=user_id):
            return
        self.queue(caller, key, reply)

    def queue(self, caller: Caller, key: str, reply: Reply) -> None:
        """An answer that could not be posted, into the outbox as the person's DM."""
        try:
            queued = queue_answer(self.runner.engine, caller, key, reply, self.clock())
        except Exception:
            log.exception("the answer to %s could not be queued either: it is lost", key)
            return
        if queued:
            log.warning("the answer to %s waits in the outbox for Mattermost", key)

    def from_a_person(self, post: dict[str, Any]) -> bool:
        props = post.get("props") or {}
        if not isinstance(props, dict):
            props = {}
        return bool(post.get("id")) and bool(post.get("user_id")) \
            and post.get("user_id") != self.service.bot_user_id \
            and not post.get("type") \
            and str(props.get("from_bot", "")).lower() != "true" \
            and str(props.get("from_webhook", "")).lower() != "true"

    def answer(self, channel_id: str, reply: Reply, root_id: str = "",
               user_id: str = "") -> bool:
        """Post `reply`; with `user_id`, its buttons are signed for that person."""
        rendered = self.service.renderer.render(reply, user_id=user_id)
        try:
            if root_id:
                body = rendered.post_body(channel_id)
                body["root_id"] = root_id
                self.service.client.create_post(body)
            else:
                self.service.transport.post(channel_id, rendered)
        except Exception as error:
            log.warning("answer in %s failed: %s", channel_id, error)
            return False
        return True


def _mentions(data: dict[str, Any]) -> list[str]:
    raw = data.get("mentions")
    try:
        found = json.loads(raw) if isinstance(raw, str) else raw
    except ValueError:
        return []
    return [str(user) for user in found] if isinstance(found, list) else []


def websocket_starter(runtime: RuntimeParts) -> Callable[[], None]:
    """For `storydesk run`: listen to the bot's posts; hand back the function that stops."""
    transport = runtime.transports.get("mattermost")
    directory = runtime.directories.get("mattermost")
    if not isinstance(transport, MattermostTransport) or not isinstance(
            directory, MattermostDirectory):
        return lambda: None
    service = service_from_parts(runtime.settings, transport, directory)
    listener = MattermostListener(service, runtime.runner, runtime.settings.mattermost_url,
                                  runtime.settings.mattermost_bot_token).start()
    return listener.stop
