"""What one tick did, counted by the direct reminders, the channel posts and the tick."""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass
class TickReport:
    queued: int = 0
    late: int = 0
    expired: int = 0
    skipped: int = 0
    accepted: int = 0  # pitches accepted automatically (STORYDESK_AUTO_ACCEPT_HOURS)
    released: int = 0  # abandoned drafts withdrawn (STORYDESK_RELEASE_AFTER_DAYS)
    handed_over: int = 0  # reviews moved from a reviewer away today to another coordinator
    keys: list[str] = field(default_factory=list)
