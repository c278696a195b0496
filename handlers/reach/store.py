"""Reach figures in: storing what the Graph API, a CSV export or a coordinator reports.

Every figure is stored with its source and under its metric's own name; a figure that a
source does not know stays unknown (it is not stored as zero). Storing a day, a week or a
post again replaces what was there, so re-fetching and re-importing never double-count.
Posts are linked to the published stories they belong to by media id or by permalink.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, fields
from datetime import date, datetime
from typing import Any

from sqlmodel import Session, col, select

from handlers.context import Policy
from handlers.errors import Refused
from handlers.members import require_coordinator
from handlers.outbox import post_to_channel
from handlers.reply import Fields, Paragraph, Reply
from storage.models import Member, Story
from storage.reach import (
    AUDIENCE_BREAKDOWNS,
    DAILY_METRICS,
    SOURCES,
    WEEKLY_METRICS,
    AudienceSnapshot,
    ReachDaily,
    ReachPost,
    ReachWeekly,
    upsert,
)

VIEWS_SINCE = date(2025, 4, 21)
"""Instagram reports `views` from this day on; before it, the measure was `impressions`."""

METRIC_LABELS = {
    "accounts_reached": "accounts reached",
    "non_followers_reached": "non-followers reached",
    "views": "views",
    "impressions": "impressions",
    "followers": "followers",
    "new_followers": "new followers",
}
MAX_FIGURE = 10**12
_SHORTCODE = re.compile(r"instagram\.com/(?:[\w.]+/)?(?:p|reel|reels|tv)/([A-Za-z0-9_-]{5,64})")


@dataclass(frozen=True)
class DailyFigure:
    day: date
    metric: str
    value: int


@dataclass(frozen=True)
class WeeklyFigure:
    """A deduplicated figure for the ISO week starting on Monday `week_start`."""

    week_start: date
    metric: str
    value: int


@dataclass(frozen=True)
class PostFigures:
    """One post's lifetime figures; None means the source did not say."""

    media_id: str
    permalink: str | None = None
    published_at: datetime | None = None
    post_type: str | None = None
    caption: str | None = None
    reach: int | None = None
    views: int | None = None
    impressions: int | None = None
    likes: int | None = None
    comments: int | None = None
    shares: int | None = None
    saves: int | None = None
    follows: int | None = None
    total_interactions: int | None = None


def _check_source(source: str) -> None:
    if source not in SOURCES:
        raise ValueError(f"unknown source {source!r}")


def _check_value(value: int, what: str) -> None:
    if not 0 <= value <= MAX_FIGURE:
        raise ValueError(f"{what}: {value} is not a count")


def store_daily(
    session: Session, figures: Iterable[DailyFigure], *, source: str, now: datetime
) -> int:
    """Store daily account figures; a day and metric stored before is replaced."""
    _check_source(source)
    rows = []
    for figure in figures:
        if figure.metric not in DAILY_METRICS:
            raise ValueError(f"unknown daily metric {figure.metric!r}")
        _check_value(figure.value, figure.metric)
        rows.append({"day": figure.day, "metric": figure.metric, "value": figure.value,
                     "source": source, "recorded_at": now})
    return upsert(session, ReachDaily, rows, ("day", "metric"))


def store_weekly(
    session: Session, figures: Iterable[WeeklyFigure], *, source: str, now: datetime
) -> int:
    """Store deduplicated weekly figures (only a source that has them: the Graph API)."""
    _check_source(source)
    rows = []
    for figure in figures:
        if figure.metric not in WEEKLY_METRICS:
            raise ValueError(f"unknown weekly metric {figure.metric!r}")
        if figure.week_start.weekday() != 0:
            raise ValueError(f"a week starts on a Monday, not on {figure.week_start}")
        _check_value(figure.value, figure.metric)
        rows.append({"week_start": figure.week_start, "metric": figure.metric,
                     "value": figure.value, "source": source, "recorded_at": now})
    return upsert(session, ReachWeekly, rows, ("week_start", "metric"))


def shortcode_of(permalink: str | None) -> str | None:
    """The post's shortcode in an Instagram link (`/p/ABC/`, `/reel/ABC/`), or None."""
    if not permalink:
        return None
    match = _SHORTCODE.search(permalink)
    return match.group(1) if match else None


