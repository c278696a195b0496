"""Nothing is lost when the platform misbehaves: 10 % of calls answered 429, and the
platform unreachable for five (simulated) minutes; and a tick that meets another writer
holding SQLite's write lock waits for it instead of failing."""

from __future__ import annotations

import threading
from collections import Counter
from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy.engine import Engine
from sqlmodel import SQLModel, select

from bot.delivery.dispatcher import Dispatcher
from bot.delivery.scheduler import reminder_job
from handlers import stories
from handlers.context import Policy
from handlers.outbox import enqueue
from handlers.reply import Reply
from handlers.stories import PitchForm
from storage.db import make_engine, read_session, write_session
from storage.models import Member, Outbound
from tests.conftest import add_member
from tests.delivery.fake_platform import FakePlatform, HttpTransport, PlatformState

START = datetime(2026, 11, 23, 10, 0, tzinfo=UTC)


def fan_out(engine: Engine, first: int, count: int, now: datetime) -> set[int]:
    ids = set()
    with write_session(engine) as session:
        for index in range(first, first + count):
            member = add_member(session, f"m{index:04d}", platform="fake")
            row = enqueue(session, key=f"news:{index}", platform="fake",
                          reply=Reply(text=f"news {index}"), now=now, member=member)
            assert row is not None and row.id is not None
            ids.add(row.id)
    return ids


@pytest.fixture
def flaky() -> Iterator[FakePlatform]:
    server = FakePlatform(PlatformState(throttle_share=0.10, retry_after=30)).start()
    yield server
    server.stop()


def test_throttled_and_unreachable_for_five_minutes_nothing_is_lost(
    engine: Engine, flaky: FakePlatform
) -> None:
    transport = HttpTransport(flaky.url, timeout=1)
    dispatcher = Dispatcher(engine, {"fake": transport}, owner="one", concurrency=4)
    expected = fan_out(engine, 0, 120, START)
    step = timedelta(seconds=5)
    now, down = START, False
    while now < START + timedelta(hours=1):
        elapsed = (now - START).total_seconds()
        if elapsed == 10:
            flaky.stop()  # unreachable: connections refused
            down = True
        if elapsed == 60:
            expected |= fan_out(engine, 120, 80, now)  # queued while it is down
        if elapsed == 310:
            flaky.start()  # back, on the same port
            down = False
        dispatcher.dispatch_due(now)
        if not down and len(set(flaky.state.ids())) == len(expected):
            break
        now += step
    transport.close()
    received = Counter(flaky.state.ids())
    assert set(received) == expected
    assert max(received.values()) == 1
    with read_session(engine) as session:
        rows = session.exec(select(Outbound)).all()
    assert Counter(r.status for r in rows) == Counter({"sent": 200})
    assert flaky.state.throttled > 0
    assert max(r.attempts for r in rows) >= 3  # retried through the outage
    print(f"flaky platform: {flaky.state.calls} calls, {flaky.state.throttled} answered 429, "
          f"everything sent by +{(now - START).total_seconds():.0f} s simulated")


def test_a_tick_waits_for_another_writer_holding_the_sqlite_lock(
    tmp_path: Path, policy: Policy
) -> None:
    engine = make_engine(f"sqlite:///{tmp_path / 'locked.db'}")
    SQLModel.metadata.create_all(engine)
    accepted = datetime(2026, 11, 23, 9, 0, tzinfo=UTC)
    with write_session(engine) as session:
        coordinator = add_member(session, "Ada", coordinator=True)
        author = add_member(session, "Dana")
        reply = stories.pitch(session, author, accepted, policy, PitchForm(title="Muons"))
        assert reply.story_id is not None
        stories.accept(session, coordinator, accepted, policy, reply.story_id, date(2026, 12, 3))
    blocker = engine.raw_connection()
    cursor = blocker.cursor()
    cursor.execute("BEGIN IMMEDIATE")  # another connection holds the write lock
    cursor.execute("UPDATE member SET display_name = display_name")
    finished = threading.Event()
    results: list[object] = []

    def tick() -> None:
        try:
            results.append(reminder_job(engine, policy)(datetime(2026, 11, 30, 8, 0, tzinfo=UTC)))
        except BaseException as error:  # pragma: no cover - reported below
            results.append(error)
        finally:
            finished.set()

    worker = threading.Thread(target=tick)
    worker.start()
    assert not finished.wait(0.5), "the tick did not wait for the write lock"
    cursor.execute("COMMIT")
    blocker.close()
    assert finished.wait(30)
    worker.join()
    assert not isinstance(results[0], BaseException), results[0]
    assert getattr(results[0], "queued", 0) >= 1
    with read_session(engine) as session:
        keys = session.exec(select(Outbound.unique_key)).all()
        names = session.exec(select(Member.display_name)).all()
    assert "draft-reminder:story-1:due-2026-12-03:before" in keys
    assert sorted(names) == ["Ada", "Dana"]
    engine.dispose()
