"""Benchmark: the time to the visible answer of a Mattermost `/pitch`, against a floor.

What a person feels is the HTTP response of their command: Mattermost shows it as the
answer. Here that answer comes only after the story is committed. Two measurements:

1. Steady state. A child process is served as `storydesk run` serves (`build_runtime`,
   `create_web_app`, then what bot/server.py starts: the outbox dispatcher, the scheduler's
   ticks and the WebSocket listener; uvicorn; a SQLite file; three coordinators). Each
   request is a `/pitch <title>` that creates a story (a write transaction: the story, its
   reviewer, its history, the card and the reviewer's message in the outbox) and answers;
   meanwhile the dispatcher sends those rows to the fake Mattermost, and its claims and
   marks compete for SQLite's writer as they do in production. The floor, measured in the
   same run on the same server, is `POST /bench/floor`: a bare Starlette endpoint that
   inserts one row into a SQLite file set up as Storydesk's (benchlib.FloorDatabase),
   commits and answers a text. Both get the same number of requests, 8 at a time, in
   interleaved rounds; an answer without "is pitched" (or the floor's text) stops the run.
2. Cold start. A real `storydesk run` process is started; as soon as its /healthz answers,
   one `/pitch` is sent: the time to that first answer.

A local fake Mattermost answers the API calls (the token check, user profiles, cached after
the first request, the cards and direct messages the dispatcher posts); it has no
WebSocket, so the listener logs its refusals and tries again after a growing pause. p50, p99, their
ratios, what the dispatcher sent and the cold-start figures go to the "Mattermost commands"
section of bench/README.md.

    .venv/bin/python bench/mattermost_command.py [--requests 200] [--concurrency 8]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import platform
import socket
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Callable
from contextlib import closing
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
from benchlib import FloorDatabase, percentile, write_section  # noqa: E402

from tests.processes import free_port, wait_healthy  # noqa: E402

COMMAND_TOKEN = "benchcommandtoken000000000"
BOT_TOKEN = "benchbottoken0000000000000"
SECTION = "Mattermost commands"
PITCHED = "is pitched"
FLOOR_ANSWER = "ok"
PUBLIC_URL = "https://storydesk.bench.example"


# --- the server side (child process) ----------------------------------------------------


def serve(port_file: Path, mattermost_url: str, database: Path, dana: str,
          coordinators: str) -> None:
    import uvicorn
    from starlette.requests import Request
    from starlette.responses import PlainTextResponse, Response
    from starlette.routing import Route

    from bot.commands import Caller
    from bot.runtime import build_runtime
    from bot.server import starters
    from bot.web import create_web_app
    from config.settings import Settings

    settings = Settings(
        database_url=f"sqlite:///{database}", mattermost_url=mattermost_url,
        mattermost_bot_token=BOT_TOKEN, mattermost_command_tokens=(COMMAND_TOKEN,),
        public_url=PUBLIC_URL, log_level="WARNING", coordinators=coordinator_ids(coordinators),
    )
    runtime = build_runtime(settings)
    author = Caller("mattermost", dana, "Dana Kim")
    from datetime import UTC, datetime

    for title in ("Muon tomography", "Open day", "Detector upgrade", "Summer students",
                  "Dark matter search"):
        runtime.runner.run(author, "pitch", f"{title} #scicomm -- a summary", datetime.now(UTC))

    floor_db = FloorDatabase(database.with_name("floor.db"),
                             "CREATE TABLE note (id INTEGER PRIMARY KEY, body TEXT, at REAL)")

    def floor(request: Request) -> Response:
        """The floor: insert a row into SQLite, commit, answer (in Starlette's threads)."""
        floor_db.insert("INSERT INTO note (body, at) VALUES (?, ?)", ("pitch", time.time()))
        return PlainTextResponse(FLOOR_ANSWER)

    app = create_web_app(runtime, extra_routes=[Route("/bench/floor", floor, methods=["POST"])])
    stops = [start(runtime) for start in starters(runtime)]  # as `storydesk run` does
    listener = socket.socket()
    listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    listener.bind(("127.0.0.1", 0))
    port_file.write_text(str(listener.getsockname()[1]))
    config = uvicorn.Config(app, log_level="warning", access_log=False)
    try:
        uvicorn.Server(config).run(sockets=[listener])
    finally:
        for stop in reversed(stops):
            stop()
        runtime.engine.dispose()


# --- the load side (parent process) ------------------------------------------------------


async def measure(url: str, expected: str, body: Callable[[], str], headers: dict[str, str],
                  count: int, concurrency: int) -> list[float]:
    """Latencies of `count` requests, `concurrency` at a time; a request whose answer does
    not contain `expected` stops the run (a fast error must not pass for a fast answer)."""
    import httpx

    latencies: list[float] = []
    queue: asyncio.Queue[int] = asyncio.Queue()
    for i in range(count):
        queue.put_nowait(i)
    limits = httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency)
    async with httpx.AsyncClient(limits=limits, timeout=30) as client:

        async def worker() -> None:
            while True:
                try:
                    queue.get_nowait()
                except asyncio.QueueEmpty:
                    return
                content = body()
                started = time.perf_counter()
                response = await client.post(url, content=content, headers=headers)
                latencies.append(time.perf_counter() - started)
                if response.status_code != 200 or expected not in response.text:
                    raise RuntimeError(f"{url} answered {response.status_code}: {response.text}")

        await asyncio.gather(*(worker() for _ in range(concurrency)))
    return latencies


