"""Benchmark: the weekly reach summary over 1 year and over 10 years of daily figures.

Both databases (SQLite, the default storage) hold 5,000 published stories, each with its
post's figures, and every daily account metric for each day of their history, plus the
deduplicated weekly reach and a monthly audience snapshot. The twelve weeks shown hold the
same 28 stories in both; the rest are spread over the older history. The summary reads only the
twelve weeks it shows, so its cost should follow those weeks, not the history: the target
is a 10-year/1-year ratio of at most 1.5.

Measured: the median time of a preview (the summary's figures and its text, as
`storydesk digest preview` computes them), the ratio of the two, the median time to draw
the chart, and peak memory (Python allocations during one preview, and the process's
maximum resident size). The figures replace the "Reach summary" section of
bench/README.md.

Run: `make bench` or `.venv/bin/python bench/digest.py [--repeat N]`.
"""

from __future__ import annotations

import argparse
import platform
import random
import resource
import statistics
import sys
import tempfile
import time
import tracemalloc
from collections.abc import Callable
from datetime import UTC, date, datetime, timedelta
from functools import partial
from pathlib import Path

from benchlib import write_section
from sqlalchemy.engine import Engine
from sqlmodel import Session

from bot.reach.charts import render_weekly
from handlers.context import Policy
from handlers.decisions import OBJECTIVES
from handlers.reach.store import (
    DailyFigure,
    PostFigures,
    WeeklyFigure,
    store_audience,
    store_daily,
    store_posts,
    store_weekly,
)
from handlers.reach.summary import build_weekly, weekly_reply
from handlers.reach.weeks import WeeklyChart, monday_of
from storage import migrate
from storage.db import make_engine, read_session, write_session
from storage.models import Member, Story

README = Path(__file__).with_name("README.md")
SECTION = "Reach summary"
NOW = datetime(2026, 11, 23, 8, 30, tzinfo=UTC)  # a Monday, 09:30 in Berlin
POSTS = 5_000
RECENT = 28  # stories in the twelve weeks shown (about two a week), the same in both runs
POLICY = Policy(timezone="Europe/Berlin", channel_platforms=("console",))


def fill(engine: Engine, years: int, seed: int = 7) -> dict[str, int]:
    """`years` of daily figures up to yesterday, and 5,000 stories with their posts."""
    rng = random.Random(seed)
    today = NOW.astimezone(POLICY.zone).date()
    first = today - timedelta(days=365 * years)
    days = [first + timedelta(days=i) for i in range((today - first).days)]
    counts = {"days": len(days), "daily": 0, "weekly": 0, "posts": 0}
    with write_session(engine) as session:
        members = [Member(platform="console", user_id=f"m{i}", display_name=f"Member {i}",
                          created_at=NOW) for i in range(77)]
        session.add_all(members)
        session.flush()
        figures: list[DailyFigure] = []
        followers = 200
        for day in days:
            reached = rng.randint(200, 4000)
            views_metric = "views" if day >= date(2025, 4, 21) else "impressions"
            followers += rng.randint(0, 6)
            figures += [
                DailyFigure(day, "accounts_reached", reached),
                DailyFigure(day, "non_followers_reached", int(reached * rng.uniform(0.4, 0.8))),
                DailyFigure(day, views_metric, int(reached / rng.uniform(0.3, 0.5))),
                DailyFigure(day, "followers", followers),
                DailyFigure(day, "new_followers", rng.randint(0, 6)),
            ]
        counts["daily"] = store_daily(session, figures, source="graph_api", now=NOW)
        weeks = [WeeklyFigure(monday, metric, rng.randint(2000, 15000))
                 for monday in sorted({monday_of(d) for d in days if monday_of(d) >= first})
                 if monday + timedelta(days=7) <= today
                 for metric in ("accounts_reached", "non_followers_reached")]
        counts["weekly"] = store_weekly(session, weeks, source="graph_api", now=NOW)
        # The twelve weeks shown hold the same stories in both databases (two a week), so
        # that the two runs differ only in the length of the history behind them.
        shown_from = monday_of(today) - timedelta(weeks=12)
        recent = [datetime.combine(shown_from + timedelta(days=3 * i + 1), datetime.min.time(),
                                   tzinfo=UTC) + timedelta(hours=17) for i in range(RECENT)]
        start = datetime.combine(first, datetime.min.time(), tzinfo=UTC)
        span = int((datetime.combine(shown_from, datetime.min.time(), tzinfo=UTC)
                    - start).total_seconds())
        posts = []
        for index in range(POSTS):
            published = (recent[index] if index < RECENT
                         else start + timedelta(seconds=rng.randrange(span)))
            media_id = str(17_900_000_000_000_000 + index)
            author = members[index % len(members)]
            assert author.id is not None
            session.add(Story(
                title=f"Story {index}", author_id=author.id, state="published",
                objective=OBJECTIVES[index % 4], published_at=published, media_id=media_id,
                permalink=f"https://www.instagram.com/p/B{index:08d}/",
                created_at=published, state_changed_at=published,
            ))
            posts.append(PostFigures(
                media_id, permalink=f"https://www.instagram.com/p/B{index:08d}/",
                published_at=published, post_type="feed", reach=rng.randint(100, 20000),
                views=rng.randint(300, 60000), likes=rng.randint(0, 900),
            ))
        session.flush()
        counts["posts"] = store_posts(session, posts, source="graph_api", now=NOW)
        month = first.replace(day=1)
        while month <= today:
            for breakdown, keys in (("age", ("18-24", "25-34", "35-44", "45-54")),
                                    ("country", ("DE", "IT", "FR", "IN", "US", "ES")),
                                    ("gender", ("F", "M", "U"))):
                store_audience(session, month, breakdown,
                               {key: rng.randint(10, 500) for key in keys},
                               source="graph_api", now=NOW)
            month = (month + timedelta(days=32)).replace(day=1)
    return counts


