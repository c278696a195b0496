"""An answer means it is done, proved on real `storydesk run` processes in Slack HTTP mode.

Signed `/pitch` commands, pitch forms and button presses go to the process; the whole
process group is killed (SIGKILL) after a given number of acknowledgements, or stopped with
SIGTERM as `docker stop` does; a new process is started on the same database. Every
acknowledged request then took effect exactly once, and its author got an answer: in the
ack for a command, as a direct message (sent by the outbox, at the latest after the
restart) for a form. Two replicas on PostgreSQL, one killed mid-traffic: the same.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
from collections import Counter
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import httpx
import pytest
from sqlalchemy.engine import Engine
from sqlmodel import select

from storage.db import make_engine, read_session
from storage.models import Story
from tests.conftest import PG_URL, drop_schema, pg_engine_with_schema, require_postgres
from tests.processes import free_port, wait_healthy
from tests.slack.conftest import PEOPLE, SECRET, TOKEN, payload, signed_headers
from tests.slack.fake_slack import FakeSlack

ROOT = Path(__file__).resolve().parents[2]
pytestmark = pytest.mark.slow


@dataclass
class Bot:
    """One `storydesk run` process (in a process group of its own) on a port."""

    database_url: str
    fake: FakeSlack
    workdir: Path
    port: int = field(default_factory=free_port)
    process: subprocess.Popen[bytes] | None = None
    starts: int = 0

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> None:
        self.starts += 1
        env = dict(
            os.environ, PYTHONPATH=str(ROOT), DATABASE_URL=self.database_url,
            SLACK_BOT_TOKEN=TOKEN, SLACK_SIGNING_SECRET=SECRET, SLACK_API_URL=self.fake.api_url,
            STORYDESK_HTTP_HOST="127.0.0.1", STORYDESK_HTTP_PORT=str(self.port),
            STORYDESK_COORDINATORS="slack:U0ADA,slack:U0BEN,slack:U0CHLOE",
            STORYDESK_LOG_LEVEL="WARNING", STORYDESK_TICK_SECONDS="5",
            STORYDESK_INBOX_PATH=str(self.workdir / "inbox.db"),
            # a killed process's claimed messages are taken over after 10 s, not 2 min
            STORYDESK_LEASE_SECONDS="10", STORYDESK_SEND_TIMEOUT_SECONDS="3",
        )
        log = (self.workdir / f"run-{self.port}-{self.starts}.log").open("wb")
        self.process = subprocess.Popen(
            [sys.executable, "-m", "bot.cli", "--env-file", str(self.workdir / "none.env"),
             "run"], cwd=self.workdir, env=env, stdout=log, stderr=subprocess.STDOUT,
            start_new_session=True)
        wait_healthy(self.url, self.process, timeout=60, log=self.log)

    def log(self) -> str:
        return "\n".join(p.read_text(errors="replace") for p in
                         sorted(self.workdir.glob(f"run-{self.port}-*.log")))

    def kill(self, how: signal.Signals) -> float:
        """Signal the whole process group; how long it took to be gone."""
        assert self.process is not None
        started = time.monotonic()
        os.killpg(self.process.pid, how)
        self.process.wait(timeout=30)
        return time.monotonic() - started

    def post(self, body: str) -> httpx.Response:
        return httpx.post(self.url + "/slack/events", content=body.encode(),
                          headers=signed_headers(body), timeout=10)


def pitch_body(fake: FakeSlack, n: int, user: str = "U0DANA") -> tuple[str, str]:
    title = f"Killed pitch {n:03d}"
    fields = payload("slash_command.json")
    fields.update(command="/pitch", text=title, user_id=user,
                  user_name=PEOPLE[user][0].lower(), trigger_id=f"{n}.1700000000.kill",
                  response_url=fake.response_url(f"kill{n}"))
    return title, urlencode(fields)


def story_command(fake: FakeSlack, text: str, user: str) -> str:
    fields = payload("slash_command.json")
    fields.update(command="/story", text=text, user_id=user, user_name=PEOPLE[user][0].lower(),
                  trigger_id=f"{text}.{user}", response_url=fake.response_url("story"))
    return urlencode(fields)


def form_body(fake: FakeSlack, n: int) -> tuple[str, str]:
    title = f"Form pitch {n:03d}"
    data = payload("view_submission_pitch.json")
    data["view"]["id"] = f"V0KILL{n:04d}"
    data["view"]["hash"] = f"{n}.hash"
    data["view"]["state"]["values"]["title"]["value"]["value"] = title
    return title, urlencode({"payload": json.dumps(data)})


def stories(engine: Engine) -> Counter[str]:
    with read_session(engine) as session:
        return Counter(session.exec(select(Story.title)).all())


def send_until_killed(bot: Bot, bodies: list[tuple[str, str]], kill_after: int,
                      how: signal.Signals, concurrency: int = 4) -> dict[str, dict[str, Any]]:
    """Send every body; kill the bot's group once `kill_after` acks came back.
    Returns the acknowledged ones: title -> the ack's JSON (or {} for an empty ack)."""
    acked: dict[str, dict[str, Any]] = {}
    lock = threading.Lock()
    killed = threading.Event()

    def send(item: tuple[str, str]) -> None:
        title, body = item
        if killed.is_set():
            return
        try:
            response = bot.post(body)
        except httpx.HTTPError:
            return  # never acknowledged: nobody was told anything
        if response.status_code != 200:
            return
        with lock:
            acked[title] = response.json() if response.content else {}
            if len(acked) >= kill_after and not killed.is_set():
                killed.set()
                bot.kill(how)

    with ThreadPoolExecutor(max_workers=concurrency) as pool:
        list(pool.map(send, bodies))
    if not killed.is_set():
        bot.kill(how)
    return acked