def server_cpu(pid: int) -> float:
    """CPU seconds the server process has used so far (Linux /proc; 0 elsewhere)."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


Run = dict[str, tuple[list[float], float]]  # endpoint -> (latencies, server CPU seconds)


Targets = dict[str, tuple[str, str]]  # endpoint -> (URL, text every answer contains)


def measure_run(targets: Targets, body: Callable[[], str], headers: dict[str, str],
                requests: int, concurrency: int, rounds: int, pid: int) -> Run:
    latencies: dict[str, list[float]] = {name: [] for name in targets}
    cpu = dict.fromkeys(targets, 0.0)
    per_round = -(-requests // rounds)
    for _ in range(rounds):
        for name, (url, expected) in targets.items():
            before = server_cpu(pid)
            latencies[name] += asyncio.run(
                measure(url, expected, body, headers, per_round, concurrency))
            cpu[name] += server_cpu(pid) - before
    return {name: (latencies[name], cpu[name]) for name in targets}


def outbox_statuses(database: Path) -> Counter[str]:
    """How many outbox rows the server left in each status when it stopped."""
    with closing(sqlite3.connect(database)) as db:
        rows = db.execute("SELECT status, count(*) FROM outbound GROUP BY status").fetchall()
    return Counter({str(status): int(count) for status, count in rows})


def report(runs: list[Run], cold: list[tuple[float, float]], outbox: Counter[str],
           requests: int, concurrency: int, rounds: int) -> str:
    rows, ratios = [], []
    for number, run in enumerate(runs, 1):
        floor, floor_cpu = run["floor"]
        command, command_cpu = run["mattermost"]
        p50_floor, p99_floor = percentile(floor, 0.50) * 1000, percentile(floor, 0.99) * 1000
        p50_mm, p99_mm = percentile(command, 0.50) * 1000, percentile(command, 0.99) * 1000
        ratios.append((p50_mm / p50_floor, p99_mm / p99_floor))
        rows.append(
            f"| {number} | {p50_floor:.1f} / {p99_floor:.1f} | {p50_mm:.1f} / {p99_mm:.1f} | "
            f"{p50_mm / p50_floor:.2f}× / {p99_mm / p99_floor:.2f}× | "
            f"{floor_cpu / len(floor) * 1000:.2f} / {command_cpu / len(command) * 1000:.2f} |")
    p99_ratios = sorted(r for _, r in ratios)
    median_p99 = statistics.median(p99_ratios)
    median_p50 = statistics.median(r for r, _ in ratios)
    cpu_ratio = statistics.median(
        (run["mattermost"][1] / len(run["mattermost"][0]))
        / max(run["floor"][1] / len(run["floor"][0]), 1e-9) for run in runs)
    verdict = "met" if median_p99 <= 1.5 else (
        f"missed: a `/pitch` costs the server about {cpu_ratio:.0f}× the floor's CPU, and with "
        f"{concurrency} requests in flight that work queues behind itself")
    table = "\n".join(rows)
    cold_rows = "\n".join(f"| {n} | {up * 1000:.0f} | {first * 1000:.0f} |"
                           for n, (up, first) in enumerate(cold, 1))
    first_median = statistics.median(first for _, first in cold)
    from config.settings import Settings

    pace = Settings.mattermost_pace  # the default, which serve() keeps
    cold_verdict = "met" if first_median <= 1.0 else "missed"
    return f"""
