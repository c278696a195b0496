"""The moves from the pitch to an approved draft, and out: accept, decline, start drafting,
submit a draft, request changes, approve (into the next free slot) and withdraw. Each checks
the move, changes the state, updates the card and tells whoever needs to know, in the same
transaction.
"""

from __future__ import annotations

from datetime import date, datetime, timedelta

from sqlmodel import Session

from handlers.context import Policy
from handlers.errors import Refused
from handlers.reply import Paragraph, Reply
from handlers.stories.card import announce_card, move_hint, tell_author, tell_reviewer
from handlers.stories.moves import change_state, load_for_move
from handlers.stories.pitching import REASON_MAX, clean_line, is_web_link
from handlers.stories.reviewers import hand_over_if_away
from handlers.stories.scheduling import next_slot, schedule_detail
from handlers.stories.zone import local_today
from storage.models import Member, Story


def accept(
    session: Session,
    actor: Member,
    now: datetime,
    policy: Policy,
    story_id: int,
    due: date | None = None,
    expected_version: int | None = None,
) -> Reply:
    story = load_for_move(session, actor, story_id, "accept", expected_version)
    today = local_today(now, policy)
    due = due or today + timedelta(days=policy.draft_days)
    if due < today:
        raise Refused(
            f"The draft date {due} is in the past; pick today or later.",
            field_errors={"due": "This date is in the past."},
        )
    if due > today + timedelta(days=366):
        raise Refused(
            "The draft date is more than a year away; pick a nearer one.",
            field_errors={"due": "More than a year away."},
        )
    story.draft_due = due
    if story.reviewer_id is None:
        story.reviewer_id = actor.id
        story.assignment_reason = "accepted it while no reviewer was assigned"
    change_state(session, story, actor, now, "accept", f"draft due {due}")
    announce_card(session, story, now, policy)
    reviewer = session.get(Member, story.reviewer_id) if story.reviewer_id else actor
    tell_accepted(session, story, now, due, reviewer)
    return Reply(
        text=f"Story #{story.id} accepted; draft due {due}.", tone="success", story_id=story.id
    )


def tell_accepted(
    session: Session, story: Story, now: datetime, due: date, reviewer: Member | None
) -> None:
    """The author's good news, the same whether a coordinator or the lazy acceptance
    accepted the pitch."""
    tell_author(
        session,
        story,
        now,
        f'Good news: story #{story.id} "{story.title}" is accepted. Your draft is due on '
        f"{due:%A %d %B}; {reviewer.display_name if reviewer else 'your reviewer'} will help.",
        Paragraph(
            f"When your draft is ready, send its link with `/story draft {story.id} <link>`."
        ),
    )


def decline(
    session: Session,
    actor: Member,
    now: datetime,
    policy: Policy,
    story_id: int,
    reason: str,
    expected_version: int | None = None,
) -> Reply:
    reason = reason.strip()
    if not reason:
        raise Refused(
            "Say why the pitch is declined: `/story decline N <reason>`.",
            field_errors={"reason": "A reason is required."},
        )
    if len(reason) > REASON_MAX:
        raise Refused(
            f"Keep the reason under {REASON_MAX} characters.",
            field_errors={"reason": f"At most {REASON_MAX} characters."},
        )
    story = load_for_move(session, actor, story_id, "decline", expected_version)
    story.decline_reason = reason
    change_state(session, story, actor, now, "decline", reason)
    announce_card(session, story, now, policy)
    tell_author(
        session,
        story,
        now,
        f'Story #{story.id} "{story.title}" was not taken this time. '
        f"{actor.display_name} says: {reason}",
        Paragraph("Thank you for pitching; another angle may fit. `/pitch` is always open."),
    )
    return Reply(text=f"Story #{story.id} declined.", tone="success", story_id=story.id)


def start_drafting(
    session: Session, actor: Member, now: datetime, policy: Policy, story_id: int
) -> Reply:
    story = load_for_move(session, actor, story_id, "start")
    change_state(session, story, actor, now, "start")
    announce_card(session, story, now, policy)
    return Reply(
        text=f"Story #{story.id} is in drafting. Due {story.draft_due}.",
        tone="success",
        story_id=story.id,
    )


def submit_draft(
    session: Session, actor: Member, now: datetime, policy: Policy, story_id: int, link: str
) -> Reply:
    link = link.strip()
    if not is_web_link(link):
        raise Refused(
            "Give the draft as a web link: `/story draft N https://...`.",
            field_errors={"link": "Not a web link."},
        )
    story = load_for_move(session, actor, story_id, "draft")
    story.draft_link = link
    change_state(session, story, actor, now, "draft", link)
    handed_over = hand_over_if_away(session, story, now, policy)
    why = f" ({story.assignment_reason})" if handed_over else ""
    announce_card(session, story, now, policy)
    tell_reviewer(
        session,
        story,
        now,
        policy,
        f'A draft of story #{story.id} "{story.title}" is ready for your review: {link}{why}',
        "draft-submitted",
    )
    return Reply(
        text=f"Draft of story #{story.id} submitted for review.", tone="success", story_id=story.id
    )


