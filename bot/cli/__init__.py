"""The `storydesk` command line."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from sqlalchemy.exc import OperationalError

from bot.errors import StartupError
from bot.logs import configure_logging
from config.settings import Settings, SettingsError, load_settings

# Each feature module adds its subcommands: `add_commands(subparsers)` setting `handler`.
FEATURE_MODULES: list[str] = [
    "bot.cli.delivery",
    "bot.mattermost.setup",
    "bot.slack.manifest",
    "bot.cli.reach",
    "bot.cli.backup",
    "bot.cli.crowd",
    "bot.cli.team",
]


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="storydesk",
        description="Storydesk: the newsroom bot of a crowd-sourced science-outreach account.",
    )
    parser.add_argument("--env-file", default=".env", help="settings file (default: .env)")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")

    demo = sub.add_parser("demo", help="the console on a throwaway database with demo data")
    demo.set_defaults(handler=cmd_demo)

    console = sub.add_parser("console", help="talk to Storydesk without a chat workspace")
    console.add_argument("--as", dest="actor", default="me", metavar="NAME",
                         help="the member you act as (default: me)")
    console.set_defaults(handler=cmd_console)

    run = sub.add_parser("run", help="run the bot: chat adapters, web app, scheduler")
    run.set_defaults(handler=cmd_run)

    db = sub.add_parser("db", help="database maintenance")
    db_sub = db.add_subparsers(dest="db_command", metavar="ACTION", required=True)
    upgrade = db_sub.add_parser("upgrade", help="apply the migrations")
    upgrade.set_defaults(handler=cmd_db_upgrade)
    status = db_sub.add_parser("status", help="is the database up to date?")
    status.set_defaults(handler=cmd_db_status)

    for module_name in FEATURE_MODULES:
        module = __import__(module_name, fromlist=["add_commands"])
        module.add_commands(sub)
    return parser


def cmd_demo(args: argparse.Namespace, settings: Settings) -> int:
    from bot.console.demo import run_demo

    return run_demo(settings, sys.stdout)


def cmd_console(args: argparse.Namespace, settings: Settings) -> int:
    from bot.console.adapter import ConsoleTransport, run_console
    from bot.runtime import build_runtime

    runtime = build_runtime(settings, platforms=("console",),
                            transports={"console": ConsoleTransport(sys.stdout)})
    return run_console(runtime, args.actor)


def cmd_run(args: argparse.Namespace, settings: Settings) -> int:
    from bot.server import run_server

    return run_server(settings)


def cmd_db_upgrade(args: argparse.Namespace, settings: Settings) -> int:
    from storage import migrate
    from storage.db import make_engine

    engine = make_engine(settings.database_url)
    migrate.upgrade(engine)
    print(f"Database is at {', '.join(sorted(migrate.current_revisions(engine)))}.")
    return 0


def cmd_db_status(args: argparse.Namespace, settings: Settings) -> int:
    from storage import migrate
    from storage.db import make_engine

    engine = make_engine(settings.database_url)
    current, heads = migrate.current_revisions(engine), migrate.head_revisions()
    if current == heads:
        print(f"Up to date ({', '.join(sorted(heads))}).")
        return 0
    print(f"Behind: at {', '.join(sorted(current)) or 'nothing'}, newest "
          f"{', '.join(sorted(heads))}. Run `storydesk db upgrade`.")
    return 1


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if not getattr(args, "handler", None):
        parser.print_help()
        return 2
    try:
        settings = load_settings(env_file=args.env_file)
    except SettingsError as error:
        print(f"storydesk: configuration error: {error}", file=sys.stderr)
        return 2
    # At a prompt, only warnings belong between the replies (unless DEBUG is asked for).
    at_prompt = args.handler in (cmd_console, cmd_demo)
    configure_logging(settings.log_level, settings.log_format,
                      floor="WARNING" if at_prompt else None)
    try:
        code: int = args.handler(args, settings)
    except KeyboardInterrupt:
        return 130
    except StartupError as error:
        print(f"storydesk: {error}", file=sys.stderr)
        return 2
    except OperationalError as error:
        reason = str(error.orig).strip().splitlines()[0] if error.orig else str(error)
        print(f"storydesk: cannot use the database (DATABASE_URL): {reason}", file=sys.stderr)
        return 2
    return code