`bench/mattermost_command.py` measures the time to the visible answer: the HTTP response
of `POST /mattermost/command` with `/pitch <title>`, which Mattermost shows as the answer and
which Storydesk sends only once the story is committed (token check, cached profile, the
command runner's write transaction on a SQLite file, choosing one of three coordinators as
reviewer, with the card and the reviewer's message in the outbox, rendering to
command-response JSON). The server runs as `storydesk run` runs: the outbox dispatcher and
the scheduler's ticks are started too, so the rows each pitch writes are sent to the fake
Mattermost while the requests go on, and the dispatcher's claims and marks take SQLite's
writer between the commands' transactions. The floor, measured in the same run on the same
server: `POST /bench/floor`, a bare Starlette endpoint that inserts one row into a SQLite
file set up as Storydesk's (WAL, synchronous=NORMAL, a connection kept per thread, writers
queued on a lock), commits and answers a text. Each run: {requests} requests to each
endpoint, {concurrency} at a time, in {rounds} interleaved rounds; {len(runs)} runs after
one warm-up, the client in a separate process; every `/pitch` answer must say the story
"is pitched". Latencies and their ratio as p50 / p99 (ms); the server's CPU time per
request read from /proc (the whole process: the dispatcher's sending included, in both
kinds of round).

| run | floor | /pitch | ratio | server CPU ms/request, floor / pitch |
| --- | ---: | ---: | ---: | ---: |
{table}

Median ratio to the floor: p50 {median_p50:.2f}×, p99 {median_p99:.2f}× (runs ranged
{p99_ratios[0]:.2f}–{p99_ratios[-1]:.2f}×); target p99 ≤ 1.5×: {verdict}.

The dispatcher sends at most {pace:g} messages a second to Mattermost
(`STORYDESK_MATTERMOST_PACE`), far fewer than the pitches write, so it sent throughout the
runs. When the server stopped, of the {sum(outbox.values()):,} outbox rows written,
{outbox["sent"]:,} were sent, {outbox["pending"] + outbox["sending"]:,} were waiting and
{outbox["failed"]} had failed.

Cold start: a real `storydesk run` process (fresh SQLite database, migrations, Mattermost
token check, web app, scheduler, dispatcher) is started; the moment its /healthz answers,
one `/pitch` is sent. Time from the start to /healthz, and from /healthz to the first
answer (ms):

| start | to /healthz | first /pitch answered after /healthz |
| --- | ---: | ---: |
{cold_rows}

Median first answer after /healthz: {first_median * 1000:.0f} ms; target ≤ 1 s:
{cold_verdict}. Python {platform.python_version()}, {os.cpu_count()} CPUs shared with other
work, load average {os.getloadavg()[0]:.2f} at the end, {time.strftime('%Y-%m-%d')}.

