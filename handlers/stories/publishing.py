"""Publishing: `/story published N <permalink>`, and recording a story as published when
Storydesk recognised the post itself.
"""

from __future__ import annotations

import re
from datetime import datetime

from sqlmodel import Session

from handlers.context import Policy
from handlers.errors import Refused
from handlers.reply import Reply
from handlers.stories.card import announce_card, tell_author
from handlers.stories.moves import change_state, load_for_move
from handlers.stories.pitching import is_web_link
from storage.models import Member, Story


def publish(
    session: Session,
    actor: Member,
    now: datetime,
    policy: Policy,
    story_id: int,
    permalink: str,
    media_id: str | None = None,
) -> Reply:
    permalink = permalink.strip()
    if not is_web_link(permalink):
        raise Refused("Give the published post's permalink: `/story published N https://...`.")
    if media_id is not None and not re.fullmatch(r"\d{1,40}", media_id):
        raise Refused("A media id is a number, such as 17912345678901234.")
    story = load_for_move(session, actor, story_id, "publish")
    mark_published(session, story, actor, now, policy, permalink, media_id)
    return Reply(
        text=f"Story #{story.id} is published: {permalink}", tone="success", story_id=story.id
    )


def mark_published(
    session: Session,
    story: Story,
    actor: Member | None,
    now: datetime,
    policy: Policy,
    permalink: str | None,
    media_id: str | None = None,
    published_at: datetime | None = None,
    how: str = "",
) -> None:
    """Record `story` (already checked for the move) as published, update its card and
    thank its author. `actor` is None when Storydesk recognised the post itself; `how`
    says so in the history."""
    story.permalink = permalink
    story.media_id = media_id
    story.published_at = published_at or now
    detail = " ".join(part for part in (permalink or "", how) if part)
    change_state(session, story, actor, now, "publish", detail)
    announce_card(session, story, now, policy)
    where = f": {permalink}" if permalink else ""
    tell_author(
        session,
        story,
        now,
        f'Story #{story.id} "{story.title}" is published{where}. Thank you!',
    )
