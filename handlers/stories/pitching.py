"""The pitch: what its fields accept (length limits, result and web links, the embargo
date), and taking it in: the story, its reviewer, its card and the reviewer's message.

A pitch sent again is taken once. A resent copy of one request is caught by its request
key (handlers/requests.py), but a person told that their pitch is taking longer may send
it anew, under a new key: a pitch by the same author with the same title (ignoring case
and surrounding spaces) whose story was created in the last SAME_PITCH_WITHIN and is
still pitched or just accepted is that same pitch. Nothing new is created, and the answer
names the story. The check and the insert run under a lock per author, so two copies
arriving at once (on two replicas) are taken one after the other: the second sees the
first.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date, datetime, timedelta

from sqlmodel import Session, col, select

from handlers.context import Policy
from handlers.decisions import FORMATS, OBJECTIVES
from handlers.errors import Refused
from handlers.outbox import queue
from handlers.reply import Reply, plural
from handlers.stories.card import card_blocks, card_posts, reviewer_message
from handlers.stories.moves import history_line, write_history
from handlers.stories.reviewers import choose_reviewer, set_reviewer
from handlers.stories.zone import local_today
from storage.db import PITCH_LOCK, lock_until_commit
from storage.models import Member, Story

TITLE_MAX = 150
SUMMARY_MAX = 2000
FEATURED_MAX = 500
REASON_MAX = 500
LINK_MAX = 400
_URL = re.compile(r"^https?://[^\s/$.?#][^\s]*$", re.IGNORECASE)
_ARXIV = re.compile(r"^(arxiv:)?\d{4}\.\d{4,5}(v\d+)?$", re.IGNORECASE)
_DOI = re.compile(r"^(doi:)?10\.\d{4,9}/\S+$", re.IGNORECASE)
# A pitch with the title of one the author made this recently is taken as the same one.
SAME_PITCH_WITHIN = timedelta(minutes=10)
_SAME_PITCH_STATES = ("pitched", "accepted")


@dataclass(frozen=True)
class PitchForm:
    title: str
    summary: str = ""
    objective: str | None = None
    format: str | None = None
    featured: str = ""
    result_link: str | None = None
    embargo_until: date | None = None


def validate_pitch(form: PitchForm, today: date) -> dict[str, str]:
    """Field name -> what is wrong with it; empty when the pitch can be taken."""
    errors: dict[str, str] = {}
    title = form.title.strip()
    if not title:
        errors["title"] = "A pitch needs a title."
    elif len(title) > TITLE_MAX:
        errors["title"] = f"Keep the title under {TITLE_MAX} characters (it has {len(title)})."
    if len(form.summary) > SUMMARY_MAX:
        errors["summary"] = f"Keep the summary under {SUMMARY_MAX} characters."
    if form.objective is not None and form.objective not in OBJECTIVES:
        errors["objective"] = f"Choose one of: {', '.join(OBJECTIVES)}."
    if form.format is not None and form.format not in FORMATS:
        errors["format"] = f"Choose one of: {', '.join(FORMATS)}."
    if len(form.featured) > FEATURED_MAX:
        errors["featured"] = f"Keep this under {FEATURED_MAX} characters."
    if form.result_link and not is_result_link(form.result_link):
        errors["result_link"] = "Give a web link, an arXiv id (2401.12345) or a DOI."
    if form.embargo_until and form.embargo_until < today:
        errors["embargo_until"] = "The embargo date is in the past."
    return errors


def is_result_link(text: str) -> bool:
    text = text.strip()
    return len(text) <= LINK_MAX and bool(
        _URL.match(text) or _ARXIV.match(text) or _DOI.match(text)
    )


def is_web_link(text: str) -> bool:
    return len(text) <= LINK_MAX and bool(_URL.match(text.strip()))


def clean_line(text: str) -> str:
    return " ".join(text.split())


def _same_title(title: str) -> str:
    """A title as two pitches are compared: spaces and case do not tell them apart."""
    return clean_line(title).casefold()


def recent_same_pitch(session: Session, author_id: int, title: str,
                      now: datetime) -> Story | None:
    """The author's story with this title created within SAME_PITCH_WITHIN of `now`, if it
    is still pitched or just accepted (the newest, should there be several). Titles are
    compared here rather than in SQL, whose lower() on SQLite knows only ASCII; only the
    recent ones' ids and titles are read."""
    recent = session.exec(
        select(Story.id, Story.title).where(Story.author_id == author_id,
                                            col(Story.created_at) >= now - SAME_PITCH_WITHIN,
                                            col(Story.state).in_(_SAME_PITCH_STATES))
        .order_by(col(Story.id).desc())
    ).all()
    wanted = _same_title(title)
    found = next((story_id for story_id, other in recent if _same_title(other) == wanted), None)
    return session.get(Story, found) if found is not None else None


