"""Benchmark: a fan-out of direct messages through a rate-limited Slack-like Web API, and
how late due reminders arrive.

Two processes on 127.0.0.1. The server (this file with `--serve`) plays the Slack Web API's
`chat.postMessage`: at most RATE calls in any second, at most one a second per channel, and
10 % of calls answered 429 with `Retry-After: 1` at random; a call over either limit is
answered 429 too. Every call counts against the limits, refused or not, so a client that
sends again at once after a 429 only draws more of them. It records every accepted message.

The client is what `storydesk run` runs for delivery: the real Slack transport
(bot/slack/transport.py, slack_sdk's WebClient pointed at the server), the outbox
dispatcher in its worker thread with a pace of RATE calls a second and one a second per
channel, on a SQLite file.

1. Fan-out: MESSAGES direct messages to as many members, all due at once. Wall time from
   the start to the last accepted message, against the floor MESSAGES / RATE; messages lost
   and duplicated (each message carries its outbox id).
2. Lateness: REMINDERS reviewer nudges whose moments fall due spread over WINDOW seconds,
   found by the scheduler's real tick (APScheduler, every TICK seconds) and delivered by
   the same worker: accepted time minus the moment each fell due.

    .venv/bin/python bench/fanout.py [--messages 2000] [--reminders 200] [--tick 30]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import random
import re
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from collections import Counter, deque
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
from benchlib import percentile, write_section  # noqa: E402

SECTION = "Fan-out"
RATE = 50.0
CHANNEL_RATE = 1.0  # calls a second the server takes to one channel (a person's DM)
PACE = RATE * 0.98  # headroom: round trips jitter, and the server counts any second
TOKEN = re.compile(rb"bench-(\d+)-")


# --- the server ------------------------------------------------------------------------------


class Limits:
    def __init__(self, rate: float, throttle_share: float, seed: int,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.rate = rate
        self.clock = clock
        self.throttle_share = throttle_share
        self.rng = random.Random(seed)
        self.window: deque[float] = deque()
        self.last_by_channel: dict[str, float] = {}
        self.lock = threading.Lock()
        self.accepted: list[tuple[int, float]] = []
        self.calls = Counter[str]()

    def decide(self, channel: str, token: int | None) -> str:
        """Accept or refuse one call. The call counts against both limits whatever the
        answer: a refused call uses up its place in the second like an accepted one."""
        with self.lock:
            now = self.clock()
            self.calls["total"] += 1
            while self.window and now - self.window[0] >= 1.0:
                self.window.popleft()
            over_rate = len(self.window) >= self.rate
            over_channel = now - self.last_by_channel.get(channel, -10.0) < 1.0
            self.window.append(now)
            self.last_by_channel[channel] = now
            if self.rng.random() < self.throttle_share:
                self.calls["injected_429"] += 1
                return "429"
            if over_rate:
                self.calls["rate_429"] += 1
                return "429"
            if over_channel:
                self.calls["channel_429"] += 1
                return "429"
            self.calls["accepted"] += 1
            if token is not None:
                self.accepted.append((token, time.time()))
            return "ok"


def serve(port_file: Path, rate: float, throttle_share: float) -> None:
    limits = Limits(rate, throttle_share, seed=20261123)
    counter = iter(range(1, 10**9))

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, format: str, *args: Any) -> None:
            return

        def reply(self, status: int, body: dict[str, Any], headers: dict[str, str]) -> None:
            data = json.dumps(body).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            for name, value in headers.items():
                self.send_header(name, value)
            self.end_headers()
            self.wfile.write(data)

        def do_GET(self) -> None:
            if self.path == "/bench/stats":
                with limits.lock:
                    body = {"accepted": limits.accepted, "calls": dict(limits.calls)}
                self.reply(200, body, {})
            else:
                self.reply(404, {"ok": False}, {})

        def do_POST(self) -> None:
            raw = self.rfile.read(int(self.headers.get("Content-Length") or 0))
            if not self.path.endswith("chat.postMessage"):
                self.reply(200, {"ok": True}, {})
                return
            try:
                channel = str(json.loads(raw).get("channel", ""))
            except ValueError:
                channel = ""
            match = TOKEN.search(raw)
            verdict = limits.decide(channel, int(match.group(1)) if match else None)
            if verdict == "429":
                self.reply(429, {"ok": False, "error": "ratelimited"}, {"Retry-After": "1"})
                return
            dm = "D" + channel[1:] if channel.startswith("U") else channel
            self.reply(
                200, {"ok": True, "channel": dm, "ts": f"1700000000.{next(counter):06d}"}, {}
            )

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    port_file.write_text(str(server.server_address[1]))
    server.serve_forever()


# --- the client -----------------------------------------------------------------------------


def stats(url: str) -> dict[str, Any]:
    with urllib.request.urlopen(f"{url}/bench/stats", timeout=10) as response:
        data: dict[str, Any] = json.load(response)
        return data


def build(database: Path, url: str, tick: int) -> Any:
    from bot.delivery.dispatcher import Dispatcher
    from bot.slack.client import make_web_client
    from bot.slack.transport import SlackTransport
    from handlers.context import Policy, ReminderRules
    from storage.db import make_engine
    from storage.migrate import upgrade

    engine = make_engine(f"sqlite:///{database}")
    upgrade(engine)
    client = make_web_client("xoxb-bench", f"{url}/api/", timeout=20, retry=False)
    transport = SlackTransport(client, {"team": "C0TEAM", "group": "C0GROUP"})
    dispatcher = Dispatcher(
        engine,
        {"slack": transport},
        owner="bench",
        lease_seconds=120,
        send_timeout_seconds=20,
        pace={"slack": PACE},
        channel_pace={"slack": CHANNEL_RATE},  # as `storydesk run` paces Slack's channels
    )
    rules = ReminderRules(
        working_days=(0, 1, 2, 3, 4, 5, 6),
        quiet_start=None,
        quiet_end=None,
        late_after_seconds=max(300, 3 * tick),
    )
    policy = Policy(
        timezone="Europe/Berlin", cadence=(), channel_platforms=("slack",), reminders=rules
    )
    return engine, dispatcher, policy


def fan_out(engine: Any, count: int) -> dict[int, int]:
    """`count` DMs to as many members, all due now; outbox id -> token."""
    from handlers.outbox import enqueue
    from handlers.reply import Paragraph, Reply
    from storage.db import write_session
    from storage.models import Member

    now = datetime.now(UTC)
    tokens: dict[int, int] = {}
    with write_session(engine) as session:
        for index in range(count):
            member = Member(
                platform="slack",
                user_id=f"U{index:07d}",
                display_name=f"Member {index}",
                created_at=now,
            )
            session.add(member)
            session.flush()
            reply = Reply(
                text=f"bench-{index}- The open day needs you: sign up for a slot.",
                blocks=(Paragraph("Open day on Saturday; tours every hour."),),
            )
            row = enqueue(
                session,
                key=f"fan-out:{index}",
                platform="slack",
                reply=reply,
                now=now,
                member=member,
            )
            assert row is not None and row.id is not None
            tokens[row.id] = index
    return tokens


def due_reviews(
    engine: Any, count: int, start: float, window: float, first: int
) -> dict[int, float]:
    """Drafts in review whose nudges fall due spread over `window` seconds from `start`:
    token -> the wall time the nudge is due."""
    from storage.db import write_session
    from storage.models import Member, Story

    due: dict[int, float] = {}
    with write_session(engine) as session:
        for index in range(count):
            token = first + index
            created = datetime.now(UTC) - timedelta(days=10)
            reviewer = Member(
                platform="slack",
                user_id=f"UREV{index:05d}",
                display_name=f"Reviewer {index}",
                role="coordinator",
                created_at=created,
            )
            author = Member(
                platform="slack",
                user_id=f"UAUT{index:05d}",
                display_name=f"Author {index}",
                created_at=created,
            )
            session.add(reviewer)
            session.add(author)
            session.flush()
            assert reviewer.id is not None and author.id is not None
            moment = start + window * index / count
            submitted = datetime.fromtimestamp(moment, UTC) - timedelta(days=3)
            session.add(
                Story(
                    title=f"bench-{token}- Story {index}",
                    author_id=author.id,
                    reviewer_id=reviewer.id,
                    state="in_review",
                    draft_link=f"https://docs.example.org/d/{index}",
                    created_at=created,
                    state_changed_at=submitted,
                )
            )
            due[token] = moment
    return due


def run(args: argparse.Namespace) -> str:
    from bot.delivery.dispatcher import DispatcherWorker
    from bot.delivery.scheduler import Ticker, reminder_job

    folder = Path(tempfile.mkdtemp(prefix="storydesk-bench-"))
    port_file = folder / "port"
    server = subprocess.Popen(
        [sys.executable, __file__, "--serve", str(port_file), "--rate", str(RATE)],
        env={**os.environ, "PYTHONPATH": str(ROOT)},
    )
    try:
        deadline = time.monotonic() + 30
        while not (port_file.exists() and port_file.read_text()):
            if time.monotonic() > deadline or server.poll() is not None:
                raise RuntimeError("the fake Slack server did not start")
            time.sleep(0.05)
        url = f"http://127.0.0.1:{port_file.read_text()}"
        engine, dispatcher, policy = build(folder / "bench.db", url, args.tick)

        # 1. Fan-out ------------------------------------------------------------------
        tokens = fan_out(engine, args.messages)
        worker = DispatcherWorker(dispatcher, idle_seconds=1.0)
        started = time.time()
        worker.start()
        give_up = time.monotonic() + max(600, 4 * args.messages / RATE)
        while time.monotonic() < give_up:
            accepted = stats(url)["accepted"]
            if len({t for t, _ in accepted if t < args.messages}) >= args.messages:
                break
            time.sleep(0.25)
        snapshot = stats(url)
        fan = [(t, at) for t, at in snapshot["accepted"] if t < args.messages]
        received = Counter(t for t, _ in fan)
        wall = max(at for _, at in fan) - started
        floor = args.messages / RATE
        lost = args.messages - len(received)
        duplicated = sum(n - 1 for n in received.values())
        calls = snapshot["calls"]
        del tokens

        # 2. Lateness of due reminders ------------------------------------------------------
        start = time.time() + 5
        due = due_reviews(engine, args.reminders, start, args.window, first=args.messages)
        ticker = Ticker([reminder_job(engine, policy)], args.tick, worker.wake)
        ticker.start()
        give_up = time.monotonic() + args.window + 3 * args.tick + 60
        while time.monotonic() < give_up:
            nudged = {t for t, _ in stats(url)["accepted"] if t in due}
            if len(nudged) >= len(due):
                break
            time.sleep(0.5)
        ticker.stop()
        worker.stop()
        nudges = [(t, at) for t, at in stats(url)["accepted"] if t in due]
        first_seen: dict[int, float] = {}
        for token, at in nudges:
            first_seen[token] = min(at, first_seen.get(token, at))
        lateness = [first_seen[t] - due[t] for t in first_seen]
        late_lost = len(due) - len(first_seen)
        engine.dispose()
    finally:
        server.terminate()
        server.wait(10)

    ratio = wall / floor
    # The server counts refused calls against its rate too: no client can beat this.
    calls_floor = max(calls.get("total", 0), 1) / RATE
    against_calls = f"{calls_floor:.1f} s; {wall / calls_floor:.3f}"
    p50, p99 = percentile(lateness, 0.5), percentile(lateness, 0.99)
    target = args.tick + 2
    load = os.getloadavg()[0]
    verdict = "met" if ratio <= 1.15 else "missed"
    late_verdict = "met" if p99 <= target and not late_lost else "missed"
    refused = (
        f"{calls.get('total', 0):,} / {calls.get('injected_429', 0)}, "
        f"{calls.get('rate_429', 0)}, {calls.get('channel_429', 0)}"
    )
    late_row = (
        f"| {args.reminders} | {p50:.1f} s | {p99:.1f} s | {max(lateness):.1f} s | "
        f"{late_lost} | ≤ {target} s ({late_verdict}) |"
    )
    pauses = calls.get("total", 0) - calls.get("accepted", 0)
    return f"""
