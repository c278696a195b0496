"""The Graph API client and the fetch, against a local server answering like Meta."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta

import pytest
from sqlalchemy.engine import Engine
from sqlmodel import select

from bot.reach.fetch import fetch_reach
from bot.reach.instagram import GraphClient, GraphUnavailable, TokenInvalid, day_of
from handlers.context import Policy
from handlers.reach.summary import weekly_summary
from handlers.reply import Fields
from storage.db import read_session, write_session
from storage.models import Outbound
from storage.reach import AudienceSnapshot, ReachDaily, ReachPost, ReachWeekly
from tests.conftest import add_member
from tests.reach.graph_server import (
    EXPIRED,
    RATE_LIMITED,
    TEMPORARY,
    TOKEN,
    USER,
    VERSION,
    Account,
    GraphServer,
)

NOW = datetime(2026, 11, 23, 9, 30, tzinfo=UTC)  # Monday; yesterday is Sunday 22 Nov
W46 = date(2026, 11, 9)
W47 = date(2026, 11, 16)
MISSING = date(2026, 11, 18)  # Instagram has nothing for this Wednesday


def stamp(day: date, hour: int = 17) -> str:
    return f"{day:%Y-%m-%d}T{hour:02d}:00:00+0000"


def make_account() -> Account:
    account = Account(followers_count=1234)
    for i in range(28):
        day = date(2026, 10, 26) + timedelta(days=i)
        if day == MISSING:
            continue
        account.reach[day] = 100 + i
        account.non_followers[day] = 60 + i // 2
        account.views[day] = 1000 + 10 * i
        account.new_followers[day] = 3
    account.weekly_reach = {W46: (650, 400), W47: (700, 430)}
    account.demographics = {
        "age": {"18-24": 300, "25-34": 420, "35-44": 170},
        "country": {"DE": 300, "IT": 90},
        "gender": {"F": 250, "M": 740, "U": 10},
    }
    account.media = [
        {"id": "501", "caption": "Open day", "media_type": "VIDEO",
         "media_product_type": "REELS", "permalink": "https://www.instagram.com/reel/Ab501x/",
         "timestamp": stamp(date(2026, 11, 20))},
        {"id": "502", "caption": "Story", "media_type": "IMAGE", "media_product_type": "STORY",
         "permalink": "https://www.instagram.com/stories/x/502/",
         "timestamp": stamp(date(2026, 11, 19))},
        {"id": "503", "caption": "Muons", "media_type": "CAROUSEL_ALBUM",
         "media_product_type": "FEED", "permalink": "https://www.instagram.com/p/Ab503x/",
         "timestamp": stamp(date(2026, 11, 10))},
        {"id": "504", "caption": "Old", "media_type": "IMAGE", "media_product_type": "FEED",
         "permalink": "https://www.instagram.com/p/Ab504x/",
         "timestamp": stamp(date(2026, 10, 1))},
        {"id": "505", "caption": "Older", "media_type": "IMAGE", "media_product_type": "FEED",
         "permalink": "https://www.instagram.com/p/Ab505x/",
         "timestamp": stamp(date(2026, 9, 1))},
    ]
    full = {"reach": 900, "views": 2500, "likes": 80, "comments": 7, "shares": 12, "saved": 9,
            "total_interactions": 108}
    account.media_insights = {
        "501": full, "502": {**full, "reach": 300}, "503": {**full, "reach": 1200},
        "504": full, "505": full,
    }
    account.unsupported = {"502": {"shares", "likes"}}
    return account


@pytest.fixture
def server() -> Iterator[GraphServer]:
    with GraphServer(make_account()) as running:
        yield running


@pytest.fixture
def sleeps() -> list[float]:
    return []


@pytest.fixture
def client(server: GraphServer, sleeps: list[float]) -> Iterator[GraphClient]:
    with GraphClient(server.url, VERSION, TOKEN, USER, sleep=sleeps.append, backoff=0.5,
                     attempts=4) as graph:
        yield graph


def test_end_time_is_the_next_morning() -> None:
    assert day_of("2026-11-17T08:00:00+0000") == date(2026, 11, 16)


def test_fetch_stores_days_weeks_followers_audience_and_posts(
    engine: Engine, server: GraphServer, client: GraphClient, policy: Policy
) -> None:
    report = fetch_reach(client, engine, policy, NOW, since=W46)

    assert report.missing_days == [MISSING]
    assert report.problems == []
    with read_session(engine) as session:
        daily = {(r.day, r.metric): r.value for r in session.exec(select(ReachDaily)).all()}
        weekly = {(r.week_start, r.metric): r.value
                  for r in session.exec(select(ReachWeekly)).all()}
        posts = {p.media_id: p for p in session.exec(select(ReachPost)).all()}
        audience = {(a.breakdown, a.key): a.value
                    for a in session.exec(select(AudienceSnapshot)).all()}
    monday_index = (W47 - date(2026, 10, 26)).days  # 21
    assert daily[(W47, "accounts_reached")] == 100 + monday_index
    assert daily[(W47, "non_followers_reached")] == 60 + monday_index // 2
    assert daily[(W47, "views")] == 1000 + 10 * monday_index
    assert (MISSING, "accounts_reached") not in daily  # unknown, not zero
    assert (MISSING, "views") not in daily
    assert daily[(date(2026, 11, 22), "followers")] == 1234
    assert daily[(date(2026, 11, 22), "new_followers")] == 3
    assert len([k for k in daily if k[1] == "accounts_reached"]) == 13
    assert weekly == {(W46, "accounts_reached"): 650, (W46, "non_followers_reached"): 400,
                      (W47, "accounts_reached"): 700, (W47, "non_followers_reached"): 430}
    assert audience[("age", "25-34")] == 420 and audience[("gender", "U")] == 10

    # Media since 14 days before `since` (26 Oct): 501, 502, 503; paging stopped at 504.
    assert sorted(posts) == ["501", "502", "503"]
    assert (posts["503"].reach, posts["503"].saves, posts["503"].post_type) == (1200, 9, "feed")
    assert posts["501"].shortcode == "Ab501x"
    assert posts["502"].shares is None and posts["502"].likes is None  # not offered for stories
    assert posts["502"].reach == 300
    assert len(server.calls(f"{USER}/media")) == 2
    assert not server.calls("505/insights") and not server.calls("504/insights")

    reach_calls = [q for q in server.calls(f"{USER}/insights") if q.get("metric") == "reach"]
    assert any(q.get("metric_type") == "total_value" and q.get("breakdown") == "follow_type"
               for q in reach_calls)
    demographics = [q for q in server.calls(f"{USER}/insights")
                    if q.get("metric") == "follower_demographics"]
    assert {q["breakdown"] for q in demographics} == {"age", "country", "gender"}
    assert all(q["metric_type"] == "total_value" and q["timeframe"] == "this_month"
               for q in demographics)
    views_calls = [q for q in server.calls(f"{USER}/insights") if q.get("metric") == "views"]
    assert views_calls and all(q["metric_type"] == "total_value" for q in views_calls)


def test_summary_after_a_fetch_uses_the_deduplicated_week(
    engine: Engine, server: GraphServer, client: GraphClient, policy: Policy
) -> None:
    fetch_reach(client, engine, policy, NOW, since=W46)
    with write_session(engine) as session:
        reply = weekly_summary(session, add_member(session, "Ada"), NOW, policy, "2026-W47")
    pairs = dict(next(b for b in reply.blocks if isinstance(b, Fields)).pairs)
    # 700 deduplicated against 650 the week before: +50, +7.7%
    assert pairs["Accounts reached"] == "700 (deduplicated) · +50 (+7.7%)"
    assert pairs["Followers reached"].startswith("270 (deduplicated) · +20 (+8.0%)")
    # Views 16-22 Nov without Wednesday: indexes 21, 22, 24..27 -> 1000*6 + 10*(21+22+24+25+26+27)
    assert pairs["Views"].startswith(f"{6000 + 10 * 145:,} (6 of 7 days)")
    assert "No data for Wed" in " ".join(getattr(b, "text", "") for b in reply.blocks)


def test_refetch_replaces_the_last_three_days(
    engine: Engine, server: GraphServer, client: GraphClient, policy: Policy
) -> None:
    fetch_reach(client, engine, policy, NOW, since=W46)
    server.account.reach[date(2026, 11, 21)] = 999  # a late correction from Instagram
    server.requests.clear()
    report = fetch_reach(client, engine, policy, NOW)

    assert (report.since, report.until) == (date(2026, 11, 20), date(2026, 11, 23))
    with read_session(engine) as session:
        rows = session.exec(
            select(ReachDaily).where(ReachDaily.metric == "accounts_reached")).all()
    values = {r.day: r.value for r in rows}
    assert len(rows) == 13  # replaced, not doubled
    assert values[date(2026, 11, 21)] == 999


def test_rate_limit_and_temporary_errors_are_retried_with_back_off(
    server: GraphServer, client: GraphClient, sleeps: list[float]
) -> None:
    server.fail(f"{USER}/insights", RATE_LIMITED, TEMPORARY, TEMPORARY)
    series = client.daily_series("reach", W47, W47 + timedelta(days=2))
    assert series == {W47: 121, W47 + timedelta(days=1): 122}
    assert len(sleeps) == 3
    # Retry-After: 0 is honoured; then the back-off doubles: 1 s, 2 s (plus up to 0.125 s).
    assert sleeps[0] < 0.2 and 1.0 <= sleeps[1] < 1.2 and 2.0 <= sleeps[2] < 2.2


def test_giving_up_after_the_last_attempt(
    server: GraphServer, client: GraphClient, sleeps: list[float]
) -> None:
    server.fail(f"{USER}/insights", *([TEMPORARY] * 4))
    with pytest.raises(GraphUnavailable, match="after 4 attempts"):
        client.views(W47, W47 + timedelta(days=1))
    assert len(sleeps) == 3


def test_an_expired_token_is_not_retried(server: GraphServer, client: GraphClient,
                                         sleeps: list[float]) -> None:
    server.fail(f"{USER}/insights", EXPIRED)
    with pytest.raises(TokenInvalid) as caught:
        client.views(W47, W47 + timedelta(days=1))
    assert caught.value.code == 190 and caught.value.subcode == 463
    assert sleeps == []


def test_an_expired_token_is_reported_to_the_coordinators_once(
    engine: Engine, server: GraphServer, client: GraphClient, policy: Policy
) -> None:
    for _ in range(2):
        server.fail(f"{USER}/insights", EXPIRED)
        report = fetch_reach(client, engine, policy, NOW, since=W47)
        assert report.token_invalid and not report.ok
    with read_session(engine) as session:
        rows = session.exec(select(Outbound)).all()
    assert len(rows) == 1
    assert rows[0].channel == "team"
    assert "access token has expired or was revoked" in rows[0].text
    assert TOKEN not in rows[0].text and TOKEN not in rows[0].payload


def test_insights_paging_is_not_followed_into_later_windows(
    server: GraphServer, client: GraphClient
) -> None:
    client.daily_series("reach", date(2026, 10, 26), date(2026, 11, 23))  # 28 days: one call
    assert len(server.calls(f"{USER}/insights")) == 1
    client.daily_series("reach", date(2026, 9, 1), date(2026, 11, 23))  # 83 days: 3 windows
    assert len(server.calls(f"{USER}/insights")) == 4
