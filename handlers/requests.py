"""Run a request once: the database, not a process's memory, decides which copy takes effect.

Chat platforms send some requests more than once: Slack retries events and interactions,
a person double-clicks a button, a dialog is submitted five times while the network is slow,
two replicas each receive a copy. Every such request has a key that is the same for every
copy (a dialog state, a button's post and action, a view id and hash). Handling it goes:

    with write_session(engine) as session:          # the request's one transaction
        if not claim(session, key, "mattermost", "dialog", now):
            return stored_reply(session, key) or ALREADY_DONE   # a copy: no effect
        reply = do_the_work(session, ...)            # the effect, in the same transaction
        remember_reply(session, key, reply)          # so that a later copy is answered alike

`claim` inserts the key into `handled_request` with `INSERT ... ON CONFLICT DO NOTHING`
(SQLite and PostgreSQL alike), inside the caller's transaction:

- the key and the effect commit together, or neither does: a request whose work is refused
  or fails rolls its claim back and may be tried again;
- two copies racing in two processes meet at the primary key: on PostgreSQL the second
  insert waits for the first transaction and then does nothing (False) if it committed, or
  inserts (True) if it rolled back; on SQLite `BEGIN IMMEDIATE` serialises the two, and the
  second sees the first's committed row.

Keys are at most 200 characters; longer identities are hashed by `request_key`. Keys are
kept for REMEMBER_DAYS (longer than any button or form stays valid), then `forget_before`
removes them.
"""

from __future__ import annotations

import hashlib
from datetime import datetime, timedelta
from functools import cache

from sqlalchemy import bindparam, delete, update
from sqlalchemy.dialects.postgresql import insert as postgresql_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.sql.dml import Insert
from sqlmodel import Session, col

from handlers.reply import Reply
from storage.requests import HandledRequest

MAX_KEY_LENGTH = 200
# Buttons last 7 days and forms an hour: a copy arriving later is refused by its signature.
REMEMBER_DAYS = 8
_TABLE = HandledRequest.__table__  # type: ignore[attr-defined]
_REMEMBER = (
    update(_TABLE)
    .where(_TABLE.c.key == bindparam("request_key"))
    .values(reply=bindparam("reply_json"))
)


def request_key(*parts: str) -> str:
    """A key for `claim` made of `parts`, hashed when it would be too long."""
    key = ":".join(parts)
    if len(key) <= MAX_KEY_LENGTH:
        return key
    digest = hashlib.sha256(key.encode()).hexdigest()
    return f"{parts[0][:40]}:sha256:{digest}"


def claim(session: Session, key: str, platform: str, kind: str, now: datetime) -> bool:
    """Record `key` as handled in the session's transaction; False if it already was.

    Call it first in the transaction that carries the request's effect, and skip the effect
    when it returns False. The row becomes visible to others only when that transaction
    commits; a rollback releases the key.
    """
    if not key or len(key) > MAX_KEY_LENGTH:
        raise ValueError(f"a request key has 1 to {MAX_KEY_LENGTH} characters")
    dialect = session.get_bind().dialect.name
    row = {"key": key, "platform": platform[:20], "kind": kind[:20], "reply": None,
           "created_at": now}
    return session.execute(_claim(dialect), row).first() is not None


@cache
def _claim(dialect: str) -> Insert:
    """The claim's INSERT ... ON CONFLICT DO NOTHING, built once; the row comes as
    parameters."""
    insert = postgresql_insert if dialect == "postgresql" else sqlite_insert
    return (
        insert(_TABLE)
        .on_conflict_do_nothing(index_elements=["key"])
        .returning(_TABLE.c.key)
    )


def remember_reply(session: Session, key: str, reply: Reply) -> None:
    """Store the answer given to the claimed request `key`, for its later copies.

    One UPDATE of the row (`claim` never loads it into the session)."""
    result = session.execute(_REMEMBER, {"request_key": key, "reply_json": reply.to_json()})
    if getattr(result, "rowcount", 0) != 1:
        raise LookupError(f"request {key!r} was not claimed in this transaction")


def stored_reply(session: Session, key: str) -> Reply | None:
    """The answer remembered for `key`, or None (not handled, or handled without one)."""
    row = session.get(HandledRequest, key)
    if row is None or row.reply is None:
        return None
    return Reply.from_json(row.reply)


def was_handled(session: Session, key: str) -> bool:
    return session.get(HandledRequest, key) is not None


def forget_before(session: Session, now: datetime, days: float = REMEMBER_DAYS) -> int:
    """Delete the keys of requests handled more than `days` ago; returns how many."""
    cutoff = now - timedelta(days=days)
    result = session.execute(
        delete(HandledRequest).where(col(HandledRequest.created_at) < cutoff))
    return int(getattr(result, "rowcount", 0) or 0)
