"""The weekly summary, the audience summary and the digest queue, on a real database.

Every expected figure is worked out by hand in the comments next to it.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta

import pytest
from sqlmodel import Session, select

from handlers.context import Policy
from handlers.crowd.impact import impact
from handlers.errors import Refused
from handlers.reach.audience import AudienceSummary, audience_summary
from handlers.reach.digest import enqueue_digests
from handlers.reach.store import (
    DailyFigure,
    PostFigures,
    WeeklyFigure,
    store_audience,
    store_daily,
    store_posts,
    store_weekly,
)
from handlers.reach.summary import build_weekly, weekly_summary
from handlers.reach.weeks import WeeklyChart
from handlers.reply import Fields, Image, Reply
from storage.models import Member, Outbound, Story
from tests.conftest import add_member

W46 = date(2026, 11, 9)
W47 = date(2026, 11, 16)
T = datetime(2026, 11, 23, 5, 0, tzinfo=UTC)


def fields_of(reply: Reply) -> dict[str, str]:
    pairs: dict[str, str] = {}
    for block in reply.blocks:
        if isinstance(block, Fields):
            pairs.update(dict(block.pairs))
    return pairs


def texts(reply: Reply) -> str:
    return "\n".join(str(getattr(b, "text", getattr(b, "items", ""))) for b in reply.blocks)


def seed_two_weeks(session: Session) -> None:
    figures = []
    for i in range(7):  # W46: every day
        d = W46 + timedelta(days=i)
        figures += [DailyFigure(d, "accounts_reached", 100 + 10 * i),  # sum 910
                    DailyFigure(d, "non_followers_reached", 60),  # sum 420
                    DailyFigure(d, "views", 1000)]  # sum 7000
    figures.append(DailyFigure(W46 + timedelta(days=6), "followers", 500))
    for i in (0, 3, 4, 5, 6):  # W47: Tuesday and Wednesday missing
        d = W47 + timedelta(days=i)
        figures += [DailyFigure(d, "accounts_reached", 200),  # sum 1000
                    DailyFigure(d, "non_followers_reached", 120),  # sum 600
                    DailyFigure(d, "views", 2000)]  # sum 10000
    figures.append(DailyFigure(W47 + timedelta(days=6), "followers", 530))
    # Figures outside the twelve weeks shown must not change anything.
    figures += [DailyFigure(date(2024, 1, 1) + timedelta(days=i), "accounts_reached", 10**6)
                for i in range(30)]
    store_daily(session, figures, source="csv", now=T)


def publish(session: Session, author: Member, title: str, objective: str, at: datetime,
            media_id: str | None = None) -> Story:
    assert author.id is not None
    story = Story(title=title, author_id=author.id, state="published", objective=objective,
                  published_at=at, media_id=media_id,
                  permalink=f"https://www.instagram.com/p/{title.replace(' ', '')[:10]}/")
    session.add(story)
    session.flush()
    return story


@pytest.fixture
def week(session: Session) -> dict[str, Member]:
    seed_two_weeks(session)
    dana, emil, farah = (add_member(session, n) for n in ("Dana", "Emil", "Farah"))
    publish(session, dana, "Muon tomography", "scicomm",
            datetime(2026, 11, 17, 17, 0, tzinfo=UTC), media_id="101")
    publish(session, emil, "Life at the lab", "recruitment",
            datetime(2026, 11, 19, 17, 0, tzinfo=UTC), media_id="102")
    publish(session, farah, "Cosmic rays", "outreach",
            datetime(2026, 11, 22, 22, 30, tzinfo=UTC))  # Sunday 23:30 in Berlin
    publish(session, dana, "Detector upgrade", "scicomm",
            datetime(2026, 11, 10, 17, 0, tzinfo=UTC), media_id="100")
    # Monday 00:30 in Berlin belongs to the next week.
    publish(session, emil, "Next week", "training", datetime(2026, 11, 22, 23, 30, tzinfo=UTC))
    store_posts(session, [
        PostFigures("101", reach=1500, views=4000, published_at=datetime(2026, 11, 17, 17, 0,
                                                                         tzinfo=UTC)),
        PostFigures("102", reach=700, views=1800, published_at=datetime(2026, 11, 19, 17, 0,
                                                                        tzinfo=UTC)),
        PostFigures("100", reach=9000),
        PostFigures("999", reach=50, published_at=datetime(2026, 11, 20, 12, 0, tzinfo=UTC)),
    ], source="graph_api", now=T)
    return {"Dana": dana, "Emil": emil, "Farah": farah}


def test_weekly_summary_figures_against_the_week_before(
    session: Session, week: dict[str, Member], now: datetime, policy: Policy
) -> None:
    reply = weekly_summary(session, week["Dana"], now, policy)
    pairs = fields_of(reply)
    # 5 days of 200 = 1000 against 910: +90, 90/910 = +9.9%
    assert pairs["Accounts reached"] == (
        "1,000 (sum of daily, 5 of 7 days) · +90 (+9.9%), days missing")
    # 600 against 420: +180, +42.9%
    assert pairs["Non-followers reached"].startswith("600 (sum of daily, 5 of 7 days) · +180 "
                                                     "(+42.9%)")
    # 1000-600 = 400 against 910-420 = 490: -90, -18.4%
    assert pairs["Followers reached"].startswith("400 (sum of daily, 5 of 7 days) · -90 (-18.4%)")
    # 600/1000 = 60.0% against 420/910 = 46.15%: +13.8 points
    assert pairs["Non-follower share"] == "60.0% · +13.8 points"
    assert pairs["Views"].startswith("10,000 (5 of 7 days) · +3,000 (+42.9%)")
    # 1000/10000 = 10.0% against 910/7000 = 13.0%: -3.0 points
    assert pairs["Reach ratio (reached / views)"] == "10.0% · -3.0 points"
    assert pairs["Followers at week end"] == "530 · +30 (+6.0%)"
    body = texts(reply)
    assert "No data for Tue–Wed" in body
    assert "counts an account reached on two days twice" in body
    assert "#1 Muon tomography by Dana — 1,500 accounts reached" in body
    assert "Life at the lab by Emil — 700 accounts reached" in body
    assert "Cosmic rays by Farah — no figures yet" in body
    assert "Next week" not in body and "Detector upgrade" not in body
    assert "Best story: #1 Muon tomography by Dana, 1,500 accounts reached" in body
    assert "Also 1 post(s) not tracked as stories" in body
    assert "this week: outreach 1, scicomm 1, recruitment 1;" in body
    assert "weeks shown: outreach 1, scicomm 2, recruitment 1." in body
    assert reply.text.startswith("Week 2026-W47: 1,000 accounts reached (+9.9% on the week "
                                 "before), 60.0% non-followers, 3 stories published.")
    assert reply.data == {"week": "2026-W47", "has_data": True}


def test_deduplicated_week_is_labelled_and_not_compared_with_a_summed_one(
    session: Session, week: dict[str, Member], now: datetime, policy: Policy
) -> None:
    store_weekly(session, [WeeklyFigure(W47, "accounts_reached", 850),
                           WeeklyFigure(W47, "non_followers_reached", 510)],
                 source="graph_api", now=T)
    pairs = fields_of(weekly_summary(session, week["Dana"], now, policy, "2026-W47"))
    assert pairs["Accounts reached"] == (
        "850 (deduplicated) · not comparable: sum of daily then, deduplicated now")
    assert pairs["Followers reached"].startswith("340 (deduplicated)")
    assert pairs["Non-follower share"].startswith("60.0%")


def test_a_week_without_data_says_so(
    session: Session, week: dict[str, Member], now: datetime, policy: Policy
) -> None:
    reply = weekly_summary(session, week["Dana"], now, policy, "2026-W40")
    assert reply.text.startswith("No reach figures for 2026-W40 yet: no data for Mon–Sun.")
    assert "0" not in fields_of(reply).values()
    with pytest.raises(Refused, match="not started"):
        weekly_summary(session, week["Dana"], now, policy, "2026-W49")


def test_current_week_names_only_past_days_as_missing(
    session: Session, week: dict[str, Member], policy: Policy
) -> None:
    store_daily(session, [DailyFigure(date(2026, 11, 23), "accounts_reached", 40)],
                source="manual", now=T)
    wednesday = datetime(2026, 11, 25, 12, 0, tzinfo=UTC)
    reply = weekly_summary(session, week["Dana"], wednesday, policy, "2026-W48")
    assert "No data for Tue:" in texts(reply)
    assert fields_of(reply)["Accounts reached"].startswith("40 (sum of daily, 1 of 2 days)")


def test_chart_data_covers_twelve_weeks_with_gaps_as_none(
    session: Session, week: dict[str, Member], now: datetime, policy: Policy
) -> None:
    summary = build_weekly(session, now, policy)
    weeks = summary.chart.weeks
    assert len(weeks) == 12
    assert weeks[-1].week_start == W47 and weeks[-2].week_start == W46
    assert (weeks[-1].reached, weeks[-2].reached) == (1000, 910)
    assert weeks[-2].ratio == pytest.approx(910 / 7000)
    assert all(w.reached is None for w in weeks[:-2])
    assert summary.chart.views_from is None


def test_the_chart_maker_is_asked_for_an_image(
    session: Session, week: dict[str, Member], now: datetime, policy: Policy
) -> None:
    asked: list[WeeklyChart] = []

    def chart(data: WeeklyChart) -> str:
        asked.append(data)
        return f"/charts/{data.name}.png"

    reply = weekly_summary(session, week["Dana"], now, policy, chart=chart)
    assert asked[0].name == "reach-2026-W47"
    assert reply.blocks[-1] == Image("/charts/reach-2026-W47.png", asked[0].title)


def test_reach_mine_is_the_impact_statement(session: Session, week: dict[str, Member],
                                            now: datetime, policy: Policy) -> None:
    reply = impact(session, week["Dana"], now, policy)
    # Detector upgrade 9,000 + Muon tomography 1,500
    assert reply.text.startswith("Your impact: 2 stories, 10,500 accounts reached")
    assert reply.data["reached"] == 10500
    ada = add_member(session, "Ada", coordinator=True)
    other = impact(session, ada, now, policy, week["Farah"])
    assert other.text.startswith("Farah's impact: 1 story")


def seed_audience(session: Session) -> None:
    taken = date(2026, 11, 20)
    store_audience(session, taken, "age", {"13-17": 10, "18-24": 300, "25-34": 420,
                                           "35-44": 170, "45-54": 60, "55-64": 30, "65+": 10},
                   source="graph_api", now=T, timeframe="this_month")
    store_audience(session, taken, "country",
                   {"DE": 300, "IT": 90, "IN": 80, "US": 70, "FR": 60, "ES": 50, "CH": 40},
                   source="graph_api", now=T)
    store_audience(session, taken, "gender", {"F": 250, "M": 740, "U": 10},
                   source="graph_api", now=T)
    store_audience(session, date(2026, 10, 20), "age", {"18-24": 500, "25-34": 200,
                                                        "35-44": 300},
                   source="graph_api", now=T)


def test_audience_summary(session: Session, now: datetime, policy: Policy) -> None:
    seed_audience(session)
    seen: list[AudienceSummary] = []
    reply = audience_summary(session, add_member(session, "Ada"), now, policy,
                             chart=lambda s: seen.append(s) or "/charts/a.png")
    pairs = fields_of(reply)
    # (300 + 420) / 1000 = 72.0%; a month earlier (500 + 200) / 1000 = 70.0%
    assert pairs["Aged 18–34 (the target)"] == "72.0% (+2.0 points since 20 Oct 2026)"
    # 690 in all: DE 300 = 43%, others ES 50 + CH 40 = 90 = 13%
    assert pairs["Top countries"] == "DE 43%, IT 13%, IN 12%, US 10%, FR 9%, others 13%"
    assert pairs["Gender"] == "women 25%, men 74%, not given 1%"
    assert seen[0].countries[-1] == ("others", 90)
    assert isinstance(reply.blocks[-1], Image)


def test_digest_is_queued_once_in_its_window(
    session: Session, week: dict[str, Member], policy: Policy
) -> None:
    seed_audience(session)
    charts: list[str] = []

    def chart(data: WeeklyChart) -> str:
        charts.append(data.name)
        return f"/charts/{data.name}.png"

    monday_early = datetime(2026, 11, 23, 7, 59, tzinfo=UTC)  # 08:59 in Berlin
    assert enqueue_digests(session, monday_early, policy, weekday=0, at=time(9, 0),
                           weekly_chart=chart) == []
    monday = datetime(2026, 11, 23, 8, 0, tzinfo=UTC)
    rows = enqueue_digests(session, monday, policy, weekday=0, at=time(9, 0),
                           weekly_chart=chart, audience_chart=lambda s: None)
    assert [(r.unique_key, r.channel) for r in rows] == [("digest:reach:2026-W47@console",
                                                          "group")]
    payload = Reply.from_json(rows[0].payload)
    assert payload.visibility == "in_channel"
    assert Image("/charts/reach-2026-W47.png", "Reach, 12 weeks to 2026-W47") in payload.blocks
    assert enqueue_digests(session, monday + timedelta(minutes=1), policy, weekday=0,
                           at=time(9, 0), weekly_chart=chart) == []
    assert charts == ["reach-2026-W47"]  # drawn once, not on every tick
    tuesday = datetime(2026, 12, 1, 9, 0, tzinfo=UTC)
    assert enqueue_digests(session, tuesday, policy, weekday=0, at=time(9, 0)) == []


def test_first_monday_of_the_month_adds_the_audience(
    session: Session, week: dict[str, Member], policy: Policy
) -> None:
    seed_audience(session)
    store_daily(session, [DailyFigure(date(2026, 11, 30), "accounts_reached", 80)],
                source="manual", now=T)
    first_monday = datetime(2026, 12, 7, 8, 30, tzinfo=UTC)
    rows = enqueue_digests(session, first_monday, policy, weekday=0, at=time(9, 0))
    assert sorted(r.unique_key for r in rows) == ["digest:audience:2026-12@console",
                                                  "digest:reach:2026-W49@console"]


def test_a_week_without_figures_warns_the_team_instead(
    session: Session, policy: Policy
) -> None:
    rows = enqueue_digests(session, datetime(2026, 11, 23, 8, 30, tzinfo=UTC), policy)
    assert [(r.channel, r.unique_key) for r in rows] == [("team", "digest:reach:2026-W47@console")]
    assert "no figures for that week" in rows[0].text
    assert session.exec(select(Outbound)).all() == rows
