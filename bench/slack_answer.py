"""Benchmark: the time from sending a Slack `/pitch` until its answer is visible.

What a person feels is not the time to an empty acknowledgement but the time until they
see the answer. Storydesk answers a slash command in the ack's body once the pitch has
committed, so the answer is visible when the HTTP response arrives; an answer that took
the response_url instead would be timed until it reached the fake Slack.

Processes on 127.0.0.1: a fake Slack Web API (tests/slack/fake_slack.py, in this process),
`storydesk run` itself (Slack HTTP mode, a SQLite file), and the floor: a slack-bolt app as
bolt's documentation has it (`process_before_response`, its Starlette adapter, uvicorn),
whose listener inserts a row into SQLite, commits, and acks with a text. The floor is
given what Storydesk has, so that it is a floor: bolt's synchronous dispatch runs on
Starlette's thread pool (as Storydesk runs it, and as any threaded server would), and its
SQLite file is set up as Storydesk's (benchlib.FloorDatabase: WAL, synchronous=NORMAL, a
connection kept per thread, writers queued on a lock). Measured, for
each: the first answer after `/healthz` answers (cold), then 200 pitches 8 at a time, p50
and p99; for Storydesk, also the same with a Web API that takes 2 s for every call (for
people the bot already knows), and the resident memory of every process of the server.
Rounds alternate between the two servers, and the whole is repeated `--runs` times;
medians of the runs go to the "Slack answers" section of bench/README.md.

    .venv/bin/python bench/slack_answer.py [--requests 200] [--runs 3]
"""

from __future__ import annotations

import argparse
import os
import platform
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from urllib.parse import urlencode

import httpx

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))
from benchlib import percentile, write_section  # noqa: E402

from tests.processes import free_port, wait_healthy  # noqa: E402
from tests.slack.conftest import signed_headers  # noqa: E402
from tests.slack.fake_slack import FakeSlack  # noqa: E402

SECTION = "Slack answers"
SECRET = "benchsigningsecret0123456789abcd"
TOKEN = "xoxb-100000000001-200000000002-benchbenchbenchbenchbench"
USERS = [f"U0BENCH{n:02d}" for n in range(8)]
COORDINATORS = ("U0ADA", "U0BEN", "U0CHLOE")
CONCURRENCY = 8

FLOOR_APP = '''
import sys, uvicorn
from benchlib import FloorDatabase
from slack_bolt import App
from slack_bolt.adapter.starlette.handler import to_bolt_request, to_starlette_response
from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import PlainTextResponse
from starlette.routing import Route

database, secret, token, api, port = sys.argv[1:6]
app = App(signing_secret=secret, token=token, token_verification_enabled=False,
          process_before_response=True)
app.client.base_url = api
db = FloorDatabase(database, "CREATE TABLE pitch (id INTEGER PRIMARY KEY, title TEXT)")

@app.command("/pitch")
def pitch(ack, command):
    db.insert("INSERT INTO pitch (title) VALUES (?)", (command["text"],))
    ack(f"Thanks! {command['text']} is pitched.")

async def events(request: Request):
    # bolt's App is synchronous: dispatched on Starlette's thread pool, as a threaded
    # server would run it, so that requests do not wait for each other on the event loop
    body = await request.body()
    return to_starlette_response(await run_in_threadpool(app.dispatch,
                                                         to_bolt_request(request, body)))

async def healthz(request: Request):
    return PlainTextResponse("ok")

uvicorn.run(Starlette(routes=[Route("/slack/events", events, methods=["POST"]),
                              Route("/healthz", healthz)]),
            host="127.0.0.1", port=int(port), log_level="warning", access_log=False)
'''


class Server:
    def __init__(self, name: str, argv: list[str], env: dict[str, str]) -> None:
        self.name, self.argv, self.env = name, argv, env
        self.port = int(env["PORT"])
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> float:
        """Start; return the seconds until /healthz answered."""
        started = time.perf_counter()
        self.process = subprocess.Popen(self.argv, env=self.env, cwd=self.env["WORKDIR"],
                                        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                                        start_new_session=True)
        wait_healthy(self.url, self.process, timeout=60)
        return time.perf_counter() - started

    def stop(self) -> None:
        if self.process is not None:
            os.killpg(self.process.pid, 15)
            self.process.wait(timeout=30)

    def rss_mb(self) -> float:
        """Resident memory of the process and all its descendants."""
        assert self.process is not None
        pids, total = [self.process.pid], 0
        while pids:
            pid = pids.pop()
            try:
                status = Path(f"/proc/{pid}/status").read_text()
                total += int(next(line.split()[1] for line in status.splitlines()
                                  if line.startswith("VmRSS:")))
                for task in Path(f"/proc/{pid}/task").iterdir():
                    pids.extend(int(c) for c in (task / "children").read_text().split())
            except (OSError, StopIteration):
                continue
        return total / 1024


