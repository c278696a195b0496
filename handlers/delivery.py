"""Delivery bookkeeping: failures told to the coordinators once per cause, expired
reminders, and the outbox summary and re-queueing behind `storydesk outbox`.

The dispatcher (in bot/) sends; these functions decide what the coordinators hear about
it and write it into the outbox like any other message.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from datetime import UTC, datetime

from sqlalchemy import func
from sqlmodel import Session, col, select

from handlers.members import coordinators
from handlers.outbox import enqueue, forget_secret
from handlers.reply import Bullets, Paragraph, Reply
from storage.delivery import DeliveryNotice
from storage.models import Member, Outbound

FAILURE_REPORT_PREFIX = "delivery-failed:"
STATUSES = ("pending", "sending", "sent", "failed", "expired", "skipped")
MAX_NAMED = 10


def record_failure(session: Session, row: Outbound, cause: str, now: datetime) -> None:
    """Mark a message failed for good; the coordinators hear of it in the next report."""
    row.status = "failed"
    row.last_error = cause[:500]
    row.lease_owner = None
    row.lease_until = None
    forget_secret(row)
    session.add(row)
    if row.unique_key.startswith(FAILURE_REPORT_PREFIX) or row.id is None:
        return  # a report that cannot be delivered is logged, never reported in a loop
    if session.exec(select(DeliveryNotice.id).where(DeliveryNotice.outbound_id == row.id)).first():
        return
    session.add(DeliveryNotice(kind="failed", outbound_id=row.id, platform=row.platform,
                               cause=cause[:100], at=now))


def record_expired(session: Session, row: Outbound, now: datetime) -> None:
    """A reminder that can no longer be sent in time: counted in the next team post."""
    row.status = "expired"
    row.last_error = "expired: more than the late cutoff after its time"
    row.lease_owner = None
    row.lease_until = None
    forget_secret(row)
    session.add(row)
    if row.id is not None and not session.exec(
        select(DeliveryNotice.id).where(DeliveryNotice.outbound_id == row.id)
    ).first():
        session.add(DeliveryNotice(kind="expired", outbound_id=row.id, platform=row.platform,
                                   cause="expired", at=now))


def _destination(session: Session, row: Outbound) -> str:
    if row.member_id is not None:
        member = session.get(Member, row.member_id)
        return f"DM to {member.display_name}" if member else "a DM"
    return f"the {row.channel} channel"


def report_failures(session: Session, now: datetime) -> int:
    """Queue one report per platform and cause for failures not reported yet.

    The report goes to the team channel of the platform; if the failures were posts to the
    team channel itself, it goes by DM to each coordinator there instead. A cause already
    reported today is not reported again: its notices are just marked reported.
    """
    notices = session.exec(
        select(DeliveryNotice).where(DeliveryNotice.kind == "failed",
                                     col(DeliveryNotice.reported_at).is_(None))
        .order_by(col(DeliveryNotice.id))
    ).all()
    groups: dict[tuple[str, str], list[DeliveryNotice]] = defaultdict(list)
    for notice in notices:
        groups[(notice.platform, notice.cause)].append(notice)
    queued = 0
    for (platform, cause), group in groups.items():
        rows = [session.get(Outbound, notice.outbound_id) for notice in group]
        failed = [row for row in rows if row is not None]
        names = sorted({_destination(session, row) for row in failed})
        shown = ", ".join(names[:MAX_NAMED]) + (f" and {len(names) - MAX_NAMED} more"
                                               if len(names) > MAX_NAMED else "")
        count = len(failed)
        text = (f"{count} message{'' if count == 1 else 's'} could not be delivered on "
                f"{platform}: {cause}.")
        reply = Reply(text=text, tone="warning", visibility="in_channel", blocks=(
            Paragraph(text),
            Bullets((f"To: {shown}.",)),
            Paragraph("Storydesk does not retry these. Once the cause is fixed (invite the bot, "
                      "check the channel settings), `storydesk outbox retry failed` sends them. "
                      "Further failures of this kind today are not reported again."),
        ))
        key = f"{FAILURE_REPORT_PREFIX}{platform}:{cause}:{now.date().isoformat()}"
        to_team = any(row.channel == "team" for row in failed)
        if not to_team:
            if enqueue(session, key=key, platform=platform, reply=reply, now=now,
                       channel="team") is not None:
                queued += 1
        else:
            for member in coordinators(session):
                if member.platform == platform and enqueue(
                        session, key=f"{key}:to-{member.id}", platform=platform, reply=reply,
                        now=now, member=member) is not None:
                    queued += 1
        for notice in group:
            notice.reported_at = now
            session.add(notice)
    session.flush()
    return queued


@dataclass(frozen=True)
class OutboxSummary:
    counts: dict[str, int]
    oldest_pending: datetime | None
    next_due: datetime | None


def outbox_summary(session: Session, now: datetime) -> OutboxSummary:
    rows = session.exec(select(Outbound.status, func.count()).group_by(col(Outbound.status))).all()
    counts = dict.fromkeys(STATUSES, 0)
    counts.update({status: count for status, count in rows})
    oldest = session.exec(
        select(func.min(Outbound.due_at)).where(
            col(Outbound.status).in_(("pending", "sending")), col(Outbound.due_at) <= now)
    ).first()
    following = session.exec(
        select(func.min(Outbound.due_at)).where(Outbound.status == "pending",
                                                col(Outbound.due_at) > now)
    ).first()
    return OutboxSummary(counts, _aware(oldest), _aware(following))


def _aware(value: datetime | None) -> datetime | None:
    """Aggregates bypass the column type: make a naive UTC result aware."""
    if value is None or value.tzinfo is not None:
        return value
    return value.replace(tzinfo=UTC)


def retry(session: Session, which: str, now: datetime) -> int:
    """Re-queue one message by id, or every failed one (`failed`); returns how many."""
    if which == "failed":
        rows = list(session.exec(select(Outbound).where(Outbound.status == "failed")).all())
    else:
        if not which.isdigit():
            raise ValueError("give a message id or `failed`")
        row = session.get(Outbound, int(which))
        if row is None:
            raise LookupError(f"no outbound message #{which}")
        if row.status in {"pending", "sending"}:
            return 0
        rows = [row]
    for row in rows:
        row.status = "pending"
        row.due_at = now
        row.lease_owner = None
        row.lease_until = None
        row.last_error = None
        session.add(row)
    session.flush()
    return len(rows)