@pytest.fixture
def fake() -> Iterator[FakeSlack]:
    server = FakeSlack().start()
    for user_id, (name, _coordinator) in PEOPLE.items():
        server.add_user(user_id, name)
    yield server
    server.release()
    server.stop()


@pytest.fixture
def sqlite_bot(tmp_path: Path, fake: FakeSlack) -> Iterator[tuple[Bot, Engine]]:
    url = f"sqlite:///{tmp_path / 'storydesk.db'}"
    bot = Bot(url, fake, tmp_path)
    yield bot, make_engine(url)
    if bot.process is not None and bot.process.poll() is None:
        bot.kill(signal.SIGKILL)


@pytest.mark.parametrize("kill_after", [1, 5, 19])
def test_sigkill_loses_no_acknowledged_pitch(sqlite_bot: tuple[Bot, Engine], fake: FakeSlack,
                                             kill_after: int) -> None:
    bot, engine = sqlite_bot
    bot.start()
    bodies = [pitch_body(fake, n) for n in range(20)]
    acked = send_until_killed(bot, bodies, kill_after, signal.SIGKILL)
    assert len(acked) >= kill_after
    bot.start()  # a new process on the same database
    found = stories(engine)
    for title, answer in acked.items():
        assert found[title] == 1, f"{title!r} was acknowledged but is stored {found[title]}x"
        assert "is pitched" in answer["text"], answer  # the author got the answer
    assert max(found.values()) == 1
    bot.kill(signal.SIGTERM)


def test_sigterm_mid_traffic_loses_nothing_and_stops_within_ten_seconds(
        sqlite_bot: tuple[Bot, Engine], fake: FakeSlack) -> None:
    bot, engine = sqlite_bot
    bot.start()
    assert bot.process is not None
    children = Path(f"/proc/{bot.process.pid}/task/{bot.process.pid}/children")
    if children.exists():  # Linux: one process, no helpers that could be orphaned
        assert children.read_text().split() == []
    bodies = [pitch_body(fake, n) for n in range(60)]
    acked: dict[str, dict[str, Any]] = {}
    stopped: list[float] = []

    def send(item: tuple[str, str]) -> None:
        try:
            response = bot.post(item[1])
        except httpx.HTTPError:
            return
        if response.status_code == 200:
            acked[item[0]] = response.json()

    with ThreadPoolExecutor(max_workers=6) as pool:
        futures = [pool.submit(send, body) for body in bodies]
        while len(acked) < 15:
            time.sleep(0.005)
        stopped.append(bot.kill(signal.SIGTERM))  # what `docker stop` sends
        for future in futures:
            future.result()
    assert bot.process is not None and bot.process.returncode == 0, bot.log()
    assert stopped[0] < 10
    found = stories(engine)
    assert all(found[title] == 1 for title in acked)
    assert all("is pitched" in answer["text"] for answer in acked.values())
    assert "Traceback" not in bot.log()


