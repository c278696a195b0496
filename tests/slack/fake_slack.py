"""A local stand-in for the Slack Web API, driven through the real slack_sdk clients.

It records every call (method, parameters, headers), answers the methods Storydesk uses
with Slack-shaped bodies, and can be told to answer a method with an error, a 429 with
Retry-After, a 5xx page, or to be slow: a fixed delay per call, or a gate that holds every
call until the test opens it. Response URLs and file uploads land here too
(`/response/...`, `/upload/...`), so nothing ever leaves 127.0.0.1.
"""

from __future__ import annotations

import itertools
import json
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler
from typing import Any
from urllib.parse import parse_qs, urlparse

from tests.fake_http import FakeHTTPServer

Body = dict[str, Any]


@dataclass
class Call:
    method: str
    params: dict[str, Any]
    headers: dict[str, str]
    finished: threading.Event = field(default_factory=threading.Event)
    answer: Answer | None = None  # what the fake answered, once it has

    @property
    def accepted(self) -> bool:
        """Answered, and not with an error: Slack took it."""
        answer = self.answer
        if answer is None or answer.status != 200:
            return False
        return not (isinstance(answer.body, dict) and answer.body.get("ok") is False)


@dataclass
class Answer:
    status: int = 200
    body: Body | str = field(default_factory=lambda: {"ok": True})
    headers: dict[str, str] = field(default_factory=dict)


def error(code: str, status: int = 200) -> Answer:
    return Answer(status, {"ok": False, "error": code})


def rate_limited(retry_after: int) -> Answer:
    return Answer(429, {"ok": False, "error": "ratelimited"}, {"Retry-After": str(retry_after)})


def server_error(status: int = 503) -> Answer:
    return Answer(status, "<html><body>Service Unavailable</body></html>",
                  {"Content-Type": "text/html"})


