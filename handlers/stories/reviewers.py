"""Reviewer assignment: the candidates (open reviews, last assignment, away days), the
choice made at the pitch, `/story reassign`, and handing a pitch or a draft over to another
coordinator when its reviewer is away.
"""

from __future__ import annotations

from datetime import date, datetime, timedelta
from typing import Any

from sqlalchemy import func
from sqlmodel import Session, col, select
from sqlmodel.sql.expression import Select

from handlers import decisions
from handlers.context import Policy
from handlers.decisions import OPEN_REVIEW_STATES, Candidate
from handlers.errors import Refused
from handlers.members import COORDINATOR, away_days, is_coordinator
from handlers.reply import Reply
from handlers.stories.card import announce_card, tell_reviewer
from handlers.stories.moves import load_for_move, record
from handlers.stories.zone import local_today
from storage.db import REVIEW_LOCK, lock_until_commit
from storage.models import AwayPeriod, Member, Story


def _review_team_query() -> Select[Member, Any, date, date]:
    counts = (
        select(col(Story.reviewer_id).label("member_id"), func.count().label("open_reviews"))
        .where(col(Story.state).in_(sorted(OPEN_REVIEW_STATES)),
               col(Story.reviewer_id).is_not(None))
        .group_by(col(Story.reviewer_id))
        .subquery()
    )
    return (
        select(Member, counts.c.open_reviews, col(AwayPeriod.first_day), col(AwayPeriod.last_day))
        .outerjoin(counts, counts.c.member_id == col(Member.id))
        .outerjoin(AwayPeriod, col(AwayPeriod.member_id) == col(Member.id))
        .where(Member.role == COORDINATOR)
        .order_by(col(Member.id), col(AwayPeriod.first_day))
    )


# Built once: building it costs as much as running it.
_REVIEW_TEAM = _review_team_query()


def review_team(
    session: Session, exclude: set[int] | None = None
) -> list[tuple[Member, Candidate]]:
    """The coordinators, each with what the choice of a reviewer weighs (open reviews, last
    assignment, away periods), in one query: a pitch waits on this, holding the write lock."""
    rows = session.exec(_REVIEW_TEAM).all()
    team: dict[int, tuple[Member, int, list[tuple[date, date]]]] = {}
    for member, open_reviews, first_day, last_day in rows:
        assert member.id is not None
        if exclude and member.id in exclude:
            continue
        _member, _count, away = team.setdefault(member.id, (member, open_reviews or 0, []))
        if first_day is not None and last_day is not None:
            away.append((first_day, last_day))
    return [
        (member, Candidate(member_id=member_id, name=member.display_name,
                           open_reviews=open_reviews, last_assigned_at=member.last_assigned_at,
                           away=away))
        for member_id, (member, open_reviews, away) in team.items()
    ]


def choose_reviewer(
    session: Session, author_id: int, first_day: date, last_day: date,
    exclude: set[int] | None = None,
) -> tuple[decisions.Assignment, Member | None]:
    """decisions.choose_reviewer over the team as it stands, and the member it chose.

    Choices run one after another until their transactions end (REVIEW_LOCK): two pitches
    at once on two replicas would otherwise both count the open reviews before either
    commits, and both go to the same coordinator."""
    lock_until_commit(session, REVIEW_LOCK, 0)
    team = review_team(session, exclude)
    assignment = decisions.choose_reviewer(
        (candidate for _member, candidate in team), author_id, first_day, last_day)
    chosen = next((member for member, _candidate in team
                   if member.id == assignment.member_id), None)
    return assignment, chosen


def assign_reviewer(
    session: Session, story: Story, now: datetime, policy: Policy, exclude: set[int] | None = None
) -> decisions.Assignment:
    today = local_today(now, policy)
    last_day = story.draft_due or today + timedelta(days=policy.draft_days)
    assignment, reviewer = choose_reviewer(session, story.author_id, today, last_day, exclude)
    set_reviewer(session, story, assignment, now, reviewer)
    session.flush()
    return assignment


def set_reviewer(
    session: Session, story: Story, assignment: decisions.Assignment, now: datetime,
    reviewer: Member | None = None,
) -> None:
    """Give `story` the assignment's reviewer (`reviewer`, if the caller has it at hand)."""
    story.reviewer_id = assignment.member_id
    story.assignment_reason = assignment.reason[:500]
    session.add(story)
    if assignment.member_id is not None:
        if reviewer is None or reviewer.id != assignment.member_id:
            reviewer = session.get(Member, assignment.member_id)
        assert reviewer is not None
        reviewer.last_assigned_at = now
        session.add(reviewer)