def preview(session: Session) -> int:
    """What `storydesk digest preview` computes: the summary and its text."""
    summary = build_weekly(session, NOW, POLICY)
    reply = weekly_reply(summary)
    return len(reply.blocks)


def median_ms(action: Callable[[], object], repeat: int, warmup: int = 3) -> float:
    for _ in range(warmup):
        action()
    samples = []
    for _ in range(repeat):
        started = time.perf_counter()
        action()
        samples.append((time.perf_counter() - started) * 1000)
    return statistics.median(samples)


def peak_kib(action: Callable[[], object]) -> float:
    tracemalloc.start()
    action()
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    return peak / 1024


def measure(sessions: dict[str, Session], repeat: int) -> dict[str, dict[str, float]]:
    """Median preview time per database, the runs of the two interleaved so that the
    machine's background load falls on both alike."""
    for session in sessions.values():
        for _ in range(3):
            preview(session)
    samples: dict[str, list[float]] = {name: [] for name in sessions}
    for _ in range(repeat):
        for name, session in sessions.items():
            started = time.perf_counter()
            preview(session)
            samples[name].append((time.perf_counter() - started) * 1000)
    results = {}
    for name, times in samples.items():
        session = sessions[name]
        results[name] = {"ms": statistics.median(times),
                         "peak_kib": peak_kib(partial(preview, session))}
    return results


def measure_chart(chart: WeeklyChart, target: Path, repeat: int) -> dict[str, float]:
    def draw() -> Path:
        return render_weekly(chart, target)

    return {"chart_ms": median_ms(draw, max(5, repeat // 3), warmup=1),
            "chart_peak_kib": peak_kib(draw),
            "chart_kib": target.stat().st_size / 1024}


def run(repeat: int) -> dict[str, dict[str, float]]:
    results: dict[str, dict[str, float]] = {}
    with tempfile.TemporaryDirectory(prefix="storydesk-bench-") as folder:
        engines = {}
        for years in (1, 10):
            engine = make_engine(f"sqlite:///{Path(folder) / f'reach-{years}y.db'}")
            migrate.upgrade(engine)
            started = time.perf_counter()
            counts = fill(engine, years)
            results[f"{years}y"] = {"fill_s": time.perf_counter() - started,
                                    **{k: float(v) for k, v in counts.items()}}
            engines[f"{years}y"] = engine
        with read_session(engines["1y"]) as one, read_session(engines["10y"]) as ten:
            for name, figures in measure({"1y": one, "10y": ten}, repeat).items():
                results[name].update(figures)
            chart = build_weekly(ten, NOW, POLICY).chart
        for engine in engines.values():
            engine.dispose()
        results["chart"] = measure_chart(chart, Path(folder) / "chart.png", repeat)
    results["process"] = {
        "max_rss_mib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}
    return results


def table_row(label: str, figures: dict[str, float]) -> str:
    return (f"| {label} | {figures['days']:,.0f} | {figures['daily']:,.0f} | "
            f"{figures['ms']:.1f} ms | {figures['peak_kib']:,.0f} KiB |")


def section(results: dict[str, dict[str, float]], repeat: int) -> str:
    one, ten, chart = results["1y"], results["10y"], results["chart"]
    ratio = ten["ms"] / one["ms"]
    verdict = "met" if ratio <= 1.5 else "missed"
    return f"""\
`bench/digest.py`: the weekly summary (`storydesk digest preview`) on SQLite with 5,000
published stories and their posts, over 1 year and over 10 years of daily figures (the
twelve weeks shown hold the same 28 stories in both; the others are spread over the older
history); medians of {repeat} runs after 3 warm-up runs, the runs on the two databases
interleaved. Last run: {date.today()}, Python {platform.python_version()},
{platform.machine()}.

| History | Days | Daily figures | Preview (median) | Peak Python memory (preview) |
|---|---:|---:|---:|---:|
{table_row("1 year", one)}
{table_row("10 years", ten)}

- Ratio 10 years / 1 year: **{ratio:.2f}** (target ≤ 1.5: {verdict}). The summary reads the
  twelve weeks it shows through the date-keyed unique indexes, and the week's posts through
  the index on their publication time.
- Chart (twelve weeks, 960×1200 px PNG, {chart['chart_kib']:.0f} KiB):
  {chart['chart_ms']:.0f} ms to draw (median); peak Python memory while drawing
  {chart['chart_peak_kib']:,.0f} KiB.
- Maximum resident size of the whole benchmark process (both databases filled, matplotlib
  loaded): {results['process']['max_rss_mib']:.0f} MiB.
"""


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=30)
    parser.add_argument("--no-write", action="store_true", help="print only")
    args = parser.parse_args(argv)
    results = run(args.repeat)
    text = section(results, args.repeat)
    sys.stdout.write(text)
    if not args.no_write:
        write_section(SECTION, text, README)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
