"""Real processes on one PostgreSQL: two `storydesk run` replicas sharing a backlog send
each message once (and each scheduled post once); two bare dispatcher processes do the
same; a dispatcher killed with SIGKILL mid fan-out is taken over after its lease, with
duplicates only inside the send-then-commit window, and counted."""

from __future__ import annotations

import json
import os
import re
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
from storage.migrate import upgrade
from storage.models import Outbound
from tests.conftest import PG_URL, add_member, drop_schema, pg_engine_with_schema, require_postgres
from tests.delivery.fake_platform import FakePlatform
from tests.processes import free_port
from tests.slack.fake_slack import FakeSlack

ROOT = Path(__file__).resolve().parents[2]
pytestmark = pytest.mark.slow
CONCURRENCY = 4


@pytest.fixture
def pg_empty() -> Iterator[tuple[Engine, str]]:
    require_postgres()
    engine, schema = pg_engine_with_schema()
    yield engine, schema
    engine.dispose()
    drop_schema(schema)


@pytest.fixture
def pg(pg_empty: tuple[Engine, str]) -> tuple[Engine, str]:
    SQLModel.metadata.create_all(pg_empty[0])
    return pg_empty


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


def test_two_storydesk_run_replicas_send_a_shared_backlog_exactly_once(
    pg_empty: tuple[Engine, str], tmp_path: Path
) -> None:
    engine, schema = pg_empty
    upgrade(engine)  # what `storydesk db upgrade` does before the replicas start
    now = datetime.now(UTC)
    expected = {}
    with write_session(engine) as session:
        for index in range(150):
            # joined now: members quiet for months would also be sent a kind nudge
            member = add_member(session, f"U{index:06d}", platform="slack", created=now)
            member.user_id = f"U{index:06d}"
            session.add(member)
            row = enqueue(session, key=f"fan-out:{index}", platform="slack",
                          reply=Reply(text=f"run-{index}- news for you"), now=now,
                          member=member)
            assert row is not None and row.id is not None
            expected[index] = row.id
    slack = FakeSlack().start()
    url = f"{PG_URL}?options=-csearch_path%3D{schema}"
    env = dict(os.environ, PYTHONPATH=str(ROOT), DATABASE_URL=url,
               SLACK_BOT_TOKEN="xoxb-replica-test", SLACK_SIGNING_SECRET="s3cr3t-signing-value",
               SLACK_API_URL=slack.api_url, STORYDESK_HTTP_HOST="127.0.0.1",
               STORYDESK_LOG_LEVEL="WARNING",
               # Every hour of every day is working time: the DMs go out now, whenever the
               # suite runs, not on the recipients' next working morning.
               STORYDESK_QUIET_HOURS="", STORYDESK_WORKING_DAYS="mon-sun",
               STORYDESK_SLACK_PACE="50")  # this test is about once, not about pace
    replicas = []
    for name in ("a", "b"):
        log = (tmp_path / f"{name}.log").open("w")
        replicas.append((subprocess.Popen(
            [sys.executable, "-m", "bot.cli", "--env-file", str(tmp_path / "none.env"), "run"],
            cwd=tmp_path, env=dict(env, STORYDESK_HTTP_PORT=str(free_port())),
            stdout=log, stderr=subprocess.STDOUT), log))
    try:
        deadline = time.monotonic() + 90
        while statuses(engine).get("sent", 0) < 150 and time.monotonic() < deadline:
            assert all(p.poll() is None for p, _ in replicas), [
                (tmp_path / f"{n}.log").read_text() for n in ("a", "b")]
            time.sleep(0.2)
        time.sleep(1.0)  # let a second tick of either replica show itself
    finally:
        for process, _log in replicas:
            process.send_signal(signal.SIGTERM)
        for process, log in replicas:
            process.wait(timeout=30)
            log.close()
        slack.stop()
    posts = slack.calls_to("chat.postMessage")
    tokens = Counter(int(m.group(1)) for call in posts
                     if (m := re.search(r"run-(\d+)-", str(call.params.get("text")))))
    assert set(tokens) == set(expected)
    assert max(tokens.values()) == 1, "a message went out twice"
    assert statuses(engine).get("sent", 0) >= 150
    # Whatever the ticks of both replicas queued (a coming-week post, a call for pitches,
    # depending on the day) went out once too.
    everything = Counter((str(c.params.get("channel")), str(c.params.get("text"))) for c in posts)
    assert max(everything.values()) == 1
    with read_session(engine) as session:
        owners = set(session.exec(select(Outbound.lease_owner)).all())
    assert owners == {None}
