"""The outbox dispatcher on SQLite and PostgreSQL: leases, back-off, failure reports,
expiry, lateness, and the worker thread that sending runs in."""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy.engine import Engine
from sqlmodel import select

import bot.delivery.dispatcher as dispatcher_module
from bot.commands import Caller, CommandRunner
from bot.delivery.dispatcher import Dispatcher, DispatcherWorker
from bot.delivery.transport import Delivery, PermanentFailure, SendResult, TemporaryFailure
from handlers.context import Policy
from handlers.outbox import enqueue
from handlers.reply import Reply
from storage.db import read_session, write_session
from storage.delivery import DeliveryNotice
from storage.models import Member, Outbound
from tests.conftest import add_member

NOW = datetime(2026, 11, 23, 10, 0, tzinfo=UTC)
Outcome = Exception | None


@dataclass
class ScriptedTransport:
    """Answers each message with the next scripted outcome for its recipient or channel
    (an exception to raise, or None for success); records what went out."""

    platform: str = "fake"
    script: dict[str, list[Outcome]] = field(default_factory=dict)
    sent: list[Delivery] = field(default_factory=list)
    calls: int = 0
    during_send: Callable[[Delivery], None] | None = None
    calls_per_send: int = 1  # API calls a send reports, as Mattermost's transport does

    def send(self, delivery: Delivery) -> SendResult:
        self.calls += 1
        if self.during_send is not None:
            self.during_send(delivery)
        target = delivery.recipient.user_id if delivery.recipient else str(delivery.channel)
        outcomes = self.script.get(target, [])
        outcome = outcomes.pop(0) if outcomes else None
        if outcome is not None:
            raise outcome
        self.sent.append(delivery)
        return SendResult(f"ts-{delivery.outbound_id}", channel_id=f"D-{target}",
                          dm_channel=f"D-{target}" if delivery.recipient else None,
                          calls=self.calls_per_send)


def people(engine: Engine, *names: str, coordinators: tuple[str, ...] = ()) -> list[Member]:
    with write_session(engine) as session:
        result = [add_member(session, name, platform="fake", coordinator=name in coordinators)
                  for name in names]
    return result


def queue(engine: Engine, key: str, *, to: Member | None = None, channel: str | None = None,
          due: datetime = NOW, text: str | None = None) -> int:
    with write_session(engine) as session:
        row = enqueue(session, key=key, platform="fake", reply=Reply(text=text or key),
                      now=due, due_at=due, member=to, channel=channel)
        assert row is not None and row.id is not None
        return row.id


def rows(engine: Engine) -> dict[str, Outbound]:
    with read_session(engine) as session:
        return {r.unique_key: r for r in session.exec(select(Outbound)).all()}


def dispatcher(engine: Engine, transport: ScriptedTransport, owner: str = "one",
               **options: float) -> Dispatcher:
    return Dispatcher(engine, {"fake": transport}, owner=owner, **options)  # type: ignore[arg-type]


def test_sends_what_is_due_and_records_the_platform_message_id(engine: Engine) -> None:
    dana, emil = people(engine, "Dana", "Emil")
    queue(engine, "a", to=dana)
    queue(engine, "b", to=emil)
    queue(engine, "c", channel="team")
    queue(engine, "later", to=dana, due=NOW + timedelta(hours=1))
    transport = ScriptedTransport()
    report = dispatcher(engine, transport).dispatch_due(NOW)
    assert report.sent == 3 and sorted(d.reply.text for d in transport.sent) == ["a", "b", "c"]
    stored = rows(engine)
    for key in "abc":
        assert stored[key].status == "sent"
        assert stored[key].platform_message_id == f"ts-{stored[key].id}"
        assert stored[key].sent_at is not None and stored[key].lease_owner is None
    assert stored["later"].status == "pending" and stored["later"].attempts == 0
    with read_session(engine) as session:
        assert session.get(Member, dana.id).dm_channel == "D-dana"  # type: ignore[union-attr]


