"""`/story profile` (opt-in: career stage, country, gender) and `/story feature N @a @b`.

A profile is its owner's alone: `/story profile` shows the asker's own and nobody else's;
the coordinators' stats read profiles only in aggregate.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from sqlmodel import Session, select

from handlers.crowd.decisions import CAREER_STAGES, PROFILE_FIELDS, ProfileInputError, parse_profile
from handlers.errors import Refused
from handlers.members import is_coordinator
from handlers.reply import Fields, Paragraph, Reply, success
from handlers.stories import get_story
from storage.crowd import MemberProfile, StoryFeature
from storage.models import Member, StoryEvent

PROFILE_PRIVACY = ("Only you see your profile. The coordinators see the group only in "
                   "aggregate (`/story stats`), and any group smaller than 5 as "
                   "\"fewer than 5\". `/story profile clear` removes everything.")
MAX_FEATURED = 20


def _load(session: Session, member: Member) -> MemberProfile | None:
    assert member.id is not None
    return session.get(MemberProfile, member.id)


def _fields(profile: MemberProfile | None) -> Fields:
    def shown(value: str | None) -> str:
        return value if value else "not given"

    return Fields((
        ("Career stage", shown(profile.career if profile else None)),
        ("Country", shown(profile.country if profile else None)),
        ("Gender", shown(profile.gender if profile else None)),
    ))


def show_profile(session: Session, actor: Member) -> Reply:
    profile = _load(session, actor)
    if profile is None:
        return Reply(
            text="You have no profile: nothing about you is stored beyond your name.",
            blocks=(_fields(None), Paragraph(
                f"Opt in with `/story profile career={'|'.join(CAREER_STAGES)} country=XX "
                "gender=…`; every field is optional."), Paragraph(PROFILE_PRIVACY)))
    return Reply(text="Your profile, as stored:", blocks=(_fields(profile),
                                                          Paragraph(PROFILE_PRIVACY)))


def clear_profile(session: Session, actor: Member) -> Reply:
    profile = _load(session, actor)
    if profile is not None:
        session.delete(profile)
        session.flush()
    return success("Your profile is cleared: nothing about you is stored beyond your name.")


def update_profile(session: Session, actor: Member, now: datetime,
                   words: Sequence[str]) -> Reply:
    """Set or remove (`field=`) the given fields; the others stay as they were."""
    try:
        changes = parse_profile(words)
    except ProfileInputError as problem:
        raise Refused(f"{problem} Usage: /story profile [career=…] [country=XX] "
                      "[gender=…] | /story profile clear") from None
    assert actor.id is not None
    profile = _load(session, actor) or MemberProfile(member_id=actor.id, updated_at=now)
    for name, value in changes.items():
        setattr(profile, name, value)
    profile.updated_at = now
    if all(getattr(profile, name) is None for name in PROFILE_FIELDS):
        if _load(session, actor) is not None:
            session.delete(profile)
        session.flush()
        return success("Your profile is now empty: nothing about you is stored beyond "
                       "your name.", _fields(None))
    session.add(profile)
    session.flush()
    return success("Your profile is saved.", _fields(profile), Paragraph(PROFILE_PRIVACY))


def feature(session: Session, actor: Member, now: datetime, story_id: int,
            people: Sequence[Member]) -> Reply:
    """Link the members who appear in story N (replacing any earlier list); no one given
    clears the list. The story's author and coordinators may do it."""
    story = get_story(session, story_id)
    if actor.id != story.author_id and not is_coordinator(actor):
        raise Refused(f"Only the author of story #{story_id} or a coordinator can say who "
                      "is featured in it.")
    if len(people) > MAX_FEATURED:
        raise Refused(f"A story can feature at most {MAX_FEATURED} members.")
    assert story.id is not None
    wanted = {m.id: m for m in people if m.id is not None}
    existing = {f.member_id: f for f in session.exec(
        select(StoryFeature).where(StoryFeature.story_id == story.id)).all()}
    for member_id, row in existing.items():
        if member_id not in wanted:
            session.delete(row)
    for member_id in wanted:
        if member_id not in existing:
            session.add(StoryFeature(story_id=story.id, member_id=member_id,
                                     added_by=actor.id, added_at=now))
    names = ", ".join(m.display_name for m in wanted.values())
    session.add(StoryEvent(story_id=story.id, actor_id=actor.id, at=now, action="feature",
                           detail=f"featured: {names or 'nobody'}"[:2000]))
    session.flush()
    if not wanted:
        return success(f"Story #{story.id} features no members now.", story_id=story.id)
    return success(f"Story #{story.id} features {names}.", Paragraph(
        "They count in the coordinators' comparison of the people featured with the "
        "group's make-up (in aggregate only)."), story_id=story.id)
