"""`storydesk reach fetch|import` and `storydesk digest preview`."""

from __future__ import annotations

import argparse
import sys
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any, TextIO

from bot.cli.shared import day_argument, open_database, team_policy
from config.settings import Settings


def add_commands(sub: Any) -> None:
    reach = sub.add_parser("reach", help="Instagram reach figures: fetch from the API, import")
    actions = reach.add_subparsers(dest="reach_command", metavar="ACTION", required=True)
    fetch = actions.add_parser(
        "fetch", help="fetch account and post figures from the Instagram Graph API")
    fetch.add_argument("--since", type=day_argument, metavar="YYYY-MM-DD",
                       help="first day to fetch (default: after the last fetch, and always "
                            "the last three days again)")
    fetch.set_defaults(handler=cmd_fetch)
    load = actions.add_parser(
        "import", help="import CSV files, English or German: Meta Business Suite's content "
                       "export or daily figures, or a daily account file (see the README); "
                       "days not over yet are skipped")
    load.description = (
        "Import reach figures from CSV files: the content export of Meta Business Suite "
        "(one row per post), its daily figures (one file per figure), or a daily account "
        "file, with English or German column names. Each file's number convention (1,234.5 "
        "or 1.234,5) is read from the file; UTF-8, Windows-1252 and UTF-16 are recognised. "
        "Exit status 1 if a row was rejected or a file not imported; days not over yet are "
        "skipped, not rejected.")
    load.add_argument("files", nargs="+", metavar="FILE.csv", help="the files to import")
    load.set_defaults(handler=cmd_import)

    digest = sub.add_parser("digest", help="the weekly reach summary")
    digest_actions = digest.add_subparsers(dest="digest_command", metavar="ACTION",
                                           required=True)
    preview = digest_actions.add_parser(
        "preview", help="print a week's summary (default: last week) and write its chart")
    preview.add_argument("--week", metavar="YYYY-Www", help="the ISO week, such as 2026-W47")
    preview.add_argument("--png", metavar="FILE", help="where to write the chart (PNG)")
    preview.add_argument("--audience", action="store_true",
                         help="the monthly audience summary instead of the weekly one")
    preview.set_defaults(handler=cmd_preview)


def cmd_fetch(args: argparse.Namespace, settings: Settings) -> int:
    return run_fetch(settings, args.since, datetime.now(UTC), sys.stdout, sys.stderr)


def run_fetch(settings: Settings, since: date | None, now: datetime, out: TextIO,
              err: TextIO) -> int:
    from bot.reach.fetch import client_from, fetch_reach

    if not settings.instagram_enabled:
        err.write("storydesk: set INSTAGRAM_ACCESS_TOKEN and INSTAGRAM_USER_ID to fetch from "
                  "Instagram (or use `storydesk reach import`).\n")
        return 2
    engine = open_database(settings)
    try:
        with client_from(settings) as client:
            report = fetch_reach(client, engine, team_policy(settings), now, since)
    finally:
        engine.dispose()
    for line in report.lines():
        out.write(line + "\n")
    return 0 if report.ok else 1


def cmd_import(args: argparse.Namespace, settings: Settings) -> int:
    return run_import(settings, args.files, datetime.now(UTC), sys.stdout, sys.stderr)


def run_import(settings: Settings, files: list[str], now: datetime, out: TextIO,
               err: TextIO) -> int:
    from bot.reach.csv_import import ImportProblem, Progress, import_file

    engine = open_database(settings)
    policy = team_policy(settings)
    status = 0
    try:
        for name in files:
            try:
                result = import_file(name, engine, policy, now,
                                     progress=lambda n, label: Progress(n, label, err))
            except ImportProblem as problem:
                err.write(f"{name}: not imported: {problem}\n")
                status = 1
                continue
            for line in result.lines():
                out.write(line + "\n")
            if result.rejected:
                status = 1
    finally:
        engine.dispose()
    return status


def cmd_preview(args: argparse.Namespace, settings: Settings) -> int:
    return run_preview(settings, args.week, args.png, datetime.now(UTC), sys.stdout,
                       sys.stderr, audience=args.audience)


def run_preview(settings: Settings, week: str | None, png: str | None, now: datetime,
                out: TextIO, err: TextIO, *, audience: bool = False) -> int:
    from bot.console.render_text import render_text
    from bot.reach.charts import render_audience, render_weekly
    from handlers.errors import Refused
    from handlers.reach.audience import audience_reply, build_audience
    from handlers.reach.summary import build_weekly, weekly_reply
    from handlers.reach.weeks import local_today, parse_week
    from storage.db import read_session

    engine = open_database(settings)
    policy = team_policy(settings)
    try:
        with read_session(engine) as session:
            if audience:
                summary = build_audience(session, local_today(now, policy))
                image = (str(render_audience(summary, Path(png)))
                         if png and summary.has_data else None)
                reply = audience_reply(summary, image)
            else:
                weekly = build_weekly(session, now, policy, parse_week(week) if week else None)
                image = (str(render_weekly(weekly.chart, Path(png)))
                         if png and weekly.current.has_data else None)
                reply = weekly_reply(weekly, image)
    except Refused as refusal:
        err.write(f"storydesk: {refusal.message}\n")
        return 2
    finally:
        engine.dispose()
    out.write(render_text(reply) + "\n")
    if png and image is None:
        err.write(f"No chart written to {png}: there are no figures to draw.\n")
    return 0
