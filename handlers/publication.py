"""Publication without typing: posts seen on Instagram are matched to the schedule, and a
slot that passes unrecorded is raised to the coordinators.

The bot's watch (bot/reach/publication_watch.py) fetches the account's newest media, often
while a slot is open and a few times a day otherwise (`look_from`), and hands them to
`record_posts`. Each post is looked at once (a `SeenPost` row):

- a **sure** match (posted within a few hours of a scheduled story's slot, and the caption
  names the story's title) is recorded as published, with its permalink and media id; the
  team is told and the author thanked;
- an **unsure** one (the time fits a slot but the caption does not name the title, or it
  came much later, or two stories fit) is put to the team with a one-click confirmation;
- a post **nobody scheduled** is announced, so that it can be attached to a story with
  `/story published N <permalink>` or ignored.

Without Instagram, the "Posted" buttons (`mark_posted`) record a post with one click, and
`raise_unrecorded` tells the team channel, on the first working morning after a slot,
about every story still scheduled there.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import or_
from sqlmodel import Session, col, select

from handlers.context import Policy
from handlers.errors import Refused
from handlers.members import is_coordinator
from handlers.outbox import post_to_channel
from handlers.reply import Action, Paragraph, Reply
from handlers.stories import is_web_link, load_for_move, mark_published, member_name
from handlers.timing import at_local
from storage.models import Member, Story, SystemState
from storage.publication import SeenPost

WATCH_DAYS = 7  # a slot's story is looked for this long after its time
LOOKED_KEY = "publication:looked-until"  # the account's media are known up to this moment
EARLY = timedelta(hours=2)  # a post this much before its slot still belongs to it
SURE_WITHIN = timedelta(hours=3)  # a sure match is posted within this of its slot
SURE_TITLE_SHARE = 0.5  # and its caption names at least this share of the title's words
CAPTION_SHOWN = 300
PREFIX = 5  # words sharing their first five letters match ("volcano", "volcanoes")
_WORD = re.compile(r"[^\W_]+", re.UNICODE)
STOPWORDS = frozenset((
    "the", "and", "for", "with", "from", "into", "what", "how", "why", "who", "our", "your",
    "their", "this", "that", "are", "was", "were", "has", "have", "its", "not", "but", "all",
    "can", "new", "der", "die", "das", "und", "mit", "von", "den", "des", "ein", "eine",
))


# --- pure decisions -------------------------------------------------------------------------


@dataclass(frozen=True)
class Post:
    """A post on the account, as the Graph API lists it."""

    media_id: str
    permalink: str | None
    caption: str
    posted_at: datetime | None


@dataclass(frozen=True)
class SlotStory:
    story_id: int
    title: str
    scheduled_at: datetime


@dataclass(frozen=True)
class Match:
    kind: str  # "sure", "unsure" or "none"
    story_id: int | None = None
    reason: str = ""


def words(text: str) -> set[str]:
    return {word for word in (w.lower() for w in _WORD.findall(text))
            if len(word) >= 3 and word not in STOPWORDS}


def title_share(title: str, caption: str) -> float:
    """The share of the title's words that the caption names (0 for a title of no words)."""
    wanted = words(title)
    if not wanted:
        return 0.0
    said = words(caption)
    singular = {other.rstrip("s") for other in said}

    def named(word: str) -> bool:
        if word in said or word.rstrip("s") in singular:
            return True
        return len(word) >= PREFIX and any(
            len(other) >= PREFIX and other[:PREFIX] == word[:PREFIX] for other in said)

    return sum(1 for word in wanted if named(word)) / len(wanted)


def plausible(post: Post, slot: SlotStory) -> bool:
    if post.posted_at is None:
        return False
    return slot.scheduled_at - EARLY <= post.posted_at <= slot.scheduled_at + timedelta(
        days=WATCH_DAYS)