def command_body(fake: FakeSlack, serial: int) -> str:
    user = USERS[serial % len(USERS)]
    return urlencode({
        "token": "legacy", "team_id": "T0BENCH", "team_domain": "bench",
        "channel_id": "C0BENCH", "channel_name": "outreach", "user_id": user,
        "user_name": user.lower(), "command": "/pitch",
        "text": f"Bench pitch {serial:06d} #outreach",
        "api_app_id": "A0BENCH", "is_enterprise_install": "false",
        "response_url": fake.response_url(f"r{serial}"),
        "trigger_id": f"{serial}.1700000000.bench",
    })


def time_to_answer(client: httpx.Client, server: Server, fake: FakeSlack, serial: int) -> float:
    """Seconds until the answer is visible: the ack if it carries one, else the post on the
    response_url."""
    body = command_body(fake, serial)
    started = time.perf_counter()
    response = client.post(server.url + "/slack/events", content=body.encode(),
                           headers=signed_headers(body, secret=SECRET))
    response.raise_for_status()
    is_json = response.headers.get("content-type", "").startswith("application/json")
    text = response.json().get("text", "") if is_json else response.text
    if "is pitched" in text:
        return time.perf_counter() - started
    # "Working on it…": the answer is visible when it reaches this command's response_url
    name, deadline = f"r{serial}", time.monotonic() + 60
    while time.monotonic() < deadline:
        if any(call.params.get("response_id") == name
               for call in fake.calls_to("response_url")):
            return time.perf_counter() - started
        time.sleep(0.005)
    raise RuntimeError(f"pitch {serial} was never answered")


def burst(server: Server, fake: FakeSlack, first: int, count: int) -> list[float]:
    limits = httpx.Limits(max_connections=CONCURRENCY)
    with httpx.Client(timeout=30, limits=limits) as client, \
            ThreadPoolExecutor(max_workers=CONCURRENCY) as pool:
        return list(pool.map(lambda n: time_to_answer(client, server, fake, n),
                             range(first, first + count)))


def cold_first(server: Server, fake: FakeSlack, serial: int) -> float:
    server.start()
    with httpx.Client(timeout=30) as client:
        return time_to_answer(client, server, fake, serial)


def servers(workdir: Path, fake: FakeSlack) -> tuple[Server, Server]:
    base = dict(os.environ, PYTHONPATH=str(ROOT), WORKDIR=str(workdir))
    storydesk_db = workdir / "storydesk.db"
    storydesk = Server("storydesk", [sys.executable, "-m", "bot.cli", "--env-file",
                                     str(workdir / "none.env"), "run"], dict(
        base, PORT=str(free_port()), DATABASE_URL=f"sqlite:///{storydesk_db}",
        SLACK_BOT_TOKEN=TOKEN, SLACK_SIGNING_SECRET=SECRET, SLACK_API_URL=fake.api_url,
        STORYDESK_COORDINATORS=",".join(f"slack:{c}" for c in COORDINATORS),
        STORYDESK_HTTP_HOST="127.0.0.1", STORYDESK_LOG_LEVEL="WARNING"))
    storydesk.env["STORYDESK_HTTP_PORT"] = storydesk.env["PORT"]
    floor_script = workdir / "floor.py"
    floor_script.write_text(FLOOR_APP)
    floor = Server("floor", [sys.executable, str(floor_script), str(workdir / "floor.db"),
                             SECRET, TOKEN, fake.api_url],
                   dict(base, PORT=str(free_port()),
                        PYTHONPATH=os.pathsep.join((str(ROOT / "bench"), str(ROOT)))))
    floor.argv.append(floor.env["PORT"])
    return storydesk, floor


def known_members(database: Path) -> int:
    with sqlite3.connect(database) as db:
        return int(db.execute("SELECT count(*) FROM member").fetchone()[0])


