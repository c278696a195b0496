"""Listing and showing stories: `/story list mine|open|all`, and `/story show N` with the
card, why this reviewer, the history and the moves possible next.
"""

from __future__ import annotations

from datetime import datetime

from sqlmodel import Session, col, select

from handlers import decisions
from handlers.context import Policy
from handlers.decisions import FINAL_STATES, STATE_LABELS
from handlers.errors import Refused
from handlers.reply import Block, Bullets, Heading, Paragraph, Reply
from handlers.stories.card import card_actions, card_blocks, member_name, member_names
from handlers.stories.moves import get_story
from handlers.stories.zone import local_time_label
from storage.models import Member, Story, StoryEvent

LIST_LIMIT = 40


def list_stories(
    session: Session, actor: Member, now: datetime, policy: Policy, which: str = "open"
) -> Reply:
    query = select(Story).order_by(col(Story.id).desc())
    if which == "mine":
        query = query.where((Story.author_id == actor.id) | (Story.reviewer_id == actor.id))
        title = "Your stories (as author or reviewer)"
    elif which == "open":
        query = query.where(col(Story.state).not_in(FINAL_STATES))
        title = "Open stories"
    elif which == "all":
        title = "All stories"
    else:
        raise Refused("Use `/story list mine`, `/story list open` or `/story list all`.")
    stories = list(session.exec(query.limit(LIST_LIMIT + 1)).all())
    if not stories:
        return Reply(text=f"{title}: none yet. Pitch one with `/pitch <title>`.")
    people: set[int | None] = {s.author_id for s in stories}
    people |= {s.reviewer_id for s in stories}
    names = member_names(session, people)
    lines = [story_line(story, policy, names) for story in stories[:LIST_LIMIT]]
    if len(stories) > LIST_LIMIT:
        lines.append("… and more; `/story show N` for any number.")
    return Reply(
        text=f"{title}: {len(stories[:LIST_LIMIT])}", blocks=(Heading(title), Bullets(tuple(lines)))
    )


def story_line(story: Story, policy: Policy, names: dict[int, str]) -> str:
    parts = [
        f"#{story.id} {story.title} — {STATE_LABELS[story.state]}",
        f"by {names.get(story.author_id, '?')}",
    ]
    if story.reviewer_id and story.state not in FINAL_STATES:
        parts.append(f"reviewer {names.get(story.reviewer_id, '?')}")
    if story.draft_due and story.state in decisions.DRAFTING_STATES:
        parts.append(f"due {story.draft_due}")
    if story.scheduled_at and story.state == "scheduled":
        parts.append(f"on {local_time_label(story.scheduled_at, policy)}")
    return ", ".join(parts)


def show(session: Session, actor: Member, now: datetime, policy: Policy, story_id: int) -> Reply:
    story = get_story(session, story_id)
    blocks: list[Block] = list(card_blocks(session, story, policy))
    if story.assignment_reason and story.reviewer_id:
        blocks.append(Paragraph(f"Why this reviewer: {story.assignment_reason}"))
    zone = policy.zone
    history = session.exec(
        select(StoryEvent).where(StoryEvent.story_id == story.id).order_by(col(StoryEvent.id))
    ).all()
    lines = []
    for event in history:
        at = event.at.astimezone(zone) if event.at else None
        who = member_name(session, event.actor_id) if event.actor_id else "Storydesk"
        detail = f": {event.detail}" if event.detail else ""
        lines.append(f"{at:%Y-%m-%d %H:%M} {who} — {event.action}{detail}")
    blocks.append(Heading("History"))
    blocks.append(Bullets(tuple(lines)))
    possible = [m.name for m in decisions.moves_from(story.state)]
    if possible:
        blocks.append(Paragraph(f"Next: {', '.join(possible)}."))
    return Reply(
        text=f"Story #{story.id}: {story.title}",
        blocks=tuple(blocks),
        story_id=story.id,
        actions=card_actions(story),
    )
