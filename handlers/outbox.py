"""Writing messages into the outbox, in the caller's transaction.

Nothing is sent from the handlers: a message is a row committed together with the change
it announces. The unique key makes enqueueing idempotent, so a repeated tick, a retried
interaction or a second replica never queues the same message twice.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy.dialects.postgresql import insert as postgresql_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlmodel import Session

from handlers.reply import Reply
from storage.models import Member, Outbound


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
    values = {
        "unique_key": key,
        "platform": platform,
        "channel": channel,
        "member_id": member.id if member else None,
        "story_id": story_id,
        "kind": kind,
        "text": reply.text,
        "payload": reply.to_json(),
        "due_at": due_at or now,
        "created_at": now,
        "status": "pending",
        "attempts": 0,
        "late": False,
    }
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