def store_posts(
    session: Session, posts: Iterable[PostFigures], *, source: str, now: datetime
) -> int:
    """Store per-post figures by media id, then link new posts to their stories.

    Only the figures a source knows are written: a CSV without a `Follows` column leaves
    the follows the API reported alone.
    """
    _check_source(source)
    rows: list[dict[str, Any]] = []
    for post in posts:
        row: dict[str, Any] = {"media_id": post.media_id, "source": source, "recorded_at": now}
        for field in fields(PostFigures):
            value = getattr(post, field.name)
            if field.name == "media_id" or value is None:
                continue
            if isinstance(value, int):
                _check_value(value, field.name)
            if field.name == "caption":
                value = " ".join(str(value).split())[:300]
            row[field.name] = value
        code = shortcode_of(post.permalink)
        if code:
            row["shortcode"] = code
        row.setdefault("caption", "")
        rows.append(row)
    stored = upsert(session, ReachPost, rows, ("media_id",))
    link_posts(session, [row["media_id"] for row in rows])
    return stored


def link_posts(session: Session, media_ids: list[str] | None = None) -> int:
    """Give posts without a story the published story with their media id or permalink."""
    query = select(ReachPost).where(col(ReachPost.story_id).is_(None))
    if media_ids is not None:
        if not media_ids:
            return 0
        query = query.where(col(ReachPost.media_id).in_(media_ids))
    unlinked = list(session.exec(query).all())
    if not unlinked:
        return 0
    by_media, by_code = published_story_keys(session)
    linked = 0
    for post in unlinked:
        story_id = by_media.get(post.media_id)
        if story_id is None and post.shortcode:
            story_id = by_code.get(post.shortcode)
        if story_id is not None:
            post.story_id = story_id
            session.add(post)
            linked += 1
    session.flush()
    return linked


def published_story_keys(session: Session) -> tuple[dict[str, int], dict[str, int]]:
    """Published stories by media id and by permalink shortcode."""
    rows = session.exec(
        select(Story.id, Story.media_id, Story.permalink).where(Story.state == "published")
    ).all()
    by_media: dict[str, int] = {}
    by_code: dict[str, int] = {}
    for story_id, media_id, permalink in rows:
        assert story_id is not None
        if media_id:
            by_media[media_id] = story_id
        code = shortcode_of(permalink)
        if code:
            by_code[code] = story_id
    return by_media, by_code


def store_audience(
    session: Session,
    taken_on: date,
    breakdown: str,
    values: Mapping[str, int],
    *,
    source: str,
    now: datetime,
    timeframe: str = "",
    metric: str = "follower_demographics",
) -> int:
    """Replace the day's snapshot of one breakdown (a value gone from the source goes too)."""
    _check_source(source)
    if breakdown not in AUDIENCE_BREAKDOWNS:
        raise ValueError(f"unknown audience breakdown {breakdown!r}")
    old = session.exec(
        select(AudienceSnapshot).where(
            AudienceSnapshot.taken_on == taken_on,
            AudienceSnapshot.metric == metric,
            AudienceSnapshot.breakdown == breakdown,
        )
    ).all()
    for row in old:
        session.delete(row)
    session.flush()
    for key, value in values.items():
        _check_value(value, f"{breakdown} {key}")
        session.add(AudienceSnapshot(
            taken_on=taken_on, metric=metric, breakdown=breakdown, key=key[:80], value=value,
            timeframe=timeframe, source=source, recorded_at=now,
        ))
    session.flush()
    return len(values)


# --- manual entry ------------------------------------------------------------------------

MANUAL_USAGE = (
    "/story reach add YYYY-MM-DD reached=N nonfollowers=N views=N [followers=N]"
)
_MANUAL_KEYS = {
    "reached": "accounts_reached",
    "nonfollowers": "non_followers_reached",
    "non_followers": "non_followers_reached",
    "views": "views",
    "impressions": "impressions",
    "followers": "followers",
}
_REQUIRED = (("reached", "accounts_reached"), ("nonfollowers", "non_followers_reached"))


