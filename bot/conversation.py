"""Talking to the bot outside slash commands, the same on Slack and Mattermost.

- A direct message to the bot is read as a `/story` command: `list mine`, `snooze 4 2`,
  `help` (a leading `/story` or `story` is allowed too; `pitch <title>` is `/pitch`).
- An @-mention of the bot in a channel is answered with the short help, once per mention.

Platforms may deliver a message again (Slack retries events; a Mattermost WebSocket
reconnects). Each message has an identity (Slack's event id, Mattermost's post id) that is
stored in the `handled_request` table in the same transaction as the command's effect, so a
copy changes nothing and is not answered twice.

The answer is posted straight back after the command committed. If that post fails (the
platform's API down for a moment), the answer goes to the outbox as the person's direct
message, so the dispatcher delivers it once the platform takes it again; so does a
mention's help (MENTION_HELP_BY_DM), when the person is a member.
"""

from __future__ import annotations

import re
from datetime import datetime

from sqlalchemy.engine import Engine

from bot.commands import Caller, CommandRunner, Request
from handlers import requests
from handlers.members import find_member
from handlers.outbox import notify_member
from handlers.reply import Paragraph, Reply
from storage.db import read_session, write_session

_LEADING_COMMAND = re.compile(r"^\s*/?(story|pitch)\b\s*", re.IGNORECASE)

MENTION_HELP = Reply(
    text="Hi, I'm Storydesk: I keep the newsroom's books.",
    blocks=(
        Paragraph("`/pitch <title>` proposes a story (`/pitch` alone opens a form); "
                  "`/story help` lists everything else."),
        Paragraph("In a direct message to me, type a command without the slash: "
                  "`list mine`, `show 12`, `snooze 12 2`, `help`."),
    ),
    visibility="in_channel",
)

# The short help for a mention whose channel did not take it: the person's direct message.
MENTION_HELP_BY_DM = Reply(
    text="You mentioned me in a channel, where my answer could not be posted. "
         + MENTION_HELP.text,
    blocks=MENTION_HELP.blocks,
)


def as_command(text: str) -> tuple[str, str]:
    """A direct message's text -> (command, its text): `/story` unless it starts with pitch."""
    match = _LEADING_COMMAND.match(text)
    if match is None:
        return "story", text.strip()
    return match.group(1).lower(), text[match.end():].strip()


def was_handled(engine: Engine, key: str) -> bool:
    with read_session(engine) as session:
        return requests.was_handled(session, key)


def remember_request(engine: Engine, key: str, platform: str, reply: Reply | None,
                     now: datetime, kind: str = "message") -> bool:
    """Store that the request `key` was handled; False if it had been already."""
    with write_session(engine) as session:
        if not requests.claim(session, key, platform, kind, now):
            return False
        if reply is not None:
            requests.remember_reply(session, key, reply)
    return True


def is_copy(reply: Reply) -> bool:
    """The runner's mark on the answer to a request it had handled before."""
    return bool(reply.data.get("repeated"))


def answer_direct_message(runner: CommandRunner, caller: Caller, text: str, now: datetime,
                          request_key: str) -> Reply | None:
    """Run the message as a command; None when this message was handled before.

    A command that writes records the key with its effect. Any other answer (a read, a
    refusal, an unknown word) is recorded after it: if a copy of the message, run at the
    same time, recorded it first, that copy's answer is the one given.
    """
    if was_handled(runner.engine, request_key):
        return None
    command, rest = as_command(text)
    if command == "pitch" and not rest:
        reply = Reply(text="In a direct message, pitch in one line: `pitch <title> "
                           "[#objective] [#format] [-- summary]` (or type `/pitch` alone "
                           "anywhere for the form).", tone="error")
    else:
        outcome = runner.run_request(caller, command, rest, now,
                                     Request(key=request_key, kind="message"))
        if outcome.recorded:
            return None if is_copy(outcome.reply) else outcome.reply
        reply = outcome.reply
    if not remember_request(runner.engine, request_key, caller.platform, reply, now):
        return None
    return reply


def answer_mention(engine: Engine, platform: str, request_key: str,
                   now: datetime) -> Reply | None:
    """The short help for an @-mention; None when this mention was answered before."""
    if not remember_request(engine, request_key, platform, MENTION_HELP, now, kind="mention"):
        return None
    return MENTION_HELP


def queue_answer(engine: Engine, caller: Caller, request_key: str, reply: Reply,
                 now: datetime) -> bool:
    """The answer to a direct message or a mention that could not be posted, into the
    outbox as the person's direct message (kind `answer`: not held for their working
    hours), once per request; False when the person is not a member yet (nothing was
    done for them)."""
    with write_session(engine) as session:
        member = find_member(session, caller.platform, caller.user_id)
        if member is None:
            return False
        notify_member(session, member, reply, key=f"answer:{request_key}"[:200], now=now,
                      kind="answer")
    return True
