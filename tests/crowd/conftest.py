"""Stories and posts written straight into the database, for the crowd-health tests."""

from __future__ import annotations

from datetime import UTC, datetime

from sqlmodel import Session

from storage.models import Member, Story
from storage.reach import ReachPost


def add_story(session: Session, author: Member, created: datetime, *,
              title: str = "A story", objective: str | None = "outreach",
              format: str | None = "reel", published: datetime | None = None,
              state: str | None = None, media_id: str | None = None,
              permalink: str | None = None) -> Story:
    assert author.id is not None
    story = Story(title=title, objective=objective, format=format, author_id=author.id,
                  created_at=created, state=state or ("published" if published else "pitched"),
                  published_at=published, media_id=media_id, permalink=permalink,
                  scheduled_at=published if state == "scheduled" else None)
    session.add(story)
    session.flush()
    return story


def add_post(session: Session, media_id: str, *, reach: int | None, views: int | None = None,
             impressions: int | None = None) -> ReachPost:
    post = ReachPost(media_id=media_id, reach=reach, views=views, impressions=impressions,
                     source="manual", recorded_at=datetime(2026, 11, 1, tzinfo=UTC))
    session.add(post)
    session.flush()
    return post
