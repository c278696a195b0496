"""Storing figures: replacing, never doubling, on SQLite and PostgreSQL."""

from __future__ import annotations

from datetime import UTC, date, datetime

import pytest
from sqlalchemy.engine import Engine
from sqlmodel import Session, select

from handlers.context import Policy
from handlers.errors import Refused
from handlers.reach.store import (
    DailyFigure,
    PostFigures,
    WeeklyFigure,
    add_manual,
    link_posts,
    parse_manual,
    report_token_problem,
    shortcode_of,
    store_audience,
    store_daily,
    store_posts,
    store_weekly,
)
from storage.db import write_session
from storage.models import Member, Outbound, Story
from storage.reach import AudienceSnapshot, ReachDaily, ReachPost, ReachWeekly
from tests.conftest import add_member

T0 = datetime(2026, 11, 20, 6, 0, tzinfo=UTC)
T1 = datetime(2026, 11, 21, 6, 0, tzinfo=UTC)


def test_storing_a_day_again_replaces_it(engine: Engine) -> None:
    day = date(2026, 11, 18)
    with write_session(engine) as session:
        store_daily(session, [DailyFigure(day, "accounts_reached", 100),
                              DailyFigure(day, "views", 900)], source="csv", now=T0)
    with write_session(engine) as session:
        store_daily(session, [DailyFigure(day, "accounts_reached", 130)],
                    source="graph_api", now=T1)
    with write_session(engine) as session:
        rows = session.exec(select(ReachDaily).order_by(ReachDaily.metric)).all()
        assert [(r.metric, r.value, r.source) for r in rows] == [
            ("accounts_reached", 130, "graph_api"), ("views", 900, "csv")]
        assert rows[0].recorded_at == T1


def test_same_key_twice_in_one_batch_keeps_the_last(engine: Engine) -> None:
    day = date(2026, 11, 18)
    with write_session(engine) as session:
        stored = store_daily(session, [DailyFigure(day, "views", 1),
                                       DailyFigure(day, "views", 2)], source="csv", now=T0)
        assert stored == 1
        assert session.exec(select(ReachDaily.value)).all() == [2]


def test_unknown_metric_or_bad_week_start_is_a_programming_error(session: Session) -> None:
    with pytest.raises(ValueError):
        store_daily(session, [DailyFigure(date(2026, 1, 1), "likes", 1)], source="csv", now=T0)
    with pytest.raises(ValueError):
        store_weekly(session, [WeeklyFigure(date(2026, 11, 17), "accounts_reached", 1)],
                     source="graph_api", now=T0)


def test_weekly_figures_upsert(engine: Engine) -> None:
    monday = date(2026, 11, 16)
    for value in (400, 420):
        with write_session(engine) as session:
            store_weekly(session, [WeeklyFigure(monday, "accounts_reached", value)],
                         source="graph_api", now=T0)
    with write_session(engine) as session:
        assert session.exec(select(ReachWeekly.value)).all() == [420]


def _published(session: Session, author: Member, title: str, permalink: str,
               media_id: str | None = None) -> Story:
    assert author.id is not None
    story = Story(title=title, author_id=author.id, state="published", permalink=permalink,
                  media_id=media_id, published_at=T0, objective="scicomm")
    session.add(story)
    session.flush()
    return story


def test_posts_keep_known_figures_and_link_to_stories(engine: Engine) -> None:
    with write_session(engine) as session:
        dana = add_member(session, "Dana")
        by_link = _published(session, dana, "Muon tomography",
                             "https://www.instagram.com/reel/C4bXyZ12ab/?igsh=abc")
        by_id = _published(session, dana, "Life at the lab", "https://example.org/x",
                           media_id="17900000000000002")
        store_posts(session, [
            PostFigures("17900000000000001", permalink="https://www.instagram.com/p/C4bXyZ12ab/",
                        reach=1500, follows=3),
            PostFigures("17900000000000002", reach=700, views=2100),
            PostFigures("17900000000000003", reach=10),
        ], source="csv", now=T0)
    with write_session(engine) as session:
        # The API does not report follows: the number from the CSV stays.
        store_posts(session, [PostFigures("17900000000000001", reach=1600, views=5000)],
                    source="graph_api", now=T1)
    with write_session(engine) as session:
        posts = {p.media_id: p for p in session.exec(select(ReachPost)).all()}
        first = posts["17900000000000001"]
        assert (first.reach, first.views, first.follows, first.source) == (
            1600, 5000, 3, "graph_api")
        assert first.story_id == by_link.id
        assert posts["17900000000000002"].story_id == by_id.id
        assert posts["17900000000000003"].story_id is None
        assert posts["17900000000000003"].likes is None  # unknown, not zero
        assert len(posts) == 3


