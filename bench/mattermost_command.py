"""Benchmark: the time to the visible answer of a Mattermost `/pitch`, against a floor.

What a person feels is the HTTP response of their command: Mattermost shows it as the
answer. Here that answer comes only after the story is committed. Two measurements:

1. Steady state. The web app is the real one (`build_runtime` + `create_web_app`, SQLite
   file database, uvicorn), run in a child process. Each request is a `/pitch <title>`
   that creates a story (a write transaction with its outbox rows) and answers. The floor,
   measured in the same run on the same server, is `POST /bench/floor`: a bare Starlette
   endpoint that inserts one row into a SQLite file (WAL), commits and answers a text.
   Both get the same number of requests, 8 at a time, in interleaved rounds.
2. Cold start. A real `storydesk run` process is started; as soon as its /healthz answers,
   one `/pitch` is sent: the time to that first answer.

A local fake Mattermost answers the API calls (the token check, user profiles, cached after
the first request, the cards). p50, p99, their ratios and the cold-start figures go to the
"Mattermost commands" section of bench/README.md.

    .venv/bin/python bench/mattermost_command.py [--requests 200] [--concurrency 8]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import platform
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
from benchlib import percentile, write_section  # noqa: E402

from tests.processes import free_port, wait_healthy  # noqa: E402

COMMAND_TOKEN = "benchcommandtoken000000000"
BOT_TOKEN = "benchbottoken0000000000000"
SECTION = "Mattermost commands"
PUBLIC_URL = "https://storydesk.bench.example"


# --- the server side (child process) ----------------------------------------------------


def serve(port_file: Path, mattermost_url: str, database: Path, dana: str) -> None:
    import sqlite3
    import threading

    import uvicorn
    from starlette.requests import Request
    from starlette.responses import PlainTextResponse, Response
    from starlette.routing import Route

    from bot.commands import Caller
    from bot.runtime import build_runtime
    from bot.web import create_web_app
    from config.settings import Settings

    settings = Settings(
        database_url=f"sqlite:///{database}", mattermost_url=mattermost_url,
        mattermost_bot_token=BOT_TOKEN, mattermost_command_tokens=(COMMAND_TOKEN,),
        public_url=PUBLIC_URL, log_level="WARNING",
    )
    runtime = build_runtime(settings)
    author = Caller("mattermost", dana, "Dana Kim")
    from datetime import UTC, datetime

    for title in ("Muon tomography", "Open day", "Detector upgrade", "Summer students",
                  "Dark matter search"):
        runtime.runner.run(author, "pitch", f"{title} #scicomm -- a summary", datetime.now(UTC))

    floor_db = database.with_name("floor.db")
    setup = sqlite3.connect(floor_db)
    setup.execute("PRAGMA journal_mode=WAL")
    setup.execute("CREATE TABLE note (id INTEGER PRIMARY KEY, body TEXT, at REAL)")
    setup.close()
    local = threading.local()

    def floor(request: Request) -> Response:
        """The floor: insert a row into SQLite, commit, answer (in Starlette's threads)."""
        connection = getattr(local, "connection", None)
        if connection is None:
            connection = sqlite3.connect(floor_db, timeout=30, isolation_level=None)
            connection.execute("PRAGMA synchronous=NORMAL")
            local.connection = connection
        connection.execute("BEGIN IMMEDIATE")
        connection.execute("INSERT INTO note (body, at) VALUES (?, ?)", ("pitch", time.time()))
        connection.execute("COMMIT")
        return PlainTextResponse("ok")

    app = create_web_app(runtime, extra_routes=[Route("/bench/floor", floor, methods=["POST"])])
    listener = socket.socket()
    listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    listener.bind(("127.0.0.1", 0))
    port_file.write_text(str(listener.getsockname()[1]))
    config = uvicorn.Config(app, log_level="warning", access_log=False)
    uvicorn.Server(config).run(sockets=[listener])


# --- the load side (parent process) ------------------------------------------------------


async def measure(url: str, body: Callable[[], str], headers: dict[str, str], count: int,
                  concurrency: int) -> list[float]:
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
                if response.status_code != 200 or "wrong on our side" in response.text:
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


def measure_run(targets: dict[str, str], body: Callable[[], str], headers: dict[str, str],
                requests: int, concurrency: int, rounds: int, pid: int) -> Run:
    latencies: dict[str, list[float]] = {name: [] for name in targets}
    cpu = dict.fromkeys(targets, 0.0)
    per_round = -(-requests // rounds)
    for _ in range(rounds):
        for name, url in targets.items():
            before = server_cpu(pid)
            latencies[name] += asyncio.run(measure(url, body, headers, per_round, concurrency))
            cpu[name] += server_cpu(pid) - before
    return {name: (latencies[name], cpu[name]) for name in targets}


def report(runs: list[Run], cold: list[tuple[float, float]], requests: int, concurrency: int,
           rounds: int) -> str:
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
    cold_verdict = "met" if first_median <= 1.0 else "missed"
    return f"""
`bench/mattermost_command.py` measures the time to the visible answer: the HTTP response
of `POST /mattermost/command` with `/pitch <title>`, which Mattermost shows as the answer and
which Storydesk sends only once the story is committed (token check, cached profile, the
command runner's write transaction on a SQLite file, with the card and notices in the
outbox, rendering to command-response JSON). The floor, measured in the same run on the
same uvicorn server: `POST /bench/floor`, a bare Starlette endpoint that inserts one row into
a SQLite file (WAL), commits and answers a text. Each run: {requests} requests to each
endpoint, {concurrency} at a time, in {rounds} interleaved rounds; {len(runs)} runs after
one warm-up, the client in a separate process. Latencies and their ratio as p50 / p99 (ms);
the server's CPU time per request read from /proc.

| run | floor | /pitch | ratio | server CPU ms/request, floor / pitch |
| --- | ---: | ---: | ---: | ---: |
{table}

Median ratio to the floor: p50 {median_p50:.2f}×, p99 {median_p99:.2f}× (runs ranged
{p99_ratios[0]:.2f}–{p99_ratios[-1]:.2f}×); target p99 ≤ 1.5×: {verdict}.

Cold start: a real `storydesk run` process (fresh SQLite database, migrations, Mattermost
token check, web app, scheduler) is started; the moment its /healthz answers, one `/pitch`
is sent. Time from the start to /healthz, and from /healthz to the first answer (ms):

| start | to /healthz | first /pitch answered after /healthz |
| --- | ---: | ---: |
{cold_rows}

Median first answer after /healthz: {first_median * 1000:.0f} ms; target ≤ 1 s:
{cold_verdict}. Python {platform.python_version()}, {os.cpu_count()} CPUs shared with other
work, load average {os.getloadavg()[0]:.2f} at the end, {time.strftime('%Y-%m-%d')}.

What separates `/pitch` from the floor is the command's own work, visible in the CPU
column: finding the member, choosing the reviewer, writing the story, its history and its
outbox rows in one transaction, then rendering. SQLite takes one writer at a time, so with
8 requests in flight the writes queue behind each other, for the floor too. Answering
first and confirming later through the `response_url` would shrink this figure without
making anyone's answer arrive sooner, so the endpoint answers in the response.
"""


def cold_start(fake_url: str, pitch_body: Callable[[], str], headers: dict[str, str],
               tmp: Path, number: int) -> tuple[float, float]:
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
            if response.status_code != 200 or "is pitched" not in response.text:
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
    team = fake.add_team("lab", [bot, dana, emil])
    channel = fake.add_channel(team, "storydesk-team", [bot, dana, emil])
    fake.add_channel(team, "general", [bot, dana, emil])
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
             str(Path(tmp) / "bench.db"), dana],
            env={**os.environ, "PYTHONPATH": str(ROOT)},
        )
        try:
            deadline = time.monotonic() + 60
            while not port_file.exists() or not port_file.read_text():
                if child.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError("the benchmark server did not start")
                time.sleep(0.05)
            base = f"http://127.0.0.1:{port_file.read_text()}"
            targets = {"floor": f"{base}/bench/floor",
                       "mattermost": f"{base}/mattermost/command"}
            for url in targets.values():  # warm-up: connections, caches, code paths
                asyncio.run(measure(url, pitch_body, headers, 40, concurrency))
            runs = [measure_run(targets, pitch_body, headers, requests, concurrency, rounds,
                                child.pid) for _ in range(repeat)]
        finally:
            child.terminate()
            child.wait(timeout=30)
        try:
            cold = [cold_start(fake.url, pitch_body, headers, Path(tmp), n)
                    for n in range(starts)]
        finally:
            fake.stop()
    text = report(runs, cold, requests, concurrency, rounds)
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
    parser.add_argument("--serve", nargs=4, metavar=("PORT_FILE", "MM_URL", "DB", "USER"),
                        help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.serve:
        port_file, url, database, user = args.serve
        serve(Path(port_file), url, Path(database), user)
        return 0
    if args.requests < 200:
        parser.error("measure at least 200 requests per endpoint")
    return run(args.requests, args.concurrency, args.rounds, args.repeat, args.starts,
               args.readme)


if __name__ == "__main__":
    raise SystemExit(main())
