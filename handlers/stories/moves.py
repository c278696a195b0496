"""The bookkeeping every move shares: finding the story, checking that the move is allowed
(who may make it, from which state, from a card that is not stale), changing the state, and
the history line that gives the story its next version.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import insert
from sqlmodel import Session

from handlers import decisions
from handlers.decisions import MOVES, STATE_LABELS
from handlers.errors import Refused
from handlers.members import is_coordinator
from storage.models import Member, Story, StoryEvent


def get_story(session: Session, story_id: int, for_update: bool = False) -> Story:
    """The story; `for_update` locks its row (PostgreSQL) until the transaction ends, so two
    moves at once (a double press, two replicas) see each other's version; SQLite's
    BEGIN IMMEDIATE already serialises writers."""
    story = (
        session.get(Story, story_id, with_for_update=for_update) if 0 < story_id < 2**31 else None
    )
    if story is None:
        raise Refused(f"There is no story #{story_id}. `/story list all` shows them all.")
    return story


def load_for_move(
    session: Session,
    actor: Member,
    story_id: int,
    move_name: str,
    expected_version: int | None = None,
) -> Story:
    """The story, if `actor` may make this move from its current state; else Refused."""
    story = get_story(session, story_id, for_update=True)
    move = MOVES[move_name]
    if expected_version is not None and story.version != expected_version:
        raise Refused(
            f"Story #{story.id} has changed since this card was shown: it is "
            f"{STATE_LABELS[story.state]} now. Nothing was done twice."
        )
    is_author = story.author_id == actor.id
    allowed = {
        "coordinator": is_coordinator(actor),
        "author": is_author,
        "author_or_coordinator": is_author or is_coordinator(actor),
    }[move.who]
    if not allowed:
        who = {
            "coordinator": "coordinators",
            "author": "the author",
            "author_or_coordinator": "the author or a coordinator",
        }[move.who]
        extra = (
            " Ask a coordinator (`/story team` lists them)." if move.who == "coordinator" else ""
        )
        raise Refused(f"Only {who} can {move.label} story #{story.id}.{extra}")
    if story.state not in move.sources:
        raise Refused(decisions.illegal_move_message(story.id or 0, story.state, move_name))
    return story


def change_state(
    session: Session,
    story: Story,
    actor: Member | None,
    now: datetime,
    move_name: str,
    detail: str = "",
) -> str:
    """Make the move and write its history line; the state it left. `actor` is None when
    Storydesk moves the story itself (a lazy acceptance, a release, a post it recognised)."""
    move = MOVES[move_name]
    previous = story.state
    if move.target is not None:
        story.state = move.target
        story.state_changed_at = now
    session.add(story)
    record(session, story, actor, now, move_name, previous, move.target, detail)
    return previous


def record(
    session: Session,
    story: Story,
    actor: Member | None,
    now: datetime,
    action: str,
    from_state: str | None,
    to_state: str | None,
    detail: str = "",
) -> None:
    """A history line, and a new version of the story (what stale buttons are checked against)."""
    if action != "pitched":
        story.version += 1
    session.add(story)
    session.flush()
    write_history(session, [history_line(story, actor, now, action, from_state, to_state,
                                         detail)])


def history_line(
    story: Story,
    actor: Member | None,
    now: datetime,
    action: str,
    from_state: str | None,
    to_state: str | None,
    detail: str = "",
) -> dict[str, Any]:
    """A line of the story's history for `write_history`; the story's version is left alone."""
    assert story.id is not None
    return {
        "story_id": story.id,
        "actor_id": actor.id if actor else None,
        "at": now,
        "action": action,
        "from_state": from_state,
        "to_state": to_state,
        "detail": detail[:2000],
    }


_WRITE_HISTORY = insert(StoryEvent.__table__)  # type: ignore[attr-defined]


def write_history(session: Session, lines: list[dict[str, Any]]) -> None:
    """Insert history lines in one statement (their ids are never needed back)."""
    session.execute(_WRITE_HISTORY, lines)