def test_a_story_published_after_its_post_was_stored_is_linked_later(engine: Engine) -> None:
    with write_session(engine) as session:
        store_posts(session, [PostFigures("1", permalink="https://instagram.com/p/Abcdef1/")],
                    source="graph_api", now=T0)
        story = _published(session, add_member(session, "Emil"), "Cosmic rays",
                           "https://www.instagram.com/p/Abcdef1")
        assert link_posts(session) == 1
        post = session.exec(select(ReachPost)).one()
        assert post.story_id == story.id


def test_shortcode_of() -> None:
    assert shortcode_of("https://www.instagram.com/reel/C4bXyZ12ab/?igsh=x") == "C4bXyZ12ab"
    assert shortcode_of("https://instagram.com/cmsatdesy/p/Abc_-12/") == "Abc_-12"
    assert shortcode_of("https://example.org/p/whatever") is None
    assert shortcode_of(None) is None


def test_audience_snapshot_of_a_day_is_replaced_whole(engine: Engine) -> None:
    day = date(2026, 11, 20)
    with write_session(engine) as session:
        store_audience(session, day, "country", {"DE": 300, "IT": 50, "FR": 40},
                       source="graph_api", now=T0, timeframe="this_month")
    with write_session(engine) as session:
        store_audience(session, day, "country", {"DE": 310, "IT": 55},
                       source="graph_api", now=T1, timeframe="this_month")
    with write_session(engine) as session:
        rows = session.exec(select(AudienceSnapshot).order_by(AudienceSnapshot.key)).all()
        assert [(r.key, r.value) for r in rows] == [("DE", 310), ("IT", 55)]


def test_parse_manual_entry() -> None:
    day, values = parse_manual("2026-11-18 reached=1,234 nonfollowers=800 views=5000")
    assert day == date(2026, 11, 18)
    assert values == {"accounts_reached": 1234, "non_followers_reached": 800, "views": 5000}
    _, values = parse_manual("2025-03-02 views=10 reached=5 nonfollowers=1 followers=99")
    assert values["followers"] == 99
    for bad in ("", "yesterday reached=1", "2026-11-18 reached=1 nonfollowers=1",
                "2026-11-18 reached=x nonfollowers=1 views=1",
                "2026-11-18 reached=1 nonfollowers=1 views=1 likes=4",
                "2026-11-18 reached=1 reached=2 nonfollowers=1 views=1",
                "2026-11-18 nonfollowers=1 views=1"):
        with pytest.raises(Refused):
            parse_manual(bad)


def test_manual_entry_is_for_coordinators_and_stores_one_day(
    engine: Engine, now: datetime, policy: Policy
) -> None:
    with write_session(engine) as session:
        ada = add_member(session, "Ada", coordinator=True)
        dana = add_member(session, "Dana")
        with pytest.raises(Refused, match="Only coordinators"):
            add_manual(session, dana, now, policy, "2026-11-18 reached=1 nonfollowers=1 views=1")
        with pytest.raises(Refused, match="cannot be more"):
            add_manual(session, ada, now, policy, "2026-11-18 reached=1 nonfollowers=2 views=1")
        with pytest.raises(Refused, match="not over yet"):
            add_manual(session, ada, now, policy, "2026-11-23 reached=1 nonfollowers=1 views=1")
        reply = add_manual(session, ada, now, policy,
                           "2026-11-18 reached=1200 nonfollowers=900 views=4000 followers=512")
        assert reply.tone == "success"
        assert ("followers reached", "300") in reply.blocks[0].pairs  # type: ignore[union-attr]
        add_manual(session, ada, now, policy, "2026-11-18 reached=1300 nonfollowers=900 views=1")
    with write_session(engine) as session:
        rows = {r.metric: (r.value, r.source) for r in session.exec(select(ReachDaily)).all()}
        assert rows == {"accounts_reached": (1300, "manual"),
                        "non_followers_reached": (900, "manual"), "views": (1, "manual"),
                        "followers": (512, "manual")}


def test_views_before_the_switch_get_a_warning(session: Session, now: datetime,
                                               policy: Policy) -> None:
    ada = add_member(session, "Ada", coordinator=True)
    reply = add_manual(session, ada, now, policy, "2025-01-10 reached=1 nonfollowers=1 views=9")
    assert "still reported impressions" in reply.blocks[-1].text  # type: ignore[union-attr]


def test_token_problem_is_reported_once_per_token(session: Session, now: datetime,
                                                   policy: Policy) -> None:
    assert report_token_problem(session, now, policy, fingerprint="abc", detail="expired")
    assert not report_token_problem(session, now, policy, fingerprint="abc", detail="again")
    assert report_token_problem(session, now, policy, fingerprint="def")
    rows = session.exec(select(Outbound)).all()
    assert [r.channel for r in rows] == ["team", "team"]
    assert "access token has expired" in rows[0].text
