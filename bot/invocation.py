"""What a `/story` subcommand is given: the unit of work, who asks, when, the rules, the words.

It lives apart from bot/grammar.py so that the capability packages holding their own
subcommands (bot/reach/commands.py, bot/crowd/commands.py) can name it without importing
the grammar, which imports them to register their subcommands.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, datetime

from sqlmodel import Session

from handlers.context import Policy
from storage.models import Member


@dataclass
class Invocation:
    """Everything a subcommand needs: the unit of work, who, when, the rules, the words."""

    session: Session
    actor: Member
    now: datetime
    policy: Policy
    args: str
    resolve: Callable[[str], Member]

    @property
    def words(self) -> list[str]:
        return self.args.split()

    @property
    def today(self) -> date:
        return self.now.astimezone(self.policy.zone).date()