class FakeSlack:
    def __init__(self) -> None:
        self.calls: list[Call] = []
        self.users: dict[str, Body] = {}
        self.bad_tokens: dict[str, str] = {}
        self.socket_url = ""
        self.delay = 0.0
        self.gate = threading.Event()
        self.gate.set()
        self._scripts: dict[str, list[Answer]] = {}
        self._lock = threading.Lock()
        self._ts = itertools.count(1)
        self._files = itertools.count(1)
        self._changed = threading.Condition(self._lock)
        self._server = FakeHTTPServer(("127.0.0.1", 0), self._handler_class())
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever,
                                        kwargs={"poll_interval": 0.05}, daemon=True)

    # --- life cycle ---------------------------------------------------------------------

    def start(self) -> FakeSlack:
        self._thread.start()
        return self

    def stop(self) -> None:
        self.gate.set()
        self._server.shutdown()
        self._server.server_close()

    @property
    def root(self) -> str:
        host, port = self._server.server_address[:2]
        return f"http://{host!s}:{port}"

    @property
    def api_url(self) -> str:
        """What WebClient wants as base_url (with the trailing slash)."""
        return self.root + "/api/"

    def response_url(self, name: str = "1") -> str:
        return f"{self.root}/response/{name}"

    # --- scripting ----------------------------------------------------------------------

    def add_user(self, user_id: str, name: str, tz: str = "Europe/Berlin",
                 real_name: str | None = None, display_name: str | None = None) -> None:
        self.users[user_id] = {
            "id": user_id, "name": name.lower(), "real_name": real_name or name, "tz": tz,
            "tz_label": "Central European Time", "tz_offset": 3600, "deleted": False,
            "is_bot": False, "locale": "en-GB",
            "profile": {"display_name": display_name if display_name is not None else name,
                        "real_name": real_name or name},
        }

    def script(self, method: str, *answers: Answer) -> None:
        """Answer the next calls to `method` with these, in order, then as usual."""
        with self._lock:
            self._scripts.setdefault(method, []).extend(answers)

    def hold(self) -> None:
        """Every call from now on waits until `release()`."""
        self.gate.clear()

    def release(self) -> None:
        self.gate.set()

    # --- inspection ---------------------------------------------------------------------

    def calls_to(self, method: str) -> list[Call]:
        with self._lock:
            return [call for call in self.calls if call.method == method]

    def wait_for(self, method: str, count: int = 1, timeout: float = 10.0,
                 finished: bool = True) -> list[Call]:
        """Block until `count` calls to `method` arrived (and were answered)."""
        deadline = time.monotonic() + timeout
        with self._changed:
            while True:
                calls = [c for c in self.calls if c.method == method
                         and (c.finished.is_set() or not finished)]
                if len(calls) >= count:
                    return calls
                left = deadline - time.monotonic()
                if left <= 0:
                    seen = [c.method for c in self.calls]
                    raise AssertionError(f"expected {count} call(s) to {method}; saw {seen}")
                self._changed.wait(left)

    # --- answering ----------------------------------------------------------------------

    def _record(self, call: Call) -> None:
        with self._changed:
            self.calls.append(call)
            self._changed.notify_all()

    def _finish(self, call: Call) -> None:
        with self._changed:
            call.finished.set()
            self._changed.notify_all()

    def _next_script(self, method: str) -> Answer | None:
        with self._lock:
            queue = self._scripts.get(method)
            return queue.pop(0) if queue else None

    def answer(self, method: str, params: dict[str, Any], headers: dict[str, str]) -> Answer:
        scripted = self._next_script(method)
        if scripted is not None:
            return scripted
        token = headers.get("authorization", "").removeprefix("Bearer ").strip()
        if token in self.bad_tokens:
            return error(self.bad_tokens[token])
        handler: Callable[[dict[str, Any]], Answer] | None = getattr(
            self, "_api_" + method.replace(".", "_"), None)
        if handler is None:
            return Answer(200, {"ok": True})
        return handler(params)

    def _ts_now(self) -> str:
        return f"1700000000.{next(self._ts):06d}"

    def _api_auth_test(self, params: dict[str, Any]) -> Answer:
        return Answer(200, {"ok": True, "url": "https://physics-outreach.slack.com/",
                            "team": "Physics Outreach", "user": "storydesk",
                            "team_id": "T0TEAM", "user_id": "U0BOT", "bot_id": "B0BOT"})

    def _api_chat_postMessage(self, params: dict[str, Any]) -> Answer:
        channel = str(params.get("channel", ""))
        if channel.startswith("U"):
            channel = "D" + channel[1:]
        elif not channel.startswith(("C", "D", "G")):
            channel = "C" + channel.lstrip("#").upper().replace("-", "")[:10]
        ts = self._ts_now()
        return Answer(200, {"ok": True, "channel": channel, "ts": ts,
                            "message": {"type": "message", "text": params.get("text"),
                                        "ts": ts}})

    def _api_chat_update(self, params: dict[str, Any]) -> Answer:
        return Answer(200, {"ok": True, "channel": params.get("channel"),
                            "ts": params.get("ts"), "text": params.get("text")})

    def _api_users_info(self, params: dict[str, Any]) -> Answer:
        user = self.users.get(str(params.get("user")))
        if user is None:
            return error("user_not_found")
        return Answer(200, {"ok": True, "user": user})

    def _api_views_open(self, params: dict[str, Any]) -> Answer:
        view = params.get("view")
        if isinstance(view, str):
            view = json.loads(view)
        return Answer(200, {"ok": True, "view": {"id": "V0MODAL", **(view or {})}})

    def _api_files_getUploadURLExternal(self, params: dict[str, Any]) -> Answer:
        file_id = f"F{next(self._files):08d}"
        return Answer(200, {"ok": True, "file_id": file_id,
                            "upload_url": f"{self.root}/upload/{file_id}"})

    def _api_files_completeUploadExternal(self, params: dict[str, Any]) -> Answer:
        files = params.get("files")
        if isinstance(files, str):
            files = json.loads(files)
        return Answer(200, {"ok": True, "files": [
            {"id": f["id"], "title": f.get("title")} for f in files or []]})

    def _api_apps_connections_open(self, params: dict[str, Any]) -> Answer:
        return Answer(200, {"ok": True, "url": self.socket_url})

    def _handler_class(self) -> type[BaseHTTPRequestHandler]:
        fake = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, format: str, *args: Any) -> None:
                return

            def do_GET(self) -> None:
                self._handle()

            def do_POST(self) -> None:
                self._handle()

            def _handle(self) -> None:
                url = urlparse(self.path)
                if url.path.startswith("/_control/"):
                    self._control(url.path.removeprefix("/_control/"), parse_qs(url.query))
                    return
                length = int(self.headers.get("Content-Length") or 0)
                raw = self.rfile.read(length) if length else b""
                headers = {k.lower(): v for k, v in self.headers.items()}
                params: dict[str, Any] = {k: v[0] for k, v in parse_qs(url.query).items()}
                content_type = headers.get("content-type", "")
                if url.path.startswith("/upload/"):
                    method = "upload"
                    params["bytes"] = len(raw)
                    params["file_id"] = url.path.rsplit("/", 1)[-1]
                else:
                    if "json" in content_type and raw:
                        params.update(json.loads(raw))
                    elif raw:
                        params.update({k: v[0] for k, v in
                                       parse_qs(raw.decode("utf-8")).items()})
                    if url.path.startswith("/response/"):
                        method = "response_url"
                        params["response_id"] = url.path.rsplit("/", 1)[-1]
                    else:
                        method = url.path.removeprefix("/api/")
                call = Call(method, params, headers)
                fake._record(call)
                fake.gate.wait()
                if fake.delay:
                    time.sleep(fake.delay)
                if method in ("upload", "response_url"):
                    answer = fake._next_script(method) or Answer(200, "ok")
                else:
                    answer = fake.answer(method, params, headers)
                call.answer = answer
                self._send(answer)
                fake._finish(call)

            def _control(self, what: str, query: dict[str, list[str]]) -> None:
                """For a benchmark driving the fake from another process; not recorded."""
                if what == "delay":
                    fake.delay = float(query["seconds"][0])
                    self._send(Answer(200, {"ok": True, "delay": fake.delay}))
                elif what == "count":
                    methods = query.get("method", [])
                    with fake._lock:
                        counts = {m: sum(1 for c in fake.calls if c.method == m and
                                         c.finished.is_set()) for m in methods}
                    self._send(Answer(200, {"ok": True, "counts": counts}))
                else:
                    self._send(Answer(404, {"ok": False, "error": "unknown_control"}))

            def _send(self, answer: Answer) -> None:
                if isinstance(answer.body, str):
                    payload = answer.body.encode("utf-8")
                    content_type = answer.headers.get("Content-Type", "text/plain")
                else:
                    payload = json.dumps(answer.body).encode("utf-8")
                    content_type = "application/json; charset=utf-8"
                self.send_response(answer.status)
                self.send_header("Content-Type", content_type)
                self.send_header("Content-Length", str(len(payload)))
                for name, value in answer.headers.items():
                    if name != "Content-Type":
                        self.send_header(name, value)
                self.end_headers()
                self.wfile.write(payload)

        return Handler
