"""Benchmark: the work of one `/pitch`, counted inside the process.

bench/slack_answer.py and bench/mattermost_command.py time the answer as a person sees it;
this one says what a pitch costs. Pitches go through the command runner
(bot/commands.py), the entry both platforms use, one after the other, on a SQLite file set
up as Storydesk sets it up, with the Slack command's request key (so the key is claimed and
the answer kept, as for a real command). Three coordinators, eight authors already known.
For each pitch: the CPU time of the thread, the wall time, how long the process's write
lock is held (what the pitches behind it wait for), the SQL statements sent (BEGIN and
COMMIT not counted) and the session's flushes. Each run starts from a fresh database;
medians per run, then the median of the runs, go to the "Pitch work" section of
bench/README.md.

`--profile` prints where the runner's CPU time goes (cProfile, thread CPU time) instead.
`--slack` profiles the whole Slack request path in this process, as `/slack/events` runs
it after reading the body: the signature check, bolt's dispatch, the listener, the
runner's work on its own thread and the rendering of the ack; beside it, a bare bolt app
whose listener inserts one row (the floor of bench/slack_answer.py). Neither writes to the
README.

    .venv/bin/python bench/pitch_work.py [--pitches 200] [--runs 5] [--profile | --slack]
"""

from __future__ import annotations

import argparse
import cProfile
import io
import os
import platform
import pstats
import statistics
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from concurrent.futures import Future
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))
from benchlib import FloorDatabase, write_section  # noqa: E402
from sqlalchemy import event  # noqa: E402
from sqlalchemy.engine import Engine  # noqa: E402
from sqlalchemy.orm import Session  # noqa: E402

import storage.db  # noqa: E402
from bot.commands import Caller, CommandRunner, Request  # noqa: E402
from bot.runtime import policy_from  # noqa: E402
from config.settings import Settings  # noqa: E402
from handlers.context import Policy  # noqa: E402
from handlers.members import COORDINATOR  # noqa: E402
from handlers.reply import plural  # noqa: E402
from storage import migrate  # noqa: E402
from storage.db import make_engine, write_session  # noqa: E402
from storage.models import Member  # noqa: E402

SECTION = "Pitch work"
START = datetime(2026, 11, 23, 8, 30, tzinfo=UTC)  # a Monday, 09:30 in Berlin
COORDINATORS = {"U0ADA": "Ada", "U0BEN": "Ben", "U0CHLOE": "Chloe"}
AUTHORS = {f"U0BENCH{n:02d}": f"Bench{n:02d}" for n in range(8)}
WARM_UP = 16
PITCHED = "is pitched"


@dataclass
class Counters:
    """What the instrumented engine and sessions did since the last `take`."""

    statements: int = 0
    flushes: int = 0
    locked: float = 0.0  # seconds the process's write lock was held
    kinds: dict[str, int] = field(default_factory=dict)

    def take(self) -> Counters:
        taken = Counters(self.statements, self.flushes, self.locked, dict(self.kinds))
        self.statements, self.flushes, self.locked, self.kinds = 0, 0, 0.0, {}
        return taken


@contextmanager
def instrument(engine: Engine) -> Iterator[Counters]:
    """Count the engine's statements and every session's flushes; time the write lock."""
    counters = Counters()

    def statement(_conn: Any, _cursor: Any, sql: str, *_args: Any) -> None:
        verb = sql.lstrip().split(None, 1)[0].upper()
        if verb in ("BEGIN", "COMMIT", "ROLLBACK"):
            return
        counters.statements += 1
        counters.kinds[verb] = counters.kinds.get(verb, 0) + 1

    def flushed(*_args: Any) -> None:
        counters.flushes += 1

    queued = storage.db._queued

    @contextmanager
    def timed(lock: threading.RLock) -> Iterator[None]:
        with queued(lock):
            started = time.perf_counter()
            try:
                yield
            finally:
                counters.locked += time.perf_counter() - started

    event.listen(engine, "before_cursor_execute", statement)
    event.listen(Session, "after_flush", flushed)
    storage.db._queued = timed  # type: ignore[assignment]
    try:
        yield counters
    finally:
        storage.db._queued = queued
        event.remove(Session, "after_flush", flushed)
        event.remove(engine, "before_cursor_execute", statement)


