"""The story card (its fields and the buttons its state allows), queued for the team
channel and updated in place there, and the direct messages to a story's author and reviewer.
"""

from __future__ import annotations

from datetime import datetime

from sqlmodel import Session, col, select

from handlers import wording
from handlers.context import Policy
from handlers.decisions import MOVES, STATE_LABELS
from handlers.members import is_coordinator
from handlers.outbox import Message, channel_posts, direct_message, notify_member, queue
from handlers.reply import Action, Fields, Heading, Paragraph, Reply
from handlers.stories.zone import local_time_label
from storage.models import Member, Story

CARD_BUTTONS = (
    ("accept", "Accept", "primary"),
    ("decline", "Decline", "danger"),
    ("reassign", "Reassign", "default"),
    ("approve", "Approve", "primary"),
    ("changes", "Request changes", "default"),
)


def card_actions(story: Story) -> tuple[Action, ...]:
    assert story.id is not None
    return tuple(
        Action(name=name, label=label, story_id=story.id, version=story.version, style=style)  # type: ignore[arg-type]
        for name, label, style in CARD_BUTTONS
        if story.state in MOVES[name].sources
    )


def member_names(session: Session, ids: set[int | None]) -> dict[int, str]:
    """Display names of these members, in one query."""
    wanted = [member_id for member_id in ids if member_id is not None]
    if not wanted:
        return {}
    rows = session.exec(
        select(Member.id, Member.display_name).where(col(Member.id).in_(wanted))
    ).all()
    return {member_id: name for member_id, name in rows if member_id is not None}


def member_name(session: Session, member_id: int | None) -> str:
    if member_id is None:
        return "nobody"
    member = session.get(Member, member_id)
    return member.display_name if member else "?"


def card_blocks(
    session: Session, story: Story, policy: Policy
) -> tuple[Heading | Paragraph | Fields, ...]:
    pairs = [
        ("State", STATE_LABELS[story.state]),
        ("Author", member_name(session, story.author_id)),
        ("Reviewer", member_name(session, story.reviewer_id)),
        ("Objective", story.objective or "not set"),
        ("Format", story.format or "not set"),
    ]
    if story.draft_due:
        pairs.append(("Draft due", story.draft_due.isoformat()))
    if story.scheduled_at:
        pairs.append(("Scheduled", local_time_label(story.scheduled_at, policy)))
    if story.featured:
        pairs.append(("Featuring", story.featured))
    if story.result_link:
        pairs.append(("Result", story.result_link))
    if story.embargo_until:
        pairs.append(("Embargo until", story.embargo_until.isoformat()))
    if story.draft_link:
        pairs.append(("Draft", story.draft_link))
    if story.permalink:
        pairs.append(("Post", story.permalink))
    if story.decline_reason and story.state == "declined":
        pairs.append(("Declined because", story.decline_reason))
    blocks: list[Heading | Paragraph | Fields] = [Heading(f"#{story.id} {story.title}")]
    if story.summary:
        blocks.append(Paragraph(story.summary))
    blocks.append(Fields(tuple(pairs)))
    if story.state == "scheduled":
        blocks.append(Paragraph(move_hint(story)))
    return tuple(blocks)


def move_hint(story: Story) -> str:
    return (f"To move it: `/story schedule {story.id} YYYY-MM-DD HH:MM` (a time) or "
            f"`/story schedule {story.id} next` (the next free slot).")


def card(session: Session, story: Story, policy: Policy) -> Reply:
    return Reply(
        text=f"Story #{story.id}: {story.title} ({STATE_LABELS[story.state]})",
        blocks=card_blocks(session, story, policy),
        actions=card_actions(story),
        visibility="in_channel",
        story_id=story.id,
    )


def announce_card(session: Session, story: Story, now: datetime, policy: Policy) -> None:
    """Queue the story's card for the team channel; adapters update it in place."""
    queue(session, card_posts(session, story, policy), now)


def card_posts(session: Session, story: Story, policy: Policy) -> list[Message]:
    """The story's card for the team channel on each platform, ready to queue."""
    return channel_posts(
        policy.channel_platforms,
        "team",
        card(session, story, policy),
        key=f"card:story-{story.id}:v{story.version}",
        story_id=story.id,
        kind="card",
    )


def tell_reviewer(
    session: Session, story: Story, now: datetime, policy: Policy, text: str, what: str
) -> Member | None:
    """A direct message to the story's reviewer with the card and its buttons."""
    reviewer, messages = reviewer_message(session, story, policy, text, what)
    queue(session, messages, now)
    return reviewer


def reviewer_message(
    session: Session, story: Story, policy: Policy, text: str, what: str
) -> tuple[Member | None, list[Message]]:
    """The story's reviewer, and the direct message of `tell_reviewer` to them, ready to
    queue (none when the story has no reviewer). It is not sent if, by the time it would
    arrive, they no longer review the story or it was closed (handlers/wording.py)."""
    reviewer = session.get(Member, story.reviewer_id) if story.reviewer_id else None
    if reviewer is None:
        return None, []
    assert reviewer.id is not None
    reply = Reply(
        text=text,
        blocks=card_blocks(session, story, policy),
        actions=card_actions(story),
        story_id=story.id,
        data={wording.REVIEWER: wording.as_reviewer(story, reviewer.id)},  # checked when sent
    )
    return reviewer, [direct_message(
        reviewer, reply, key=f"story-{story.id}:{what}:{reviewer.id}:v{story.version}",
        story_id=story.id)]


def tell_author(
    session: Session, story: Story, now: datetime, text: str, *blocks: Paragraph | Fields
) -> None:
    """A DM to the story's author; an author who is a coordinator gets the story's card
    buttons with it, as every coordinator's message about a story does."""
    author = session.get(Member, story.author_id)
    assert author is not None
    actions = card_actions(story) if is_coordinator(author) else ()
    notify_member(
        session,
        author,
        Reply(text=text, blocks=blocks, story_id=story.id, actions=actions),
        key=f"story-{story.id}:author:{story.state}:v{story.version}",
        now=now,
        story_id=story.id,
    )