def one_run(fake: FakeSlack, requests: int, serial: int) -> tuple[dict[str, float], int]:
    with tempfile.TemporaryDirectory(prefix="storydesk-bench-") as folder:
        workdir = Path(folder)
        storydesk, floor = servers(workdir, fake)
        figures: dict[str, float] = {}
        try:
            figures["storydesk cold"] = cold_first(storydesk, fake, serial)
            serial += 1
            figures["floor cold"] = cold_first(floor, fake, serial)
            serial += 1
            burst(storydesk, fake, serial, 16)  # warm both the same way
            burst(floor, fake, serial + 16, 16)
            serial += 32
            timings: dict[str, list[float]] = {"storydesk": [], "floor": []}
            for _round in range(4):
                for server in (storydesk, floor):
                    timings[server.name] += burst(server, fake, serial, requests // 4)
                    serial += requests // 4
            for name, values in timings.items():
                figures[f"{name} p50"] = statistics.median(values)
                figures[f"{name} p99"] = percentile(values, 0.99)
            figures["storydesk rss"] = storydesk.rss_mb()
            figures["floor rss"] = floor.rss_mb()
            assert known_members(workdir / "storydesk.db") >= len(USERS)
            fake.delay = 2.0  # every Web API call now takes 2 s
            slow = burst(storydesk, fake, serial, requests)
            serial += requests
            fake.delay = 0.0
            figures["slow p50"] = statistics.median(slow)
            figures["slow p99"] = percentile(slow, 0.99)
            figures["slow unanswered"] = float(sum(1 for t in slow if t >= 3.0))
        finally:
            fake.delay = 0.0
            storydesk.stop()
            floor.stop()
    return figures, serial


def report(runs: list[dict[str, float]], requests: int) -> str:
    def med(key: str) -> float:
        return statistics.median(run[key] for run in runs)

    def ms(key: str) -> str:
        return f"{med(key) * 1000:.1f} ms"

    def ratios(quantile: str) -> tuple[float, str]:
        """The ratio of the medians, and each run's own ratio."""
        each = (run[f"storydesk {quantile}"] / run[f"floor {quantile}"] for run in runs)
        return (med(f"storydesk {quantile}") / med(f"floor {quantile}"),
                ", ".join(f"{r:.2f}" for r in each))

    (ratio_p50, runs_p50), (ratio_p99, runs_p99) = ratios("p50"), ratios("p99")
    verdict = lambda ok: "met" if ok else "missed"  # noqa: E731
    rss = (med("storydesk rss"), med("floor rss"))
    rows = [
        ("p50 time to answer", ms("storydesk p50"), ms("floor p50"),
         f"{ratio_p50:.2f} (runs: {runs_p50})", ""),
        ("p99 time to answer", ms("storydesk p99"), ms("floor p99"),
         f"{ratio_p99:.2f} (runs: {runs_p99})", f"≤ 1.5: {verdict(ratio_p99 <= 1.5)}"),
        ("first answer after `/healthz` (cold)", ms("storydesk cold"), ms("floor cold"), "",
         f"≤ 1 s: {verdict(med('storydesk cold') <= 1.0)}"),
        ("p50 / p99 with a 2 s Web API, known people",
         f"{ms('slow p50')} / {ms('slow p99')}", "", "",
         f"p99 < 1 s: {verdict(med('slow p99') < 1.0)}"),
        ("commands unanswered (≥ 3 s) with the slow Web API",
         f"{max(run['slow unanswered'] for run in runs):.0f} of {requests}", "", "", "0"),
        ("resident memory, all processes", f"{rss[0]:.0f} MB", f"{rss[1]:.0f} MB",
         f"{rss[0] / rss[1]:.2f}", ""),
    ]
    table = "\n".join("| " + " | ".join(row) + " |" for row in rows)
    return f"""Measured by `bench/slack_answer.py` (`make bench`) on {platform.machine()},
{os.cpu_count()} cores shared with other work, Python {platform.python_version()}, load average
{os.getloadavg()[0]:.2f} at the end, {time.strftime('%Y-%m-%d')}: {len(runs)} runs, each with
{requests} signed `/pitch` commands 8 at a time per server, rounds alternating between
`storydesk run` and the floor. The floor is a bolt app as bolt's docs have it, whose
listener inserts a row into SQLite, commits and acks with a text, given what Storydesk
has: bolt's dispatch runs on Starlette's thread pool, as Storydesk runs it (on the event
loop, each request would wait for the one before), and its SQLite file is set up as
Storydesk's (WAL, synchronous=NORMAL, a connection kept per thread, writers queued on a
lock). Time to the visible answer: Storydesk's answer travels in the ack, after the pitch,
its history and its outbox rows committed. Medians of the runs.

| measure | Storydesk | floor | ratio | target |
|---|---|---|---|---|
{table}

Ratio to the floor: p50 {ratio_p50:.2f}, p99 {ratio_p99:.2f}; target p99 ≤ 1.5:
{verdict(ratio_p99 <= 1.5)}.

`storydesk run` is one process: no helper processes. Its memory includes the scheduler,
the outbox dispatcher and the runtime's libraries; the floor loads bolt alone. A pitch's
transaction does the product's work (the reviewer's choice and its reason, the history,
the card and the reviewer's message in the outbox) where the floor inserts one row. Eight
at once queue for SQLite's single writer (in each process, on a lock: see storage/db.py),
so an answer waits for the transactions ahead of it: the product's work per pitch sets
the median, and the tail grows with it, for both servers alike."""


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=200)
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()
    fake = FakeSlack().start()
    for user_id in (*COORDINATORS, *USERS):
        fake.add_user(user_id, user_id.removeprefix("U0").title())
    runs, serial = [], 0
    try:
        for run in range(args.runs):
            figures, serial = one_run(fake, args.requests, serial)
            runs.append(figures)
            print(f"run {run + 1}: " + ", ".join(f"{k}={v:.4f}" for k, v in figures.items()))
    finally:
        fake.stop()
    text = report(runs, args.requests)
    write_section(SECTION, text)
    print(text)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
