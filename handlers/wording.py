"""Words that depend on the moment a message arrives, rendered when it is sent.

A reminder may be queued on Friday and delivered on Monday (a weekend, quiet hours, an
away period or a snooze in between). Its day counts and its "today" or "tomorrow" must be
true on Monday, so a reminder carries its facts in `Reply.data["wording"]` (the story, the
date it is about, the recipient's zone) and the dispatcher calls `reword` at send time.
`reword` also answers None when the message is no longer true at all: the story was
withdrawn, submitted or given a new date meanwhile. Such a message is not sent.

A message to a story's reviewer as its reviewer ("You are reviewing story #1", "A draft
… is ready for your review") has no words to change, but may be held as long, and meanwhile
the story may have gone to someone else or been closed. It carries in
`Reply.data["reviewer"]` whom it was written to and the story's state then (`as_reviewer`),
and `reword` answers None for it too when that member no longer reviews the story, the
story has since been withdrawn, declined or published, or it was written to ask for their
decision (a pitch, a draft) and someone has decided meanwhile.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import date, datetime
from typing import Any
from zoneinfo import ZoneInfo

from sqlmodel import Session, select

from handlers.decisions import FINAL_STATES
from handlers.reply import Paragraph, Reply, plural
from handlers.timing import zone_named
from storage.models import Outbound, Story

WORDING = "wording"
REVIEWER = "reviewer"
DRAFT_KINDS = ("before", "on-the-day", "overdue")


def facts(
    kind: str,
    story: Story,
    zone: ZoneInfo,
    *,
    due: date | None = None,
    since: datetime | None = None,
    author: str = "",
    escalation_key: str = "",
    release_on: date | None = None,
) -> dict[str, Any]:
    """What a reminder is about, as JSON-friendly data, for `reword` to render later.
    `release_on`: the day the bot releases the story if the draft does not come."""
    assert story.id is not None
    return {
        "kind": kind,
        "story_id": story.id,
        "title": story.title,
        "state": story.state,
        "version": story.version,
        "zone": str(zone),
        "due": due.isoformat() if due else None,
        "since": since.isoformat() if since else None,
        "author": author,
        "draft_link": story.draft_link or "",
        "escalation_key": escalation_key,
        "release_on": release_on.isoformat() if release_on else None,
    }


def series_of(kind: str) -> str:
    """Reminders of one series supersede each other: the author's draft reminders are one."""
    return "draft" if kind in DRAFT_KINDS else kind


def text_at(data: dict[str, Any], at: datetime, reviewer_told: bool = False) -> str:
    """The reminder's sentence as it reads at `at`, in the recipient's zone."""
    zone = zone_named(data.get("zone"), ZoneInfo("UTC"))
    today = at.astimezone(zone).date()
    kind = data["kind"]
    title = f"story #{data['story_id']} \"{data['title']}\""
    if kind == "review":
        waited = max(0, (at - datetime.fromisoformat(data["since"])).days)
        link = f": {data['draft_link']}" if data.get("draft_link") else "."
        return f"The draft of {title} has waited {plural(waited, 'day')} for your review{link}"
    due = date.fromisoformat(data["due"])
    due_text = f"{due:%A %d %B}"
    if kind == "escalation":
        late = (today - due).days
        name = data.get("author") or "the author"
        text = (f"The draft of {title} by {name} is {plural(late, 'day')} overdue "
                f"(it was due {due_text}). A word from you may help.")
        release = _release_day(data, today)
        if release:
            text += (f" Unless the draft comes, Storydesk releases the story {release}; "
                     f"`/story withdraw {data['story_id']} <reason>` releases it now.")
        return text
    what = "revision" if data.get("state") == "changes_requested" else "draft"
    ahead = (due - today).days
    if ahead > 1:
        return (f"Friendly reminder: your {what} of {title} is due {due_text}, "
                f"in {plural(ahead, 'day')}.")
    if ahead == 1:
        return f"Friendly reminder: your {what} of {title} is due tomorrow, {due_text}."
    if ahead == 0:
        return f"Your {what} of {title} is due today."
    text = (f"Your {what} of {title} was due {due_text}, {plural(-ahead, 'day')} ago. "
            "If you need more time, tell your reviewer.")
    if reviewer_told:
        text += " Your reviewer has been told too."
    release = _release_day(data, today)
    if release:
        text += (f" Unless it comes first, Storydesk releases the story {release}: it is "
                 "withdrawn, and you can pitch it again whenever you like.")
    return text


def _release_day(data: dict[str, Any], today: date) -> str:
    """When the story is released, as it reads on `today`; empty if it never is."""
    if not data.get("release_on"):
        return ""
    release = date.fromisoformat(data["release_on"])
    ahead = (release - today).days
    if ahead > 1:
        return f"on {release:%A %d %B}"
    if ahead == 1:
        return f"tomorrow, {release:%A %d %B}"
    return "today"


def still_true(story: Story | None, data: dict[str, Any]) -> bool:
    """Is the reminder still about the story as it is? Not after a withdrawal, a new
    draft date, a submission or a review decision."""
    if story is None or story.state in FINAL_STATES:
        return False
    if data["kind"] == "review":
        return story.state == "in_review" and story.version == data["version"]
    if data["kind"] in DRAFT_KINDS or data["kind"] == "escalation":
        return (story.state in {"accepted", "drafting", "changes_requested"}
                and story.draft_due is not None and story.draft_due.isoformat() == data["due"])
    return True


def as_reviewer(story: Story, reviewer_id: int) -> dict[str, Any]:
    """What a message to the story's reviewer, as its reviewer, depends on: for `reword`."""
    return {"story_id": story.id, "reviewer_id": reviewer_id, "state": story.state}


# A message written while the story waited on its reviewer asks for their decision: once
# the story has left that state (someone else decided), there is nothing left to ask.
WAITING_ON_REVIEWER = frozenset({"pitched", "in_review"})


def still_reviews(story: Story | None, data: dict[str, Any]) -> bool:
    """Does the member the message was written to still review the story, is the story
    not closed since (a message about its closing stays true), and, if the message asked
    for their decision, does the story still wait for it?"""
    if story is None or story.reviewer_id != data["reviewer_id"]:
        return False
    if data["state"] in WAITING_ON_REVIEWER and story.state != data["state"]:
        return False
    return story.state not in FINAL_STATES or data["state"] in FINAL_STATES


def reword(session: Session, reply: Reply, at: datetime) -> Reply | None:
    """`reply` with its time words rendered for `at`; None if it is no longer true."""
    reviewer = reply.data.get(REVIEWER)
    if isinstance(reviewer, dict) and not still_reviews(
            session.get(Story, reviewer["story_id"]), reviewer):
        return None
    data = reply.data.get(WORDING)
    if not isinstance(data, dict):
        return reply
    story = session.get(Story, data["story_id"])
    if not still_true(story, data):
        return None
    told = False
    key = data.get("escalation_key")
    if key:
        status = session.exec(select(Outbound.status).where(Outbound.unique_key == key)).first()
        told = status == "sent"
    text = text_at(data, at, reviewer_told=told)
    if text == reply.text:
        return reply
    blocks = tuple(Paragraph(text) if isinstance(b, Paragraph) and b.text == reply.text else b
                   for b in reply.blocks)
    return replace(reply, text=text, blocks=blocks)

