"""Writing messages into the outbox, in the caller's transaction.

Nothing is sent from the handlers: a message is a row committed together with the change
it announces. The unique key makes enqueueing idempotent, so a repeated tick, a retried
interaction or a second replica never queues the same message twice. `enqueue` (and
`notify_member`, `post_to_channel`) give the new row back, for a caller that marks it;
`queue` writes any number of messages in one statement when nobody needs their rows, as a
command does inside its write transaction.

A message may carry a secret (a personal calendar link): its reply names it in
`data[SECRET]`, and the secret is blanked from the row once the message is done with (sent,
skipped, expired, failed) and from every export, so that the outbox keeps no working link.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from functools import cache
from typing import Any

from sqlalchemy.dialects.postgresql import insert as postgresql_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.sql.dml import Insert
from sqlmodel import Session, col, select

from handlers.reply import Reply
from storage.models import Member, Outbound

SECRET = "secret"  # Reply.data: a string of the message that the outbox must not keep
NOT_KEPT = "(a link Storydesk does not keep: `/story calendar reset` sends a new one)"


@dataclass(frozen=True)
class Message:
    """A message to queue with `queue`: for one channel or one member, under a unique key."""

    key: str
    platform: str
    reply: Reply
    channel: str | None = None
    member_id: int | None = None
    story_id: int | None = None
    kind: str = "message"
    due_at: datetime | None = None


def enqueue(
    session: Session,
    *,
    key: str,
    platform: str,
    reply: Reply,
    now: datetime,
    due_at: datetime | None = None,
    channel: str | None = None,
    member: Member | None = None,
    story_id: int | None = None,
    kind: str = "message",
) -> Outbound | None:
    """Queue `reply` for a channel or a member; returns None if `key` was queued before."""
    if (channel is None) == (member is None):
        raise ValueError("an outbound message goes to exactly one channel or one member")
    values = _row(Message(key, platform, reply, channel, member.id if member else None,
                          story_id, kind, due_at), now)
    # One statement that does nothing when the key exists, also when another replica
    # queued it a moment ago: the unique index decides, not a read before the write.
    dialect = session.get_bind().dialect.name
    insert = postgresql_insert if dialect == "postgresql" else sqlite_insert
    statement = (
        insert(Outbound)
        .values(**values)
        .on_conflict_do_nothing(index_elements=["unique_key"])
        .returning(Outbound)  # the new row itself, in the session: no second SELECT
    )
    return session.scalars(statement).first()


def queue(session: Session, messages: Sequence[Message], now: datetime) -> None:
    """Queue messages whose rows the caller does not need back, in one statement; each is
    skipped if its key was queued before, as by `enqueue`."""
    if not messages:
        return
    for message in messages:
        if (message.channel is None) == (message.member_id is None):
            raise ValueError("an outbound message goes to exactly one channel or one member")
    dialect = session.get_bind().dialect.name
    session.execute(_insert_new(dialect), [_row(message, now) for message in messages])


@cache
def _insert_new(dialect: str) -> Insert:
    """INSERT ... ON CONFLICT (unique_key) DO NOTHING, built once: the rows come as
    parameters, which costs a fraction of building the statement around each row."""
    insert = postgresql_insert if dialect == "postgresql" else sqlite_insert
    return insert(Outbound.__table__).on_conflict_do_nothing(  # type: ignore[attr-defined]
        index_elements=["unique_key"])


def _row(message: Message, now: datetime) -> dict[str, Any]:
    return {
        "unique_key": message.key,
        "platform": message.platform,
        "channel": message.channel,
        "member_id": message.member_id,
        "story_id": message.story_id,
        "kind": message.kind,
        "text": message.reply.text,
        "payload": message.reply.to_json(),
        "due_at": message.due_at or now,
        "created_at": now,
        "status": "pending",
        "attempts": 0,
        "late": False,
    }


def direct_message(member: Member, reply: Reply, *, key: str, story_id: int | None = None,
                   kind: str = "message", due_at: datetime | None = None) -> Message:
    """A direct message for `queue`, on the member's own platform (see notify_member)."""
    assert member.id is not None
    return Message(key, member.platform, reply, member_id=member.id, story_id=story_id,
                   kind=kind, due_at=due_at)


