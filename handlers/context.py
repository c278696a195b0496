"""What every handler is handed besides the session: the team's rules as plain data."""

from __future__ import annotations

from dataclasses import dataclass
from zoneinfo import ZoneInfo

from handlers.decisions import CadenceSlot


@dataclass(frozen=True)
class Policy:
    """The team's rules, built once from the settings by the composition root."""

    timezone: str = "Europe/Berlin"
    cadence: tuple[CadenceSlot, ...] = ()
    draft_days: int = 14
    coordinators: tuple[str, ...] = ()
    channel_platforms: tuple[str, ...] = ("console",)

    @property
    def zone(self) -> ZoneInfo:
        return ZoneInfo(self.timezone)