def prepare(folder: Path) -> tuple[Engine, Policy]:
    """A fresh SQLite file with the team and the authors, as `storydesk run` opens it."""
    url = f"sqlite:///{folder / 'storydesk.db'}"
    engine = make_engine(url)
    migrate.upgrade(engine)
    with write_session(engine) as session:
        for people, role in ((COORDINATORS, COORDINATOR), (AUTHORS, "contributor")):
            for user_id, name in people.items():
                session.add(Member(platform="slack", user_id=user_id, display_name=name,
                                   role=role, timezone="Europe/Berlin", locale="en-US",
                                   created_at=START - timedelta(days=100)))
    return engine, policy_from(Settings(database_url=url), ("slack",))


def author(serial: int) -> Caller:
    user_id = list(AUTHORS)[serial % len(AUTHORS)]
    return Caller("slack", user_id, AUTHORS[user_id], timezone="Europe/Berlin",
                  locale="en-US")


def pitch(runner: CommandRunner, serial: int) -> None:
    outcome = runner.run_request(
        author(serial), "pitch", f"Bench pitch {serial:06d} #outreach",
        START + timedelta(seconds=serial), Request(key=f"slack:command:{serial}.bench"))
    if PITCHED not in outcome.reply.text:
        raise RuntimeError(f"pitch {serial} was answered: {outcome.reply.text}")


def one_run(pitches: int) -> dict[str, float]:
    with tempfile.TemporaryDirectory(prefix="storydesk-bench-") as folder:
        engine, policy = prepare(Path(folder))
        runner = CommandRunner(engine, policy)
        floor = FloorDatabase(Path(folder) / "floor.db",
                              "CREATE TABLE pitch (id INTEGER PRIMARY KEY, title TEXT)")
        samples: dict[str, list[float]] = {"cpu": [], "wall": [], "locked": [],
                                           "statements": [], "flushes": [], "floor cpu": []}
        kinds: dict[str, int] = {}
        with instrument(engine) as counters:
            for serial in range(WARM_UP):
                pitch(runner, serial)
                floor.insert("INSERT INTO pitch (title) VALUES (?)", (f"Pitch {serial}",))
            counters.take()
            for serial in range(WARM_UP, WARM_UP + pitches):
                cpu = time.thread_time()
                floor.insert("INSERT INTO pitch (title) VALUES (?)", (f"Pitch {serial}",))
                samples["floor cpu"].append(time.thread_time() - cpu)
                cpu, wall = time.thread_time(), time.perf_counter()
                pitch(runner, serial)
                samples["cpu"].append(time.thread_time() - cpu)
                samples["wall"].append(time.perf_counter() - wall)
                taken = counters.take()
                samples["locked"].append(taken.locked)
                samples["statements"].append(taken.statements)
                samples["flushes"].append(taken.flushes)
                for verb, count in taken.kinds.items():
                    kinds[verb] = kinds.get(verb, 0) + count
        engine.dispose()
    figures = {name: statistics.median(values) for name, values in samples.items()}
    figures.update({f"kind {verb}": count / pitches for verb, count in kinds.items()})
    return figures