`bench/fanout.py`: {args.messages:,} direct messages to as many members, all due at once,
through the real Slack transport (`bot/slack/transport.py`, slack_sdk's WebClient) and the
outbox dispatcher's worker thread (4 sends side by side, claims of 100, the dispatcher's
`pace` option set to {PACE:.0f} calls/s, a little under the server's {RATE:.0f} so that
jitter in the round trips does not push a second over the limit, and its channel pace to
{CHANNEL_RATE:.0f} a second, as `storydesk run` sets it for Slack) on a SQLite file, to a
Slack-like server in another process that accepts at most {RATE:.0f} calls in any second
and one a second per channel, and answers 10 % of calls 429 with `Retry-After: 1` at
random. Every call counts against the server's limits, refused or not, as the dispatcher
assumes Slack counts them.

| | figure |
| --- | ---: |
| messages | {args.messages:,} |
| wall time, start to last message accepted | {wall:.1f} s |
| floor, messages ÷ rate | {floor:.1f} s |
| ratio | **{ratio:.3f}** (target ≤ 1.15: {verdict}) |
| floor of the calls made, refused ones included (calls ÷ rate); ratio | {against_calls} |
| messages accepted a second, on average | {args.messages / wall:.1f} |
| messages lost | {lost} |
| messages duplicated | {duplicated} |
| calls made / answered 429 (injected, over the rate, per channel) | {refused} |

