"""Reminders and schedule posts: what the calendar says is due, queued in the outbox.

The scheduler's tick calls `run_tick(session, now, policy)`. It computes, from the
stories and the calendar, every reminder and post whose moment has come, and queues each
under a unique key (`draft-reminder:story-12:due-2026-12-03:before`), so that a repeated
tick, a restart or a second replica never queues one twice.

- Authors, by direct message: `remind_days_before` days before the draft date, on the
  day, then every `overdue_every_days` while overdue; after `escalate_after_days` overdue
  days the reviewer is told too; both are told the day the story is released (withdrawn
  by the tick, see `handlers.release`) if the draft does not come. Reviewers: a draft in
  review untouched for `review_nudge_days` (and again after as many days).
- Direct messages are computed in the recipient's zone and deferred (never dropped) by
  days off, quiet hours, away periods and snoozes; members who turned reminders off are
  skipped (recorded as such, so turning them back on does not replay the past).
- The team channel: a "coming week" post, "publishing today", a warning two days ahead
  for an empty slot, a warning for two stories on one day. The group channel: a call for
  pitches every `pitch_call_every_days` naming what the schedule lacks.

After downtime, a reminder that fell due less than `late_cutoff_hours` ago is sent marked
late; older ones are recorded as expired and counted in the next coordinators' post. In a
series (the draft reminders of one story) only the newest due one is sent. Periodic posts
coalesce: one per period, sent late within its period, never a burst of old ones.

The package, one module per idea (each name below is importable from `handlers.reminders`):

- `occurrences`: pure planning: when a reminder or post is due, deferral to working hours,
  which of a series is sent (`defer`, `settle`, `period_post_due`, …).
- `snapshot`: loading the stories, people, snoozes and queued keys a tick works from.
- `direct`: the direct reminders: who gets which series, how each reads, queuing them.
- `team_posts`: the channel posts: coming week, publishing today, empty slots, two stories
  on one day, the call for pitches.
- `tick`: `run_tick`, which runs the above in order; `report`: what a tick did.
- `snoozing`: `/story snooze`; `jobs`: what comes next (`storydesk jobs`), releases of
  abandoned drafts included.
"""

from handlers.reminders.direct import Planned, planned_reminders, reminder_reply
from handlers.reminders.jobs import (
    LOOKAHEAD_DAYS,
    Job,
    next_moment,
    release_jobs,
    reminder_description,
    upcoming,
)
from handlers.reminders.occurrences import (
    PITCH_CALL_ANCHOR,
    REMINDER_KEY_PREFIXES,
    SUPERSEDE_WITHIN,
    Deferral,
    Occurrence,
    Settlement,
    coming_week_occurrence,
    defer,
    draft_occurrences,
    escalation_occurrence,
    is_late,
    is_reminder_key,
    next_pitch_call,
    period_post_due,
    pitch_call_occurrence,
    review_occurrences,
    settle,
)
from handlers.reminders.report import TickReport
from handlers.reminders.snapshot import (
    CATCH_UP_DAYS,
    DUE_DATE_ACTIONS,
    KEY_QUERY_CHUNK,
    Snapshot,
    existing_keys,
    load_snapshot,
)
from handlers.reminders.snoozing import MAX_SNOOZE_DAYS, snooze
from handlers.reminders.team_posts import (
    channel_post_key,
    empty_slot_warning_day,
    lacking_objectives,
)
from handlers.reminders.tick import run_tick

__all__ = [
    "CATCH_UP_DAYS",
    "DUE_DATE_ACTIONS",
    "KEY_QUERY_CHUNK",
    "LOOKAHEAD_DAYS",
    "MAX_SNOOZE_DAYS",
    "PITCH_CALL_ANCHOR",
    "REMINDER_KEY_PREFIXES",
    "SUPERSEDE_WITHIN",
    "Deferral",
    "Job",
    "Occurrence",
    "Planned",
    "Settlement",
    "Snapshot",
    "TickReport",
    "channel_post_key",
    "coming_week_occurrence",
    "defer",
    "draft_occurrences",
    "empty_slot_warning_day",
    "escalation_occurrence",
    "existing_keys",
    "is_late",
    "is_reminder_key",
    "lacking_objectives",
    "load_snapshot",
    "next_moment",
    "next_pitch_call",
    "period_post_due",
    "pitch_call_occurrence",
    "planned_reminders",
    "release_jobs",
    "reminder_description",
    "reminder_reply",
    "review_occurrences",
    "run_tick",
    "settle",
    "snooze",
    "upcoming",
]
