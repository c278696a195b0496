"""Tables of the publication watch: the posts already seen on the account, and the lease
that lets one replica at a time look at the account's media.

`SeenPost` keeps every post the watch has looked at with what was done about it, so that a
post is matched, announced or asked about once, whatever the number of checks or replicas
(its media id is the primary key). `WatchLease` is one row per watched account: the
replica that holds the lease checks; `checked_at` spaces the checks out, so the Graph API
is asked at most once per interval however many replicas tick.
"""

from __future__ import annotations

from datetime import datetime

from sqlmodel import Field, SQLModel

from storage.models import utc_column


class SeenPost(SQLModel, table=True):
    __tablename__ = "seen_post"

    media_id: str = Field(primary_key=True, max_length=64)
    permalink: str | None = Field(default=None, max_length=500)
    caption: str = Field(default="", max_length=2000)
    posted_at: datetime | None = utc_column()
    story_id: int | None = Field(default=None, foreign_key="story.id", index=True)
    # recorded (a sure match), asked (the team was asked to confirm), confirmed,
    # unscheduled (announced: no story was scheduled for it)
    outcome: str = Field(max_length=20)
    seen_at: datetime | None = utc_column(nullable=False)


class WatchLease(SQLModel, table=True):
    __tablename__ = "watch_lease"

    name: str = Field(primary_key=True, max_length=40)
    owner: str | None = Field(default=None, max_length=80)
    lease_until: datetime | None = utc_column()
    checked_at: datetime | None = utc_column()