What the dispatcher does with a 429 (bot/delivery/dispatcher.py): the message goes back to
the outbox, due again after its `Retry-After` plus a random spread of up to a second, and
no thread sleeps; and what was refused waits until the `Retry-After` has passed
(`Pacer.hold`), since a refused call counts against the limit and sending on would only
draw more refusals. A refused `chat.postMessage` holds back its channel (here the person's
DM), which Slack limits on its own; the other sends go on at the pace, which the refused
calls used up as well, unless refusals become a quarter of the last two seconds' calls:
then no thread sends to Slack until the `Retry-After`. {calls.get("total", 0):,} calls
were made for {args.messages:,} messages, and {pauses:,} were refused:
{calls.get("injected_429", 0):,} at random, {calls.get("rate_429", 0)} over the rate,
{calls.get("channel_429", 0)} over a channel's limit. The fan-out ran at
{args.messages / wall:.1f} messages a second against a pace of {PACE:.0f} calls:
refused calls cost time, never a message.

Lateness of due reminders: {args.reminders} reviewer nudges falling due spread over
{args.window:.0f} s, found by the scheduler's tick (APScheduler, every {args.tick} s) and
delivered by the same worker; lateness = accepted by the server − moment due.

| reminders | p50 | p99 | max | lost | target p99 |
| ---: | ---: | ---: | ---: | ---: | ---: |
{late_row}

A reminder waits for the next tick (up to {args.tick} s); the tick's reminders then go out
at the pace, and a refused one waits for its `Retry-After`, as in the fan-out. The
tick interval is the price of keeping APScheduler stateless. Python {platform.python_version()},
{os.cpu_count()} CPUs, load average {load:.2f} at the end, {datetime.now(UTC):%Y-%m-%d}.
"""


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else "")
    parser.add_argument("--serve", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--rate", type=float, default=RATE, help=argparse.SUPPRESS)
    parser.add_argument("--messages", type=int, default=2000)
    parser.add_argument("--reminders", type=int, default=200)
    parser.add_argument("--window", type=float, default=40.0)
    parser.add_argument("--tick", type=int, default=30)
    parser.add_argument("--readme", type=Path, default=ROOT / "bench" / "README.md")
    parser.add_argument("--no-write", action="store_true")
    args = parser.parse_args()
    if args.serve:
        serve(args.serve, args.rate, throttle_share=0.10)
        return 0
    text = run(args)
    print(text)
    if not args.no_write:
        write_section(SECTION, text, args.readme)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