def reassign(
    session: Session,
    actor: Member,
    now: datetime,
    policy: Policy,
    story_id: int,
    to: Member | None = None,
    expected_version: int | None = None,
) -> Reply:
    story = load_for_move(session, actor, story_id, "reassign", expected_version)
    previous = session.get(Member, story.reviewer_id) if story.reviewer_id else None
    if to is not None:
        if not is_coordinator(to):
            raise Refused(f"{to.display_name} is not a coordinator; reviewers come from the team.")
        if to.id == story.author_id:
            raise Refused(f"{to.display_name} wrote story #{story.id}; pick another reviewer.")
        if to.id == story.reviewer_id:
            raise Refused(f"{to.display_name} already reviews story #{story.id}.")
        assert to.id is not None
        assignment = decisions.Assignment(to.id, f"reassigned by {actor.display_name}")
        set_reviewer(session, story, assignment, now, to)
        session.flush()
    else:
        exclude = {story.reviewer_id} if story.reviewer_id else None
        assignment = assign_reviewer(session, story, now, policy, exclude)
        if assignment.member_id is None:
            raise Refused(f"Nobody else can review story #{story.id}: {assignment.reason}.")
    reviewer = session.get(Member, story.reviewer_id) if story.reviewer_id else None
    assert reviewer is not None
    old = previous.display_name if previous else "nobody"
    record(
        session,
        story,
        actor,
        now,
        "reassigned",
        None,
        None,
        f"{old} -> {reviewer.display_name}: {assignment.reason}",
    )
    announce_card(session, story, now, policy)
    tell_reviewer(
        session,
        story,
        now,
        policy,
        f"You are now reviewing story #{story.id}: {story.title} ({assignment.reason}).",
        "review-assigned",
    )
    return Reply(
        text=f"Story #{story.id} is now reviewed by {reviewer.display_name} (was {old}).",
        tone="success",
        story_id=story.id,
    )


def hand_over_if_away(session: Session, story: Story, now: datetime, policy: Policy) -> bool:
    """A draft that arrives while its reviewer is away goes to another coordinator, with
    the reason; it stays with them when nobody else can take it. True if handed over."""
    if story.reviewer_id is None:
        return False
    away = away_days(session, [story.reviewer_id]).get(story.reviewer_id, [])
    return _hand_over_if_away(session, story, now, policy, away)


def _hand_over_if_away(session: Session, story: Story, now: datetime, policy: Policy,
                       away: list[tuple[date, date]]) -> bool:
    """`hand_over_if_away`, given the reviewer's away periods."""
    assert story.reviewer_id is not None
    today = local_today(now, policy)
    review_days = timedelta(days=policy.reminders.review_nudge_days)
    back = max((last for first, last in away if first <= today <= last), default=None)
    if back is None:
        return False
    reviewer = session.get(Member, story.reviewer_id)
    assignment, new = choose_reviewer(session, story.author_id, today, today + review_days,
                                      {story.reviewer_id})
    if assignment.member_id is None:
        return False
    name = reviewer.display_name if reviewer else "the reviewer"
    assignment = decisions.Assignment(
        assignment.member_id, f"{name} is away until {back.isoformat()}; {assignment.reason}")
    set_reviewer(session, story, assignment, now, new)
    session.flush()
    record(session, story, None, now, "reassigned", None, None,
           f"{name} -> {new.display_name if new else '?'}: {assignment.reason}")
    return True


WAITING_ON_REVIEWER = ("pitched", "in_review")


def hand_over_waiting_reviews(session: Session, now: datetime, policy: Policy) -> list[int]:
    """For the tick: a pitch or a draft whose reviewer is away today goes to another
    coordinator, who is told why; the ids handed over."""
    handed = []
    waiting = session.exec(
        select(Story).where(col(Story.state).in_(WAITING_ON_REVIEWER),
                            col(Story.reviewer_id).is_not(None)).order_by(col(Story.id))
    ).all()
    away = away_days(session, (s.reviewer_id for s in waiting if s.reviewer_id is not None))
    for story in waiting:
        if story.reviewer_id not in away or not _hand_over_if_away(
                session, story, now, policy, away[story.reviewer_id]):
            continue
        announce_card(session, story, now, policy)
        what = "the pitch" if story.state == "pitched" else f"the draft ({story.draft_link})"
        tell_reviewer(session, story, now, policy,
                      f"You are now reviewing story #{story.id}: {story.title}, {what} "
                      f"({story.assignment_reason}).", "review-assigned")
        assert story.id is not None
        handed.append(story.id)
    return handed