def test_a_temporary_failure_waits_for_retry_after_without_sleeping(engine: Engine) -> None:
    (dana,) = people(engine, "Dana")
    queue(engine, "a", to=dana)
    transport = ScriptedTransport(script={"dana": [TemporaryFailure("429", retry_after=42)]})
    desk = dispatcher(engine, transport)
    report = desk.dispatch_due(NOW)
    assert (report.sent, report.retried) == (0, 1)
    row = rows(engine)["a"]
    assert row.status == "pending" and row.last_error == "429"
    assert row.due_at is not None
    # Retry-After, plus a spread of up to half of it so that throttled rows do not all
    # come back at the same instant.
    assert timedelta(seconds=42) <= row.due_at - NOW < timedelta(seconds=42 + 21 + 2)
    assert desk.dispatch_due(NOW + timedelta(seconds=41)).sent == 0
    assert desk.dispatch_due(NOW + timedelta(seconds=66)).sent == 1
    assert rows(engine)["a"].attempts == 2


def test_without_retry_after_the_back_off_doubles_up_to_a_cap(engine: Engine) -> None:
    desk = dispatcher(engine, ScriptedTransport(), backoff_base_seconds=5,
                      backoff_max_seconds=600)
    delays = [desk.backoff_delay(attempt, None) for attempt in range(1, 12)]
    for attempt, delay in enumerate(delays, start=1):
        ceiling = min(600, 5 * 2 ** (attempt - 1))
        assert 0.8 * ceiling <= delay <= ceiling
    assert 0.5 <= desk.backoff_delay(3, 0.5) <= 1.5
    spread = [desk.backoff_delay(1, 30) for _ in range(200)]
    assert all(30 <= delay <= 45 for delay in spread)
    assert max(spread) - min(spread) > 5  # not all due at one instant
    (dana,) = people(engine, "Dana")
    queue(engine, "a", to=dana)
    desk.transports["fake"].script["dana"] = [TemporaryFailure("reset")] * 3  # type: ignore[attr-defined]
    moment, waits = NOW, []
    while rows(engine)["a"].status != "sent":
        desk.dispatch_due(moment)
        due = rows(engine)["a"].due_at
        assert due is not None
        waits.append(due - moment)
        moment = due + timedelta(seconds=1)
    assert waits[0] < waits[1] < waits[2]


def test_permanent_failures_are_told_to_the_coordinators_once_per_cause(
    engine: Engine,
) -> None:
    dana, emil, farah, ada = people(engine, "Dana", "Emil", "Farah", "Ada",
                                    coordinators=("Ada",))
    for index, person in enumerate((dana, emil, farah)):
        queue(engine, f"dm-{index}", to=person)
    queue(engine, "call", channel="group")
    transport = ScriptedTransport(script={
        "dana": [PermanentFailure("user_not_found")],
        "emil": [PermanentFailure("user_not_found")],
        "farah": [PermanentFailure("user_not_found")],
        "group": [PermanentFailure("channel_not_found")],
    })
    desk = dispatcher(engine, transport)
    report = desk.dispatch_due(NOW)
    assert report.failed == 4
    stored = rows(engine)
    assert all(stored[k].status == "failed" for k in ("dm-0", "dm-1", "dm-2", "call"))
    reports = [d for d in transport.sent if d.reply.tone == "warning"]
    assert sorted(d.reply.text for d in reports) == [
        "1 message could not be delivered on fake: channel_not_found.",
        "3 messages could not be delivered on fake: user_not_found.",
    ]
    assert all(d.channel == "team" for d in reports)
    # The same cause again the same day: recorded, not reported a second time.
    (gus,) = people(engine, "Gus")
    queue(engine, "dm-3", to=gus)
    transport.script["gus"] = [PermanentFailure("user_not_found")]
    desk.dispatch_due(NOW + timedelta(minutes=5))
    assert len([d for d in transport.sent if d.reply.tone == "warning"]) == 2
    with read_session(engine) as session:
        notices = session.exec(select(DeliveryNotice)).all()
    assert len(notices) == 5 and all(n.reported_at is not None for n in notices)
    del ada


def test_when_the_team_channel_itself_fails_the_coordinators_hear_by_dm(
    engine: Engine,
) -> None:
    ada, ben = people(engine, "Ada", "Ben", coordinators=("Ada", "Ben"))
    queue(engine, "card", channel="team")
    transport = ScriptedTransport(script={"team": [PermanentFailure("not_in_channel")]})
    dispatcher(engine, transport).dispatch_due(NOW)
    told = sorted(d.recipient.display_name for d in transport.sent if d.recipient)
    assert told == ["Ada", "Ben"]
    assert "not_in_channel" in transport.sent[0].reply.text
    del ada, ben