def test_sigkill_loses_no_acknowledged_form_and_its_answer_follows(
        sqlite_bot: tuple[Bot, Engine], fake: FakeSlack) -> None:
    bot, engine = sqlite_bot
    bot.start()
    bodies = [form_body(fake, n) for n in range(12)]
    acked = send_until_killed(bot, bodies, 5, signal.SIGKILL, concurrency=3)
    bot.start()
    found = stories(engine)
    assert all(found[title] == 1 for title in acked)
    assert max(found.values()) == 1
    # The confirmation of each acknowledged form was in the outbox with the story: it is
    # sent, by the first process or by the second.
    deadline = time.monotonic() + 45
    while time.monotonic() < deadline:
        # to Dana's DM: her user id first, then the DM channel Slack opened for it
        sent = {title for title in acked for call in fake.calls_to("chat.postMessage")
                if "is pitched" in str(call.params.get("text"))
                and title in json.dumps(call.params)}
        if sent == set(acked):
            break
        time.sleep(0.2)
    assert sent == set(acked), bot.log()
    bot.kill(signal.SIGTERM)


def test_sigkill_loses_no_acknowledged_button_press(sqlite_bot: tuple[Bot, Engine],
                                                     fake: FakeSlack) -> None:
    bot, engine = sqlite_bot
    bot.start()
    for n in range(8):  # drafts to approve: pitched, accepted, submitted
        assert bot.post(pitch_body(fake, n)[1]).status_code == 200
        assert "accepted" in bot.post(story_command(fake, f"accept {n + 1}", "U0ADA")).text
        assert "review" in bot.post(story_command(
            fake, f"draft {n + 1} https://docs.example.org/d/{n}", "U0DANA")).text
    with read_session(engine) as session:
        pitched = list(session.exec(select(Story).order_by(Story.id)).all())  # type: ignore[arg-type]
    presses = []
    for story in pitched:
        data = payload("block_actions.json")
        data["user"].update(id="U0ADA", username="ada", name="ada")
        data["response_url"] = fake.response_url(f"press{story.id}")
        data["actions"][0].update(
            action_id="story_approve", action_ts=f"17000001{story.id:02d}.000001",
            value=json.dumps({"story_id": story.id, "version": story.version}))
        presses.append((str(story.id), urlencode({"payload": json.dumps(data)})))
    acked = send_until_killed(bot, presses, 3, signal.SIGKILL, concurrency=2)
    bot.start()
    with read_session(engine) as session:
        states = {str(s.id): (s.state, s.version) for s in session.exec(select(Story)).all()}
    for story_id in acked:
        assert states[story_id][0] in {"approved", "scheduled"}, states[story_id]
    bot.kill(signal.SIGTERM)


def test_two_replicas_on_postgresql_one_killed_mid_traffic(tmp_path: Path,
                                                           fake: FakeSlack) -> None:
    require_postgres()
    engine, schema = pg_engine_with_schema()
    url = f"{PG_URL}?options=-csearch_path%3D{schema}"
    first, second = Bot(url, fake, tmp_path), Bot(url, fake, tmp_path)
    try:
        first.start()
        second.start()
        bodies = [pitch_body(fake, n) for n in range(60)]
        acked: dict[str, dict[str, Any]] = {}
        lock = threading.Lock()

        def send(index_item: tuple[int, tuple[str, str]]) -> None:
            index, (title, body) = index_item
            bot = first if index % 2 else second
            try:
                response = bot.post(body)
            except httpx.HTTPError:
                return
            if response.status_code == 200:
                with lock:
                    acked[title] = response.json()
                    if len(acked) == 20:
                        first.kill(signal.SIGKILL)

        with ThreadPoolExecutor(max_workers=6) as pool:
            list(pool.map(send, enumerate(bodies)))
        found = stories(engine)
        assert len(acked) >= 30  # the survivor answered its share and more
        assert {t: found[t] for t in acked if found[t] != 1} == {}, first.log()
        unanswered = [a["text"] for a in acked.values() if "is pitched" not in a["text"]]
        assert unanswered == []
        assert max(found.values()) == 1
        second.kill(signal.SIGTERM)
    finally:
        for bot in (first, second):
            if bot.process is not None and bot.process.poll() is None:
                bot.kill(signal.SIGKILL)
        engine.dispose()
        drop_schema(schema)