def match_post(post: Post, slots: Sequence[SlotStory]) -> Match:
    """Which scheduled story `post` is, and how sure that is.

    Sure: posted within SURE_WITHIN of the slot and the caption names the title, with no
    other story fitting as well. Unsure: only one of the two holds (or two stories fit).
    None: neither holds for any story scheduled around that time.
    """
    if post.posted_at is None:
        return Match("none", reason="Instagram gave no time for it.")
    posted = post.posted_at

    def close(slot: SlotStory) -> bool:
        return abs(posted - slot.scheduled_at) <= SURE_WITHIN

    def named(slot: SlotStory) -> bool:
        return title_share(slot.title, post.caption) >= SURE_TITLE_SHARE

    fitting = [slot for slot in slots if plausible(post, slot) and (close(slot) or named(slot))]
    if not fitting:
        return Match("none", reason="No story was scheduled around that time.")
    ranked = sorted(fitting, key=lambda slot: (
        -(close(slot) and named(slot)), -title_share(slot.title, post.caption),
        abs(posted - slot.scheduled_at)))
    best = ranked[0]
    rival = next((slot for slot in ranked[1:] if named(slot) and close(slot)), None)
    if close(best) and named(best) and rival is None:
        return Match("sure", best.story_id)
    if rival is not None:
        reason = f"Story #{rival.story_id} fits as well."
    elif not close(best):
        hours = abs(posted - best.scheduled_at) / timedelta(hours=1)
        side = "after" if posted > best.scheduled_at else "before"
        reason = f"It went out {hours:.0f} hours {side} the slot."
    else:
        reason = "Its caption does not name the story's title."
    return Match("unsure", best.story_id, reason)


def next_working_morning(slot: datetime, policy: Policy) -> datetime:
    """When an unrecorded slot is raised: the first working day after the slot's day, at
    the time of the "publishing today" post (team time)."""
    zone = policy.zone
    rules = policy.reminders
    day = slot.astimezone(zone).date() + timedelta(days=1)
    for _ in range(7):
        if not rules.working_days or day.weekday() in rules.working_days:
            break
        day += timedelta(days=1)
    return at_local(day, rules.publishing_today_at, zone)


# --- the watch ---------------------------------------------------------------------------


def open_since(session: Session, now: datetime) -> datetime | None:
    """The time of the earliest open slot (a passed slot whose story is not recorded yet,
    at most WATCH_DAYS old), or None: then there is nothing to watch for."""
    first = session.exec(
        select(Story.scheduled_at)
        .where(Story.state == "scheduled")
        .where(col(Story.scheduled_at) <= now)
        .where(col(Story.scheduled_at) >= now - timedelta(days=WATCH_DAYS))
        .order_by(col(Story.scheduled_at))
        .limit(1)
    ).first()
    return first


def looked_until(session: Session) -> datetime | None:
    """When the account's media were last listed successfully (None: never)."""
    state = session.get(SystemState, LOOKED_KEY)
    try:
        return datetime.fromisoformat(state.value) if state else None
    except ValueError:
        return None


def remember_look(session: Session, at: datetime) -> None:
    """The account's media are known up to `at`: the next look starts there."""
    state = session.get(SystemState, LOOKED_KEY) or SystemState(key=LOOKED_KEY)
    state.value = at.isoformat()
    session.add(state)


def look_from(session: Session, now: datetime) -> tuple[datetime | None, bool]:
    """From when to list the account's media, and whether a slot is open.

    While a slot is open: from its time (less EARLY), or from the last look if that was
    earlier, so that nothing posted in between goes unseen. Otherwise from the last look,
    so that a post nobody scheduled is still announced. Never more than WATCH_DAYS back;
    None before the first look with no slot open (an account's history is nobody's news:
    the caller remembers `now` as the start)."""
    slot = open_since(session, now)
    starts = [moment for moment in (slot - EARLY if slot else None, looked_until(session))
              if moment]
    if not starts:
        return None, False
    return max(min(starts), now - timedelta(days=WATCH_DAYS)), slot is not None


def scheduled_slots(session: Session, now: datetime) -> list[SlotStory]:
    rows = session.exec(
        select(Story)
        .where(Story.state == "scheduled")
        .where(col(Story.scheduled_at) >= now - timedelta(days=WATCH_DAYS))
        .where(col(Story.scheduled_at) <= now + EARLY)
    ).all()
    return [SlotStory(story.id, story.title, story.scheduled_at) for story in rows
            if story.id is not None and story.scheduled_at is not None]


@dataclass
class WatchReport:
    recorded: list[int]
    asked: list[int]
    announced: list[str]
    known: int = 0


