"""Requests already handled: the database decides that a retried or replayed request runs once.

A chat platform may send the same interaction again (Slack retries an event or an
interaction with `X-Slack-Retry-Num`; a person double-clicks; a form is submitted twice; a
Mattermost dialog is submitted five times). Each request has an identity (a view id and
hash, a trigger id, a signed press id); the row with that key is inserted in the same
transaction as the request's effect, so the unique key, not a process's memory, decides
which of two copies takes effect, across processes and replicas. The stored reply lets a
copy that arrives later be answered the same way.
"""

from __future__ import annotations

from datetime import datetime

from sqlmodel import Field, SQLModel

from storage.models import utc_column


class HandledRequest(SQLModel, table=True):
    __tablename__ = "handled_request"

    key: str = Field(primary_key=True, max_length=200)
    platform: str = Field(max_length=20)
    kind: str = Field(max_length=20)  # command, button, view, dialog, ...
    reply: str | None = Field(default=None)  # the Reply as JSON, to answer a copy alike
    created_at: datetime | None = utc_column(nullable=False, index=True)
