"""The direct reminders: who gets which series, how each reads, and queuing those due.

Authors hear about their draft date (before, on the day, overdue), reviewers about an
overdue draft and about drafts waiting for review. Members who turned reminders off are
recorded as skipped, so turning them back on does not replay the past.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlmodel import Session

from handlers import wording
from handlers.dm_actions import author_reminder_actions, reviewer_reminder_actions
from handlers.outbox import notify_member
from handlers.release import release_moment
from handlers.reminders.occurrences import (
    SUPERSEDE_WITHIN,
    Occurrence,
    draft_occurrences,
    escalation_occurrence,
    is_late,
    review_occurrences,
    settle,
)
from handlers.reminders.report import TickReport
from handlers.reminders.snapshot import CATCH_UP_DAYS, Snapshot, existing_keys
from handlers.reply import Paragraph, Reply
from handlers.timing import zone_named
from storage.delivery import DeliveryNotice
from storage.models import Member, Outbound, Story


@dataclass(frozen=True)
class Planned:
    """A direct reminder series and who gets it, with the text built from the story."""

    recipient: Member
    story: Story
    occurrences: tuple[Occurrence, ...]


def planned_reminders(snapshot: Snapshot, since: datetime, until: datetime) -> list[Planned]:
    rules = snapshot.policy.reminders
    result: list[Planned] = []
    for story in snapshot.drafting:
        assert story.id is not None and story.draft_due is not None
        author = snapshot.members.get(story.author_id)
        if author is None:
            continue
        start = max(since, snapshot.accepted_at.get(story.id, story.state_changed_at or since))
        # Reminders end where the story's release begins: none would be true any more.
        released = release_moment(story.draft_due, snapshot.policy)
        occurrences = [o for o in draft_occurrences(story.id, story.draft_due, start, until,
                                                    snapshot.deferral(author, story.id), rules)
                       if released is None or o.due < released]
        if occurrences:
            result.append(Planned(author, story, tuple(occurrences)))
        reviewer = snapshot.members.get(story.reviewer_id) if story.reviewer_id else None
        if reviewer is not None and reviewer.id is not None:
            escalation = escalation_occurrence(story.id, story.draft_due, reviewer.id,
                                               snapshot.deferral(reviewer, story.id), rules)
            if (start <= escalation.moment <= until
                    and (released is None or escalation.due < released)):
                result.append(Planned(reviewer, story, (escalation,)))
    for story in snapshot.in_review:
        assert story.id is not None
        reviewer = snapshot.members.get(story.reviewer_id) if story.reviewer_id else None
        if reviewer is None or reviewer.id is None or story.state_changed_at is None:
            continue
        occurrences = review_occurrences(
            story.id, story.version, reviewer.id, story.state_changed_at, since, until,
            snapshot.deferral(reviewer, story.id), rules)
        if occurrences:
            result.append(Planned(reviewer, story, tuple(occurrences)))
    return result


def reminder_reply(snapshot: Snapshot, planned: Planned, occurrence: Occurrence) -> Reply:
    """The reminder as it reads now; it carries its facts so that the dispatcher words it
    again for the moment it is actually delivered (see handlers/wording.py)."""
    story = planned.story
    footer = Paragraph(f"`/story snooze {story.id} 2` reminds you in two days; "
                       "`/story reminders off` stops reminders.")
    zone = zone_named(planned.recipient.timezone, snapshot.policy.zone)
    author = snapshot.members.get(story.author_id)
    escalation_key = ""
    if occurrence.label == "overdue" and story.reviewer_id is not None and story.draft_due:
        escalation_key = (f"draft-escalation:story-{story.id}:due-{story.draft_due.isoformat()}"
                          f":reviewer-{story.reviewer_id}")
    release_on = None
    if occurrence.label in ("overdue", "escalation") and story.draft_due is not None:
        release_on = snapshot.policy.release_on(story.draft_due)
    data = wording.facts(
        occurrence.label, story, zone, due=story.draft_due,
        since=story.state_changed_at if occurrence.label == "review" else None,
        author=author.display_name if author else "", escalation_key=escalation_key,
        release_on=release_on)
    text = wording.text_at(data, max(snapshot.now, occurrence.due))
    if occurrence.label == "review":
        next_step = Paragraph(f"`/story approve {story.id}` or `/story changes {story.id} <note>`.")
        blocks: tuple[Paragraph, ...] = (Paragraph(text), next_step, footer)
        actions = reviewer_reminder_actions(story)
    elif occurrence.label == "escalation":
        blocks = (Paragraph(text), footer)
        actions = reviewer_reminder_actions(story)
    else:
        send = Paragraph(f"Send the link with `/story draft {story.id} <link>`.")
        blocks = (Paragraph(text), send, footer)
        actions = author_reminder_actions(story)
    return Reply(text=text, blocks=blocks, actions=actions, story_id=story.id,
                 data={wording.WORDING: data})


def queue_direct_reminders(session: Session, snapshot: Snapshot, report: TickReport) -> None:
    """Queue the reminders due now, and those due before the next tick with their own
    moment: a message held to that moment (handlers/courtesy.py) wakes the dispatcher
    then, and the reminder must already be in the outbox to be combined with it."""
    now = snapshot.now
    rules = snapshot.policy.reminders
    ahead = now + timedelta(seconds=rules.queue_ahead_seconds)
    plans = planned_reminders(snapshot, now - timedelta(days=CATCH_UP_DAYS),
                              ahead + SUPERSEDE_WITHIN)
    existing = existing_keys(session, (o.key for p in plans for o in p.occurrences))
    for plan in plans:
        decision = settle(plan.occurrences, existing, now, until=ahead)
        for occurrence in decision.expired:
            row = _queue_dm(session, snapshot, plan, occurrence, status="expired")
            if row is not None and row.id is not None:
                session.add(DeliveryNotice(kind="expired", outbound_id=row.id,
                                           platform=row.platform, cause="expired", at=now))
                report.expired += 1
        chosen = decision.send
        if chosen is None:
            continue
        if not plan.recipient.reminders_enabled:
            if _queue_dm(session, snapshot, plan, chosen, status="skipped") is not None:
                report.skipped += 1
            continue
        late = is_late(chosen, now, rules)
        if _queue_dm(session, snapshot, plan, chosen, late=late) is not None:
            report.queued += 1
            report.late += int(late)
            report.keys.append(chosen.key)
    session.flush()


def _queue_dm(session: Session, snapshot: Snapshot, plan: Planned, occurrence: Occurrence,
              *, status: str = "pending", late: bool = False) -> Outbound | None:
    row = notify_member(session, plan.recipient, reminder_reply(snapshot, plan, occurrence),
                        key=occurrence.key, now=snapshot.now, story_id=plan.story.id,
                        due_at=occurrence.due)
    if row is None:
        return None
    row.status = status
    row.late = late
    if status != "pending":
        row.last_error = status
    session.add(row)
    return row
