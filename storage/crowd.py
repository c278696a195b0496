"""Crowd health: the members' opt-in profiles and the members featured in a story.

A profile row exists only for a member who chose to give something; each field is
optional and removable. Profiles are read only in aggregate (the coordinators' stats),
never shown to anyone but their owner.
"""

from __future__ import annotations

from datetime import datetime

import sqlalchemy as sa
from sqlmodel import Field, SQLModel

from storage.models import utc_column


class MemberProfile(SQLModel, table=True):
    __tablename__ = "member_profile"

    member_id: int = Field(foreign_key="member.id", primary_key=True)
    career: str | None = Field(default=None, max_length=20)
    country: str | None = Field(default=None, max_length=2)
    gender: str | None = Field(default=None, max_length=40)
    updated_at: datetime | None = utc_column(nullable=False)


class StoryFeature(SQLModel, table=True):
    """A member who appears in a story (`/story feature N @a @b`)."""

    __tablename__ = "story_feature"
    __table_args__ = (sa.UniqueConstraint("story_id", "member_id", name="uq_story_feature"),)

    id: int | None = Field(default=None, primary_key=True)
    story_id: int = Field(foreign_key="story.id", index=True)
    member_id: int = Field(foreign_key="member.id", index=True)
    added_by: int | None = Field(default=None, foreign_key="member.id")
    added_at: datetime | None = utc_column(nullable=False)
