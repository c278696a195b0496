"""Scheduling into publication slots: the next free cadence or extra slot after the lead
and the embargo, `/story schedule` into that slot or at an explicit time, and the stories
already on a day.
"""

from __future__ import annotations

from datetime import UTC, datetime, time, timedelta

from sqlmodel import Session, col, select

from handlers import decisions
from handlers.context import Policy
from handlers.errors import Refused
from handlers.reply import Paragraph, Reply
from handlers.stories.card import announce_card, tell_author
from handlers.stories.moves import change_state, load_for_move
from storage.models import Member, Story


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
    explicit time (the coordinator's choice: no lead applies, only the embargo).

    Asking for the time the story already has changes nothing: approval usually chose it,
    and the author was told then; a second "will be published" would read like a move."""
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
    if story.state == "scheduled" and story.scheduled_at == when:
        return _already_scheduled(story, policy)
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


def _already_scheduled(story: Story, policy: Policy) -> Reply:
    assert story.scheduled_at is not None
    local = story.scheduled_at.astimezone(policy.zone)
    return Reply(
        text=f"Story #{story.id} is already scheduled for {local:%a %Y-%m-%d %H:%M} "
        f"({policy.timezone}); nothing moved and nobody was told again.",
        story_id=story.id,
    )


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
