"""`storydesk stats [--months N] [--png FILE]` and `storydesk impact --member NAME ...`.

Whoever runs the command line runs the bot, so `stats` prints what a coordinator sees.
"""

from __future__ import annotations

import argparse
import sys
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any, TextIO

from bot.cli.shared import day_argument, open_database, team_policy
from config.settings import Settings


def add_commands(sub: Any) -> None:
    stats = sub.add_parser("stats", help="crowd health: contributions, balance, people featured")
    stats.add_argument("--months", type=_months, default=12, metavar="N",
                       help="the rolling window in months (default: 12)")
    stats.add_argument("--png", metavar="FILE",
                       help="also draw the chart of contributions and objective balance")
    stats.set_defaults(handler=cmd_stats)

    impact = sub.add_parser("impact", help="a member's impact statement: stories and reach")
    impact.add_argument("--member", required=True, metavar="NAME",
                        help="the member's display name or user id (platform:id if needed)")
    impact.add_argument("--from", dest="since", type=day_argument, metavar="YYYY-MM-DD",
                        help="only stories published from this day on")
    impact.add_argument("--format", choices=("md", "csv"), default="md",
                        help="markdown (default) or CSV")
    impact.set_defaults(handler=cmd_impact)


def _months(text: str) -> int:
    if not text.isdigit() or not 1 <= int(text) <= 120:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number of months from 1 to 120")
    return int(text)


def cmd_stats(args: argparse.Namespace, settings: Settings) -> int:
    return run_stats(settings, args.months, args.png, datetime.now(UTC), sys.stdout)


def run_stats(settings: Settings, months: int, png: str | None, now: datetime,
              out: TextIO) -> int:
    from bot.console.render_text import render_text
    from bot.crowd.charts import render_stats
    from handlers.crowd.stats import build_stats, coordinator_reply
    from storage.db import read_session

    engine = open_database(settings)
    try:
        with read_session(engine) as session:
            figures = build_stats(session, now, team_policy(settings), months)
    finally:
        engine.dispose()
    image = str(render_stats(figures, Path(png))) if png else None
    out.write(render_text(coordinator_reply(figures, image)) + "\n")
    return 0


def cmd_impact(args: argparse.Namespace, settings: Settings) -> int:
    return run_impact(settings, args.member, args.since, args.format, datetime.now(UTC),
                      sys.stdout, sys.stderr)


def run_impact(settings: Settings, name: str, since: date | None, form: str, now: datetime,
               out: TextIO, err: TextIO) -> int:
    from handlers.crowd.impact import build_impact, impact_csv, impact_markdown, member_named
    from handlers.errors import Refused
    from storage.db import read_session

    engine = open_database(settings)
    try:
        with read_session(engine) as session:
            try:
                member = member_named(session, name)
            except Refused as refusal:
                err.write(f"storydesk: {refusal.message}\n")
                return 2
            impact = build_impact(session, member, now, team_policy(settings), since)
    finally:
        engine.dispose()
    out.write(impact_csv(impact) if form == "csv" else impact_markdown(impact))
    return 0
