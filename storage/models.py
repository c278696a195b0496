"""SQLModel tables of the core: members, stories and their history, the calendar, the outbox.

Every timestamp is stored in UTC through `UTCDateTime`, which hands back aware datetimes on
SQLite and PostgreSQL alike. Enumerated values are stored as short strings so that a new
value needs no migration of a database enum type.
"""

from __future__ import annotations

from datetime import UTC, date, datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.types import TypeDecorator
from sqlmodel import Field, SQLModel


class UTCDateTime(TypeDecorator[datetime]):
    """Aware datetimes in, aware UTC datetimes out; stored as naive UTC."""

    impl = sa.DateTime
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Any) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given to a UTC column; pass an aware datetime")
        return value.astimezone(UTC).replace(tzinfo=None)

    def process_result_value(self, value: datetime | None, dialect: Any) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=UTC)


def utc_column(nullable: bool = True, index: bool = False) -> Any:
    return Field(default=None, sa_type=UTCDateTime, nullable=nullable, index=index)


class Member(SQLModel, table=True):
    __tablename__ = "member"
    __table_args__ = (sa.UniqueConstraint("platform", "user_id", name="uq_member_identity"),)

    id: int | None = Field(default=None, primary_key=True)
    platform: str = Field(max_length=20)
    user_id: str = Field(max_length=64)
    display_name: str = Field(max_length=100)
    timezone: str | None = Field(default=None, max_length=64)
    locale: str | None = Field(default=None, max_length=20)
    role: str = Field(default="contributor", max_length=20)
    reminders_enabled: bool = Field(default=True)
    dm_channel: str | None = Field(default=None, max_length=64)
    last_assigned_at: datetime | None = utc_column()
    created_at: datetime | None = utc_column()


class Story(SQLModel, table=True):
    __tablename__ = "story"

    id: int | None = Field(default=None, primary_key=True)
    title: str = Field(max_length=200)
    summary: str = Field(default="", max_length=4000)
    objective: str | None = Field(default=None, max_length=20)
    format: str | None = Field(default=None, max_length=20)
    author_id: int = Field(foreign_key="member.id", index=True)
    featured: str = Field(default="", max_length=1000)
    result_link: str | None = Field(default=None, max_length=500)
    embargo_until: date | None = Field(default=None)
    reviewer_id: int | None = Field(default=None, foreign_key="member.id", index=True)
    assignment_reason: str = Field(default="", max_length=500)
    state: str = Field(default="pitched", max_length=20, index=True)
    draft_due: date | None = Field(default=None)
    draft_link: str | None = Field(default=None, max_length=500)
    decline_reason: str | None = Field(default=None, max_length=1000)
    scheduled_at: datetime | None = utc_column(index=True)
    permalink: str | None = Field(default=None, max_length=500)
    media_id: str | None = Field(default=None, max_length=64, index=True)
    created_at: datetime | None = utc_column()
    state_changed_at: datetime | None = utc_column()
    published_at: datetime | None = utc_column(index=True)
    version: int = Field(default=1)


class StoryEvent(SQLModel, table=True):
    """One line of a story's history: who did what, when."""

    __tablename__ = "story_event"

    id: int | None = Field(default=None, primary_key=True)
    story_id: int = Field(foreign_key="story.id", index=True)
    actor_id: int | None = Field(default=None, foreign_key="member.id")
    at: datetime | None = utc_column(nullable=False)
    action: str = Field(max_length=40)
    from_state: str | None = Field(default=None, max_length=20)
    to_state: str | None = Field(default=None, max_length=20)
    detail: str = Field(default="", max_length=2000)


class AwayPeriod(SQLModel, table=True):
    __tablename__ = "away_period"

    id: int | None = Field(default=None, primary_key=True)
    member_id: int = Field(foreign_key="member.id", index=True)
    first_day: date
    last_day: date


class CalendarEvent(SQLModel, table=True):
    """A one-off event (conference, open day) or an extra publication slot."""

    __tablename__ = "calendar_event"

    id: int | None = Field(default=None, primary_key=True)
    title: str = Field(max_length=200)
    starts_at: datetime | None = utc_column(nullable=False, index=True)
    is_slot: bool = Field(default=False)
    created_by: int | None = Field(default=None, foreign_key="member.id")


class Outbound(SQLModel, table=True):
    """The outbox: a message to send, committed with the change that caused it.

    `channel` names a logical channel ("team", "group") resolved by the platform adapter;
    `member_id` names the recipient of a direct message. `payload` is the neutral reply as
    JSON, rendered for the platform at send time. `unique_key` makes enqueueing idempotent.
    """

    __tablename__ = "outbound"
    __table_args__ = (
        sa.Index("ix_outbound_due", "status", "due_at"),
        # One recipient's messages: a member's last nudge, a DM that reached them today.
        sa.Index("ix_outbound_member", "member_id", "created_at"),
    )

    id: int | None = Field(default=None, primary_key=True)
    unique_key: str = Field(max_length=200, unique=True)
    platform: str = Field(max_length=20)
    channel: str | None = Field(default=None, max_length=40)
    member_id: int | None = Field(default=None, foreign_key="member.id")
    story_id: int | None = Field(default=None, foreign_key="story.id")
    kind: str = Field(default="message", max_length=20)
    text: str = Field(sa_type=sa.Text)
    payload: str = Field(default="{}", sa_type=sa.Text)
    due_at: datetime | None = utc_column(nullable=False)
    created_at: datetime | None = utc_column()
    status: str = Field(default="pending", max_length=20)
    attempts: int = Field(default=0)
    lease_owner: str | None = Field(default=None, max_length=80)
    lease_until: datetime | None = utc_column()
    sent_at: datetime | None = utc_column()
    late: bool = Field(default=False)
    platform_message_id: str | None = Field(default=None, max_length=100)
    last_error: str | None = Field(default=None, max_length=500)


class StoryCard(SQLModel, table=True):
    """Where a story's card was posted on a platform, so it can be updated in place."""

    __tablename__ = "story_card"
    __table_args__ = (sa.UniqueConstraint("platform", "story_id", name="uq_story_card"),)

    id: int | None = Field(default=None, primary_key=True)
    platform: str = Field(max_length=20)
    story_id: int = Field(foreign_key="story.id")
    channel_id: str = Field(max_length=64)
    message_id: str = Field(max_length=100)


class SystemState(SQLModel, table=True):
    """Small named facts the bot keeps, such as whether the team was seeded."""

    __tablename__ = "system_state"

    key: str = Field(primary_key=True, max_length=80)
    value: str = Field(default="", max_length=1000)
