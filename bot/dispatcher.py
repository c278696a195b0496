"""The outbox dispatcher: claims due messages, sends them through their platform, marks them sent.

Claims are leases. A claim marks a batch of due rows `sending` with this process as owner
until `lease_until`; on PostgreSQL the rows are selected `FOR UPDATE SKIP LOCKED`, so two
replicas claim disjoint batches without waiting for each other; on SQLite the claim runs
inside `BEGIN IMMEDIATE` (the write session), which serialises claimers. The lease is kept
longer than a send may take (it is renewed for the rest of the batch whenever less than a
send timeout and a margin is left), so a row is only claimed again when its owner died:
another process then picks it up once the lease has expired.

Each message is sent, then marked sent with the platform's message id, only if this
process still owns it. A crash between the platform's acceptance and that commit is the
one window in which a message can go out twice; re-claims of expired leases are counted.

A `TemporaryFailure` puts the message back as pending, due again after its `retry_after`
or an exponential back-off; nothing sleeps. A `PermanentFailure` marks it failed and the
coordinators hear of it once per cause. A reminder past the late cutoff is recorded as
expired instead of sent; a message sent well after its time is marked late.
"""

from __future__ import annotations

import logging
import os
import random
import socket
import threading
import time as _time
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from sqlalchemy import and_, func, or_, update
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
from handlers import delivery as bookkeeping
from handlers.reminders import is_reminder_key
from handlers.reply import Reply
from storage.db import is_sqlite, read_session, write_session
from storage.models import Member, Outbound, StoryCard

log = logging.getLogger(__name__)

LEASE_MARGIN_SECONDS = 5.0


@dataclass
class DispatchReport:
    sent: int = 0
    retried: int = 0
    failed: int = 0
    expired: int = 0
    reclaimed: int = 0  # claimed after another owner's lease expired: may have gone out twice
    lost_lease: int = 0  # sent, but another process had taken the row over meanwhile
    delivered: list[Delivery] = field(default_factory=list)

    def add(self, other: DispatchReport) -> None:
        self.sent += other.sent
        self.retried += other.retried
        self.failed += other.failed
        self.expired += other.expired
        self.reclaimed += other.reclaimed
        self.lost_lease += other.lost_lease
        self.delivered.extend(other.delivered)


def default_owner() -> str:
    return f"{socket.gethostname()[:40]}:{os.getpid()}:{uuid.uuid4().hex[:8]}"


class _Clock:
    """`now` as given, moved on by the real time elapsed since: a simulated clock stays
    simulated, and a long fan-out still renews its leases in time."""

    def __init__(self, now: datetime) -> None:
        self.start = now
        self.started = _time.monotonic()

    def __call__(self) -> datetime:
        return self.start + timedelta(seconds=_time.monotonic() - self.started)


