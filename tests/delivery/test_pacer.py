"""The dispatcher's pace: evenly spaced sends, and a 429 pauses what it refused: the
platform, or one destination while refusals stay a small share of the calls."""

from __future__ import annotations

import threading

import pytest
from sqlalchemy.engine import Engine

from bot.delivery import dispatcher
from bot.delivery.dispatcher import Dispatcher, Pacer
from bot.delivery.transport import TemporaryFailure
from tests.delivery.test_dispatcher import NOW, ScriptedTransport, people, queue


class FakeMonotonic:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def clock(monkeypatch: pytest.MonkeyPatch) -> FakeMonotonic:
    fake = FakeMonotonic()
    monkeypatch.setattr(dispatcher._time, "monotonic", fake)
    return fake


class RecordingEvent(threading.Event):
    def __init__(self) -> None:
        super().__init__()
        self.waits: list[float] = []

    def wait(self, timeout: float | None = None) -> bool:
        self.waits.append(round(timeout or 0.0, 6))
        return False


def test_sends_are_spaced_by_the_rate(clock: FakeMonotonic) -> None:
    pacer, stopping = Pacer(10.0), RecordingEvent()
    for _ in range(3):
        assert pacer.wait(stopping)
    assert stopping.waits == [0.1, 0.2]


def test_a_429_pauses_every_sender_until_its_retry_after(clock: FakeMonotonic) -> None:
    pacer, stopping = Pacer(10.0), RecordingEvent()
    for _ in range(3):
        pacer.wait(stopping)
    pacer.hold(2.0)  # a refused call counted against the limit: do not send sooner
    pacer.wait(stopping)
    pacer.wait(stopping)
    assert stopping.waits == [0.1, 0.2, 2.0, 2.1]


def test_a_hold_never_moves_the_next_slot_earlier_and_is_capped(clock: FakeMonotonic) -> None:
    pacer, stopping = Pacer(1.0), RecordingEvent()
    for _ in range(5):
        pacer.wait(stopping)
    pacer.hold(0.5)
    assert pacer.next_slot == clock.now + 5
    pacer.hold(3600)
    assert pacer.next_slot == clock.now + dispatcher.MAX_HOLD_SECONDS


def test_the_extra_calls_of_a_send_are_charged_to_the_pace(
    engine: Engine, clock: FakeMonotonic
) -> None:
    """Mattermost counts API calls: a message that took three (the post, its buttons, a
    retry) leaves room for the next only three intervals later."""
    dana, emil = people(engine, "Dana", "Emil")
    queue(engine, "d1", to=dana)
    queue(engine, "e1", to=emil)
    transport = ScriptedTransport(calls_per_send=3)
    desk = Dispatcher(engine, {"fake": transport}, owner="one",  # type: ignore[dict-item]
                      concurrency=1, pace={"fake": 10.0})
    desk.stopping = RecordingEvent()
    assert desk.dispatch_due(NOW).sent == 2
    assert desk.stopping.waits == [0.3]
    assert desk.pacers["fake"].next_slot == pytest.approx(clock.now + 0.6)


def test_waiting_stops_when_the_dispatcher_stops(clock: FakeMonotonic) -> None:
    pacer, stopping = Pacer(1.0), threading.Event()
    stopping.set()
    assert pacer.wait(stopping)  # the first slot is now: no wait
    assert not pacer.wait(stopping)


def test_one_channel_is_paced_apart_from_the_platform(
    engine: Engine, clock: FakeMonotonic
) -> None:
    """Slack takes about one message a second per channel: three to Dana wait for each
    other, the ones to Emil and the team channel do not wait for Dana's."""
    dana, emil = people(engine, "Dana", "Emil")
    for key in ("d1", "d2", "d3"):
        queue(engine, key, to=dana)
    queue(engine, "e1", to=emil)
    queue(engine, "t1", channel="team")
    transport = ScriptedTransport()
    desk = Dispatcher(engine, {"fake": transport}, owner="one",  # type: ignore[dict-item]
                      concurrency=1, channel_pace={"fake": 1.0})
    desk.stopping = RecordingEvent()
    assert desk.dispatch_due(NOW).sent == 5
    assert sorted(desk.stopping.waits) == [1.0, 2.0]
    assert set(desk._channel_pacers) == {("fake", "dana"), ("fake", "emil"), ("fake", "team")}


