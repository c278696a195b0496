"""Personal calendars: each member's own feed, at a secret link only they are sent.

The feed holds what concerns the member: the due dates of their drafts, the pitches and
drafts waiting on them as reviewer, and the publication times of their stories. The link
carries a random token; only its SHA-256 fingerprint is stored, so the link is sent once,
by direct message, and `/story calendar reset` replaces it when it is lost or leaked. The
message itself names the link as its secret, so that the outbox blanks it once sent and
no export copies it.

Every entry carries the time of the last change to its story (its newest history line),
so that a calendar app sees an entry as changed only when the story did.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from sqlalchemy import func, update
from sqlmodel import Session, col, or_, select

from handlers.context import Policy
from handlers.decisions import DRAFTING_STATES
from handlers.errors import Refused
from handlers.outbox import SECRET, notify_member
from handlers.reminders import Deferral, review_occurrences
from handlers.reply import Bullets, Paragraph, Reply, info, success
from handlers.timing import at_local, zone_named
from storage.calendars import CalendarToken
from storage.models import Member, Story, StoryEvent

FEED_PATH = "/calendar/{token}.ics"
TOKEN_BYTES = 32
LAST_USED_EVERY = timedelta(hours=1)
NO_PUBLIC_URL = (
    "Personal calendar links need STORYDESK_PUBLIC_URL, the address where Storydesk is "
    "reachable (such as https://storydesk.lab.example). Ask the admin to set it."
)


def fingerprint(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def feed_url(public_url: str, token: str) -> str:
    return public_url.rstrip("/") + FEED_PATH.format(token=token)


# --- the link ----------------------------------------------------------------------------


def calendar_link(
    session: Session,
    actor: Member,
    now: datetime,
    policy: Policy,
    token: str | None = None,
) -> Reply:
    """`/story calendar link`: send the member a new link by DM, unless they have one."""
    if not policy.public_url:
        raise Refused(NO_PUBLIC_URL)
    existing = _token_of(session, actor)
    if existing is not None:
        assert existing.created_at is not None
        used = (
            f", last read by a calendar app on {existing.last_used_at:%Y-%m-%d}"
            if existing.last_used_at
            else ", not read by any calendar app yet"
        )
        return info(
            f"You already have a personal calendar link (made on "
            f"{existing.created_at:%Y-%m-%d}{used}).",
            Paragraph(
                "Storydesk keeps only a fingerprint of it, so it cannot send it again: find it "
                "in your direct messages with Storydesk, or use `/story calendar reset` for a "
                "new one (the old one then stops working)."
            ),
        )
    _issue(session, actor, now, policy, token)
    return success(
        "Your personal calendar link is on its way to you in a direct message.",
        Paragraph(
            "It shows your drafts' due dates, the reviews waiting on you and when your "
            "stories publish."
        ),
    )


def reset_link(
    session: Session,
    actor: Member,
    now: datetime,
    policy: Policy,
    token: str | None = None,
) -> Reply:
    """`/story calendar reset`: the old link stops working; a new one is sent by DM."""
    existing = _token_of(session, actor)
    if existing is not None:
        session.delete(existing)
        session.flush()
    if not policy.public_url:
        if existing is None:
            raise Refused(NO_PUBLIC_URL)
        return Reply(
            text="Your old calendar link no longer works. " + NO_PUBLIC_URL,
            tone="warning",
        )
    _issue(session, actor, now, policy, token)
    first = "Your old calendar link no longer works; the" if existing else "The"
    return success(f"{first} new link is on its way to you in a direct message.")


def _token_of(session: Session, member: Member) -> CalendarToken | None:
    return session.exec(select(CalendarToken).where(CalendarToken.member_id == member.id)).first()


def _issue(
    session: Session, actor: Member, now: datetime, policy: Policy, token: str | None
) -> None:
    assert actor.id is not None
    token = token or secrets.token_urlsafe(TOKEN_BYTES)
    digest = fingerprint(token)
    session.add(CalendarToken(member_id=actor.id, token_hash=digest, created_at=now))
    session.flush()
    url = feed_url(policy.public_url, token)
    notify_member(
        session,
        actor,
        Reply(
            text=f"Your personal Storydesk calendar: {url}",
            blocks=(
                Paragraph(
                    "Subscribe to it in your calendar app: in Google Calendar under Other "
                    "calendars, From URL; in Apple Calendar with File, New Calendar "
                    "Subscription; in Outlook with Add calendar, Subscribe from web."
                ),
                Bullets(
                    (
                        "the due dates of your drafts",
                        "pitches and drafts waiting on you as reviewer",
                        "when your stories publish",
                    )
                ),
                Paragraph(
                    "Anyone with the link can read it, so keep it to yourself. "
                    "`/story calendar reset` replaces it."
                ),
            ),
            data={SECRET: url},  # blanked from the outbox once sent
        ),
        key=f"calendar-link:member-{actor.id}:{digest[:16]}",
        now=now,
        kind="answer",  # asked for just now: not held until the member's morning
    )


def member_for_token(session: Session, token: str) -> Member | None:
    """The member whose link carries `token`, or None for an unknown or replaced token."""
    link = link_for_token(session, token)
    return None if link is None else session.get(Member, link.member_id)


def link_for_token(session: Session, token: str) -> CalendarToken | None:
    """The link that carries `token`, or None for an unknown or replaced token.

    The token is looked up by its fingerprint, and the stored fingerprint compared in
    constant time. Only reads: an unknown token costs no write.
    """
    if not token or len(token) > 200:
        return None
    digest = fingerprint(token)
    row = session.exec(select(CalendarToken).where(CalendarToken.token_hash == digest)).first()
    if row is None or not hmac.compare_digest(row.token_hash, digest):
        return None
    return row


def needs_use_noted(link: CalendarToken, now: datetime) -> bool:
    return link.last_used_at is None or now - link.last_used_at >= LAST_USED_EVERY


def note_use(session: Session, link_id: int, now: datetime) -> None:
    """Remember when a calendar app last read the link (at most hourly), so that
    `/story calendar link` can say whether it is in use."""
    session.execute(update(CalendarToken).where(col(CalendarToken.id) == link_id)
                    .values(last_used_at=now))


# --- the entries -------------------------------------------------------------------------


@dataclass(frozen=True)
class PersonalEntry:
    """One event of a personal feed: timed (`at`) or for a whole day (`day`)."""

    uid: str
    kind: str  # "draft-due", "pitch-waiting", "review-waiting", "publication"
    title: str
    description: str
    changed_at: datetime  # the story's last change: the event's DTSTAMP
    sequence: int
    at: datetime | None = None
    day: date | None = None
    url: str | None = None


def personal_entries(
    session: Session, member: Member, policy: Policy, start: datetime, end: datetime
) -> list[PersonalEntry]:
    """The member's entries that fall in [start, end), ordered by time."""
    zone = zone_named(member.timezone, policy.zone)
    stories = list(
        session.exec(
            select(Story)
            .where(or_(Story.author_id == member.id, Story.reviewer_id == member.id))
            .order_by(col(Story.id))
        ).all()
    )
    changed = _last_changes(session, [story.id for story in stories if story.id is not None])
    entries: list[PersonalEntry] = []
    for story in stories:
        assert story.id is not None
        stamp = changed.get(story.id) or story.state_changed_at or story.created_at
        assert stamp is not None
        entries.extend(_story_entries(story, member, stamp, policy, zone))
    first_day = start.astimezone(zone).date()
    last_day = end.astimezone(zone).date()
    kept = [
        entry
        for entry in entries
        if (entry.at is not None and start <= entry.at < end)
        or (entry.day is not None and first_day <= entry.day <= last_day)
    ]
    kept.sort(key=lambda entry: (_sort_time(entry, zone), entry.uid))
    return kept


