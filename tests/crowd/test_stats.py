"""`/story stats`, the coming-week post and the call for pitches, on both databases."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta

import pytest
from freezegun import freeze_time
from sqlalchemy.engine import Engine
from sqlmodel import Session, col, select

from bot.commands import Caller, CommandRunner
from bot.console.render_text import render_text
from handlers import reminders
from handlers.context import Policy
from handlers.crowd import profile
from handlers.crowd.stats import build_stats, stats
from handlers.decisions import OBJECTIVES
from handlers.reminders import Snapshot, team_posts
from handlers.reply import Bullets, Code, Reply
from storage.db import write_session
from storage.models import Member, Outbound
from tests.conftest import add_member
from tests.crowd.conftest import add_post, add_story

NOW = datetime(2026, 11, 23, 9, 30, tzinfo=UTC)  # a Monday


def day(text: str) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=UTC)


def test_per_member_figures_reach_silence_balance_and_median(
        session: Session, team: dict[str, Member], policy: Policy) -> None:
    dana, emil, farah = team["Dana"], team["Emil"], team["Farah"]
    # Dana: two published (pitched 10 and 30 days before), reach known for both
    add_story(session, dana, day("2026-09-01"), published=day("2026-09-11"), media_id="m1",
              objective="outreach", format="reel")
    add_story(session, dana, day("2026-10-01"), published=day("2026-10-31"), media_id="m2",
              objective="scicomm", format="carousel")
    add_post(session, "m1", reach=1200, views=5000)
    add_post(session, "m2", reach=800, views=3000)
    # Emil: one pitch, still open; one published 13 months ago (outside the window)
    add_story(session, emil, day("2026-11-10"), objective="recruitment")
    add_story(session, emil, day("2025-09-01"), published=day("2025-10-01"))
    # Farah: nothing since joining on 1 January
    figures = build_stats(session, NOW, policy)
    rows = {row.name: row for row in figures.per_member}
    assert (rows["Dana"].pitches, rows["Dana"].published, rows["Dana"].reach) == (2, 2, 2000)
    assert (rows["Emil"].pitches, rows["Emil"].published) == (1, 0)
    assert "Farah" not in rows
    assert (figures.pitches, figures.published, figures.reach) == (3, 2, 2000)
    assert figures.contributors == 2 and figures.group_size == 6
    assert figures.median_days == 20.0  # 10 and 30 days
    # the coordinators never acted and joined on 1 January: not heard from in six months
    assert set(figures.silent) == {"Ada", "Ben", "Chloe", "Farah"}
    balance = {row.name: row.count for row in figures.objectives}
    assert balance == {"outreach": 1, "scicomm": 1, "training": 0, "recruitment": 0}
    assert {row.name: row.count for row in figures.formats}["carousel"] == 1
    # a shorter window leaves September out
    short = build_stats(session, NOW, policy, months=2)
    assert short.published == 1 and short.reach == 800
    assert farah.id is not None


def test_coordinators_see_names_contributors_only_their_own_and_totals(
        session: Session, team: dict[str, Member], policy: Policy) -> None:
    add_story(session, team["Dana"], day("2026-09-01"), published=day("2026-09-11"),
              media_id="m1")
    add_post(session, "m1", reach=1234)
    add_story(session, team["Emil"], day("2026-10-01"), published=day("2026-10-05"),
              media_id="m2")
    add_post(session, "m2", reach=4321)

    full = stats(session, team["Ada"], NOW, policy)
    text = render_text(full)
    assert full.visibility == "ephemeral"
    assert "Not heard from in 6 months: 4 (Ada, Ben, Chloe, Farah)." in text
    table = next(b for b in full.blocks if isinstance(b, Code)).text
    assert "Dana" in table and "1,234" in table and "Emil" in table and "4,321" in table

    own = stats(session, team["Dana"], NOW, policy)
    own_text = render_text(own)
    assert own.visibility == "ephemeral"
    assert "1,234 accounts reached" in own_text  # her own
    assert "5,555 accounts reached" in own_text  # the group's total
    assert "Members not heard from in 6 months: 4." in own_text  # a count, no names
    for secret in ("Emil", "4,321", "Farah", "Ada", "Chloe", "make-up", "Per member"):
        assert secret not in own_text


def test_people_featured_against_the_groups_make_up_in_aggregate_only(
        session: Session, policy: Policy) -> None:
    ada = add_member(session, "Ada", coordinator=True)
    people = [add_member(session, f"P{i:02d}") for i in range(14)]
    for person in people[:8]:
        profile.update_profile(session, person, NOW, ["career=phd", "country=DE"])
    for person in people[8:11]:
        profile.update_profile(session, person, NOW, ["career=staff", "gender=woman"])
    story = add_story(session, people[0], day("2026-10-01"), published=day("2026-10-08"))
    assert story.id is not None
    profile.feature(session, ada, NOW, story.id, people[:6])
    figures = build_stats(session, NOW, policy)
    career = next(c for c in figures.diversity if c.dimension == "Career stage")
    group = {g.label: g.count for g in career.group}
    # 8 phd; staff (3) pooled with "not given" (4) so that neither can be told apart
    assert group == {"phd": 8, "other answers together": 7}
    assert {g.label: g.count for g in career.featured} == {"phd": 6}
    gender = next(c for c in figures.diversity if c.dimension == "Gender")
    assert "woman" not in {g.label for g in gender.group}  # three women: fewer than five
    text = " ".join(render_text(stats(session, ada, NOW, policy)).split())  # unwrapped
    assert "Career stage: group phd: 8 (53%); other answers together: 7 (47%). " \
           "Featured phd: 6 (100%)." in text
    assert "6 people featured" in text
    # one person featured: fewer than five, whatever their profile
    profile.feature(session, ada, NOW, story.id, people[:1])
    text = " ".join(render_text(stats(session, ada, NOW, policy)).split())  # unwrapped
    assert "Featured everyone: fewer than 5." in text


def test_stats_through_the_command_runner(engine: Engine, policy: Policy) -> None:
    with write_session(engine) as session:
        add_member(session, "Ada", coordinator=True)
    runner = CommandRunner(engine, policy)
    ada, dana = Caller("console", "ada", "Ada"), Caller("console", "dana", "Dana")
    runner.run(dana, "story", "help", NOW)  # Dana becomes a member
    assert runner.run(ada, "story", "stats 6", NOW).text.startswith(
        "Crowd health, last 6 months")
    assert runner.run(dana, "story", "stats", NOW).text.startswith("Your last 12 months")
    wrong = runner.run(ada, "story", "stats soon", NOW)
    assert wrong.tone == "error" and "/story stats [months]" in wrong.text
    too_long = runner.run(ada, "story", "stats 500", NOW)
    assert too_long.tone == "error" and "from 1 to 120" in too_long.text
    listing = runner.run(dana, "story", "help", NOW)
    assert "/story stats [months]" in render_text(listing)
    assert "/story impact [@member]" in render_text(listing)


@freeze_time("2026-11-23 08:00:00")  # Monday 09:00 in Berlin: the coming-week post
def test_coming_week_post_and_call_for_pitches_name_the_objective_most_wanted(
        session: Session, team: dict[str, Member], policy: Policy) -> None:
    now = datetime.now(UTC)
    for weeks in (1, 3, 5):
        add_story(session, team["Dana"], now - timedelta(weeks=weeks + 2),
                  published=now - timedelta(weeks=weeks), objective="outreach")
    add_story(session, team["Emil"], now - timedelta(weeks=4),
              published=now - timedelta(weeks=2), objective="training")
    # 16 weeks ago: outside the twelve weeks the balance looks at
    add_story(session, team["Emil"], now - timedelta(weeks=18),
              published=now - timedelta(weeks=16), objective="scicomm")
    report = reminders.run_tick(session, now, policy)
    assert "coming-week:2026-W48" in report.keys
    posts = {row.unique_key: row for row in session.exec(
        select(Outbound).where(col(Outbound.channel).is_not(None))).all()}
    coming = posts["coming-week:2026-W48@console"]
    # outreach 75% (30), training 25% (15), scicomm and recruitment 0% of 30 and 25
    assert "Most wanted: a #scicomm story (new results, the people behind them): 0% of the " \
           "last 12 weeks' stories against a target of 30%." in coming.payload
    # the call for pitches comes every 14 days, next on Monday 30 November
    with freeze_time("2026-11-30 08:00:00"):
        reminders.run_tick(session, datetime.now(UTC), policy)
    call = session.exec(select(Outbound).where(
        Outbound.unique_key == "pitch-call:2026-11-30@console")).one()
    # scicomm, the most wanted, is also not seen for six weeks: named once, as that
    assert "No scicomm story in 6 weeks" in call.payload
    assert "Most wanted: a #scicomm story" not in call.payload


def call_for_pitches(session: Session, day: str) -> tuple[str, ...]:
    call = session.exec(select(Outbound).where(
        Outbound.unique_key == f"pitch-call:{day}@console")).one()
    [bullets] = [b for b in Reply.from_json(call.payload).blocks if isinstance(b, Bullets)]
    return bullets.items


def test_the_call_for_pitches_names_each_objective_once(
        session: Session, team: dict[str, Member], policy: Policy) -> None:
    # Nothing published: every objective is missing, the most wanted among them.
    reminders.run_tick(session, day("2026-11-30 08:00"), policy)  # Monday 09:00 in Berlin
    lines = call_for_pitches(session, "2026-11-30")
    named = [re.search(r"(?:No |#)(\w+) story", line) for line in lines]
    assert sorted(m.group(1) for m in named if m) == sorted(OBJECTIVES)
    assert not any(line.startswith("Most wanted") for line in lines)
    # Each seen lately, scicomm short of its share: the most wanted line names it.
    for weeks, objective in enumerate(("outreach", "outreach", "outreach", "scicomm",
                                       "training", "recruitment"), start=1):
        add_story(session, team["Dana"], day("2026-10-01"),
                  published=day("2026-12-14 08:00") - timedelta(weeks=weeks),
                  objective=objective)
    reminders.run_tick(session, day("2026-12-14 08:00"), policy)
    lines = call_for_pitches(session, "2026-12-14")
    assert not any(line.startswith("No ") for line in lines)
    assert any(line.startswith("Most wanted: a #scicomm story") for line in lines)


def test_the_coming_week_post_is_built_once_not_at_every_tick_of_its_day(
        session: Session, team: dict[str, Member], policy: Policy,
        monkeypatch: pytest.MonkeyPatch) -> None:
    built: list[datetime] = []
    build = team_posts._coming_week_reply

    def counted(session: Session, snapshot: Snapshot, *rest: object) -> Reply:
        built.append(snapshot.now)
        return build(session, snapshot, *rest)

    monkeypatch.setattr(team_posts, "_coming_week_reply", counted)
    for minute in (0, 5, 10):  # Monday 09:00 in Berlin, and two ticks after
        reminders.run_tick(session, datetime(2026, 11, 23, 8, minute, tzinfo=UTC), policy)
    assert built == [datetime(2026, 11, 23, 8, 0, tzinfo=UTC)]