def parse_manual(text: str) -> tuple[date, dict[str, int]]:
    """`2026-11-16 reached=1,234 nonfollowers=800 views=5000` -> (day, metric -> value)."""
    words = text.split()
    if not words:
        raise Refused(f"Give the day and its figures: `{MANUAL_USAGE}`.")
    try:
        day = date.fromisoformat(words[0])
    except ValueError:
        raise Refused(f"{words[0][:20]!r} is not a day; write it as YYYY-MM-DD.") from None
    values: dict[str, int] = {}
    for word in words[1:]:
        name, sep, raw = word.partition("=")
        metric = _MANUAL_KEYS.get(name.lower())
        if not sep or metric is None:
            raise Refused(
                f"I don't understand {word[:30]!r}; use reached=, nonfollowers=, views= "
                "(or impressions= for days before 21 April 2025) and followers=."
            )
        digits = raw.replace(",", "").replace("_", "")
        if not digits.isdigit() or len(digits) > 12:
            raise Refused(f"{name}= needs a whole number, such as {name}=1234.")
        if metric in values:
            raise Refused(f"{name}= is given twice.")
        values[metric] = int(digits)
    missing = [name for name, metric in _REQUIRED if metric not in values]
    if missing:
        raise Refused(f"Give {' and '.join(m + '=' for m in missing)} too: `{MANUAL_USAGE}`.")
    if "views" not in values and "impressions" not in values:
        raise Refused(f"Give views= (or impressions= before 21 April 2025): `{MANUAL_USAGE}`.")
    return day, values


def add_manual(
    session: Session, actor: Member, now: datetime, policy: Policy, text: str
) -> Reply:
    """`/story reach add`: a coordinator types in one day's figures from Instagram's app."""
    require_coordinator(actor, "enter reach figures")
    day, values = parse_manual(text)
    today = now.astimezone(policy.zone).date()
    if day >= today:
        raise Refused(f"{day} is not over yet; enter figures for days up to yesterday.")
    if values["non_followers_reached"] > values["accounts_reached"]:
        raise Refused(
            "Non-followers reached cannot be more than accounts reached "
            f"({values['non_followers_reached']:,} > {values['accounts_reached']:,})."
        )
    store_daily(session, [DailyFigure(day, metric, value) for metric, value in values.items()],
                source="manual", now=now)
    followers_reached = values["accounts_reached"] - values["non_followers_reached"]
    pairs = [(METRIC_LABELS[metric], f"{value:,}") for metric, value in values.items()]
    pairs.insert(2, ("followers reached", f"{followers_reached:,}"))
    blocks: list[Fields | Paragraph] = [Fields(tuple(pairs))]
    if "views" in values and day < VIEWS_SINCE:
        blocks.append(Paragraph(
            f"Note: on {day} Instagram still reported impressions, not views. If the number "
            "you copied was impressions, enter it again as impressions=N (it replaces this)."
        ))
    if "impressions" in values and day >= VIEWS_SINCE:
        blocks.append(Paragraph(
            f"Note: from 21 April 2025 Instagram reports views; impressions for {day} are "
            "kept under their own name and not added to views."
        ))
    return Reply(text=f"Stored the figures for {day:%a %d %b %Y}; entering them again replaces "
                 "them.", blocks=tuple(blocks), tone="success")


# --- problems with the Instagram connection ----------------------------------------------


def report_token_problem(
    session: Session, now: datetime, policy: Policy, *, fingerprint: str, detail: str = ""
) -> bool:
    """Tell the coordinators, once per token, that Instagram refuses the access token.

    `fingerprint` identifies the token without revealing it (a short hash), so a new token
    that expires in its turn is reported again. Returns True if the message was queued now.
    """
    text = (
        "Storydesk cannot read Instagram's figures any more: Instagram says the access token "
        "has expired or was revoked. Until a coordinator creates a new token and puts it in "
        "INSTAGRAM_ACCESS_TOKEN, the weekly reach summary only has figures entered by hand "
        "(`/story reach add`) or imported (`storydesk reach import`)."
    )
    blocks = (Paragraph(f"Instagram's words: {detail[:300]}"),) if detail else ()
    rows = post_to_channel(
        session, policy.channel_platforms, "team", Reply(text=text, blocks=blocks,
                                                         tone="warning"),
        key=f"instagram:token-invalid:{fingerprint}", now=now,
    )
    return bool(rows)
