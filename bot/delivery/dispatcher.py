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

Over 500 lines, on purpose: it is one idea, the claim-send-record cycle of a leased row.
The pacer, the batch lease and the worker thread exist only to serve that cycle and read
best beside it.
"""

from __future__ import annotations

import logging
import os
import random
import socket
import threading
import time as _time
import uuid
from collections import deque
from collections.abc import Callable, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from typing import Any, cast

from sqlalchemy import and_, func, or_, update
from sqlalchemy.engine import CursorResult, Engine
from sqlmodel import Session, col, select
from sqlmodel.sql.expression import SelectOfScalar

from bot.delivery.transport import (
    CardRef,
    Delivery,
    PermanentFailure,
    Recipient,
    SendResult,
    TemporaryFailure,
    Transport,
)
from handlers import courtesy, wording
from handlers import delivery as bookkeeping
from handlers.context import Policy
from handlers.outbox import forget_secret, forget_secrets
from handlers.reminders import is_reminder_key
from handlers.reply import Reply
from storage.db import is_sqlite, read_session, write_session
from storage.models import Member, Outbound, StoryCard

log = logging.getLogger(__name__)

LEASE_MARGIN_SECONDS = 5.0
MAX_HOLD_SECONDS = 60.0  # a paced platform pauses at most this long after a 429
MAX_CHANNEL_PACERS = 1000
# A 429 that names one destination holds back the whole platform only when refusals have
# become a share of its calls: then the platform itself is over its limit.
REFUSAL_WINDOW_SECONDS = 2.0
REFUSAL_SHARE = 0.25
REFUSAL_MIN = 3


@dataclass(frozen=True)
class Claimed:
    """A claimed message and how many times it has been tried, this one included."""

    delivery: Delivery
    attempts: int


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


class Pacer:
    """At most `rate` sends a second to one platform, spaced evenly across the threads.

    It waits in the dispatcher's own threads (never a chat listener's), and gives up at
    once when the dispatcher stops."""

    def __init__(self, rate: float) -> None:
        self.interval = 1.0 / rate
        self.next_slot = 0.0
        self.lock = threading.Lock()
        # The slots handed out and the refusals seen, over the last REFUSAL_WINDOW_SECONDS.
        self.calls: deque[float] = deque()
        self.refusals: deque[float] = deque()

    def wait(self, stopping: threading.Event) -> bool:
        with self.lock:
            now = _time.monotonic()
            slot = max(self.next_slot, now)
            self.next_slot = slot + self.interval
            self.calls.append(slot)
            _forget_before(self.calls, now - REFUSAL_WINDOW_SECONDS)
        delay = slot - now
        return not (delay > 0 and stopping.wait(delay))

    def charge(self, calls: int) -> None:
        """A send took `calls` more API calls than the one its slot was for: the next slot
        moves back as far, so that the platform sees `rate` calls a second, not messages."""
        if calls <= 0:
            return
        with self.lock:
            self.next_slot = max(self.next_slot, _time.monotonic()) + calls * self.interval

    def hold(self, seconds: float) -> None:
        """The platform answered 429 with Retry-After: no thread sends to it before then.

        (Platforms count refused calls against the limit too: sending the next message
        sooner, as if the refused call had not happened, only draws more 429s.)"""
        with self.lock:
            until = _time.monotonic() + min(max(seconds, 0.0), MAX_HOLD_SECONDS)
            self.next_slot = max(self.next_slot, until)

    def overloaded(self) -> bool:
        """Count a refusal of one destination's call; whether refusals are now so many of
        the recent calls (REFUSAL_SHARE, at least REFUSAL_MIN) that the platform as a whole
        is over its limit, not that destination alone."""
        with self.lock:
            now = _time.monotonic()
            self.refusals.append(now)
            since = now - REFUSAL_WINDOW_SECONDS
            _forget_before(self.refusals, since)
            _forget_before(self.calls, since)
            refused = len(self.refusals)
            return refused >= REFUSAL_MIN and refused >= REFUSAL_SHARE * len(self.calls)


def _forget_before(moments: deque[float], since: float) -> None:
    while moments and moments[0] < since:
        moments.popleft()


def _hold(failure: TemporaryFailure, channel: Pacer | None, platform: Pacer | None) -> None:
    """After a 429: refused calls count against the limit, so no thread sends to what was
    refused before its Retry-After. That is the destination alone when the platform says
    so (Slack's per-channel limit) and it has a pacer of its own, unless refusals have
    become a share of the platform's calls; else every send to the platform."""
    assert failure.retry_after is not None
    if channel is not None:
        channel.hold(failure.retry_after)
    if platform is None:
        return
    if failure.scope != "destination" or channel is None or platform.overloaded():
        platform.hold(failure.retry_after)


class _BatchLease:
    """The lease of one claimed batch, shared by the threads sending it: before each send
    it makes sure the lease outlives the send, renewing it for what is left if not."""

    def __init__(self, dispatcher: Dispatcher, ids: list[int], lease_until: datetime) -> None:
        self.dispatcher = dispatcher
        self.waiting = dict.fromkeys(ids)
        self.owned = set(ids)
        self.lease_until = lease_until
        self.lock = threading.Lock()

    def start(self, outbound_id: int, now: datetime) -> bool:
        """May this message be sent now? False if another process has taken it over."""
        dispatcher = self.dispatcher
        with self.lock:
            self.waiting.pop(outbound_id, None)
            if self.lease_until - now < dispatcher.send_timeout + dispatcher.lease_margin:
                self.owned = dispatcher._renew([outbound_id, *self.waiting], now)
                self.lease_until = now + dispatcher.lease
            return outbound_id in self.owned

    def not_started(self) -> list[int]:
        with self.lock:
            return list(self.waiting)


class Dispatcher:
    def __init__(
        self,
        engine: Engine,
        transports: Mapping[str, Transport],
        *,
        owner: str | None = None,
        lease_seconds: int = 120,
        send_timeout_seconds: float = 20,
        batch_size: int = 100,
        late_cutoff_hours: float = 24,
        late_after_seconds: float = 300,
        backoff_base_seconds: float = 5,
        backoff_max_seconds: float = 600,
        lease_margin_seconds: float = LEASE_MARGIN_SECONDS,
        concurrency: int = 4,
        pace: Mapping[str, float] | None = None,
        channel_pace: Mapping[str, float] | None = None,
        policy: Policy | None = None,
    ) -> None:
        if lease_seconds <= send_timeout_seconds + lease_margin_seconds:
            raise ValueError("the lease must outlive a send: raise STORYDESK_LEASE_SECONDS "
                             "above STORYDESK_SEND_TIMEOUT_SECONDS")
        self.engine = engine
        self.transports = transports
        self.owner = owner or default_owner()
        self.lease = timedelta(seconds=lease_seconds)
        self.send_timeout = timedelta(seconds=send_timeout_seconds)
        self.lease_margin = timedelta(seconds=lease_margin_seconds)
        self.batch_size = batch_size
        self.late_cutoff = timedelta(hours=late_cutoff_hours)
        self.late_after = timedelta(seconds=late_after_seconds)
        self.backoff_base = backoff_base_seconds
        self.backoff_max = backoff_max_seconds
        self.concurrency = max(1, concurrency)
        self.pacers = {platform: Pacer(rate) for platform, rate in (pace or {}).items()}
        # Per destination (a channel, a person's DM) on platforms that limit each channel.
        self.channel_pace = dict(channel_pace or {})
        self._channel_pacers: dict[tuple[str, str], Pacer] = {}
        self._channel_lock = threading.Lock()
        self.stopping = threading.Event()
        self._skip_locked = not is_sqlite(engine)
        # With the team's rules, direct messages wait for the recipient's working hours
        # and are combined to one a day (handlers/courtesy.py); without, they go when due.
        self.policy = policy
        # A message that carries others combined into it: its id -> theirs. They share
        # its lease and its outcome (sent, retried, failed, released).
        self._merged: dict[int, tuple[int, ...]] = {}
        self._merged_lock = threading.Lock()

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

    def _claim(self, now: datetime, report: DispatchReport) -> list[Claimed]:
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
        claimed: list[Claimed] = []
        with write_session(self.engine) as session:
            rows = list(session.exec(query).all())
            member_ids = {row.member_id for row in rows if row.member_id is not None}
            people = {m.id: m for m in session.exec(
                self._recipients(member_ids)).all()} if member_ids else {}
            taking: list[int] = []
            late: list[int] = []
            holds: dict[int, datetime] = {}
            by_member: dict[int, list[tuple[Outbound, Claimed]]] = {}
            for row in rows:
                assert row.id is not None
                overdue = now - (row.due_at or now)
                if is_reminder_key(row.unique_key) and overdue > self.late_cutoff:
                    bookkeeping.record_expired(session, row, now)
                    report.expired += 1
                    continue
                if row.member_id is not None and row.member_id not in people:
                    bookkeeping.record_failure(session, row, "member_gone", now)
                    report.failed += 1
                    continue
                if row.status == "sending":
                    report.reclaimed += 1
                    log.warning("outbound %s: lease of %s expired; claiming it again",
                                row.id, row.lease_owner)
                member = people.get(row.member_id or -1)
                if member is not None and self._not_wanted_now(session, row, member, now):
                    continue
                if member is not None and self._held(session, row, member, now, holds):
                    continue
                is_late = row.late or overdue > self.late_after
                try:
                    delivery = build_delivery(session, row, member, is_late, at=now)
                except (ValueError, KeyError, TypeError) as unreadable:
                    # A row that cannot be read must not block the rest of the outbox.
                    log.error("outbound %s cannot be read: %s", row.id, unreadable)
                    bookkeeping.record_failure(session, row, "unreadable_message", now)
                    report.failed += 1
                    continue
                except NoLongerTrue:
                    _skip(session, row, "no longer true when due")
                    continue
                if is_late and not row.late:
                    late.append(row.id)
                taking.append(row.id)
                claim = Claimed(delivery, row.attempts + 1)
                if member is not None and self.policy is not None \
                        and row.kind not in courtesy.EXEMPT_KINDS:
                    by_member.setdefault(row.member_id or -1, []).append((row, claim))
                else:
                    claimed.append(claim)
            for group in by_member.values():
                claimed.append(self._combined(group))
            if taking:
                session.execute(
                    update(Outbound).where(col(Outbound.id).in_(taking))
                    .values(status="sending", lease_owner=self.owner,
                            lease_until=now + self.lease, attempts=Outbound.attempts + 1)
                    .execution_options(synchronize_session=False))
            if late:
                session.execute(
                    update(Outbound).where(col(Outbound.id).in_(late)).values(late=True)
                    .execution_options(synchronize_session=False))
        return claimed

    def _recipients(self, member_ids: set[int]) -> SelectOfScalar[Member]:
        """The recipients of a claimed batch. With the team's rules on PostgreSQL they are
        locked until the claim commits: another replica deciding about one of them at the
        same moment waits, then sees this claim's message as the day's one (`sending`)."""
        query = select(Member).where(col(Member.id).in_(member_ids)).order_by(col(Member.id))
        if self._skip_locked and self.policy is not None:
            query = query.with_for_update()
        return query

    def _not_wanted_now(self, session: Session, row: Outbound, member: Member,
                        now: datetime) -> bool:
        """A message that `/story reminders off` stops (a reminder, a kind nudge, a "your
        year") whose recipient turned reminders off since it was queued is skipped; one
        about a story they snoozed waits for the snooze's end. True if it is not sent."""
        if not courtesy.follows_reminder_choice(row.unique_key):
            return False
        if not member.reminders_enabled:
            _skip(session, row, courtesy.REMINDERS_OFF)
            return True
        until = courtesy.snoozed_until(session, member, row.story_id, now)
        if until is None:
            return False
        row.due_at = until
        row.status, row.lease_owner, row.lease_until = "pending", None, None
        session.add(row)
        return True

    def _held(self, session: Session, row: Outbound, member: Member, now: datetime,
              holds: dict[int, datetime]) -> bool:
        """Hold a direct message until the recipient may get it; True if it waits."""
        if self.policy is None or row.kind in courtesy.EXEMPT_KINDS or member.id is None:
            return False
        if member.id not in holds:
            holds[member.id] = courtesy.hold_until(session, member, now, self.policy)
        until = holds[member.id]
        if until <= now:
            return False
        row.due_at = until
        row.status, row.lease_owner, row.lease_until = "pending", None, None
        session.add(row)
        return True

    def _combined(self, group: list[tuple[Outbound, Claimed]]) -> Claimed:
        """One message for everything due to one person now, in order."""
        if len(group) == 1:
            return group[0][1]
        group = sorted(group, key=lambda item: (item[0].created_at or item[0].due_at, item[0].id))
        first = group[0][1]
        shown = courtesy.newest_of_each_series([claim.delivery.reply for _, claim in group])
        reply = courtesy.combine(shown)
        others = tuple(claim.delivery.outbound_id for _, claim in group[1:])
        with self._merged_lock:
            self._merged[first.delivery.outbound_id] = others
        delivery = replace(first.delivery, reply=reply, story_id=reply.story_id,
                           late=any(claim.delivery.late for _, claim in group))
        return Claimed(delivery, first.attempts)

    def _family(self, outbound_ids: list[int]) -> list[int]:
        """The ids and those combined into them."""
        with self._merged_lock:
            return [i for o in outbound_ids for i in (o, *self._merged.get(o, ()))]

    def _forget(self, outbound_id: int) -> None:
        with self._merged_lock:
            self._merged.pop(outbound_id, None)

    def _renew(self, outbound_ids: list[int], now: datetime) -> set[int]:
        """Extend the lease of rows still ours; returns the ids we still own."""
        outbound_ids = self._family(outbound_ids)
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

    def _send_batch(self, batch: list[Claimed], clock: _Clock, lease_until: datetime,
                    report: DispatchReport) -> None:
        """Send a claimed batch: messages to one recipient or channel in order, different
        ones side by side (up to `concurrency`), each only while its lease is safe."""
        lease = _BatchLease(self, [c.delivery.outbound_id for c in batch], lease_until)
        groups: dict[tuple[str, object], list[Claimed]] = {}
        for claim in batch:
            delivery = claim.delivery
            target = (("member", delivery.recipient.member_id) if delivery.recipient
                      else ("channel", delivery.channel))
            groups.setdefault(target, []).append(claim)

        def send_group(group: list[Claimed]) -> DispatchReport:
            part = DispatchReport()
            for claim in group:
                if self.stopping.is_set():
                    break
                if lease.start(claim.delivery.outbound_id, clock()):
                    self._deliver(claim, clock, part)
            return part

        workers = min(self.concurrency, len(groups))
        if workers <= 1:
            parts = [send_group(group) for group in groups.values()]
        else:
            with ThreadPoolExecutor(max_workers=workers,
                                    thread_name_prefix="storydesk-send") as pool:
                parts = list(pool.map(send_group, groups.values()))
        for part in parts:
            report.add(part)
        unsent = lease.not_started()
        if unsent:
            self._release(unsent)

    def _deliver(self, claim: Claimed, clock: _Clock, report: DispatchReport) -> None:
        delivery = claim.delivery
        transport = self.transports[delivery.platform]
        channel, platform = self._channel_pacer(delivery), self.pacers.get(delivery.platform)
        pacers = [p for p in (channel, platform) if p is not None]
        if not all(pacer.wait(self.stopping) for pacer in pacers):
            self._release([delivery.outbound_id])
            return
        try:
            result = transport.send(delivery)
        except TemporaryFailure as failure:
            if failure.retry_after is not None:
                _hold(failure, channel, platform)
            self._back_off(claim, clock(), str(failure), failure.retry_after)
            report.retried += 1
            return
        except PermanentFailure as failure:
            log.warning("outbound %s failed for good: %s", delivery.outbound_id, failure)
            self._fail(delivery, clock(), failure.cause)
            report.failed += 1
            return
        except Exception as error:  # a bug or an unexpected error: try again later
            log.exception("outbound %s: sending raised", delivery.outbound_id)
            self._back_off(claim, clock(), f"{type(error).__name__}: {error}", None)
            report.retried += 1
            return
        for pacer in pacers:
            pacer.charge(result.calls - 1)
        if self._record_sent(delivery, result, clock()):
            report.sent += 1
            report.delivered.append(delivery)
        else:
            report.lost_lease += 1

    def _channel_pacer(self, delivery: Delivery) -> Pacer | None:
        rate = self.channel_pace.get(delivery.platform)
        if rate is None:
            return None
        recipient = delivery.recipient
        destination = recipient.user_id if recipient is not None else delivery.channel or ""
        key = (delivery.platform, destination)
        with self._channel_lock:
            pacer = self._channel_pacers.get(key)
            if pacer is None:
                if len(self._channel_pacers) >= MAX_CHANNEL_PACERS:
                    now = _time.monotonic()  # forget the destinations nobody waits for
                    self._channel_pacers = {k: p for k, p in self._channel_pacers.items()
                                            if p.next_slot > now}
                pacer = self._channel_pacers[key] = Pacer(rate)
        return pacer

    def _mine(self, session: Session, outbound_id: int) -> Outbound | None:
        row = session.get(Outbound, outbound_id)
        if row is None or row.lease_owner != self.owner or row.status != "sending":
            return None
        return row

    def _ours(self, outbound_id: int) -> Any:
        return and_(col(Outbound.id).in_(self._family([outbound_id])),
                    col(Outbound.lease_owner) == self.owner, col(Outbound.status) == "sending")

    def _back_off(self, claim: Claimed, now: datetime, error: str,
                  retry_after: float | None) -> None:
        delay = self.backoff_delay(claim.attempts, retry_after)
        with write_session(self.engine) as session:
            session.execute(
                update(Outbound).where(self._ours(claim.delivery.outbound_id))
                .values(status="pending", due_at=now + timedelta(seconds=delay),
                        last_error=error[:500], lease_owner=None, lease_until=None)
                .execution_options(synchronize_session=False))
        self._forget(claim.delivery.outbound_id)

    def backoff_delay(self, attempts: int, retry_after: float | None) -> float:
        """After a 429, its Retry-After plus a random spread (up to half of it, at least a
        second), so that the messages it turned away do not all fall due at one instant and
        storm the platform again; without one, doubling from the base, jittered."""
        if retry_after is not None:
            wait = max(0.0, retry_after)
            return wait + random.uniform(0.0, max(1.0, wait / 2))
        exponent = min(max(attempts - 1, 0), 20)
        delay = min(self.backoff_max, self.backoff_base * 2 ** exponent)
        return delay * random.uniform(0.8, 1.0)

    def _fail(self, delivery: Delivery, now: datetime, cause: str) -> None:
        with write_session(self.engine) as session:
            for outbound_id in self._family([delivery.outbound_id]):
                row = self._mine(session, outbound_id)
                if row is not None:
                    bookkeeping.record_failure(session, row, cause, now)
        self._forget(delivery.outbound_id)

    def _release(self, outbound_ids: list[int]) -> None:
        family = self._family(outbound_ids)
        for outbound_id in outbound_ids:
            self._forget(outbound_id)
        outbound_ids = family
        with write_session(self.engine) as session:
            session.execute(
                update(Outbound)
                .where(col(Outbound.id).in_(outbound_ids), col(Outbound.lease_owner) == self.owner,
                       col(Outbound.status) == "sending")
                .values(status="pending", lease_owner=None, lease_until=None)
                .execution_options(synchronize_session=False))

    def _record_sent(self, delivery: Delivery, result: SendResult, now: datetime) -> bool:
        """Mark sent, only if still ours: one UPDATE in the common case."""
        with write_session(self.engine) as session:
            done = session.execute(
                update(Outbound).where(self._ours(delivery.outbound_id))
                .values(status="sent", sent_at=now, platform_message_id=result.message_id[:100],
                        lease_owner=None, lease_until=None, last_error=None)
                .execution_options(synchronize_session=False))
            if not cast(CursorResult[Any], done).rowcount:
                log.warning("outbound %s was sent, but another process owns it now",
                            delivery.outbound_id)
                return False
            forget_secrets(session, self._family([delivery.outbound_id]))  # a link, sent
            if delivery.kind == "card" and delivery.story_id and result.channel_id:
                remember_card(session, delivery, result)
            recipient = delivery.recipient
            if recipient and result.dm_channel and result.dm_channel != recipient.dm_channel:
                session.execute(
                    update(Member).where(col(Member.id) == recipient.member_id)
                    .values(dm_channel=result.dm_channel[:64])
                    .execution_options(synchronize_session=False))
        self._forget(delivery.outbound_id)
        return True

    def _report_failures(self, now: datetime) -> None:
        with write_session(self.engine) as session:
            bookkeeping.report_failures(session, now)


def _aware(value: datetime) -> datetime:
    return value if value.tzinfo is not None else value.replace(tzinfo=UTC)


def _skip(session: Session, row: Outbound, reason: str) -> None:
    """Not sent, on purpose: `storydesk outbox` counts it as skipped, with the reason."""
    row.status, row.last_error = "skipped", reason
    row.lease_owner = row.lease_until = None
    forget_secret(row)
    session.add(row)


class NoLongerTrue(Exception):
    """The message's facts changed before it could be sent (a withdrawn story)."""


def build_delivery(session: Session, row: Outbound, member: Member | None = None,
                   late: bool | None = None, at: datetime | None = None) -> Delivery:
    """What the transport needs to send one row (its recipient loaded by the caller).

    With `at`, a message whose words depend on the day (a reminder's "in 2 days") is
    worded for that moment; one that is no longer true raises NoLongerTrue."""
    assert row.id is not None
    recipient = None
    if row.member_id is not None:
        member = member or session.get(Member, row.member_id)
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
    reply: Reply | None = Reply.from_json(row.payload)
    if at is not None and reply is not None:
        reply = wording.reword(session, reply, at)
        if reply is None:
            raise NoLongerTrue(row.unique_key)
    assert reply is not None
    return Delivery(
        outbound_id=row.id,
        platform=row.platform,
        kind=row.kind,
        reply=reply,
        channel=row.channel,
        recipient=recipient,
        story_id=row.story_id,
        card=card,
        late=row.late if late is None else late,
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
