"""The one way out: what the outbox dispatcher hands a platform, and what it gets back.

A Transport sends one outbound message (a DM, a channel post, a story card to create or
update, a file) and returns the platform's ids. It raises `TemporaryFailure` when trying
again later may work (429, 5xx, timeouts, connection errors) and `PermanentFailure` when it
will not (unknown channel, user gone, bot not in channel). Transports never touch the
database: the dispatcher reads the row, builds a Delivery, and records the result.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

from handlers.reply import Reply


class TemporaryFailure(Exception):
    """`retry_after`: the platform's Retry-After, when it said one. `scope`: what that
    holds back, "platform" (every send to it) or "destination" (this channel or person
    alone: Slack limits chat.postMessage and chat.update per channel)."""

    def __init__(self, message: str, retry_after: float | None = None,
                 scope: str = "platform") -> None:
        super().__init__(message)
        self.retry_after = retry_after
        self.scope = scope


class PermanentFailure(Exception):
    """`cause` is a short stable phrase ("channel_not_found"), used to group reports."""

    def __init__(self, cause: str, message: str = "") -> None:
        super().__init__(message or cause)
        self.cause = cause


@dataclass(frozen=True)
class Recipient:
    """The member a direct message goes to, as the platform knows them."""

    member_id: int
    user_id: str
    display_name: str
    dm_channel: str | None = None


@dataclass(frozen=True)
class CardRef:
    """Where a story card was posted before, so that it is updated rather than reposted."""

    channel_id: str
    message_id: str


@dataclass(frozen=True)
class Delivery:
    outbound_id: int
    platform: str
    kind: str  # "message", "card" or "file"
    reply: Reply
    channel: str | None = None  # logical channel: "team" or "group"
    recipient: Recipient | None = None
    story_id: int | None = None
    card: CardRef | None = None
    late: bool = False


@dataclass(frozen=True)
class SendResult:
    message_id: str
    channel_id: str | None = None
    dm_channel: str | None = None  # a DM channel the platform opened, worth caching
    calls: int = 1  # API calls the send took; the pacer charges the extra ones


class Transport(Protocol):
    platform: str

    def send(self, delivery: Delivery) -> SendResult: ...