def record_posts(session: Session, now: datetime, policy: Policy,
                 posts: Sequence[Post]) -> WatchReport:
    """Match every post not seen before; record, ask or announce it (see the module)."""
    report = WatchReport([], [], [])
    fresh = [post for post in posts if post.media_id]
    if not fresh:
        return report
    seen = set(session.exec(select(SeenPost.media_id).where(
        col(SeenPost.media_id).in_([post.media_id for post in fresh]))).all())
    slots = scheduled_slots(session, now)
    # Oldest first: the earlier of two posts gets the first say on a slot.
    for post in sorted(fresh, key=lambda p: p.posted_at or now):
        if post.media_id in seen:
            continue
        seen.add(post.media_id)
        if _already_attached(session, post):
            _remember(session, post, None, "known", now)
            report.known += 1
            continue
        match = match_post(post, slots)
        if match.kind == "sure" and match.story_id is not None:
            story = session.get(Story, match.story_id, with_for_update=True)
            if story is not None and story.state == "scheduled":
                _record(session, story, post, now, policy)
                slots = [slot for slot in slots if slot.story_id != story.id]
                report.recorded.append(match.story_id)
                continue
            match = Match("none", reason="")
        if match.kind == "unsure" and match.story_id is not None:
            story = session.get(Story, match.story_id)
            if story is not None:
                _ask(session, story, post, match.reason, now, policy)
                report.asked.append(match.story_id)
                continue
        _announce(session, post, now, policy)
        report.announced.append(post.media_id)
    session.flush()
    return report


def _already_attached(session: Session, post: Post) -> bool:
    """A post someone recorded by hand (`/story published`) is nobody's news."""
    condition = col(Story.media_id) == post.media_id
    if post.permalink:
        base = post.permalink.rstrip("/")
        condition = or_(condition, col(Story.permalink).in_([base, base + "/"]))
    return session.exec(select(Story.id).where(condition).limit(1)).first() is not None


def _remember(session: Session, post: Post, story_id: int | None, outcome: str,
              now: datetime) -> None:
    session.add(SeenPost(media_id=post.media_id, permalink=(post.permalink or "")[:500] or None,
                         caption=post.caption[:2000], posted_at=post.posted_at,
                         story_id=story_id, outcome=outcome, seen_at=now))


def _when(post: Post, policy: Policy) -> str:
    if post.posted_at is None:
        return ""
    return f" at {post.posted_at.astimezone(policy.zone):%a %d %b %H:%M}"


def _caption(post: Post) -> Paragraph:
    text = post.caption.strip() or "(no caption)"
    if len(text) > CAPTION_SHOWN:
        text = text[:CAPTION_SHOWN - 1].rstrip() + "…"
    return Paragraph(f"Caption: {text}")


def _record(session: Session, story: Story, post: Post, now: datetime, policy: Policy) -> None:
    mark_published(session, story, None, now, policy, post.permalink, post.media_id,
                   published_at=post.posted_at, how="(recognised on Instagram)")
    _remember(session, post, story.id, "recorded", now)
    author = member_name(session, story.author_id)
    text = (f'Recorded from Instagram: story #{story.id} "{story.title}" went out'
            f'{_when(post, policy)}: {post.permalink or post.media_id}. {author} has been '
            "thanked.")
    post_to_channel(session, policy.channel_platforms, "team",
                    Reply(text=text, tone="success", visibility="in_channel",
                          story_id=story.id),
                    key=f"post-recorded:{post.media_id}", now=now, story_id=story.id)


def _ask(session: Session, story: Story, post: Post, reason: str, now: datetime,
         policy: Policy) -> None:
    assert story.id is not None
    _remember(session, post, story.id, "asked", now)
    link = post.permalink or f"media {post.media_id}"
    text = (f'A new post on Instagram{_when(post, policy)} may be story #{story.id} '
            f'"{story.title}": {link}. {reason}'.rstrip())
    buttons = (Action("confirm_post", f"Yes, it is #{story.id}", story.id, story.version,
                      "primary"),)
    command = _by_hand(post)
    other = (f"If it is another story: `{command}`; if it is no story, nothing needs doing."
             if command else f"Instagram gave no link for it; if it is not #{story.id}, nothing "
             "needs doing.")
    hint = Paragraph(f'"Yes" records story #{story.id} as published with this post. {other}')
    post_to_channel(session, policy.channel_platforms, "team",
                    Reply(text=text, blocks=(Paragraph(text), _caption(post), hint),
                          actions=buttons, tone="warning", visibility="in_channel",
                          story_id=story.id),
                    key=f"post-ask:{post.media_id}", now=now, story_id=story.id)


def _announce(session: Session, post: Post, now: datetime, policy: Policy) -> None:
    _remember(session, post, None, "unscheduled", now)
    link = post.permalink or f"media {post.media_id}"
    text = f"A new post on Instagram{_when(post, policy)} that no story was scheduled for: {link}"
    command = _by_hand(post)
    hint = Paragraph(f"If it belongs to a story: `{command}`. Otherwise nothing needs doing."
                     if command else "Instagram gave no link for it; nothing needs doing.")
    post_to_channel(session, policy.channel_platforms, "team",
                    Reply(text=text, blocks=(Paragraph(text), _caption(post), hint),
                          visibility="in_channel"),
                    key=f"post-unscheduled:{post.media_id}", now=now)


