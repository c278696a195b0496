"""Personal calendar feeds: one secret link per member.

Only a SHA-256 fingerprint of each link's token is kept, so that a copy of the database
(a backup, an export) does not hand out working links. A member has at most one link;
replacing it makes the old one stop working at once.
"""

from __future__ import annotations

from datetime import datetime

from sqlmodel import Field, SQLModel

from storage.models import utc_column


class CalendarToken(SQLModel, table=True):
    __tablename__ = "calendar_token"

    id: int | None = Field(default=None, primary_key=True)
    member_id: int = Field(foreign_key="member.id", unique=True)
    token_hash: str = Field(max_length=64, unique=True)  # hex SHA-256 of the token
    created_at: datetime | None = utc_column(nullable=False)
    last_used_at: datetime | None = utc_column()
