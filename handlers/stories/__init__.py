"""Stories: the pitch, the lifecycle from accepted to published, listing and showing.

Each function takes the session, the acting member, `now` and the team's Policy; it changes
state, writes the history line and the notifications it causes (in the same transaction),
and returns a neutral Reply. Refusals raise `Refused` with a sentence for the user.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta

from sqlalchemy import func
from sqlmodel import Session, col, select

from handlers import decisions
from handlers.context import Policy
from handlers.decisions import (
    FINAL_STATES,
    FORMATS,
    MOVES,
    OBJECTIVES,
    OPEN_REVIEW_STATES,
    STATE_LABELS,
    Candidate,
)
from handlers.errors import Refused
from handlers.members import away_periods, coordinators, is_coordinator
from handlers.outbox import notify_member, post_to_channel
from handlers.reply import Action, Block, Bullets, Fields, Heading, Paragraph, Reply
from storage.models import AwayPeriod, Member, Story, StoryEvent

TITLE_MAX = 150
SUMMARY_MAX = 2000
FEATURED_MAX = 500
REASON_MAX = 500
LINK_MAX = 400
LIST_LIMIT = 40
_URL = re.compile(r"^https?://[^\s/$.?#][^\s]*$", re.IGNORECASE)
_ARXIV = re.compile(r"^(arxiv:)?\d{4}\.\d{4,5}(v\d+)?$", re.IGNORECASE)
_DOI = re.compile(r"^(doi:)?10\.\d{4,9}/\S+$", re.IGNORECASE)


# --- pitch ------------------------------------------------------------------------------


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


def pitch(session: Session, actor: Member, now: datetime, policy: Policy, form: PitchForm) -> Reply:
    today = local_today(now, policy)
    errors = validate_pitch(form, today)
    if errors:
        raise Refused(" ".join(errors.values()), field_errors=errors)
    assert actor.id is not None
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
    session.add(story)
    session.flush()
    assignment = assign_reviewer(session, story, now, policy)
    record(session, story, actor, now, "pitched", None, "pitched", story.title)
    if assignment.member_id is not None:
        reviewer = session.get(Member, assignment.member_id)
        assert reviewer is not None
        record(
            session,
            story,
            None,
            now,
            "assigned",
            None,
            None,
            f"{reviewer.display_name}: {assignment.reason}",
        )
    announce_card(session, story, now, policy)
    reviewer = tell_reviewer(
        session,
        story,
        now,
        policy,
        f"You are reviewing story #{story.id}: {story.title} "
        f"(pitched by {actor.display_name}). {assignment.reason}.",
        "review-assigned",
    )
    who = reviewer.display_name if reviewer else "nobody yet"
    return Reply(
        text=f"Thanks! Story #{story.id} is pitched. Reviewer: {who} ({assignment.reason}).",
        blocks=card_blocks(session, story, policy),
        tone="success",
        story_id=story.id,
    )


def clean_line(text: str) -> str:
    return " ".join(text.split())


def local_today(now: datetime, policy: Policy) -> date:
    return now.astimezone(policy.zone).date()


def local_time_label(when: datetime, policy: Policy) -> str:
    """`Tue 2026-11-24 18:00 CET`: a time as the team reads it."""
    return f"{when.astimezone(policy.zone):%a %Y-%m-%d %H:%M %Z}"


# --- reviewer assignment -----------------------------------------------------------------


def open_review_counts(session: Session) -> dict[int, int]:
    rows = session.exec(
        select(Story.reviewer_id, func.count())
        .where(col(Story.state).in_(OPEN_REVIEW_STATES), col(Story.reviewer_id).is_not(None))
        .group_by(col(Story.reviewer_id))
    ).all()
    return {reviewer_id: count for reviewer_id, count in rows if reviewer_id is not None}


def candidates(session: Session, exclude: set[int] | None = None) -> list[Candidate]:
    counts = open_review_counts(session)
    team = [m for m in coordinators(session) if not (exclude and m.id in exclude)]
    away: dict[int, list[tuple[date, date]]] = {}
    if team:  # one query for the whole team's away periods: a pitch waits on this
        for period in session.exec(select(AwayPeriod).where(
                col(AwayPeriod.member_id).in_([m.id for m in team]))).all():
            away.setdefault(period.member_id, []).append((period.first_day, period.last_day))
    result = []
    for member in team:
        assert member.id is not None
        result.append(
            Candidate(
                member_id=member.id,
                name=member.display_name,
                open_reviews=counts.get(member.id, 0),
                last_assigned_at=member.last_assigned_at,
                away=away.get(member.id, []),
            )
        )
    return result


def assign_reviewer(
    session: Session, story: Story, now: datetime, policy: Policy, exclude: set[int] | None = None
) -> decisions.Assignment:
    today = local_today(now, policy)
    last_day = story.draft_due or today + timedelta(days=policy.draft_days)
    assignment = decisions.choose_reviewer(
        candidates(session, exclude), story.author_id, today, last_day
    )
    set_reviewer(session, story, assignment, now)
    return assignment


def set_reviewer(
    session: Session, story: Story, assignment: decisions.Assignment, now: datetime
) -> None:
    story.reviewer_id = assignment.member_id
    story.assignment_reason = assignment.reason[:500]
    session.add(story)
    if assignment.member_id is not None:
        reviewer = session.get(Member, assignment.member_id)
        assert reviewer is not None
        reviewer.last_assigned_at = now
        session.add(reviewer)
    session.flush()


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
        set_reviewer(session, story, assignment, now)
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


# --- lifecycle -----------------------------------------------------------------------


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
    session: Session, story: Story, actor: Member, now: datetime, move_name: str, detail: str = ""
) -> str:
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
    assert story.id is not None
    if action != "pitched":
        story.version += 1
    session.add(
        StoryEvent(
            story_id=story.id,
            actor_id=actor.id if actor else None,
            at=now,
            action=action,
            from_state=from_state,
            to_state=to_state,
            detail=detail[:2000],
        )
    )
    session.add(story)
    session.flush()


def tell_reviewer(
    session: Session, story: Story, now: datetime, policy: Policy, text: str, what: str
) -> Member | None:
    """A direct message to the story's reviewer with the card and its buttons."""
    reviewer = session.get(Member, story.reviewer_id) if story.reviewer_id else None
    if reviewer is not None:
        notify_member(
            session,
            reviewer,
            Reply(
                text=text,
                blocks=card_blocks(session, story, policy),
                actions=card_actions(story),
                story_id=story.id,
            ),
            key=f"story-{story.id}:{what}:{reviewer.id}:v{story.version}",
            now=now,
            story_id=story.id,
        )
    return reviewer


