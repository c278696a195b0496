"""Tables of scheduling and delivery: snoozed reminders and delivery notices.

A `ReminderSnooze` defers every direct reminder about one story to one member until a
moment; it never drops one. A `DeliveryNotice` records what the coordinators must hear
about: an outbound message that failed for good (grouped by cause into one report) or a
reminder that expired after downtime (counted in the next coordinators' post). Each notice
is reported once: `reported_at` is set in the same transaction as the report is queued.
"""

from __future__ import annotations

from datetime import datetime

import sqlalchemy as sa
from sqlmodel import Field, SQLModel

from storage.models import utc_column


class ReminderSnooze(SQLModel, table=True):
    __tablename__ = "reminder_snooze"
    __table_args__ = (sa.UniqueConstraint("member_id", "story_id", name="uq_snooze"),)

    id: int | None = Field(default=None, primary_key=True)
    member_id: int = Field(foreign_key="member.id", index=True)
    story_id: int = Field(foreign_key="story.id")
    until: datetime | None = utc_column(nullable=False)
    created_at: datetime | None = utc_column()


class DeliveryNotice(SQLModel, table=True):
    __tablename__ = "delivery_notice"
    __table_args__ = (sa.Index("ix_delivery_notice_open", "kind", "reported_at"),)

    id: int | None = Field(default=None, primary_key=True)
    kind: str = Field(max_length=20)  # "failed" or "expired"
    outbound_id: int = Field(foreign_key="outbound.id", unique=True)
    platform: str = Field(max_length=20)
    cause: str = Field(max_length=100)
    at: datetime | None = utc_column(nullable=False)
    reported_at: datetime | None = utc_column()
