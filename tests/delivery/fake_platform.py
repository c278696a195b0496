"""A local chat platform for delivery tests, and a small httpx Transport that talks to it.

The server answers `POST /api/chat.postMessage` (JSON: channel, text, outbound_id) like a
Slack-shaped API: `{"ok": true, "channel": ..., "ts": ...}`. It records every accepted
message, and can be told to allow only `rate_limit` calls a second (429 beyond), to answer a
share of calls with 429 + Retry-After, to refuse some
channels for good (`{"ok": false, "error": "channel_not_found"}`), to hold each answer for
a while (`delay`), or to stop listening altogether and come back on the same port.
"""

from __future__ import annotations

import contextlib
import itertools
import json
import random
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler
from typing import Any

import httpx

from bot.delivery.transport import Delivery, PermanentFailure, SendResult, TemporaryFailure
from tests.fake_http import FakeHTTPServer

PERMANENT_ERRORS = frozenset({"channel_not_found", "user_not_found", "not_in_channel",
                              "is_archived", "account_inactive"})


@dataclass
class Received:
    outbound_id: int
    channel: str
    text: str
    at: float  # time.time() when the server accepted it


@dataclass
class PlatformState:
    received: list[Received] = field(default_factory=list)
    calls: int = 0
    throttled: int = 0
    refused: int = 0
    gone: set[str] = field(default_factory=set)
    throttle_share: float = 0.0
    retry_after: float = 1.0
    delay: float = 0.0
    rate_limit: float = 0.0  # calls allowed in any one second; 0: no limit
    recent: list[float] = field(default_factory=list)  # monotonic times of recent calls
    rng: random.Random = field(default_factory=lambda: random.Random(7))
    lock: threading.Lock = field(default_factory=threading.Lock)
    counter: itertools.count[int] = field(default_factory=lambda: itertools.count(1))

    def ids(self) -> list[int]:
        with self.lock:
            return [r.outbound_id for r in self.received]


class _Handler(BaseHTTPRequestHandler):
    state: PlatformState

    def log_message(self, format: str, *args: Any) -> None:
        return

    def do_POST(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        body = json.loads(self.rfile.read(length) or b"{}")
        state = self.state
        channel = str(body.get("channel", ""))
        with state.lock:
            state.calls += 1
            moment = time.monotonic()
            state.recent = [t for t in state.recent if moment - t < 1.0]
            state.recent.append(moment)
            if state.rate_limit and len(state.recent) > state.rate_limit:
                state.throttled += 1
                answer: tuple[int, dict[str, Any], dict[str, str]] = (
                    429, {"ok": False, "error": "ratelimited"}, {"Retry-After": "1"})
            elif state.throttle_share and state.rng.random() < state.throttle_share:
                state.throttled += 1
                answer = (429, {"ok": False, "error": "ratelimited"},
                          {"Retry-After": str(state.retry_after)})
            elif channel in state.gone:
                state.refused += 1
                answer = (200, {"ok": False, "error": "channel_not_found"}, {})
            else:
                ts = f"{time.time():.6f}-{next(state.counter)}"
                state.received.append(Received(int(body.get("outbound_id", 0)), channel,
                                               str(body.get("text", "")), time.time()))
                answer = (200, {"ok": True, "channel": channel, "ts": ts}, {})
        if state.delay:
            time.sleep(state.delay)
        status, payload, headers = answer
        data = json.dumps(payload).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        for name, value in headers.items():
            self.send_header(name, value)
        self.end_headers()
        # A client killed while waiting (SIGKILL test): its message arrived all the same.
        with contextlib.suppress(BrokenPipeError, ConnectionResetError):
            self.wfile.write(data)


class FakePlatform:
    """Start with `start()`; `stop()` closes the port, `start()` again reopens the same one."""

    def __init__(self, state: PlatformState | None = None, port: int = 0) -> None:
        self.state = state or PlatformState()
        self.port = port
        self._server: FakeHTTPServer | None = None
        self._thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> FakePlatform:
        handler = type("Handler", (_Handler,), {"state": self.state})
        server = FakeHTTPServer(("127.0.0.1", self.port), handler)
        server.daemon_threads = True
        self.port = server.server_address[1]
        self._server = server
        self._thread = threading.Thread(target=server.serve_forever, daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None


class HttpTransport:
    """A Transport for the fake platform: DMs go to the user id, posts to the channel name."""

    def __init__(self, base_url: str, platform: str = "fake", timeout: float = 5.0) -> None:
        self.platform = platform
        self.client = httpx.Client(base_url=base_url, timeout=timeout)

    def send(self, delivery: Delivery) -> SendResult:
        channel = (delivery.recipient.user_id if delivery.recipient is not None
                   else delivery.channel or "team")
        try:
            response = self.client.post("/api/chat.postMessage", json={
                "channel": channel, "text": delivery.reply.text,
                "outbound_id": delivery.outbound_id})
        except httpx.HTTPError as error:  # refused, reset, timed out
            raise TemporaryFailure(f"{type(error).__name__}: {error}") from error
        if response.status_code == 429:
            raise TemporaryFailure("rate limited",
                                   float(response.headers.get("Retry-After", "30")))
        if response.status_code >= 500:
            raise TemporaryFailure(f"HTTP {response.status_code}")
        body = response.json()
        if not body.get("ok"):
            code = str(body.get("error", "unknown"))
            if code in PERMANENT_ERRORS:
                raise PermanentFailure(code)
            raise TemporaryFailure(code)
        dm = str(body["channel"]) if delivery.recipient is not None else None
        return SendResult(str(body["ts"]), channel_id=str(body["channel"]), dm_channel=dm)

    def close(self) -> None:
        self.client.close()