class Dispatcher:
    def __init__(
        self,
        engine: Engine,
        transports: Mapping[str, Transport],
        *,
        owner: str | None = None,
        lease_seconds: int = 120,
        send_timeout_seconds: float = 20,
        batch_size: int = 25,
        late_cutoff_hours: float = 24,
        late_after_seconds: float = 300,
        backoff_base_seconds: float = 5,
        backoff_max_seconds: float = 600,
    ) -> None:
        if lease_seconds <= send_timeout_seconds + LEASE_MARGIN_SECONDS:
            raise ValueError("the lease must outlive a send: raise STORYDESK_LEASE_SECONDS "
                             "above STORYDESK_SEND_TIMEOUT_SECONDS")
        self.engine = engine
        self.transports = transports
        self.owner = owner or default_owner()
        self.lease = timedelta(seconds=lease_seconds)
        self.send_timeout = timedelta(seconds=send_timeout_seconds)
        self.batch_size = batch_size
        self.late_cutoff = timedelta(hours=late_cutoff_hours)
        self.late_after = timedelta(seconds=late_after_seconds)
        self.backoff_base = backoff_base_seconds
        self.backoff_max = backoff_max_seconds
        self.stopping = threading.Event()
        self._skip_locked = not is_sqlite(engine)

    # --- the loop ------------------------------------------------------------------------

    def dispatch_due(self, now: datetime) -> DispatchReport:
        """Send everything due at `now` (and whatever falls due while sending)."""
        report = DispatchReport()
        clock = _Clock(now)
        while not self.stopping.is_set():
            claimed_at = clock()
            batch = self._claim(claimed_at, report)
            if not batch:
                break
            self._send_batch(batch, clock, claimed_at + self.lease, report)
            if report.failed:
                self._report_failures(clock())
        return report

    def seconds_until_next(self, now: datetime, cap: float) -> float:
        """How long the worker may sleep: until the next pending message or lease expiry."""
        with read_session(self.engine) as session:
            pending = session.exec(
                select(func.min(Outbound.due_at)).where(
                    Outbound.status == "pending", col(Outbound.platform).in_(self._platforms()))
            ).first()
            lease = session.exec(
                select(func.min(Outbound.lease_until)).where(
                    Outbound.status == "sending", col(Outbound.platform).in_(self._platforms()))
            ).first()
        moments = [_aware(m) for m in (pending, lease) if m is not None]
        if not moments:
            return cap
        return max(0.0, min(cap, (min(moments) - now).total_seconds()))

    # --- claiming ------------------------------------------------------------------------

    def _platforms(self) -> list[str]:
        return list(self.transports)

    def _claim(self, now: datetime, report: DispatchReport) -> list[Delivery]:
        query = (
            select(Outbound)
            .where(
                col(Outbound.platform).in_(self._platforms()),
                col(Outbound.due_at) <= now,
                or_(col(Outbound.status) == "pending",
                    and_(col(Outbound.status) == "sending", col(Outbound.lease_until) < now)),
            )
            .order_by(col(Outbound.due_at), col(Outbound.id))
            .limit(self.batch_size)
        )
        if self._skip_locked:
            query = query.with_for_update(skip_locked=True)
        claimed: list[Delivery] = []
        with write_session(self.engine) as session:
            for row in session.exec(query).all():
                overdue = now - (row.due_at or now)
                if is_reminder_key(row.unique_key) and overdue > self.late_cutoff:
                    bookkeeping.record_expired(session, row, now)
                    report.expired += 1
                    continue
                if row.status == "sending":
                    report.reclaimed += 1
                    log.warning("outbound %s: lease of %s expired; claiming it again",
                                row.id, row.lease_owner)
                row.status = "sending"
                row.lease_owner = self.owner
                row.lease_until = now + self.lease
                row.attempts += 1
                if overdue > self.late_after:
                    row.late = True
                session.add(row)
                try:
                    claimed.append(build_delivery(session, row))
                except LookupError as gone:
                    bookkeeping.record_failure(session, row, str(gone), now)
                    report.failed += 1
        return claimed

    def _renew(self, outbound_ids: list[int], now: datetime) -> set[int]:
        """Extend the lease of rows still ours; returns the ids we still own."""
        with write_session(self.engine) as session:
            session.execute(
                update(Outbound)
                .where(col(Outbound.id).in_(outbound_ids), col(Outbound.lease_owner) == self.owner,
                       col(Outbound.status) == "sending")
                .values(lease_until=now + self.lease)
            )
            owned = session.exec(
                select(Outbound.id).where(col(Outbound.id).in_(outbound_ids),
                                          col(Outbound.lease_owner) == self.owner,
                                          col(Outbound.status) == "sending")
            ).all()
        return {i for i in owned if i is not None}

    # --- sending -------------------------------------------------------------------------

    def _send_batch(self, batch: list[Delivery], clock: _Clock, lease_until: datetime,
                    report: DispatchReport) -> None:
        owned = {d.outbound_id for d in batch}
        for index, delivery in enumerate(batch):
            if self.stopping.is_set():
                self._release([d.outbound_id for d in batch[index:]], clock())
                return
            now = clock()
            if lease_until - now < self.send_timeout + timedelta(seconds=LEASE_MARGIN_SECONDS):
                remaining = [d.outbound_id for d in batch[index:]]
                owned = self._renew(remaining, now)
                lease_until = now + self.lease
            if delivery.outbound_id not in owned:
                continue
            self._deliver(delivery, clock, report)

    def _deliver(self, delivery: Delivery, clock: _Clock, report: DispatchReport) -> None:
        transport = self.transports[delivery.platform]
        try:
            result = transport.send(delivery)
        except TemporaryFailure as failure:
            self._back_off(delivery, clock(), str(failure), failure.retry_after)
            report.retried += 1
            return
        except PermanentFailure as failure:
            log.warning("outbound %s failed for good: %s", delivery.outbound_id, failure)
            self._fail(delivery, clock(), failure.cause)
            report.failed += 1
            return
        except Exception as error:  # a bug or an unexpected error: try again later
            log.exception("outbound %s: sending raised", delivery.outbound_id)
            self._back_off(delivery, clock(), f"{type(error).__name__}: {error}", None)
            report.retried += 1
            return
        if self._record_sent(delivery, result, clock()):
            report.sent += 1
            report.delivered.append(delivery)
        else:
            report.lost_lease += 1

    def _mine(self, session: Session, outbound_id: int) -> Outbound | None:
        row = session.get(Outbound, outbound_id)
        if row is None or row.lease_owner != self.owner or row.status != "sending":
            return None
        return row

    def _back_off(self, delivery: Delivery, now: datetime, error: str,
                  retry_after: float | None) -> None:
        with write_session(self.engine) as session:
            row = self._mine(session, delivery.outbound_id)
            if row is None:
                return
            delay = self.backoff_delay(row.attempts, retry_after)
            row.status = "pending"
            row.due_at = now + timedelta(seconds=delay)
            row.last_error = error[:500]
            row.lease_owner = None
            row.lease_until = None
            session.add(row)

    def backoff_delay(self, attempts: int, retry_after: float | None) -> float:
        """`retry_after` when the platform gives one, else doubling from the base, jittered."""
        if retry_after is not None:
            return max(0.0, retry_after)
        exponent = min(max(attempts - 1, 0), 20)
        delay = min(self.backoff_max, self.backoff_base * 2 ** exponent)
        return delay * random.uniform(0.8, 1.0)

    def _fail(self, delivery: Delivery, now: datetime, cause: str) -> None:
        with write_session(self.engine) as session:
            row = self._mine(session, delivery.outbound_id)
            if row is not None:
                bookkeeping.record_failure(session, row, cause, now)

    def _release(self, outbound_ids: list[int], now: datetime) -> None:
        with write_session(self.engine) as session:
            session.execute(
                update(Outbound)
                .where(col(Outbound.id).in_(outbound_ids), col(Outbound.lease_owner) == self.owner,
                       col(Outbound.status) == "sending")
                .values(status="pending", lease_owner=None, lease_until=None)
            )

    def _record_sent(self, delivery: Delivery, result: SendResult, now: datetime) -> bool:
        with write_session(self.engine) as session:
            row = self._mine(session, delivery.outbound_id)
            if row is None:
                log.warning("outbound %s was sent, but another process owns it now",
                            delivery.outbound_id)
                return False
            row.status = "sent"
            row.sent_at = now
            row.platform_message_id = result.message_id[:100]
            row.lease_owner = None
            row.lease_until = None
            row.last_error = None
            session.add(row)
            if delivery.kind == "card" and delivery.story_id and result.channel_id:
                remember_card(session, delivery, result)
            if delivery.recipient and result.dm_channel:
                member = session.get(Member, delivery.recipient.member_id)
                if member is not None and member.dm_channel != result.dm_channel:
                    member.dm_channel = result.dm_channel
                    session.add(member)
        return True

    def _report_failures(self, now: datetime) -> None:
        with write_session(self.engine) as session:
            bookkeeping.report_failures(session, now)