def test_an_undeliverable_report_is_not_reported_in_a_loop(engine: Engine) -> None:
    (dana,) = people(engine, "Dana")
    queue(engine, "dm", to=dana)
    transport = ScriptedTransport(script={
        "dana": [PermanentFailure("user_not_found")],
        "team": [PermanentFailure("channel_not_found")],
    })
    dispatcher(engine, transport).dispatch_due(NOW)
    statuses = sorted((k, r.status) for k, r in rows(engine).items())
    assert statuses == [("delivery-failed:fake:user_not_found:2026-11-23", "failed"),
                        ("dm", "failed")]


def test_a_live_lease_is_left_alone_and_an_expired_one_is_taken_over(engine: Engine) -> None:
    dana, emil = people(engine, "Dana", "Emil")
    queue(engine, "a", to=dana)
    queue(engine, "b", to=emil)
    crashed = dispatcher(engine, ScriptedTransport(), owner="crashed", lease_seconds=120)
    claimed = crashed._claim(NOW, dispatcher_module.DispatchReport())  # then it dies
    assert len(claimed) == 2
    heir_transport = ScriptedTransport()
    heir = dispatcher(engine, heir_transport, owner="heir", lease_seconds=120)
    assert heir.dispatch_due(NOW + timedelta(seconds=119)).sent == 0
    report = heir.dispatch_due(NOW + timedelta(seconds=121))
    assert (report.sent, report.reclaimed) == (2, 2)
    # Had the first process only stalled, its late "sent" must not overwrite anything.
    late = dispatcher_module.DispatchReport()
    crashed._deliver(claimed[0], dispatcher_module._Clock(NOW + timedelta(seconds=130)), late)
    assert late.lost_lease == 1 and late.sent == 0
    assert rows(engine)["a"].platform_message_id == f"ts-{claimed[0].delivery.outbound_id}"


class SteppedTime:
    """A monotonic clock that only moves when told: stands in for slow sends."""

    def __init__(self) -> None:
        self.now = 1000.0

    def monotonic(self) -> float:
        return self.now


