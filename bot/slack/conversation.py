"""Slack events: a direct message to the bot is a command, an @-mention gets the short help.

Subscribed events (see the manifest): `message.im`, the messages in the bot's own direct
messages, and `app_mention`, a message that mentions the bot in a channel it is in. They
arrive the same way in Socket Mode and over HTTP (`/slack/events`, signed), and bolt
acknowledges them. Ignored: the bot's own messages, other bots' (`bot_id`), and edits,
joins and other message subtypes. Slack retries an event it thinks was not received
(`X-Slack-Retry-Num`); the event id is stored with the command's effect in the
`handled_request` table, so a retried event is neither run nor answered twice.

The command commits before the event is acknowledged; the answer is posted after, on the
app's background threads, and the person is taken as far as known without asking Slack,
so a slow Web API delays neither the acknowledgement (Slack retries an event after three
seconds) nor the command.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Callable
from typing import Any

from slack_bolt import App
from slack_sdk import WebClient

from bot.commands import Caller
from bot.conversation import (
    MENTION_HELP_BY_DM,
    answer_direct_message,
    answer_mention,
    queue_answer,
)
from bot.slack.client import post_message
from bot.slack.deps import SlackDeps
from bot.slack.incoming import command_text
from handlers.reply import Reply

log = logging.getLogger(__name__)

_LEADING_MENTION = re.compile(r"^\s*<@[A-Z0-9]+(?:\|[^>]*)?>[\s:,]*", re.IGNORECASE)


# Runs a function after the acknowledgement, on the app's background threads.
After = Callable[..., None]


def register_conversation(app: App, deps: SlackDeps, after: After,
                          refresh: Callable[[Caller], None]) -> None:
    conversation = Conversation(deps, after, refresh)
    app.event("app_mention")(conversation.on_mention)
    app.event("message")(conversation.on_message)


def request_key(body: dict[str, Any], event: dict[str, Any]) -> str:
    """The event's identity: Slack keeps `event_id` across retries."""
    identity = body.get("event_id") or f"{event.get('channel')}:{event.get('ts')}"
    return f"slack:event:{identity}"


def from_a_person(event: dict[str, Any], bot_user_id: str | None) -> bool:
    user = event.get("user")
    return bool(user) and user != bot_user_id and not event.get("bot_id") \
        and not event.get("subtype")


class Conversation:
    def __init__(self, deps: SlackDeps, after: After,
                 refresh: Callable[[Caller], None]) -> None:
        self.deps = deps
        self.after = after
        self.refresh = refresh  # a first-seen person's profile, asked after the answer

    def on_message(self, body: dict[str, Any], event: dict[str, Any], context: Any,
                   client: WebClient) -> None:
        if event.get("channel_type") != "im" or not from_a_person(event, context.bot_user_id):
            return
        text = _LEADING_MENTION.sub("", command_text(str(event.get("text") or "")))
        user_id = str(event["user"])
        caller = self.deps.directory.cached(user_id) or Caller(
            "slack", user_id, user_id, provisional=True)
        try:
            reply = answer_direct_message(self.deps.runner, caller, text, self.deps.clock(),
                                          request_key(body, event))
        except Exception:
            log.exception("direct message from %s failed", user_id)
            reply = Reply(text="Something went wrong on our side; nothing was changed.",
                          tone="error")
        if reply is not None:
            self.after(self.answer, client, str(event.get("channel") or user_id), reply,
                       caller, request_key(body, event))
        if caller.provisional:
            self.after(self.refresh, caller)

    def on_mention(self, body: dict[str, Any], event: dict[str, Any], context: Any,
                   client: WebClient) -> None:
        if not from_a_person(event, context.bot_user_id):
            return
        key = request_key(body, event)
        reply = answer_mention(self.deps.engine, "slack", key, self.deps.clock())
        if reply is not None:
            user_id = str(event["user"])
            caller = self.deps.directory.cached(user_id) or Caller(
                "slack", user_id, user_id, provisional=True)
            thread = str(event.get("thread_ts") or event.get("ts") or "")
            self.after(self.answer, client, str(event.get("channel") or ""), reply, caller,
                       key, thread, MENTION_HELP_BY_DM)

    def answer(self, client: WebClient, channel: str, reply: Reply, caller: Caller,
               key: str, thread: str = "", by_dm: Reply | None = None) -> None:
        """The answer to a direct message or a mention; one that cannot be posted now
        waits in the outbox (as `by_dm`, if given) for the platform to take it."""
        if post_message(client, channel, reply, thread):
            return
        try:
            queued = queue_answer(self.deps.engine, caller, key, by_dm or reply,
                                  self.deps.clock())
        except Exception:
            log.exception("the answer to %s could not be queued either: it is lost", key)
            return
        if queued:
            log.warning("the answer to %s waits in the outbox for Slack", key)
