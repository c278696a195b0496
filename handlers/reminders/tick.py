"""The tick: what the scheduler runs to queue every reminder and post due at `now`."""

from __future__ import annotations

from datetime import datetime

from sqlmodel import Session

from handlers import auto_accept, release
from handlers.context import Policy
from handlers.reminders.direct import queue_direct_reminders
from handlers.reminders.report import TickReport
from handlers.reminders.snapshot import load_snapshot
from handlers.reminders.team_posts import queue_pitch_call, queue_team_posts
from handlers.stories import hand_over_waiting_reviews


def run_tick(session: Session, now: datetime, policy: Policy) -> TickReport:
    """Queue every reminder and post due at `now`; what was queued, late and expired."""
    report = TickReport()
    report.handed_over = len(hand_over_waiting_reviews(session, now, policy))
    report.accepted = len(auto_accept.run(session, now, policy))
    # Before the snapshot, so that a story released now gets no reminder from this tick.
    report.released = len(release.run(session, now, policy))
    snapshot = load_snapshot(session, now, policy)
    queue_direct_reminders(session, snapshot, report)
    queue_team_posts(session, snapshot, report)
    queue_pitch_call(session, snapshot, report)
    return report
