"""What the subcommands share: the database they open, the team's rules, a day argument.

Heavy modules are imported inside the functions, so that `storydesk --help` and every
subcommand start without loading what they do not use.
"""

from __future__ import annotations

import argparse
from datetime import date
from typing import TYPE_CHECKING

from config.settings import Settings

if TYPE_CHECKING:
    from sqlalchemy.engine import Engine

    from handlers.context import Policy


def open_database(settings: Settings) -> Engine:
    """The database of DATABASE_URL, brought to the newest schema first."""
    from storage import migrate
    from storage.db import make_engine

    engine = make_engine(settings.database_url)
    migrate.upgrade(engine)
    return engine


def team_policy(settings: Settings) -> Policy:
    """The team's rules, as the running bot has them."""
    from bot.runtime import enabled_platforms, policy_from

    return policy_from(settings, enabled_platforms(settings))


def day_argument(text: str) -> date:
    """An argparse type: a day written YYYY-MM-DD."""
    try:
        return date.fromisoformat(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a day; use YYYY-MM-DD") from None
