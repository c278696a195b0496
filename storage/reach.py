"""Reach figures: daily and weekly account figures, per-post figures, audience snapshots.

Every figure records where it came from (`source`: graph_api, csv, manual) and the name of
the metric it is. Instagram replaced `impressions` by `views` on 21 April 2025; the two are
stored under their own names and never added together.

Re-importing or re-fetching a day replaces what was stored for it: each table has a unique
key and rows are written with `upsert`, an INSERT .. ON CONFLICT DO UPDATE that SQLite and
PostgreSQL both understand.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from datetime import date, datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite
from sqlmodel import Field, Session, SQLModel

from storage.models import utc_column

# Daily account metrics. `followers` is the follower count at the end of the day;
# `new_followers` is Instagram's `follower_count` (accounts that started following that day).
DAILY_METRICS = (
    "accounts_reached",
    "non_followers_reached",
    "views",
    "impressions",
    "followers",
    "new_followers",
)
# Weekly metrics exist only where the source gives a deduplicated value for the whole week.
WEEKLY_METRICS = ("accounts_reached", "non_followers_reached")
SOURCES = ("graph_api", "csv", "manual")
AUDIENCE_BREAKDOWNS = ("age", "country", "gender")


class ReachDaily(SQLModel, table=True):
    """One account metric for one day (the day as Instagram reports it)."""

    __tablename__ = "reach_daily"
    __table_args__ = (sa.UniqueConstraint("day", "metric", name="uq_reach_daily_day_metric"),)

    id: int | None = Field(default=None, primary_key=True)
    day: date
    metric: str = Field(max_length=40)
    value: int = Field(sa_type=sa.BigInteger)
    source: str = Field(max_length=20)
    recorded_at: datetime | None = utc_column(nullable=False)


class ReachWeekly(SQLModel, table=True):
    """A deduplicated figure for a whole ISO week (Monday `week_start` to Sunday)."""

    __tablename__ = "reach_weekly"
    __table_args__ = (
        sa.UniqueConstraint("week_start", "metric", name="uq_reach_weekly_week_metric"),
    )

    id: int | None = Field(default=None, primary_key=True)
    week_start: date
    metric: str = Field(max_length=40)
    value: int = Field(sa_type=sa.BigInteger)
    source: str = Field(max_length=20)
    recorded_at: datetime | None = utc_column(nullable=False)


class ReachPost(SQLModel, table=True):
    """Lifetime figures of one published post; None means unknown, never zero.

    `views` and `impressions` are separate columns: an older export reports impressions,
    a newer one views, and the two are not the same measure.
    """

    __tablename__ = "reach_post"

    id: int | None = Field(default=None, primary_key=True)
    media_id: str = Field(max_length=64, unique=True)
    permalink: str | None = Field(default=None, max_length=500)
    shortcode: str | None = Field(default=None, max_length=64, index=True)
    published_at: datetime | None = utc_column(index=True)
    post_type: str | None = Field(default=None, max_length=40)
    caption: str = Field(default="", max_length=300)
    reach: int | None = Field(default=None, sa_type=sa.BigInteger)
    views: int | None = Field(default=None, sa_type=sa.BigInteger)
    impressions: int | None = Field(default=None, sa_type=sa.BigInteger)
    likes: int | None = Field(default=None, sa_type=sa.BigInteger)
    comments: int | None = Field(default=None, sa_type=sa.BigInteger)
    shares: int | None = Field(default=None, sa_type=sa.BigInteger)
    saves: int | None = Field(default=None, sa_type=sa.BigInteger)
    follows: int | None = Field(default=None, sa_type=sa.BigInteger)
    total_interactions: int | None = Field(default=None, sa_type=sa.BigInteger)
    source: str = Field(max_length=20)
    recorded_at: datetime | None = utc_column(nullable=False)
    story_id: int | None = Field(default=None, foreign_key="story.id", index=True)


class AudienceSnapshot(SQLModel, table=True):
    """Followers by one value of a breakdown (age group, country, gender) on one day."""

    __tablename__ = "audience_snapshot"
    __table_args__ = (
        sa.UniqueConstraint(
            "taken_on", "metric", "breakdown", "key", name="uq_audience_snapshot_key"
        ),
    )

    id: int | None = Field(default=None, primary_key=True)
    taken_on: date
    metric: str = Field(default="follower_demographics", max_length=40)
    breakdown: str = Field(max_length=20)
    key: str = Field(max_length=80)
    value: int = Field(sa_type=sa.BigInteger)
    timeframe: str = Field(default="", max_length=20)
    source: str = Field(max_length=20)
    recorded_at: datetime | None = utc_column(nullable=False)


def upsert(
    session: Session,
    model: type[SQLModel],
    rows: Sequence[Mapping[str, Any]],
    keys: Iterable[str],
    *,
    chunk: int = 500,
) -> int:
    """Insert `rows`, replacing the given columns of any row whose `keys` already exist.

    Only the columns a row names are written, so a source that does not know a figure
    leaves the stored one alone. Within `rows` the last row for a key wins. Returns the
    number of distinct keys written.
    """
    key_names = list(keys)
    latest: dict[tuple[Any, ...], dict[str, Any]] = {}
    for row in rows:
        latest[tuple(row[name] for name in key_names)] = dict(row)
    if not latest:
        return 0
    table: sa.Table = model.__table__  # type: ignore[attr-defined]
    dialect = session.get_bind().dialect.name
    insert_fn: Any = postgresql.insert if dialect == "postgresql" else sqlite.insert
    by_shape: dict[tuple[str, ...], list[dict[str, Any]]] = {}
    for row in latest.values():
        by_shape.setdefault(tuple(sorted(row)), []).append(row)
    for shape, same_shape in by_shape.items():
        updated = [name for name in shape if name not in key_names and name != "id"]
        for start in range(0, len(same_shape), chunk):
            statement = insert_fn(table).values(same_shape[start : start + chunk])
            if updated:
                statement = statement.on_conflict_do_update(
                    index_elements=key_names,
                    set_={name: statement.excluded[name] for name in updated},
                )
            else:
                statement = statement.on_conflict_do_nothing(index_elements=key_names)
            session.execute(statement)
    return len(latest)