def test_a_429_holds_the_channel_and_the_platform(engine: Engine, clock: FakeMonotonic) -> None:
    (dana,) = people(engine, "Dana")
    queue(engine, "d1", to=dana)
    transport = ScriptedTransport(script={"dana": [TemporaryFailure("429", retry_after=3)]})
    desk = Dispatcher(engine, {"fake": transport}, owner="one",  # type: ignore[dict-item]
                      concurrency=1, pace={"fake": 10.0}, channel_pace={"fake": 1.0})
    desk.stopping = RecordingEvent()
    assert desk.dispatch_due(NOW).retried == 1
    assert desk.pacers["fake"].next_slot == clock.now + 3
    assert desk._channel_pacers[("fake", "dana")].next_slot == clock.now + 3


def test_a_429_for_one_destination_holds_that_destination_alone(
    engine: Engine, clock: FakeMonotonic
) -> None:
    """Slack's per-channel limit: a refused message to Dana keeps Dana's channel quiet for
    the Retry-After, and the platform goes on at its pace to Emil."""
    dana, emil = people(engine, "Dana", "Emil")
    queue(engine, "d1", to=dana)
    queue(engine, "e1", to=emil)
    refused = TemporaryFailure("429", retry_after=3, scope="destination")
    transport = ScriptedTransport(script={"dana": [refused]})
    desk = Dispatcher(engine, {"fake": transport}, owner="one",  # type: ignore[dict-item]
                      concurrency=1, pace={"fake": 10.0}, channel_pace={"fake": 1.0})
    desk.stopping = RecordingEvent()
    report = desk.dispatch_due(NOW)
    assert (report.sent, report.retried) == (1, 1)
    assert desk._channel_pacers[("fake", "dana")].next_slot == clock.now + 3
    assert desk.pacers["fake"].next_slot <= clock.now + 0.2  # two slots of 0.1 s, no hold
    assert desk.stopping.waits == [0.1]  # Emil's waited for the pace, not for Dana's 3 s


def test_refusals_of_many_destinations_hold_the_platform(clock: FakeMonotonic) -> None:
    """Once refusals are a quarter of the recent calls (and at least three), the platform
    itself is over its limit: every send waits."""
    platform, stopping = Pacer(10.0), RecordingEvent()
    for _ in range(12):
        assert platform.wait(stopping)
        clock.now += 0.1
    refused = TemporaryFailure("429", retry_after=2, scope="destination")
    channels = [Pacer(1.0) for _ in range(3)]
    dispatcher._hold(refused, channels[0], platform)
    dispatcher._hold(refused, channels[1], platform)
    assert platform.next_slot < clock.now + 1  # two of twelve: those channels alone
    dispatcher._hold(refused, channels[2], platform)
    assert platform.next_slot == clock.now + 2  # three of twelve: the platform waits
    assert all(c.next_slot == clock.now + 2 for c in channels)


def test_a_429_without_a_channel_pacer_or_scope_holds_the_platform(
    clock: FakeMonotonic
) -> None:
    platform = Pacer(10.0)
    dispatcher._hold(TemporaryFailure("429", retry_after=2, scope="destination"), None,
                     platform)
    assert platform.next_slot == clock.now + 2
    platform, channel = Pacer(10.0), Pacer(1.0)
    dispatcher._hold(TemporaryFailure("429", retry_after=4), channel, platform)
    assert platform.next_slot == clock.now + 4 and channel.next_slot == clock.now + 4
