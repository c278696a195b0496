"""`/story reach ...` through the real command runner and grammar."""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy.engine import Engine

from bot.commands import Caller, CommandRunner
from handlers.context import Policy
from handlers.members import find_member
from handlers.reply import Fields
from storage.db import write_session
from storage.models import Story
from tests.conftest import add_member

ADA = Caller("console", "ada", "Ada")
DANA = Caller("console", "dana", "Dana")


def test_reach_subcommands(engine: Engine, policy: Policy, now: datetime) -> None:
    with write_session(engine) as session:
        add_member(session, "Ada", coordinator=True)
    runner = CommandRunner(engine, policy)

    refused = runner.run(DANA, "story", "reach add 2026-11-18 reached=1 nonfollowers=1 views=1",
                         now)
    assert refused.tone == "error" and "Only coordinators" in refused.text

    added = runner.run(ADA, "story",
                       "reach add 2026-11-18 reached=1,200 nonfollowers=900 views=4000", now)
    assert added.tone == "success", added.text
    runner.run(ADA, "story", "reach add 2026-11-17 reached=800 nonfollowers=500 views=3000",
               now)

    summary = runner.run(DANA, "story", "reach 2026-W47", now)
    pairs = dict(next(b for b in summary.blocks if isinstance(b, Fields)).pairs)
    # 1,200 + 800 over two of seven days; views 4,000 + 3,000; ratio 2,000 / 7,000 = 28.6%
    assert pairs["Accounts reached"].startswith("2,000 (sum of daily, 2 of 7 days)")
    assert pairs["Views"].startswith("7,000 (2 of 7 days)")
    assert pairs["Reach ratio (reached / views)"].startswith("28.6%")
    assert runner.run(DANA, "story", "reach", now).text == summary.text  # last week by default

    assert "No audience figures yet" in runner.run(DANA, "story", "reach audience", now).text
    assert "no published stories yet" in runner.run(DANA, "story", "reach mine", now).text
    with write_session(engine) as session:
        dana = find_member(session, "console", "dana")
        assert dana is not None and dana.id is not None
        session.add(Story(title="Muons", author_id=dana.id, state="published",
                          objective="outreach", published_at=now - timedelta(days=3)))
    mine = runner.run(DANA, "story", "reach mine", now)
    assert mine == runner.run(DANA, "story", "impact", now)  # one answer to one question
    assert mine.text == "Your impact: 1 story, no reach figures yet, no view figures yet."

    wrong = runner.run(DANA, "story", "reach sometime", now)
    assert wrong.tone == "error" and "/story reach [YYYY-Www]" in wrong.text
    bad_week = runner.run(DANA, "story", "reach 2026-W60", now)
    assert bad_week.tone == "error" and "has no week 60" in bad_week.text

    usage = runner.run(DANA, "story", "help reach", now)
    assert "reach add YYYY-MM-DD reached=N" in usage.text