def _story_entries(
    story: Story, member: Member, stamp: datetime, policy: Policy, zone: ZoneInfo
) -> list[PersonalEntry]:
    label = f"#{story.id} {story.title}"
    found: list[PersonalEntry] = []

    def add(kind: str, title: str, description: str, *, at: datetime | None = None,
            day: date | None = None, url: str | None = None) -> None:
        found.append(PersonalEntry(uid=f"story-{story.id}-{kind}", kind=kind,
                                   title=f"{title}: {label}", description=description,
                                   changed_at=stamp, sequence=story.version, at=at, day=day,
                                   url=url))

    if story.author_id == member.id:
        if story.state in DRAFTING_STATES and story.draft_due is not None:
            add("draft-due", "Draft due",
                f"Submit the draft of story #{story.id} with /story draft {story.id} <link>.",
                day=story.draft_due)
        if story.state == "scheduled" and story.scheduled_at is not None:
            add("publication", "Publishing",
                f"Story #{story.id} is scheduled to go out on Instagram.",
                at=story.scheduled_at)
        if story.state == "published" and story.published_at is not None:
            add("publication", "Published",
                f"Story #{story.id} is out: {story.permalink or 'on Instagram'}.",
                at=story.published_at, url=story.permalink)
    waiting_since = story.state_changed_at or story.created_at
    if story.reviewer_id == member.id and waiting_since is not None:
        since = f"{waiting_since.astimezone(zone):%Y-%m-%d}"
        if story.state == "pitched":
            add("pitch-waiting", "Decide on the pitch",
                f"Pitched on {since}. /story accept {story.id} or /story decline {story.id} "
                "<reason>.", at=_pitch_moment(waiting_since, policy, zone))
        if story.state == "in_review":
            add("review-waiting", "Review the draft",
                f"Draft submitted on {since}: {story.draft_link or 'no link'}. /story approve "
                f"{story.id} or /story changes {story.id} <note>.",
                at=_first_review_nudge(story, member, waiting_since, policy, zone),
                url=story.draft_link)
    return found


def _first_review_nudge(story: Story, reviewer: Member, waiting_since: datetime,
                        policy: Policy, zone: ZoneInfo) -> datetime:
    """When the first reminder about a draft waiting for review falls due: the reminders'
    own plan (N days after it came, moved into the reviewer's working hours)."""
    assert story.id is not None and reviewer.id is not None
    step = timedelta(days=policy.reminders.review_nudge_days)
    [first] = review_occurrences(story.id, story.version, reviewer.id, waiting_since,
                                 waiting_since + step, waiting_since + step,
                                 Deferral(zone=zone), policy.reminders)
    return first.due


def _pitch_moment(waiting_since: datetime, policy: Policy, zone: ZoneInfo) -> datetime:
    """No reminder comes for a pitch: it is placed as a review would be reminded of, N days
    after it came, at the usual reminder time."""
    day = waiting_since.astimezone(zone).date() + timedelta(
        days=policy.reminders.review_nudge_days)
    return at_local(day, policy.reminders.remind_at, zone)


def _last_changes(session: Session, story_ids: list[int]) -> dict[int, datetime]:
    if not story_ids:
        return {}
    rows = session.exec(
        select(StoryEvent.story_id, func.max(StoryEvent.at))
        .where(col(StoryEvent.story_id).in_(story_ids))
        .group_by(col(StoryEvent.story_id))
    ).all()
    return {story_id: at for story_id, at in rows if at is not None}


def _sort_time(entry: PersonalEntry, zone: ZoneInfo) -> datetime:
    if entry.at is not None:
        return entry.at
    assert entry.day is not None
    return datetime.combine(entry.day, time(0), tzinfo=zone).astimezone(UTC)
