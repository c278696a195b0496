"""Rate limits paced, not stormed: `storydesk run`'s dispatcher spaces its sends per platform.

A local platform allows 10 calls a second (429 with Retry-After: 1 beyond that) and turns
away another 10 % of calls at random. The dispatcher the runtime builds from the settings
sends 200 messages through it: every one arrives once, with fewer than 1.3 attempts per
message. Unpaced, four sender threads would run into the limit again and again.
"""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Iterator
from datetime import UTC, datetime

import pytest
from sqlalchemy.engine import Engine
from sqlmodel import select

from bot.runtime import build_runtime
from config.settings import Settings
from handlers.outbox import enqueue
from handlers.reply import Reply
from storage.db import read_session, write_session
from storage.models import Outbound
from tests.conftest import add_member
from tests.delivery.fake_platform import FakePlatform, HttpTransport, PlatformState

MESSAGES = 200


@pytest.fixture
def limited() -> Iterator[FakePlatform]:
    server = FakePlatform(PlatformState(rate_limit=10, throttle_share=0.10,
                                        retry_after=1)).start()
    yield server
    server.stop()


@pytest.mark.slow
def test_200_messages_through_a_10_per_second_limit_with_random_429s(
    db_url_engine: Engine, limited: FakePlatform
) -> None:
    engine = db_url_engine  # empty: the runtime migrates it, as `storydesk run` does
    transport = HttpTransport(limited.url, platform="mattermost", timeout=5)
    # Every hour of every day is working time: these DMs go out now, whenever the suite
    # runs (by default they would wait for the recipients' next working morning).
    runtime = build_runtime(Settings(quiet_hours=None, working_days=tuple(range(7))),
                            platforms=("mattermost",),
                            transports={"mattermost": transport}, engine=engine)
    assert runtime.dispatcher.pacers["mattermost"].interval == pytest.approx(1 / 8)
    now = datetime.now(UTC)
    with write_session(engine) as session:
        for index in range(MESSAGES):
            member = add_member(session, f"m{index:04d}", platform="mattermost")
            enqueue(session, key=f"news:{index}", platform="mattermost",
                    reply=Reply(text=f"news {index}"), now=now, member=member)
    deadline = time.monotonic() + 120
    while len(set(limited.state.ids())) < MESSAGES and time.monotonic() < deadline:
        runtime.dispatcher.dispatch_due(datetime.now(UTC))
        time.sleep(0.05)
    transport.close()
    received = Counter(limited.state.ids())
    with read_session(engine) as session:
        rows = session.exec(select(Outbound).where(Outbound.platform == "mattermost")).all()
    assert len(received) == MESSAGES and max(received.values()) == 1  # none lost, none twice
    assert Counter(r.status for r in rows) == Counter({"sent": MESSAGES})
    attempts = limited.state.calls / MESSAGES
    print(f"pacing: {limited.state.calls} calls for {MESSAGES} messages "
          f"({attempts:.2f} a message), {limited.state.throttled} answered 429")
    assert attempts < 1.3
