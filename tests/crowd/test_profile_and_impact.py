"""Opt-in profiles, the people featured, impact statements (chat and command line)."""

from __future__ import annotations

import csv
import io
from datetime import UTC, date, datetime
from pathlib import Path

import pytest
from sqlalchemy.engine import Engine
from sqlmodel import Session, select

from bot.cli.crowd import run_impact, run_stats
from bot.commands import Caller, CommandRunner
from bot.console.render_text import render_text
from config.settings import load_settings
from handlers.context import Policy
from handlers.crowd.impact import build_impact, impact, impact_csv, impact_markdown
from handlers.crowd.profile import feature
from handlers.errors import Refused
from storage.crowd import MemberProfile, StoryFeature
from storage.db import write_session
from storage.models import Member
from tests.conftest import add_member
from tests.crowd.conftest import add_post, add_story

NOW = datetime(2026, 11, 23, 9, 30, tzinfo=UTC)
ADA, DANA, EMIL = (Caller("console", n.lower(), n) for n in ("Ada", "Dana", "Emil"))


def day(text: str) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=UTC)


def test_profile_is_opt_in_removable_and_only_its_owners(engine: Engine,
                                                         policy: Policy) -> None:
    with write_session(engine) as session:
        add_member(session, "Ada", coordinator=True)
    runner = CommandRunner(engine, policy)
    empty = runner.run(DANA, "story", "profile", NOW)
    assert "You have no profile" in empty.text
    saved = runner.run(DANA, "story", "profile career=postdoc country=fr gender=non binary",
                       NOW)
    assert saved.tone == "success"
    shown = render_text(runner.run(DANA, "story", "profile", NOW))
    assert "postdoc" in shown and "FR" in shown and "non binary" in shown
    # another member asking sees their own (empty) profile, never Dana's
    for asker in (EMIL, ADA):
        other = runner.run(asker, "story", "profile", NOW)
        assert other.text.startswith("You have no profile")
        assert "non binary" not in render_text(other) and "FR" not in render_text(other)
    mention = runner.run(ADA, "story", "profile @Dana", NOW)
    assert mention.tone == "error" and "non binary" not in render_text(mention)
    # one field removed, the others kept
    runner.run(DANA, "story", "profile country=", NOW)
    with write_session(engine) as session:
        stored = session.exec(select(MemberProfile)).one()
        assert (stored.career, stored.country, stored.gender) == ("postdoc", None, "non binary")
    bad = runner.run(DANA, "story", "profile career=professor", NOW)
    assert bad.tone == "error" and "bachelor, master, phd, postdoc, staff" in bad.text
    assert runner.run(DANA, "story", "profile clear", NOW).tone == "success"
    with write_session(engine) as session:
        assert session.exec(select(MemberProfile)).all() == []
    # removing the last field leaves no row either
    runner.run(DANA, "story", "profile gender=woman", NOW)
    runner.run(DANA, "story", "profile gender=", NOW)
    with write_session(engine) as session:
        assert session.exec(select(MemberProfile)).all() == []


def test_people_featured_are_linked_by_the_author_or_a_coordinator(
        session: Session, team: dict[str, Member]) -> None:
    story = add_story(session, team["Dana"], day("2026-10-01"))
    assert story.id is not None
    reply = feature(session, team["Dana"], NOW, story.id, [team["Emil"], team["Farah"]])
    assert reply.tone == "success" and "Emil, Farah" in reply.text
    feature(session, team["Ada"], NOW, story.id, [team["Farah"]])
    assert session.exec(select(StoryFeature.member_id)).all() == [team["Farah"].id]
    with pytest.raises(Refused, match="Only the author of story"):
        feature(session, team["Emil"], NOW, story.id, [team["Emil"]])
    assert "no members" in feature(session, team["Dana"], NOW, story.id, []).text
    assert session.exec(select(StoryFeature)).all() == []
    with pytest.raises(Refused, match="There is no story #99"):
        feature(session, team["Ada"], NOW, 99, [team["Emil"]])


def test_feature_through_the_command_runner(engine: Engine, policy: Policy) -> None:
    with write_session(engine) as session:
        dana = add_member(session, "Dana")
        add_story(session, dana, day("2026-10-01"))
    runner = CommandRunner(engine, policy)
    done = runner.run(DANA, "story", "feature 1 @Emil @Farah", NOW)
    assert done.tone == "success" and "Emil, Farah" in done.text
    assert runner.run(DANA, "story", "feature 1 none", NOW).text == \
        "Story #1 features no members now."
    usage = runner.run(DANA, "story", "feature 1", NOW)
    assert usage.tone == "error" and "/story feature N @person" in usage.text


