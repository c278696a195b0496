"""Abandoned drafts are released by the bot: withdrawing a dead story is bookkeeping.

With `STORYDESK_RELEASE_AFTER_DAYS` on (21 by default), the tick withdraws every story
whose draft (or revision) is still awaited that many days after its due date, on the
team's local day `policy.release_on(draft_due)`. The history line is the bot's, with the
reason; the author hears that nothing is lost and how to pitch the story again, the
reviewer that nothing more is needed. Reminders still queued about the story are not sent,
as after any withdrawal: the dispatcher drops them when it finds the story withdrawn.

Each story is locked and checked again before it is released, so that a draft submitted a
moment ago, or a second replica's tick that released it first, is respected.
"""

from __future__ import annotations

import logging
from datetime import date, datetime, timedelta

from sqlmodel import Session, col, select

from handlers import stories
from handlers.context import Policy
from handlers.decisions import DRAFTING_STATES
from handlers.reply import Paragraph
from handlers.timing import MIDNIGHT, at_local
from storage.models import Member, Story

log = logging.getLogger(__name__)


def release_moment(draft_due: date, policy: Policy) -> datetime | None:
    """When a draft due `draft_due` is released if it has not come: the start of the
    team's release day. None when drafts are never released."""
    day = policy.release_on(draft_due)
    return None if day is None else at_local(day, MIDNIGHT, policy.zone)


def is_abandoned(story: Story, today: date, policy: Policy) -> bool:
    """Has the story waited for its draft (or revision) until its release day, the team's
    `today` or earlier? A story whose draft was submitted is in review: nobody waits."""
    if story.state not in DRAFTING_STATES or story.draft_due is None:
        return False
    day = policy.release_on(story.draft_due)
    return day is not None and day <= today


def run(session: Session, now: datetime, policy: Policy) -> list[int]:
    """Release every abandoned story; the ids released."""
    days = policy.release_after_days
    if days is None:
        return []
    today = stories.local_today(now, policy)
    candidates = session.exec(
        select(Story.id).where(col(Story.state).in_(DRAFTING_STATES),
                               col(Story.draft_due) <= today - timedelta(days=days))
        .order_by(col(Story.id))
    ).all()
    released = []
    for story_id in candidates:
        if story_id is None:
            continue
        # Locked and read afresh: another replica's tick or a draft may have come first.
        story = session.get(Story, story_id, with_for_update=True, populate_existing=True)
        if story is None or not is_abandoned(story, today, policy):
            continue
        _release(session, story, now, policy, days)
        log.info("story #%s released: no draft %d days after it was due (%s)", story_id,
                 days, story.draft_due)
        released.append(story_id)
    return released


def _release(session: Session, story: Story, now: datetime, policy: Policy,
             days: int) -> None:
    assert story.draft_due is not None
    what = "revision" if story.state == "changes_requested" else "draft"
    due = story.draft_due
    stories.change_state(session, story, None, now, "withdraw",
                         f"released: no {what} {days} days after it was due ({due})")
    stories.announce_card(session, story, now, policy)
    title = f'Story #{story.id} "{story.title}"'
    kept = "the pitch, your earlier draft and its history" if story.draft_link \
        else "the pitch and its history"
    stories.tell_author(
        session, story, now,
        f"{title} is released: its {what} was due {due:%A %d %B} and has not come in "
        f"{days} days, so Storydesk has withdrawn the story and nobody waits for it now.",
        Paragraph(f"Nothing is lost: `/story show {story.id}` keeps {kept}. When you want "
                  f"to take it up again, pitch it anew with `{_pitch_again(story)}`."),
    )
    author = session.get(Member, story.author_id)
    by = f" by {author.display_name}" if author else ""
    stories.tell_reviewer(
        session, story, now, policy,
        f"{title}{by} is released: its {what} was due {due:%A %d %B} and has not come in "
        f"{days} days, so Storydesk has withdrawn it. Nothing more is needed from you.",
        "released",
    )


def _pitch_again(story: Story) -> str:
    """The `/pitch` line that brings the story back with its title and tags."""
    tags = "".join(f" #{tag}" for tag in (story.objective, story.format) if tag)
    return f"/pitch {story.title}{tags}"