def test_the_lease_is_renewed_while_a_long_batch_is_sent(
    engine: Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    stepped = SteppedTime()
    monkeypatch.setattr(dispatcher_module, "_time", stepped)
    names = ["Dana", "Emil", "Farah", "Gus"]
    for person in people(engine, *names):
        queue(engine, person.user_id, to=person)
    rival = dispatcher(engine, ScriptedTransport(), owner="rival", lease_seconds=30,
                       send_timeout_seconds=20)
    stolen: list[int] = []

    def slow_send(delivery: Delivery) -> None:
        elapsed = stepped.now - 1000.0
        stolen.extend(c.delivery.outbound_id for c in rival._claim(
            NOW + timedelta(seconds=elapsed + 14), dispatcher_module.DispatchReport()))
        stepped.now += 15  # every send takes 15 s of the 30 s lease

    transport = ScriptedTransport(during_send=slow_send)
    report = dispatcher(engine, transport, lease_seconds=30, send_timeout_seconds=20,
                        batch_size=10, concurrency=1).dispatch_due(NOW)
    assert stolen == []
    assert report.sent == 4 and report.lost_lease == 0


def test_a_lease_must_outlive_a_send(engine: Engine) -> None:
    with pytest.raises(ValueError, match="lease must outlive a send"):
        Dispatcher(engine, {}, lease_seconds=20, send_timeout_seconds=20)


def test_stopping_hands_back_what_was_claimed_but_not_sent(engine: Engine) -> None:
    for person in people(engine, "Dana", "Emil", "Farah"):
        queue(engine, person.user_id, to=person)
    transport = ScriptedTransport()
    desk = dispatcher(engine, transport, concurrency=1)
    transport.during_send = lambda _delivery: desk.stopping.set()
    desk.dispatch_due(NOW)
    statuses = sorted(r.status for r in rows(engine).values())
    assert statuses == ["pending", "pending", "sent"]
    assert all(r.lease_owner is None for r in rows(engine).values())


def test_messages_sent_well_after_their_time_are_marked_late(engine: Engine) -> None:
    (dana,) = people(engine, "Dana")
    queue(engine, "recent", to=dana, due=NOW - timedelta(minutes=1))
    queue(engine, "old", to=dana, due=NOW - timedelta(hours=3))
    transport = ScriptedTransport()
    dispatcher(engine, transport, late_after_seconds=300).dispatch_due(NOW)
    assert {d.reply.text: d.late for d in transport.sent} == {"recent": False, "old": True}
    assert rows(engine)["old"].late


def test_the_worker_wakes_when_told_instead_of_sleeping_on(engine: Engine) -> None:
    (dana,) = people(engine, "Dana")
    arrived = threading.Event()
    transport = ScriptedTransport(during_send=lambda _d: arrived.set())
    worker = DispatcherWorker(dispatcher(engine, transport), idle_seconds=3600)
    worker.start()
    try:
        while worker.passes == 0:
            threading.Event().wait(0.01)
        queue(engine, "hello", to=dana, due=datetime.now(UTC) - timedelta(seconds=1))
        worker.wake()
        assert arrived.wait(20)
    finally:
        worker.stop()


def test_a_command_is_answered_while_a_send_is_still_hanging(
    engine: Engine, policy: Policy
) -> None:
    with write_session(engine) as session:
        for name in ("Ada", "Ben"):
            add_member(session, name, coordinator=True)
    gate, hanging = threading.Event(), threading.Event()

    def hang(_delivery: Delivery) -> None:
        hanging.set()
        gate.wait(30)

    transport = ScriptedTransport(platform="console", during_send=hang)
    worker = DispatcherWorker(Dispatcher(engine, {"console": transport}, owner="w"),
                              idle_seconds=3600)
    runner = CommandRunner(engine, policy)
    runner.after_commit.append(worker.wake)
    worker.start()
    try:
        dana = Caller("console", "dana", "Dana")
        first = runner.run(dana, "pitch", "Muons in the rock #outreach", datetime.now(UTC))
        assert first.ok
        assert hanging.wait(20)  # the worker is stuck in a send...
        second = runner.run(dana, "pitch", "Night shift #recruitment", datetime.now(UTC))
        assert second.ok and not gate.is_set()  # ...and the next command went through
    finally:
        gate.set()
        worker.stop()


def test_different_recipients_are_sent_side_by_side_and_one_recipient_in_order(
    engine: Engine,
) -> None:
    dana, emil = people(engine, "Dana", "Emil")
    for index in range(3):
        queue(engine, f"dana-{index}", to=dana)
        queue(engine, f"emil-{index}", to=emil)
    both = threading.Barrier(2, timeout=20)
    transport = ScriptedTransport(during_send=lambda _d: both.wait())
    report = dispatcher(engine, transport, concurrency=4).dispatch_due(NOW)
    assert report.sent == 6  # each send waited for one to the other recipient: in parallel
    for name in ("dana", "emil"):
        order = [d.reply.text for d in transport.sent if d.recipient
                 and d.recipient.user_id == name]
        assert order == [f"{name}-0", f"{name}-1", f"{name}-2"]


def test_a_pace_spaces_the_sends_to_a_platform(engine: Engine,
                                                monkeypatch: pytest.MonkeyPatch) -> None:
    stepped = SteppedTime()
    waits: list[float] = []

    class Stopping(threading.Event):
        def wait(self, timeout: float | None = None) -> bool:
            waits.append(timeout or 0.0)
            stepped.now += timeout or 0.0
            return False

    monkeypatch.setattr(dispatcher_module, "_time", stepped)
    for person in people(engine, "Dana", "Emil", "Farah", "Gus"):
        queue(engine, person.user_id, to=person)
    desk = dispatcher(engine, ScriptedTransport(), concurrency=1, pace={"fake": 2.0})
    desk.stopping = Stopping()
    assert desk.dispatch_due(NOW).sent == 4
    assert waits == [0.5, 0.5, 0.5]


def test_an_unreadable_message_fails_alone_and_does_not_block_the_outbox(engine: Engine) -> None:
    dana, emil = people(engine, "Dana", "Emil")
    queue(engine, "broken", to=dana)
    queue(engine, "fine", to=emil)
    with write_session(engine) as session:
        row = session.exec(select(Outbound).where(Outbound.unique_key == "broken")).one()
        row.payload = "{not json"
        session.add(row)
    transport = ScriptedTransport()
    report = dispatcher(engine, transport).dispatch_due(NOW)
    assert [d.reply.text for d in transport.sent if d.recipient] == ["fine"]
    assert report.failed == 1 and rows(engine)["broken"].last_error == "unreadable_message"