def request_changes(
    session: Session,
    actor: Member,
    now: datetime,
    policy: Policy,
    story_id: int,
    note: str,
    expected_version: int | None = None,
) -> Reply:
    note = note.strip()
    if len(note) > REASON_MAX:
        raise Refused(
            f"Keep the note under {REASON_MAX} characters.",
            field_errors={"note": f"At most {REASON_MAX} characters."},
        )
    story = load_for_move(session, actor, story_id, "changes", expected_version)
    due = local_today(now, policy) + timedelta(days=policy.changes_days)
    story.draft_due = due
    change_state(session, story, actor, now, "changes", note + f" (revision due {due})")
    announce_card(session, story, now, policy)
    tell_author(
        session,
        story,
        now,
        f'{actor.display_name} asks for changes to story #{story.id} "{story.title}"'
        + (f": {note}" if note else ".") + f" The revision is due on {due:%A %d %B}.",
        Paragraph(f"Send the new link with `/story draft {story.id} <link>` when ready; "
                  "reminders come as for the first draft."),
    )
    return Reply(
        text=f"Changes requested on story #{story.id}; the revision is due {due}.",
        tone="success",
        story_id=story.id,
    )


def approve(
    session: Session,
    actor: Member,
    now: datetime,
    policy: Policy,
    story_id: int,
    expected_version: int | None = None,
    unscheduled: bool = False,
) -> Reply:
    """Approve a draft and, unless `unscheduled`, put it into the next free slot at least
    `policy.min_lead_hours` ahead, in the same transaction; the author hears both at once."""
    story = load_for_move(session, actor, story_id, "approve", expected_version)
    change_state(session, story, actor, now, "approve")
    slot = None if unscheduled else next_slot(session, story, now, policy)
    if slot is not None:
        story.scheduled_at = slot
        change_state(session, story, actor, now, "schedule", schedule_detail(slot, policy))
    announce_card(session, story, now, policy)
    approved = f'Story #{story.id} "{story.title}" is approved by {actor.display_name}.'
    if slot is not None:
        local = slot.astimezone(policy.zone)
        tell_author(session, story, now,
                    f"{approved} It goes out on {local:%A %d %B at %H:%M}.")
        lead = f"the first free slot at least {policy.min_lead_hours} h ahead"
        text = (f"Story #{story.id} approved and scheduled for {local:%a %Y-%m-%d %H:%M} "
                f"({policy.timezone}), {lead}.")
        return Reply(
            text=text,
            blocks=(Paragraph(text), Paragraph(move_hint(story))),
            tone="success",
            story_id=story.id,
        )
    if unscheduled:
        tell_author(session, story, now,
                    f"{approved} The coordinators will choose when it goes out.")
        text = (f"Story #{story.id} approved and kept out of the calendar. "
                f"`/story schedule {story.id} next` or a date and time schedules it.")
    else:
        # Nothing schedules an approved story by itself: a coordinator has to.
        tell_author(session, story, now,
                    f"{approved} No publication slot is free for it yet; a coordinator will "
                    f"give it a time with `/story schedule {story.id} YYYY-MM-DD HH:MM`.")
        text = (f"Story #{story.id} approved, but no free slot lies ahead; give it a time "
                f"with `/story schedule {story.id} YYYY-MM-DD HH:MM`.")
    return Reply(text=text, tone="success", story_id=story.id)


def withdraw(
    session: Session,
    actor: Member,
    now: datetime,
    policy: Policy,
    story_id: int,
    reason: str = "",
) -> Reply:
    """The author withdraws their story; a coordinator may too, with a reason the author
    receives. Reminders still queued about the story are not sent (the dispatcher drops
    them when it finds the story withdrawn)."""
    reason = clean_line(reason)
    if len(reason) > REASON_MAX:
        raise Refused(
            f"Keep the reason under {REASON_MAX} characters.",
            field_errors={"reason": f"At most {REASON_MAX} characters."},
        )
    story = load_for_move(session, actor, story_id, "withdraw")
    by_author = story.author_id == actor.id
    if not by_author and not reason:
        raise Refused(
            f"Say why story #{story.id} is withdrawn: `/story withdraw {story.id} <reason>`. "
            "Its author will read it."
        )
    previous = change_state(session, story, actor, now, "withdraw", reason)
    announce_card(session, story, now, policy)
    if not by_author:
        tell_author(
            session,
            story,
            now,
            f'Story #{story.id} "{story.title}" was withdrawn by {actor.display_name}: '
            f"{reason}",
            Paragraph("If you see it differently, talk to them; `/pitch` is always open."),
        )
    reviewer_id = story.reviewer_id
    if reviewer_id is not None and reviewer_id != actor.id and previous != "pitched":
        tell_reviewer(
            session, story, now, policy,
            f'Story #{story.id} "{story.title}" was withdrawn by {actor.display_name}'
            + (f": {reason}" if reason else ".") + " Nothing more is needed from you.",
            "withdrawn",
        )
    told = "" if by_author else " Its author is told, with your reason."
    return Reply(text=f"Story #{story.id} is withdrawn.{told}", tone="success",
                 story_id=story.id)