def _published(session: Session, member: Member) -> None:
    add_story(session, member, day("2026-02-01"), title="Muon tomography",
              published=day("2026-03-01 17:00"), media_id="m1", objective="outreach",
              format="reel", permalink="https://www.instagram.com/reel/AAA/")
    add_story(session, member, day("2026-05-01"), title="A day at the lab",
              published=day("2026-06-02 16:00"), media_id="m2", objective="recruitment",
              format="carousel", permalink="https://www.instagram.com/p/BBB/")
    add_story(session, member, day("2026-10-01"), title="Fresh", published=day("2026-11-20"),
              objective="scicomm", format="post")
    add_post(session, "m1", reach=1500, views=9000)
    add_post(session, "m2", reach=700, impressions=2000)


def test_impact_lists_stories_figures_and_totals(session: Session, team: dict[str, Member],
                                                 policy: Policy) -> None:
    _published(session, team["Dana"])
    own = impact(session, team["Dana"], NOW, policy)
    text = " ".join(render_text(own).split())  # the console wraps long lines
    assert own.text == ("Your impact: 3 stories, 2,200 accounts reached (2 of 3 with "
                        "figures), 11,000 views or impressions (2 of 3 with figures).")
    assert ("#1 Muon tomography (01 Mar 2026; outreach · reel): accounts reached 1,500, "
            "views 9,000. https://www.instagram.com/reel/AAA/") in text
    assert "non-followers" not in text  # a figure no source gives per post: no column
    assert "impressions 2,000" in text
    assert "#3 Fresh (20 Nov 2026; scicomm · post): accounts reached —" in text
    # coordinators may ask for anyone's; a contributor only for their own
    assert impact(session, team["Ada"], NOW, policy, team["Dana"]).text.startswith(
        "Dana's impact: 3 stories")
    with pytest.raises(Refused, match="only coordinators can see another member's"):
        impact(session, team["Emil"], NOW, policy, team["Dana"])
    assert "no published stories yet" in impact(session, team["Emil"], NOW, policy).text
    since = build_impact(session, team["Dana"], NOW, policy, since=date(2026, 6, 1))
    assert [line.story_id for line in since.lines] == [2, 3]


def test_impact_as_markdown_and_csv(session: Session, team: dict[str, Member],
                                    policy: Policy) -> None:
    _published(session, team["Dana"])
    statement = build_impact(session, team["Dana"], NOW, policy)
    rows = list(csv.DictReader(io.StringIO(impact_csv(statement))))
    assert [r["accounts_reached"] for r in rows] == ["1500", "700", ""]
    assert [r["views_metric"] for r in rows] == ["views", "impressions", "views"]
    assert rows[0]["link"] == "https://www.instagram.com/reel/AAA/"
    assert rows[2]["views"] == ""  # unknown, never zero
    assert "non_followers_reached" not in rows[0]
    md = impact_markdown(statement)
    assert "| 1 | [Muon tomography](https://www.instagram.com/reel/AAA/) | 2026-03-01 | " \
           "outreach | reel | 1,500 | 9,000 |" in md
    assert "**Total:** 3 stories, 2,200 accounts reached (2 of 3 with figures)" in md


def test_command_line_impact_and_stats_with_its_chart(tmp_path: Path) -> None:
    settings = load_settings({"DATABASE_URL": f"sqlite:///{tmp_path / 'c.db'}"},
                             env_file=None)
    from bot.cli.shared import open_database

    engine = open_database(settings)
    with write_session(engine) as session:
        dana = add_member(session, "Dana")
        add_member(session, "Dana", platform="slack")
        ada = add_member(session, "Ada", coordinator=True)
        _published(session, dana)
        assert ada.id is not None
    engine.dispose()
    out, err = io.StringIO(), io.StringIO()
    assert run_impact(settings, "console:dana", None, "csv", NOW, out, err) == 0
    assert out.getvalue().startswith("story,title,published,objective,format,link")
    assert len(out.getvalue().splitlines()) == 4
    out = io.StringIO()
    assert run_impact(settings, "Ada", date(2026, 1, 1), "md", NOW, out, err) == 0
    assert "No published stories yet." in out.getvalue()
    assert run_impact(settings, "Dana", None, "md", NOW, io.StringIO(), err) == 2
    assert "2 members answer to 'Dana'" in err.getvalue()
    assert run_impact(settings, "Zoe", None, "md", NOW, io.StringIO(), err) == 2
    assert "no member is called 'Zoe'" in err.getvalue()

    png = tmp_path / "crowd.png"
    out = io.StringIO()
    assert run_stats(settings, 12, str(png), NOW, out) == 0
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert "Crowd health, last 12 months: 3 pitches" in out.getvalue()
    assert f"[chart: Contributions over time and objective balance -> {png}]" in out.getvalue()
