"""`storydesk export --out DIR [--force]` and `storydesk import DIR`."""

from __future__ import annotations

import argparse
import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from config.settings import Settings


def add_commands(sub: Any) -> None:
    export = sub.add_parser(
        "export",
        help="write the whole database to a folder (JSON per table, CSV for spreadsheets)",
    )
    export.add_argument("--out", required=True, metavar="DIR", type=Path,
                        help="the folder to write; it must be empty or new")
    export.add_argument("--force", action="store_true",
                        help="write into a folder that has files in it")
    export.set_defaults(handler=cmd_export)
    restore = sub.add_parser(
        "import", help="restore a folder written by `storydesk export` into an empty database"
    )
    restore.add_argument("source", metavar="DIR", type=Path, help="the folder to read")
    restore.set_defaults(handler=cmd_import)


def cmd_export(args: argparse.Namespace, settings: Settings) -> int:
    from bot.backup import BackupError, describe, export_database
    from storage.db import make_engine

    engine = make_engine(settings.database_url)
    try:
        summary = export_database(engine, args.out, force=args.force, now=datetime.now(UTC))
    except BackupError as error:
        print(f"storydesk: cannot export: {error}", file=sys.stderr)
        return 2
    finally:
        engine.dispose()
    describe(summary, sys.stdout, "Exported", f"to {args.out}")
    print(f"Spreadsheet copies: {', '.join(summary.spreadsheets)}.")
    return 0


def cmd_import(args: argparse.Namespace, settings: Settings) -> int:
    from bot.backup import BackupError, describe, import_database
    from storage.db import make_engine

    engine = make_engine(settings.database_url)
    where = engine.url.render_as_string(hide_password=True)
    try:
        summary = import_database(engine, args.source)
    except BackupError as error:
        print(f"storydesk: cannot import: {error}", file=sys.stderr)
        return 2
    finally:
        engine.dispose()
    describe(summary, sys.stdout, "Imported", f"into {where}")
    return 0