def channel_posts(platforms: Sequence[str], channel: str, reply: Reply, *, key: str,
                  story_id: int | None = None, kind: str = "message",
                  due_at: datetime | None = None) -> list[Message]:
    """A post to a logical channel on each platform, for `queue` (see post_to_channel)."""
    return [Message(f"{key}@{platform}", platform, reply, channel=channel, story_id=story_id,
                    kind=kind, due_at=due_at) for platform in platforms]


def notify_member(
    session: Session,
    member: Member,
    reply: Reply,
    *,
    key: str,
    now: datetime,
    due_at: datetime | None = None,
    story_id: int | None = None,
    kind: str = "message",
) -> Outbound | None:
    """A direct message, on the member's own platform. `kind="answer"` for the answer to the
    member's own request, which is not held for their working hours."""
    return enqueue(
        session,
        key=key,
        platform=member.platform,
        reply=reply,
        now=now,
        due_at=due_at,
        member=member,
        story_id=story_id,
        kind=kind,
    )


def post_to_channel(
    session: Session,
    platforms: tuple[str, ...] | list[str],
    channel: str,
    reply: Reply,
    *,
    key: str,
    now: datetime,
    due_at: datetime | None = None,
    story_id: int | None = None,
    kind: str = "message",
) -> list[Outbound]:
    """A post to a logical channel ("team" or "group") on each given platform."""
    rows = []
    for platform in platforms:
        row = enqueue(
            session,
            key=f"{key}@{platform}",
            platform=platform,
            reply=reply,
            now=now,
            due_at=due_at,
            channel=channel,
            story_id=story_id,
            kind=kind,
        )
        if row is not None:
            rows.append(row)
    return rows


def queued_everywhere(session: Session, key: str, platforms: Sequence[str]) -> bool:
    """Was the channel post under `key` queued on every platform (see post_to_channel)?"""
    wanted = [f"{key}@{platform}" for platform in platforms]
    found = session.exec(
        select(Outbound.unique_key).where(col(Outbound.unique_key).in_(wanted))
    ).all()
    return len(found) == len(wanted)


def without_secret(text: str, payload: str) -> tuple[str, str]:
    """A message's text and payload with the secret its reply names replaced by NOT_KEPT
    (unchanged when it names none)."""
    try:
        reply = json.loads(payload)
    except json.JSONDecodeError:
        return text, payload
    data = reply.get("data") if isinstance(reply, dict) else None
    secret = data.pop(SECRET, None) if isinstance(data, dict) else None
    if not isinstance(secret, str) or not secret:
        return text, payload
    blanked = _replaced(reply, secret)
    return text.replace(secret, NOT_KEPT), json.dumps(blanked, ensure_ascii=False,
                                                      sort_keys=True)


def forget_secret(row: Outbound) -> None:
    """Blank the row's secret, if it carries one: the message is done with."""
    text, payload = without_secret(row.text, row.payload)
    if payload != row.payload:
        row.text, row.payload = text, payload


def forget_secrets(session: Session, outbound_ids: list[int]) -> None:
    """Blank the secret of each of these rows that carries one."""
    marked = col(Outbound.payload).contains(f'"{SECRET}": ')  # as Reply.to_json writes it
    for row in session.exec(select(Outbound).where(col(Outbound.id).in_(outbound_ids), marked)):
        forget_secret(row)
        session.add(row)


def _replaced(value: Any, secret: str) -> Any:
    if isinstance(value, str):
        return value.replace(secret, NOT_KEPT)
    if isinstance(value, list):
        return [_replaced(item, secret) for item in value]
    if isinstance(value, dict):
        return {key: _replaced(item, secret) for key, item in value.items()}
    return value