def _already_pitched(session: Session, story: Story, now: datetime, policy: Policy) -> Reply:
    """The answer to a pitch sent again: which story it is, and who reviews it."""
    assert story.created_at is not None
    minutes = max(0, int((now - story.created_at).total_seconds() // 60))
    when = "a moment ago" if minutes == 0 else f"{plural(minutes, 'minute')} ago"
    reviewer = session.get(Member, story.reviewer_id) if story.reviewer_id else None
    whom = f"reviewer {reviewer.display_name}" if reviewer else "no reviewer yet"
    state = "" if story.state == "pitched" else f" ({story.state})"
    return Reply(
        text=f"You pitched this {when}: it is #{story.id}{state}, {whom}. Nothing new was "
        "created.",
        blocks=card_blocks(session, story, policy),
        story_id=story.id,
    )


def pitch(session: Session, actor: Member, now: datetime, policy: Policy, form: PitchForm) -> Reply:
    today = local_today(now, policy)
    errors = validate_pitch(form, today)
    if errors:
        raise Refused(" ".join(errors.values()), field_errors=errors)
    assert actor.id is not None
    lock_until_commit(session, PITCH_LOCK, actor.id)
    earlier = recent_same_pitch(session, actor.id, form.title, now)
    if earlier is not None:
        return _already_pitched(session, earlier, now, policy)
    # The reviewer is chosen before the story is written (a story without one yet counts
    # for nobody's open reviews either way), so that the story goes in whole, at once.
    assignment, reviewer = choose_reviewer(
        session, actor.id, today, today + timedelta(days=policy.draft_days))
    story = Story(
        title=clean_line(form.title),
        summary=form.summary.strip(),
        objective=form.objective,
        format=form.format,
        author_id=actor.id,
        featured=form.featured.strip(),
        result_link=(form.result_link or "").strip() or None,
        embargo_until=form.embargo_until,
        created_at=now,
        state_changed_at=now,
    )
    set_reviewer(session, story, assignment, now, reviewer)
    if reviewer is not None:
        story.version += 1  # the "assigned" line below is a move, as `record` counts them
    session.add(story)
    session.flush()  # the story's number, which its history, card and messages carry
    lines = [history_line(story, actor, now, "pitched", None, "pitched", story.title)]
    if reviewer is not None:
        lines.append(history_line(story, None, now, "assigned", None, None,
                                  f"{reviewer.display_name}: {assignment.reason}"))
    write_history(session, lines)
    _reviewer, messages = reviewer_message(
        session,
        story,
        policy,
        f"You are reviewing story #{story.id}: {story.title} "
        f"(pitched by {actor.display_name}). {assignment.reason}.",
        "review-assigned",
    )
    # The card and the reviewer's message in one statement.
    queue(session, [*card_posts(session, story, policy), *messages], now)
    who = reviewer.display_name if reviewer else "nobody yet"
    return Reply(
        text=f"Thanks! Story #{story.id} is pitched. Reviewer: {who} ({assignment.reason}).",
        blocks=card_blocks(session, story, policy),
        tone="success",
        story_id=story.id,
    )
