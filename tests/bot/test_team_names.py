"""Coordinators seeded from the settings get their names and zones from the platform."""

from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy.engine import Engine

from bot.commands import Caller
from bot.team_names import name_coordinators
from handlers.members import coordinators, seed_coordinators
from storage.db import read_session, write_session

NOW = datetime(2026, 11, 30, 9, 0, tzinfo=UTC)


class FakeDirectory:
    """Answers for the ids it knows; counts what it was asked; can be unreachable."""

    def __init__(self, people: dict[str, Caller], reachable: bool = True) -> None:
        self.people = people
        self.reachable = reachable
        self.asked: list[str] = []

    def lookup(self, mention: str) -> Caller | None:
        self.asked.append(mention)
        if not self.reachable:
            raise ConnectionError("the platform does not answer")
        return self.people.get(mention)


def names(engine: Engine) -> dict[str, tuple[str, str | None]]:
    with read_session(engine) as session:
        return {m.user_id: (m.display_name, m.timezone) for m in coordinators(session)}


def test_seeded_coordinators_are_named_once_from_their_platform(engine: Engine) -> None:
    with write_session(engine) as session:
        seed_coordinators(session, [("slack", "U0ADA"), ("slack", "U0BEN"),
                                    ("mattermost", "x" * 26)], NOW)
    slack = FakeDirectory({"U0ADA": Caller("slack", "U0ADA", "Ada Lovelace", "Europe/London")})
    offline = FakeDirectory({}, reachable=False)
    assert name_coordinators(engine, {"slack": slack, "mattermost": offline}, NOW) == 1
    assert names(engine) == {"U0ADA": ("Ada Lovelace", "Europe/London"),
                             "U0BEN": ("U0BEN", None),  # Slack does not know him
                             "x" * 26: ("x" * 26, None)}  # asked again at the next start
    assert name_coordinators(engine, {"slack": slack, "mattermost": offline}, NOW) == 0
    assert slack.asked == ["U0ADA", "U0BEN", "U0BEN"]  # Ada's name is kept, not asked again
    assert offline.asked == ["x" * 26, "x" * 26]
