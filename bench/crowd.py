"""Benchmark: what crowd health adds to every tick, and `/story stats` over long history.

Two SQLite databases (the default storage) hold a group of 77 members and 60 published
stories a year, each with its post's figures and a line of history: one database has
1 year of history, the other 10 years. The last year is the same in both.

Measured, with the runs interleaved so that the machine's background load falls on all
alike:
- the crowd tick (nudges and the year's-end messages, after the nudges due were queued,
  so what is left is the checking every 30-second tick does), against the floor of the
  reminders tick on the same database at the same moment;
- `/story stats` (its figures and the coordinators' reply) on 10 years against 1 year; its
  window is a year, so the target ratio is at most 1.5.

The figures replace the "Crowd health" section of bench/README.md.
Run: `make bench` or `.venv/bin/python bench/crowd.py [--repeat N]`.
"""

from __future__ import annotations

import argparse
import os
import platform
import random
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

from benchlib import write_section
from sqlalchemy.engine import Engine
from sqlmodel import Session

from handlers import reminders
from handlers.context import Policy
from handlers.crowd.nudges import run_crowd_tick
from handlers.crowd.stats import build_stats, coordinator_reply
from handlers.decisions import FORMATS, OBJECTIVES
from storage import migrate
from storage.db import make_engine, write_session
from storage.models import Member, Story, StoryEvent
from storage.reach import ReachPost

SECTION = "Crowd health"
NOW = datetime(2026, 11, 23, 8, 30, tzinfo=UTC)  # a Monday, 09:30 in Berlin
MEMBERS = 77
PER_YEAR = 60
POLICY = Policy(timezone="Europe/Berlin", channel_platforms=("console",))


def fill(engine: Engine, years: int, seed: int = 11) -> int:
    """A group with `years` of published stories; the last year the same for any `years`."""
    with write_session(engine) as session:
        members = [Member(platform="console", user_id=f"m{i}", display_name=f"Member {i}",
                          created_at=NOW - timedelta(days=3700)) for i in range(MEMBERS)]
        session.add_all(members)
        session.flush()
        count = 0
        for year in range(years):
            rng = random.Random(seed + year)  # year 0 (the last one) alike in both
            for index in range(PER_YEAR):
                published = NOW - timedelta(days=365 * year + rng.randrange(1, 365))
                author = members[rng.randrange(MEMBERS // 2)]  # half the group contributes
                assert author.id is not None
                media_id = f"{year}-{index}"
                story = Story(title=f"Story {year}-{index}", author_id=author.id,
                              state="published", objective=OBJECTIVES[index % 4],
                              format=FORMATS[index % 5], created_at=published - timedelta(
                                  days=rng.randint(5, 60)), published_at=published,
                              media_id=media_id)
                session.add(story)
                session.flush()
                assert story.id is not None
                session.add(StoryEvent(story_id=story.id, actor_id=author.id, at=published,
                                       action="publish"))
                session.add(ReachPost(media_id=media_id, reach=rng.randint(100, 20000),
                                      views=rng.randint(300, 60000), source="graph_api",
                                      recorded_at=NOW, story_id=story.id))
                count += 1
    return count


def interleaved(actions: dict[str, Callable[[], object]], repeat: int) -> dict[str, float]:
    for action in actions.values():
        for _ in range(3):
            action()
    samples: dict[str, list[float]] = {name: [] for name in actions}
    for _ in range(repeat):
        for name, action in actions.items():
            started = time.perf_counter()
            action()
            samples[name].append((time.perf_counter() - started) * 1000)
    return {name: statistics.median(times) for name, times in samples.items()}


def rolled_back(engine: Engine, work: Callable[..., object]) -> Callable[[], object]:
    """Run `work(session, NOW, POLICY)` in a transaction that is then thrown away, so each
    repetition sees the same database."""

    def action() -> object:
        with engine.connect() as connection:
            transaction = connection.begin()
            session = Session(bind=connection)
            try:
                return work(session, NOW, POLICY)
            finally:
                session.close()
                transaction.rollback()

    return action


def stats_reply(session: Session, now: datetime, policy: Policy) -> int:
    return len(coordinator_reply(build_stats(session, now, policy)).blocks)


def run(repeat: int) -> dict[str, float]:
    results: dict[str, float] = {}
    with tempfile.TemporaryDirectory(prefix="storydesk-bench-") as folder:
        engines = {}
        for years in (1, 10):
            engine = make_engine(f"sqlite:///{Path(folder) / f'crowd-{years}y.db'}")
            migrate.upgrade(engine)
            results[f"stories_{years}y"] = fill(engine, years)
            with write_session(engine) as session:  # the nudges due now, queued once
                results[f"nudged_{years}y"] = len(run_crowd_tick(session, NOW, POLICY).nudged)
            engines[years] = engine
        ticks = interleaved({
            "crowd_1y": rolled_back(engines[1], run_crowd_tick),
            "reminders_1y": rolled_back(engines[1], reminders.run_tick),
            "crowd_10y": rolled_back(engines[10], run_crowd_tick),
            "reminders_10y": rolled_back(engines[10], reminders.run_tick),
        }, repeat)
        stats = interleaved({"stats_1y": rolled_back(engines[1], stats_reply),
                             "stats_10y": rolled_back(engines[10], stats_reply)}, repeat)
        for engine in engines.values():
            engine.dispose()
    return {**results, **ticks, **stats}


def report(r: dict[str, float], repeat: int) -> str:
    ratio = r["stats_10y"] / r["stats_1y"]
    rows = [
        ("crowd tick (nothing left to queue), ms", f"{r['crowd_1y']:.2f}",
         f"{r['crowd_10y']:.2f}"),
        ("reminders tick at the same moment (floor), ms", f"{r['reminders_1y']:.2f}",
         f"{r['reminders_10y']:.2f}"),
        ("crowd tick / reminders tick", f"{r['crowd_1y'] / r['reminders_1y']:.2f}×",
         f"{r['crowd_10y'] / r['reminders_10y']:.2f}×"),
        ("`/story stats` (figures and reply), ms", f"{r['stats_1y']:.1f}",
         f"{r['stats_10y']:.1f}"),
    ]
    table = "\n".join(f"| {what} | {one} | {ten} |" for what, one, ten in rows)
    verdict = "met" if ratio <= 1.5 else "not met"
    return (
        f"`bench/crowd.py`: {MEMBERS} members and {PER_YEAR} published stories a year (each "
        "with its post's figures and a line of history) on SQLite, with 1 year "
        f"({r['stories_1y']:.0f} stories) and 10 years ({r['stories_10y']:.0f}) of history; "
        f"the last year is the same in both. Median of {repeat} interleaved runs, each in a "
        "transaction rolled back afterwards.\n\n"
        "| what | 1 year | 10 years |\n| --- | ---: | ---: |\n" + table + "\n\n"
        f"`/story stats` on 10 years against 1 year: {ratio:.2f}× (target ≤ 1.5×: {verdict}). "
        f"Before measuring, one tick queued the nudges due ({r['nudged_1y']:.0f} members "
        "with no pitch in six months, in the 1-year group). "
        f"Python {platform.python_version()}, {os.cpu_count()} CPUs, load average "
        f"{os.getloadavg()[0]:.2f} at the end, {datetime.now(UTC):%Y-%m-%d}.\n"
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else "")
    parser.add_argument("--repeat", type=int, default=40)
    args = parser.parse_args(argv)
    text = report(run(args.repeat), args.repeat)
    write_section(SECTION, text)
    print(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
