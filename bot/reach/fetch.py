"""`storydesk reach fetch` and the daily job: Instagram's figures into the database.

Each run asks for the days since the last fetch, always including the last three days again
(Instagram's figures can arrive up to 48 hours late; storing a day again replaces it). It
stores the daily account figures, a deduplicated weekly reach for every complete week in
that range, the follower count, the audience by age, country and gender, and the figures of
the posts published in the last two weeks. An invalid or expired token is reported once to
the coordinators through the outbox.
"""

from __future__ import annotations

import hashlib
import logging
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta

from sqlalchemy.engine import Engine
from sqlmodel import Session

from bot.reach.instagram import GraphClient, GraphError, GraphUnavailable, TokenInvalid
from config.settings import Settings
from handlers.context import Policy
from handlers.reach.store import (
    DailyFigure,
    PostFigures,
    WeeklyFigure,
    report_token_problem,
    store_audience,
    store_daily,
    store_posts,
    store_weekly,
)
from handlers.reach.weeks import day_ranges, monday_of
from handlers.reply import plural
from storage.db import read_session, write_session
from storage.models import SystemState

log = logging.getLogger(__name__)

REFETCH_DAYS = 3
FIRST_FETCH_DAYS = 28
MEDIA_REFRESH_DAYS = 14
FOLLOWER_COUNT_DAYS = 30  # Instagram keeps `follower_count` for the last 30 days only
LAST_DAY_KEY = "reach:last-fetched-day"
SOURCE = "graph_api"


@dataclass
class FetchReport:
    since: date
    until: date  # exclusive
    daily: int = 0
    weekly: int = 0
    posts: int = 0
    audience: int = 0
    missing_days: list[date] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)
    token_invalid: bool = False
    failed: bool = False  # Instagram kept failing: the fetch stopped before the end
    requests: int = 0

    @property
    def ok(self) -> bool:
        """Everything asked for was answered (some figures may still be missing)."""
        return not self.token_invalid and not self.failed

    def lines(self) -> list[str]:
        lines = [
            f"Fetched {self.since} to {self.until - timedelta(days=1)}: "
            f"{plural(self.daily, 'daily figure')}, {self.weekly} weekly, "
            f"{plural(self.posts, 'post')}, {plural(self.audience, 'audience value')} "
            f"({plural(self.requests, 'request')})."
        ]
        if self.missing_days:
            lines.append(f"No reach from Instagram yet for {_dates(self.missing_days)}.")
        lines.extend(self.problems)
        return lines


def _dates(days: list[date]) -> str:
    first, last = days[0], days[-1]
    if first == last:
        return f"{first:%a %d %b}"
    if (last - first).days < 7:
        return f"{day_ranges(days)} ({first:%d %b}–{last:%d %b})"
    return ", ".join(f"{d:%d %b}" for d in days[:10]) + ("…" if len(days) > 10 else "")


def client_from(settings: Settings) -> GraphClient:
    return GraphClient(settings.graph_api_url, settings.graph_api_version,
                       settings.instagram_access_token, settings.instagram_user_id,
                       timeout=settings.send_timeout_seconds)


def token_fingerprint(token: str) -> str:
    """A short, one-way name for a token, so it can be mentioned without being revealed."""
    return hashlib.sha256(token.encode()).hexdigest()[:12]


def default_since(engine: Engine, today: date) -> date:
    with read_session(engine) as session:
        state = session.get(SystemState, LAST_DAY_KEY)
    refetch = today - timedelta(days=REFETCH_DAYS)
    if state is None:
        return today - timedelta(days=FIRST_FETCH_DAYS)
    try:
        last = date.fromisoformat(state.value)
    except ValueError:
        return today - timedelta(days=FIRST_FETCH_DAYS)
    return min(last + timedelta(days=1), refetch)


def fetch_reach(
    client: GraphClient, engine: Engine, policy: Policy, now: datetime,
    since: date | None = None,
) -> FetchReport:
    """Fetch from `since` (default: after the last fetch, minus three days) to yesterday."""
    today = now.astimezone(policy.zone).date()
    since = since or default_since(engine, today)
    until = today
    report = FetchReport(since, until)
    daily: list[DailyFigure] = []
    weekly: list[WeeklyFigure] = []
    posts: list[PostFigures] = []
    audience: dict[str, dict[str, int]] = {}
    try:
        _collect_days(client, since, until, daily, report)
        _collect_weeks(client, since, until, weekly)
        _collect_followers(client, since, until, today, daily, report)
        _collect_audience(client, audience, report)
        _collect_posts(client, since, posts, report)
    except TokenInvalid as error:
        report.token_invalid = True
        report.problems.append(
            "Instagram refuses the access token (error 190: expired or revoked). Create a new "
            "token and set INSTAGRAM_ACCESS_TOKEN; the coordinators have been told."
        )
        log.warning("Graph API token refused: %s", error.message)
        with write_session(engine) as session:
            report_token_problem(session, now, policy,
                                 fingerprint=token_fingerprint(client.token),
                                 detail=error.message)
    except GraphUnavailable as error:
        report.failed = True
        report.problems.append(f"{error} The figures fetched so far are stored.")
    report.requests = client.requests
    with write_session(engine) as session:
        report.daily = store_daily(session, daily, source=SOURCE, now=now)
        report.weekly = store_weekly(session, weekly, source=SOURCE, now=now)
        report.posts = store_posts(session, posts, source=SOURCE, now=now)
        for breakdown, values in audience.items():
            report.audience += store_audience(session, today, breakdown, values,
                                              source=SOURCE, now=now, timeframe="this_month")
        if not report.token_invalid and since < until:
            _remember_last_day(session, until - timedelta(days=1))
    return report