def report(runs: list[dict[str, float]], pitches: int) -> str:
    def med(key: str) -> float:
        return statistics.median(run.get(key, 0.0) for run in runs)

    rows = "\n".join(
        f"| {n} | {r['cpu'] * 1000:.2f} | {r['floor cpu'] * 1000:.3f} | "
        f"{r['cpu'] / r['floor cpu']:.1f}× | {r['wall'] * 1000:.2f} | {r['locked'] * 1000:.2f} "
        f"| {r['statements']:.0f} | {r['flushes']:.0f} |" for n, r in enumerate(runs, 1))
    verbs = sorted({key for run in runs for key in run if key.startswith("kind ")})
    split = ", ".join(f"{med(key):.0f} {key.removeprefix('kind ')}" for key in verbs)
    flushes = plural(round(med("flushes")), "flush", "flushes")
    return f"""`bench/pitch_work.py`: {pitches} pitches one after the other (after {WARM_UP} to
warm up) through the command runner (bot/commands.py), the entry both platforms use, on a
fresh SQLite file set up as Storydesk sets it up; three coordinators, eight authors already
known, each command with its request key as a Slack command has. Per pitch: the thread's
CPU time, the wall time, how long the process's write lock was held (what the requests
behind it wait for), the SQL statements sent (BEGIN and COMMIT not counted) and the
session's flushes. The floor, in the same run and process, alternating with the pitches:
the write of bench/slack_answer.py's floor (benchlib.FloorDatabase: BEGIN IMMEDIATE, one
INSERT, COMMIT), its CPU time. Medians of each run's pitches.

| run | CPU ms | floor CPU ms | ratio | wall ms | write lock held ms | statements | flushes |
| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |
{rows}

Median of the runs: {med('cpu') * 1000:.2f} ms of CPU ({med('cpu') / med('floor cpu'):.0f}× the
floor's {med('floor cpu') * 1000:.3f} ms), the write lock held {med('locked') * 1000:.2f} ms,
{med('statements'):.0f} statements ({split}) and {flushes} a pitch.
`--profile` shows where the CPU time goes, `--slack` the whole Slack request path beside a
bare bolt app's. Python {platform.python_version()},
{os.cpu_count()} CPUs shared with other work, load average {os.getloadavg()[0]:.2f} at the
end, {time.strftime('%Y-%m-%d')}."""


# --- profiles ---------------------------------------------------------------------------


def print_profile(profile: cProfile.Profile, title: str, count: int, lines: int = 30) -> None:
    stream = io.StringIO()
    stats = pstats.Stats(profile, stream=stream)
    total = stats.total_tt  # type: ignore[attr-defined]
    print(f"\n=== {title}: {total / count * 1000:.2f} ms CPU a request, profiler included ===")
    stats.sort_stats("cumulative").print_stats(lines)
    print(stream.getvalue())


def profile_runner(pitches: int) -> None:
    with tempfile.TemporaryDirectory(prefix="storydesk-bench-") as folder:
        engine, policy = prepare(Path(folder))
        runner = CommandRunner(engine, policy)
        for serial in range(WARM_UP):
            pitch(runner, serial)
        profile = cProfile.Profile(time.thread_time)
        profile.enable()
        for serial in range(WARM_UP, WARM_UP + pitches):
            pitch(runner, serial)
        profile.disable()
        engine.dispose()
    print_profile(profile, "the command runner's pitch", pitches, 45)


SECRET = "benchsigningsecret0123456789abcd"
TOKEN = "xoxb-100000000001-200000000002-benchbenchbenchbenchbench"


def command_body(fake: Any, serial: int) -> bytes:
    user_id = list(AUTHORS)[serial % len(AUTHORS)]
    return urlencode({
        "token": "legacy", "team_id": "T0BENCH", "team_domain": "bench",
        "channel_id": "C0BENCH", "channel_name": "outreach", "user_id": user_id,
        "user_name": user_id.lower(), "command": "/pitch",
        "text": f"Bench pitch {serial:06d} #outreach", "api_app_id": "A0BENCH",
        "is_enterprise_install": "false", "response_url": fake.response_url(f"r{serial}"),
        "trigger_id": f"{serial}.1700000000.bench",
    }).encode()