def tell_author(
    session: Session, story: Story, now: datetime, text: str, *blocks: Paragraph | Fields
) -> None:
    author = session.get(Member, story.author_id)
    assert author is not None
    notify_member(
        session,
        author,
        Reply(text=text, blocks=blocks, story_id=story.id),
        key=f"story-{story.id}:author:{story.state}:v{story.version}",
        now=now,
        story_id=story.id,
    )


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
    return Reply(
        text=f"Story #{story.id} accepted; draft due {due}.", tone="success", story_id=story.id
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
    hand_over_if_away(session, story, now, policy)
    announce_card(session, story, now, policy)
    tell_reviewer(
        session,
        story,
        now,
        policy,
        f'A draft of story #{story.id} "{story.title}" is ready for your review: {link}',
        "draft-submitted",
    )
    return Reply(
        text=f"Draft of story #{story.id} submitted for review.", tone="success", story_id=story.id
    )


def hand_over_if_away(session: Session, story: Story, now: datetime, policy: Policy) -> bool:
    """A draft that arrives while its reviewer is away goes to another coordinator, with
    the reason; it stays with them when nobody else can take it. True if handed over."""
    if story.reviewer_id is None:
        return False
    today = local_today(now, policy)
    review_days = timedelta(days=policy.reminders.review_nudge_days)
    away = [p for p in away_periods(session, story.reviewer_id)
            if p.first_day <= today <= p.last_day]
    if not away:
        return False
    reviewer = session.get(Member, story.reviewer_id)
    back = max(p.last_day for p in away)
    options = [c for c in candidates(session, {story.reviewer_id})
               if not decisions.is_away(c, today, today + review_days)]
    assignment = decisions.choose_reviewer(options, story.author_id, today, today + review_days)
    if assignment.member_id is None:
        return False
    name = reviewer.display_name if reviewer else "the reviewer"
    assignment = decisions.Assignment(
        assignment.member_id, f"{name} is away until {back.isoformat()}; {assignment.reason}")
    set_reviewer(session, story, assignment, now)
    new = session.get(Member, assignment.member_id)
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
    for story in waiting:
        if not hand_over_if_away(session, story, now, policy):
            continue
        announce_card(session, story, now, policy)
        what = "the pitch" if story.state == "pitched" else f"the draft ({story.draft_link})"
        tell_reviewer(session, story, now, policy,
                      f"You are now reviewing story #{story.id}: {story.title}, {what} "
                      f"({story.assignment_reason}).", "review-assigned")
        assert story.id is not None
        handed.append(story.id)
    return handed


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
        tell_author(session, story, now,
                    f"{approved} It will go out in the next publication slot that opens.")
        text = (f"Story #{story.id} approved, but no free slot lies ahead; give it a time "
                f"with `/story schedule {story.id} YYYY-MM-DD HH:MM`.")
    return Reply(text=text, tone="success", story_id=story.id)


def move_hint(story: Story) -> str:
    return (f"To move it: `/story schedule {story.id} YYYY-MM-DD HH:MM` (a time) or "
            f"`/story schedule {story.id} next` (the next free slot).")


def schedule_detail(when: datetime, policy: Policy) -> str:
    return f"{when.astimezone(policy.zone):%Y-%m-%d %H:%M %Z}"


def earliest_slot_time(story: Story, now: datetime, policy: Policy) -> datetime:
    """No automatic slot closer than the lead, nor before the embargo lifts."""
    earliest = now + timedelta(hours=policy.min_lead_hours)
    lifted = embargo_lifted(story, policy)
    return earliest if lifted is None else max(earliest, lifted)


def embargo_lifted(story: Story, policy: Policy) -> datetime | None:
    """The start of the embargo day, local to the team, as a UTC instant."""
    if not story.embargo_until:
        return None
    return datetime.combine(story.embargo_until, time(0), tzinfo=policy.zone).astimezone(UTC)


def next_slot(session: Session, story: Story, now: datetime, policy: Policy) -> datetime | None:
    """The first free cadence or extra slot after the lead (and the embargo), if any."""
    from handlers.calendar import extra_slots

    earliest = earliest_slot_time(story, now, policy)
    taken = scheduled_times(session, exclude=story.id)
    return decisions.next_free_slot(
        earliest, policy.cadence, policy.zone, taken, extra_slots(session, earliest)
    )


def schedule(
    session: Session,
    actor: Member,
    now: datetime,
    policy: Policy,
    story_id: int,
    when: datetime | None,
) -> Reply:
    """Schedule into the next free slot at least the lead ahead (`when` None), or at an
    explicit time (the coordinator's choice: no lead applies, only the embargo)."""
    story = load_for_move(session, actor, story_id, "schedule")
    zone = policy.zone
    taken = [t for t in scheduled_times(session, exclude=story.id)]
    if when is None:
        slot = next_slot(session, story, now, policy)
        if slot is None:
            raise Refused("No free slot in the coming year; give a date and time instead.")
        when = slot
    else:
        if when <= now:
            raise Refused(
                f"{when.astimezone(zone):%Y-%m-%d %H:%M} is in the past; pick a later time."
            )
        lifted = embargo_lifted(story, policy)
        if lifted is not None and when < lifted:
            raise Refused(
                f"Story #{story.id} is under embargo until {story.embargo_until}; "
                "schedule it on or after that day."
            )
    clashes = [t for t in taken if decisions.same_local_day(t, when, zone)]
    story.scheduled_at = when
    local = when.astimezone(zone)
    change_state(session, story, actor, now, "schedule", schedule_detail(when, policy))
    announce_card(session, story, now, policy)
    tell_author(
        session,
        story,
        now,
        f'Story #{story.id} "{story.title}" will be published on {local:%A %d %B at %H:%M}.',
    )
    text = f"Story #{story.id} scheduled for {local:%a %Y-%m-%d %H:%M} ({policy.timezone})."
    if clashes:
        others = stories_at_day(session, when, policy, exclude=story.id)
        names = ", ".join(f"#{s.id}" for s in others)
        return Reply(
            text=text + f" Note: {names} is also on that day.",
            tone="warning",
            story_id=story.id,
            blocks=(
                Paragraph(
                    f"Two stories on {local:%A %d %B}: consider moving one "
                    "(`/story calendar` shows the free slots)."
                ),
            ),
        )
    return Reply(text=text, tone="success", story_id=story.id)


def scheduled_times(session: Session, exclude: int | None = None) -> list[datetime]:
    query = select(Story.scheduled_at).where(Story.state == "scheduled")
    if exclude is not None:
        query = query.where(Story.id != exclude)
    return [t for t in session.exec(query).all() if t is not None]


def stories_at_day(
    session: Session, when: datetime, policy: Policy, exclude: int | None = None
) -> list[Story]:
    zone = policy.zone
    start = datetime.combine(when.astimezone(zone).date(), time(0), tzinfo=zone)
    end = start + timedelta(days=1)
    query = select(Story).where(
        Story.state == "scheduled",
        col(Story.scheduled_at) >= start.astimezone(UTC),
        col(Story.scheduled_at) < end.astimezone(UTC),
    )
    if exclude is not None:
        query = query.where(Story.id != exclude)
    return list(session.exec(query).all())


def publish(
    session: Session,
    actor: Member,
    now: datetime,
    policy: Policy,
    story_id: int,
    permalink: str,
    media_id: str | None = None,
) -> Reply:
    permalink = permalink.strip()
    if not is_web_link(permalink):
        raise Refused("Give the published post's permalink: `/story published N https://...`.")
    if media_id is not None and not re.fullmatch(r"\d{1,40}", media_id):
        raise Refused("A media id is a number, such as 17912345678901234.")
    story = load_for_move(session, actor, story_id, "publish")
    mark_published(session, story, actor, now, policy, permalink, media_id)
    return Reply(
        text=f"Story #{story.id} is published: {permalink}", tone="success", story_id=story.id
    )


def mark_published(
    session: Session,
    story: Story,
    actor: Member | None,
    now: datetime,
    policy: Policy,
    permalink: str | None,
    media_id: str | None = None,
    published_at: datetime | None = None,
    how: str = "",
) -> None:
    """Record `story` (already checked for the move) as published, update its card and
    thank its author. `actor` is None when Storydesk recognised the post itself; `how`
    says so in the history."""
    story.permalink = permalink
    story.media_id = media_id
    story.published_at = published_at or now
    previous = story.state
    story.state = "published"
    story.state_changed_at = now
    detail = " ".join(part for part in (permalink or "", how) if part)
    record(session, story, actor, now, "publish", previous, "published", detail)
    announce_card(session, story, now, policy)
    where = f": {permalink}" if permalink else ""
    tell_author(
        session,
        story,
        now,
        f'Story #{story.id} "{story.title}" is published{where}. Thank you!',
    )


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


# --- cards, listing, showing -----------------------------------------------------------


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
    post_to_channel(
        session,
        policy.channel_platforms,
        "team",
        card(session, story, policy),
        key=f"card:story-{story.id}:v{story.version}",
        now=now,
        story_id=story.id,
        kind="card",
    )


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
