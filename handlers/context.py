"""What every handler is handed besides the session: the team's rules as plain data."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, time, timedelta
from zoneinfo import ZoneInfo

from handlers.decisions import CadenceSlot


@dataclass(frozen=True)
class ReminderRules:
    """When reminders and schedule posts fall due; filled from the delivery settings.

    Direct messages respect `working_days` and the quiet hours (`quiet_start`-`quiet_end`,
    local to the recipient; None turns them off): they are deferred, never dropped.
    """

    working_days: tuple[int, ...] = (0, 1, 2, 3, 4)
    quiet_start: time | None = time(20, 0)
    quiet_end: time | None = time(8, 0)
    remind_at: time = time(9, 0)
    remind_days_before: int = 3
    overdue_every_days: int = 2
    escalate_after_days: int = 4
    review_nudge_days: int = 3
    late_cutoff_hours: int = 24
    late_after_seconds: int = 300
    # A direct reminder is queued this long before it falls due (two ticks), so that it is
    # in the outbox when the dispatcher wakes for a message held to the same moment.
    queue_ahead_seconds: int = 60
    pitch_call_every_days: int = 14
    objective_gap_weeks: int = 6
    coming_week_weekday: int = 0
    coming_week_at: time = time(9, 0)
    publishing_today_at: time = time(9, 0)
    empty_slot_warning_days: int = 2
    free_slot_weeks: int = 4


@dataclass(frozen=True)
class CrowdRules:
    """Crowd health: target shares (percent) of objectives and formats, and after how many
    months without a pitch a member is nudged. Filled from the settings."""

    objective_targets: tuple[tuple[str, int], ...] = (
        ("outreach", 30), ("scicomm", 30), ("training", 15), ("recruitment", 25))
    format_targets: tuple[tuple[str, int], ...] = ()
    nudge_after_months: int = 6


@dataclass(frozen=True)
class Policy:
    """The team's rules, built once from the settings by the composition root."""

    timezone: str = "Europe/Berlin"
    cadence: tuple[CadenceSlot, ...] = ()
    draft_days: int = 14
    min_lead_hours: int = 24
    changes_days: int = 5
    auto_accept_hours: int | None = None
    # Days after its due date that a draft never sent is released (withdrawn) by the bot;
    # None: never (STORYDESK_RELEASE_AFTER_DAYS=off).
    release_after_days: int | None = 21
    channel_platforms: tuple[str, ...] = ("console",)
    reminders: ReminderRules = field(default_factory=ReminderRules)
    # Where Storydesk is reachable from outside (STORYDESK_PUBLIC_URL), without a trailing
    # slash; empty when unset. Personal calendar links are built on it.
    public_url: str = ""
    crowd: CrowdRules = field(default_factory=CrowdRules)
    # Posts are recognised on Instagram by themselves; else "Posted" buttons ask.
    instagram_watch: bool = False

    @property
    def zone(self) -> ZoneInfo:
        return ZoneInfo(self.timezone)

    def release_on(self, draft_due: date) -> date | None:
        """The team's local day on which a draft due `draft_due` and never sent is
        released, or None when drafts are never released."""
        if self.release_after_days is None:
            return None
        return draft_due + timedelta(days=self.release_after_days)