def profile_slack(requests: int) -> None:
    """Both apps dispatched on this thread; Storydesk's work on its one worker thread, which
    gets a profiler of its own. The signature check of bot/slack/web.py runs here too."""
    from slack_bolt import App, BoltRequest
    from slack_sdk.signature import SignatureVerifier

    from bot.slack.app import SlackDeps, build_app
    from bot.slack.client import make_web_client
    from bot.slack.directory import SlackDirectory
    from bot.slack.web import malformed
    from tests.slack.conftest import signed_headers
    from tests.slack.fake_slack import FakeSlack

    fake = FakeSlack().start()
    for user_id, name in {**COORDINATORS, **AUTHORS}.items():
        fake.add_user(user_id, name)
    verifier = SignatureVerifier(SECRET)
    try:
        with tempfile.TemporaryDirectory(prefix="storydesk-bench-") as folder:
            engine, policy = prepare(Path(folder))
            client = make_web_client(TOKEN, fake.api_url)
            deps = SlackDeps(CommandRunner(engine, policy), engine, policy,
                             SlackDirectory(client))
            slack = build_app(deps, client=client, signing_secret=SECRET, workers=1,
                              verify_token=False)
            floor_db = FloorDatabase(Path(folder) / "floor.db",
                                     "CREATE TABLE pitch (id INTEGER PRIMARY KEY, title TEXT)")
            floor = App(signing_secret=SECRET, token=TOKEN, token_verification_enabled=False,
                        process_before_response=True)
            floor.client.base_url = fake.api_url  # its auth.test goes to the fake too

            @floor.command("/pitch")
            def floor_pitch(ack: Callable[..., Any], command: dict[str, Any]) -> None:
                floor_db.insert("INSERT INTO pitch (title) VALUES (?)", (command["text"],))
                ack(f"Thanks! {command['text']} is pitched.")

            def signed(serial: int) -> tuple[str, dict[str, str]]:
                body = command_body(fake, serial).decode()
                return body, signed_headers(body, secret=SECRET)

            def send(app: App, request: tuple[str, dict[str, str]], check: bool) -> None:
                body, headers = request
                if check:  # what the route does before bolt sees the request
                    assert verifier.is_valid_request(body.encode(), headers)
                    assert malformed(body.encode(), headers["Content-Type"]) is None
                response = app.dispatch(BoltRequest(body=body, headers=headers))
                if response.status != 200 or PITCHED not in response.body:
                    raise RuntimeError(f"{response.status} {response.body}")

            for serial in range(WARM_UP):
                send(slack.bolt, signed(serial), True)
                send(floor, signed(serial), False)
            slack.settle()
            worker = cProfile.Profile(time.thread_time)
            enabled: Future[None] = slack.listeners.pool.pool.submit(worker.enable)
            enabled.result()
            outer, bare = cProfile.Profile(time.thread_time), cProfile.Profile(time.thread_time)
            for serial in range(WARM_UP, WARM_UP + requests):
                ours, theirs = signed(serial), signed(serial)
                outer.enable()
                send(slack.bolt, ours, True)
                outer.disable()
                bare.enable()
                send(floor, theirs, False)
                bare.disable()
            slack.listeners.pool.pool.submit(worker.disable).result()
            slack.close(wait=True)
            engine.dispose()
    finally:
        fake.stop()
    print_profile(outer, "Storydesk, the request's thread (route check, bolt, ack)",
                  requests)
    print_profile(worker, "Storydesk, the worker thread (the command runner)", requests)
    print_profile(bare, "floor: a bare bolt app inserting one row", requests)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else "")
    parser.add_argument("--pitches", type=int, default=200)
    parser.add_argument("--runs", type=int, default=5)
    mode = parser.add_mutually_exclusive_group()
    mode.add_argument("--profile", action="store_true")
    mode.add_argument("--slack", action="store_true")
    args = parser.parse_args()
    if args.profile:
        profile_runner(args.pitches)
        return 0
    if args.slack:
        profile_slack(args.pitches)
        return 0
    runs = []
    for run in range(args.runs):
        runs.append(one_run(args.pitches))
        print(f"run {run + 1}: " + ", ".join(f"{k}={v:.4f}" for k, v in runs[-1].items()))
    text = report(runs, args.pitches)
    write_section(SECTION, text)
    print(text)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