def _aware(value: datetime) -> datetime:
    return value if value.tzinfo is not None else value.replace(tzinfo=UTC)


def build_delivery(session: Session, row: Outbound) -> Delivery:
    """What the transport needs to send one row; LookupError if its recipient is gone."""
    assert row.id is not None
    recipient = None
    if row.member_id is not None:
        member = session.get(Member, row.member_id)
        if member is None or member.id is None:
            raise LookupError("member_gone")
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


# --- the worker thread ----------------------------------------------------------------------


class DispatcherWorker:
    """Runs the dispatcher in its own thread, so that sending never delays a chat listener.

    It sleeps until the next message is due, a lease expires, or `idle_seconds` pass;
    `wake()` (called after every command's commit and every tick) cuts the sleep short.
    """

    def __init__(
        self,
        dispatcher: Dispatcher,
        clock: Callable[[], datetime] | None = None,
        idle_seconds: float = 30.0,
        on_report: Callable[[DispatchReport], None] | None = None,
    ) -> None:
        self.dispatcher = dispatcher
        self.clock = clock or (lambda: datetime.now(UTC))
        self.idle_seconds = idle_seconds
        self.on_report = on_report
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self.passes = 0

    def start(self) -> None:
        if self._thread is None:
            self._thread = threading.Thread(target=self._run, name="storydesk-dispatcher",
                                            daemon=True)
            self._thread.start()

    def wake(self) -> None:
        self._wake.set()

    def stop(self, timeout: float = 10.0) -> None:
        self._stop.set()
        self.dispatcher.stopping.set()
        self._wake.set()
        if self._thread is not None:
            self._thread.join(timeout)
            self._thread = None

    def _run(self) -> None:
        failures = 0
        while not self._stop.is_set():
            self._wake.clear()
            try:
                report = self.dispatcher.dispatch_due(self.clock())
                self.passes += 1
                if self.on_report is not None:
                    self.on_report(report)
                wait = self.dispatcher.seconds_until_next(self.clock(), self.idle_seconds)
                failures = 0
            except Exception:
                failures += 1
                log.exception("the dispatcher failed; trying again")
                wait = min(self.idle_seconds, 2.0 ** min(failures, 5))
            if wait > 0:
                self._wake.wait(wait)