What separates `/pitch` from the floor is the command's own work, visible in the CPU
column: finding the member, choosing the reviewer, writing the story, its history and its
outbox rows in one transaction, then rendering. SQLite takes one writer at a time, so with
{concurrency} requests in flight the writes queue behind each other, for the floor too.
Answering first and confirming later through the `response_url` would shrink this figure
without making anyone's answer arrive sooner, so the endpoint answers in the response.
"""


def coordinator_ids(ids: str) -> tuple[str, ...]:
    """STORYDESK_COORDINATORS for the comma-separated Mattermost user ids."""
    return tuple(f"mattermost:{user_id}" for user_id in ids.split(","))


def cold_start(fake_url: str, pitch_body: Callable[[], str], headers: dict[str, str],
               coordinators: str, tmp: Path, number: int) -> tuple[float, float]:
    """Start `storydesk run`; seconds to /healthz, then to the first /pitch answer."""
    import httpx

    port = free_port()
    workdir = tmp / f"cold{number}"
    workdir.mkdir()
    env = {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"), "PYTHONPATH": str(ROOT),
        "DATABASE_URL": f"sqlite:///{workdir / 'storydesk.db'}",
        "MATTERMOST_URL": fake_url, "MATTERMOST_BOT_TOKEN": BOT_TOKEN,
        "MATTERMOST_COMMAND_TOKENS": COMMAND_TOKEN, "STORYDESK_PUBLIC_URL": PUBLIC_URL,
        "STORYDESK_HTTP_HOST": "127.0.0.1", "STORYDESK_HTTP_PORT": str(port),
        "STORYDESK_LOG_LEVEL": "WARNING",
        "STORYDESK_COORDINATORS": ",".join(coordinator_ids(coordinators)),
    }
    log = workdir / "run.log"
    started = time.perf_counter()
    with log.open("wb") as output:
        child = subprocess.Popen([sys.executable, "-m", "bot.cli", "run"], env=env,
                                 cwd=workdir, stdout=subprocess.DEVNULL, stderr=output)
    base = f"http://127.0.0.1:{port}"
    try:
        wait_healthy(base, child, timeout=60, log=log.read_text)
        healthy = time.perf_counter()
        with httpx.Client(timeout=10) as client:
            response = client.post(f"{base}/mattermost/command", content=pitch_body(),
                                   headers=headers)
            answered = time.perf_counter()
            if response.status_code != 200 or PITCHED not in response.text:
                raise RuntimeError(f"first /pitch answered {response.status_code}: "
                                   f"{response.text}")
    finally:
        child.terminate()
        child.wait(timeout=30)
    return healthy - started, answered - healthy


def run(requests: int, concurrency: int, rounds: int, repeat: int, starts: int,
        readme: Path) -> int:
    import itertools
    from urllib.parse import urlencode

    from tests.mattermost.fake_server import FakeMattermost

    fake = FakeMattermost().start()
    bot = fake.add_user("storydesk", "Storydesk", bot=True, token=BOT_TOKEN)
    dana = fake.add_user("dana", "Dana", "Kim", timezone="Europe/Berlin")
    emil = fake.add_user("emil", "Emil", "Larsen")
    # three coordinators, so that a pitch chooses its reviewer and writes them a message
    coordinators = ",".join(fake.add_user(name, name.title(), timezone="Europe/Berlin")
                            for name in ("ada", "ben", "chloe"))
    people = [bot, dana, emil, *coordinators.split(",")]
    team = fake.add_team("lab", people)
    channel = fake.add_channel(team, "storydesk-team", people)
    fake.add_channel(team, "general", people)
    numbers = itertools.count(1)

    def pitch_body() -> str:
        return urlencode({
            "channel_id": channel, "channel_name": "storydesk-team", "command": "/pitch",
            "response_url": f"{fake.url}/hooks/commands/{'h' * 26}", "team_domain": "lab",
            "team_id": team, "text": f"Benchmark story {next(numbers)} #scicomm -- a summary",
            "token": "", "trigger_id": "t", "user_id": emil, "user_name": "emil",
        })

    headers = {"Content-Type": "application/x-www-form-urlencoded",
               "Authorization": f"Token {COMMAND_TOKEN}"}
    with tempfile.TemporaryDirectory() as tmp:
        port_file = Path(tmp) / "port"
        child = subprocess.Popen(
            [sys.executable, __file__, "--serve", str(port_file), fake.url,
             str(Path(tmp) / "bench.db"), dana, coordinators],
            env={**os.environ, "PYTHONPATH": str(ROOT)},
        )
        try:
            deadline = time.monotonic() + 60
            while not port_file.exists() or not port_file.read_text():
                if child.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError("the benchmark server did not start")
                time.sleep(0.05)
            base = f"http://127.0.0.1:{port_file.read_text()}"
            targets = {"floor": (f"{base}/bench/floor", FLOOR_ANSWER),
                       "mattermost": (f"{base}/mattermost/command", PITCHED)}
            for url, expected in targets.values():  # warm-up: connections, caches, code
                asyncio.run(measure(url, expected, pitch_body, headers, 40, concurrency))
            runs = [measure_run(targets, pitch_body, headers, requests, concurrency, rounds,
                                child.pid) for _ in range(repeat)]
        finally:
            child.terminate()
            child.wait(timeout=30)
        outbox = outbox_statuses(Path(tmp) / "bench.db")
        try:
            cold = [cold_start(fake.url, pitch_body, headers, coordinators, Path(tmp), n)
                    for n in range(starts)]
        finally:
            fake.stop()
    text = report(runs, cold, outbox, requests, concurrency, rounds)
    write_section(SECTION, text, readme)
    print(text.strip())
    return 0


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=200)
    parser.add_argument("--concurrency", type=int, default=8)
    parser.add_argument("--rounds", type=int, default=4)
    parser.add_argument("--repeat", type=int, default=3, help="independent runs")
    parser.add_argument("--starts", type=int, default=3, help="cold starts of storydesk run")
    parser.add_argument("--readme", type=Path, default=ROOT / "bench" / "README.md")
    parser.add_argument("--serve", nargs=5,
                        metavar=("PORT_FILE", "MM_URL", "DB", "USER", "COORDINATORS"),
                        help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.serve:
        port_file, url, database, user, coordinators = args.serve
        serve(Path(port_file), url, Path(database), user, coordinators)
        return 0
    if args.requests < 200:
        parser.error("measure at least 200 requests per endpoint")
    return run(args.requests, args.concurrency, args.rounds, args.repeat, args.starts,
               args.readme)


if __name__ == "__main__":
    raise SystemExit(main())
