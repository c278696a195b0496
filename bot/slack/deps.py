"""What the Slack listeners need, in one place: wired by the composition root
(bot/slack/service.py), or by a test.

A module of its own so that the listeners (bot/slack/app.py), the deadline machinery under
them (bot/slack/deadline.py) and the conversation (bot/slack/conversation.py) all name it
without importing each other. The two deadlines are defaults here; what they mean is told
in bot/slack/deadline.py.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, date, datetime

from sqlalchemy.engine import Engine

from bot.commands import CommandRunner
from bot.inbox import Inbox
from bot.slack.directory import SlackDirectory
from handlers.context import Policy
from handlers.stories import local_today

# Slack gives up after three seconds; what has not committed by then is answered later.
ANSWER_DEADLINE = 2.0
# With nothing in the inbox, the work is waited for until the ack can only just reach Slack.
ACK_DEADLINE = 2.7


def utc_now() -> datetime:
    return datetime.now(UTC)


@dataclass
class SlackDeps:
    """What the listeners need; wired by the composition root, or by a test."""

    runner: CommandRunner
    engine: Engine
    policy: Policy
    directory: SlackDirectory
    clock: Callable[[], datetime] = utc_now
    inbox: Inbox | None = None
    answer_deadline: float = ANSWER_DEADLINE
    ack_deadline: float = ACK_DEADLINE
    count_inbox_failure: Callable[[str], None] | None = None  # by the error's type name

    def today(self) -> date:
        return local_today(self.clock(), self.policy)
