"""The outbox dispatcher: claims due messages, sends them through their platform, marks them sent.

First version: claim under a lease, send, record. Back-off, permanent-failure reports and
PostgreSQL's SKIP LOCKED claims are built on this shape.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from sqlalchemy.engine import Engine
from sqlmodel import Session, col, select

from bot.transport import (
    CardRef,
    Delivery,
    PermanentFailure,
    Recipient,
    SendResult,
    TemporaryFailure,
    Transport,
)
from handlers.reply import Reply
from storage.db import write_session
from storage.models import Member, Outbound, StoryCard

log = logging.getLogger(__name__)


@dataclass
class DispatchReport:
    sent: int = 0
    retried: int = 0
    failed: int = 0
    delivered: list[Delivery] = field(default_factory=list)


class Dispatcher:
    def __init__(
        self,
        engine: Engine,
        transports: Mapping[str, Transport],
        *,
        owner: str = "storydesk",
        lease_seconds: int = 120,
        batch_size: int = 50,
    ) -> None:
        self.engine = engine
        self.transports = transports
        self.owner = owner
        self.lease = timedelta(seconds=lease_seconds)
        self.batch_size = batch_size

    def dispatch_due(self, now: datetime) -> DispatchReport:
        report = DispatchReport()
        while True:
            claimed = self._claim(now)
            if not claimed:
                return report
            for outbound_id in claimed:
                self._deliver(outbound_id, now, report)

    def _claim(self, now: datetime) -> list[int]:
        with write_session(self.engine) as session:
            rows = session.exec(
                select(Outbound)
                .where(
                    col(Outbound.platform).in_(list(self.transports)),
                    col(Outbound.due_at) <= now,
                    (Outbound.status == "pending")
                    | ((Outbound.status == "sending") & (col(Outbound.lease_until) < now)),
                )
                .order_by(col(Outbound.due_at), col(Outbound.id))
                .limit(self.batch_size)
            ).all()
            for row in rows:
                row.status = "sending"
                row.lease_owner = self.owner
                row.lease_until = now + self.lease
                row.attempts += 1
                session.add(row)
            return [row.id for row in rows if row.id is not None]

    def _deliver(self, outbound_id: int, now: datetime, report: DispatchReport) -> None:
        with write_session(self.engine) as session:
            row = session.get(Outbound, outbound_id)
            if row is None or row.lease_owner != self.owner or row.status != "sending":
                return
            delivery = build_delivery(session, row)
        transport = self.transports[delivery.platform]
        try:
            result = transport.send(delivery)
        except TemporaryFailure as failure:
            self._finish(outbound_id, "pending", str(failure), now=now, retry=failure.retry_after)
            report.retried += 1
            return
        except PermanentFailure as failure:
            log.warning("outbound %s failed for good: %s", outbound_id, failure)
            self._finish(outbound_id, "failed", failure.cause, now=now)
            report.failed += 1
            return
        self._record_sent(outbound_id, delivery, result, now)
        report.sent += 1
        report.delivered.append(delivery)

    def _finish(
        self, outbound_id: int, status: str, error: str, *, now: datetime,
        retry: float | None = None,
    ) -> None:
        with write_session(self.engine) as session:
            row = session.get(Outbound, outbound_id)
            if row is None:
                return
            row.status = status
            row.last_error = error[:500]
            row.lease_owner = None
            row.lease_until = None
            if status == "pending":
                row.due_at = now + timedelta(seconds=retry if retry is not None else 30)
            session.add(row)

    def _record_sent(
        self, outbound_id: int, delivery: Delivery, result: SendResult, now: datetime
    ) -> None:
        with write_session(self.engine) as session:
            row = session.get(Outbound, outbound_id)
            if row is None:
                return
            row.status = "sent"
            row.sent_at = now
            row.platform_message_id = result.message_id
            row.lease_owner = None
            row.lease_until = None
            session.add(row)
            if delivery.kind == "card" and delivery.story_id and result.channel_id:
                remember_card(session, delivery, result)
            if delivery.recipient and result.dm_channel:
                member = session.get(Member, delivery.recipient.member_id)
                if member is not None and member.dm_channel != result.dm_channel:
                    member.dm_channel = result.dm_channel
                    session.add(member)


def build_delivery(session: Session, row: Outbound) -> Delivery:
    assert row.id is not None
    recipient = None
    if row.member_id is not None:
        member = session.get(Member, row.member_id)
        assert member is not None and member.id is not None
        recipient = Recipient(member.id, member.user_id, member.display_name, member.dm_channel)
    card = None
    if row.kind == "card" and row.story_id is not None:
        ref = session.exec(
            select(StoryCard).where(
                StoryCard.platform == row.platform, StoryCard.story_id == row.story_id
            )
        ).first()
        if ref is not None:
            card = CardRef(ref.channel_id, ref.message_id)
    return Delivery(
        outbound_id=row.id,
        platform=row.platform,
        kind=row.kind,
        reply=Reply.from_json(row.payload),
        channel=row.channel,
        recipient=recipient,
        story_id=row.story_id,
        card=card,
        late=row.late,
    )


def remember_card(session: Session, delivery: Delivery, result: SendResult) -> None:
    assert delivery.story_id is not None and result.channel_id is not None
    ref = session.exec(
        select(StoryCard).where(
            StoryCard.platform == delivery.platform, StoryCard.story_id == delivery.story_id
        )
    ).first()
    if ref is None:
        ref = StoryCard(platform=delivery.platform, story_id=delivery.story_id,
                        channel_id=result.channel_id, message_id=result.message_id)
    else:
        ref.channel_id, ref.message_id = result.channel_id, result.message_id
    session.add(ref)
