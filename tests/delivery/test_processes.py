"""Real processes on one PostgreSQL: two dispatchers sharing a backlog send each message
once; a dispatcher killed with SIGKILL mid fan-out is taken over after its lease, with
duplicates only inside the send-then-commit window, and counted."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
from sqlalchemy.engine import Engine
from sqlmodel import SQLModel, select

from handlers.outbox import enqueue
from handlers.reply import Reply
from storage.db import read_session, write_session
from storage.models import Outbound
from tests.conftest import PG_URL, add_member, drop_schema, pg_engine_with_schema, require_postgres
from tests.delivery.fake_platform import FakePlatform

ROOT = Path(__file__).resolve().parents[2]
pytestmark = pytest.mark.slow
CONCURRENCY = 4


@pytest.fixture
def pg() -> Iterator[tuple[Engine, str]]:
    require_postgres()
    engine, schema = pg_engine_with_schema()
    SQLModel.metadata.create_all(engine)
    yield engine, schema
    engine.dispose()
    drop_schema(schema)


@pytest.fixture
def platform() -> Iterator[FakePlatform]:
    server = FakePlatform().start()
    yield server
    server.stop()


def backlog(engine: Engine, count: int) -> set[int]:
    """`count` direct messages to as many members, all due now."""
    now = datetime.now(UTC)
    ids = set()
    with write_session(engine) as session:
        for index in range(count):
            member = add_member(session, f"m{index:04d}", platform="fake")
            row = enqueue(session, key=f"fan-out:{index}", platform="fake",
                          reply=Reply(text=f"hello {index}"), now=now, member=member)
            assert row is not None and row.id is not None
            ids.add(row.id)
    return ids


def start(schema: str, platform: FakePlatform, owner: str, go: Path) -> subprocess.Popen[str]:
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    return subprocess.Popen(
        [sys.executable, "-m", "tests.delivery.dispatch_process", "--url", PG_URL,
         "--schema", schema, "--platform-url", platform.url, "--owner", owner,
         "--lease", "3", "--timeout", "1", "--go", str(go),
         "--concurrency", str(CONCURRENCY)],
        cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def finish(process: subprocess.Popen[str]) -> dict[str, int]:
    out, err = process.communicate(timeout=90)
    assert process.returncode == 0, err
    lines = [json.loads(line) for line in out.splitlines() if line.strip()]
    return lines[-1]


def statuses(engine: Engine) -> Counter[str]:
    with read_session(engine) as session:
        return Counter(session.exec(select(Outbound.status)).all())


def test_two_processes_send_a_shared_backlog_exactly_once(
    pg: tuple[Engine, str], platform: FakePlatform, tmp_path: Path
) -> None:
    engine, schema = pg
    ids = backlog(engine, 400)
    platform.state.delay = 0.003
    go = tmp_path / "go"
    first, second = (start(schema, platform, name, go) for name in ("first", "second"))
    go.touch()
    reports = [finish(first), finish(second)]
    received = Counter(platform.state.ids())
    assert set(received) == ids
    assert max(received.values()) == 1, "a message went out twice"
    assert statuses(engine) == Counter({"sent": 400})
    assert sum(r["sent"] for r in reports) == 400
    assert all(r["sent"] > 0 for r in reports), reports  # both really took part


def test_a_process_killed_mid_fan_out_is_taken_over_after_its_lease(
    pg: tuple[Engine, str], platform: FakePlatform, tmp_path: Path
) -> None:
    engine, schema = pg
    ids = backlog(engine, 200)
    platform.state.delay = 0.02  # the platform accepts, then takes 20 ms to answer
    go = tmp_path / "go"
    go.touch()
    victim = start(schema, platform, "victim", go)
    deadline = time.monotonic() + 60
    while len(platform.state.ids()) < 40 and time.monotonic() < deadline:
        time.sleep(0.005)
    os.kill(victim.pid, signal.SIGKILL)
    victim.wait(timeout=30)
    before_kill = len(platform.state.ids())
    assert 40 <= before_kill < 200
    heir = start(schema, platform, "heir", go)
    report = finish(heir)
    received = Counter(platform.state.ids())
    duplicates = sum(count - 1 for count in received.values())
    assert set(received) == ids, "a recipient never got the message"
    assert statuses(engine) == Counter({"sent": 200})
    # Only messages in flight when the victim died (at most one per sending thread) can
    # have reached the platform without being marked sent. The heir re-claimed the
    # victim's batch once its lease ran out, and counts what it re-claimed.
    assert duplicates <= CONCURRENCY
    assert report["reclaimed"] >= 1 and duplicates <= report["reclaimed"]
    print(f"SIGKILL take-over: {before_kill} sent before the kill, {report['reclaimed']} "
          f"re-claimed, {duplicates} duplicate(s)")