def _remember_last_day(session: Session, last: date) -> None:
    state = session.get(SystemState, LAST_DAY_KEY)
    if state is None:
        session.add(SystemState(key=LAST_DAY_KEY, value=last.isoformat()))
    elif state.value < last.isoformat():
        state.value = last.isoformat()
        session.add(state)


def _collect_days(client: GraphClient, since: date, until: date, daily: list[DailyFigure],
                  report: FetchReport) -> None:
    if since >= until:
        return
    series = client.daily_series("reach", since, until)
    day = since
    while day < until:
        split = client.reach_by_follow_type(day, day + timedelta(days=1))
        reached = series.get(day, split.total)
        if reached is not None:
            daily.append(DailyFigure(day, "accounts_reached", reached))
        else:
            report.missing_days.append(day)
        if split.non_followers is not None:
            daily.append(DailyFigure(day, "non_followers_reached", split.non_followers))
        views = client.views(day, day + timedelta(days=1))
        if views is not None:
            daily.append(DailyFigure(day, "views", views))
        day += timedelta(days=1)


def _collect_weeks(client: GraphClient, since: date, until: date,
                   weekly: list[WeeklyFigure]) -> None:
    """A deduplicated reach for every complete week (Monday to Sunday) in the range."""
    monday = monday_of(since)
    while monday + timedelta(days=7) <= until:
        split = client.reach_by_follow_type(monday, monday + timedelta(days=7))
        if split.total is not None:
            weekly.append(WeeklyFigure(monday, "accounts_reached", split.total))
        if split.non_followers is not None:
            weekly.append(WeeklyFigure(monday, "non_followers_reached", split.non_followers))
        monday += timedelta(days=7)


def _collect_followers(client: GraphClient, since: date, until: date, today: date,
                       daily: list[DailyFigure], report: FetchReport) -> None:
    """New followers per day, and the follower count now, kept as yesterday's end."""
    first = max(since, today - timedelta(days=FOLLOWER_COUNT_DAYS - 1))
    try:
        if first < until:
            for day, value in sorted(client.daily_series("follower_count", first,
                                                         until).items()):
                daily.append(DailyFigure(day, "new_followers", value))
        count = client.followers_count()
    except (TokenInvalid, GraphUnavailable):
        raise
    except GraphError as error:
        report.problems.append(f"Followers: {error.message}")
        return
    if count is not None:
        daily.append(DailyFigure(today - timedelta(days=1), "followers", count))


def _collect_audience(client: GraphClient, audience: dict[str, dict[str, int]],
                      report: FetchReport) -> None:
    for breakdown in ("age", "country", "gender"):
        try:
            values = client.demographics(breakdown)
        except (TokenInvalid, GraphUnavailable):
            raise
        except GraphError as error:
            # Accounts under 100 followers get no demographics; that is not a failure.
            report.problems.append(f"Audience by {breakdown}: {error.message}")
            continue
        if values:
            audience[breakdown] = values


def _collect_posts(client: GraphClient, since: date, posts: list[PostFigures],
                   report: FetchReport) -> None:
    start = datetime.combine(since - timedelta(days=MEDIA_REFRESH_DAYS), time(0), tzinfo=UTC)
    for media in client.media_since(start):
        try:
            figures = client.media_insights(media.media_id)
        except (TokenInvalid, GraphUnavailable):
            raise
        except GraphError as error:
            report.problems.append(f"Post {media.media_id}: {error.message}")
            figures = {}
        posts.append(PostFigures(
            media_id=media.media_id, permalink=media.permalink, published_at=media.timestamp,
            post_type=(media.product_type or media.media_type or "").lower() or None,
            caption=media.caption,
            reach=figures.get("reach"), views=figures.get("views"), likes=figures.get("likes"),
            comments=figures.get("comments"), shares=figures.get("shares"),
            saves=figures.get("saved"), total_interactions=figures.get("total_interactions"),
        ))