def _by_hand(post: Post) -> str | None:
    """The command that attaches `post` to a story, if it can be typed: `/story published`
    needs the permalink (a media id alone is refused), so a post without one has none."""
    if not post.permalink:
        return None
    return f"/story published N {post.permalink} {post.media_id}"


# --- buttons --------------------------------------------------------------------------------


def confirm_post(session: Session, actor: Member, now: datetime, policy: Policy,
                 story_id: int, version: int | None = None) -> Reply:
    """The "Yes, it is #N" button: record the post the team was asked about."""
    asked = session.exec(
        select(SeenPost).where(SeenPost.story_id == story_id, SeenPost.outcome == "asked")
        .order_by(col(SeenPost.seen_at).desc()).limit(1)
    ).first()
    if asked is None:
        raise Refused(f"No post is waiting to be confirmed as story #{story_id}.")
    story = load_for_move(session, actor, story_id, "publish", version)
    mark_published(session, story, actor, now, policy, asked.permalink, asked.media_id,
                   published_at=asked.posted_at, how="(confirmed from Instagram)")
    asked.outcome = "confirmed"
    session.add(asked)
    return Reply(text=f"Story #{story_id} is recorded as published: "
                      f"{asked.permalink or asked.media_id}.", tone="success",
                 story_id=story_id)


def mark_posted(session: Session, actor: Member, now: datetime, policy: Policy,
                story_id: int, version: int | None = None, permalink: str = "") -> Reply:
    """The "Posted" button: the story went out; its permalink is optional."""
    permalink = permalink.strip()
    if permalink and not is_web_link(permalink):
        raise Refused("Give the post's link, such as https://www.instagram.com/p/abc123/, "
                      "or leave it empty.", field_errors={"link": "Not a web link."})
    if not is_coordinator(actor):
        raise Refused(f"Only coordinators can record story #{story_id} as published.")
    story = load_for_move(session, actor, story_id, "publish", version)
    mark_published(session, story, actor, now, policy, permalink or None,
                   how="(marked as posted)")
    if permalink:
        return Reply(text=f"Story #{story_id} is recorded as published: {permalink}.",
                     tone="success", story_id=story_id)
    return Reply(text=f"Story #{story_id} is recorded as published. Without its link its "
                      "reach cannot be matched to it; next time use *Posted, with link*.",
                 tone="success", story_id=story_id)


def posted_actions(story: Story) -> tuple[Action, ...]:
    assert story.id is not None
    return (Action("posted", f"Posted #{story.id}", story.id, story.version, "primary"),
            Action("posted_link", "Posted, with link…", story.id, story.version))


# --- slots that passed unrecorded -------------------------------------------------------------


def raise_unrecorded(session: Session, now: datetime, policy: Policy) -> list[int]:
    """Tell the team about every story whose slot passed without it being recorded, on the
    first working morning after the slot; once per slot. Returns the stories raised."""
    stories = session.exec(
        select(Story).where(Story.state == "scheduled")
        .where(col(Story.scheduled_at) < now)
        .where(col(Story.scheduled_at) >= now - timedelta(days=60))
        .order_by(col(Story.scheduled_at))
    ).all()
    raised = []
    for story in stories:
        if story.scheduled_at is None or story.id is None:
            continue
        if now < next_working_morning(story.scheduled_at, policy):
            continue
        slot = story.scheduled_at.astimezone(policy.zone)
        text = (f'Story #{story.id} "{story.title}" was scheduled for {slot:%A %d %B %H:%M} '
                "and is not recorded as published.")
        hint = Paragraph(f"If it went out, press *Posted* (or `/story published {story.id} "
                         f"<permalink>`). If it did not, `/story schedule {story.id} next` "
                         "gives it the next free slot.")
        rows = post_to_channel(
            session, policy.channel_platforms, "team",
            Reply(text=text, blocks=(Paragraph(text), hint), actions=posted_actions(story),
                  tone="warning", visibility="in_channel", story_id=story.id),
            key=f"unrecorded:story-{story.id}:{story.scheduled_at:%Y%m%dT%H%M}", now=now,
            story_id=story.id)
        if rows:
            raised.append(story.id)
    return raised
